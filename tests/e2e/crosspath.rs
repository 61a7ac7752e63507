//! The REST API and the MCP tools are two doors to the same wiki: what one writes the other
//! reads, a stale revision from one is refused by the other, and renames, links, search,
//! history and attachments agree.

use reqwest::Method;
use serde_json::{Value, json};

use crate::hosts::{Platform, Send, Who};

/// A private wiki `notes` and alice's write token, used on both paths.
struct Both {
    platform: Platform,
    token: Who,
}

impl Both {
    fn start() -> Both {
        let platform = Platform::start();
        let alice = Who::Session(platform.sign_in("alice"));
        platform.create_wiki(&alice, "notes", false);
        let token = Who::Token(platform.token(&alice, "notes", false));
        Both { platform, token }
    }

    /// A REST request; (status, JSON body).
    fn rest(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let send = match body {
            Some(json) => Send::Json(json),
            None => Send::Nothing,
        };
        let resp = self.platform.send(
            method,
            "notes",
            &format!("/api/v1{path}"),
            &self.token,
            send,
        );
        let json = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
        (resp.status, json)
    }

    /// A raw REST request; the response.
    fn rest_raw(&self, method: Method, path: &str, body: Vec<u8>) -> crate::util::Resp {
        self.platform.send(
            method,
            "notes",
            &format!("/api/v1{path}"),
            &self.token,
            Send::Raw(Some("application/octet-stream"), body),
        )
    }

    /// An MCP tool call; (is_error, text).
    fn mcp(&self, tool: &str, arguments: Value) -> (bool, String) {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": tool, "arguments": arguments}});
        let resp = self.platform.send_with(
            Method::POST,
            "notes",
            "/mcp",
            &self.token,
            crate::mcp::MCP_HEADERS,
            Send::Raw(Some("application/json"), body.to_string().into_bytes()),
        );
        assert_eq!(resp.status, 200, "{tool}: {}", resp.body);
        let reply: Value = serde_json::from_str(&resp.body).expect("JSON-RPC reply");
        let result = &reply["result"];
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        (result["isError"] == true, text.to_string())
    }

    /// An MCP call that must succeed; its text.
    fn mcp_ok(&self, tool: &str, arguments: Value) -> String {
        let (is_error, text) = self.mcp(tool, arguments);
        assert!(!is_error, "{tool} failed: {text}");
        text
    }

    /// Creates a page over REST; its revision.
    fn rest_create(&self, path: &str, content: &str) -> String {
        let (status, json) = self.rest(
            Method::PUT,
            &format!("/pages/{path}"),
            Some(json!({"content": content})),
        );
        assert_eq!(status, 201, "{json}");
        json["revision"].as_str().expect("revision").to_string()
    }

    fn rest_revision(&self, path: &str) -> String {
        let (status, json) = self.rest(Method::GET, &format!("/pages/{path}"), None);
        assert_eq!(status, 200, "{json}");
        json["revision"].as_str().expect("revision").to_string()
    }
}

/// The first full revision id in a tool's text.
fn revision_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .find(|word| word.len() == 40)
        .unwrap_or_else(|| panic!("no revision in: {text}"))
        .to_string()
}

#[test]
fn written_with_rest_read_with_mcp() {
    let both = Both::start();
    let revision = both.rest_create("Guides/Setup", "# Setup\n\nInstall it from REST.\n");
    let text = both.mcp_ok("read_note", json!({"path": "Guides/Setup"}));
    assert!(text.contains("Install it from REST."), "{text}");
    assert!(text.contains(&revision), "{text}");
}

#[test]
fn written_with_mcp_read_with_rest() {
    let both = Both::start();
    let text = both.mcp_ok(
        "write_note",
        json!({"path": "Ideas", "content": "# Ideas\n\nFrom an assistant.\n"}),
    );
    let revision = revision_in(&text);
    let (status, page) = both.rest(Method::GET, "/pages/Ideas", None);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["content"], "# Ideas\n\nFrom an assistant.\n");
    assert_eq!(page["revision"], revision);
}

#[test]
fn a_rest_write_from_a_revision_mcp_moved_past_is_refused() {
    let both = Both::start();
    let base = both.rest_create("Shared", "# Shared\n\nOne.\n");
    let text = both.mcp_ok(
        "edit_note",
        json!({"path": "Shared", "old_string": "One.", "new_string": "Two.", "base_revision": base}),
    );
    let current = revision_in(&text);
    let (status, json) = both.rest(
        Method::PUT,
        "/pages/Shared",
        Some(json!({"content": "# Shared\n\nThree.\n", "revision": base})),
    );
    assert_eq!(status, 409, "{json}");
    assert_eq!(json["error"]["current_revision"], current, "{json}");
    let (_, page) = both.rest(Method::GET, "/pages/Shared", None);
    assert!(
        page["content"].as_str().unwrap().contains("Two."),
        "MCP's edit kept"
    );
}

#[test]
fn an_mcp_write_from_a_revision_rest_moved_past_is_refused() {
    let both = Both::start();
    let text = both.mcp_ok(
        "write_note",
        json!({"path": "Shared", "content": "# Shared\n\nOne.\n"}),
    );
    let base = revision_in(&text);
    let (status, json) = both.rest(
        Method::PATCH,
        "/pages/Shared",
        Some(json!({"old_string": "One.", "new_string": "Two.", "revision": base})),
    );
    assert_eq!(status, 200, "{json}");
    let current = json["revision"].as_str().unwrap().to_string();
    let (is_error, text) = both.mcp(
        "write_note",
        json!({"path": "Shared", "content": "# Shared\n\nThree.\n", "base_revision": base}),
    );
    assert!(is_error, "{text}");
    assert!(
        text.contains(&current),
        "names the current revision: {text}"
    );
    let (is_error, text) = both.mcp(
        "edit_note",
        json!({"path": "Shared", "old_string": "Two.", "new_string": "Four.", "base_revision": base}),
    );
    assert!(is_error, "a stale edit is refused too: {text}");
    assert_eq!(both.rest_revision("Shared"), current, "REST's edit kept");
}

#[test]
fn renamed_with_mcp_then_links_seen_with_rest() {
    let both = Both::start();
    both.rest_create("Target", "# Target\n");
    both.rest_create("Source", "# Source\n\nSee [[Target]].\n");
    both.mcp_ok("rename_note", json!({"from": "Target", "to": "Moved"}));
    let (status, links) = both.rest(Method::GET, "/pages/Moved/-/links", None);
    assert_eq!(status, 200, "{links}");
    assert_eq!(links["backlinks"], json!(["Source"]), "{links}");
    let (_, source) = both.rest(Method::GET, "/pages/Source", None);
    assert!(
        source["content"].as_str().unwrap().contains("[[Moved]]"),
        "{source}"
    );
    let (_, graph) = both.rest(Method::GET, "/links", None);
    assert!(
        graph["edges"]
            .as_array()
            .unwrap()
            .contains(&json!({"from": "Source", "to": "Moved"})),
        "{graph}"
    );
    assert!(
        !graph["nodes"]
            .as_array()
            .unwrap()
            .contains(&json!("Target")),
        "{graph}"
    );
    let (status, _) = both.rest(Method::GET, "/pages/Target", None);
    assert_eq!(status, 404);
}

#[test]
fn renamed_with_rest_then_links_seen_with_mcp() {
    let both = Both::start();
    both.mcp_ok(
        "write_note",
        json!({"path": "Target", "content": "# Target\n"}),
    );
    both.mcp_ok(
        "write_note",
        json!({"path": "Source", "content": "# Source\n\nSee [[Target]].\n"}),
    );
    let (status, json) = both.rest(
        Method::POST,
        "/pages/Target/-/rename",
        Some(json!({"to": "Archive/Target"})),
    );
    assert_eq!(status, 200, "{json}");
    let links = both.mcp_ok("get_links", json!({"path": "Archive/Target"}));
    assert!(links.contains("Source"), "{links}");
    let (is_error, text) = both.mcp("read_note", json!({"path": "Target"}));
    assert!(is_error, "the old name is gone: {text}");
}

#[test]
fn attachments_uploaded_with_rest_download_with_mcp() {
    let both = Both::start();
    both.rest_create("Files", "# Files\n");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let resp = both.rest_raw(
        Method::PUT,
        "/pages/Files/-/attachments/data.bin",
        bytes.clone(),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    let listed = both.mcp_ok("list_attachments", json!({"path": "Files"}));
    assert!(listed.contains("data.bin"), "{listed}");
    let text = both.mcp_ok(
        "download_attachment",
        json!({"path": "Files", "name": "data.bin"}),
    );
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    assert!(text.contains(&encoded), "the same bytes: {text}");
}

#[test]
fn attachments_uploaded_with_mcp_download_with_rest_and_delete_across() {
    let both = Both::start();
    both.mcp_ok(
        "write_note",
        json!({"path": "Files", "content": "# Files\n"}),
    );
    let bytes: Vec<u8> = (0..200u8).rev().collect();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    both.mcp_ok(
        "upload_attachment",
        json!({"path": "Files", "name": "blob.bin", "content_base64": encoded}),
    );
    let resp = both.platform.send(
        Method::GET,
        "notes",
        "/api/v1/pages/Files/-/attachments/blob.bin",
        &both.token,
        Send::Nothing,
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.bytes, bytes);
    both.mcp_ok(
        "delete_attachment",
        json!({"path": "Files", "name": "blob.bin"}),
    );
    let (status, json) = both.rest(Method::GET, "/pages/Files/-/attachments", None);
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["attachments"], json!([]), "{json}");
    let resp = both.platform.send(
        Method::GET,
        "notes",
        "/api/v1/pages/Files/-/attachments/blob.bin",
        &both.token,
        Send::Nothing,
    );
    assert_eq!(resp.status, 404);
}

#[test]
fn deleted_with_rest_is_gone_for_mcp_and_the_reverse() {
    let both = Both::start();
    both.rest_create("One", "# One\n");
    both.mcp_ok("write_note", json!({"path": "Two", "content": "# Two\n"}));
    let (status, json) = both.rest(Method::DELETE, "/pages/One", None);
    assert_eq!(status, 200, "{json}");
    let (is_error, text) = both.mcp("read_note", json!({"path": "One"}));
    assert!(is_error, "{text}");
    both.mcp_ok("delete_note", json!({"path": "Two"}));
    let (status, _) = both.rest(Method::GET, "/pages/Two", None);
    assert_eq!(status, 404);
    let listed = both.mcp_ok("list_notes", json!({}));
    assert!(
        !listed.contains("One") && !listed.contains("Two"),
        "{listed}"
    );
}

#[test]
fn search_finds_what_the_other_path_wrote() {
    let both = Both::start();
    both.rest_create("Birds", "# Birds\n\nThe wren is small.\n");
    both.mcp_ok(
        "write_note",
        json!({"path": "Trees", "content": "# Trees\n\nThe rowan has berries.\n"}),
    );
    let found = both.mcp_ok("search_notes", json!({"query": "wren"}));
    assert!(found.contains("Birds"), "{found}");
    let (status, json) = both.rest(Method::GET, "/search?q=rowan", None);
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["results"][0]["path"], "Trees", "{json}");
}

#[test]
fn history_and_changelog_show_both_paths_commits() {
    let both = Both::start();
    let first = both.rest_create("Log", "# Log\n\nOne.\n");
    let text = both.mcp_ok(
        "append_note",
        json!({"path": "Log", "content": "Two.", "message": "Append from MCP"}),
    );
    let second = revision_in(&text);
    let (status, json) = both.rest(Method::GET, "/pages/Log/-/history", None);
    assert_eq!(status, 200, "{json}");
    let commits: Vec<&str> = json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["commit"].as_str().unwrap())
        .collect();
    assert_eq!(commits, vec![second.as_str(), first.as_str()]);
    let (_, changes) = both.rest(Method::GET, "/changelog?limit=1", None);
    assert_eq!(changes["changes"][0]["message"], "Append from MCP");
    let history = both.mcp_ok("get_history", json!({"path": "Log"}));
    assert!(
        history.contains(&first) && history.contains(&second),
        "{history}"
    );
}

#[test]
fn mcp_reverts_a_rest_edit() {
    let both = Both::start();
    let first = both.rest_create("Draft", "# Draft\n\nGood text.\n");
    let (status, json) = both.rest(
        Method::PUT,
        "/pages/Draft",
        Some(json!({"content": "# Draft\n\nVandalised.\n", "revision": first})),
    );
    assert_eq!(status, 200, "{json}");
    both.mcp_ok("revert_note", json!({"path": "Draft", "revision": first}));
    let (_, page) = both.rest(Method::GET, "/pages/Draft", None);
    assert_eq!(page["content"], "# Draft\n\nGood text.\n");
}

#[test]
fn tags_written_with_rest_filter_mcp_listings() {
    let both = Both::start();
    both.rest_create("Tagged", "---\ntags: [garden, birds]\n---\n# Tagged\n");
    both.rest_create("Plain", "# Plain\n");
    let listed = both.mcp_ok("list_notes", json!({"tag": "garden"}));
    assert!(
        listed.contains("Tagged") && !listed.contains("Plain"),
        "{listed}"
    );
    let (_, page) = both.rest(Method::GET, "/pages/Tagged", None);
    assert_eq!(
        page["metadata"]["tags"],
        json!(["garden", "birds"]),
        "{page}"
    );
    let (_, pages) = both.rest(Method::GET, "/pages?tag=birds", None);
    let paths: Vec<&str> = pages["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["Tagged"]);
}

#[test]
fn a_section_edited_with_mcp_is_what_rest_reads() {
    let both = Both::start();
    let base = both.rest_create(
        "Manual",
        "# Manual\n\n## Install\n\nOld steps.\n\n## Use\n\nRun it.\n",
    );
    both.mcp_ok(
        "edit_section",
        json!({"path": "Manual", "section": "Manual > Install", "content": "New steps.\n", "base_revision": base}),
    );
    let (_, page) = both.rest(Method::GET, "/pages/Manual", None);
    let content = page["content"].as_str().unwrap();
    assert!(
        content.contains("New steps.") && !content.contains("Old steps."),
        "{content}"
    );
    assert!(
        content.contains("## Use\n\nRun it."),
        "the next section kept: {content}"
    );
    let section = both.mcp_ok(
        "read_note",
        json!({"path": "Manual", "section": "Manual > Install"}),
    );
    assert!(
        section.contains("New steps.") && !section.contains("Run it."),
        "{section}"
    );
}

#[test]
fn batch_reads_see_both_paths_writes_and_orphans_agree() {
    let both = Both::start();
    both.rest_create("A", "# A\n\nLinks to [[B]].\n");
    both.mcp_ok("write_note", json!({"path": "B", "content": "# B\n"}));
    let batch = both.mcp_ok("read_notes", json!({"paths": ["A", "B", "Missing"]}));
    assert!(
        batch.contains("Links to") && batch.contains("# B"),
        "{batch}"
    );
    assert!(
        batch.contains("Missing"),
        "the missing one is named: {batch}"
    );
    let orphans = both.mcp_ok("find_orphaned_notes", json!({}));
    assert!(
        orphans.contains('A') && !orphans.lines().any(|l| l.trim() == "B"),
        "{orphans}"
    );
}

#[test]
fn diffs_agree_across_paths() {
    let both = Both::start();
    let first = both.rest_create("Poem", "# Poem\n\nRoses are red.\n");
    let text = both.mcp_ok(
        "edit_note",
        json!({"path": "Poem", "old_string": "red", "new_string": "blue", "base_revision": first}),
    );
    let second = revision_in(&text);
    let diff = both.mcp_ok(
        "diff_note",
        json!({"path": "Poem", "from": first, "to": second}),
    );
    let (status, json) = both.rest(
        Method::GET,
        &format!("/pages/Poem/-/diff?from={first}&to={second}"),
        None,
    );
    assert_eq!(status, 200, "{json}");
    for side in [&diff, &json["diff"].as_str().unwrap().to_string()] {
        assert!(
            side.contains("-Roses are red.") && side.contains("+Roses are blue."),
            "{side}"
        );
    }
}

#[test]
fn a_revision_read_with_mcp_is_a_rest_if_match() {
    let both = Both::start();
    both.mcp_ok(
        "write_note",
        json!({"path": "Plan", "content": "# Plan\n\nv1\n"}),
    );
    let read = both.mcp_ok("read_note", json!({"path": "Plan"}));
    let revision = revision_in(&read);
    let quoted = format!("\"{revision}\"");
    let put = |if_match: &str, content: &str| {
        both.platform.send_with(
            Method::PUT,
            "notes",
            "/api/v1/pages/Plan",
            &both.token,
            &[("if-match", if_match)],
            Send::Json(json!({"content": content})),
        )
    };
    let resp = put(&quoted, "# Plan\n\nv2\n");
    assert_eq!(resp.status, 200, "{}", resp.body);
    let resp = put(&quoted, "# Plan\n\nv3 from a stale read\n");
    assert_eq!(resp.status, 409, "{}", resp.body);
    let text = both.mcp_ok("read_note", json!({"path": "Plan"}));
    assert!(text.contains("v2") && !text.contains("v3"), "{text}");
}

#[test]
fn a_viewer_is_refused_on_both_paths_and_nothing_lands() {
    let both = Both::start();
    let alice = Who::Session(both.platform.sign_in("alice"));
    let bob = Who::Session(both.platform.sign_in("bob"));
    both.platform.add_member(&alice, "notes", "bob", "viewer");
    let viewer = Who::Token(both.platform.token(&bob, "notes", true));
    let revision = both.rest_create("Locked", "# Locked\n");

    let rest = both.platform.send(
        Method::PUT,
        "notes",
        "/api/v1/pages/Locked",
        &viewer,
        Send::Json(json!({"content": "# Changed\n", "revision": revision})),
    );
    assert_eq!(rest.status, 403, "{}", rest.body);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "edit_note", "arguments":
                          {"path": "Locked", "old_string": "Locked", "new_string": "Changed"}}});
    let mcp = both.platform.send_with(
        Method::POST,
        "notes",
        "/mcp",
        &viewer,
        crate::mcp::MCP_HEADERS,
        Send::Raw(Some("application/json"), body.to_string().into_bytes()),
    );
    let reply: Value = serde_json::from_str(&mcp.body).expect("JSON-RPC");
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    assert_eq!(both.rest_revision("Locked"), revision, "nothing landed");
}

#[test]
fn cached_reads_never_outlive_a_write_from_either_path() {
    let both = Both::start();
    both.rest_create("Fresh", "# Fresh\n\nv1\n");
    let get = || {
        both.platform.send(
            Method::GET,
            "notes",
            "/api/v1/pages/Fresh",
            &both.token,
            Send::Nothing,
        )
    };
    assert_eq!(get().headers["x-holt-cache"], "miss");
    let hit = get();
    assert_eq!(hit.headers["x-holt-cache"], "hit");
    assert!(
        hit.headers.contains_key("etag"),
        "a hit keeps the plugin's headers"
    );
    let read = both.mcp_ok("read_note", json!({"path": "Fresh"}));
    assert!(read.contains("v1"), "{read}");
    let revision = revision_in(&read);
    both.mcp_ok(
        "write_note",
        json!({"path": "Fresh", "content": "# Fresh\n\nv2\n", "base_revision": revision}),
    );
    let after = get();
    assert_eq!(after.headers["x-holt-cache"], "miss");
    assert!(after.body.contains("v2"), "{}", after.body);
    let (status, json) = both.rest(
        Method::PATCH,
        "/pages/Fresh",
        Some(json!({"old_string": "v2", "new_string": "v3"})),
    );
    assert_eq!(status, 200, "{json}");
    let read = both.mcp_ok("read_note", json!({"path": "Fresh"}));
    assert!(read.contains("v3") && !read.contains("v2"), "{read}");

    // A download answered from cache keeps its Content-Disposition.
    let resp = both.rest_raw(
        Method::PUT,
        "/pages/Fresh/-/attachments/page.html",
        b"<b>x</b>".to_vec(),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    for outcome in ["miss", "hit"] {
        let download = both.platform.send(
            Method::GET,
            "notes",
            "/api/v1/pages/Fresh/-/attachments/page.html",
            &both.token,
            Send::Nothing,
        );
        assert_eq!(download.headers["x-holt-cache"], outcome);
        assert!(
            download.headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment"),
            "{:?}",
            download.headers
        );
    }
}
