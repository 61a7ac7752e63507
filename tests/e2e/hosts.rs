//! The platform harness: a `holt serve` in platform mode, reached by host name (`localhost` for
//! the platform, `{slug}.localhost` for wikis) over real HTTP, as a browser, a token holder or
//! nobody; and the real git client, told to resolve those names to the server.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, multipart};
use reqwest::redirect::Policy;
use serde_json::Value;

use crate::util::{Resp, Server, read};

/// Who makes a request.
#[derive(Debug, Clone)]
pub enum Who {
    Nobody,
    /// A browser with this session cookie value.
    Session(String),
    /// `Authorization: Bearer`.
    Token(String),
}

/// What a request carries.
pub enum Send {
    Nothing,
    Form(Vec<(String, String)>),
    Json(Value),
    /// A body with a content type (or none), sent as is.
    Raw(Option<&'static str>, Vec<u8>),
    Multipart(multipart::Form),
}

/// A platform-mode server.
pub struct Platform {
    pub server: Server,
    pub port: u16,
    client: Client,
    /// The platform's public host name when it is not `localhost:<port>` (a TLS-terminating
    /// proxy's name, reached here over loopback by Host header).
    public_host: Option<String>,
}

impl Platform {
    /// A platform with the default settings (and the demo wiki).
    pub fn start() -> Platform {
        Platform::start_with_config("")
    }

    /// A platform with `holt.toml` set to `config` (platform mode is the default).
    pub fn start_with_config(config: &str) -> Platform {
        Platform::start_at(config, None, "127.0.0.1:0")
    }

    /// A platform whose public URL is `https://{public_host}` (set in `config`), listening on
    /// `listen`.
    pub fn start_public(config: &str, public_host: &str, listen: &str) -> Platform {
        Platform::start_at(config, Some(public_host.to_string()), listen)
    }

    /// A platform with `holt.toml` set to `config` and extra environment variables.
    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Platform {
        Platform::start_full(config, None, "127.0.0.1:0", env)
    }

    fn start_at(config: &str, public_host: Option<String>, listen: &str) -> Platform {
        Platform::start_full(config, public_host, listen, &[])
    }

    fn start_full(
        config: &str,
        public_host: Option<String>,
        listen: &str,
        env: &[(&str, &str)],
    ) -> Platform {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("holt.toml"), config).expect("write holt.toml");
        let mut env = env.to_vec();
        env.push(("HOLT_MODE", "platform"));
        let server = Server::start_listening(dir, &env, listen);
        let port = server.port();
        let client = crate::util::http_client()
            .redirect(Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Platform {
            server,
            port,
            client,
            public_host,
        }
    }

    /// The Host header of the platform (`""`) or of wiki `slug`.
    pub fn host(&self, slug: &str) -> String {
        if let Some(public) = &self.public_host {
            return if slug.is_empty() {
                public.clone()
            } else {
                format!("{slug}.{public}")
            };
        }
        if slug.is_empty() {
            format!("localhost:{}", self.port)
        } else {
            format!("{slug}.localhost:{}", self.port)
        }
    }

    /// The public URL of wiki `slug`.
    pub fn wiki_url(&self, slug: &str) -> String {
        let scheme = if self.public_host.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host(slug))
    }

    fn request(&self, method: Method, host: &str, path: &str, who: &Who) -> RequestBuilder {
        let mut request = self
            .client
            .request(method, format!("http://127.0.0.1:{}{path}", self.port))
            .header("Host", host);
        match who {
            Who::Nobody => {}
            Who::Session(jwt) => request = request.header("Cookie", format!("holt_session={jwt}")),
            Who::Token(token) => request = request.bearer_auth(token),
        }
        request
    }

    /// Sends a request to host `slug` (`""`: the platform) as `who`.
    pub fn send(&self, method: Method, slug: &str, path: &str, who: &Who, body: Send) -> Resp {
        self.send_with(method, slug, path, who, &[], body)
    }

    /// Sends a request with extra headers to host `slug` as `who`.
    pub fn send_with(
        &self,
        method: Method,
        slug: &str,
        path: &str,
        who: &Who,
        headers: &[(&str, &str)],
        body: Send,
    ) -> Resp {
        let mut request = self.request(method.clone(), &self.host(slug), path, who);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match body {
            Send::Nothing => request,
            Send::Form(form) => request.form(&form),
            Send::Json(value) => request.json(&value),
            Send::Raw(content_type, bytes) => {
                if let Some(ct) = content_type {
                    request = request.header("Content-Type", ct);
                }
                request.body(bytes)
            }
            Send::Multipart(form) => request.multipart(form),
        };
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("{method} {slug}:{path}: {e}"));
        read(response)
    }

    pub fn get(&self, slug: &str, path: &str, who: &Who) -> Resp {
        self.send(Method::GET, slug, path, who, Send::Nothing)
    }

    pub fn post_form(&self, slug: &str, path: &str, who: &Who, form: &[(&str, &str)]) -> Resp {
        let form = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.send(Method::POST, slug, path, who, Send::Form(form))
    }

    /// A management API call with a JSON body (or none); returns the response and its JSON.
    pub fn api(&self, method: Method, path: &str, who: &Who, body: Option<Value>) -> (u16, Value) {
        let body = body.map(Send::Json).unwrap_or(Send::Nothing);
        let resp = self.send(method, "", path, who, body);
        let json = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
        (resp.status, json)
    }

    /// Signs in through the development sign-in; the session cookie's value.
    pub fn sign_in(&self, handle: &str) -> String {
        let resp = self.post_form("", "/auth/dev", &Who::Nobody, &[("handle", handle)]);
        assert_eq!(resp.status, 303, "signing in as {handle}: {}", resp.body);
        let cookie = resp
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie");
        let value = cookie
            .strip_prefix("holt_session=")
            .and_then(|rest| rest.split(';').next())
            .expect("holt_session cookie");
        value.to_string()
    }

    /// Creates wiki `slug` as `owner` through the API and asserts it worked.
    pub fn create_wiki(&self, owner: &Who, slug: &str, public: bool) -> Value {
        let (status, json) = self.api(
            Method::POST,
            "/api/wikis",
            owner,
            Some(serde_json::json!({"slug": slug, "display_name": slug, "public": public})),
        );
        assert_eq!(status, 201, "creating {slug}: {json}");
        json["wiki"].clone()
    }

    /// A new wiki token for `who` on `slug` (write scope unless `read_only`).
    pub fn token(&self, who: &Who, slug: &str, read_only: bool) -> String {
        let scope = if read_only { "read" } else { "write" };
        let (status, json) = self.api(
            Method::POST,
            &format!("/api/wikis/{slug}/token"),
            who,
            Some(serde_json::json!({"scope": scope})),
        );
        assert_eq!(status, 201, "token for {slug}: {json}");
        json["token"].as_str().expect("token").to_string()
    }

    /// Adds `handle` to `slug` with `role`, as the owner.
    pub fn add_member(&self, owner: &Who, slug: &str, handle: &str, role: &str) {
        let (status, json) = self.api(
            Method::POST,
            &format!("/api/wikis/{slug}/members"),
            owner,
            Some(serde_json::json!({"handle": handle, "role": role})),
        );
        assert_eq!(status, 200, "adding {handle} to {slug}: {json}");
    }

    /// Runs `git clone` of wiki `slug` into `into` as `who`, whose credential rides on every
    /// request (a session in a cookie header, a token as basic-auth); git's output.
    pub fn clone(&self, slug: &str, who: &Who, into: &Path) -> Output {
        let url = format!("http://{}/repo.git", self.host(slug));
        let mut command = self.git(slug);
        match who {
            Who::Nobody => {}
            Who::Session(jwt) => {
                command.args([
                    "-c",
                    &format!("http.extraHeader=Cookie: holt_session={jwt}"),
                ]);
            }
            Who::Token(token) => {
                let basic =
                    base64::engine::general_purpose::STANDARD.encode(format!("git:{token}"));
                command.args([
                    "-c",
                    &format!("http.extraHeader=Authorization: Basic {basic}"),
                ]);
            }
        }
        command
            .args(["clone", "--quiet", &url])
            .arg(into)
            .output()
            .expect("run git clone")
    }

    /// Runs `git clone http://git:TOKEN@slug.../repo.git`, the way the docs tell people to.
    pub fn clone_with_password(&self, slug: &str, token: &str, into: &Path) -> Output {
        let url = format!("http://git:{token}@{}/repo.git", self.host(slug));
        self.git(slug)
            .args(["clone", "--quiet", &url])
            .arg(into)
            .output()
            .expect("run git clone")
    }

    /// A git command that resolves wiki `slug`'s host name to this server and never prompts.
    pub fn git(&self, slug: &str) -> Command {
        let host = self.host(slug);
        let mut command = Command::new("git");
        command
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env_remove("SSH_ASKPASS")
            .args(["-c", "credential.helper="])
            .args(["-c", &format!("http.curloptResolve={host}:127.0.0.1")]);
        command
    }
}

/// The text of a git process's stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
