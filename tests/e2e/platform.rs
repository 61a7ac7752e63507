//! The platform over real HTTP: new wikis and their starter pages, the admin panel, git clone,
//! tenant isolation, tier limits, name rules, bad input, deletion and signing in across hosts.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::Method;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::hosts::{Platform, Send, Who, stderr};
use crate::util::{Server, attrs, git, holt_env, raw_exchange, texts};

/// The files of a checkout, as relative paths (without `.git`).
fn files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("prefix");
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn upload(name: &str, bytes: Vec<u8>) -> Send {
    Send::Multipart(
        Form::new()
            .part("file", Part::bytes(bytes).file_name(name.to_string()))
            .text("message", "upload"),
    )
}

fn save(p: &Platform, slug: &str, who: &Who, page: &str, content: &str) -> u16 {
    p.post_form(
        slug,
        &format!("/{page}/-/edit"),
        who,
        &[("content", content), ("base", ""), ("message", "test")],
    )
    .status
}

#[test]
fn first_start_makes_a_demo_wiki_and_unknown_hosts_are_404() {
    let p = Platform::start();
    let apex = p.get("", "/", &Who::Nobody);
    assert_eq!(apex.status, 200);
    let demo = p.get("demo", "/Home", &Who::Nobody);
    assert_eq!(demo.status, 200, "{}", demo.body);
    assert!(demo.body.contains("Getting Started"), "{}", demo.body);
    let missing = p.get("no-such-wiki", "/Home", &Who::Nobody);
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("no wiki named"), "{}", missing.body);
    let reserved = p.get("www", "/", &Who::Nobody);
    assert_eq!(reserved.status, 404);
    // An IP address reaches the platform (health checks, first look); other names reach nothing.
    assert_eq!(p.server.get("/").status, 200);
    let (status, _) = raw_request(
        &p,
        "GET / HTTP/1.1\r\nHost: wiki.example.org\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 404);
}

#[test]
fn a_new_wiki_has_rendered_starter_pages_a_platform_admin_panel_and_clones_the_same_files() {
    let p = Platform::start();
    let alice = Who::Session(p.sign_in("alice.test"));
    let wiki = p.create_wiki(&alice, "field-notes", false);
    assert_eq!(wiki["url"], p.wiki_url("field-notes"));
    assert_eq!(wiki["page_count"], 4, "{wiki}");

    // The starter pages, rendered, with their parameters filled in and their links live.
    let home = p.get("field-notes", "/Home", &alice);
    assert_eq!(home.status, 200);
    assert_eq!(
        texts(&home.body, "article h1"),
        vec!["Welcome to field-notes"]
    );
    assert!(!home.body.contains("{{"), "unfilled template parameter");
    let guide = p.get("field-notes", "/Agent%20Guide", &alice);
    assert_eq!(guide.status, 200);
    assert!(
        guide
            .body
            .contains(&format!("{}/mcp", p.wiki_url("field-notes"))),
        "the agent guide names the wiki's MCP URL"
    );
    let index = p.get("field-notes", "/-/index", &alice);
    let mut listed: Vec<String> = attrs(&index.body, ".page-list > li > a", "href")
        .iter()
        .map(|href| href.trim_start_matches('/').replace("%20", " "))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec!["Administration", "Agent Guide", "Getting Started", "Home"],
        "{}",
        index.body
    );

    // The admin panel hides what the platform owns.
    let admin = p.get("field-notes", "/-/admin", &alice);
    assert_eq!(admin.status, 200, "{}", admin.body);
    let sections = texts(&admin.body, ".admin-section h2");
    for shown in [
        "Settings",
        "Collaborators",
        "Plugins",
        "Access token",
        "Danger zone",
    ] {
        assert!(
            sections.iter().any(|s| s == shown),
            "{shown} in {sections:?}"
        );
    }
    for hidden in ["Accounts", "Mail", "Repository remotes"] {
        assert!(
            !sections.iter().any(|s| s == hidden),
            "{hidden} in {sections:?}"
        );
    }

    // git clone (private wiki: the token is the password) gives the same files and texts.
    let token = p.token(&alice, "field-notes", true);
    let dir = tempfile::tempdir().unwrap();
    let out = p.clone_with_password("field-notes", &token, &dir.path().join("c"));
    assert!(out.status.success(), "{}", stderr(&out));
    let checkout = dir.path().join("c");
    let expected: BTreeSet<String> = listed.iter().map(|page| format!("{page}.md")).collect();
    assert_eq!(files(&checkout), expected);
    for page in &listed {
        let raw = p.get(
            "field-notes",
            &format!("/{}/-/raw", page.replace(' ', "%20")),
            &alice,
        );
        assert_eq!(raw.status, 200);
        let file = std::fs::read_to_string(checkout.join(format!("{page}.md"))).unwrap();
        assert_eq!(raw.body, file, "{page}");
    }
    assert_eq!(
        git(&checkout, &["log", "--format=%an", "-1"]).trim(),
        "alice.test (@alice.test)",
        "the starter pages are committed in the owner's name"
    );

    // Pushing is refused with a message git shows.
    std::fs::write(checkout.join("Home.md"), "changed\n").unwrap();
    git(
        &checkout,
        &[
            "-c",
            "user.name=A",
            "-c",
            "user.email=a@example.org",
            "commit",
            "-qam",
            "local",
        ],
    );
    let push = p
        .git("field-notes")
        .arg("-C")
        .arg(&checkout)
        .args(["push", "origin", "HEAD"])
        .output()
        .unwrap();
    assert!(!push.status.success());
    assert!(
        stderr(&push).contains("pushing is not supported"),
        "{}",
        stderr(&push)
    );
    let home = p.get("field-notes", "/Home/-/raw", &alice);
    assert_ne!(home.body, "changed\n", "the push changed nothing");
}

#[test]
fn single_wiki_mode_shows_the_sections_a_platform_would_own() {
    let server = Server::start_with_config("[wiki]\nanonymous = \"admin\"\n");
    let admin = server.get("/-/admin");
    assert_eq!(admin.status, 200, "{}", admin.body);
    let sections = texts(&admin.body, ".admin-section h2");
    for shown in ["Accounts", "Mail", "Repository remotes", "Settings"] {
        assert!(
            sections.iter().any(|s| s == shown),
            "{shown} in {sections:?}"
        );
    }
    // Anonymous visitors of a default single wiki may write, not administer.
    let server = Server::start();
    assert_eq!(server.get("/-/admin").status, 403);
}

#[test]
fn nothing_of_one_wiki_is_reachable_from_another_wikis_host() {
    let p = Platform::start_with_config("[plugins.example]\ngrants = [\"pages:read\"]\n");
    let alice = Who::Session(p.sign_in("alice.test"));
    let bob = Who::Session(p.sign_in("bob.test"));
    p.create_wiki(&alice, "alpha", false);
    p.create_wiki(&bob, "bravo", true);
    assert_eq!(
        save(
            &p,
            "alpha",
            &alice,
            "Secret",
            "the launch code is zebra-42; see [[Home]]\n"
        ),
        303
    );
    let up = p.send(
        Method::POST,
        "alpha",
        "/Secret/-/attachments",
        &alice,
        upload("plan.txt", b"zebra-42 plan".to_vec()),
    );
    assert_eq!(up.status, 303, "{}", up.body);
    let secret_commit = {
        let dir = tempfile::tempdir().unwrap();
        let token = p.token(&alice, "alpha", true);
        let out = p.clone_with_password("alpha", &token, &dir.path().join("a"));
        assert!(out.status.success(), "{}", stderr(&out));
        git(&dir.path().join("a"), &["rev-parse", "HEAD"])
            .trim()
            .to_string()
    };
    let alpha_token = p.token(&alice, "alpha", false);

    // Every way of asking bravo's host for alpha's things, as alpha's owner, as nobody, with
    // alpha's token, and with tricks in the path and headers.
    let probes = [
        "/Secret",
        "/Secret/-/raw",
        "/Secret/-/source",
        "/Secret/-/history",
        "/Secret/-/attachments",
        "/Secret/-/a/plan.txt",
        &format!("/-/commit/{secret_commit}"),
        &format!("/Secret/-/view/{secret_commit}"),
        "/-/search?q=zebra",
        "/-/index",
        "/-/changelog",
        "/-/changelog/feed.atom",
        "/-/plugin/example/orphans",
        "/-/orphans",
        "/Home",
        "/../alpha/Secret",
        "/%2e%2e/alpha/Secret",
        "/-/static/..%2f..%2fwikis%2falpha%2frepo.git%2fHEAD",
    ];
    for who in [&alice, &Who::Nobody] {
        for probe in probes {
            let resp = p.get("bravo", probe, who);
            assert!(
                !resp.body.contains("zebra-42"),
                "{probe} on bravo showed alpha's content: {}",
                resp.body
            );
        }
    }
    // The example plugin's backlinks box: alpha's Home lists Secret, bravo's never does.
    let alpha_home = p.get("alpha", "/Home", &alice);
    assert!(
        texts(&alpha_home.body, ".plugin-backlinks li").contains(&"Secret".to_string()),
        "{}",
        alpha_home.body
    );
    let bravo_home = p.get("bravo", "/Home", &alice);
    assert!(!bravo_home.body.contains("Secret"), "{}", bravo_home.body);
    for probe in probes {
        let resp = p.get("bravo", probe, &Who::Token(alpha_token.clone()));
        // The theme's static files are public; there is no such file.
        let want = if probe.starts_with("/-/static/") {
            404
        } else {
            403
        };
        assert_eq!(resp.status, want, "alpha's token on bravo: {probe}");
    }
    // A request line or headers naming the other host change nothing: the Host header decides.
    let (status, raw) = raw_request(
        &p,
        &format!(
            "GET http://alpha.localhost:{port}/Secret HTTP/1.1\r\nHost: bravo.localhost:{port}\r\nX-Forwarded-Host: alpha.localhost:{port}\r\nConnection: close\r\n\r\n",
            port = p.port
        ),
    );
    assert!(!raw.contains("zebra-42"), "{status}: {raw}");

    // Writes through bravo's host land in bravo, never alpha.
    assert_eq!(save(&p, "bravo", &bob, "Secret", "bravo's own\n"), 303);
    let alpha_secret = p.get("alpha", "/Secret/-/raw", &alice);
    assert_eq!(
        alpha_secret.body,
        "the launch code is zebra-42; see [[Home]]\n"
    );
    // A clone of bravo has none of alpha's files or history.
    let dir = tempfile::tempdir().unwrap();
    let out = p.clone("bravo", &Who::Nobody, &dir.path().join("b"));
    assert!(out.status.success(), "{}", stderr(&out));
    let log = git(&dir.path().join("b"), &["log", "--all", "--format=%H %s"]);
    assert!(!log.contains(&secret_commit), "{log}");
    let grep = std::process::Command::new("git")
        .arg("-C")
        .arg(dir.path().join("b"))
        .args(["grep", "-q", "zebra", "HEAD"])
        .status()
        .unwrap();
    assert!(!grep.success(), "alpha's text is in bravo's repository");
    // And the management API does not hand one owner the other's wiki.
    let (status, _) = p.api(Method::GET, "/api/wikis/alpha", &bob, None);
    assert_eq!(status, 404);
}

fn raw_request(p: &Platform, request: &str) -> (u16, String) {
    raw_exchange(&format!("127.0.0.1:{}", p.port), request)
}

fn error_code(json: &Value) -> &str {
    json["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn wiki_and_collaborator_limits_hold_at_and_past_the_default() {
    let p = Platform::start();
    let alice = Who::Session(p.sign_in("alice.test"));
    for handle in ["b1.test", "b2.test", "b3.test", "b4.test"] {
        p.sign_in(handle);
    }
    p.create_wiki(&alice, "only-one", true);
    let (status, json) = p.api(
        Method::POST,
        "/api/wikis",
        &alice,
        Some(json!({"slug": "second-one"})),
    );
    assert_eq!(status, 403, "{json}");
    assert_eq!(error_code(&json), "limit");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit is 1"),
        "{json}"
    );
    assert_eq!(p.get("second-one", "/", &alice).status, 404);

    for handle in ["b1.test", "b2.test", "b3.test"] {
        p.add_member(&alice, "only-one", handle, "editor");
    }
    let (status, json) = p.api(
        Method::POST,
        "/api/wikis/only-one/members",
        &alice,
        Some(json!({"handle": "b4.test", "role": "viewer"})),
    );
    assert_eq!(status, 403, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit is 3"),
        "{json}"
    );
    let (_, members) = p.api(Method::GET, "/api/wikis/only-one/members", &alice, None);
    assert_eq!(members["members"].as_array().unwrap().len(), 4, "{members}");
    // Changing an existing collaborator's role is not a new collaborator.
    let (status, json) = p.api(
        Method::PATCH,
        "/api/wikis/only-one/members/b3.test",
        &alice,
        Some(json!({"role": "viewer"})),
    );
    assert_eq!(status, 200, "{json}");
}

#[test]
fn page_and_byte_limits_hold_at_and_past_the_default() {
    // No write rate limit here: this test makes hundreds of writes on purpose.
    let p = Platform::start_with_config("[platform]\nwrites_per_minute = 0\n");
    let alice = Who::Session(p.sign_in("alice.test"));
    p.create_wiki(&alice, "big", true);
    // Four starter pages; 496 more make the 500 of the default tier.
    for i in 0..496 {
        assert_eq!(
            save(&p, "big", &alice, &format!("P{i:03}"), "x\n"),
            303,
            "page {i}"
        );
    }
    let (_, json) = p.api(Method::GET, "/api/wikis/big", &alice, None);
    assert_eq!(json["wiki"]["page_count"], 500, "{json}");
    let past = p.post_form(
        "big",
        "/P500/-/edit",
        &alice,
        &[
            ("content", "x\n"),
            ("base", ""),
            ("message", "one too many"),
        ],
    );
    assert_eq!(past.status, 403);
    assert!(past.body.contains("its limit is 500"), "{}", past.body);
    assert_eq!(p.get("big", "/P500", &alice).status, 404);
    // Editing an existing page is still fine at the page limit.
    let base = {
        let editor = p.get("big", "/P000/-/edit", &alice);
        let marker = "name=\"base\" value=\"";
        let start = editor.body.find(marker).unwrap() + marker.len();
        editor.body[start..start + 40].to_string()
    };
    let edit = p.post_form(
        "big",
        "/P000/-/edit",
        &alice,
        &[("content", "y\n"), ("base", &base), ("message", "edit")],
    );
    assert_eq!(edit.status, 303, "{}", edit.body);

    // Bytes: fill the wiki to exactly 50 MB with attachments, then one byte more.
    let limit: i64 = 50 << 20;
    let mut used = p.api(Method::GET, "/api/wikis/big", &alice, None).1["wiki"]["bytes"]
        .as_i64()
        .unwrap();
    let mut n = 0;
    while used < limit {
        let size = (limit - used).min(10 << 20) as usize;
        let resp = p.send(
            Method::POST,
            "big",
            "/Home/-/attachments",
            &alice,
            upload(&format!("blob{n}.bin"), vec![0u8; size]),
        );
        assert_eq!(resp.status, 303, "{}", resp.body);
        used = p.api(Method::GET, "/api/wikis/big", &alice, None).1["wiki"]["bytes"]
            .as_i64()
            .unwrap();
        n += 1;
    }
    assert_eq!(used, limit, "filled to the limit exactly");
    let over = p.send(
        Method::POST,
        "big",
        "/Home/-/attachments",
        &alice,
        upload("one-more.bin", vec![1u8]),
    );
    assert_eq!(over.status, 403, "{}", over.body);
    assert!(over.body.contains("limit of 50.0 MB"), "{}", over.body);
    assert_eq!(p.get("big", "/Home/-/a/one-more.bin", &alice).status, 404);
}

#[test]
fn the_write_rate_limit_is_per_principal_and_covers_the_api() {
    let p = Platform::start_with_config("[platform]\nwrites_per_minute = 3\n");
    let alice = Who::Session(p.sign_in("alice.test"));
    let bob = Who::Session(p.sign_in("bob.test"));
    p.create_wiki(&alice, "busy", true);
    p.add_member(&alice, "busy", "bob.test", "editor");
    // Creating the wiki and adding bob took two of alice's three.
    assert_eq!(save(&p, "busy", &alice, "One", "1\n"), 303);
    let limited = p.post_form(
        "busy",
        "/Two/-/edit",
        &alice,
        &[("content", "2\n"), ("base", ""), ("message", "m")],
    );
    assert_eq!(limited.status, 429);
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(p.get("busy", "/Two", &alice).status, 404);
    let (status, json) = p.api(
        Method::PATCH,
        "/api/wikis/busy",
        &alice,
        Some(json!({"display_name": "Busy"})),
    );
    assert_eq!(status, 429, "{json}");
    assert_eq!(error_code(&json), "rate_limited");
    // Bob has his own bucket.
    assert_eq!(save(&p, "busy", &bob, "Bobs", "b\n"), 303);
}

#[test]
fn wiki_names_follow_the_rules_at_and_past_each_edge() {
    let p = Platform::start_with_config("[platform]\nwikis_per_user = 20\nwrites_per_minute = 0\n");
    let alice = Who::Session(p.sign_in("alice.test"));
    let bob = Who::Session(p.sign_in("bob.test"));
    let long_ok = "a".repeat(63);
    let long_bad = "a".repeat(64);
    for (slug, want, code) in [
        ("abc", 201, ""),
        ("ab", 400, "invalid_name"),
        (long_ok.as_str(), 201, ""),
        (long_bad.as_str(), 400, "invalid_name"),
        ("a-1", 201, ""),
        ("-abc", 400, "invalid_name"),
        ("abc-", 400, "invalid_name"),
        ("Abc", 400, "invalid_name"),
        ("ab_c", 400, "invalid_name"),
        ("ab.c", 400, "invalid_name"),
        ("åbc", 400, "invalid_name"),
        ("www", 400, "invalid_name"),
        ("api", 400, "invalid_name"),
        ("auth", 400, "invalid_name"),
        ("mcp", 400, "invalid_name"),
        ("admin", 400, "invalid_name"),
        ("demo", 409, "taken"),
    ] {
        let (status, json) = p.api(
            Method::POST,
            "/api/wikis",
            &alice,
            Some(json!({"slug": slug})),
        );
        assert_eq!(status, want, "{slug}: {json}");
        if want != 201 {
            assert_eq!(error_code(&json), code, "{slug}: {json}");
            assert!(!json["error"]["message"].as_str().unwrap().is_empty());
        }
    }
    // Somebody else's name is taken too.
    let (status, json) = p.api(
        Method::POST,
        "/api/wikis",
        &bob,
        Some(json!({"slug": "abc"})),
    );
    assert_eq!(status, 409, "{json}");
    assert!(json["error"]["message"].as_str().unwrap().contains("'abc'"));
    // The 63-letter name works as a host name.
    assert_eq!(p.get(&long_ok, "/Home", &alice).status, 200);
    let (_, me) = p.api(Method::GET, "/api/me", &alice, None);
    let slugs: BTreeSet<&str> = me["wikis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, BTreeSet::from(["abc", "a-1", long_ok.as_str()]));
}

#[test]
fn bad_requests_to_the_api_get_clear_errors_and_change_nothing() {
    let p = Platform::start();
    let alice = Who::Session(p.sign_in("alice.test"));
    p.sign_in("bob.test");
    p.create_wiki(&alice, "steady", true);
    let before = p.api(Method::GET, "/api/me", &alice, None).1;
    let members_before = p
        .api(Method::GET, "/api/wikis/steady/members", &alice, None)
        .1;

    let cases: Vec<(Method, &str, Send, u16, &str)> = vec![
        (
            Method::POST,
            "/api/wikis",
            Send::Raw(Some("application/json"), b"{\"slug\": ".to_vec()),
            400,
            "bad_json",
        ),
        (
            Method::POST,
            "/api/wikis",
            Send::Raw(Some("application/json"), b"[1, 2]".to_vec()),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/wikis",
            Send::Json(json!({"slug": "fine-name", "colour": "red"})),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/wikis",
            Send::Json(json!({"slug": 42})),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/wikis",
            Send::Raw(None, b"{\"slug\": \"fine-name\"}".to_vec()),
            415,
            "content_type",
        ),
        (
            Method::POST,
            "/api/wikis",
            Send::Raw(Some("text/plain"), b"{\"slug\": \"fine-name\"}".to_vec()),
            415,
            "content_type",
        ),
        (
            Method::POST,
            "/api/wikis",
            Send::Raw(
                Some("application/json"),
                format!(
                    "{{\"slug\": \"fine-name\", \"display_name\": \"{}\"}}",
                    "x".repeat(70_000)
                )
                .into_bytes(),
            ),
            413,
            "too_large",
        ),
        (
            Method::PATCH,
            "/api/wikis/steady",
            Send::Json(json!({"public": "yes"})),
            400,
            "bad_request",
        ),
        (
            Method::PATCH,
            "/api/wikis/steady",
            Send::Json(json!({"slug": "renamed"})),
            400,
            "bad_request",
        ),
        (
            Method::DELETE,
            "/api/wikis/steady",
            Send::Json(json!({})),
            400,
            "bad_request",
        ),
        (
            Method::DELETE,
            "/api/wikis/steady",
            Send::Json(json!({"confirm": "Steady"})),
            400,
            "confirm",
        ),
        (
            Method::POST,
            "/api/wikis/steady/members",
            Send::Json(json!({"handle": "nobody.test", "role": "editor"})),
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/api/wikis/steady/members",
            Send::Json(json!({"handle": "bob.test", "role": "boss"})),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/wikis/steady/members",
            Send::Json(json!({"handle": "bob.test", "role": "owner"})),
            400,
            "invalid",
        ),
        (
            Method::POST,
            "/api/wikis/steady/token",
            Send::Json(json!({"scope": "everything"})),
            400,
            "bad_request",
        ),
        (
            Method::GET,
            "/api/wikis/nope",
            Send::Nothing,
            404,
            "not_found",
        ),
        (
            Method::GET,
            "/api/nothing-here",
            Send::Nothing,
            404,
            "not_found",
        ),
    ];
    for (method, path, body, want, code) in cases {
        let resp = p.send(method.clone(), "", path, &alice, body);
        let json: Value = serde_json::from_str(&resp.body)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {}", resp.body));
        assert_eq!(resp.status, want, "{method} {path}: {json}");
        assert_eq!(error_code(&json), code, "{method} {path}: {json}");
        assert!(
            !json["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{method} {path}: {json}"
        );
    }
    assert_eq!(p.api(Method::GET, "/api/me", &alice, None).1, before);
    assert_eq!(
        p.api(Method::GET, "/api/wikis/steady/members", &alice, None)
            .1,
        members_before
    );
    assert_eq!(p.get("fine-name", "/", &Who::Nobody).status, 404);
    assert_eq!(p.get("steady", "/Home", &Who::Nobody).status, 200);
}

#[test]
fn deleting_a_wiki_removes_its_rows_repository_and_tokens() {
    let p = Platform::start();
    let alice = Who::Session(p.sign_in("alice.test"));
    p.sign_in("bob.test");
    p.create_wiki(&alice, "short-lived", true);
    p.add_member(&alice, "short-lived", "bob.test", "editor");
    assert_eq!(
        save(&p, "short-lived", &alice, "Notes", "remember me\n"),
        303
    );
    let token = p.token(&alice, "short-lived", false);
    let folder = p.server.data().join("wikis/short-lived");
    assert!(folder.join("repo.git").is_dir());

    let (status, json) = p.api(
        Method::DELETE,
        "/api/wikis/short-lived",
        &alice,
        Some(json!({"confirm": "short-lived"})),
    );
    assert_eq!(status, 204, "{json}");
    assert!(!folder.exists(), "the wiki's folder is gone");
    let db = rusqlite::Connection::open(p.server.data().join("holt.sqlite")).unwrap();
    for table in ["wikis", "members", "tokens", "wiki_plugins"] {
        let left: i64 = db
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        // The demo wiki keeps its row; nothing else is left of short-lived.
        let want = i64::from(table == "wikis");
        assert_eq!(left, want, "rows left in {table}");
    }
    let audit: String = db
        .query_row(
            "SELECT group_concat(action, ', ') FROM audit WHERE wiki_slug = 'short-lived'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        audit.contains("create wiki") && audit.contains("delete wiki"),
        "{audit}"
    );
    assert_eq!(p.get("short-lived", "/Home", &alice).status, 404);
    assert_eq!(
        p.get("short-lived", "/Home", &Who::Token(token.clone()))
            .status,
        404,
        "no wiki"
    );
    let (_, me) = p.api(Method::GET, "/api/me", &alice, None);
    assert_eq!(me["wikis"], json!([]), "{me}");

    // The name is free again, and the new wiki starts clean: no old pages, members or tokens.
    p.create_wiki(&alice, "short-lived", true);
    assert_eq!(p.get("short-lived", "/Notes", &alice).status, 404);
    let (_, members) = p.api(Method::GET, "/api/wikis/short-lived/members", &alice, None);
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "{members}");
    assert_eq!(
        p.get("short-lived", "/Home", &Who::Token(token)).status,
        401,
        "the old wiki's token is gone with it"
    );
}

#[test]
fn signing_in_carries_the_session_to_the_wikis_host() {
    let p = Platform::start();
    let alice = Who::Session(p.sign_in("alice.test"));
    p.create_wiki(&alice, "hush", false);
    p.create_wiki(&Who::Session(p.sign_in("bob.test")), "other", false);

    // Signing in from a wiki's page comes back there by way of the wiki's /-/session.
    let back = format!("{}/Home", p.wiki_url("hush"));
    let signed = p.post_form(
        "",
        "/auth/dev",
        &Who::Nobody,
        &[("handle", "alice.test"), ("return_to", &back)],
    );
    assert_eq!(signed.status, 303);
    let hop = signed.location.expect("location");
    let prefix = format!("{}/-/session?code=", p.wiki_url("hush"));
    assert!(hop.starts_with(&prefix), "{hop}");
    let path = hop.trim_start_matches(&p.wiki_url("hush")).to_string();

    // The code works on its own wiki only.
    let elsewhere = p.get("other", &path, &Who::Nobody);
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    assert!(elsewhere.headers.get("set-cookie").is_none());
    let landed = p.get("hush", &path, &Who::Nobody);
    assert_eq!(landed.status, 303, "{}", landed.body);
    assert_eq!(landed.location.as_deref(), Some("/Home"));
    let cookie = landed.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain="), "a host-only cookie: {cookie}");
    let jwt = cookie
        .strip_prefix("holt_session=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let session = Who::Session(jwt);
    assert_eq!(p.get("hush", "/Home", &session).status, 200);
    assert_eq!(p.get("hush", "/Home", &Who::Nobody).status, 401);

    // Garbage is refused.
    assert_eq!(
        p.get("hush", "/-/session?code=garbage", &Who::Nobody)
            .status,
        400
    );
    // Signing out on the platform ends the session everywhere.
    let out = p.post_form("", "/auth/logout", &session, &[]);
    assert_eq!(out.status, 303);
    assert_eq!(p.get("hush", "/Home", &session).status, 401);
    // A used code cannot bring the ended session back.
    assert_eq!(p.get("hush", &path, &Who::Nobody).status, 400);
}

#[test]
fn holt_user_add_makes_a_user_who_can_be_a_collaborator() {
    let p = Platform::start();
    let alice = Who::Session(p.sign_in("alice.test"));
    p.create_wiki(&alice, "team", false);
    let (status, json) = p.api(
        Method::POST,
        "/api/wikis/team/members",
        &alice,
        Some(json!({"handle": "carol.example.org", "role": "viewer"})),
    );
    assert_eq!(status, 404, "{json}");
    let env = [("HOLT_MODE", "platform")];
    let data = p.server.data();
    let data = data.to_str().unwrap();
    let (ok, out, err) = holt_env(
        &[
            "--data",
            data,
            "user",
            "add",
            "carol.example.org",
            "--name",
            "Carol",
        ],
        p.server.dir.path(),
        &env,
    );
    assert!(ok, "{out}{err}");
    p.add_member(&alice, "team", "carol.example.org", "viewer");
    let (ok, _, err) = holt_env(
        &["--data", data, "user", "add", "Not A Handle"],
        p.server.dir.path(),
        &env,
    );
    assert!(!ok);
    assert!(err.contains("handle"), "{err}");
}

#[test]
fn tokens_are_shown_once_stored_hashed_and_replaced_by_a_new_one() {
    let p = Platform::start();
    let alice = Who::Session(p.sign_in("alice.test"));
    p.create_wiki(&alice, "keys", false);
    let first = p.token(&alice, "keys", false);
    assert!(first.starts_with("holt_"), "{first}");
    assert_eq!(
        p.get("keys", "/Home", &Who::Token(first.clone())).status,
        200
    );
    let second = p.token(&alice, "keys", true);
    assert_ne!(first, second);
    assert_eq!(
        p.get("keys", "/Home", &Who::Token(first.clone())).status,
        401,
        "a new token revokes the old one"
    );
    assert_eq!(
        p.get("keys", "/Home", &Who::Token(second.clone())).status,
        200
    );
    // Read scope: reading, not writing.
    assert_eq!(
        save(&p, "keys", &Who::Token(second.clone()), "New", "x\n"),
        403
    );
    // Only a hash is kept.
    let db = rusqlite::Connection::open(p.server.data().join("holt.sqlite")).unwrap();
    let dump: Vec<String> = db
        .prepare("SELECT hash || ' ' || scope FROM tokens")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(dump.len(), 1, "{dump:?}");
    assert!(!dump[0].contains(&second) && !dump[0].contains(&second["holt_".len()..]));
    let data = std::fs::read(p.server.data().join("holt.sqlite")).unwrap();
    let wal = std::fs::read(p.server.data().join("holt.sqlite-wal")).unwrap_or_default();
    for bytes in [data, wal] {
        assert!(
            !bytes.windows(second.len()).any(|w| w == second.as_bytes()),
            "the token is stored in the clear"
        );
    }
}

#[test]
fn collaborators_can_be_changed_and_removed_and_lose_access() {
    let p = Platform::start();
    let alice = Who::Session(p.sign_in("alice.test"));
    let bob = Who::Session(p.sign_in("bob.test"));
    p.create_wiki(&alice, "shared", false);
    p.add_member(&alice, "shared", "bob.test", "editor");
    assert_eq!(save(&p, "shared", &bob, "ByBob", "b\n"), 303);
    let (status, json) = p.api(
        Method::PATCH,
        "/api/wikis/shared/members/bob.test",
        &alice,
        Some(json!({"role": "viewer"})),
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(save(&p, "shared", &bob, "ByBob2", "b\n"), 403);
    assert_eq!(p.get("shared", "/ByBob", &bob).status, 200);
    // A collaborator cannot manage collaborators.
    let (status, _) = p.api(
        Method::DELETE,
        "/api/wikis/shared/members/bob.test",
        &bob,
        None,
    );
    assert_eq!(status, 403);
    let (status, _) = p.api(
        Method::DELETE,
        "/api/wikis/shared/members/bob.test",
        &alice,
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(p.get("shared", "/ByBob", &bob).status, 403);
    let (status, _) = p.api(Method::GET, "/api/wikis/shared", &bob, None);
    assert_eq!(status, 404);
    // Bob's wiki list no longer has it.
    let (_, me) = p.api(Method::GET, "/api/me", &bob, None);
    assert_eq!(me["wikis"], json!([]), "{me}");
}
