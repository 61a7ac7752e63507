//! `SemanticSearch`: the deployment's semantic search, answering queries from per-wiki vector
//! indexes kept in memory (loaded lazily from each wiki's `ChunkStore`, least recently used
//! evicted past a memory budget) and keeping them current through the reindex worker.
//!
//! With no model it is off, and says why; everything else in Holt works without it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};

use super::store::{ChunkStore, StoreError};
use super::vectors::{VectorError, VectorIndex};
use super::{EmbedError, Embedder};
use crate::index::IndexError;
use crate::store::PagePath;
use crate::wiki::{Wiki, WikiError};

/// The most passages one query may ask for.
pub const MAX_RESULTS: usize = 50;
/// Queries longer than this (in characters) are refused; the model reads 256 tokens anyway.
pub const MAX_QUERY_CHARS: usize = 2000;

/// Why a semantic search or reindex failed.
#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    /// Semantic search is off on this deployment; the message says why and how to turn it on.
    #[error("semantic search is off: {0}")]
    Off(String),
    /// The caller's request is not acceptable (empty query, `n` out of range).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Embed(EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vector(#[from] VectorError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Wiki(#[from] WikiError),
}

impl From<EmbedError> for SemanticError {
    /// A model that cannot be loaded turns semantic search off; the log has the details.
    fn from(err: EmbedError) -> Self {
        match err {
            EmbedError::Unavailable(_) => SemanticError::Off(MODEL_FAILED.into()),
            err => SemanticError::Embed(err),
        }
    }
}

/// What people are told when the model's files are there but do not load.
const MODEL_FAILED: &str = "the embedding model could not be loaded on this server (its operator \
                            will find why in the log)";

/// A passage found by meaning.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SemanticHit {
    pub path: String,
    pub title: String,
    /// The headings above the passage (`Setup > Linux`), empty at the top of a page.
    pub heading: String,
    /// The start of the passage.
    pub snippet: String,
    /// Cosine similarity to the query.
    pub score: f32,
}

/// How far a wiki's semantic index is behind its pages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReindexStatus {
    pub enabled: bool,
    /// Why it is off (empty when on).
    pub reason: String,
    pub model: String,
    /// Pages queued for (re-)embedding.
    pub pending: u64,
    pub pages: u64,
    pub chunks: u64,
}

/// The deployment's semantic search.
pub struct SemanticSearch {
    state: State,
}

enum State {
    Off { reason: String },
    On(Arc<Engine>),
}

/// Semantic search that is on: the embedders, the loaded indexes and the worker's to-do list.
pub(super) struct Engine {
    pub(super) model: String,
    /// Embeds pages (the worker's).
    pub(super) documents: Box<dyn Embedder>,
    /// Embeds queries: the same loaded model by default, which lets queries go first.
    pub(super) queries: Box<dyn Embedder>,
    cache: Mutex<Cache>,
    /// Wikis with queued pages, for the worker.
    pub(super) pending: Mutex<Pending>,
    pub(super) wake: Condvar,
}

#[derive(Default)]
pub(super) struct Pending {
    pub(super) wikis: HashMap<String, Arc<Wiki>>,
    pub(super) stopped: bool,
}

/// Loaded indexes by wiki slug, evicted least recently used past `budget` bytes.
struct Cache {
    entries: HashMap<String, Entry>,
    budget: usize,
    clock: u64,
}

struct Entry {
    /// The wiki instance the index belongs to: a wiki deleted and created again under the same
    /// name is another instance, and its index is loaded afresh.
    wiki: Weak<Wiki>,
    index: Arc<RwLock<VectorIndex>>,
    bytes: usize,
    used: u64,
}

/// The file a wiki's passages are stored in.
pub fn store_path(wiki_dir: &Path) -> PathBuf {
    wiki_dir.join("semantic.sqlite")
}

impl SemanticSearch {
    /// Semantic search switched off, for `reason` (shown to people who try it).
    pub fn off(reason: impl Into<String>) -> Self {
        SemanticSearch {
            state: State::Off {
                reason: reason.into(),
            },
        }
    }

    /// Semantic search with `model` (its name, recorded with every stored vector), the embedders
    /// of pages and of queries (two ways into one model, or two models), and `budget` bytes for
    /// loaded indexes.
    pub fn new(
        model: &str,
        documents: Box<dyn Embedder>,
        queries: Box<dyn Embedder>,
        budget: usize,
    ) -> Self {
        SemanticSearch {
            state: State::On(Arc::new(Engine {
                model: model.to_string(),
                documents,
                queries,
                cache: Mutex::new(Cache {
                    entries: HashMap::new(),
                    budget,
                    clock: 0,
                }),
                pending: Mutex::new(Pending::default()),
                wake: Condvar::new(),
            })),
        }
    }

    /// Whether semantic search is on.
    pub fn enabled(&self) -> bool {
        matches!(self.state, State::On(_))
    }

    pub(super) fn engine(&self) -> Result<&Arc<Engine>, SemanticError> {
        match &self.state {
            State::On(engine) => Ok(engine),
            State::Off { reason } => Err(SemanticError::Off(reason.clone())),
        }
    }

    /// The `n` passages of `wiki` closest in meaning to `query`, at most `max_per_page` from any
    /// one page, best first. Only pages that exist now are answered (a deleted page's passages
    /// may wait in the queue a moment).
    pub fn search(
        &self,
        wiki: &Arc<Wiki>,
        query: &str,
        n: usize,
        max_per_page: usize,
    ) -> Result<Vec<SemanticHit>, SemanticError> {
        let engine = self.engine()?;
        let query = query.trim();
        if query.is_empty() {
            return Err(SemanticError::Invalid("the query is empty".into()));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(SemanticError::Invalid(format!(
                "the query is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        if !(1..=MAX_RESULTS).contains(&n) {
            return Err(SemanticError::Invalid(format!(
                "n must be between 1 and {MAX_RESULTS}"
            )));
        }
        if max_per_page == 0 {
            return Err(SemanticError::Invalid(
                "max_per_page must be at least 1".into(),
            ));
        }
        let vector = engine
            .queries
            .embed(&[query])?
            .pop()
            .ok_or_else(|| EmbedError::Failed("the model gave no vector".into()))?;
        let index = engine.index(wiki)?;
        let hits = index.read().unwrap_or_else(|p| p.into_inner()).search(
            &vector,
            n,
            max_per_page,
            |page| PagePath::parse(page).is_ok_and(|p| wiki.exists(&p)),
        )?;
        Ok(hits
            .into_iter()
            .map(|hit| {
                let title = wiki
                    .index()
                    .page(&hit.page)
                    .ok()
                    .flatten()
                    .map_or_else(|| hit.page.clone(), |row| row.title);
                SemanticHit {
                    title,
                    path: hit.page,
                    heading: hit.heading,
                    snippet: hit.text,
                    score: hit.score,
                }
            })
            .collect())
    }

    /// The state of `wiki`'s semantic index and queue.
    pub fn status(&self, wiki: &Wiki) -> Result<ReindexStatus, SemanticError> {
        let pending = wiki.index().semantic_queue_len()?;
        let engine = match &self.state {
            State::Off { reason } => {
                return Ok(ReindexStatus {
                    enabled: false,
                    reason: reason.clone(),
                    model: String::new(),
                    pending,
                    pages: 0,
                    chunks: 0,
                });
            }
            State::On(engine) => engine,
        };
        if engine.queries.unavailable().is_some() || engine.documents.unavailable().is_some() {
            return Ok(ReindexStatus {
                enabled: false,
                reason: MODEL_FAILED.into(),
                model: engine.model.clone(),
                pending,
                pages: 0,
                chunks: 0,
            });
        }
        let (pages, chunks) = if store_path(wiki.dir()).exists() {
            engine.open_store(wiki)?.counts()?
        } else {
            (0, 0)
        };
        // Opening may have queued every page (a store of another model).
        let pending = wiki.index().semantic_queue_len()?;
        Ok(ReindexStatus {
            enabled: true,
            reason: String::new(),
            model: engine.model.clone(),
            pending,
            pages,
            chunks,
        })
    }

    /// Bytes of vector indexes loaded now, and how many wikis they belong to.
    pub fn memory(&self) -> (usize, usize) {
        match &self.state {
            State::Off { .. } => (0, 0),
            State::On(engine) => {
                let cache = engine.cache();
                (
                    cache.entries.values().map(|e| e.bytes).sum(),
                    cache.entries.len(),
                )
            }
        }
    }
}

impl Engine {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index of `wiki`, loaded from its store if it is not in memory.
    fn index(&self, wiki: &Arc<Wiki>) -> Result<Arc<RwLock<VectorIndex>>, SemanticError> {
        // Loading happens under the cache lock, as do the worker's updates: a load can never
        // miss an update made while it read the store.
        let mut cache = self.cache();
        cache.clock += 1;
        let clock = cache.clock;
        if let Some(entry) = cache.entries.get_mut(wiki.slug())
            && std::ptr::eq(entry.wiki.as_ptr(), Arc::as_ptr(wiki))
        {
            entry.used = clock;
            return Ok(entry.index.clone());
        }
        let store = self.open_store(wiki)?;
        let index = store.load(self.documents.dim())?;
        let bytes = index.memory_bytes();
        let index = Arc::new(RwLock::new(index));
        cache.entries.insert(
            wiki.slug().to_string(),
            Entry {
                wiki: Arc::downgrade(wiki),
                index: index.clone(),
                bytes,
                used: clock,
            },
        );
        cache.evict(wiki.slug());
        Ok(index)
    }

    /// Opens `wiki`'s store; one that holds nothing it can vouch for (new, lost, of another
    /// model) gets every page queued, whoever opens it first.
    pub(super) fn open_store(&self, wiki: &Wiki) -> Result<ChunkStore, SemanticError> {
        let (store, fresh) = ChunkStore::open(&store_path(wiki.dir()), &self.model)?;
        if fresh {
            wiki.index().semantic_enqueue_all()?;
        }
        Ok(store)
    }

    /// Applies a change to `wiki`'s index if it is loaded (otherwise the next load reads it
    /// from the store, where the change already is).
    pub(super) fn update(&self, wiki: &Arc<Wiki>, change: impl FnOnce(&mut VectorIndex)) {
        let mut cache = self.cache();
        let Some(entry) = cache.entries.get_mut(wiki.slug()) else {
            return;
        };
        if !std::ptr::eq(entry.wiki.as_ptr(), Arc::as_ptr(wiki)) {
            cache.entries.remove(wiki.slug());
            return;
        }
        let mut index = entry.index.write().unwrap_or_else(|p| p.into_inner());
        change(&mut index);
        entry.bytes = index.memory_bytes();
        drop(index);
        cache.evict(wiki.slug());
    }

    /// Forgets `wiki`'s loaded index (its store was rebuilt).
    pub(super) fn unload(&self, wiki: &Wiki) {
        self.cache().entries.remove(wiki.slug());
    }
}

impl Cache {
    /// Drops least recently used indexes until the rest fit the budget; `keep` (the one just
    /// used) stays even if it alone is larger.
    fn evict(&mut self, keep: &str) {
        let mut total: usize = self.entries.values().map(|e| e.bytes).sum();
        while total > self.budget {
            let Some(victim) = self
                .entries
                .iter()
                .filter(|(slug, _)| slug.as_str() != keep)
                .min_by_key(|(_, e)| e.used)
                .map(|(slug, _)| slug.clone())
            else {
                break;
            };
            if let Some(entry) = self.entries.remove(&victim) {
                total -= entry.bytes;
                tracing::debug!(wiki = %victim, bytes = entry.bytes, "semantic index unloaded");
            }
        }
    }
}
