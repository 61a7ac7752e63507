//! The access matrix: every kind of caller × every kind of action × a public and a private
//! wiki, asserted over real HTTP (and the real git client), with "denied" also meaning
//! "nothing changed".

use std::fmt::Write as _;

use base64::Engine;
use reqwest::Method;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::hosts::{Platform, Send, Who};

/// The kinds of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Owner,
    Editor,
    Viewer,
    /// Signed in, but no role on the wiki.
    OtherUser,
    Anonymous,
    /// The owner's write token for this wiki.
    Token,
    /// The editor's read-only token for this wiki.
    ReadToken,
    /// A valid token, for another wiki.
    ForeignToken,
    /// A session JWT signed with the platform's own key, but expired.
    ExpiredJwt,
    /// A session JWT whose payload was swapped for another user's.
    ForgedJwt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    View,
    Edit,
    Upload,
    Admin,
    History,
    Search,
    GitClone,
    /// The management API: read the wiki's record, then change its settings.
    Manage,
}

const ACTIONS: [Action; 8] = [
    Action::View,
    Action::Edit,
    Action::Upload,
    Action::Admin,
    Action::History,
    Action::Search,
    Action::GitClone,
    Action::Manage,
];

/// Whether `caller` may do `action` (the specification, written out).
fn allowed(caller: Caller, action: Action, public: bool) -> bool {
    use Caller::*;
    let read = match caller {
        Owner | Editor | Viewer | Token | ReadToken => true,
        OtherUser | Anonymous | ExpiredJwt | ForgedJwt => public,
        // A token works on its own wiki only, even one anybody may read.
        ForeignToken => false,
    };
    match action {
        Action::View | Action::History | Action::Search | Action::GitClone => read,
        Action::Edit | Action::Upload => matches!(caller, Owner | Editor | Token),
        // Tokens never administer.
        Action::Admin => caller == Owner,
        Action::Manage => matches!(caller, Owner | Editor | Viewer),
    }
}

/// The status a refused `caller` gets: 401 (sign in) for nobody, 403 for anybody known. The
/// management API works with sessions only, and hides wikis from non-members.
fn refusal(caller: Caller, action: Action) -> u16 {
    use Caller::*;
    match (action, caller) {
        (Action::Manage, OtherUser) => 404,
        (Action::Manage, Anonymous | ExpiredJwt | ForgedJwt | Token | ReadToken | ForeignToken) => {
            401
        }
        (_, Anonymous | ExpiredJwt | ForgedJwt) => 401,
        _ => 403,
    }
}

/// The status an allowed `action` answers with.
fn success(action: Action) -> u16 {
    match action {
        Action::Edit | Action::Upload => 303,
        _ => 200,
    }
}

/// What changing the wiki's settings through the API answers: only its owner may.
fn manage_write(caller: Caller) -> u16 {
    match caller {
        Caller::Owner => 200,
        Caller::Editor | Caller::Viewer => 403,
        other => refusal(other, Action::Manage),
    }
}

struct World {
    platform: Platform,
    owner: Who,
    callers: Vec<(Caller, Who)>,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt_payload(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64 payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

fn world() -> World {
    let platform = Platform::start();
    let alice = platform.sign_in("alice.test");
    let bob = platform.sign_in("bob.test");
    let carol = platform.sign_in("carol.test");
    let dave = platform.sign_in("dave.test");
    let owner = Who::Session(alice.clone());
    platform.create_wiki(&owner, "acme", true);
    platform.add_member(&owner, "acme", "bob.test", "editor");
    platform.add_member(&owner, "acme", "carol.test", "viewer");
    let token = platform.token(&owner, "acme", false);
    let read_token = platform.token(&Who::Session(bob.clone()), "acme", true);
    platform.create_wiki(&Who::Session(dave.clone()), "dave-notes", true);
    let foreign = platform.token(&Who::Session(dave.clone()), "dave-notes", false);

    // Alice's session, re-signed with the platform's real key but already expired.
    let mut claims = jwt_payload(&alice);
    let now = claims["iat"].as_i64().expect("iat");
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let pem = std::fs::read(platform.server.data().join("keys/session-rsa.pem")).expect("key");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("RSA key");
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .expect("sign");
    // Dave's signature under Alice's claims.
    let parts: Vec<&str> = dave.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64url(&serde_json::to_vec(&jwt_payload(&alice)).expect("json")),
        parts[2]
    );

    let callers = vec![
        (Caller::Owner, owner.clone()),
        (Caller::Editor, Who::Session(bob)),
        (Caller::Viewer, Who::Session(carol)),
        (Caller::OtherUser, Who::Session(dave)),
        (Caller::Anonymous, Who::Nobody),
        (Caller::Token, Who::Token(token)),
        (Caller::ReadToken, Who::Token(read_token)),
        (Caller::ForeignToken, Who::Token(foreign)),
        (Caller::ExpiredJwt, Who::Session(expired)),
        (Caller::ForgedJwt, Who::Session(forged)),
    ];
    World {
        platform,
        owner,
        callers,
    }
}

/// Tries `action` as `who`; the status, and (for writes) whether the change is now there.
fn attempt(w: &World, caller: Caller, who: &Who, action: Action, public: bool) -> (u16, bool) {
    let p = &w.platform;
    let tag = format!("{caller:?}-{}", if public { "public" } else { "private" });
    match action {
        Action::View => (p.get("acme", "/Home", who).status, false),
        Action::History => (p.get("acme", "/Home/-/history", who).status, false),
        Action::Search => (p.get("acme", "/-/search?q=wiki", who).status, false),
        Action::Admin => (p.get("acme", "/-/admin", who).status, false),
        Action::Edit => {
            let page = format!("Cell-{tag}");
            let status = p
                .post_form(
                    "acme",
                    &format!("/{page}/-/edit"),
                    who,
                    &[
                        ("content", &format!("# {tag}\n")),
                        ("base", ""),
                        ("message", "matrix"),
                    ],
                )
                .status;
            let there = p.get("acme", &format!("/{page}"), &w.owner).status == 200;
            (status, there)
        }
        Action::Upload => {
            let name = format!("{tag}.txt").to_lowercase();
            let form = Form::new()
                .part(
                    "file",
                    Part::bytes(tag.clone().into_bytes()).file_name(name.clone()),
                )
                .text("message", "matrix");
            let status = p
                .send(
                    Method::POST,
                    "acme",
                    "/Home/-/attachments",
                    who,
                    Send::Multipart(form),
                )
                .status;
            let there = p.get("acme", &format!("/Home/-/a/{name}"), &w.owner).status == 200;
            (status, there)
        }
        Action::GitClone => {
            let status = p
                .get("acme", "/repo.git/info/refs?service=git-upload-pack", who)
                .status;
            let dir = tempfile::tempdir().expect("temp dir");
            let into = dir.path().join("clone");
            let out = p.clone("acme", who, &into);
            let cloned = out.status.success() && into.join("Home.md").exists();
            assert_eq!(
                cloned,
                allowed(caller, action, public),
                "git clone as {tag}: {}",
                crate::hosts::stderr(&out)
            );
            (status, false)
        }
        Action::Manage => {
            let (status, json) = p.api(Method::GET, "/api/wikis/acme", who, None);
            if status == 200 {
                assert_eq!(json["wiki"]["slug"], "acme", "{json}");
            } else {
                assert!(json["error"]["message"].is_string(), "{tag}: {json}");
            }
            (status, false)
        }
    }
}

fn run_matrix(w: &World, public: bool, failures: &mut String) {
    let wiki = if public { "public" } else { "private" };
    for (caller, who) in &w.callers {
        for action in ACTIONS {
            let ok = allowed(*caller, action, public);
            let want = if ok {
                success(action)
            } else {
                refusal(*caller, action)
            };
            let (got, changed) = attempt(w, *caller, who, action, public);
            if got != want {
                let _ = writeln!(
                    failures,
                    "{wiki} wiki, {caller:?} × {action:?}: got {got}, want {want}"
                );
            }
            if matches!(action, Action::Edit | Action::Upload) && changed != ok {
                let _ = writeln!(
                    failures,
                    "{wiki} wiki, {caller:?} × {action:?}: change present = {changed}, want {ok}"
                );
            }
        }
        // Changing the wiki's settings: the owner only (the name is set back unchanged).
        let (got, _) = w.platform.api(
            Method::PATCH,
            "/api/wikis/acme",
            who,
            Some(json!({"display_name": "acme"})),
        );
        if got != manage_write(*caller) {
            let _ = writeln!(
                failures,
                "{wiki} wiki, {caller:?} × Manage (update): got {got}, want {}",
                manage_write(*caller)
            );
        }
    }
}

#[test]
fn every_caller_gets_exactly_its_rights_on_public_and_private_wikis() {
    let w = world();
    let mut failures = String::new();
    run_matrix(&w, true, &mut failures);
    let (status, json) = w.platform.api(
        Method::PATCH,
        "/api/wikis/acme",
        &w.owner,
        Some(json!({"public": false})),
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["wiki"]["public"], false);
    run_matrix(&w, false, &mut failures);
    assert!(failures.is_empty(), "access matrix:\n{failures}");
}

#[test]
fn refusals_say_what_to_do() {
    let w = world();
    let p = &w.platform;
    p.api(
        Method::PATCH,
        "/api/wikis/acme",
        &w.owner,
        Some(json!({"public": false})),
    );
    // A browser that is not signed in is offered the way to sign in.
    let anonymous = p.get("acme", "/Home", &Who::Nobody);
    assert_eq!(anonymous.status, 401);
    assert!(
        anonymous.body.contains("href=\"/-/login\""),
        "{}",
        anonymous.body
    );
    let login = p.get("acme", "/-/login?return_to=/Home", &Who::Nobody);
    assert_eq!(login.status, 303);
    let to = login.location.expect("location");
    assert!(
        to.starts_with(&format!(
            "http://localhost:{}/auth/login?return_to=",
            p.port
        )),
        "{to}"
    );
    // git is asked for a password (the token) rather than refused outright.
    let refs = p.get(
        "acme",
        "/repo.git/info/refs?service=git-upload-pack",
        &Who::Nobody,
    );
    assert_eq!(refs.status, 401);
    assert!(
        refs.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"),
        "{:?}",
        refs.headers
    );
    // A token that is not one is an error, never silently anonymous.
    let bad = p.get("acme", "/Home", &Who::Token("holt_not-a-real-token".into()));
    assert_eq!(bad.status, 401);
    let challenges: Vec<_> = bad.headers.get_all("www-authenticate").iter().collect();
    assert!(
        challenges
            .iter()
            .any(|v| v.to_str().unwrap().contains("invalid_token")),
        "{challenges:?}"
    );
    // A token holder is told plainly, with no sign-in page.
    let viewer_token = w
        .callers
        .iter()
        .find(|(c, _)| *c == Caller::ReadToken)
        .map(|(_, who)| who.clone())
        .expect("read token");
    let refused = p.post_form(
        "acme",
        "/Home/-/edit",
        &viewer_token,
        &[("content", "x"), ("base", ""), ("message", "m")],
    );
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("may not edit pages"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("/-/login"), "{}", refused.body);
    // The management API answers JSON errors.
    let (status, json) = p.api(Method::GET, "/api/me", &Who::Nobody, None);
    assert_eq!(status, 401);
    assert_eq!(json["error"]["code"], "unauthenticated");
}
