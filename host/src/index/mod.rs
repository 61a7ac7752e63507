//! `WikiIndex`: the derived SQLite index of one wiki (pages, revisions, links, full-text).
//!
//! Git is the source of truth; this index answers every page view, history, backlink and search
//! query without walking git. It is brought up to date by `sync` (see `sync.rs`), the one code path
//! shared by every write, the start-up catch-up, `holt reindex` and `holt import`.

mod queue;
mod schema;
mod search;
pub mod sync;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{self, DbError, Pool};
use crate::render::Heading;

pub use queue::QueuedPage;
pub use sync::{PageEvent, PageEventKind, SyncProgress, SyncStats};

/// Errors of the index; all of them are internal (bad input is refused before reaching it).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("index: {0}")]
    Store(#[from] crate::store::StoreError),
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// A page as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PageRow {
    pub path: String,
    pub title: String,
    pub size: u64,
    pub blob: String,
    /// The last commit that changed the page.
    pub revision: String,
    /// When that commit was made (Unix seconds).
    pub updated: i64,
    pub headings: Vec<Heading>,
    /// Tags and categories from the page's front matter.
    pub tags: Vec<String>,
}

/// A commit as listed in the changelog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitRow {
    pub seq: i64,
    pub id: String,
    pub author_name: String,
    pub author_email: String,
    pub time: i64,
    pub message: String,
}

/// One entry of a page's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Revision {
    pub commit: CommitRow,
    /// The file as it was named at that commit (pages keep their history across renames).
    pub path: String,
    pub old_path: Option<String>,
    /// `A`dded, `M`odified, `D`eleted or `R`enamed.
    pub kind: String,
    pub blob: Option<String>,
}

/// A changed file of a commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangedFile {
    pub path: String,
    pub old_path: Option<String>,
    pub kind: String,
}

/// A full-text search hit; `snippet` and `title_html` are escaped HTML with `<mark>` highlights.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SearchHit {
    pub path: String,
    pub title: String,
    pub title_html: String,
    pub snippet: String,
}

/// The index of one wiki.
pub struct WikiIndex {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Pool,
}

impl WikiIndex {
    /// Opens (or creates) the index at `path`; an index of an older schema is discarded, since
    /// it can always be rebuilt from git.
    pub fn open(path: &Path) -> Result<Self> {
        if path.exists() && schema::stored_version(path)? != schema::VERSION {
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", path.display()));
                let _ = std::fs::remove_file(file);
            }
        }
        let conn = db::open(path)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            conn.execute_batch(schema::SCHEMA)?;
            conn.pragma_update(None, "user_version", schema::VERSION)?;
        }
        Ok(WikiIndex {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            readers: Pool::new(path),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reader(&self) -> Result<db::PooledConn<'_>> {
        Ok(self.readers.get()?)
    }

    /// The commit the index reflects, if any.
    pub fn indexed_head(&self) -> Result<Option<String>> {
        let conn = self.reader()?;
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = 'head'", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Looks a page up by path, case-insensitively.
    pub fn page(&self, path: &str) -> Result<Option<PageRow>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT path, title, size, blob, revision, updated, headings, tags FROM pages WHERE path = ?1",
        )?;
        Ok(stmt.query_row([path], page_row).optional()?)
    }

    /// Every page (sorted by path), optionally only those under a folder prefix.
    pub fn pages(&self, prefix: Option<&str>) -> Result<Vec<PageRow>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT path, title, size, blob, revision, updated, headings, tags FROM pages
             WHERE ?1 IS NULL OR path LIKE ?1 ESCAPE '\\' ORDER BY path COLLATE NOCASE",
        )?;
        let pattern = prefix.map(|p| format!("{}%", like_escape(p)));
        let rows = stmt.query_map([pattern], page_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The case-folded keys of all pages, for link resolution.
    pub fn page_keys(&self) -> Result<Vec<String>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached("SELECT path FROM pages")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| r.map(|p| p.to_lowercase()).map_err(IndexError::from))
            .collect()
    }

    /// The size of a file at HEAD, if it exists.
    pub fn file_size(&self, path: &str) -> Result<Option<u64>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached("SELECT size FROM files WHERE path = ?1")?;
        Ok(stmt
            .query_row([path], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|s| s as u64))
    }

    /// The bytes of every file at HEAD.
    pub fn total_bytes(&self) -> Result<u64> {
        let conn = self.reader()?;
        Ok(
            conn.query_row("SELECT coalesce(sum(size), 0) FROM files", [], |r| {
                r.get::<_, i64>(0)
            })? as u64,
        )
    }

    pub fn page_count(&self) -> Result<u64> {
        let conn = self.reader()?;
        Ok(conn.query_row("SELECT count(*) FROM pages", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// A page's history, newest first (it follows the page across renames).
    pub fn history(&self, page: &str, limit: u32, offset: u32) -> Result<Vec<Revision>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT c.seq, c.id, c.author_name, c.author_email, c.time, c.message,
                    ch.path, ch.old_path, ch.kind, ch.blob
             FROM changes ch JOIN commits c ON c.seq = ch.seq
             WHERE ch.page = ?1 ORDER BY ch.seq DESC LIMIT ?2 OFFSET ?3",
        )?;
        let rows = stmt.query_map(params![page, limit, offset], revision_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Number of history entries of a page.
    pub fn history_len(&self, page: &str) -> Result<u64> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached("SELECT count(*) FROM changes WHERE page = ?1")?;
        Ok(stmt.query_row([page], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The page's state at `commit`: the entry of the last change at or before it.
    pub fn revision_at(&self, page: &str, commit: &CommitRow) -> Result<Option<Revision>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT c.seq, c.id, c.author_name, c.author_email, c.time, c.message,
                    ch.path, ch.old_path, ch.kind, ch.blob
             FROM changes ch JOIN commits c ON c.seq = ch.seq
             WHERE ch.page = ?1 AND ch.seq <= ?2 ORDER BY ch.seq DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![page, commit.seq], revision_row)
            .optional()?)
    }

    /// Recent commits, newest first.
    pub fn changelog(&self, limit: u32, offset: u32) -> Result<Vec<CommitRow>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, id, author_name, author_email, time, message FROM commits
             ORDER BY seq DESC LIMIT ?1 OFFSET ?2",
        )?;
        let rows = stmt.query_map(params![limit, offset], commit_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn commit_count(&self) -> Result<u64> {
        let conn = self.reader()?;
        Ok(conn.query_row("SELECT count(*) FROM commits", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The files changed by the commit with sequence number `seq`.
    pub fn changed_files(&self, seq: i64) -> Result<Vec<ChangedFile>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT path, old_path, kind FROM changes WHERE seq = ?1 ORDER BY path",
        )?;
        let rows = stmt.query_map([seq], |r| {
            Ok(ChangedFile {
                path: r.get(0)?,
                old_path: r.get(1)?,
                kind: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Finds a commit by full id or unique prefix (at least 4 hex digits).
    pub fn find_commit(&self, rev: &str) -> Result<Option<CommitRow>> {
        if rev.len() < 4 || rev.len() > 40 || !rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let rev = rev.to_ascii_lowercase();
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, id, author_name, author_email, time, message FROM commits
             WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 2",
        )?;
        let found: Vec<CommitRow> = stmt
            .query_map([rev], commit_row)?
            .collect::<Result<_, _>>()?;
        Ok(if found.len() == 1 {
            found.into_iter().next()
        } else {
            None
        })
    }

    /// Pages linking to `page`.
    pub fn backlinks(&self, page: &str) -> Result<Vec<(String, String)>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT p.path, p.title FROM links l JOIN pages p ON p.path = l.src
             WHERE l.dst = ?1 ORDER BY p.path COLLATE NOCASE",
        )?;
        let rows = stmt.query_map([page], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Link targets of `page` (whether or not those pages exist).
    pub fn links_from(&self, page: &str) -> Result<Vec<String>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached("SELECT dst FROM links WHERE src = ?1 ORDER BY dst")?;
        let rows = stmt.query_map([page], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every page's path, sorted.
    pub fn page_paths(&self) -> Result<Vec<String>> {
        let conn = self.reader()?;
        let mut stmt =
            conn.prepare_cached("SELECT path FROM pages ORDER BY path COLLATE NOCASE")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every link between pages as (from, to), with `to` spelled as the page it names is (or
    /// as written, when that page does not exist).
    pub fn all_links(&self) -> Result<Vec<(String, String)>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT l.src, COALESCE(p.path, l.dst) FROM links l LEFT JOIN pages p ON p.path = l.dst
             WHERE l.src <> l.dst ORDER BY l.src COLLATE NOCASE, l.dst COLLATE NOCASE",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Pages no other page links to (the home page never counts as an orphan).
    pub fn orphans(&self, home: &str) -> Result<Vec<(String, String)>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT p.path, p.title FROM pages p
             WHERE p.path <> ?1 AND NOT EXISTS (SELECT 1 FROM links l WHERE l.dst = p.path AND l.src <> p.path)
             ORDER BY p.path COLLATE NOCASE",
        )?;
        let rows = stmt.query_map([home], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes everything, so the next sync rebuilds the index from the first commit.
    pub fn clear(&self) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        tx.execute_batch(
            "DELETE FROM links; DELETE FROM pages_fts; DELETE FROM pages; DELETE FROM changes;
             DELETE FROM commits; DELETE FROM files; DELETE FROM meta;",
        )?;
        tx.commit()?;
        Ok(())
    }
}

fn page_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PageRow> {
    let headings: String = r.get(6)?;
    Ok(PageRow {
        path: r.get(0)?,
        title: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        blob: r.get(3)?,
        revision: r.get(4)?,
        updated: r.get(5)?,
        headings: serde_json::from_str(&headings).unwrap_or_default(),
        tags: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
    })
}

fn commit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CommitRow> {
    Ok(CommitRow {
        seq: r.get(0)?,
        id: r.get(1)?,
        author_name: r.get(2)?,
        author_email: r.get(3)?,
        time: r.get(4)?,
        message: r.get(5)?,
    })
}

/// A `Revision` from the columns commits (0-5) then changes (path, old_path, kind, blob).
fn revision_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Revision> {
    Ok(Revision {
        commit: commit_row(r)?,
        path: r.get(6)?,
        old_path: r.get(7)?,
        kind: r.get(8)?,
        blob: r.get(9)?,
    })
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
