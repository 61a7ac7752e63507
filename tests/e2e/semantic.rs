//! Semantic search end to end, with the real model (all-MiniLM-L6-v2, installed by
//! `./dev.sh test`): pages saved through the editor become searchable by meaning through REST,
//! MCP and the search page within a bounded delay; deleted pages go; vectors survive a restart
//! and a crash mid-batch loses nothing; without a model Holt runs and says semantic search is off.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::hosts::{Platform, Send, Who};
use crate::mcp::MCP_HEADERS;
use crate::util::{Server, holt_env, html, texts};

/// Semantic search on (the harness switches it off for every other test).
const ON: &[(&str, &str)] = &[("HOLT_SEMANTIC__ENABLED", "true")];
/// How long a saved page may take to become searchable: a page is a few passages, embedded in
/// well under a second; the bound leaves room for a loaded CI machine.
const SEARCHABLE_WITHIN: Duration = Duration::from_secs(30);

const GARDENING: &str = "# Gardening\n\n## Watering\n\nTomatoes and peppers need a deep soak \
    at the roots two or three times a week in summer, more often in pots. Water early in the \
    morning so the leaves dry before evening; wet foliage overnight invites mildew and blight. \
    A layer of straw mulch keeps the soil moist between waterings and stops the fruit from \
    splitting after heavy rain.\n\n## Pests\n\nAphids gather under young leaves in spring. \
    Ladybirds eat them; a jet of water knocks them off; soap spray is the last resort. Slugs \
    come out on damp nights and leave silver trails across the beds; a ring of grit or copper \
    tape around each plant keeps them off, and a saucer of beer set into the soil traps them \
    before they reach the lettuces.\n";

const DEPLOYING: &str = "# Deploying\n\nThe server runs as a systemd unit behind Caddy, which \
    terminates TLS and proxies requests to port 8080. Configuration lives in /etc/holt/holt.toml \
    and secrets in the data directory. To upgrade, install the new package and restart the unit; \
    the index is rebuilt automatically when its schema changes.\n";

fn json_of(server: &Server, path: &str) -> (u16, Value) {
    let resp = server.get(path);
    let value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
    (resp.status, value)
}

fn status(server: &Server) -> Value {
    let (code, body) = json_of(server, "/api/v1/reindex/status");
    assert_eq!(code, 200, "reindex status: {body}");
    body["semantic"].clone()
}

/// Waits until the semantic queue is empty; the status then.
fn wait_indexed(server: &Server) -> Value {
    let started = Instant::now();
    loop {
        let status = status(server);
        if status["pending"] == 0 {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the semantic queue did not empty: {status}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pages of a semantic search through REST, best first.
fn semantic_pages(server: &Server, query: &str) -> Vec<String> {
    let path = format!(
        "/api/v1/semantic-search?q={}&n=5&max_per_page=1",
        urlencode(query)
    );
    let (code, body) = json_of(server, &path);
    assert_eq!(code, 200, "{path}: {body}");
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|hit| hit["path"].as_str().expect("path").to_string())
        .collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn mcp_call(server: &Server, tool: &str, arguments: Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": tool, "arguments": arguments}});
    let client = crate::util::http_client().build().expect("client");
    let mut request = client
        .post(server.url("/mcp"))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in MCP_HEADERS {
        request = request.header(*k, *v);
    }
    let resp = request.send().expect("POST /mcp");
    assert_eq!(resp.status(), 200);
    let reply: Value = resp.json().expect("JSON-RPC reply");
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {reply}"))
        .to_string()
}

#[test]
fn a_saved_page_is_found_by_meaning_within_a_bounded_delay_and_a_deleted_one_goes() {
    let server = Server::start_with(tempfile::tempdir().expect("temp dir"), ON);
    let before = wait_indexed(&server);
    assert_eq!(before["enabled"], true, "{before}");
    assert_eq!(
        before["model"], "all-MiniLM-L6-v2-int8",
        "the default build"
    );
    server.create("Deploying", DEPLOYING);

    let saved = Instant::now();
    server.create("Gardening", GARDENING);
    // Few words in common with the page: found by meaning, not by words.
    let query = "how often should I give my vegetables a drink";
    loop {
        if semantic_pages(&server, query).first().map(String::as_str) == Some("Gardening") {
            break;
        }
        assert!(
            saved.elapsed() < SEARCHABLE_WITHIN,
            "not searchable {SEARCHABLE_WITHIN:?} after the save; status {}",
            status(&server)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("searchable {:?} after the save", saved.elapsed());
    let (code, body) = json_of(
        &server,
        &format!(
            "/api/v1/semantic-search?q={}&n=3&max_per_page=1",
            urlencode(query)
        ),
    );
    assert_eq!(code, 200);
    let best = &body["results"][0];
    assert_eq!(best["title"], "Gardening", "{body}");
    assert_eq!(best["heading"], "Watering", "{body}");
    assert!(
        best["snippet"].as_str().unwrap().contains("deep soak"),
        "{body}"
    );
    let score = best["score"].as_f64().unwrap();
    assert!(score > 0.2 && score <= 1.0, "{body}");
    // Full-text search shares too few words to find it.
    let (_, words) = json_of(&server, &format!("/api/v1/search?q={}", urlencode(query)));
    assert!(!words.to_string().contains("Gardening"), "{words}");

    // At most k passages per page.
    let (_, both) = json_of(
        &server,
        "/api/v1/semantic-search?q=garden%20plants%20and%20insects&n=10&max_per_page=1",
    );
    let pages: Vec<&str> = both["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["path"].as_str().unwrap())
        .collect();
    let mut distinct = pages.clone();
    distinct.dedup();
    assert_eq!(pages.len(), distinct.len(), "{both}");

    // MCP: the same search as a tool, with page, heading path, snippet and score.
    let answer = mcp_call(
        &server,
        "semantic_search",
        json!({"query": query, "n": 2, "max_per_page": 1}),
    );
    assert!(answer.contains("Gardening"), "{answer}");
    assert!(answer.contains("Watering"), "{answer}");
    assert!(answer.contains("deep soak"), "{answer}");
    let bad = mcp_call(&server, "semantic_search", json!({"query": query, "n": 51}));
    assert!(!bad.contains("Gardening"), "{bad}");

    // The search page's "by meaning" toggle.
    let page = server.get(&format!("/-/search?q={}&mode=meaning", urlencode(query)));
    assert_eq!(page.status, 200);
    let doc = html(&page.body);
    let titles = texts(&page.body, ".meaning-results .hit-title");
    assert_eq!(
        titles.first().map(String::as_str),
        Some("Gardening"),
        "{titles:?}"
    );
    assert!(
        doc.select(&scraper::Selector::parse("input[name=mode][checked]").unwrap())
            .next()
            .is_some()
    );
    assert!(page.body.contains("Watering"));

    // Bad input changes nothing and says why.
    for path in [
        "/api/v1/semantic-search?q=&n=5",
        "/api/v1/semantic-search?q=water&n=0",
        "/api/v1/semantic-search?q=water&n=51",
        "/api/v1/semantic-search?q=water&max_per_page=0",
    ] {
        let (code, body) = json_of(&server, path);
        assert_eq!(code, 400, "{path}: {body}");
    }

    // Deleting the page: gone from the results at once, its passages dropped soon after.
    let indexed = wait_indexed(&server);
    let (code, body) = server.raw("DELETE", "/api/v1/pages/Gardening", "");
    assert!(code == 200 || code == 204, "delete: {code} {body}");
    assert!(!semantic_pages(&server, query).contains(&"Gardening".to_string()));
    let after = wait_indexed(&server);
    assert_eq!(
        after["pages"].as_u64().unwrap() + 1,
        indexed["pages"].as_u64().unwrap(),
        "{indexed} then {after}"
    );
    assert!(after["chunks"].as_u64() < indexed["chunks"].as_u64());
}

#[test]
fn vectors_survive_a_restart_and_a_crash_mid_batch_loses_nothing() {
    let server = Server::start_with(tempfile::tempdir().expect("temp dir"), ON);
    for i in 0..24 {
        let body = format!(
            "# Note {i}\n\n## Part one\n\n{}\n\n## Part two\n\n{}\n",
            DEPLOYING.replace("# Deploying", "").repeat(6),
            GARDENING.replace("# Gardening", "")
        );
        server.create(&format!("Note{i}"), &body);
    }
    // Kill the server (SIGKILL) while the queue is being worked through.
    let queued = status(&server);
    assert!(queued["pending"].as_u64().unwrap() > 0, "{queued}");
    let server = server.restart(ON);
    let done = wait_indexed(&server);
    assert_eq!(done["pages"], 25, "every page (and Home) indexed: {done}");

    // A clean restart re-embeds nothing: the index is complete at once.
    let chunks = done["chunks"].clone();
    let server = server.restart(ON);
    let again = status(&server);
    assert_eq!(again["pending"], 0, "{again}");
    assert_eq!(again["chunks"], chunks, "{again}");
    // Start-up never waits for the model: it is loaded by the first query, and says so.
    assert!(
        !server.log().contains("the model is loaded"),
        "the model was loaded with nothing to embed:\n{}",
        server.log()
    );
    assert_eq!(
        semantic_pages(&server, "when to water tomatoes").len(),
        5,
        "answers from the stored vectors"
    );
    assert!(
        server.log().contains("the model is loaded"),
        "the first query loaded the model:\n{}",
        server.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !server.log().contains("semantic index updated"),
        "nothing was re-embedded:\n{}",
        server.log()
    );
}

#[test]
fn without_a_model_holt_runs_and_says_semantic_search_is_off() {
    let missing = tempfile::tempdir().expect("temp dir");
    let model_dir = missing.path().join("no-model");
    let model_dir = model_dir.to_str().unwrap();
    let server = Server::start_with(
        tempfile::tempdir().expect("temp dir"),
        &[
            ("HOLT_SEMANTIC__ENABLED", "true"),
            ("HOLT_SEMANTIC__MODEL_DIR", model_dir),
        ],
    );
    server.create("Deploying", DEPLOYING);
    assert_eq!(server.get("/Deploying").status, 200);
    let off = status(&server);
    assert_eq!(off["enabled"], false, "{off}");
    assert!(
        off["reason"].as_str().unwrap().contains("not installed"),
        "{off}"
    );
    assert!(
        !off["reason"].as_str().unwrap().contains(model_dir),
        "no server paths shown to users: {off}"
    );
    let (code, body) = json_of(&server, "/api/v1/semantic-search?q=upgrade");
    assert_eq!(code, 503, "{body}");
    assert!(body.to_string().contains("off"), "{body}");
    let answer = mcp_call(&server, "semantic_search", json!({"query": "upgrade"}));
    assert!(answer.contains("off"), "{answer}");
    assert!(answer.contains("search_notes"), "{answer}");
    // The search page says so and falls back to word matches.
    let page = server.get("/-/search?q=restart%20the%20unit&mode=meaning");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Search by meaning is off"),
        "{}",
        page.body
    );
    assert_eq!(
        texts(&page.body, ".search-results .hit-title"),
        ["Deploying"]
    );
    assert!(server.log().contains("semantic search is off"));

    // The command line refuses clearly.
    let data = server.data();
    let data = data.to_str().unwrap();
    let (ok, _, stderr) = holt_env(
        &["reindex", "--semantic", "--data", data],
        std::path::Path::new("/"),
        &[
            ("HOLT_MODE", "single"),
            ("HOLT_SEMANTIC__MODEL_DIR", model_dir),
        ],
    );
    assert!(!ok);
    assert!(stderr.contains("semantic search is off"), "{stderr}");
}

#[test]
fn holt_reindex_semantic_rebuilds_the_index() {
    let server = Server::start_with(tempfile::tempdir().expect("temp dir"), ON);
    server.create("Gardening", GARDENING);
    server.create("Deploying", DEPLOYING);
    let indexed = wait_indexed(&server);
    let mut outputs = Vec::new();
    // With the server stopped, as the command's help asks.
    let server = server.restart_with(ON, |data| {
        let data = data.to_str().unwrap();
        for args in [
            &["reindex", "--semantic", "--data", data][..],
            &["reindex", "--semantic", "--wiki", "nope", "--data", data][..],
        ] {
            outputs.push(holt_env(
                args,
                std::path::Path::new("/"),
                &[("HOLT_MODE", "single")],
            ));
        }
    });
    let (ok, _, stderr) = &outputs[0];
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "rebuilt the semantic index of wiki 'demo': 3 pages, {} passages",
            indexed["chunks"]
        )),
        "{stderr}"
    );
    let (ok, _, stderr) = &outputs[1];
    assert!(!ok);
    assert!(stderr.contains("there is no wiki 'nope'"), "{stderr}");
    // The rebuilt index serves the restarted server.
    assert_eq!(status(&server)["chunks"], indexed["chunks"]);
    assert_eq!(
        semantic_pages(&server, "how often should I give my vegetables a drink")[0],
        "Gardening"
    );
}

#[test]
fn results_respect_the_callers_permissions() {
    let platform = Platform::start_with_env("", ON);
    let alice = Who::Session(platform.sign_in("alice"));
    platform.create_wiki(&alice, "private", false);
    let dave = Who::Session(platform.sign_in("dave"));
    platform.create_wiki(&dave, "open", true);
    let viewer = Who::Session(platform.sign_in("bob"));
    platform.add_member(&alice, "private", "bob", "viewer");
    let outsider = Who::Session(platform.sign_in("carol"));
    let token = platform.token(&alice, "private", false);
    let (code, body) = {
        let resp = platform.send(
            Method::PUT,
            "private",
            "/api/v1/pages/Gardening",
            &Who::Token(token),
            Send::Json(json!({"content": GARDENING})),
        );
        (resp.status, resp.body)
    };
    assert!(code == 200 || code == 201, "{code} {body}");
    let path = "/api/v1/semantic-search?q=when%20to%20water%20tomatoes&n=3";
    let search = |who: &Who, slug: &str| {
        let started = Instant::now();
        loop {
            let resp = platform.get(slug, path, who);
            if resp.status != 200 || resp.body.contains("Gardening") {
                return resp;
            }
            assert!(started.elapsed() < SEARCHABLE_WITHIN, "{}", resp.body);
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The owner and a viewer find the passage; nobody else learns anything of it.
    for who in [&alice, &viewer] {
        let resp = search(who, "private");
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert!(resp.body.contains("deep soak"), "{}", resp.body);
    }
    for who in [&outsider, &Who::Nobody] {
        let resp = platform.get("private", path, who);
        assert!(
            resp.status == 401 || resp.status == 403 || resp.status == 404,
            "{} {}",
            resp.status,
            resp.body
        );
        assert!(!resp.body.contains("soak"), "{}", resp.body);
        let status = platform.get("private", "/api/v1/reindex/status", who);
        assert!(status.status >= 400, "{}", status.body);
    }
    // Each wiki answers from its own pages only.
    let resp = platform.get("open", path, &outsider);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(!resp.body.contains("Gardening"), "{}", resp.body);
}
