//! Page routes over real HTTP: view, create, edit, conflicts, bad names, rename, delete,
//! revisions, source, blame, diff, preview, and cross-site protection.

use crate::util::{Server, attrs, texts};

#[test]
fn first_start_serves_a_home_page() {
    let server = Server::start();
    let home = server.get("/");
    assert_eq!(home.status, 200);
    assert!(home.content_type.starts_with("text/html"));
    assert_eq!(
        texts(&home.body, "#holt-content h1"),
        vec!["Welcome to Holt"]
    );
    assert_eq!(home.headers["x-content-type-options"], "nosniff");
    assert_eq!(home.headers["x-frame-options"], "SAMEORIGIN");
    assert!(
        home.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("object-src 'none'")
    );
    // Lookups are case-insensitive: /home is the Home page.
    assert_eq!(server.get("/home").status, 200);
    assert_eq!(server.commit_count(), 1);
    assert_eq!(server.get("/-/healthz").body, "ok\n");
    server.fsck();
}

#[test]
fn create_view_and_edit_a_page() {
    let server = Server::start();
    let form = server.get("/Guides/Setup/-/edit");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("New page"), "editor for a new page");

    let created = server.save("Guides/Setup", "# Setup\r\n\r\nInstall **Holt**.\r\n", "");
    assert_eq!(created.status, 303);
    assert_eq!(created.location.as_deref(), Some("/Guides/Setup"));
    let page = server.get("/Guides/Setup");
    assert_eq!(page.status, 200);
    assert_eq!(texts(&page.body, "#holt-content strong"), vec!["Holt"]);
    // Line endings from the browser are stored as LF.
    assert_eq!(
        server.get("/Guides/Setup/-/raw").body,
        "# Setup\n\nInstall **Holt**.\n"
    );

    let base = server.revision("Guides/Setup");
    let updated = server.save(
        "Guides/Setup",
        "# Setup\n\nInstall **Holt** with cargo.\n",
        &base,
    );
    assert_eq!(updated.status, 303);
    assert!(server.get("/Guides/Setup").body.contains("with cargo"));
    assert_ne!(
        server.revision("Guides/Setup"),
        base,
        "the page moved to a new revision"
    );
    assert_eq!(server.commit_count(), 3);

    // Saving identical content is not a new commit.
    let same = server.save(
        "Guides/Setup",
        "# Setup\n\nInstall **Holt** with cargo.\n",
        &server.revision("Guides/Setup"),
    );
    assert_eq!(same.status, 303);
    assert_eq!(server.commit_count(), 3);
    server.fsck();
}

#[test]
fn a_stale_base_revision_is_a_conflict_and_writes_nothing() {
    let server = Server::start();
    server.create("Notes", "first\n");
    let base = server.revision("Notes");
    assert_eq!(server.save("Notes", "second\n", &base).status, 303);
    let current = server.revision("Notes");
    let commits = server.commit_count();

    let stale = server.save("Notes", "my competing edit\n", &base);
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert!(
        stale.body.contains(&current[..10]),
        "the conflict names the current revision"
    );
    // The editor comes back with the user's text, so nothing typed is lost.
    assert_eq!(texts(&stale.body, "textarea"), vec!["my competing edit"]);
    assert_eq!(server.commit_count(), commits);
    assert_eq!(server.get("/Notes/-/raw").body, "second\n");

    // Creating a page that exists is a conflict too (any letter case).
    let again = server.save("notes", "new\n", "");
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already exists"));
    // An unknown base revision is refused.
    assert_eq!(
        server
            .save("Notes", "x\n", "0123456789abcdef0123456789abcdef01234567")
            .status,
        400
    );
    assert_eq!(server.commit_count(), commits);
}

#[test]
fn bad_page_names_get_a_clear_400_and_change_nothing() {
    let server = Server::start();
    let commits = server.commit_count();
    let long = "a".repeat(121);
    let deep = vec!["d"; 17].join("/");
    let bad = [
        "/a/%2E%2E/b".to_string(),
        "/a/../b".to_string(),
        "/.git/config".to_string(),
        "/x/.hidden".to_string(),
        "/ctl%01char".to_string(),
        "/what%3F".to_string(),
        "/back%5Cslash".to_string(),
        format!("/{long}"),
        format!("/{deep}"),
        "/page.md".to_string(),
    ];
    for path in &bad {
        let (status, body) = server.raw("GET", path, "");
        assert_eq!(status, 400, "GET {path}: {body}");
        assert!(
            body.contains("Invalid page name"),
            "GET {path} explains itself: {body}"
        );
        let (status, _) = server.raw("POST", &format!("{path}/-/edit"), "content=pwned&base=");
        assert_eq!(status, 400, "POST {path}/-/edit");
    }
    // The create form and rename refuse bad names too.
    let create = server.post_form("/-/create", &[("name", "../escape")]);
    assert_eq!(create.status, 400);
    assert!(create.body.contains("Invalid page name"));
    let rename = server.post_form("/Home/-/rename", &[("new_path", "a//b")]);
    assert_eq!(rename.status, 400);
    assert_eq!(server.commit_count(), commits, "nothing was written");
    server.fsck();
}

#[test]
fn missing_pages_offer_to_create_them() {
    let server = Server::start();
    let missing = server.get("/No/Such/Page");
    assert_eq!(missing.status, 404);
    assert!(
        attrs(&missing.body, "a.button", "href")
            .iter()
            .any(|h| h == "/No/Such/Page/-/edit")
    );
    // Links to missing pages are styled as create links; links to existing pages are not.
    server.create("Linker", "[[Home]] and [[Ghost|Nowhere/Ghost]]\n");
    let page = server.get("/Linker");
    assert_eq!(
        attrs(&page.body, "#holt-content a.wikilink.missing", "href"),
        vec!["/Nowhere/Ghost"]
    );
    assert_eq!(
        attrs(&page.body, "#holt-content a.wikilink:not(.missing)", "href"),
        vec!["/Home"]
    );
    // Once the page exists, the link renders as a normal link.
    server.create("Nowhere/Ghost", "boo\n");
    let page = server.get("/Linker");
    assert!(attrs(&page.body, "#holt-content a.wikilink.missing", "href").is_empty());
    // Unknown actions and reserved paths are 404s.
    assert_eq!(server.get("/Home/-/frobnicate").status, 404);
    assert_eq!(server.get("/-/no-such-route").status, 404);
}

#[test]
fn rename_moves_history_and_rewrites_links() {
    let server = Server::start();
    server.create("Drafts/Plan", "# Plan\n\nv1\n");
    let base = server.revision("Drafts/Plan");
    assert_eq!(
        server.save("Drafts/Plan", "# Plan\n\nv2\n", &base).status,
        303
    );
    server.create(
        "Index Page",
        "See [[Drafts/Plan]] and [[the plan|drafts/plan#v2]]; `[[Drafts/Plan]]` stays.\n",
    );

    let form = server.get("/Drafts/Plan/-/rename");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Update the links in 1 page"));
    let renamed = server.post_form(
        "/Drafts/Plan/-/rename",
        &[
            ("new_path", "Projects/Plan"),
            ("update_links", "1"),
            ("message", "promote"),
        ],
    );
    assert_eq!(renamed.status, 303, "{}", renamed.body);
    assert_eq!(renamed.location.as_deref(), Some("/Projects/Plan"));
    assert_eq!(server.get("/Drafts/Plan").status, 404);
    assert!(server.get("/Projects/Plan").body.contains("v2"));
    assert_eq!(
        server.get("/Index%20Page/-/raw").body,
        "See [[Projects/Plan]] and [[the plan|Projects/Plan#v2]]; `[[Drafts/Plan]]` stays.\n"
    );
    // History follows the page across the rename: create, edit, rename.
    let history = server.get("/Projects/Plan/-/history");
    assert_eq!(history.status, 200);
    assert_eq!(attrs(&history.body, "input[name=a]", "value").len(), 3);
    assert!(texts(&history.body, ".tag").contains(&"renamed from Drafts/Plan.md".to_string()));
    // The rename is one commit that also carries the link rewrite.
    let commit = server.get("/-/changelog");
    assert!(commit.body.contains("promote"));

    // Renaming onto an existing page is a conflict.
    let clash = server.post_form("/Projects/Plan/-/rename", &[("new_path", "Home")]);
    assert_eq!(clash.status, 409);
    server.fsck();
}

#[test]
fn delete_then_revert_restores_the_page() {
    let server = Server::start();
    server.create("Temp", "temporary\n");
    let form = server.get("/Temp/-/delete");
    assert_eq!(form.status, 200);
    let deleted = server.post_form("/Temp/-/delete", &[("message", "cleanup")]);
    assert_eq!(deleted.status, 303);
    let commit_url = deleted.location.expect("redirect to the commit");
    assert!(commit_url.starts_with("/-/commit/"));
    assert_eq!(server.get("/Temp").status, 404);
    let commit = server.get(&commit_url);
    assert_eq!(commit.status, 200);
    assert!(commit.body.contains("cleanup") && commit.body.contains("Temp.md"));

    let rev = commit_url.trim_start_matches("/-/commit/");
    let reverted = server.post_form(&format!("/-/revert/{rev}"), &[]);
    assert_eq!(reverted.status, 303, "{}", reverted.body);
    assert_eq!(server.get("/Temp/-/raw").body, "temporary\n");
    assert_eq!(server.get("/Temp").status, 200);
    server.fsck();
}

#[test]
fn reverting_a_change_that_was_edited_again_is_a_conflict() {
    let server = Server::start();
    server.create("Doc", "one\n");
    let first = server.revision("Doc");
    server.save("Doc", "two\n", &first);
    let second = server.revision("Doc");
    server.save("Doc", "three\n", &second);
    let commits = server.commit_count();
    let refused = server.post_form(&format!("/-/revert/{second}"), &[]);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("changed again by a later commit"));
    assert_eq!(server.commit_count(), commits);
    // Reverting the newest change works.
    let latest = server.revision("Doc");
    assert_eq!(
        server.post_form(&format!("/-/revert/{latest}"), &[]).status,
        303
    );
    assert_eq!(server.get("/Doc/-/raw").body, "two\n");
}

#[test]
fn revisions_source_blame_and_diff() {
    let server = Server::start();
    server.create("Story", "# Story\n\nalpha\nbeta\n");
    let r1 = server.revision("Story");
    server.save("Story", "# Story\n\nalpha\ngamma\ndelta\n", &r1);
    let r2 = server.revision("Story");

    let old = server.get(&format!("/Story/-/view/{}", &r1[..10]));
    assert_eq!(old.status, 200);
    assert!(old.body.contains("beta") && !old.body.contains("gamma"));
    assert!(old.body.contains("old revision"));
    assert_eq!(
        server.get(&format!("/Story/-/raw/{r1}")).body,
        "# Story\n\nalpha\nbeta\n"
    );
    assert_eq!(
        server.get("/Story/-/source?raw").body,
        "# Story\n\nalpha\ngamma\ndelta\n"
    );
    let source = server.get("/Story/-/source");
    assert_eq!(source.status, 200);
    assert!(source.body.contains("gamma"));

    let diff = server.get(&format!("/Story/-/diff/{r1}/{r2}"));
    assert_eq!(diff.status, 200);
    assert_eq!(texts(&diff.body, "tr.diff-removed td.code"), vec!["-beta"]);
    assert_eq!(
        texts(&diff.body, "tr.diff-added td.code"),
        vec!["+gamma", "+delta"]
    );
    let compare = server.get(&format!("/Story/-/compare?a={r1}&b={r2}"));
    assert_eq!(compare.status, 303);
    assert_eq!(server.get("/Story/-/compare?a=zz&b=1").status, 400);

    let blame = server.get("/Story/-/blame");
    assert_eq!(blame.status, 200);
    let commits = attrs(&blame.body, "td.blame-commit a", "href");
    // Lines 1-3 come from r1, lines 4-5 from r2.
    assert_eq!(
        commits,
        vec![format!("/-/commit/{r1}"), format!("/-/commit/{r2}")]
    );

    assert_eq!(server.get("/Story/-/view/deadbeef00").status, 404);
    assert_eq!(server.get("/Story/-/view/not-hex").status, 404);
}

#[test]
fn preview_renders_without_saving() {
    let server = Server::start();
    let commits = server.commit_count();
    let preview = server.post_form(
        "/Draft/-/preview",
        &[("content", "# Hi\n\n[[Home]] <script>alert(1)</script>")],
    );
    assert_eq!(preview.status, 200);
    assert!(preview.body.contains("<h1 id=\"hi\">"));
    assert!(!preview.body.contains("<script"));
    // The no-JavaScript preview button re-renders the editor with the preview and the text.
    let button = server.post_form(
        "/Draft/-/edit",
        &[("content", "**bold**"), ("base", ""), ("preview", "1")],
    );
    assert_eq!(button.status, 200);
    assert_eq!(texts(&button.body, "#holt-preview strong"), vec!["bold"]);
    assert_eq!(texts(&button.body, "textarea"), vec!["**bold**"]);
    assert_eq!(server.commit_count(), commits);
}

#[test]
fn cross_site_form_posts_are_refused() {
    let server = Server::start();
    let commits = server.commit_count();
    let forged = server.post_form_with(
        "/Evil/-/edit",
        &[("content", "pwned"), ("base", "")],
        &[("Origin", "https://attacker.example")],
    );
    assert_eq!(forged.status, 403);
    let forged = server.post_form_with(
        "/Evil/-/edit",
        &[("content", "pwned"), ("base", "")],
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(forged.status, 403);
    assert_eq!(server.commit_count(), commits);
    // The same form from the wiki's own pages goes through.
    let origin = server.base.clone();
    let ok = server.post_form_with(
        "/Fine/-/edit",
        &[("content", "ok"), ("base", "")],
        &[("Origin", &origin)],
    );
    assert_eq!(ok.status, 303);
}

#[test]
fn oversized_pages_are_refused_with_413() {
    let server = Server::start();
    let commits = server.commit_count();
    let huge = "x".repeat((1 << 20) + 1);
    let resp = server.save("Huge", &huge, "");
    assert_eq!(resp.status, 413);
    assert_eq!(server.commit_count(), commits);
    assert_eq!(server.get("/Huge").status, 404);
}

#[test]
fn cached_views_never_outlive_a_write() {
    let server = Server::start();
    server.create("Cached", "# Cached\n\nfirst version\n");
    let views = [
        "/Cached",
        "/Cached/-/history",
        "/-/index",
        "/-/search?q=version",
        "/-/changelog",
    ];
    for view in views {
        let first = server.get(view);
        let again = server.get(view);
        assert_eq!(again.headers["x-holt-cache"], "hit", "{view}");
        assert_eq!(first.body, again.body, "{view}");
    }
    let base = server.revision("Cached");
    assert_eq!(
        server
            .save("Cached", "# Cached\n\nsecond version\n", &base)
            .status,
        303
    );
    for view in views {
        let fresh = server.get(view);
        assert_eq!(
            fresh.headers["x-holt-cache"], "miss",
            "{view} after the write"
        );
    }
    assert!(server.get("/Cached").body.contains("second version"));
    assert_eq!(
        attrs(
            &server.get("/-/search?q=second").body,
            "a.hit-title",
            "href"
        ),
        vec!["/Cached"]
    );

    // The cache can be turned off.
    let uncached = Server::start_with(
        tempfile::tempdir().unwrap(),
        &[("HOLT_CACHE__RESPONSE_BYTES", "0")],
    );
    uncached.get("/");
    assert!(uncached.get("/").headers.get("x-holt-cache").is_none());
}
