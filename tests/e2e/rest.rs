//! The REST API plugin at `/api/v1`, over real HTTP: every route with a token (and a session),
//! bad input refused with a JSON error and nothing written, permissions, and the OpenAPI
//! document checked against the routes the plugin really serves.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::hosts::{Platform, Send, Who};
use crate::util::{Resp, git, raw_exchange, read};

/// Every route the plugin serves, as `(method, template)` in the OpenAPI document's terms. The
/// document must list exactly these (and each must answer): the two cannot drift apart.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/pages"),
    ("GET", "/pages/{path}"),
    ("PUT", "/pages/{path}"),
    ("PATCH", "/pages/{path}"),
    ("DELETE", "/pages/{path}"),
    ("POST", "/pages/{path}/-/rename"),
    ("GET", "/pages/{path}/-/history"),
    ("GET", "/pages/{path}/-/diff"),
    ("GET", "/pages/{path}/-/links"),
    ("GET", "/pages/{path}/-/attachments"),
    ("GET", "/pages/{path}/-/attachments/{name}"),
    ("PUT", "/pages/{path}/-/attachments/{name}"),
    ("DELETE", "/pages/{path}/-/attachments/{name}"),
    ("GET", "/changelog"),
    ("GET", "/search"),
    ("GET", "/semantic-search"),
    ("GET", "/reindex/status"),
    ("GET", "/links"),
];

/// A platform with one wiki, its owner (a session) and the owner's write token.
struct Api {
    p: Platform,
    slug: &'static str,
    owner: Who,
    token: Who,
}

fn wiki(public: bool) -> Api {
    let p = Platform::start();
    let owner = Who::Session(p.sign_in("alice.test"));
    let slug = "notes";
    p.create_wiki(&owner, slug, public);
    let token = Who::Token(p.token(&owner, slug, false));
    Api {
        p,
        slug,
        owner,
        token,
    }
}

impl Api {
    /// A request to `/api/v1{path}` on the wiki; the response and its JSON (Null if none).
    fn call(&self, method: Method, path: &str, who: &Who, body: Send) -> (Resp, Value) {
        let resp = self
            .p
            .send(method, self.slug, &format!("/api/v1{path}"), who, body);
        let json = serde_json::from_slice(&resp.bytes).unwrap_or(Value::Null);
        (resp, json)
    }

    fn get(&self, path: &str) -> (Resp, Value) {
        self.call(Method::GET, path, &self.token, Send::Nothing)
    }

    /// A request with extra headers (the harness sends none), as the owner's token.
    fn call_with_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        json_body: Value,
    ) -> (Resp, Value) {
        let Who::Token(token) = &self.token else {
            unreachable!("the token is a token")
        };
        let client = crate::util::http_client()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let mut request = client
            .request(
                method,
                format!("http://127.0.0.1:{}/api/v1{path}", self.p.port),
            )
            .header("Host", self.p.host(self.slug))
            .bearer_auth(token)
            .json(&json_body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let resp = read(request.send().expect("send"));
        let json = serde_json::from_slice(&resp.bytes).unwrap_or(Value::Null);
        (resp, json)
    }

    /// Creates `page` with `content` through the API; its revision.
    fn create(&self, page: &str, content: &str) -> String {
        let (resp, json) = self.call(
            Method::PUT,
            &format!("/pages/{page}"),
            &self.token,
            Send::Json(json!({ "content": content })),
        );
        assert_eq!(resp.status, 201, "creating {page}: {}", resp.body);
        revision(&json["revision"])
    }

    /// The page's revision now, read through the API.
    fn revision(&self, page: &str) -> String {
        let (resp, json) = self.get(&format!("/pages/{page}"));
        assert_eq!(resp.status, 200, "reading {page}: {}", resp.body);
        revision(&json["revision"])
    }

    /// The wiki's HEAD commit, read by the real git (independent of the API).
    fn head(&self) -> String {
        let repo = self
            .p
            .server
            .data()
            .join(format!("wikis/{}/repo.git", self.slug));
        git(&repo, &["rev-parse", "HEAD"]).trim().to_string()
    }

    /// Sends `request` byte for byte (no client-side `..` normalization) as the owner's token.
    fn raw(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let Who::Token(token) = &self.token else {
            unreachable!("the token is a token")
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.p.host(self.slug),
            body.len()
        );
        let (status, response) = raw_exchange(&format!("127.0.0.1:{}", self.p.port), &request);
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

/// A 40-hex commit id from a JSON value.
fn revision(value: &Value) -> String {
    let rev = value.as_str().unwrap_or_default().to_string();
    assert!(
        rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()),
        "not a revision: {value}"
    );
    rev
}

/// Asserts the response is the API's JSON error with `status` and `code`.
fn assert_error(what: &str, resp: &Resp, json: &Value, status: u16, code: &str) {
    assert_eq!(resp.status, status, "{what}: {}", resp.body);
    assert!(
        resp.content_type.starts_with("application/json"),
        "{what}: content type {}",
        resp.content_type
    );
    assert_eq!(json["error"]["code"], code, "{what}: {}", resp.body);
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.len() > 10,
        "{what}: a message to act on: {}",
        resp.body
    );
}

fn paths(json: &Value, key: &str) -> Vec<String> {
    json[key]
        .as_array()
        .unwrap_or_else(|| panic!("no array '{key}' in {json}"))
        .iter()
        .map(|p| p["path"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn health_names_the_wiki() {
    let api = wiki(true);
    let (resp, json) = api.get("/health");
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(json, json!({"status": "ok", "wiki": "notes", "api": "v1"}));
    // A public wiki is readable by anyone, so its health is too.
    let (resp, _) = api.call(Method::GET, "/health", &Who::Nobody, Send::Nothing);
    assert_eq!(resp.status, 200);
}

#[test]
fn pages_are_created_read_listed_updated_and_deleted_with_a_token() {
    let api = wiki(true);
    let content = "---\ntitle: Setup\ntags: [ops, linux]\naliases:\n  - Install\n---\n# Setup\n\nInstall it.\n";
    let (resp, json) = api.call(
        Method::PUT,
        "/pages/Guides/Setup",
        &api.token,
        Send::Json(json!({"content": content, "message": "Add the setup guide"})),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(json["path"], "Guides/Setup");
    assert_eq!(json["created"], true);
    let first = revision(&json["revision"]);
    assert_eq!(api.head(), first, "the save is the wiki's newest commit");

    // Read back, by a raw slash or %2F, with the front matter as metadata and an ETag.
    for path in ["/pages/Guides/Setup", "/pages/Guides%2FSetup"] {
        let (resp, page) = api.get(path);
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
        assert_eq!(page["path"], "Guides/Setup");
        assert_eq!(page["content"], content);
        assert_eq!(page["revision"], first.as_str());
        assert!(page["updated"].as_i64().unwrap_or(0) > 1_700_000_000);
        assert_eq!(
            page["metadata"],
            json!({"title": "Setup", "tags": ["ops", "linux"], "aliases": ["Install"]})
        );
        let etag = resp.headers.get("etag").and_then(|v| v.to_str().ok());
        assert_eq!(etag, Some(format!("\"{first}\"").as_str()));
    }
    let (_, plain) = api.get("/pages/Home");
    assert!(plain["metadata"].is_object(), "{plain}");

    // Listing and its filters.
    let (resp, listed) = api.get("/pages?prefix=Guides/");
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(paths(&listed, "pages"), ["Guides/Setup"]);
    let entry = &listed["pages"][0];
    assert_eq!(entry["title"], "Setup");
    assert_eq!(entry["revision"], first.as_str());
    assert_eq!(entry["size"], content.len());
    let (_, all) = api.get("/pages");
    let all = paths(&all, "pages");
    assert!(
        all.len() > 1 && all.contains(&"Home".to_string()),
        "{all:?}"
    );
    let (_, tagged) = api.get("/pages?tag=ops");
    assert_eq!(paths(&tagged, "pages"), ["Guides/Setup"]);
    let (_, one) = api.get("/pages?limit=1");
    assert_eq!(paths(&one, "pages").len(), 1);
    let (_, since) = api.get("/pages?updated_since=2000-01-01T00:00:00Z");
    assert_eq!(paths(&since, "pages").len(), all.len());
    for future in ["4102444800", "2100-01-01T00:00:00Z"] {
        let (resp, later) = api.get(&format!("/pages?updated_since={future}"));
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert!(paths(&later, "pages").is_empty(), "{later}");
    }

    // Update with the base revision in the body, then as If-Match.
    let (resp, json) = api.call(
        Method::PUT,
        "/pages/Guides/Setup",
        &api.token,
        Send::Json(json!({"content": "# Setup\n\nv2\n", "revision": first, "message": "Second"})),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(json["created"], false);
    let second = revision(&json["revision"]);
    assert_ne!(second, first);
    let (resp, json) = api.call_with_headers(
        Method::PUT,
        "/pages/Guides/Setup",
        &[("If-Match", &format!("\"{second}\""))],
        json!({"content": "# Setup\n\nv3\n"}),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let third = revision(&json["revision"]);
    let (_, page) = api.get("/pages/Guides/Setup");
    assert_eq!(page["content"], "# Setup\n\nv3\n");
    assert_eq!(page["metadata"], json!({}));
    let (_, changes) = api.get("/changelog?limit=3");
    assert_eq!(changes["changes"][1]["message"], "Second");
    assert_eq!(changes["changes"][0]["commit"], third.as_str());

    // An old revision is still readable.
    let (resp, old) = api.get(&format!("/pages/Guides/Setup?revision={first}"));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(old["content"], content);

    // Delete, with the message as a query parameter, then with a JSON body.
    let (resp, json) = api.call(
        Method::DELETE,
        "/pages/Guides/Setup?message=Drop%20it",
        &api.token,
        Send::Nothing,
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(json["path"], "Guides/Setup");
    assert_eq!(api.head(), revision(&json["revision"]));
    let (resp, json) = api.get("/pages/Guides/Setup");
    assert_error("a deleted page", &resp, &json, 404, "not_found");
    api.create("Scratch", "scratch\n");
    let (resp, _) = api.call(
        Method::DELETE,
        "/pages/Scratch",
        &api.token,
        Send::Json(json!({"message": "Clean up"})),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let (_, changes) = api.get("/changelog?limit=3");
    assert_eq!(changes["changes"][0]["message"], "Clean up");
    assert_eq!(changes["changes"][2]["message"], "Drop it");
}

#[test]
fn patch_replaces_exactly_one_occurrence_on_the_revision_read() {
    let api = wiki(true);
    let first = api.create("Notes", "alpha beta beta\n");
    let (resp, json) = api.call(
        Method::PATCH,
        "/pages/Notes",
        &api.token,
        Send::Json(json!({"old_string": "alpha", "new_string": "gamma", "message": "Patch"})),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(json["path"], "Notes");
    let second = revision(&json["revision"]);
    let (_, page) = api.get("/pages/Notes");
    assert_eq!(page["content"], "gamma beta beta\n");

    let head = api.head();
    let (resp, json) = api.call(
        Method::PATCH,
        "/pages/Notes",
        &api.token,
        Send::Json(json!({"old_string": "beta", "new_string": "delta"})),
    );
    assert_error("two matches", &resp, &json, 422, "ambiguous_match");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("2 times") && message.contains("more"),
        "{message}"
    );
    let (resp, json) = api.call(
        Method::PATCH,
        "/pages/Notes",
        &api.token,
        Send::Json(json!({"old_string": "zeta", "new_string": "delta"})),
    );
    assert_error("no match", &resp, &json, 422, "no_match");
    // A given revision that is no longer current is a conflict, naming the current one.
    let (resp, json) = api.call(
        Method::PATCH,
        "/pages/Notes",
        &api.token,
        Send::Json(json!({"old_string": "gamma", "new_string": "delta", "revision": first})),
    );
    assert_error("a stale revision", &resp, &json, 409, "conflict");
    assert_eq!(json["error"]["current_revision"], second.as_str());
    assert_eq!(api.head(), head, "refused patches write nothing");
    let (_, page) = api.get("/pages/Notes");
    assert_eq!(page["content"], "gamma beta beta\n");

    let (resp, _) = api.call(
        Method::PATCH,
        "/pages/Notes",
        &api.token,
        Send::Json(json!({"old_string": "gamma b", "new_string": "delta b", "revision": second})),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let (_, page) = api.get("/pages/Notes");
    assert_eq!(page["content"], "delta beta beta\n");
}

#[test]
fn rename_history_diff_links_changelog_search_and_the_graph() {
    let api = wiki(true);
    let first = api.create("Target", "# Target\n\nunique zebrafish words\n");
    api.create("Source", "See [[Target]].\n");

    let (resp, links) = api.get("/pages/Source/-/links");
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(links["links"], json!(["Target"]));
    let (_, links) = api.get("/pages/Target/-/links");
    assert_eq!(links["backlinks"], json!(["Source"]));
    let (resp, graph) = api.get("/links");
    assert_eq!(resp.status, 200, "{}", resp.body);
    let nodes = graph["nodes"].as_array().expect("nodes");
    assert!(nodes.contains(&json!("Source")) && nodes.contains(&json!("Target")));
    let edges = graph["edges"].as_array().expect("edges");
    assert!(
        edges.contains(&json!({"from": "Source", "to": "Target"})),
        "{graph}"
    );

    let (resp, found) = api.get("/search?q=zebrafish");
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(paths(&found, "results"), ["Target"]);
    assert!(
        found["results"][0]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("zebrafish"))
    );
    let (_, none) = api.get("/search?q=okapi&limit=5&offset=0");
    assert!(paths(&none, "results").is_empty());

    let (_, json) = api.call(
        Method::PUT,
        "/pages/Target",
        &api.token,
        Send::Json(
            json!({"content": "# Target\n\nplain words\n", "revision": first, "message": "Reword"}),
        ),
    );
    let second = revision(&json["revision"]);
    let (resp, history) = api.get("/pages/Target/-/history");
    assert_eq!(resp.status, 200, "{}", resp.body);
    let entries = history["history"].as_array().expect("history");
    assert_eq!(entries.len(), 2, "{history}");
    assert_eq!(entries[0]["commit"], second.as_str());
    assert_eq!(entries[0]["kind"], "modified");
    assert_eq!(entries[0]["message"], "Reword");
    assert_eq!(entries[0]["path"], "Target");
    assert!(
        entries[0]["author"]
            .as_str()
            .is_some_and(|a| a.contains("alice.test"))
    );
    assert_eq!(entries[1]["commit"], first.as_str());
    assert_eq!(entries[1]["kind"], "added");
    let (_, paged) = api.get("/pages/Target/-/history?limit=1&offset=1");
    assert_eq!(paged["history"][0]["commit"], first.as_str());
    assert_eq!(paged["history"].as_array().map(Vec::len), Some(1));

    for query in [format!("from={first}&to={second}"), format!("from={first}")] {
        let (resp, diff) = api.get(&format!("/pages/Target/-/diff?{query}"));
        assert_eq!(resp.status, 200, "{}", resp.body);
        let text = diff["diff"].as_str().unwrap_or_default();
        assert!(
            text.contains("-unique zebrafish words") && text.contains("+plain words"),
            "{text}"
        );
    }

    let (resp, changes) = api.get("/changelog?limit=2");
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(changes["changes"].as_array().map(Vec::len), Some(2));
    assert_eq!(changes["changes"][0]["commit"], second.as_str());
    assert_eq!(changes["changes"][0]["files"], json!(["Target.md"]));
    let (_, older) = api.get("/changelog?limit=1&offset=1");
    assert_eq!(
        older["changes"][0]["message"],
        changes["changes"][1]["message"]
    );

    // Rename rewrites links by default...
    let (resp, json) = api.call(
        Method::POST,
        "/pages/Target/-/rename",
        &api.token,
        Send::Json(json!({"to": "Moved/Target"})),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(json["from"], "Target");
    assert_eq!(json["to"], "Moved/Target");
    assert_eq!(api.head(), revision(&json["revision"]));
    let (resp, _) = api.get("/pages/Target");
    assert_eq!(resp.status, 404);
    assert_eq!(api.get("/pages/Moved/Target").0.status, 200);
    let (_, source) = api.get("/pages/Source");
    assert!(
        source["content"]
            .as_str()
            .is_some_and(|c| c.contains("[[Moved/Target")),
        "{source}"
    );
    let (_, history) = api.get("/pages/Moved/Target/-/history");
    assert_eq!(history["history"][0]["kind"], "renamed");
    // ...and leaves them when asked to.
    let (resp, _) = api.call(
        Method::POST,
        "/pages/Moved/Target/-/rename",
        &api.token,
        Send::Json(json!({"to": "Final", "rewrite_links": false, "message": "Move again"})),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let (_, source) = api.get("/pages/Source");
    assert!(
        source["content"]
            .as_str()
            .is_some_and(|c| c.contains("[[Moved/Target")),
        "{source}"
    );
    let (_, changes) = api.get("/changelog?limit=1");
    assert_eq!(changes["changes"][0]["message"], "Move again");
}

#[test]
fn attachments_are_uploaded_listed_downloaded_and_deleted() {
    let api = wiki(true);
    api.create("Gallery", "# Gallery\n");
    let png = b"\x89PNG\r\n\x1a\nnot really".to_vec();
    let (resp, json) = api.call(
        Method::PUT,
        "/pages/Gallery/-/attachments/cat.png",
        &api.token,
        Send::Raw(Some("image/png"), png.clone()),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(json["page"], "Gallery");
    assert_eq!(json["name"], "cat.png");
    assert_eq!(json["size"], png.len());
    let first = revision(&json["revision"]);
    assert_eq!(api.head(), first);
    // Any content type, or none, is fine: the body is the file.
    let (resp, _) = api.call(
        Method::PUT,
        "/pages/Gallery/-/attachments/report.pdf?message=Add%20report",
        &api.token,
        Send::Raw(Some("text/plain"), b"%PDF-1.4".to_vec()),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    let (_, changes) = api.get("/changelog?limit=1");
    assert_eq!(changes["changes"][0]["message"], "Add report");
    let (resp, _) = api.call(
        Method::PUT,
        "/pages/Gallery/-/attachments/notes.txt",
        &api.owner,
        Send::Raw(None, b"plain notes".to_vec()),
    );
    assert_eq!(resp.status, 201, "a session uploads too: {}", resp.body);

    let (resp, listed) = api.get("/pages/Gallery/-/attachments");
    assert_eq!(resp.status, 200, "{}", resp.body);
    let mut names: Vec<(String, u64)> = listed["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or_default().to_string(),
                a["size"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("cat.png".to_string(), png.len() as u64),
            ("notes.txt".to_string(), 11),
            ("report.pdf".to_string(), 8)
        ]
    );

    let (resp, _) = api.get("/pages/Gallery/-/attachments/cat.png");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.bytes, png);
    assert_eq!(resp.content_type, "image/png");
    assert!(resp.headers.get("content-disposition").is_none());
    let (resp, _) = api.get("/pages/Gallery/-/attachments/notes.txt");
    assert!(
        resp.content_type.starts_with("text/plain"),
        "{}",
        resp.content_type
    );
    let (resp, _) = api.get("/pages/Gallery/-/attachments/report.pdf");
    assert_eq!(resp.content_type, "application/pdf");
    let disposition = resp
        .headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(disposition.starts_with("attachment;") && disposition.contains("report.pdf"));

    // Replacing keeps the old bytes at the old revision.
    let (resp, _) = api.call(
        Method::PUT,
        "/pages/Gallery/-/attachments/cat.png",
        &api.token,
        Send::Raw(Some("image/png"), b"new cat".to_vec()),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    assert_eq!(
        api.get("/pages/Gallery/-/attachments/cat.png").0.bytes,
        b"new cat"
    );
    let (resp, _) = api.get(&format!(
        "/pages/Gallery/-/attachments/cat.png?revision={first}"
    ));
    assert_eq!(resp.bytes, png);

    let (resp, json) = api.call(
        Method::DELETE,
        "/pages/Gallery/-/attachments/cat.png",
        &api.token,
        Send::Nothing,
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(api.head(), revision(&json["revision"]));
    let (resp, json) = api.get("/pages/Gallery/-/attachments/cat.png");
    assert_error("a deleted attachment", &resp, &json, 404, "not_found");
    let (_, listed) = api.get("/pages/Gallery/-/attachments");
    assert_eq!(listed["attachments"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_session_cookie_reads_and_writes_like_a_token() {
    let api = wiki(false);
    let (resp, json) = api.call(Method::GET, "/health", &api.owner, Send::Nothing);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(json["wiki"], "notes");
    let (resp, json) = api.call(
        Method::PUT,
        "/pages/Journal",
        &api.owner,
        Send::Json(json!({"content": "# Journal\n"})),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    let rev = revision(&json["revision"]);
    let (resp, page) = api.call(Method::GET, "/pages/Journal", &api.owner, Send::Nothing);
    assert_eq!(resp.status, 200);
    assert_eq!(page["revision"], rev.as_str());
    let (_, history) = api.call(
        Method::GET,
        "/pages/Journal/-/history",
        &api.owner,
        Send::Nothing,
    );
    assert!(
        history["history"][0]["author"]
            .as_str()
            .is_some_and(|a| a.contains("alice.test")),
        "{history}"
    );
}

#[test]
fn bad_requests_are_clear_4xx_json_errors_and_write_nothing() {
    let api = wiki(true);
    let stale = api.create("Doc", "# Doc\n\none\n");
    let (_, json) = api.call(
        Method::PUT,
        "/pages/Doc",
        &api.token,
        Send::Json(json!({"content": "# Doc\n\ntwo\n", "revision": stale})),
    );
    let current = revision(&json["revision"]);
    api.call(
        Method::PUT,
        "/pages/Doc/-/attachments/a.txt",
        &api.token,
        Send::Raw(Some("text/plain"), b"a".to_vec()),
    );
    let head = api.head();
    let raw = |ct: Option<&'static str>, body: &str| Send::Raw(ct, body.as_bytes().to_vec());
    let cases: Vec<(Method, &str, Send, u16, &str)> = vec![
        (
            Method::PUT,
            "/pages/Doc",
            raw(Some("application/json"), "{\"content\": "),
            400,
            "invalid_json",
        ),
        (
            Method::PUT,
            "/pages/New",
            raw(Some("application/json"), "[1, 2]"),
            400,
            "invalid_json",
        ),
        (
            Method::PUT,
            "/pages/New",
            Send::Json(json!({"content": "x", "colour": "red"})),
            400,
            "invalid_json",
        ),
        (
            Method::PUT,
            "/pages/New",
            Send::Json(json!({"revision": current})),
            400,
            "invalid_json",
        ),
        (
            Method::PUT,
            "/pages/New",
            raw(Some("text/plain"), "{\"content\": \"x\"}"),
            415,
            "content_type",
        ),
        (
            Method::PUT,
            "/pages/New",
            raw(None, "{\"content\": \"x\"}"),
            415,
            "content_type",
        ),
        (
            Method::PUT,
            "/pages/Doc",
            Send::Json(json!({"content": "x"})),
            409,
            "revision_required",
        ),
        (
            Method::PUT,
            "/pages/Doc",
            Send::Json(json!({"content": "x", "revision": stale})),
            409,
            "conflict",
        ),
        (
            Method::PUT,
            "/pages/Doc",
            Send::Json(json!({"content": "x", "revision": "0123456789abcdef"})),
            400,
            "invalid",
        ),
        (
            Method::PUT,
            "/pages/..%2Fetc",
            Send::Json(json!({"content": "x"})),
            400,
            "invalid",
        ),
        (
            Method::PUT,
            "/pages/-/x",
            Send::Json(json!({"content": "x"})),
            404,
            "not_found",
        ),
        (
            Method::PATCH,
            "/pages/Doc",
            Send::Json(json!({"old_string": "", "new_string": "x"})),
            400,
            "invalid",
        ),
        (
            Method::PATCH,
            "/pages/Doc",
            Send::Json(json!({"old_string": "two"})),
            400,
            "invalid_json",
        ),
        (
            Method::PATCH,
            "/pages/Doc",
            raw(Some("text/plain"), "two"),
            415,
            "content_type",
        ),
        (
            Method::PATCH,
            "/pages/Missing",
            Send::Json(json!({"old_string": "a", "new_string": "b"})),
            404,
            "not_found",
        ),
        (
            Method::DELETE,
            "/pages/Doc",
            raw(Some("application/json"), "{\"message\": 7}"),
            400,
            "invalid_json",
        ),
        (
            Method::DELETE,
            "/pages/Missing",
            Send::Nothing,
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/pages/Doc/-/rename",
            Send::Json(json!({"to": "../x"})),
            400,
            "invalid",
        ),
        (
            Method::POST,
            "/pages/Doc/-/rename",
            Send::Json(json!({"to": "Doc"})),
            400,
            "invalid",
        ),
        (
            Method::POST,
            "/pages/Doc/-/rename",
            Send::Json(json!({"to": "Other", "force": true})),
            400,
            "invalid_json",
        ),
        (
            Method::PUT,
            "/pages/Doc/-/attachments/..%2Fescape.txt",
            raw(Some("text/plain"), "x"),
            400,
            "invalid",
        ),
        (
            Method::DELETE,
            "/pages/Doc/-/attachments/none.txt",
            Send::Nothing,
            404,
            "not_found",
        ),
        (
            Method::GET,
            "/pages?limit=0",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/pages?limit=1001",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/pages?limit=ten",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/pages?updated_since=yesterday",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/pages?updated_since=2026-13-01T00:00:00Z",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/changelog?offset=-1",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/pages/Doc/-/history?limit=x",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/pages/Doc/-/diff",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/pages/Doc/-/diff?from=nonsense",
            Send::Nothing,
            404,
            "not_found",
        ),
        (Method::GET, "/search", Send::Nothing, 400, "invalid_query"),
        (
            Method::GET,
            "/search?q=%20",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/search?q=doc&limit=101",
            Send::Nothing,
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/pages/Doc?revision=nonsense",
            Send::Nothing,
            404,
            "not_found",
        ),
        (Method::GET, "/pages/%ZZ", Send::Nothing, 400, "invalid"),
    ];
    for (method, path, body, status, code) in cases {
        let what = format!("{method} {path}");
        let (resp, json) = api.call(method, path, &api.token, body);
        assert_error(&what, &resp, &json, status, code);
        if code == "conflict" || code == "revision_required" {
            assert_eq!(
                json["error"]["current_revision"],
                current.as_str(),
                "{what}"
            );
        }
        assert_eq!(api.head(), head, "{what} wrote something");
    }
    assert_eq!(api.revision("Doc"), current);
    let (_, page) = api.get("/pages/New");
    assert_eq!(page["error"]["code"], "not_found");
}

#[test]
fn unknown_fields_are_named_in_the_error() {
    let api = wiki(true);
    let head = api.head();
    let (resp, json) = api.call(
        Method::PUT,
        "/pages/New",
        &api.token,
        Send::Json(json!({"content": "x", "colour": "red"})),
    );
    assert_error("an unknown field", &resp, &json, 400, "invalid_json");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("colour"), "{message}");
    assert_eq!(api.head(), head);
}

#[test]
fn path_traversal_is_refused_and_writes_nothing() {
    let api = wiki(true);
    api.create("Doc", "# Doc\n");
    let head = api.head();
    let body = "{\"content\": \"x\"}";
    for (method, path) in [
        ("GET", "/api/v1/pages/..%2Fetc"),
        ("GET", "/api/v1/pages/../x"),
        ("PUT", "/api/v1/pages/../x"),
        ("PUT", "/api/v1/pages/..%2Fetc"),
        ("PUT", "/api/v1/pages/%2e%2e/%2e%2e/etc/passwd"),
        ("PUT", "/api/v1/pages/Doc/../../x"),
        ("PUT", "/api/v1/pages/./x"),
        ("GET", "/api/v1/pages/Doc/-/attachments/..%2F..%2Fconfig"),
    ] {
        let (status, json) = api.raw(method, path, body);
        assert_eq!(status, 400, "{method} {path}: {json}");
        assert_eq!(json["error"]["code"], "invalid", "{method} {path}: {json}");
        assert_eq!(api.head(), head, "{method} {path} wrote something");
    }
    let listed: BTreeSet<String> = paths(&api.get("/pages").1, "pages").into_iter().collect();
    assert!(
        listed
            .iter()
            .all(|p| !p.contains("..") && !p.contains("etc")),
        "{listed:?}"
    );
}

#[test]
fn oversized_bodies_are_413_json_and_write_nothing() {
    let api = wiki(true);
    api.create("Doc", "# Doc\n");
    let head = api.head();
    // Over what the host accepts at all: it answers itself, in the API's JSON shape.
    let (resp, json) = api.call(
        Method::PUT,
        "/pages/Doc/-/attachments/big.bin",
        &api.token,
        Send::Raw(Some("application/octet-stream"), vec![7u8; (11 << 20) + 1]),
    );
    assert_error("an 11 MiB body", &resp, &json, 413, "too_large");
    // A page over the page size limit (1 MiB), in a body the host passes on.
    let (resp, json) = api.call(
        Method::PUT,
        "/pages/Big",
        &api.token,
        Send::Json(json!({"content": "x".repeat((1 << 20) + 1)})),
    );
    assert_error("a page over 1 MiB", &resp, &json, 413, "too_large");
    assert_eq!(api.head(), head);
    assert_eq!(api.get("/pages/Big").0.status, 404);
    let (_, listed) = api.get("/pages/Doc/-/attachments");
    assert_eq!(listed["attachments"], json!([]));
}

#[test]
fn viewers_get_403_on_every_write_and_anonymous_gets_401_on_a_private_wiki() {
    let api = wiki(false);
    let rev = api.create("Doc", "# Doc\n\ntext\n");
    api.call(
        Method::PUT,
        "/pages/Doc/-/attachments/a.txt",
        &api.token,
        Send::Raw(Some("text/plain"), b"a".to_vec()),
    );
    let bob = Who::Session(api.p.sign_in("bob.test"));
    api.p.add_member(&api.owner, api.slug, "bob.test", "viewer");
    let viewer_token = Who::Token(api.p.token(&bob, api.slug, true));
    let read_token = Who::Token(api.p.token(&api.owner, api.slug, true));
    let head = api.head();
    let writes = || -> Vec<(Method, &'static str, Send)> {
        vec![
            (
                Method::PUT,
                "/pages/New",
                Send::Json(json!({"content": "x"})),
            ),
            (
                Method::PUT,
                "/pages/Doc",
                Send::Json(json!({"content": "x", "revision": rev})),
            ),
            (
                Method::PUT,
                "/pages/Doc",
                Send::Json(json!({"content": "x"})),
            ),
            (
                Method::PATCH,
                "/pages/Doc",
                Send::Json(json!({"old_string": "text", "new_string": "x"})),
            ),
            (Method::DELETE, "/pages/Doc", Send::Nothing),
            (
                Method::POST,
                "/pages/Doc/-/rename",
                Send::Json(json!({"to": "Moved"})),
            ),
            (
                Method::PUT,
                "/pages/Doc/-/attachments/b.txt",
                Send::Raw(Some("text/plain"), b"b".to_vec()),
            ),
            (
                Method::DELETE,
                "/pages/Doc/-/attachments/a.txt",
                Send::Nothing,
            ),
        ]
    };
    for who in [&bob, &viewer_token, &read_token] {
        // They may read...
        let (resp, page) = api.call(Method::GET, "/pages/Doc", who, Send::Nothing);
        assert_eq!(resp.status, 200, "{who:?}: {}", resp.body);
        assert_eq!(page["revision"], rev.as_str());
        // ...but not write.
        for (method, path, body) in writes() {
            let what = format!("{who:?} {method} {path}");
            let (resp, json) = api.call(method, path, who, body);
            assert_error(&what, &resp, &json, 403, "forbidden");
            assert_eq!(api.head(), head, "{what} wrote something");
        }
    }

    // Anonymous callers of a private wiki are told to authenticate, on every route.
    let mut anonymous = writes();
    for path in [
        "/health",
        "/pages",
        "/pages/Doc",
        "/pages/Doc/-/history",
        "/pages/Doc/-/diff?from=HEAD",
        "/pages/Doc/-/links",
        "/pages/Doc/-/attachments",
        "/pages/Doc/-/attachments/a.txt",
        "/changelog",
        "/search?q=doc",
        "/links",
    ] {
        anonymous.push((Method::GET, path, Send::Nothing));
    }
    for (method, path, body) in anonymous {
        let what = format!("anonymous {method} {path}");
        let (resp, json) = api.call(method, path, &Who::Nobody, body);
        assert_error(&what, &resp, &json, 401, "unauthorized");
        let challenge = resp
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok());
        assert_eq!(challenge, Some("Bearer realm=\"Holt\""), "{what}");
        assert_eq!(api.head(), head, "{what} wrote something");
    }
    // The API's description is public.
    let (resp, _) = api.call(Method::GET, "/openapi.json", &Who::Nobody, Send::Nothing);
    assert_eq!(resp.status, 200);
}

#[test]
fn unknown_routes_are_404_and_wrong_methods_405() {
    let api = wiki(true);
    api.create("Doc", "# Doc\n");
    let head = api.head();
    // (`/api/v1` itself reaches the plugin as `/`; `/api/v1/` is a page URL to the host.)
    for path in [
        "",
        "/nothing",
        "/pages/",
        "/pages/Doc/-/nothing",
        "/pages/Doc/-/",
        "/health/x",
    ] {
        let (resp, json) = api.get(path);
        assert_error(path, &resp, &json, 404, "not_found");
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("openapi.json"), "{path}: {message}");
    }
    for (method, path, allowed) in [
        (Method::POST, "/pages/Doc", "GET, PUT, PATCH, DELETE"),
        (Method::DELETE, "/health", "GET"),
        (Method::POST, "/pages", "GET"),
        (Method::GET, "/pages/Doc/-/rename", "POST"),
        (
            Method::POST,
            "/pages/Doc/-/attachments/a.txt",
            "GET, PUT, DELETE",
        ),
    ] {
        let what = format!("{method} {path}");
        let (resp, json) = api.call(method, path, &api.token, Send::Nothing);
        assert_error(&what, &resp, &json, 405, "method_not_allowed");
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(allowed), "{what}: {message}");
    }
    assert_eq!(api.head(), head);
}

/// The request that exercises `method template` on fresh page `page` (which has the attachment
/// `file.txt`) at `rev`: its path with the parameters filled in, and its body.
fn exercise(method: &str, template: &str, page: &str, rev: &str, query: &str) -> (String, Send) {
    let path = template
        .replace("{path}", page)
        .replace("{name}", "file.txt");
    let path = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let body = match (method, template) {
        ("PUT", "/pages/{path}") => Send::Json(json!({"content": "changed\n", "revision": rev})),
        ("PATCH", "/pages/{path}") => {
            Send::Json(json!({"old_string": "alpha", "new_string": "omega"}))
        }
        ("POST", "/pages/{path}/-/rename") => Send::Json(json!({"to": format!("{page}-renamed")})),
        ("PUT", "/pages/{path}/-/attachments/{name}") => {
            Send::Raw(Some("text/plain"), b"new file".to_vec())
        }
        _ => Send::Nothing,
    };
    (path, body)
}

#[test]
fn the_openapi_document_and_the_routes_agree() {
    let api = wiki(true);
    let (resp, doc) = api.call(Method::GET, "/openapi.json", &Who::Nobody, Send::Nothing);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(resp.content_type.starts_with("application/json"));
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi: {version}");
    assert_eq!(doc["servers"], json!([{"url": "/api/v1"}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );

    let mut documented = BTreeSet::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "patch", "delete", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), template.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, t)| (m.to_string(), t.to_string()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );

    // Every documented operation answers, on real values, with a status it documents.
    for (i, (method, template)) in documented.iter().enumerate() {
        let page = format!("Op/Page{i}");
        let rev = api.create(&page, "# Op\n\nalpha\n\n[[Home]]\n");
        let (resp, _) = api.call(
            Method::PUT,
            &format!("/pages/{page}/-/attachments/file.txt"),
            &api.token,
            Send::Raw(Some("text/plain"), b"file".to_vec()),
        );
        assert_eq!(resp.status, 201, "{}", resp.body);
        let op = &doc["paths"][template][method.to_lowercase()];
        let mut query = Vec::new();
        let parameters = op["parameters"].as_array().cloned().unwrap_or_default();
        for parameter in parameters {
            if parameter["in"] == "query" && parameter["required"] == true {
                let name = parameter["name"].as_str().unwrap_or_default();
                let value = match name {
                    "q" => "alpha".to_string(),
                    "from" => rev.clone(),
                    other => panic!("{method} {template}: no test value for '{other}'"),
                };
                query.push(format!("{name}={value}"));
            }
        }
        let (path, body) = exercise(method, template, &page, &rev, &query.join("&"));
        let http_method = Method::from_bytes(method.as_bytes()).expect("method");
        let (resp, json) = api.call(http_method, &path, &api.token, body);
        let what = format!("{method} {template} as {path}");
        assert_ne!(resp.status, 405, "{what}: {}", resp.body);
        assert!(
            !(resp.status == 404
                && json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("no API route"))),
            "{what}: the plugin has no such route"
        );
        // Semantic search is off in this harness (tests/e2e/semantic.rs runs it on), so that
        // route answers its documented 503.
        let off = template == "/semantic-search" && resp.status == 503;
        assert!(
            (200..300).contains(&resp.status) || off,
            "{what}: {} {}",
            resp.status,
            resp.body
        );
        let status = resp.status.to_string();
        assert!(
            op["responses"].get(&status).is_some(),
            "{what}: answered {status}, which the document does not list"
        );
        assert!(
            served.contains(&(method.clone(), template.clone())),
            "{what}: documented, answers, but is missing from ROUTES"
        );
    }
}
