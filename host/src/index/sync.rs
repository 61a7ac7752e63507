//! Bringing the index up to HEAD: record new commits and their changed files, then re-read the
//! pages they touched. Used after every write, at start-up, by `holt reindex` and `holt import`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use gix::ObjectId;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{Result, WikiIndex};
use crate::render::Renderer;
use crate::store::{
    ChangeKind, CommitMeta, CommitSpec, Committed, Edit, FileChange, PagePath, PageStore,
};

/// Progress of a sync, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncProgress {
    /// `done` of `total` new commits recorded.
    Commits { done: usize, total: usize },
    /// `done` of `total` touched pages re-read.
    Pages { done: usize, total: usize },
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub commits: usize,
    pub pages: usize,
    /// The index did not continue from HEAD's history and was rebuilt from the first commit.
    pub rebuilt: bool,
    /// Pages were added, deleted or renamed, so links elsewhere may now resolve differently.
    pub existence_changed: bool,
    /// Files that could not be indexed as pages (their names are not valid page names).
    pub skipped: Vec<String>,
    /// The page changes of the new commits, oldest first (left empty for large syncs such as
    /// imports and rebuilds, which are not news).
    pub events: Vec<PageEvent>,
}

/// Syncs of more commits than this record no page events.
const MAX_EVENT_COMMITS: usize = 16;

/// A page change made by a commit, for plugins' page-event hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageEvent {
    /// The page's path (after the change, for renames).
    pub path: String,
    pub revision: String,
    pub author: String,
    pub kind: PageEventKind,
}

/// What happened to the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageEventKind {
    Saved { created: bool },
    Deleted,
    Renamed { from: String },
}

/// The last commit that touched a page within one sync.
struct Touched {
    path: String,
    revision: ObjectId,
    time: i64,
}

impl WikiIndex {
    /// Brings the index up to the repository's HEAD.
    pub fn sync(
        &self,
        store: &PageStore,
        renderer: &Renderer,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<SyncStats> {
        let mut conn = self.writer();
        let head = store.head()?;
        let indexed: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'head'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let mut stats = SyncStats::default();
        let Some(head) = head else {
            if indexed.is_some() {
                drop(conn);
                self.clear()?;
            }
            return Ok(stats);
        };
        if indexed.as_deref() == Some(head.to_string().as_str()) {
            return Ok(stats);
        }
        let from = indexed
            .as_deref()
            .and_then(|hex| ObjectId::from_hex(hex.as_bytes()).ok())
            .filter(|id| {
                store
                    .resolve_commit(&id.to_string())
                    .ok()
                    .flatten()
                    .is_some()
            });
        let mut commits = store.commits_between(from, head)?;
        let tx = conn.transaction()?;
        if indexed.is_some() && (from.is_none() || commits.is_empty() || !continues(&tx, &commits)?)
        {
            // History was rewritten or rewound under us (or the old head vanished): start over.
            tx.execute_batch(
                "DELETE FROM links; DELETE FROM pages_fts; DELETE FROM pages; DELETE FROM changes;
                 DELETE FROM commits; DELETE FROM files; DELETE FROM meta;",
            )?;
            commits = store.commits_between(None, head)?;
            stats.rebuilt = true;
        }
        let want_events = !stats.rebuilt && commits.len() <= MAX_EVENT_COMMITS;
        stats.existence_changed = stats.rebuilt;
        let source = AtHead { store, head };
        apply(
            &tx,
            renderer,
            &commits,
            &source,
            progress,
            want_events,
            &mut stats,
        )?;
        tx.commit()?;
        Ok(stats)
    }

    /// Syncs the commit `spec` just made. When the index stood at its parent, as it does after
    /// every write, nothing is read back from git: the changes and contents are the commit's
    /// own. Otherwise (another process wrote in between) it is a full `sync`.
    pub fn sync_committed(
        &self,
        store: &PageStore,
        renderer: &Renderer,
        committed: &Committed,
        spec: &CommitSpec,
    ) -> Result<SyncStats> {
        let mut conn = self.writer();
        // Read and written in one transaction: another process syncing the same index cannot
        // record the commit in between.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let indexed: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'head'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let parents = &committed.meta.parents;
        if parents.len() > 1 || indexed != parents.first().map(ObjectId::to_string) {
            drop(tx);
            drop(conn);
            return self.sync(store, renderer, &mut |_| {});
        }
        let mut stats = SyncStats::default();
        let source = JustCommitted {
            committed,
            spec,
            repository: AtHead {
                store,
                head: committed.meta.id,
            },
        };
        let commits = std::slice::from_ref(&committed.meta);
        apply(
            &tx,
            renderer,
            commits,
            &source,
            &mut |_| {},
            true,
            &mut stats,
        )?;
        tx.commit()?;
        Ok(stats)
    }
}

/// Where a sync reads what new commits changed, and the contents of the pages they touched.
trait Source {
    /// The files `commit` changed, as `PageStore::changes` gives them.
    fn changes(&self, commit: &CommitMeta) -> Result<Vec<FileChange>>;
    /// The size of `blob`, the new content of `file`.
    fn size(&self, file: &str, blob: ObjectId) -> Result<u64>;
    /// The blob and content of `file` in the commit synced to.
    fn read(&self, file: &str) -> Result<Option<(ObjectId, Cow<'_, [u8]>)>>;
}

/// The repository, for any history.
struct AtHead<'a> {
    store: &'a PageStore,
    head: ObjectId,
}

impl Source for AtHead<'_> {
    fn changes(&self, commit: &CommitMeta) -> Result<Vec<FileChange>> {
        Ok(self.store.changes(commit)?)
    }

    fn size(&self, _file: &str, blob: ObjectId) -> Result<u64> {
        Ok(self.store.blob_size(blob)?)
    }

    fn read(&self, file: &str) -> Result<Option<(ObjectId, Cow<'_, [u8]>)>> {
        Ok(self
            .store
            .read_at(self.head, file)?
            .map(|(blob, bytes)| (blob, Cow::Owned(bytes))))
    }
}

/// The commit just made: its changes and the contents it wrote are at hand; the repository
/// (at that commit) answers only for what the edits do not hold.
struct JustCommitted<'a> {
    committed: &'a Committed,
    spec: &'a CommitSpec,
    repository: AtHead<'a>,
}

impl JustCommitted<'_> {
    /// The content the commit's last edit of `file` wrote (`None` if it removed the file or
    /// did not touch it).
    fn written(&self, file: &str) -> Option<&[u8]> {
        let last = self.spec.edits.iter().rev().find(|edit| match edit {
            Edit::Put { file: f, .. } | Edit::Remove { file: f } => f == file,
        });
        match last {
            Some(Edit::Put { content, .. }) => Some(content),
            _ => None,
        }
    }
}

impl Source for JustCommitted<'_> {
    fn changes(&self, _commit: &CommitMeta) -> Result<Vec<FileChange>> {
        Ok(self.committed.changes.clone())
    }

    fn size(&self, file: &str, blob: ObjectId) -> Result<u64> {
        match self.written(file) {
            Some(content) => Ok(content.len() as u64),
            None => self.repository.size(file, blob),
        }
    }

    fn read(&self, file: &str) -> Result<Option<(ObjectId, Cow<'_, [u8]>)>> {
        let changed = self.committed.changes.iter().find(|c| c.path == file);
        match (self.written(file), changed.and_then(|c| c.blob)) {
            (Some(content), Some(blob)) => Ok(Some((blob, Cow::Borrowed(content)))),
            _ => self.repository.read(file),
        }
    }
}

/// Records `commits` (parents first) in the open transaction, re-reads the pages they touched
/// and moves the index's HEAD to the last of them.
fn apply(
    tx: &Transaction<'_>,
    renderer: &Renderer,
    commits: &[CommitMeta],
    source: &dyn Source,
    progress: &mut dyn FnMut(SyncProgress),
    want_events: bool,
    stats: &mut SyncStats,
) -> Result<()> {
    let Some(head) = commits.last().map(|c| c.id) else {
        return Ok(());
    };
    let (touched, existence_changed) = record_commits(
        tx,
        source,
        commits,
        progress,
        want_events.then_some(&mut stats.events),
    )?;
    stats.existence_changed |= existence_changed;
    stats.commits = commits.len();
    let total = touched.len();
    for (done, touched) in touched.into_values().enumerate() {
        match PagePath::from_file(&format!("{}.md", touched.path)) {
            Some(page) => match source.read(&page.file())? {
                Some((blob, bytes)) => {
                    let text = String::from_utf8_lossy(&bytes);
                    upsert_page(tx, renderer, &page, &text, blob, &touched)?;
                }
                None => delete_page(tx, &touched.path)?,
            },
            None => {
                delete_page(tx, &touched.path)?;
                stats.skipped.push(format!("{}.md", touched.path));
            }
        }
        stats.pages += 1;
        progress(SyncProgress::Pages {
            done: done + 1,
            total,
        });
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('head', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [head.to_string()],
    )?;
    Ok(())
}

/// True if every parent of the new commits is either among them or already indexed.
fn continues(tx: &Transaction<'_>, commits: &[CommitMeta]) -> Result<bool> {
    let new: HashSet<ObjectId> = commits.iter().map(|c| c.id).collect();
    let mut stmt = tx.prepare_cached("SELECT 1 FROM commits WHERE id = ?1")?;
    for commit in commits {
        for parent in &commit.parents {
            if !new.contains(parent) && !stmt.exists([parent.to_string()])? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Inserts the commits and their changed files; returns the pages they touched (by key), and
/// whether any page was added, deleted or renamed.
fn record_commits(
    tx: &Transaction<'_>,
    source: &dyn Source,
    commits: &[CommitMeta],
    progress: &mut dyn FnMut(SyncProgress),
    mut events: Option<&mut Vec<PageEvent>>,
) -> Result<(HashMap<String, Touched>, bool)> {
    let mut insert_commit = tx.prepare_cached(
        "INSERT INTO commits (id, author_name, author_email, time, message) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut insert_change = tx.prepare_cached(
        "INSERT INTO changes (seq, path, old_path, kind, page, blob) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut follow_rename = tx.prepare_cached("UPDATE changes SET page = ?2 WHERE page = ?1")?;
    let mut set_file = tx.prepare_cached(
        "INSERT INTO files (path, size) VALUES (?1, ?2) ON CONFLICT (path) DO UPDATE SET size = excluded.size",
    )?;
    let mut drop_file = tx.prepare_cached("DELETE FROM files WHERE path = ?1")?;
    let mut touched: HashMap<String, Touched> = HashMap::new();
    let mut existence_changed = false;
    let total = commits.len();
    for (done, commit) in commits.iter().enumerate() {
        insert_commit.execute(params![
            commit.id.to_string(),
            commit.author_name,
            commit.author_email,
            commit.time,
            commit.message
        ])?;
        let seq = tx.last_insert_rowid();
        for change in source.changes(commit)? {
            if let ChangeKind::Renamed { from } = &change.kind {
                drop_file.execute([from])?;
            }
            match change.blob {
                Some(blob) => set_file.execute(params![
                    change.path,
                    source.size(&change.path, blob)? as i64
                ])?,
                None => drop_file.execute([&change.path])?,
            };
            let page = change.path.strip_suffix(".md");
            let (kind, old_path) = match &change.kind {
                ChangeKind::Added => ("A", None),
                ChangeKind::Modified => ("M", None),
                ChangeKind::Deleted => ("D", None),
                ChangeKind::Renamed { from } => ("R", Some(from.as_str())),
            };
            if let (Some(page), Some(old_page)) =
                (page, old_path.and_then(|p| p.strip_suffix(".md")))
            {
                follow_rename.execute(params![old_page, page])?;
                let mark = Touched {
                    path: old_page.to_string(),
                    revision: commit.id,
                    time: commit.time,
                };
                touched.insert(old_page.to_lowercase(), mark);
            }
            insert_change.execute(params![
                seq,
                change.path,
                old_path,
                kind,
                page,
                change.blob.map(|b| b.to_string())
            ])?;
            if let (Some(events), Some(page)) = (events.as_deref_mut(), page) {
                let kind = match &change.kind {
                    ChangeKind::Added => PageEventKind::Saved { created: true },
                    ChangeKind::Modified => PageEventKind::Saved { created: false },
                    ChangeKind::Deleted => PageEventKind::Deleted,
                    ChangeKind::Renamed { from } => PageEventKind::Renamed {
                        from: from.strip_suffix(".md").unwrap_or(from).to_string(),
                    },
                };
                events.push(PageEvent {
                    path: page.to_string(),
                    revision: commit.id.to_string(),
                    author: commit.author_name.clone(),
                    kind,
                });
            }
            if let Some(page) = page {
                existence_changed |= kind != "M";
                let mark = Touched {
                    path: page.to_string(),
                    revision: commit.id,
                    time: commit.time,
                };
                touched.insert(page.to_lowercase(), mark);
            }
        }
        progress(SyncProgress::Commits {
            done: done + 1,
            total,
        });
    }
    Ok((touched, existence_changed))
}

fn upsert_page(
    tx: &Transaction<'_>,
    renderer: &Renderer,
    page: &PagePath,
    text: &str,
    blob: ObjectId,
    touched: &Touched,
) -> Result<()> {
    enqueue_semantic(tx, &touched.path)?;
    let facts = renderer.analyze(page, text);
    let title = facts
        .title
        .clone()
        .unwrap_or_else(|| page.name().to_string());
    let headings = serde_json::to_string(&facts.headings).unwrap_or_else(|_| "[]".into());
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO pages (path, title, size, blob, revision, updated, headings, tags)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (path) DO UPDATE SET path = excluded.path, title = excluded.title,
                 size = excluded.size, blob = excluded.blob, revision = excluded.revision,
                 updated = excluded.updated, headings = excluded.headings, tags = excluded.tags
             RETURNING id",
        )?
        .query_row(
            params![
                page.as_str(),
                title,
                text.len() as i64,
                blob.to_string(),
                touched.revision.to_string(),
                touched.time,
                headings,
                serde_json::to_string(&facts.tags).unwrap_or_else(|_| "[]".into())
            ],
            |r| r.get(0),
        )?;
    update_links(tx, page.as_str(), &facts.links)?;
    tx.prepare_cached("DELETE FROM pages_fts WHERE rowid = ?1")?
        .execute([id])?;
    tx.prepare_cached("INSERT INTO pages_fts (rowid, title, body) VALUES (?1, ?2, ?3)")?
        .execute(params![id, title, facts.text])?;
    Ok(())
}

/// Makes the page's outgoing links `links`, writing only the rows that change: an edit rarely
/// changes them, and every row written costs a page of the index's log.
fn update_links(tx: &Transaction<'_>, src: &str, links: &[PagePath]) -> Result<()> {
    // As the table's collation compares them: without regard to case, the first one kept.
    let mut wanted: HashMap<String, &str> = HashMap::new();
    for link in links {
        wanted
            .entry(link.as_str().to_lowercase())
            .or_insert(link.as_str());
    }
    let stored: Vec<(String, String)> = tx
        .prepare_cached("SELECT src, dst FROM links WHERE src = ?1")?
        .query_map([src], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut kept = HashSet::new();
    if stored.iter().all(|(s, _)| s == src) {
        let mut delete = tx.prepare_cached("DELETE FROM links WHERE src = ?1 AND dst = ?2")?;
        for (_, dst) in &stored {
            let key = dst.to_lowercase();
            if wanted.get(&key) == Some(&dst.as_str()) {
                kept.insert(key);
            } else {
                delete.execute([src, dst.as_str()])?;
            }
        }
    } else {
        // The page's name changed case: every row names it anew.
        tx.prepare_cached("DELETE FROM links WHERE src = ?1")?
            .execute([src])?;
    }
    let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO links (src, dst) VALUES (?1, ?2)")?;
    for (key, link) in &wanted {
        if !kept.contains(key) {
            insert.execute([src, link])?;
        }
    }
    Ok(())
}

fn delete_page(tx: &Transaction<'_>, path: &str) -> Result<()> {
    enqueue_semantic(tx, path)?;
    let id: Option<i64> = tx
        .prepare_cached("DELETE FROM pages WHERE path = ?1 RETURNING id")?
        .query_row([path], |r| r.get(0))
        .optional()?;
    if let Some(id) = id {
        tx.prepare_cached("DELETE FROM pages_fts WHERE rowid = ?1")?
            .execute([id])?;
        tx.prepare_cached("DELETE FROM links WHERE src = ?1")?
            .execute([path])?;
    }
    Ok(())
}

/// Tells the semantic index that a page changed (see `semantic_queue` in the schema).
pub(super) fn enqueue_semantic(tx: &Transaction<'_>, path: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO semantic_queue (path, seq)
         VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM semantic_queue))
         ON CONFLICT (path) DO UPDATE SET seq = excluded.seq",
    )?
    .execute([path])?;
    Ok(())
}
