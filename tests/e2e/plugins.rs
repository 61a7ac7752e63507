//! WebAssembly plugins in the real server: the example plugin's effects over HTTP, API-version
//! and capability refusals at load, and the abuse suite (each misbehaviour contained with its
//! documented error, and the next request served normally).

use crate::util::{Server, attrs, built_plugins, holt, texts};

fn example_config() -> String {
    format!(
        "plugin_dir = {:?}\n[plugins.example]\ngrants = [\"pages:read\"]\n",
        built_plugins().display().to_string()
    )
}

/// A server running the abuse plugin with the given extra plugin settings.
fn abuse_server(extra: &str, anonymous: &str) -> Server {
    Server::start_with_config(&format!(
        "plugin_dir = {:?}\n[wiki]\nanonymous = {anonymous:?}\n[plugins.abuse]\ngrants = [\"pages:read\", \"pages:write\"]\n{extra}\n",
        built_plugins().display().to_string()
    ))
}

#[test]
fn the_example_plugin_adds_backlinks_and_serves_orphans() {
    let server = Server::start_with_config(&example_config());
    server.create("Linker", "See [[Home]].\n");
    server.create("Lonely", "Nobody links here.\n");
    let home = server.get("/");
    assert_eq!(home.status, 200);
    assert_eq!(
        texts(&home.body, "aside.plugin-backlinks h2"),
        vec!["Linked from"]
    );
    assert_eq!(
        attrs(&home.body, "aside.plugin-backlinks a", "href"),
        vec!["/Linker"]
    );
    // The hook runs for every view, and its output reflects later writes.
    server.create("Second", "Also [[Home]].\n");
    assert_eq!(
        attrs(&server.get("/").body, "aside.plugin-backlinks a", "href"),
        vec!["/Linker", "/Second"]
    );

    let orphans = server.get("/-/plugin/example/orphans");
    assert_eq!(orphans.status, 200, "{}", orphans.body);
    let listed = attrs(&orphans.body, "ul.orphans a", "href");
    assert!(
        listed.contains(&"/Lonely".to_string()) && !listed.contains(&"/Home".to_string()),
        "{listed:?}"
    );
    assert_eq!(server.get("/-/plugin/example/nothing").status, 404);

    let status = server.get("/-/plugins");
    assert_eq!(status.status, 200);
    assert!(status.body.contains("example") && status.body.contains("pages:read"));

    // A restart loads the compiled component from the cache instead of compiling again.
    assert!(
        server.log().contains("cached=false"),
        "first start compiles"
    );
    let again = server.restart(&[]);
    assert!(again.log().contains("cached=true"), "{}", again.log());
    assert_eq!(
        attrs(&again.get("/").body, "aside.plugin-backlinks a", "href"),
        vec!["/Linker", "/Second"]
    );
}

#[test]
fn a_plugin_built_for_another_api_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = built_plugins();
    let config = format!(
        "plugin_dir = {:?}\n[plugins.future-api]\n",
        plugins.display().to_string()
    );
    std::fs::write(dir.path().join("holt.toml"), config).unwrap();
    let (ok, _, stderr) = holt(
        &["--data", "data", "serve", "--listen", "127.0.0.1:0"],
        dir.path(),
    );
    assert!(!ok);
    assert!(
        stderr.contains("plugin 'future-api': built for holt:plugin@9.9.9, but this host supports holt:plugin@0.1.0"),
        "{stderr}"
    );
    let file = plugins.join("future-api/plugin.wasm");
    let (ok, _, stderr) = holt(&["plugin", "check", file.to_str().unwrap()], dir.path());
    assert!(
        !ok && stderr.contains("built for holt:plugin@9.9.9"),
        "{stderr}"
    );
    // A component exporting only some interfaces is fine.
    let (ok, stdout, _) = holt(
        &[
            "plugin",
            "check",
            plugins.join("trivial/plugin.wasm").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        ok && stdout.contains("exports:  http-handler\n"),
        "{stdout}"
    );
}

#[test]
fn a_capability_asked_but_not_granted_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "plugin_dir = {:?}\n[plugins.abuse]\ngrants = [\"pages:read\"]\n",
        built_plugins().display().to_string()
    );
    std::fs::write(dir.path().join("holt.toml"), &config).unwrap();
    let (ok, _, stderr) = holt(
        &["--data", "data", "serve", "--listen", "127.0.0.1:0"],
        dir.path(),
    );
    assert!(!ok);
    assert!(
        stderr.contains("plugin 'abuse': asks for the capability 'pages:write'"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = holt(&["--data", "data", "plugin", "list"], dir.path());
    assert!(
        !ok && stdout.contains("abuse (enabled): cannot be loaded")
            && stderr.contains("refuse to start"),
        "{stdout}{stderr}"
    );
}

#[test]
fn misbehaving_plugins_are_contained_and_the_next_request_succeeds() {
    let server = abuse_server("timeout_ms = 3000\nmemory_mib = 256\n", "write");
    let cases: &[(&str, u16, &str)] = &[
        ("/loop", 504, "did not finish within 3000 ms"),
        ("/alloc", 502, "went over its memory limit of 256 MiB"),
        ("/recurse", 502, "failed (stack overflow)"),
        ("/panic", 502, "failed (it panicked)"),
        (
            "/big",
            502,
            "returned 104857600 bytes, over its limit of 8388608 bytes",
        ),
        ("/ungranted", 403, "was not granted the capability 'kv'"),
    ];
    for (path, status, message) in cases {
        let resp = server.get(&format!("/-/plugin/abuse{path}"));
        assert_eq!(resp.status, *status, "{path}: {}", resp.body);
        assert!(
            resp.body.contains(message),
            "{path}: expected {message:?} in {}",
            resp.body
        );
        let next = server.get("/-/plugin/abuse/ok");
        assert_eq!(
            (next.status, next.body.as_str()),
            (200, "ok"),
            "the request after {path}"
        );
        assert_eq!(server.get("/").status, 200, "the wiki after {path}");
    }
    // The failures were logged with the plugin's name (and the panic's message), and counted.
    let log = server.log();
    assert!(
        log.contains("plugin=abuse") && log.contains("this plugin panics on purpose"),
        "{log}"
    );
    let status = server.get("/-/plugins");
    let failed = texts(&status.body, "tbody td:nth-child(6)");
    assert!(
        failed[0].starts_with('5') && failed[0].contains("1 timed out"),
        "{failed:?}"
    );

    // Names can never reach outside this wiki.
    let escapes = server.get("/-/plugin/abuse/other-wiki");
    assert_eq!(escapes.status, 200);
    assert!(!escapes.body.contains("READ"), "{}", escapes.body);
    assert_eq!(
        escapes.body.matches("invalid: page name").count()
            + escapes.body.matches("not found").count(),
        5,
        "{}",
        escapes.body
    );
}

#[test]
fn a_plugin_acts_with_the_permissions_of_the_request_user() {
    let reader = abuse_server("", "read");
    let commits = reader.commit_count();
    let refused = reader.get("/-/plugin/abuse/write");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("you may not edit pages"),
        "{}",
        refused.body
    );
    assert_eq!(reader.commit_count(), commits, "nothing was written");
    assert_eq!(reader.get("/-/plugin/abuse/read").body, "Welcome to Holt");

    let writer = abuse_server("", "write");
    let written = writer.get("/-/plugin/abuse/write");
    assert_eq!(written.status, 200, "{}", written.body);
    assert_eq!(
        writer.get("/Abuse%20Written/-/raw").body,
        "written by a plugin\n"
    );
    writer.fsck();
}

#[test]
fn render_hooks_are_sanitized_and_a_failing_hook_never_breaks_a_page() {
    let server = abuse_server("timeout_ms = 500\n", "write");
    server.create("Script Render", "# Hello\n");
    let page = server.get("/Script%20Render");
    assert_eq!(page.status, 200);
    assert_eq!(
        texts(&page.body, "#holt-content p.abuse-added"),
        vec!["added"],
        "the hook's markup is kept"
    );
    assert!(!page.body.contains("from a plugin"), "its script is not");
    for name in ["Trap Render", "Slow Render"] {
        server.create(name, "# Still here\n");
        let page = server.get(&format!("/{}", name.replace(' ', "%20")));
        assert_eq!(page.status, 200, "{name}");
        assert_eq!(
            texts(&page.body, "#holt-content h1"),
            vec!["Still here"],
            "{name}"
        );
    }
}

#[test]
fn a_plugin_cannot_reach_another_wiki() {
    // Two wikis in one data directory: "other" holds a secret, "demo" runs the plugin.
    let config = format!(
        "plugin_dir = {:?}\n[plugins.abuse]\ngrants = [\"pages:read\", \"pages:write\"]\n",
        built_plugins().display().to_string()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("holt.toml"), &config).unwrap();
    let other = Server::start_with(dir, &[("HOLT_WIKI__SLUG", "other")]);
    other.create("Secret", "TOP SECRET\n");
    assert!(other.data().join("wikis/other/repo.git").exists());
    let demo = other.restart(&[("HOLT_WIKI__SLUG", "demo")]);
    assert_eq!(
        demo.get("/Secret").status,
        404,
        "the demo wiki has no such page"
    );
    for name in [
        "Secret",
        "../other/Secret",
        "../../wikis/other/Secret",
        "/other/Secret",
        "other/Secret",
        "..%2Fother%2FSecret",
        "wikis/other/repo.git/Secret",
        "../other/repo.git/HEAD",
    ] {
        let resp = demo.get(&format!(
            "/-/plugin/abuse/read-any?page={}",
            name.replace('/', "%2F")
        ));
        assert!(
            matches!(resp.status, 400 | 404),
            "{name}: {} {}",
            resp.status,
            resp.body
        );
        assert!(
            !resp.body.contains("TOP SECRET"),
            "{name} reached the other wiki"
        );
    }
}

#[test]
fn markdown_preprocess_and_page_fragments_reach_the_page() {
    let server = abuse_server("", "write");
    server.create("Fragments", "Before {{plugin}} after.\n");
    let page = server.get("/Fragments");
    assert_eq!(page.status, 200);
    assert_eq!(
        texts(&page.body, "#holt-content strong"),
        vec!["replaced by a plugin"]
    );
    assert_eq!(texts(&page.body, ".sidebar .abuse-sidebar"), vec!["side"]);
    assert_eq!(texts(&page.body, ".abuse-after"), vec!["after"]);
    assert!(!page.body.contains("alert(1)"), "fragments are sanitized");
    // The raw Markdown is untouched: hooks change what is shown, never what is stored.
    assert_eq!(
        server.get("/Fragments/-/raw").body,
        "Before {{plugin}} after.\n"
    );
    // The live preview goes through the same hooks.
    let preview = server.post_form("/Fragments/-/preview", &[("content", "{{plugin}}")]);
    assert!(
        preview
            .body
            .contains("<strong>replaced by a plugin</strong>"),
        "{}",
        preview.body
    );
}

#[test]
fn page_events_run_after_the_commit_and_never_hold_up_a_save() {
    let server = abuse_server("timeout_ms = 5000\n", "write");
    server.create("Plain", "a page\n");
    // The event hook (which itself writes a page) runs after the save returned.
    wait_for(&server, "/Events/Plain", "saved Plain by Anonymous\n");
    // A hook that spins for 800 ms: the save has returned long before it finishes.
    let resp = server.save("Slow Event", "slow\n", "");
    assert_eq!(resp.status, 303);
    assert_eq!(
        server.get("/Events/Slow%20Event").status,
        404,
        "the event had not been handled yet"
    );
    wait_for(
        &server,
        "/Events/Slow%20Event",
        "saved Slow Event by Anonymous\n",
    );
}

fn wait_for(server: &Server, path: &str, content: &str) {
    for _ in 0..200 {
        let resp = server.get(&format!("{path}/-/raw"));
        if resp.status == 200 {
            assert_eq!(resp.body, content);
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{path} never appeared; log:\n{}", server.log());
}
