//! Tests of the reindex worker and of `SemanticSearch` over real wikis (git repository, page
//! index, queue) in temporary folders.
//!
//! The embedder is `HashingEmbedder`, a FAKE: it hashes words into buckets, so passages sharing
//! words with a query come out close to it. It knows nothing of meaning; these tests are about
//! the plumbing (queue, store, loaded indexes, worker), not about the quality of answers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::*;
use crate::semantic::chunk::chunk_page;
use crate::semantic::{EmbedError, Embedder, HashingEmbedder, SemanticHit};
use crate::wiki::Limits;
use crate::wikis::Wikis;

/// The model name the tests store vectors under.
const MODEL: &str = "fake-hashing";
/// The FAKE embedder's vector length.
const DIM: usize = 256;
/// A budget every test index fits in.
const PLENTY: usize = 64 << 20;

// ---------------------------------------------------------------------------------------------
// Embedders

/// The FAKE embedder, counting the texts it is asked to embed.
struct Counting {
    inner: HashingEmbedder,
    texts: Arc<AtomicUsize>,
}

impl Embedder for Counting {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        self.inner.embed(texts)
    }
}

/// The FAKE embedder, failing every call while its switch is on (a model that crashed).
struct Failing {
    inner: HashingEmbedder,
    fail: Arc<AtomicBool>,
}

impl Embedder for Failing {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(EmbedError::Failed("the test switched the model off".into()));
        }
        self.inner.embed(texts)
    }
}

/// Semantic search over the FAKE embedder, and the count of page texts it embedded.
fn counted(model: &str, budget: usize) -> (SemanticSearch, Arc<AtomicUsize>) {
    let texts = Arc::new(AtomicUsize::new(0));
    let documents = Counting {
        inner: HashingEmbedder::new(DIM),
        texts: texts.clone(),
    };
    let search = SemanticSearch::new(
        model,
        Box::new(documents),
        Box::new(HashingEmbedder::new(DIM)),
        budget,
    );
    (search, texts)
}

/// Semantic search whose page embedder fails while the returned switch is on.
fn failing() -> (SemanticSearch, Arc<AtomicBool>) {
    let fail = Arc::new(AtomicBool::new(false));
    let documents = Failing {
        inner: HashingEmbedder::new(DIM),
        fail: fail.clone(),
    };
    let search = SemanticSearch::new(
        MODEL,
        Box::new(documents),
        Box::new(HashingEmbedder::new(DIM)),
        PLENTY,
    );
    (search, fail)
}

// ---------------------------------------------------------------------------------------------
// Wikis and pages

fn open_in(slug: &str, dir: &Path) -> Arc<Wiki> {
    let wiki = Wiki::open(
        slug,
        dir,
        Arc::new(crate::render::Renderer::new()),
        Limits::default(),
    )
    .unwrap();
    wiki.sync(&mut |_| {}).unwrap();
    Arc::new(wiki)
}

fn open_wiki(slug: &str) -> (TempDir, Arc<Wiki>) {
    let dir = tempfile::tempdir().unwrap();
    let wiki = open_in(slug, dir.path());
    (dir, wiki)
}

fn author() -> crate::store::Author {
    Wiki::author("Ada Tester", "ada@example.org")
}

fn page(path: &str) -> PagePath {
    PagePath::parse(path).unwrap()
}

/// Creates or updates a page.
fn save(wiki: &Wiki, path: &str, content: &str) {
    let path = page(path);
    let base = wiki.page(&path).ok().map(|row| row.revision);
    let outcome = wiki
        .save(&path, content, base.as_deref(), &author(), "")
        .unwrap();
    assert!(!outcome.unchanged, "the test meant to change {path}");
}

fn queued(wiki: &Wiki) -> u64 {
    wiki.index().semantic_queue_len().unwrap()
}

/// The passages `markdown` is cut into, for a page titled `title`.
fn passages(title: &str, markdown: &str) -> usize {
    chunk_page(title, markdown).chunks.len()
}

/// The pages that have passages in the wiki's store (read with the tests' model name).
fn stored_pages(wiki: &Wiki) -> Vec<String> {
    let (store, fresh) = ChunkStore::open(&store_path(wiki.dir()), MODEL).unwrap();
    assert!(!fresh, "the store was expected to exist already");
    let index = store.load(DIM).unwrap();
    let mut pages: Vec<String> = index.pages().map(str::to_owned).collect();
    pages.sort();
    pages
}

/// The heading path the chunker gives the passage of `markdown` that contains `needle`.
fn heading_of(title: &str, markdown: &str, needle: &str) -> String {
    chunk_page(title, markdown)
        .chunks
        .into_iter()
        .find(|c| c.text.contains(needle))
        .map(|c| c.heading)
        .unwrap_or_else(|| panic!("no passage contains {needle:?}"))
}

/// The heading path of `SETUP`'s backup passage, asserted to be of the `A > B` form.
fn backup_heading() -> String {
    let heading = heading_of(SETUP_TITLE, SETUP, "Every night a scheduled job");
    assert!(
        heading.ends_with("Backups > Nightly snapshots"),
        "the chunker gave {heading:?}"
    );
    heading
}

fn hit_pages(hits: &[SemanticHit]) -> Vec<&str> {
    hits.iter().map(|h| h.path.as_str()).collect()
}

/// Waits (50 ms at a time, 20 s at most) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const SETUP_PATH: &str = "Guides/Setup";
const SETUP_TITLE: &str = "Setup Guide";
const SETUP: &str = "# Setup Guide

This guide walks a new operator through getting the wiki server running on a fresh machine.
It covers installing the program, keeping regular backups of the data folder, and what to
check first when something goes wrong. Each part can be read on its own, and every command
shown here was tested on the current release before it was written down.

## Installing on Linux

Download the release archive for your architecture and unpack it into /opt. Create a
dedicated system user, give it ownership of the data directory, and install the bundled
systemd unit so the service starts at boot. Run systemctl enable followed by systemctl start,
then open port 8080 in the firewall. Debian and Fedora packages are also published for each
release.

## Installing on Windows

Run the signed MSI installer as an administrator and accept the default program folder. The
installer registers a Windows service that starts automatically with the machine. Use
PowerShell to check that the service is running, and allow the program through Windows
Defender Firewall when prompted. Upgrading later only means running the newer installer over
the old one.

## Backups

### Nightly snapshots

Every night a scheduled job copies the data folder to a second disk with rsync, keeping
fourteen daily snapshots and rotating out the oldest one. Snapshots are taken while the
server keeps running, because every wiki lives in its own git repository and the copy is
consistent. Test a restore at least once a month by unpacking a snapshot into a scratch
folder.

## Troubleshooting

When pages fail to load, read the server log first: it names the wiki and the request that
failed. A port already in use usually means another copy of the service is still running.
Permission errors mean the service user cannot write to the data folder. If the search index
looks stale, run the reindex command and restart the service afterwards.
";

/// The Troubleshooting section of `SETUP`, rewritten.
const NEW_TROUBLESHOOTING: &str = "## Troubleshooting

Most outages trace back to a full disk: check free space with df before anything else, then
look for an enormous log file that logrotate failed to compress. Clock drift breaks
certificate renewal, so make sure chrony or timesyncd keeps the time correct. Memory pressure
shows up as the kernel OOM killer stopping the process; raise the limit in the unit file.
";

const BACKUP_QUERY: &str = "nightly rsync snapshots rotating fourteen daily restore";

const COOKING_PATH: &str = "Kitchen/Soup";
const COOKING: &str = "# Vegetable Soup

Chop two onions, three carrots and a stick of celery, then soften them slowly in olive oil
with a pinch of salt until they turn sweet and golden. Add crushed tomatoes, a bay leaf and a
litre of stock, and let the pot simmer gently for forty minutes. Season with pepper, stir in a
handful of chopped parsley, and serve the soup with warm crusty bread and grated cheese.
";

// ---------------------------------------------------------------------------------------------
// 1. Saving, processing, searching, status

#[test]
fn a_processed_page_is_found_at_the_right_passage_and_counted() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    let expected = passages(SETUP_TITLE, SETUP);
    assert_eq!(
        expected, 5,
        "the page is meant to be cut at its five sections"
    );

    // Queued, not yet embedded: nothing to find.
    let status = semantic.status(&wiki).unwrap();
    assert_eq!(status.pending, 1);
    assert!(status.enabled);
    assert_eq!(status.model, MODEL);
    assert!(
        semantic
            .search(&wiki, BACKUP_QUERY, 5, 3)
            .unwrap()
            .is_empty(),
        "nothing is embedded yet"
    );

    assert_eq!(semantic.process(&wiki, 10).unwrap(), 1);

    let status = semantic.status(&wiki).unwrap();
    assert_eq!(
        (status.pending, status.pages, status.chunks),
        (0, 1, expected as u64)
    );
    assert_eq!(status.reason, "");

    let hits = semantic.search(&wiki, BACKUP_QUERY, 5, 5).unwrap();
    assert_eq!(
        hits.len(),
        expected,
        "every passage of the page is a candidate"
    );
    let best = &hits[0];
    assert_eq!(best.path, SETUP_PATH);
    assert_eq!(best.title, SETUP_TITLE);
    assert_eq!(best.heading, backup_heading());
    assert!(
        best.snippet.starts_with("Every night a scheduled job"),
        "{}",
        best.snippet
    );
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(best.score > hits[1].score, "the backup passage stands out");

    // Another passage is found by its own words, under its own heading.
    let hits = semantic
        .search(&wiki, "systemd unit systemctl enable Debian Fedora", 1, 1)
        .unwrap();
    assert_eq!(
        hits[0].heading,
        heading_of(SETUP_TITLE, SETUP, "Download the release archive")
    );
    assert!(hits[0].heading.ends_with("Installing on Linux"));
    // And the page's opening passage.
    let hits = semantic
        .search(&wiki, "walks a new operator through a fresh machine", 1, 1)
        .unwrap();
    assert_eq!(
        hits[0].heading,
        heading_of(SETUP_TITLE, SETUP, "walks a new operator")
    );
    assert!(hits[0].snippet.starts_with("This guide walks"));

    // Nothing left to do.
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// 2. Only changed passages are embedded again

#[test]
fn editing_one_section_embeds_only_that_passage_again() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, texts) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    semantic.process(&wiki, 10).unwrap();
    let total = passages(SETUP_TITLE, SETUP);
    assert_eq!(texts.load(Ordering::SeqCst), total);

    // Load the index, so the edit must reach the copy in memory too.
    assert!(
        !semantic
            .search(&wiki, BACKUP_QUERY, 1, 1)
            .unwrap()
            .is_empty()
    );

    let start = SETUP.find("## Troubleshooting").unwrap();
    let edited = format!("{}{}", &SETUP[..start], NEW_TROUBLESHOOTING);
    save(&wiki, SETUP_PATH, &edited);
    assert_eq!(passages(SETUP_TITLE, &edited), total);

    texts.store(0, Ordering::SeqCst);
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 1);
    let embedded = texts.load(Ordering::SeqCst);
    assert_eq!(embedded, 1, "only the rewritten section is new");
    assert!(embedded < total);

    let status = semantic.status(&wiki).unwrap();
    assert_eq!((status.pages, status.chunks), (1, total as u64));

    let query = "full disk df logrotate chrony OOM killer";
    let hits = semantic.search(&wiki, query, 1, 1).unwrap();
    assert_eq!(
        hits[0].heading,
        heading_of(SETUP_TITLE, &edited, "Most outages")
    );
    assert!(hits[0].heading.ends_with("Troubleshooting"));
    assert!(hits[0].snippet.starts_with("Most outages"), "{:?}", hits[0]);
    // The old passage is gone, from memory and from the store.
    let hits = semantic.search(&wiki, query, 50, 50).unwrap();
    assert!(
        hits.iter().all(|h| !h.snippet.contains("When pages fail")),
        "{hits:#?}"
    );
    let (other, _) = counted(MODEL, PLENTY);
    let hits = other.search(&wiki, "port already in use permission errors", 50, 50);
    assert!(
        hits.unwrap()
            .iter()
            .all(|h| !h.snippet.contains("When pages fail"))
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Deleting

#[test]
fn deleted_pages_leave_the_answers_at_once_and_the_store_when_processed() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    save(&wiki, COOKING_PATH, COOKING);
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 2);
    let hits = semantic.search(&wiki, BACKUP_QUERY, 50, 50).unwrap();
    assert!(hit_pages(&hits).contains(&SETUP_PATH));

    wiki.delete(&page(SETUP_PATH), &author(), "").unwrap();
    assert_eq!(queued(&wiki), 1);

    // Not processed yet: its passages are still stored, but it is not answered.
    let status = semantic.status(&wiki).unwrap();
    assert_eq!(status.pages, 2);
    let hits = semantic.search(&wiki, BACKUP_QUERY, 50, 50).unwrap();
    assert!(!hits.is_empty(), "the other page still answers");
    assert!(
        hits.iter().all(|h| h.path == COOKING_PATH),
        "{:?}",
        hit_pages(&hits)
    );

    assert_eq!(semantic.process(&wiki, 10).unwrap(), 1);
    let status = semantic.status(&wiki).unwrap();
    assert_eq!(
        (status.pending, status.pages, status.chunks),
        (0, 1, passages("Vegetable Soup", COOKING) as u64)
    );
    assert_eq!(stored_pages(&wiki), vec![COOKING_PATH.to_string()]);
    let hits = semantic.search(&wiki, BACKUP_QUERY, 50, 50).unwrap();
    assert!(hits.iter().all(|h| h.path == COOKING_PATH));

    // Created again: found again.
    save(&wiki, SETUP_PATH, SETUP);
    semantic.process(&wiki, 10).unwrap();
    let hits = semantic.search(&wiki, BACKUP_QUERY, 1, 1).unwrap();
    assert_eq!(hits[0].path, SETUP_PATH);
}

// ---------------------------------------------------------------------------------------------
// 4. Renaming

#[test]
fn a_renamed_page_is_found_under_its_new_name_without_embedding_anything() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, texts) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    semantic.process(&wiki, 10).unwrap();
    // Loaded, so the rename must be applied in memory as well.
    assert_eq!(
        semantic.search(&wiki, BACKUP_QUERY, 1, 1).unwrap()[0].path,
        SETUP_PATH
    );

    let new_path = "Handbook/Installation";
    wiki.rename(&page(SETUP_PATH), &page(new_path), false, &author(), "")
        .unwrap();
    assert_eq!(queued(&wiki), 2, "the old name and the new one");

    texts.store(0, Ordering::SeqCst);
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 2);
    assert_eq!(
        texts.load(Ordering::SeqCst),
        0,
        "the passages are found by hash"
    );

    let hits = semantic.search(&wiki, BACKUP_QUERY, 50, 50).unwrap();
    assert_eq!(hits.len(), passages(SETUP_TITLE, SETUP));
    assert!(
        hits.iter().all(|h| h.path == new_path),
        "{:?}",
        hit_pages(&hits)
    );
    assert_eq!(hits[0].title, SETUP_TITLE);
    assert_eq!(hits[0].heading, backup_heading());
    assert_eq!(stored_pages(&wiki), vec![new_path.to_string()]);
    let status = semantic.status(&wiki).unwrap();
    assert_eq!(
        (status.pending, status.pages, status.chunks),
        (0, 1, passages(SETUP_TITLE, SETUP) as u64)
    );

    // Also from the store alone (a restart).
    let (restarted, _) = counted(MODEL, PLENTY);
    let hits = restarted.search(&wiki, BACKUP_QUERY, 50, 50).unwrap();
    assert!(hits.iter().all(|h| h.path == new_path));
}

#[test]
fn a_rename_that_only_changes_case_keeps_the_page_findable() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, texts) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    semantic.process(&wiki, 10).unwrap();
    assert!(
        !semantic
            .search(&wiki, BACKUP_QUERY, 1, 1)
            .unwrap()
            .is_empty()
    );

    let lower = "guides/setup";
    wiki.rename(&page(SETUP_PATH), &page(lower), false, &author(), "")
        .unwrap();
    texts.store(0, Ordering::SeqCst);
    semantic.process(&wiki, 10).unwrap();
    assert_eq!(queued(&wiki), 0);
    assert_eq!(texts.load(Ordering::SeqCst), 0);

    let hits = semantic.search(&wiki, BACKUP_QUERY, 50, 50).unwrap();
    assert_eq!(hits.len(), passages(SETUP_TITLE, SETUP), "{hits:#?}");
    assert!(
        hits.iter().all(|h| h.path == lower),
        "{:?}",
        hit_pages(&hits)
    );
    assert_eq!(stored_pages(&wiki), vec![lower.to_string()]);
}

// ---------------------------------------------------------------------------------------------
// 5. Crash safety

#[test]
fn a_failed_batch_keeps_the_queue_and_the_store_as_they_were() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, fail) = failing();
    save(&wiki, COOKING_PATH, COOKING);
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 1);
    let soup = passages("Vegetable Soup", COOKING) as u64;

    fail.store(true, Ordering::SeqCst);
    let start = SETUP.find("## Troubleshooting").unwrap();
    let (_, advice) = NEW_TROUBLESHOOTING.split_once("\n\n").unwrap();
    let edited_soup = format!("{COOKING}\n## Serving\n\n{advice}");
    assert_eq!(passages("Vegetable Soup", &edited_soup) as u64, soup + 1);
    save(&wiki, COOKING_PATH, &edited_soup);
    save(&wiki, SETUP_PATH, &SETUP[..start]);
    assert_eq!(queued(&wiki), 2);
    let version = wiki.version();

    let err = semantic.process(&wiki, 10).unwrap_err();
    assert!(matches!(err, SemanticError::Embed(_)), "{err:?}");
    assert_eq!(queued(&wiki), 2, "nothing was taken off the queue");
    let status = semantic.status(&wiki).unwrap();
    assert_eq!(
        (status.pages, status.chunks),
        (1, soup),
        "nothing new stored"
    );
    assert_eq!(stored_pages(&wiki), vec![COOKING_PATH.to_string()]);
    assert!(
        semantic
            .search(&wiki, BACKUP_QUERY, 50, 50)
            .unwrap()
            .iter()
            .all(|h| h.path == COOKING_PATH)
    );
    assert_eq!(wiki.version(), version, "nothing changed for caches");

    // Again, with the same outcome: a failure is not remembered as progress.
    assert!(semantic.process(&wiki, 10).is_err());
    assert_eq!(queued(&wiki), 2);

    fail.store(false, Ordering::SeqCst);
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 2);
    assert_eq!(queued(&wiki), 0);
    let status = semantic.status(&wiki).unwrap();
    assert_eq!(
        (status.pages, status.chunks),
        (
            2,
            (passages("Vegetable Soup", &edited_soup) + passages(SETUP_TITLE, &SETUP[..start]))
                as u64
        )
    );
    let hits = semantic.search(&wiki, BACKUP_QUERY, 1, 1).unwrap();
    assert_eq!(hits[0].path, SETUP_PATH);
}

#[test]
fn a_page_saved_again_while_being_worked_on_stays_queued() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    // The store exists (its creation would queue every page again).
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 0);
    save(&wiki, SETUP_PATH, SETUP);
    save(&wiki, COOKING_PATH, COOKING);

    // The worker takes the entries...
    let taken = wiki.index().semantic_queue(10).unwrap();
    assert_eq!(taken.len(), 2);
    let old = taken
        .iter()
        .find(|e| e.path == COOKING_PATH)
        .unwrap()
        .clone();
    // ...the soup is saved again meanwhile...
    let edited = COOKING.replace("forty minutes", "an hour and a half");
    save(&wiki, COOKING_PATH, &edited);
    // ...and the worker reports what it took as done.
    wiki.index().semantic_done(&taken).unwrap();

    let left = wiki.index().semantic_queue(10).unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].path, COOKING_PATH);
    assert!(left[0].seq > old.seq);

    // The next batch embeds the newest text (and only that page: the other was done).
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 1);
    assert_eq!(queued(&wiki), 0);
    let hits = semantic
        .search(&wiki, "simmer an hour and a half", 1, 1)
        .unwrap();
    assert_eq!(hits[0].path, COOKING_PATH);
    assert!(hits[0].snippet.contains("an hour and a half"));
}

// ---------------------------------------------------------------------------------------------
// 6. A lost store, another model

fn remove_store(wiki: &Wiki) {
    let path = store_path(wiki.dir());
    std::fs::remove_file(&path).unwrap();
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut extra = path.clone().into_os_string();
        extra.push(suffix);
        let _ = std::fs::remove_file(extra);
    }
}

#[test]
fn a_lost_store_is_refilled_with_every_page() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, texts) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    save(&wiki, COOKING_PATH, COOKING);
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 2);
    let total = passages(SETUP_TITLE, SETUP) + passages("Vegetable Soup", COOKING);
    assert!(
        !semantic
            .search(&wiki, BACKUP_QUERY, 1, 1)
            .unwrap()
            .is_empty()
    );

    remove_store(&wiki);
    assert_eq!(queued(&wiki), 0);
    texts.store(0, Ordering::SeqCst);
    assert_eq!(
        semantic.process(&wiki, 10).unwrap(),
        2,
        "every page is queued again"
    );
    assert_eq!(queued(&wiki), 0);
    assert_eq!(texts.load(Ordering::SeqCst), total, "nothing to reuse");
    let status = semantic.status(&wiki).unwrap();
    assert_eq!((status.pages, status.chunks), (2, total as u64));
    let hits = semantic.search(&wiki, BACKUP_QUERY, 1, 1).unwrap();
    assert_eq!(hits[0].path, SETUP_PATH);
    assert_eq!(hits[0].heading, backup_heading());
}

#[test]
fn another_model_starts_over() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    save(&wiki, COOKING_PATH, COOKING);
    semantic.process(&wiki, 10).unwrap();
    let total = passages(SETUP_TITLE, SETUP) + passages("Vegetable Soup", COOKING);

    let (other, texts) = counted("another-model", PLENTY);
    assert_eq!(
        other.process(&wiki, 10).unwrap(),
        2,
        "every page is queued again"
    );
    assert_eq!(
        texts.load(Ordering::SeqCst),
        total,
        "no vector of the old model is reused"
    );
    let status = other.status(&wiki).unwrap();
    assert_eq!(status.model, "another-model");
    assert_eq!(
        (status.pending, status.pages, status.chunks),
        (0, 2, total as u64)
    );
    assert_eq!(
        other.search(&wiki, BACKUP_QUERY, 1, 1).unwrap()[0].path,
        SETUP_PATH
    );
}

/// A restart after the store was lost: the first query can come before the worker's batch.
#[test]
fn a_lost_store_is_refilled_even_if_a_search_comes_first() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    semantic.process(&wiki, 10).unwrap();
    drop(semantic);

    remove_store(&wiki);
    let (restarted, _) = counted(MODEL, PLENTY);
    // Nothing to answer yet; that is fine.
    restarted.search(&wiki, BACKUP_QUERY, 5, 5).unwrap();
    assert_eq!(
        restarted.process(&wiki, 10).unwrap(),
        1,
        "the page must be queued again"
    );
    let hits = restarted.search(&wiki, BACKUP_QUERY, 1, 1).unwrap();
    assert_eq!(hits.len(), 1, "the lost passages were never embedded again");
    assert_eq!(hits[0].path, SETUP_PATH);
}

/// A model upgrade, then `first` (a status page, a query) before the worker's first batch: the
/// page must still be embedded again with the new model.
fn model_upgrade_with(first: impl FnOnce(&SemanticSearch, &Arc<Wiki>)) {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    semantic.process(&wiki, 10).unwrap();

    let (upgraded, texts) = counted("another-model", PLENTY);
    first(&upgraded, &wiki);
    upgraded.process(&wiki, 10).unwrap();
    let status = upgraded.status(&wiki).unwrap();
    assert_eq!(
        (status.pending, status.pages, status.chunks),
        (0, 1, passages(SETUP_TITLE, SETUP) as u64),
        "the page must be embedded with the new model ({} texts were)",
        texts.load(Ordering::SeqCst)
    );
    assert_eq!(
        upgraded.search(&wiki, BACKUP_QUERY, 1, 1).unwrap().len(),
        1,
        "the new model's index must answer"
    );
}

#[test]
fn another_model_starts_over_even_if_its_status_is_asked_first() {
    model_upgrade_with(|upgraded, wiki| {
        let status = upgraded.status(wiki).unwrap();
        assert_eq!(status.model, "another-model");
    });
}

#[test]
fn another_model_starts_over_even_if_a_search_comes_first() {
    model_upgrade_with(|upgraded, wiki| {
        upgraded.search(wiki, BACKUP_QUERY, 5, 5).unwrap();
    });
}

/// `catch_up` opens the store before its first batch (its comment: "Opening the store first
/// queues every page if it is new").
#[test]
fn catch_up_refills_a_lost_store() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    semantic.process(&wiki, 10).unwrap();

    remove_store(&wiki);
    let mut reports = Vec::new();
    let done = semantic
        .catch_up(&wiki, &mut |done, total| reports.push((done, total)))
        .unwrap();
    let status = semantic.status(&wiki).unwrap();
    assert_eq!(
        (done, status.pages, status.chunks),
        (1, 1, passages(SETUP_TITLE, SETUP) as u64),
        "progress reported: {reports:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Memory budget

#[test]
fn past_the_budget_only_the_index_used_last_stays_loaded() {
    let (_a_dir, a) = open_wiki("alpha");
    let (_b_dir, b) = open_wiki("beta");
    // One byte: no index fits, so only the one just used is kept.
    let (semantic, _) = counted(MODEL, 1);
    save(&a, SETUP_PATH, SETUP);
    save(&b, COOKING_PATH, COOKING);
    semantic.process(&a, 10).unwrap();
    semantic.process(&b, 10).unwrap();
    assert_eq!(semantic.memory(), (0, 0), "processing loads nothing");

    let hits = semantic.search(&a, BACKUP_QUERY, 1, 1).unwrap();
    assert_eq!(hits[0].path, SETUP_PATH);
    let (a_bytes, loaded) = semantic.memory();
    assert_eq!(loaded, 1);
    assert!(a_bytes > 0);

    let hits = semantic
        .search(&b, "onions carrots celery simmer", 1, 1)
        .unwrap();
    assert_eq!(hits[0].path, COOKING_PATH);
    let (b_bytes, loaded) = semantic.memory();
    assert_eq!(loaded, 1, "alpha's index was unloaded");
    assert!(b_bytes > 0);

    // Alpha changes while unloaded: it is read back from its store, change included.
    let start = SETUP.find("## Troubleshooting").unwrap();
    save(
        &a,
        SETUP_PATH,
        &format!("{}{}", &SETUP[..start], NEW_TROUBLESHOOTING),
    );
    semantic.process(&a, 10).unwrap();
    assert_eq!(semantic.memory().1, 1);

    let hits = semantic.search(&a, BACKUP_QUERY, 1, 1).unwrap();
    assert_eq!(hits[0].path, SETUP_PATH);
    assert_eq!(hits[0].heading, backup_heading());
    let hits = semantic
        .search(&a, "full disk df logrotate chrony OOM killer", 1, 1)
        .unwrap();
    assert!(hits[0].snippet.starts_with("Most outages"), "{:?}", hits[0]);
    assert_eq!(semantic.memory().1, 1);
    // Beta's answers never leak into alpha's.
    let hits = semantic
        .search(&a, "onions carrots celery simmer", 50, 50)
        .unwrap();
    assert!(hits.iter().all(|h| h.path == SETUP_PATH));

    // With room for both, both stay.
    let (roomy, _) = counted(MODEL, PLENTY);
    roomy.search(&a, BACKUP_QUERY, 1, 1).unwrap();
    roomy.search(&b, BACKUP_QUERY, 1, 1).unwrap();
    let (bytes, loaded) = roomy.memory();
    assert_eq!(loaded, 2);
    assert!(bytes > a_bytes.max(b_bytes));
}

#[test]
fn a_wiki_created_again_under_the_same_name_is_loaded_afresh() {
    let (_old_dir, old) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&old, SETUP_PATH, SETUP);
    semantic.process(&old, 10).unwrap();
    assert_eq!(
        semantic.search(&old, BACKUP_QUERY, 1, 1).unwrap()[0].path,
        SETUP_PATH
    );
    drop(old);

    let (_new_dir, new) = open_wiki("docs");
    save(&new, COOKING_PATH, COOKING);
    semantic.process(&new, 10).unwrap();
    let hits = semantic.search(&new, BACKUP_QUERY, 50, 50).unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter().all(|h| h.path == COOKING_PATH),
        "{:?}",
        hit_pages(&hits)
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Bad input, and semantic search switched off

#[test]
fn bad_requests_are_refused_and_an_off_instance_says_why() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    semantic.process(&wiki, 10).unwrap();

    let long = "word ".repeat(500);
    let cases: [(&str, usize, usize); 7] = [
        ("", 5, 1),
        ("   \n\t ", 5, 1),
        (BACKUP_QUERY, 0, 1),
        (BACKUP_QUERY, 51, 1),
        (BACKUP_QUERY, usize::MAX, 1),
        (BACKUP_QUERY, 5, 0),
        (&long, 5, 1),
    ];
    for (query, n, max_per_page) in cases {
        let result = semantic.search(&wiki, query, n, max_per_page);
        assert!(
            matches!(result, Err(SemanticError::Invalid(_))),
            "query {:?}, n {n}, max_per_page {max_per_page}: {result:?}",
            &query[..query.len().min(20)]
        );
    }
    // The edges are accepted.
    assert_eq!(
        semantic.search(&wiki, BACKUP_QUERY, 50, 50).unwrap().len(),
        5
    );
    assert_eq!(semantic.search(&wiki, BACKUP_QUERY, 1, 1).unwrap().len(), 1);
    assert_eq!(
        semantic
            .search(&wiki, &"x".repeat(2000), 1, 1)
            .map(|h| h.len())
            .unwrap_or(99),
        1
    );

    let reason = "the embedding model is not installed on this server";
    let off = SemanticSearch::off(reason);
    assert!(!off.enabled());
    match off.search(&wiki, BACKUP_QUERY, 5, 1) {
        Err(SemanticError::Off(why)) => assert_eq!(why, reason),
        other => panic!("expected Off, got {other:?}"),
    }
    let err = off.search(&wiki, "", 0, 0).unwrap_err();
    assert!(
        matches!(err, SemanticError::Off(_)),
        "off comes first: {err:?}"
    );
    assert!(err.to_string().contains(reason));
    assert!(matches!(off.process(&wiki, 10), Err(SemanticError::Off(_))));
    assert!(matches!(
        off.catch_up(&wiki, &mut |_, _| {}),
        Err(SemanticError::Off(_))
    ));
    assert!(matches!(
        off.rebuild(&wiki, &mut |_, _| {}),
        Err(SemanticError::Off(_))
    ));
    save(&wiki, COOKING_PATH, COOKING);
    let status = off.status(&wiki).unwrap();
    assert!(!status.enabled);
    assert_eq!(status.reason, reason);
    assert_eq!(status.model, "");
    assert_eq!((status.pending, status.pages, status.chunks), (1, 0, 0));
    assert_eq!(off.memory(), (0, 0));
    off.wake(&wiki);
    off.start_worker().unwrap();
    off.stop_worker();
    assert_eq!(
        queued(&wiki),
        1,
        "an off instance never takes from the queue"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. The background worker

/// Stops the worker even when an assertion fails first.
struct StopOnDrop<'a>(&'a SemanticSearch);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop_worker();
    }
}

#[test]
fn the_worker_catches_up_in_the_background_and_stops() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    semantic.start_worker().unwrap();
    let worker = StopOnDrop(&semantic);

    save(&wiki, SETUP_PATH, SETUP);
    semantic.wake(&wiki);
    eventually("the worker to embed the page", || {
        semantic
            .search(&wiki, BACKUP_QUERY, 1, 1)
            .unwrap()
            .first()
            .is_some_and(|h| h.heading == backup_heading())
    });
    eventually("the queue to empty", || queued(&wiki) == 0);

    // More pages than one batch holds: the worker keeps going until the queue is empty.
    for i in 0..(BATCH_PAGES + 3) {
        save(&wiki, &format!("Kitchen/Soup {i}"), COOKING);
    }
    semantic.wake(&wiki);
    eventually("the worker to take every page", || queued(&wiki) == 0);
    let status = semantic.status(&wiki).unwrap();
    assert_eq!(status.pages, BATCH_PAGES as u64 + 4);

    drop(worker);
    // Stopped: a wake is no longer acted on.
    save(&wiki, COOKING_PATH, COOKING);
    semantic.wake(&wiki);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(queued(&wiki), 1);
}

#[test]
fn resume_hands_the_worker_the_wikis_left_with_work() {
    let root = tempfile::tempdir().unwrap();
    let wikis = Wikis::new(
        root.path().to_path_buf(),
        Arc::new(crate::render::Renderer::new()),
        Limits::default(),
    );
    let (semantic, _) = counted(MODEL, PLENTY);
    // Caught up: nothing to do.
    let done = wikis.create("done").unwrap();
    save(&done, SETUP_PATH, SETUP);
    semantic.process(&done, 10).unwrap();
    // Processed once, then edited: queued pages.
    let queued_wiki = wikis.create("queued").unwrap();
    save(&queued_wiki, SETUP_PATH, SETUP);
    semantic.process(&queued_wiki, 10).unwrap();
    save(&queued_wiki, COOKING_PATH, COOKING);
    // Never processed: no store yet.
    let fresh = wikis.create("fresh").unwrap();
    save(&fresh, SETUP_PATH, SETUP);
    // Not wikis.
    std::fs::create_dir_all(root.path().join("stray")).unwrap();
    std::fs::create_dir_all(root.path().join(".deleted-old-1").join("repo.git")).unwrap();

    semantic.resume(&wikis);
    let mut woken: Vec<String> = semantic
        .engine()
        .unwrap()
        .pending
        .lock()
        .unwrap()
        .wikis
        .keys()
        .cloned()
        .collect();
    woken.sort();
    assert_eq!(woken, vec!["fresh".to_string(), "queued".to_string()]);

    semantic.start_worker().unwrap();
    let _worker = StopOnDrop(&semantic);
    eventually("the worker to finish both wikis", || {
        queued(&queued_wiki) == 0 && queued(&fresh) == 0
    });
    assert_eq!(
        semantic.search(&fresh, BACKUP_QUERY, 1, 1).unwrap()[0].path,
        SETUP_PATH
    );
}

// ---------------------------------------------------------------------------------------------
// 10. At most `max_per_page` passages of one page

const SOURDOUGH_PATH: &str = "Kitchen/Sourdough";
const SOURDOUGH: &str = "# Sourdough Bread

## Feeding the starter

Feed the sourdough starter twice a day with equal weights of flour and water, stirring it well
so the sourdough starter stays bubbly. A healthy sourdough starter doubles within six hours of
a feed at room temperature. Keep the sourdough starter in a loosely covered jar and discard
half of it before every feed so it never grows sour or sluggish.

## Mixing the dough

Mix the sourdough starter into the dough with flour, water and salt until no dry flour is
left. The sourdough dough is sticky at first, which is normal for sourdough bread. Rest the
sourdough dough for half an hour, then fold it over itself a few times so the flour and water
come together into a smooth, elastic sourdough dough.

## Bulk fermentation

Leave the sourdough dough to ferment in a warm kitchen for four to six hours, folding the
sourdough dough every hour. The sourdough starter in the dough makes it rise slowly while the
flour and water develop flavour. The sourdough bread is ready to shape when the dough has
grown by half and shows bubbles at the edges of the bowl.

## Shaping and proofing

Turn the sourdough dough out onto a floured counter and shape it into a tight round loaf.
Dust a basket with rice flour so the sourdough dough does not stick, then proof the sourdough
loaf overnight in the fridge. Cold proofing gives sourdough bread a deeper flavour and makes
the sourdough dough easier to score before baking.

## Baking

Bake the sourdough bread in a preheated cast iron pot at a high temperature, lid on for the
first twenty minutes so the sourdough loaf rises with steam. Remove the lid and bake the
sourdough bread until the crust is deep brown. Let the sourdough bread cool completely before
slicing, because the flour and water inside are still setting.
";

#[test]
fn no_page_gives_more_than_max_per_page_passages() {
    let (_dir, wiki) = open_wiki("kitchen");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&wiki, SOURDOUGH_PATH, SOURDOUGH);
    save(&wiki, COOKING_PATH, COOKING);
    save(&wiki, SETUP_PATH, SETUP);
    semantic.process(&wiki, 10).unwrap();
    let loaves = passages("Sourdough Bread", SOURDOUGH);
    assert_eq!(loaves, 5);
    let query = "sourdough starter dough flour and water bread";

    let count = |hits: &[SemanticHit], path: &str| hits.iter().filter(|h| h.path == path).count();

    // Uncapped, the sourdough page fills the top of the list.
    let hits = semantic.search(&wiki, query, 10, 50).unwrap();
    assert_eq!(count(&hits, SOURDOUGH_PATH), loaves);
    assert!(hits[..loaves].iter().all(|h| h.path == SOURDOUGH_PATH));

    for cap in [1, 2, 3] {
        let hits = semantic.search(&wiki, query, 10, cap).unwrap();
        assert_eq!(hits[0].path, SOURDOUGH_PATH);
        assert_eq!(count(&hits, SOURDOUGH_PATH), cap, "cap {cap}");
        for path in [SOURDOUGH_PATH, COOKING_PATH, SETUP_PATH] {
            assert!(
                count(&hits, path) <= cap,
                "cap {cap}: {:?}",
                hit_pages(&hits)
            );
        }
        // The room left goes to other pages.
        // Five sourdough passages, five setup ones, one soup one.
        assert_eq!(hits.len(), (cap.min(5) * 2 + 1).min(10), "cap {cap}");
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
    // `n` still bounds the answer.
    assert_eq!(semantic.search(&wiki, query, 2, 50).unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 11. Caches keyed by the wiki's version

#[test]
fn a_processed_batch_moves_the_wiki_version() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, _) = counted(MODEL, PLENTY);
    save(&wiki, SETUP_PATH, SETUP);
    let before = wiki.version();
    assert_eq!(semantic.process(&wiki, 10).unwrap(), 1);
    let after = wiki.version();
    assert!(after > before, "{before} -> {after}");

    let start = SETUP.find("## Troubleshooting").unwrap();
    save(
        &wiki,
        SETUP_PATH,
        &format!("{}{}", &SETUP[..start], NEW_TROUBLESHOOTING),
    );
    let saved = wiki.version();
    assert!(saved > after);
    semantic.process(&wiki, 10).unwrap();
    assert!(
        wiki.version() > saved,
        "the answers changed after the save, too"
    );
}

// ---------------------------------------------------------------------------------------------
// catch_up and rebuild

#[test]
fn catch_up_empties_the_queue_in_batches_and_rebuild_embeds_everything_again() {
    let (_dir, wiki) = open_wiki("docs");
    let (semantic, texts) = counted(MODEL, PLENTY);
    let pages = BATCH_PAGES * 2 + 3;
    for i in 0..pages {
        let text = COOKING.replace("Vegetable Soup", &format!("Soup number {i}"));
        save(&wiki, &format!("Kitchen/Soup {i}"), &text);
    }
    assert_eq!(queued(&wiki), pages as u64);

    // A limit takes that many, oldest first.
    assert_eq!(semantic.process(&wiki, 2).unwrap(), 2);
    assert_eq!(queued(&wiki), pages as u64 - 2);

    let mut reports = Vec::new();
    let done = semantic
        .catch_up(&wiki, &mut |done, total| reports.push((done, total)))
        .unwrap();
    assert_eq!(done, pages - 2);
    assert_eq!(queued(&wiki), 0);
    assert_eq!(reports.first(), Some(&(0, pages - 2)));
    assert_eq!(reports.last(), Some(&(pages - 2, pages - 2)));
    assert!(reports.len() >= 3, "several batches: {reports:?}");
    let status = semantic.status(&wiki).unwrap();
    assert_eq!(status.pages, pages as u64);
    // One passage each; the titles differ, so no vector is shared.
    assert_eq!(status.chunks, pages as u64);
    assert_eq!(texts.load(Ordering::SeqCst), pages);
    assert!(
        !semantic
            .search(&wiki, "onions carrots", 1, 1)
            .unwrap()
            .is_empty()
    );

    texts.store(0, Ordering::SeqCst);
    let stats = semantic.rebuild(&wiki, &mut |_, _| {}).unwrap();
    assert_eq!(stats.pages, pages);
    assert_eq!(stats.chunks, pages as u64);
    assert_eq!(
        texts.load(Ordering::SeqCst),
        pages,
        "everything embedded again"
    );
    assert_eq!(queued(&wiki), 0);
    let hits = semantic.search(&wiki, "onions carrots", 50, 1).unwrap();
    assert_eq!(hits.len(), pages);
}
