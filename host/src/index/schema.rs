//! The index schema. It is derived data: a new version simply rebuilds the index from git.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// Bump when `SCHEMA` changes; older index files are then discarded and rebuilt.
pub const VERSION: i64 = 5;

pub const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- Every indexed commit; seq orders them parents-first.
CREATE TABLE commits (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    author_name TEXT NOT NULL,
    author_email TEXT NOT NULL,
    time INTEGER NOT NULL,
    message TEXT NOT NULL
);

-- Every changed file of every commit. `page` names the page whose history the change belongs
-- to today (updated when a page is renamed, so history follows it); NULL for attachments.
CREATE TABLE changes (
    seq INTEGER NOT NULL REFERENCES commits (seq),
    path TEXT NOT NULL,
    old_path TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('A', 'M', 'D', 'R')),
    page TEXT COLLATE NOCASE,
    blob TEXT
);
CREATE INDEX changes_by_page ON changes (page, seq);
CREATE INDEX changes_by_seq ON changes (seq);

-- Pages at HEAD.
CREATE TABLE pages (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE COLLATE NOCASE,
    title TEXT NOT NULL,
    size INTEGER NOT NULL,
    blob TEXT NOT NULL,
    revision TEXT NOT NULL,
    updated INTEGER NOT NULL,
    headings TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]'
);

-- Every file at HEAD (pages and attachments) with its size, for the wiki's byte limit.
CREATE TABLE files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL
) WITHOUT ROWID;

-- Outgoing links of pages at HEAD; backlinks and orphans are one query on dst.
CREATE TABLE links (
    src TEXT NOT NULL COLLATE NOCASE,
    dst TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (src, dst)
) WITHOUT ROWID;
CREATE INDEX links_by_dst ON links (dst);

-- Pages whose passages the semantic index must (re-)embed or drop, written in the same
-- transaction as the change, so no change is ever missed. `seq` grows with every enqueue: the
-- worker removes an entry only if it was not enqueued again while being worked on.
CREATE TABLE semantic_queue (
    path TEXT PRIMARY KEY COLLATE NOCASE,
    seq INTEGER NOT NULL
) WITHOUT ROWID;

-- Full text of pages at HEAD; rowid = pages.id.
CREATE VIRTUAL TABLE pages_fts USING fts5 (
    title, body, tokenize = 'porter unicode61 remove_diacritics 2'
);
";

/// The schema version recorded in an existing index file.
pub fn stored_version(path: &Path) -> rusqlite::Result<i64> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}
