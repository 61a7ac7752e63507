//! The command line: `holt import` of a generated corpus, `holt reindex`, refusals, `--help`.

use std::path::Path;
use std::process::Command;

use crate::util::{Server, corpus_generator, git, holt, texts};

/// Generates the benchmark corpus (500 pages, 2,000 commits) into `dir/corpus`.
fn generate_corpus(dir: &Path) -> serde_json::Value {
    let script = corpus_generator();
    assert!(
        script.exists(),
        "the corpus generator is missing at {}",
        script.display()
    );
    let out = Command::new("python3")
        .arg(&script)
        .arg("--out")
        .arg(dir.join("corpus"))
        .arg("--manifest")
        .arg(dir.join("manifest.json"))
        .output()
        .expect("run bench/corpus.py");
    assert!(
        out.status.success(),
        "bench/corpus.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"))
        .expect("manifest json")
}

#[test]
fn import_keeps_every_commit_and_history_follows_renames() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = generate_corpus(dir.path());
    let corpus = dir.path().join("corpus");
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();

    let (ok, _, stderr) = holt(
        &["--data", data_arg, "import", corpus.to_str().unwrap()],
        dir.path(),
    );
    assert!(ok, "import failed: {stderr}");
    assert!(stderr.contains("2000 commits, 500 pages"), "{stderr}");
    let repo = data.join("wikis/demo/repo.git");
    assert_eq!(
        git(&repo, &["rev-list", "--count", "HEAD"]).trim(),
        git(&corpus, &["rev-list", "--count", "HEAD"]).trim()
    );
    assert_eq!(
        git(&repo, &["rev-parse", "HEAD"]).trim(),
        manifest["head"].as_str().unwrap()
    );
    crate::util::fsck(&repo);
    assert!(!repo.join("hooks").exists(), "hooks are never imported");

    // A second import into a wiki with pages is refused unless asked to replace it.
    let (ok, _, stderr) = holt(
        &["--data", data_arg, "import", corpus.to_str().unwrap()],
        dir.path(),
    );
    assert!(
        !ok && stderr.contains("already has pages") && stderr.contains("--replace"),
        "{stderr}"
    );
    let (ok, _, stderr) = holt(
        &["--data", data_arg, "import", dir.path().to_str().unwrap()],
        dir.path(),
    );
    assert!(!ok && stderr.contains("not a git repository"), "{stderr}");

    // Reindex rebuilds the same index from git.
    let (ok, _, stderr) = holt(&["--data", data_arg, "reindex"], dir.path());
    assert!(ok, "reindex failed: {stderr}");
    assert!(stderr.contains("2000 commits, 500 pages"), "{stderr}");

    let server = Server::start_with(dir, &[]);
    let targets = &manifest["targets"];
    let home = server.get("/");
    assert_eq!(home.status, 200);
    assert_eq!(
        server.commit_count(),
        2000,
        "serving did not add commits to an imported wiki"
    );
    let index = server.get("/-/index");
    assert!(index.body.contains("500 pages"));
    for key in ["small", "large", "nested"] {
        let page = targets[key].as_str().unwrap();
        assert_eq!(
            server.get(&format!("/{page}")).status,
            200,
            "{key} page {page}"
        );
    }
    // Each renamed page's history matches `git log --follow`.
    for page in targets["renamed"].as_array().unwrap() {
        let page = page.as_str().unwrap();
        let expected = git(
            &corpus,
            &[
                "log",
                "--follow",
                "--format=%H",
                "--",
                &format!("{page}.md"),
            ],
        )
        .lines()
        .count();
        let history = server.get(&format!("/{page}/-/history"));
        let label = texts(&history.body, "main p.muted")
            .into_iter()
            .next()
            .unwrap_or_default();
        assert_eq!(
            label,
            format!("{expected} revisions. Choose two to compare."),
            "history of {page}"
        );
    }
    // Full-text search finds exactly the pages the generator put the rare word in.
    let rare = targets["search_rare"].as_str().unwrap();
    let hits = server.get(&format!("/-/search?q={rare}"));
    assert_eq!(
        texts(&hits.body, "a.hit-title").len() as u64,
        targets["search_rare_pages"].as_u64().unwrap()
    );
}

#[test]
fn import_replace_keeps_the_old_wiki_aside() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    git(&source, &["init", "-q", "-b", "master"]);
    std::fs::write(source.join("home.md"), "# Imported home\n").unwrap();
    git(&source, &["add", "."]);
    git(
        &source,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.org",
            "commit",
            "-q",
            "-m",
            "first",
        ],
    );
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let (ok, _, _) = holt(
        &["--data", data_arg, "import", source.to_str().unwrap()],
        dir.path(),
    );
    assert!(ok);
    let (ok, _, stderr) = holt(
        &[
            "--data",
            data_arg,
            "import",
            "--replace",
            source.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let kept: Vec<_> = std::fs::read_dir(data.join("wikis"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(kept.len(), 2, "the replaced wiki is kept beside: {kept:?}");
    // The imported branch is master; the wiki serves it, and its home page is home.md.
    let server = Server::start_with(dir, &[]);
    assert_eq!(
        texts(&server.get("/").body, "#holt-content h1"),
        vec!["Imported home"]
    );
    server.create("Added", "after import\n");
    assert_eq!(
        git(&server.repo(), &["rev-list", "--count", "master"]).trim(),
        "2"
    );
    server.fsck();
}

#[test]
fn the_index_catches_up_with_commits_made_behind_its_back() {
    let server = Server::start();
    server.create("Mine", "made through Holt\n");
    // Someone pushes to the wiki's repository with plain git.
    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("clone");
    let out = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(server.repo())
        .arg(&clone)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(clone.join("Pushed.md"), "# Pushed\n\narrived by git push\n").unwrap();
    git(&clone, &["add", "."]);
    git(
        &clone,
        &[
            "-c",
            "user.name=Pusher",
            "-c",
            "user.email=p@example.org",
            "commit",
            "-q",
            "-m",
            "from outside",
        ],
    );
    git(&clone, &["push", "-q", "origin", "HEAD:main"]);

    // A restart brings the index up to the repository's HEAD.
    let server = server.restart(&[]);
    assert_eq!(
        texts(&server.get("/Pushed").body, "#holt-content h1"),
        vec!["Pushed"]
    );
    assert!(server.get("/-/changelog").body.contains("from outside"));
    assert_eq!(
        texts(&server.get("/-/search?q=arrived").body, "a.hit-title"),
        vec!["Pushed"]
    );

    // A lost index is rebuilt from git at the next start.
    let server = server.restart_with(&[], |data| {
        for file in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
            let _ = std::fs::remove_file(data.join("wikis/demo").join(file));
        }
        assert!(!data.join("wikis/demo/index.sqlite").exists());
    });
    assert_eq!(server.get("/Mine/-/raw").body, "made through Holt\n");
    assert_eq!(server.get("/Pushed").status, 200);
    assert_eq!(server.commit_count(), 3);
    assert!(server.get("/-/changelog").body.contains("3 commits"));
}

#[test]
fn help_and_bad_invocations_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, _) = holt(&["--help"], dir.path());
    assert!(ok);
    for word in ["serve", "reindex", "import", "holt-data", "127.0.0.1:8080"] {
        assert!(stdout.contains(word), "--help mentions {word}:\n{stdout}");
    }
    let (ok, _, stderr) = holt(&["--config", "missing.toml", "serve"], dir.path());
    assert!(!ok && stderr.contains("missing.toml"), "{stderr}");
    std::fs::write(dir.path().join("holt.toml"), "listen = 5\n").unwrap();
    let (ok, _, stderr) = holt(&["serve"], dir.path());
    assert!(!ok && stderr.starts_with("holt: configuration"), "{stderr}");
    std::fs::remove_file(dir.path().join("holt.toml")).unwrap();
    let (ok, _, stderr) = holt(&["--data", "nowhere", "reindex"], dir.path());
    assert!(!ok && stderr.contains("there is no wiki"), "{stderr}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (ok, _, stderr) = holt(&["serve", "--listen", &addr], dir.path());
    assert!(!ok && stderr.contains("cannot listen"), "{stderr}");
}
