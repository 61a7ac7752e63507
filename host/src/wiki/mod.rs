//! `Wiki`: one wiki's pages, history and search, over its `PageStore` and `WikiIndex`.
//!
//! This is the API every front end uses (web UI, REST and MCP plugins, CLI). Reads are answered
//! by the index and a cache of rendered pages; writes commit to git and then sync the index, in
//! the same call, so a write that returned is both durable and visible.

mod diff;
mod write;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use gix::ObjectId;

pub use diff::{BlameLine, DiffLine, DiffLineKind, FileDiff};
pub use write::{Attachment, SaveOutcome};

use crate::index::{
    CommitRow, IndexError, PageRow, Revision, SearchHit, SyncProgress, SyncStats, WikiIndex,
};
pub use crate::index::{PageEvent, PageEventKind};
use crate::render::{NoHooks, RenderHooks, Rendered, Renderer};
use crate::semantic::SemanticSearch;
use crate::store::{
    AttachmentName, Author, CommitSpec, Committed, PagePath, PageStore, PathError, StoreError,
};

/// Why a wiki operation failed; mapped to an HTTP status once, in the web layer.
#[derive(Debug, thiserror::Error)]
pub enum WikiError {
    #[error("invalid page name: {0}")]
    InvalidPath(#[from] PathError),
    #[error("{0} not found")]
    NotFound(String),
    /// The page changed since the revision the writer started from.
    #[error("{message}")]
    Conflict {
        message: String,
        current: Option<String>,
    },
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    /// A write would take the wiki past its tier's limit.
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl From<StoreError> for WikiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => WikiError::NotFound(what),
            other => WikiError::Store(other),
        }
    }
}

pub type Result<T, E = WikiError> = std::result::Result<T, E>;

/// Size limits of one wiki.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_page_bytes: u64,
    pub max_attachment_bytes: u64,
    /// Most pages the wiki may hold (a tier limit), if any.
    pub max_pages: Option<u64>,
    /// Most bytes (pages and attachments at HEAD) the wiki may hold, if any.
    pub max_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_page_bytes: 1 << 20,
            max_attachment_bytes: 10 << 20,
            max_pages: None,
            max_bytes: None,
        }
    }
}

/// A page at HEAD, ready to show.
#[derive(Debug, Clone)]
pub struct PageView {
    pub row: PageRow,
    pub rendered: Arc<Rendered>,
}

/// A page as it was at some revision.
#[derive(Debug, Clone)]
pub struct PageAt {
    pub revision: Revision,
    pub content: String,
}

/// One commit with the diff of every file it changed.
#[derive(Debug, Clone)]
pub struct CommitDetail {
    pub commit: CommitRow,
    pub parent: Option<String>,
    pub files: Vec<FileDiff>,
}

/// Rendered pages are cached by content and by the set of pages that exist (which decides how
/// links render); the key is (blob id, page-set generation).
/// With render hooks, the key also holds the hooks' own key (their output may depend on the
/// viewer and on other pages).
type RenderCache = quick_cache::sync::Cache<(String, u64, String), Arc<Rendered>>;

pub struct Wiki {
    slug: String,
    dir: PathBuf,
    store: PageStore,
    index: WikiIndex,
    renderer: Arc<Renderer>,
    limits: Limits,
    /// Case-folded keys of the pages at HEAD.
    page_keys: RwLock<Arc<HashSet<String>>>,
    /// Bumped when the set of pages changes (links to pages may render differently).
    generation: AtomicU64,
    /// Bumped after every change to the index, once it is visible to readers.
    version: AtomicU64,
    rendered: RenderCache,
    /// Told about the page changes of every write, after it is visible.
    observer: std::sync::OnceLock<Observer>,
    /// Serializes writes: the quota check, the commit and the index sync happen as one.
    write_lock: std::sync::Mutex<()>,
    /// The deployment's semantic search, once attached.
    semantic: std::sync::OnceLock<Arc<SemanticSearch>>,
}

/// Told about every write of a wiki and its page changes.
type Observer = Box<dyn Fn(&Wiki, Vec<PageEvent>) + Send + Sync>;

/// The page every wiki opens on.
pub const HOME: &str = "Home";

impl Wiki {
    /// Opens the wiki stored in `dir` (creating an empty one). Call `sync` to bring its index
    /// up to HEAD before serving it.
    pub fn open(slug: &str, dir: &Path, renderer: Arc<Renderer>, limits: Limits) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(StoreError::from)?;
        let store = PageStore::open_or_init(&dir.join("repo.git"))?;
        let index = WikiIndex::open(&dir.join("index.sqlite"))?;
        let wiki = Wiki {
            slug: slug.to_string(),
            dir: dir.to_path_buf(),
            store,
            index,
            renderer,
            limits,
            page_keys: RwLock::new(Arc::new(HashSet::new())),
            generation: AtomicU64::new(0),
            version: AtomicU64::new(0),
            rendered: RenderCache::new(2048),
            observer: std::sync::OnceLock::new(),
            write_lock: std::sync::Mutex::new(()),
            semantic: std::sync::OnceLock::new(),
        };
        wiki.reload_page_keys()?;
        Ok(wiki)
    }

    pub fn slug(&self) -> &str {
        &self.slug
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn store(&self) -> &PageStore {
        &self.store
    }

    pub fn index(&self) -> &WikiIndex {
        &self.index
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// Brings the index up to HEAD (after a write, or when git changed underneath).
    pub fn sync(&self, progress: &mut dyn FnMut(SyncProgress)) -> Result<SyncStats> {
        let stats = self.index.sync(&self.store, &self.renderer, progress)?;
        self.synced(stats)
    }

    /// Brings the index to the commit a write just made, from what the write knows.
    fn sync_committed(&self, committed: &Committed, spec: &CommitSpec) -> Result<SyncStats> {
        let stats = self
            .index
            .sync_committed(&self.store, &self.renderer, committed, spec)?;
        self.synced(stats)
    }

    /// What follows every sync: warnings, the page names, the version caches key on.
    fn synced(&self, stats: SyncStats) -> Result<SyncStats> {
        for skipped in &stats.skipped {
            tracing::warn!(wiki = %self.slug, file = %skipped, "not indexed: the file name is not a valid page name");
        }
        if stats.existence_changed {
            self.reload_page_keys()?;
        }
        if stats.commits > 0 || stats.rebuilt {
            self.version.fetch_add(1, Ordering::Release);
        }
        Ok(stats)
    }

    /// Sets the function told about every write and its page changes (once; later calls are
    /// ignored). It must return quickly: it runs on the writer's thread.
    pub fn on_change(&self, observer: impl Fn(&Wiki, Vec<PageEvent>) + Send + Sync + 'static) {
        let _ = self.observer.set(Box::new(observer));
    }

    /// Changes whenever what this wiki shows may have changed: anything derived from the wiki
    /// can be cached under its version, and is never served stale.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Tells caches that something derived from the wiki changed without a write (its
    /// semantic index caught up).
    pub fn touch(&self) {
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Gives the wiki the deployment's semantic search (once; later calls are ignored).
    pub fn attach_semantic(&self, semantic: Arc<SemanticSearch>) {
        let _ = self.semantic.set(semantic);
    }

    /// The deployment's semantic search, if one was attached.
    pub fn semantic(&self) -> Option<&Arc<SemanticSearch>> {
        self.semantic.get()
    }

    /// Drops the index and rebuilds it from the first commit.
    pub fn reindex(&self, progress: &mut dyn FnMut(SyncProgress)) -> Result<SyncStats> {
        self.index.clear()?;
        let stats = self.sync(progress)?;
        self.reload_page_keys()?;
        self.version.fetch_add(1, Ordering::Release);
        Ok(stats)
    }

    fn reload_page_keys(&self) -> Result<()> {
        let keys: HashSet<String> = self.index.page_keys()?.into_iter().collect();
        *self.page_keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Whether a page exists at HEAD (case-insensitive).
    pub fn exists(&self, page: &PagePath) -> bool {
        self.page_keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&page.key())
    }

    /// Renders Markdown as it would appear on a page of this wiki.
    pub fn render(&self, markdown: &str) -> Rendered {
        let keys = self
            .page_keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.renderer
            .render(markdown, &|p: &PagePath| keys.contains(&p.key()))
    }

    /// Renders Markdown of `page` as it would appear, through the render hooks.
    pub fn render_with(
        &self,
        page: &PagePath,
        markdown: &str,
        hooks: &dyn RenderHooks,
    ) -> Rendered {
        if !hooks.active() {
            return self.render(markdown);
        }
        let markdown = hooks.preprocess(page.as_str(), markdown.to_string());
        let mut rendered = self.render(&markdown);
        let html = hooks.postprocess(page.as_str(), std::mem::take(&mut rendered.html));
        // Hooks may add markup, never scripts: their output is sanitized again.
        rendered.html = self.renderer.clean(&html);
        rendered
    }

    /// The page at HEAD, rendered (from cache when its content and the page set are unchanged).
    pub fn view(&self, page: &PagePath) -> Result<PageView> {
        self.view_with(page, &NoHooks)
    }

    /// The page at HEAD, rendered through the render hooks.
    pub fn view_with(&self, page: &PagePath, hooks: &dyn RenderHooks) -> Result<PageView> {
        let row = self.page(page)?;
        let key = (
            row.blob.clone(),
            self.generation.load(Ordering::Acquire),
            hooks.cache_key(),
        );
        let rendered = self
            .rendered
            .get_or_insert_with(&key, || -> Result<Arc<Rendered>> {
                let content = self.read_blob_text(&row.blob)?;
                let shown = PagePath::parse(&row.path).unwrap_or_else(|_| page.clone());
                Ok(Arc::new(self.render_with(&shown, &content, hooks)))
            })?;
        Ok(PageView { row, rendered })
    }

    /// The index row of a page at HEAD.
    pub fn page(&self, page: &PagePath) -> Result<PageRow> {
        self.index
            .page(page.as_str())?
            .ok_or_else(|| WikiError::NotFound(format!("page '{page}'")))
    }

    /// The Markdown of a page at HEAD.
    pub fn source(&self, page: &PagePath) -> Result<(PageRow, String)> {
        let row = self.page(page)?;
        let content = self.read_blob_text(&row.blob)?;
        Ok((row, content))
    }

    /// The page as it was at revision `rev` (a commit id or unique prefix).
    pub fn at_revision(&self, page: &PagePath, rev: &str) -> Result<PageAt> {
        let commit = self.commit(rev)?;
        let revision = self
            .index
            .revision_at(page.as_str(), &commit)?
            .filter(|r| r.blob.is_some())
            .ok_or_else(|| {
                WikiError::NotFound(format!("page '{page}' at revision {}", short(&commit.id)))
            })?;
        let content = self.read_blob_text(revision.blob.as_deref().unwrap_or_default())?;
        Ok(PageAt { revision, content })
    }

    /// A commit by id or unique prefix.
    pub fn commit(&self, rev: &str) -> Result<CommitRow> {
        self.index
            .find_commit(rev)?
            .ok_or_else(|| WikiError::NotFound(format!("revision '{rev}'")))
    }

    /// A page's history, newest first, and the total number of entries.
    pub fn history(
        &self,
        page: &PagePath,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Revision>, u64)> {
        let entries = self.index.history(page.as_str(), limit, offset)?;
        if entries.is_empty() && offset == 0 {
            return Err(WikiError::NotFound(format!("page '{page}'")));
        }
        Ok((entries, self.index.history_len(page.as_str())?))
    }

    /// Full-text search.
    pub fn search(&self, query: &str, limit: u32, offset: u32) -> Result<Vec<SearchHit>> {
        Ok(self.index.search(query, limit, offset)?)
    }

    /// The attachments of a page at HEAD or at a revision.
    pub fn attachments(&self, page: &PagePath, rev: Option<&str>) -> Result<Vec<Attachment>> {
        let commit = match rev {
            Some(rev) => Some(self.commit_id(rev)?),
            None => self.store.head()?,
        };
        let Some(commit) = commit else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Attachment> = self
            .store
            .list_dir(commit, page.attachment_dir())?
            .into_iter()
            .filter(|e| !e.is_dir && !e.name.to_ascii_lowercase().ends_with(".md"))
            .map(|e| Attachment {
                name: e.name,
                size: e.size,
                blob: e.blob.to_string(),
            })
            .collect();
        out.sort_by_key(|a| a.name.to_lowercase());
        Ok(out)
    }

    /// The bytes of one attachment at HEAD or at a revision.
    pub fn attachment(
        &self,
        page: &PagePath,
        name: &AttachmentName,
        rev: Option<&str>,
    ) -> Result<Vec<u8>> {
        let commit = match rev {
            Some(rev) => self.commit_id(rev)?,
            None => self
                .store
                .head()?
                .ok_or_else(|| WikiError::NotFound("attachment".into()))?,
        };
        match self.store.read_at(commit, &page.attachment_file(name))? {
            Some((_, bytes)) => Ok(bytes),
            None => Err(WikiError::NotFound(format!(
                "attachment '{}' of page '{page}'",
                name.as_str()
            ))),
        }
    }

    fn commit_id(&self, rev: &str) -> Result<ObjectId> {
        let row = self.commit(rev)?;
        ObjectId::from_hex(row.id.as_bytes())
            .map_err(|_| WikiError::NotFound(format!("revision '{rev}'")))
    }

    fn read_blob_text(&self, blob: &str) -> Result<String> {
        let id = ObjectId::from_hex(blob.as_bytes())
            .map_err(|_| WikiError::NotFound(format!("object {blob}")))?;
        let bytes = self.store.read_blob(id)?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// The author recorded for writes by `name` (used by front ends that only know a name).
    pub fn author(name: &str, email: &str) -> Author {
        Author {
            name: name.to_string(),
            email: email.to_string(),
        }
    }
}

/// The short form of a commit id shown to people.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
}
