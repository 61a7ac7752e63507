//! The MCP server at `/mcp`, driven by the real Python and TypeScript MCP SDKs (installed pinned
//! into `tests/mcp/` by `./dev.sh test`), and by hand where a test needs to see the wire.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::hosts::{Platform, Send, Who, stderr};
use crate::util::{Resp, Server, built_plugins};

/// What a Streamable HTTP client sends with each message (after `initialize`).
pub const MCP_HEADERS: &[(&str, &str)] = &[
    ("accept", "application/json, text/event-stream"),
    ("mcp-protocol-version", "2025-06-18"),
];

/// `tests/mcp`, where the client scripts and their installed SDKs live.
fn clients_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp");
    for installed in [".venv/bin/python", "node_modules/@modelcontextprotocol/sdk"] {
        assert!(
            dir.join(installed).exists(),
            "the MCP client SDKs are not installed in {} (./dev.sh test installs them)",
            dir.display()
        );
    }
    dir.canonicalize().expect("tests/mcp")
}

/// A platform with a private wiki `notes` owned by alice, bob as its viewer, and a token each.
struct Notes {
    platform: Platform,
    alice: Who,
    write_token: String,
    read_token: String,
}

impl Notes {
    fn start() -> Notes {
        Notes::start_with_config("")
    }

    fn start_with_config(config: &str) -> Notes {
        let platform = Platform::start_with_config(config);
        let alice = Who::Session(platform.sign_in("alice"));
        platform.create_wiki(&alice, "notes", false);
        let bob = Who::Session(platform.sign_in("bob"));
        platform.add_member(&alice, "notes", "bob", "viewer");
        let write_token = platform.token(&alice, "notes", false);
        let read_token = platform.token(&bob, "notes", true);
        Notes {
            platform,
            alice,
            write_token,
            read_token,
        }
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.platform.wiki_url("notes"))
    }

    /// Posts one JSON-RPC message to `/mcp` as `who`, as a Streamable HTTP client does.
    fn rpc(&self, who: &Who, body: Value) -> Resp {
        self.platform.send_with(
            Method::POST,
            "notes",
            "/mcp",
            who,
            MCP_HEADERS,
            Send::Raw(Some("application/json"), body.to_string().into_bytes()),
        )
    }

    /// Calls a tool as `who`; the JSON-RPC result.
    fn call(&self, who: &Who, tool: &str, arguments: Value) -> Value {
        let resp = self.rpc(
            who,
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                   "params": {"name": tool, "arguments": arguments}}),
        );
        assert_eq!(resp.status, 200, "{tool}: {}", resp.body);
        let reply: Value = serde_json::from_str(&resp.body).expect("JSON-RPC reply");
        reply["result"].clone()
    }
}

/// The first full revision id in a tool's answer.
fn revision_of(result: &Value) -> String {
    result_text(result)
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|word| word.len() == 40)
        .unwrap_or_else(|| panic!("no revision in {result}"))
        .to_string()
}

fn result_text(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Runs a client script; panics with its output unless it exits 0.
fn run_client(mut command: Command, what: &str) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        stderr(&out)
    );
    stdout
}

fn python_client(notes: &Notes, mode: &str) -> String {
    let dir = clients_dir();
    let mut command = Command::new(dir.join(".venv/bin/python"));
    command
        .arg(dir.join("python_client.py"))
        .args(["--url", &notes.mcp_url()])
        .args(["--token", &notes.write_token])
        .args(["--read-token", &notes.read_token])
        .args(["--mode", mode]);
    run_client(command, &format!("the Python MCP client ({mode})"))
}

#[test]
fn the_python_sdk_works_through_server_discover() {
    let notes = Notes::start();
    let out = python_client(&notes, "discover");
    assert!(out.contains("handshake: server/discover"), "{out}");
    assert!(out.contains("all checks passed (discover)"), "{out}");
}

#[test]
fn the_python_sdk_works_through_initialize() {
    let notes = Notes::start();
    let out = python_client(&notes, "initialize");
    assert!(out.contains("handshake: initialize"), "{out}");
    assert!(out.contains("all checks passed (initialize)"), "{out}");
}

#[test]
fn the_typescript_sdk_lists_and_calls_every_tool() {
    let notes = Notes::start();
    let dir = clients_dir();
    let mut command = Command::new("node");
    command
        .arg(dir.join("ts_client.mjs"))
        .args(["--url", &notes.mcp_url()])
        .args(["--connect", &format!("127.0.0.1:{}", notes.platform.port)])
        .args(["--token", &notes.write_token])
        .args(["--read-token", &notes.read_token]);
    let out = run_client(command, "the TypeScript MCP client");
    assert!(out.contains("checks passed"), "{out}");
}

#[test]
fn the_transport_answers_every_kind_of_request_properly() {
    let notes = Notes::start();
    let writer = Who::Token(notes.write_token.clone());
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});

    let nobody = notes.rpc(&Who::Nobody, list.clone());
    assert_eq!(nobody.status, 401, "{}", nobody.body);
    let challenge = nobody.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(
        nobody.body.contains("/-/admin"),
        "says where to get a token"
    );

    let forged = notes.rpc(&Who::Token("holt_forged".into()), list.clone());
    assert_eq!(forged.status, 401, "{}", forged.body);

    // A session cookie is not an MCP credential.
    let session = notes.rpc(&notes.alice, list.clone());
    assert_eq!(session.status, 401, "{}", session.body);

    let get = notes
        .platform
        .send(Method::GET, "notes", "/mcp", &writer, Send::Nothing);
    assert_eq!(get.status, 405, "stateless: no server-sent event stream");
    assert_eq!(get.headers["allow"], "POST");

    let unknown = notes.rpc(
        &writer,
        json!({"jsonrpc": "2.0", "id": 2, "method": "notes/frobnicate"}),
    );
    let reply: Value = serde_json::from_str(&unknown.body).expect("JSON-RPC");
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    assert_eq!(reply["id"], 2);
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("notes/frobnicate") && message.contains("tools/list"),
        "{message}"
    );

    let malformed = notes.platform.send_with(
        Method::POST,
        "notes",
        "/mcp",
        &writer,
        MCP_HEADERS,
        Send::Raw(Some("application/json"), b"{\"jsonrpc\": ".to_vec()),
    );
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let reply: Value = serde_json::from_str(&malformed.body).expect("JSON-RPC");
    assert_eq!(reply["error"]["code"], -32700, "{reply}");

    let no_tool = notes.rpc(
        &writer,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "launch_rockets", "arguments": {}}}),
    );
    let reply: Value = serde_json::from_str(&no_tool.body).expect("JSON-RPC");
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tools/list")
    );

    // A token works on its own wiki only.
    let carol = Who::Session(notes.platform.sign_in("carol"));
    notes.platform.create_wiki(&carol, "other", true);
    let other_token = notes.platform.token(&carol, "other", false);
    let elsewhere = notes.rpc(&Who::Token(other_token), list);
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.body);
}

#[test]
fn a_viewer_cannot_write_even_by_calling_a_hidden_tool() {
    let notes = Notes::start();
    let viewer = Who::Token(notes.read_token.clone());
    let result = notes.call(
        &viewer,
        "write_note",
        json!({"path": "Sneaky", "content": "should not land"}),
    );
    assert_eq!(result["isError"], true, "{result}");
    assert!(result_text(&result).contains("may only read"), "{result}");
    let page = notes
        .platform
        .get("notes", "/Sneaky", &Who::Token(notes.write_token.clone()));
    assert_eq!(page.status, 404, "nothing was written");
}

#[test]
fn every_write_is_a_commit_by_the_tokens_user() {
    let notes = Notes::start();
    let writer = Who::Token(notes.write_token.clone());
    let result = notes.call(
        &writer,
        "write_note",
        json!({"path": "Authored", "content": "# Authored\n\nBy alice's assistant.\n", "message": "From an assistant"}),
    );
    assert_eq!(result["isError"], false, "{result}");
    let dir = tempfile::tempdir().unwrap();
    let clone = notes
        .platform
        .clone("notes", &writer, &dir.path().join("c"));
    assert!(clone.status.success(), "{}", stderr(&clone));
    let log = crate::util::git(&dir.path().join("c"), &["log", "-1", "--format=%an|%s|%H"]);
    assert!(log.contains("@alice"), "author: {log}");
    assert!(log.contains("From an assistant"), "message: {log}");
    let revision = log.trim().rsplit('|').next().unwrap();
    assert!(result_text(&result).contains(revision), "{result}");
    assert!(result_text(&result).contains("(created)"), "{result}");
    // A base revision from before a note existed creates it, and says so.
    let second = notes.call(
        &writer,
        "write_note",
        json!({"path": "Second", "content": "# Second
", "base_revision": revision}),
    );
    assert!(result_text(&second).contains("(created)"), "{second}");
    let third = notes.call(
        &writer,
        "write_note",
        json!({"path": "Second", "content": "# Second

More.
", "base_revision": revision_of(&second)}),
    );
    assert!(result_text(&third).contains("(updated)"), "{third}");
}

#[test]
fn tool_writes_count_against_the_write_rate_limit() {
    // Making the wiki, adding bob and the token took three of alice's six.
    let notes = Notes::start_with_config("[platform]\nwrites_per_minute = 6\n");
    let writer = Who::Token(notes.write_token.clone());
    let mut texts = Vec::new();
    for i in 0..6 {
        let result = notes.call(
            &writer,
            "write_note",
            json!({"path": format!("Rate/{i}"), "content": "x"}),
        );
        texts.push((result["isError"].clone(), result_text(&result)));
    }
    assert_eq!(texts[0].0, false, "{texts:?}");
    let refused = texts
        .iter()
        .position(|(is_error, _)| is_error == true)
        .expect("a write over the limit is refused");
    assert!(texts[refused].1.contains("wait"), "{texts:?}");
    assert!(texts[refused..].iter().all(|(e, _)| e == true), "{texts:?}");
    // Reads are not limited.
    for _ in 0..5 {
        let result = notes.call(&writer, "read_note", json!({"path": "Rate/0"}));
        assert_eq!(result["isError"], false, "{result}");
    }
}

#[test]
fn tools_come_from_every_plugin_and_a_misbehaving_one_fails_alone() {
    // A single wiki (no accounts: MCP acts as its anonymous visitors may) with the abuse
    // component enabled beside the MCP tools plugin.
    let server = Server::start_with_config(&format!(
        "plugin_dir = {:?}\n[wiki]\nanonymous = \"write\"\n[plugins.abuse]\ngrants = [\"pages:read\", \"pages:write\"]\ntimeout_ms = 500\n",
        built_plugins().display().to_string()
    ));
    let client = crate::util::http_client().build().expect("client");
    let rpc = |body: Value| -> Value {
        let resp = client
            .post(server.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body)
            .send()
            .expect("POST /mcp");
        assert_eq!(resp.status(), 200);
        resp.json().expect("JSON-RPC reply")
    };
    let call = |tool: &str, arguments: Value| -> Value {
        rpc(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": tool, "arguments": arguments}}))["result"]
            .clone()
    };

    let listed = rpc(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for name in [
        "read_note",
        "write_note",
        "abuse_ok",
        "abuse_loop",
        "abuse_panic",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    let looped = call("abuse_loop", json!({}));
    assert_eq!(looped["isError"], true, "{looped}");
    assert!(
        result_text(&looped).contains("did not finish within 500 ms"),
        "{looped}"
    );
    let panicked = call("abuse_panic", json!({}));
    assert_eq!(panicked["isError"], true, "{panicked}");
    assert!(result_text(&panicked).contains("abuse"), "{panicked}");

    // Both plugins serve the next calls as before.
    assert_eq!(result_text(&call("abuse_ok", json!({}))), "fine");
    let written = call(
        "write_note",
        json!({"path": "After", "content": "# After\n"}),
    );
    assert_eq!(written["isError"], false, "{written}");
    let read = call("read_note", json!({"path": "After"}));
    assert!(result_text(&read).contains("# After"), "{read}");
    let status = server.get("/-/plugins");
    assert!(status.body.contains("abuse"), "the failures are counted");
}
