//! Sign in with ATProto against real peers: a PLC directory and a PDS with its OAuth provider
//! (`@atproto/dev-env`, see `pds.rs`), with Holt as a confidential client whose public origin
//! is `https://holt.internal`. The tests reach Holt over loopback by Host header, as a
//! TLS-terminating proxy would; the PDS fetches Holt's client metadata the same way.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::Value;

use crate::hosts::{Platform, Send, Who};
use crate::pds::{Account, Pds};
use crate::util::{Resp, free_port};

/// The platform's public host name in these tests.
pub const PUBLIC_HOST: &str = "holt.internal";

/// Holt and the peers, wired to each other.
pub struct Rig {
    pub holt: Platform,
    pub pds: Pds,
}

impl Rig {
    pub fn start(handles: &[&str]) -> Rig {
        let port = free_port();
        let pds = Pds::start(
            handles,
            &format!("https://{PUBLIC_HOST}"),
            &format!("http://127.0.0.1:{port}"),
        );
        let config = format!(
            "public_url = \"https://{PUBLIC_HOST}\"\n\
             [platform]\ndemo = false\n\
             [atproto]\nplc_url = \"{}\"\nhandle_resolver = \"{}\"\nallow_http = true\n",
            pds.plc, pds.pds
        );
        let holt = Platform::start_public(&config, PUBLIC_HOST, &format!("127.0.0.1:{port}"));
        Rig { holt, pds }
    }
}

/// A browser: cookies kept per name (Holt's are for the whole platform domain).
#[derive(Default)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    fn headers(&self, origin: Option<&str>) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            headers.push(("Cookie".to_string(), cookie));
        }
        if let Some(origin) = origin {
            headers.push(("Origin".to_string(), origin.to_string()));
        }
        headers
    }

    /// Sends a request to host `slug` of the platform, keeping the cookies it sets.
    pub fn send(
        &mut self,
        holt: &Platform,
        method: Method,
        slug: &str,
        path: &str,
        body: Send,
    ) -> Resp {
        let origin = format!("https://{}", holt.host(slug));
        let owned = self.headers((method == Method::POST).then_some(origin.as_str()));
        let headers: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let resp = holt.send_with(method, slug, path, &Who::Nobody, &headers, body);
        for set in resp.headers.get_all("set-cookie") {
            let set = set.to_str().unwrap_or_default();
            let pair = set.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || set.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        resp
    }

    pub fn get(&mut self, holt: &Platform, slug: &str, path: &str) -> Resp {
        self.send(holt, Method::GET, slug, path, Send::Nothing)
    }

    pub fn post_form(
        &mut self,
        holt: &Platform,
        slug: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Resp {
        let form = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.send(holt, Method::POST, slug, path, Send::Form(form))
    }
}

/// The path and query of a URL on the platform's public host.
pub fn local_path(url: &str) -> String {
    let rest = url
        .strip_prefix(&format!("https://{PUBLIC_HOST}"))
        .unwrap_or_else(|| panic!("{url} is not on https://{PUBLIC_HOST}"));
    if rest.is_empty() {
        "/".into()
    } else {
        rest.to_string()
    }
}

/// Starts signing in `handle` from the login page; returns the PDS's authorization URL.
pub fn start_sign_in(rig: &Rig, browser: &mut Browser, handle: &str, return_to: &str) -> String {
    let page = browser.get(&rig.holt, "", "/auth/login");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("action=\"/auth/login\""),
        "{}",
        page.body
    );
    let started = browser.post_form(
        &rig.holt,
        "",
        "/auth/login",
        &[("handle", handle), ("return_to", return_to)],
    );
    assert_eq!(started.status, 303, "{}", started.body);
    let url = started.location.clone().expect("a redirect to the PDS");
    assert!(
        url.starts_with(&rig.pds.pds),
        "{url} should be at {}",
        rig.pds.pds
    );
    assert!(browser.cookies.contains_key("holt_signin"));
    url
}

/// Signs `account` in through the login page and the PDS; returns where Holt sent the browser.
pub fn sign_in(
    rig: &Rig,
    browser: &mut Browser,
    account: &Account,
    handle: &str,
    return_to: &str,
) -> Resp {
    let authorize = start_sign_in(rig, browser, handle, return_to);
    let callback = rig.pds.consent(&authorize, account, true);
    assert!(callback.contains("code="), "{callback}");
    browser.get(&rig.holt, "", &local_path(&callback))
}

fn me(rig: &Rig, browser: &mut Browser) -> (u16, Value) {
    let resp = browser.get(&rig.holt, "", "/api/me");
    let json = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
    (resp.status, json)
}

#[test]
fn sign_in_with_a_pds_account_then_again_after_a_handle_change() {
    let rig = Rig::start(&["alice.test"]);
    let alice = rig.pds.account("alice.test").clone();

    // The client metadata the PDS fetched is Holt's, with its key.
    let metadata = rig.holt.get("", "/auth/client-metadata.json", &Who::Nobody);
    let metadata: Value = serde_json::from_str(&metadata.body).unwrap();
    assert_eq!(
        metadata["client_id"],
        "https://holt.internal/auth/client-metadata.json"
    );
    assert_eq!(metadata["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(metadata["dpop_bound_access_tokens"], true);
    let jwks: Value =
        serde_json::from_str(&rig.holt.get("", "/auth/jwks.json", &Who::Nobody).body).unwrap();
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "the private part must not be published"
    );

    let mut browser = Browser::default();
    let back = sign_in(&rig, &mut browser, &alice, "alice.test", "/");
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        browser.cookies.contains_key("holt_session"),
        "{:?}",
        back.headers
    );
    assert!(
        !browser.cookies.contains_key("holt_signin"),
        "the sign-in cookie is spent"
    );
    // First sign-in: choose a username, suggested from the handle.
    let welcome_path = back.location.clone().unwrap();
    assert!(welcome_path.starts_with("/auth/welcome"), "{welcome_path}");
    let welcome = browser.get(&rig.holt, "", &welcome_path);
    assert!(welcome.body.contains("value=\"alice\""), "{}", welcome.body);
    // Reserved names are refused, and nothing changes.
    let refused = browser.post_form(
        &rig.holt,
        "",
        "/auth/welcome",
        &[("username", "admin"), ("return_to", "/")],
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    let (_, me1) = me(&rig, &mut browser);
    assert_eq!(me1["user"]["username"], Value::Null);
    let chosen = browser.post_form(
        &rig.holt,
        "",
        "/auth/welcome",
        &[("username", "alice"), ("return_to", "/")],
    );
    assert_eq!(chosen.status, 303, "{}", chosen.body);

    let (status, me1) = me(&rig, &mut browser);
    assert_eq!(status, 200);
    assert_eq!(me1["user"]["did"], alice.did.as_str());
    assert_eq!(me1["user"]["handle"], "alice.test");
    assert_eq!(me1["user"]["username"], "alice");

    // The handle moves on the PDS; the next sign-in, in a new browser, shows the new one for
    // the same user.
    rig.pds.update_handle(&alice, "alice2.test");
    let moved = Account {
        handle: "alice2.test".into(),
        ..alice.clone()
    };
    let mut second = Browser::default();
    let back = sign_in(&rig, &mut second, &moved, "alice2.test", "/account");
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(
        back.location.as_deref(),
        Some("/account"),
        "no username to choose again"
    );
    let (_, me2) = me(&rig, &mut second);
    assert_eq!(me2["user"]["handle"], "alice2.test");
    assert_eq!(me2["user"]["did"], alice.did.as_str());
    assert_eq!(me2["user"]["id"], me1["user"]["id"]);
    let account = second.get(&rig.holt, "", "/account");
    assert!(account.body.contains("@alice2.test"), "{}", account.body);
}

#[test]
fn sign_in_refuses_a_foreign_browser_a_bad_state_a_denial_and_foreign_return_to() {
    let rig = Rig::start(&["carol.test"]);
    let carol = rig.pds.account("carol.test").clone();

    // return_to pointing off the platform is dropped from the login form.
    for evil in [
        "https://evil.example/steal",
        "//evil.example/x",
        "https://holt.internal@evil.example/",
        "https://holt.internal.evil.example/",
    ] {
        let mut browser = Browser::default();
        let page = browser.get(
            &rig.holt,
            "",
            &format!(
                "/auth/login?return_to={}",
                percent_encoding::utf8_percent_encode(evil, percent_encoding::NON_ALPHANUMERIC)
            ),
        );
        assert!(
            !page.body.contains("evil.example"),
            "{evil} kept: {}",
            page.body
        );
    }

    // A full sign-in asked to return elsewhere ends on the platform instead.
    let mut browser = Browser::default();
    let back = sign_in(
        &rig,
        &mut browser,
        &carol,
        "carol.test",
        "https://evil.example/steal",
    );
    assert_eq!(back.status, 303);
    let target = back.location.unwrap();
    assert!(!target.contains("evil.example"), "{target}");

    // A callback delivered to another browser (no sign-in cookie) is refused: no session.
    let mut started_here = Browser::default();
    let authorize = start_sign_in(&rig, &mut started_here, "carol.test", "/");
    let callback = rig.pds.consent(&authorize, &carol, true);
    let mut elsewhere = Browser::default();
    let refused = elsewhere.get(&rig.holt, "", &local_path(&callback));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(!elsewhere.cookies.contains_key("holt_session"));
    assert_eq!(me(&rig, &mut elsewhere).0, 401);

    // A state that was never issued (or was tampered with) is refused.
    let tampered = local_path(&callback).replace("state=", "state=x");
    let refused = started_here.get(&rig.holt, "", &tampered);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(!started_here.cookies.contains_key("holt_session"));

    // Denied at the PDS: told so, not signed in.
    let mut denied = Browser::default();
    let authorize = start_sign_in(&rig, &mut denied, "carol.test", "/");
    let callback = rig.pds.consent(&authorize, &carol, false);
    assert!(callback.contains("error=access_denied"), "{callback}");
    let refused = denied.get(&rig.holt, "", &local_path(&callback));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("cancelled"), "{}", refused.body);
    assert!(!denied.cookies.contains_key("holt_session"));

    // A handle that does not resolve: a clear error on the login page, nothing started.
    let mut browser = Browser::default();
    let unknown = browser.post_form(&rig.holt, "", "/auth/login", &[("handle", "nobody.test")]);
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(unknown.body.contains("nobody.test"), "{}", unknown.body);
    let garbage = browser.post_form(&rig.holt, "", "/auth/login", &[("handle", "not a handle!")]);
    assert_eq!(garbage.status, 400, "{}", garbage.body);
}

/// Signs `account` in (choosing a username at the first sign-in) and makes wiki `slug`.
fn owner_of_wiki(rig: &Rig, account: &Account, username: &str, slug: &str) -> Browser {
    let mut browser = Browser::default();
    let back = sign_in(rig, &mut browser, account, &account.handle, "/");
    if back
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with("/auth/welcome"))
    {
        let chosen = browser.post_form(
            &rig.holt,
            "",
            "/auth/welcome",
            &[("username", username), ("return_to", "/")],
        );
        assert_eq!(chosen.status, 303, "{}", chosen.body);
    }
    let made = browser.send(
        &rig.holt,
        Method::POST,
        "",
        "/api/wikis",
        Send::Json(serde_json::json!({"slug": slug, "display_name": "Notes"})),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    browser
}

/// Runs the Python MCP SDK's OAuth client (`tests/mcp/python_oauth_client.py`); its verdict,
/// which must be a pass.
fn python_oauth(rig: &Rig, account: &Account, deny: bool) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp");
    let python = dir.join(".venv/bin/python");
    assert!(
        python.exists(),
        "the MCP SDKs are not installed (./dev.sh test installs them)"
    );
    let mut command = std::process::Command::new(python);
    command
        .arg(dir.join("python_oauth_client.py"))
        .args(["--holt-port", &rig.holt.port.to_string()])
        .args(["--pds", &rig.pds.pds])
        .args(["--handle", &account.handle])
        .args(["--password", &account.password])
        .args(["--wiki", "notes"])
        .args(["--public-origin", &format!("https://{PUBLIC_HOST}")]);
    if deny {
        command.arg("--deny");
    }
    let out = command.output().expect("run the Python OAuth client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(verdict["ok"], true, "{stdout}");
    verdict
}

#[test]
fn the_python_sdk_connects_over_oauth_after_an_atproto_sign_in() {
    let rig = Rig::start(&["dana.test"]);
    let dana = rig.pds.account("dana.test").clone();
    let mut owner = owner_of_wiki(&rig, &dana, "dana", "notes");

    let verdict = python_oauth(&rig, &dana, false);
    assert!(verdict["checks"].as_u64().unwrap_or(0) >= 20, "{verdict}");

    // What the client wrote over MCP is in the wiki, by dana.
    let page = owner.get(&rig.holt, "notes", "/OAuth/Hello/-/source");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Written over OAuth"), "{}", page.body);
    // The client's last check replayed a spent refresh token, which revokes the whole grant:
    // the account page no longer lists it as connected.
    let account = owner.get(&rig.holt, "", "/account");
    assert!(
        account.body.contains("No application is connected"),
        "{}",
        account.body
    );
}

#[test]
fn a_denied_consent_gives_the_python_sdk_no_token() {
    let rig = Rig::start(&["erin.test"]);
    let erin = rig.pds.account("erin.test").clone();
    let _owner = owner_of_wiki(&rig, &erin, "erin", "notes");

    let verdict = python_oauth(&rig, &erin, true);
    assert_eq!(verdict["mode"], "deny", "{verdict}");
}

/// A DPoP proof (RFC 9449) for `method url`, signed with `key`, for `access_token`.
fn dpop_proof(
    key: &p256::SecretKey,
    method: &str,
    url: &str,
    access_token: &str,
    nonce: Option<&str>,
) -> String {
    use base64::Engine as _;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    use sha2::Digest;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let point = key.public_key().to_encoded_point(false);
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(serde_json::from_value(jwk).unwrap());
    let mut claims = serde_json::json!({
        "jti": format!("{:x}", rand_u64()),
        "htm": method,
        "htu": url,
        "iat": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        "ath": b64(&sha2::Sha256::digest(access_token.as_bytes())),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
    let der = key.to_pkcs8_der().unwrap();
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
    )
    .unwrap()
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes)
}

#[test]
fn the_stored_atproto_session_is_dpop_bound_and_a_proof_with_another_key_is_refused() {
    use base64::Engine as _;
    let rig = Rig::start(&["frank.test"]);
    let frank = rig.pds.account("frank.test").clone();
    let mut browser = Browser::default();
    assert_eq!(
        sign_in(&rig, &mut browser, &frank, "frank.test", "/").status,
        303
    );

    // The session Holt keeps for frank: his access token and the DPoP key it is bound to.
    let db = rusqlite::Connection::open(rig.holt.server.data().join("holt.sqlite")).unwrap();
    let data: String = db
        .query_row(
            "SELECT data FROM atproto_sessions WHERE did = ?1",
            [&frank.did],
            |r| r.get(0),
        )
        .expect("a stored ATProto session");
    let session: Value = serde_json::from_str(&data).unwrap();
    let token = session["token_set"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let d = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(session["dpop_key"]["d"].as_str().unwrap())
        .unwrap();
    let holts_key = p256::SecretKey::from_slice(&d).unwrap();
    let other_key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);

    let url = format!("{}/xrpc/com.atproto.server.getSession", rig.pds.pds);
    let client = crate::util::http_client().build().unwrap();
    let call = |key: &p256::SecretKey, nonce: Option<&str>| {
        client
            .get(&url)
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", dpop_proof(key, "GET", &url, &token, nonce))
            .send()
            .unwrap()
    };
    // The PDS hands out a nonce first; with it, Holt's key is accepted.
    let first = call(&holts_key, None);
    let nonce = first
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_string());
    let accepted = call(&holts_key, nonce.as_deref());
    let nonce = accepted
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_string())
        .or(nonce);
    assert_eq!(accepted.status(), 200, "{}", accepted.text().unwrap());
    // The same token with a proof from another key, or with no proof at all, is refused.
    let stolen = call(&other_key, nonce.as_deref());
    assert_eq!(
        stolen.status(),
        401,
        "a proof signed with another key must be refused"
    );
    let bare = client
        .get(&url)
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .unwrap();
    assert!(
        matches!(bare.status().as_u16(), 400 | 401),
        "the token alone must not be enough: {}",
        bare.status()
    );
}
