//! Attachments over real HTTP: upload, list, download (also at a revision), delete, limits.

use reqwest::blocking::multipart::{Form, Part};

use crate::util::{Server, attrs, texts};

fn file(name: &str, bytes: Vec<u8>) -> Form {
    Form::new()
        .part("file", Part::bytes(bytes).file_name(name.to_string()))
        .text("message", "upload")
}

#[test]
fn upload_list_download_and_delete() {
    let server = Server::start();
    server.create("Gallery", "# Gallery\n");
    let png = b"\x89PNG\r\n\x1a\nfake image".to_vec();
    let up = server.post_multipart("/Gallery/-/attachments", file("cat.png", png.clone()));
    assert_eq!(up.status, 303, "{}", up.body);
    let rev_with_cat = server.get("/-/changelog");
    let first_commit = attrs(&rev_with_cat.body, ".changelog tbody tr td a", "href")[0].clone();

    let list = server.get("/Gallery/-/attachments");
    assert_eq!(
        texts(&list.body, ".listing tbody td:first-child a"),
        vec!["cat.png"]
    );
    let download = server.get("/Gallery/-/a/cat.png");
    assert_eq!(download.status, 200);
    assert_eq!(download.bytes, png);
    assert_eq!(download.content_type, "image/png");
    assert_eq!(
        download.headers["content-security-policy"],
        "default-src 'none'; sandbox"
    );

    // Active content is never served inline.
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    assert_eq!(
        server
            .post_multipart("/Gallery/-/attachments", file("x.svg", svg))
            .status,
        303
    );
    let served = server.get("/Gallery/-/a/x.svg");
    assert_eq!(served.content_type, "application/octet-stream");
    assert!(
        served.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );

    // Delete, then download the old version by revision.
    let rev = first_commit.trim_start_matches("/-/commit/").to_string();
    assert_eq!(
        server.post_form("/Gallery/-/a/cat.png/delete", &[]).status,
        303
    );
    assert_eq!(server.get("/Gallery/-/a/cat.png").status, 404);
    let old = server.get(&format!("/Gallery/-/a/cat.png?rev={rev}"));
    assert_eq!(old.status, 200);
    assert_eq!(old.bytes, png);
    server.fsck();
}

#[test]
fn oversized_uploads_are_refused_with_413_and_write_nothing() {
    let server = Server::start();
    server.create("Docs", "# Docs\n");
    let commits = server.commit_count();
    let big = vec![7u8; (10 << 20) + 1];
    let resp = server.post_multipart("/Docs/-/attachments", file("big.bin", big));
    assert_eq!(resp.status, 413, "{}", resp.body);
    assert_eq!(server.commit_count(), commits);
    assert!(texts(&server.get("/Docs/-/attachments").body, ".listing td").is_empty());
    // Exactly at the limit is fine.
    let at_limit = vec![7u8; 10 << 20];
    assert_eq!(
        server
            .post_multipart("/Docs/-/attachments", file("max.bin", at_limit))
            .status,
        303
    );
    assert_eq!(server.commit_count(), commits + 1);
}

#[test]
fn bad_attachment_requests_are_refused() {
    let server = Server::start();
    server.create("Docs", "# Docs\n");
    let commits = server.commit_count();
    for name in [".htaccess", "notes.md", "a:b"] {
        let resp = server.post_multipart("/Docs/-/attachments", file(name, b"x".to_vec()));
        assert_eq!(resp.status, 400, "upload named {name:?}");
    }
    assert_eq!(
        server
            .post_multipart("/Missing/-/attachments", file("a.txt", b"x".to_vec()))
            .status,
        404
    );
    assert_eq!(
        server
            .post_multipart("/Docs/-/attachments", Form::new().text("message", "none"))
            .status,
        400
    );
    let (status, _) = server.raw("GET", "/Docs/-/a/..%2F..%2Fconfig", "");
    assert_eq!(status, 400);
    assert_eq!(server.get("/Docs/-/a/nothing.txt").status, 404);
    assert_eq!(server.commit_count(), commits);
}
