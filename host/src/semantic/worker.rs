//! The reindex worker: one background thread that works through the wikis' semantic queues,
//! a few pages at a time, embedding only passages whose text is new.
//!
//! Each page's passages are committed to its `ChunkStore` before its queue entry is removed
//! (and only if the page was not queued again meanwhile), so a crash loses nothing: the entry is
//! still there after a restart, and redoing it is cheap because unchanged passages are found by
//! hash. `holt reindex --semantic` and tests drive the same code synchronously.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::chunk::chunk_page;
use super::service::{Engine, SemanticError, SemanticSearch, store_path};
use super::store::{ChunkStore, StoredChunk, text_hash};
use super::vectors::VectorIndex;
use crate::index::QueuedPage;
use crate::store::PagePath;
use crate::wiki::{Wiki, WikiError};
use crate::wikis::Wikis;

/// Pages taken from a queue at a time: small, so one big wiki never starves the others and
/// each batch's results show up quickly.
const BATCH_PAGES: usize = 8;
/// Passages embedded per call to the model.
const EMBED_BATCH: usize = 16;
/// How long the worker waits after a failure before trying that wiki again.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// How often an idle worker looks whether the model has been unused long enough to unload.
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// The worker's nice value: requests always go first.
const NICE: i32 = 19;

/// What a rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildStats {
    pub pages: usize,
    pub chunks: u64,
}

impl SemanticSearch {
    /// Tells the worker that `wiki` may have queued pages (a no-op when semantic search is off).
    pub fn wake(&self, wiki: &Arc<Wiki>) {
        if let Ok(engine) = self.engine() {
            let mut pending = engine.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.wikis.insert(wiki.slug().to_string(), wiki.clone());
            engine.wake.notify_one();
        }
    }

    /// Starts the background worker (when semantic search is on), at the lowest CPU priority:
    /// with one embedding thread, the model runs on the worker's own thread.
    pub fn start_worker(&self) -> std::io::Result<()> {
        if let Ok(engine) = self.engine() {
            let engine = engine.clone();
            std::thread::Builder::new()
                .name("holt-semantic".into())
                .spawn(move || {
                    lower_priority();
                    engine.run()
                })?;
        }
        Ok(())
    }

    /// Stops the worker, for good, after the batch it is working on.
    pub fn stop_worker(&self) {
        if let Ok(engine) = self.engine() {
            engine
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .stopped = true;
            engine.wake.notify_all();
        }
    }

    /// Finds the wikis under `wikis` left with queued pages (a crash, a restart mid-batch) or
    /// without a semantic index (a model installed since), and hands them to the worker.
    pub fn resume(&self, wikis: &Wikis) {
        if !self.enabled() {
            return;
        }
        let Ok(dirs) = std::fs::read_dir(wikis.root()) else {
            return;
        };
        for dir in dirs.flatten() {
            let slug = dir.file_name().to_string_lossy().into_owned();
            if slug.starts_with('.') || !needs_work(&dir.path()) {
                continue;
            }
            match wikis.get(&slug) {
                Ok(wiki) => self.wake(&wiki),
                Err(err) => {
                    tracing::warn!(wiki = %slug, error = %err, "semantic index: cannot open the wiki")
                }
            }
        }
    }

    /// Works through at most `limit` queued pages of `wiki`; returns how many it took.
    pub fn process(&self, wiki: &Arc<Wiki>, limit: usize) -> Result<usize, SemanticError> {
        self.engine()?.process(wiki, limit)
    }

    /// Works until `wiki`'s queue is empty, reporting pages done of those queued.
    pub fn catch_up(
        &self,
        wiki: &Arc<Wiki>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<usize, SemanticError> {
        let engine = self.engine()?;
        // Opening the store first queues every page if it is new.
        engine.open_store(wiki)?;
        let total = wiki.index().semantic_queue_len()? as usize;
        let mut done = 0;
        progress(0, total);
        loop {
            let n = engine.process(wiki, BATCH_PAGES)?;
            if n == 0 {
                return Ok(done);
            }
            done += n;
            progress(done.min(total), total.max(done));
        }
    }

    /// Drops `wiki`'s passages and embeds every page again (`holt reindex --semantic`).
    pub fn rebuild(
        &self,
        wiki: &Arc<Wiki>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<RebuildStats, SemanticError> {
        let engine = self.engine()?;
        let store = engine.open_store(wiki)?;
        store.clear()?;
        engine.unload(wiki);
        wiki.index().semantic_enqueue_all()?;
        let pages = self.catch_up(wiki, progress)?;
        let (_, chunks) = store.counts()?;
        Ok(RebuildStats { pages, chunks })
    }
}

/// Whether a wiki folder has queued pages or no semantic index yet.
fn needs_work(dir: &Path) -> bool {
    if !dir.join("repo.git").exists() {
        return false;
    }
    if !store_path(dir).exists() {
        return true;
    }
    let index = dir.join("index.sqlite");
    let queued =
        rusqlite::Connection::open_with_flags(&index, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|conn| {
                conn.query_row("SELECT EXISTS (SELECT 1 FROM semantic_queue)", [], |r| {
                    r.get::<_, bool>(0)
                })
            });
    // An index without a queue is of an older schema: opening the wiki rebuilds and queues it.
    queued.unwrap_or(true)
}

impl Engine {
    /// The worker's loop: take a wiki with queued pages, do a batch, put it back if more wait.
    pub(super) fn run(self: Arc<Self>) {
        loop {
            let wiki = {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if pending.stopped {
                        return;
                    }
                    let next = pending.wikis.keys().next().cloned();
                    if let Some(slug) = next
                        && let Some(wiki) = pending.wikis.remove(&slug)
                    {
                        break wiki;
                    }
                    let (next, idle) = self
                        .wake
                        .wait_timeout(pending, IDLE_CHECK)
                        .unwrap_or_else(|p| p.into_inner());
                    pending = next;
                    if idle.timed_out() {
                        self.documents.release_if_unused();
                        self.queries.release_if_unused();
                    }
                }
            };
            let again = match self.process(&wiki, BATCH_PAGES) {
                Ok(0) => false,
                Ok(_) => true,
                Err(err) => {
                    tracing::warn!(wiki = wiki.slug(), error = %err, "semantic index: a batch failed; retrying later");
                    let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                    // Waits, unless told to stop.
                    let _ = self
                        .wake
                        .wait_timeout_while(pending, RETRY_AFTER, |p| !p.stopped);
                    true
                }
            };
            if again {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                pending.wikis.entry(wiki.slug().to_string()).or_insert(wiki);
            }
        }
    }

    /// One batch: the oldest `limit` queued pages of `wiki`.
    pub(super) fn process(&self, wiki: &Arc<Wiki>, limit: usize) -> Result<usize, SemanticError> {
        if !wiki.dir().join("repo.git").exists() {
            // Deleted while it waited.
            self.unload(wiki);
            return Ok(0);
        }
        let mut store = self.open_store(wiki)?;
        let queued = wiki.index().semantic_queue(limit)?;
        if queued.is_empty() {
            return Ok(0);
        }
        // Pages that exist first: a renamed page's passages are then found by hash under the
        // old name before that name's passages are dropped.
        let mut present = Vec::new();
        let mut gone: Vec<&QueuedPage> = Vec::new();
        for entry in &queued {
            let source = PagePath::parse(&entry.path)
                .map_err(WikiError::from)
                .and_then(|page| wiki.source(&page));
            match source {
                Ok((row, text)) => present.push((entry, row, text)),
                Err(WikiError::NotFound(_) | WikiError::InvalidPath(_)) => gone.push(entry),
                Err(err) => return Err(err.into()),
            }
        }
        for (entry, row, text) in present {
            let chunks = self.embed_page(&store, &row.title, &text)?;
            let kept = store.replace_page(&row.path, chunks)?;
            self.update(wiki, |index| {
                remove_any_case(index, &entry.path);
                remove_any_case(index, &row.path);
                if let Err(err) = index.upsert_page(&row.path, kept) {
                    tracing::error!(wiki = wiki.slug(), page = %row.path, error = %err, "semantic index: passages not loaded");
                }
            });
        }
        for entry in gone {
            store.remove_page(&entry.path)?;
            self.update(wiki, |index| remove_any_case(index, &entry.path));
        }
        wiki.index().semantic_done(&queued)?;
        // Answers derived from the wiki (cached tool and API answers) may now differ.
        wiki.touch();
        tracing::debug!(
            wiki = wiki.slug(),
            pages = queued.len(),
            "semantic index updated"
        );
        Ok(queued.len())
    }

    /// Cuts a page into passages and finds their vectors: stored ones by hash, new ones from
    /// the model.
    fn embed_page(
        &self,
        store: &ChunkStore,
        title: &str,
        markdown: &str,
    ) -> Result<Vec<StoredChunk>, SemanticError> {
        let chunks = chunk_page(title, markdown).chunks;
        let hashes: Vec<_> = chunks.iter().map(|c| text_hash(&c.embed_text)).collect();
        let mut known = store.vectors_for(&hashes)?;
        let mut seen = HashSet::new();
        let missing: Vec<(usize, &str)> = chunks
            .iter()
            .enumerate()
            .filter(|(i, _)| !known.contains_key(&hashes[*i]) && seen.insert(hashes[*i]))
            .map(|(i, c)| (i, c.embed_text.as_str()))
            .collect();
        for batch in missing.chunks(EMBED_BATCH) {
            let texts: Vec<&str> = batch.iter().map(|(_, text)| *text).collect();
            let vectors = self.documents.embed(&texts)?;
            for ((i, _), vector) in batch.iter().zip(vectors) {
                known.insert(hashes[*i], vector);
            }
        }
        Ok(chunks
            .into_iter()
            .zip(hashes)
            .filter_map(|(chunk, hash)| {
                Some(StoredChunk {
                    ordinal: chunk.ordinal,
                    heading: chunk.heading,
                    text: chunk.text,
                    hash,
                    vector: known.get(&hash)?.clone(),
                })
            })
            .collect())
    }
}

/// Gives the calling thread the lowest CPU priority (Linux keeps both per thread): the
/// `SCHED_IDLE` policy, under which any runnable request thread preempts it at once (at nice 19
/// it would still hold a core for a time slice now and then), and nice 19 where that policy is
/// refused.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid, sched_setscheduler and setpriority take plain integers and a pointer
        // to a parameter that lives for the call.
        let (idle, nice) = unsafe {
            let tid = libc::gettid();
            let param = libc::sched_param { sched_priority: 0 };
            let idle = libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param);
            (
                idle,
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE),
            )
        };
        if idle != 0 || nice != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "semantic worker: priority not fully lowered");
        }
    }
}

/// Drops a page's passages from a loaded index, whatever the case of its path there.
fn remove_any_case(index: &mut VectorIndex, path: &str) {
    let key = path.to_lowercase();
    let matching: Vec<String> = index
        .pages()
        .filter(|p| p.to_lowercase() == key)
        .map(str::to_owned)
        .collect();
    for page in matching {
        index.remove_page(&page);
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
