//! The harness: a real `holt` process on an ephemeral port in a temporary data directory, an
//! HTTP client, a raw-socket client for URLs ordinary clients would normalize, and git.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::blocking::{Client, multipart};
use reqwest::redirect::Policy;

/// The `holt` binary under test.
pub fn holt_bin() -> &'static str {
    env!("CARGO_BIN_EXE_holt")
}

/// The benchmark corpus generator (`bench/corpus.py`): 500 pages, 2,000 commits, deterministic.
pub fn corpus_generator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/corpus.py")
}

/// A running `holt serve`; stopped (and its log printed on failure) when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    client: Client,
}

/// A response, read fully.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Server {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Server {
        Server::start_with(tempfile::tempdir().expect("temp dir"), &[])
    }

    /// Starts a server with `holt.toml` (in its working directory) set to `config`.
    pub fn start_with_config(config: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("holt.toml"), config).expect("write holt.toml");
        Server::start_with(dir, &[])
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server and starts it again on the same data (a restart).
    pub fn restart(self, env: &[(&str, &str)]) -> Server {
        self.restart_with(env, |_| {})
    }

    /// Stops the server, runs `between` on its data directory, and starts it again.
    pub fn restart_with(mut self, env: &[(&str, &str)], between: impl FnOnce(&Path)) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        between(&self.data());
        // The data moves to the new server; the old one is left an empty directory to drop.
        let real = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        let _ = std::fs::rename(
            real.path().join("server.log"),
            real.path().join("server.log.1"),
        );
        Server::start_with(real, env)
    }

    /// Starts a server on `dir` with extra environment variables.
    pub fn start_with(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
        Server::start_listening(dir, env, "127.0.0.1:0")
    }

    /// Starts a server on `dir` listening on `listen` (a port picked before it starts, for
    /// peers that must know it in advance).
    pub fn start_listening(dir: tempfile::TempDir, env: &[(&str, &str)], listen: &str) -> Server {
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut command = Command::new(holt_bin());
        command
            .args(["serve", "--listen", listen, "--data"])
            .arg(dir.path().join("data"))
            .current_dir(dir.path())
            .env("HOLT_LOG", "holt=debug,tower_http=debug")
            // Tests run single-wiki mode unless they ask for the platform (HOLT_MODE=platform).
            .env("HOLT_MODE", "single")
            // Embedding every page saved would load the cores for nothing: the semantic tests
            // switch it on (HOLT_SEMANTIC__ENABLED=true).
            .env("HOLT_SEMANTIC__ENABLED", "false")
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn holt");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("holt: listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(err) => {
                let _ = child.kill();
                let log =
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                let what = match err {
                    mpsc::RecvTimeoutError::Timeout => "did not start within 60 s",
                    mpsc::RecvTimeoutError::Disconnected => "exited before listening",
                };
                panic!("holt {what}; log:\n{log}");
            }
        };
        let client = http_client()
            .redirect(Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Server {
            child,
            base,
            dir,
            client,
        }
    }

    /// The port Holt listens on.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in base URL")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The demo wiki's bare repository.
    pub fn repo(&self) -> PathBuf {
        self.data().join("wikis/demo/repo.git")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Resp {
        read(
            self.client
                .get(self.url(path))
                .send()
                .unwrap_or_else(|e| panic!("GET {path}: {e}")),
        )
    }

    pub fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        read(
            self.client
                .post(self.url(path))
                .form(form)
                .send()
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        )
    }

    /// POST with extra headers (e.g. a browser's Origin).
    pub fn post_form_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut request = self.client.post(self.url(path)).form(form);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        read(
            request
                .send()
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        )
    }

    pub fn post_multipart(&self, path: &str, form: multipart::Form) -> Resp {
        read(
            self.client
                .post(self.url(path))
                .multipart(form)
                .send()
                .unwrap_or_else(|e| panic!("POST {path}: {e}")),
        )
    }

    /// Sends `path` byte for byte (no client-side normalization of `..` or `%2e`).
    pub fn raw(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let addr = self.base.trim_start_matches("http://");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        raw_exchange(addr, &request)
    }

    /// Creates or updates a page through the editor form; returns the response.
    pub fn save(&self, page: &str, content: &str, base: &str) -> Resp {
        self.post_form(
            &format!("/{page}/-/edit"),
            &[
                ("content", content),
                ("base", base),
                ("message", "test edit"),
            ],
        )
    }

    /// Creates a page and asserts it worked.
    pub fn create(&self, page: &str, content: &str) {
        let resp = self.save(page, content, "");
        assert_eq!(resp.status, 303, "creating {page}: {}", resp.body);
    }

    /// The revision the editor would base a save on (the page's last commit).
    pub fn revision(&self, page: &str) -> String {
        let resp = self.get(&format!("/{page}/-/edit"));
        assert_eq!(resp.status, 200, "editor of {page}");
        let marker = "name=\"base\" value=\"";
        let start = resp.body.find(marker).expect("base field") + marker.len();
        resp.body[start..start + 40].to_string()
    }

    /// Number of commits on the wiki's branch, counted by the real git.
    pub fn commit_count(&self) -> usize {
        git(&self.repo(), &["rev-list", "--count", "HEAD"])
            .trim()
            .parse()
            .expect("count")
    }

    /// Runs `git fsck --full --strict` on the wiki's repository and asserts it is clean.
    pub fn fsck(&self) {
        fsck(&self.repo());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            eprintln!("--- server log ({}) ---\n{log}", self.base);
            let listing = Command::new("find")
                .arg(self.data())
                .arg("-maxdepth")
                .arg("4")
                .output();
            if let Ok(out) = listing {
                eprintln!("--- data dir ---\n{}", String::from_utf8_lossy(&out.stdout));
            }
        }
    }
}

/// Reads a response fully.
pub fn read(response: reqwest::blocking::Response) -> Resp {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let location = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.bytes().expect("body").to_vec();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    Resp {
        status,
        location,
        content_type,
        headers,
        body,
        bytes,
    }
}

/// Runs git and returns its stdout; panics with stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn fsck(repo: &Path) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["fsck", "--full", "--strict"])
        .output()
        .expect("git fsck");
    assert!(
        out.status.success(),
        "git fsck failed on {}:\n{}{}",
        repo.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `holt` with arguments; returns (success, stdout, stderr).
pub fn holt(args: &[&str], cwd: &Path) -> (bool, String, String) {
    holt_env(args, cwd, &[("HOLT_MODE", "single")])
}

/// Runs `holt` with arguments and environment variables; returns (success, stdout, stderr).
pub fn holt_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(holt_bin());
    command.args(args).current_dir(cwd);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run holt");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The folder of built plugins (`target/plugins`, made by `plugins/build.sh`), holding the real
/// plugins and the test components alike.
pub fn built_plugins() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
    for name in ["example", "abuse", "bootstrap"] {
        assert!(
            dir.join(name).join("plugin.wasm").exists(),
            "no built plugin '{name}' in {}: run ./plugins/build.sh (./dev.sh test does)",
            dir.display()
        );
    }
    dir.canonicalize().expect("plugin dir")
}

/// Parses an HTML document for structural assertions.
pub fn html(body: &str) -> scraper::Html {
    scraper::Html::parse_document(body)
}

/// The text of every element matching `selector`.
pub fn texts(body: &str, selector: &str) -> Vec<String> {
    let doc = html(body);
    let sel = scraper::Selector::parse(selector).expect("selector");
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_string())
        .collect()
}

/// The `attr` of every element matching `selector`.
pub fn attrs(body: &str, selector: &str, attr: &str) -> Vec<String> {
    let doc = html(body);
    let sel = scraper::Selector::parse(selector).expect("selector");
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_string))
        .collect()
}

/// Writes `request` to `addr` as is and reads the whole response; its status and text.
pub fn raw_exchange(addr: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// A loopback port free right now (for a server that must be named before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A blocking HTTP client builder. Holt's own reqwest has rustls without a default crypto
/// provider (it installs ring at start), and features unify, so tests install it too.
pub fn http_client() -> reqwest::blocking::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    Client::builder()
}
