//! Wiki-wide routes over real HTTP: page index, changelog, Atom feed, search, orphans, create.

use crate::util::{Server, attrs, texts};

#[test]
fn page_index_lists_pages_by_folder_with_headings() {
    let server = Server::start();
    server.create("Ops/Runbook", "# Runbook\n\n## Restart\n\n## Rollback\n");
    server.create("Ops/Alerts", "# Alerts\n");
    let index = server.get("/-/index");
    assert_eq!(index.status, 200);
    assert_eq!(texts(&index.body, ".folder-name"), vec!["Ops/"]);
    let links = attrs(&index.body, ".page-list > li > a", "href");
    assert_eq!(links, vec!["/Home", "/Ops/Alerts", "/Ops/Runbook"]);
    assert!(
        attrs(&index.body, ".headings a", "href").contains(&"/Ops/Runbook#rollback".to_string())
    );
}

#[test]
fn changelog_and_feed_list_recent_commits() {
    let server = Server::start();
    server.create("A", "a\n");
    let base = server.revision("A");
    server.post_form(
        "/A/-/edit",
        &[
            ("content", "a2\n"),
            ("base", &base),
            ("message", "Second <edit> & more"),
        ],
    );
    let log = server.get("/-/changelog");
    assert_eq!(log.status, 200);
    let summaries = texts(&log.body, ".changelog tbody tr td:nth-child(4)");
    assert_eq!(
        summaries,
        vec!["Second <edit> & more", "test edit", "Create the Home page"]
    );

    let feed = server.get("/-/changelog/feed.atom");
    assert_eq!(feed.status, 200);
    assert!(feed.content_type.starts_with("application/atom+xml"));
    assert!(feed.body.starts_with("<?xml"));
    assert_eq!(feed.body.matches("<entry>").count(), 3);
    assert!(
        feed.body
            .contains("<title>Second &lt;edit&gt; &amp; more</title>"),
        "{}",
        feed.body
    );
    assert!(!feed.body.contains("<edit>"), "text is escaped in XML");
}

#[test]
fn search_finds_words_with_highlighted_snippets() {
    let server = Server::start();
    server.create(
        "Cache",
        "# Cache cluster\n\nRestart the cache cluster with care.\n",
    );
    server.create("Other", "# Unrelated\n\nNothing to see.\n");
    let results = server.get("/-/search?q=cluster");
    assert_eq!(results.status, 200);
    assert_eq!(attrs(&results.body, "a.hit-title", "href"), vec!["/Cache"]);
    assert!(
        texts(&results.body, ".snippet mark")
            .iter()
            .all(|m| m.eq_ignore_ascii_case("cluster"))
    );
    // Prefix matching on the last word, and stemming.
    assert_eq!(
        attrs(
            &server.get("/-/search?q=restar").body,
            "a.hit-title",
            "href"
        ),
        vec!["/Cache"]
    );
    assert_eq!(
        attrs(
            &server.get("/-/search?q=restarting").body,
            "a.hit-title",
            "href"
        ),
        vec!["/Cache"]
    );
    // FTS syntax is never interpreted: quotes, operators and stars are just text.
    for q in ["\"", "cache OR", "NEAR(", "*", "cache\" OR \"x"] {
        let resp = server.get(&format!("/-/search?q={}", urlencode(q)));
        assert_eq!(resp.status, 200, "query {q:?}");
    }
    assert_eq!(
        server
            .get(&format!("/-/search?q={}", "x".repeat(501)))
            .status,
        400
    );
    // Edits are searchable at once; deleted pages drop out.
    server.post_form("/Other/-/delete", &[]);
    server.create("Fresh", "zebra crossing\n");
    assert_eq!(
        attrs(&server.get("/-/search?q=zebra").body, "a.hit-title", "href"),
        vec!["/Fresh"]
    );
    assert!(
        attrs(
            &server.get("/-/search?q=unrelated").body,
            "a.hit-title",
            "href"
        )
        .is_empty()
    );
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn orphans_and_create_form() {
    let server = Server::start();
    server.create("Linked", "x\n");
    server.create("Lonely", "[[Linked]]\n");
    let orphans = server.get("/-/orphans");
    assert_eq!(
        attrs(&orphans.body, ".page-list a", "href"),
        vec!["/Lonely"]
    );

    assert_eq!(server.get("/-/create").status, 200);
    let go = server.post_form("/-/create", &[("name", "Brand New")]);
    assert_eq!(go.status, 303);
    assert_eq!(go.location.as_deref(), Some("/Brand%20New/-/edit"));
    let existing = server.post_form("/-/create", &[("name", "linked")]);
    assert_eq!(existing.location.as_deref(), Some("/linked"));
}
