//! `ChunkStore`: a wiki's passages and their vectors on disk (`<wiki>/semantic.sqlite`).
//!
//! It is the persistent half of the semantic index: the in-memory `VectorIndex` is loaded from
//! it, so a restart never re-embeds. It lives apart from the page index because it is costly to
//! rebuild (rebuilding the page index re-queues every page, and passages whose text did not
//! change are found here by hash and not embedded again). It records the model that made its
//! vectors; opened for another model, it starts empty.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::vectors::{ChunkVector, VectorError, VectorIndex};
use crate::db::{self, DbError};

/// Bump when the schema changes; an older file is then emptied (its pages get re-queued).
const VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    page TEXT NOT NULL COLLATE NOCASE,
    ordinal INTEGER NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    -- SHA-256 (first 16 bytes) of the embedded text: unchanged passages keep their vectors.
    hash BLOB NOT NULL,
    -- little-endian f32s
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_page ON chunks (page, ordinal);
CREATE INDEX IF NOT EXISTS chunks_by_hash ON chunks (hash);
";

/// Characters of a passage kept in memory and shown with a hit.
pub const SNIPPET_CHARS: usize = 300;

/// Errors of the chunk store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("semantic store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Vector(#[from] VectorError),
}

/// The identity of a passage's embedded text.
pub type TextHash = [u8; 16];

/// Hashes the text a passage is embedded from.
pub fn text_hash(text: &str) -> TextHash {
    let digest = Sha256::digest(text.as_bytes());
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&digest[..16]);
    hash
}

/// A passage ready to store.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    pub ordinal: usize,
    pub heading: String,
    pub text: String,
    pub hash: TextHash,
    pub vector: Vec<f32>,
}

/// One wiki's `semantic.sqlite`.
pub struct ChunkStore {
    conn: Connection,
}

impl ChunkStore {
    /// Opens (or creates) the store for vectors of `model`; `fresh` is true when it holds
    /// nothing it can vouch for (new, another model, an older schema), so every page must be
    /// queued.
    pub fn open(path: &Path, model: &str) -> Result<(ChunkStore, bool), StoreError> {
        let conn = db::open(path)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version != VERSION {
            conn.execute_batch("DROP TABLE IF EXISTS chunks; DROP TABLE IF EXISTS meta;")?;
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", VERSION)?;
        let stored: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'model'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let store = ChunkStore { conn };
        if stored.as_deref() == Some(model) {
            return Ok((store, false));
        }
        store.conn.execute_batch("DELETE FROM chunks;")?;
        store.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('model', ?1)",
            [model],
        )?;
        Ok((store, true))
    }

    /// The stored vectors of whichever of `hashes` are known (in any page).
    pub fn vectors_for(
        &self,
        hashes: &[TextHash],
    ) -> Result<HashMap<TextHash, Vec<f32>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT vector FROM chunks WHERE hash = ?1 LIMIT 1")?;
        let mut found = HashMap::new();
        for hash in hashes {
            if found.contains_key(hash) {
                continue;
            }
            let vector: Option<Vec<u8>> = stmt.query_row([&hash[..]], |r| r.get(0)).optional()?;
            if let Some(bytes) = vector {
                found.insert(*hash, decode(&bytes));
            }
        }
        Ok(found)
    }

    /// Replaces a page's passages (any case of its path); returns them as the index keeps them.
    pub fn replace_page(
        &mut self,
        page: &str,
        chunks: Vec<StoredChunk>,
    ) -> Result<Vec<ChunkVector>, StoreError> {
        let tx = self.conn.transaction()?;
        tx.prepare_cached("DELETE FROM chunks WHERE page = ?1")?
            .execute([page])?;
        let mut kept = Vec::with_capacity(chunks.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO chunks (page, ordinal, heading, text, hash, vector)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for chunk in chunks {
                insert.execute(params![
                    page,
                    chunk.ordinal as i64,
                    chunk.heading,
                    chunk.text,
                    &chunk.hash[..],
                    encode(&chunk.vector),
                ])?;
                kept.push(ChunkVector {
                    id: tx.last_insert_rowid() as u64,
                    heading: chunk.heading,
                    text: snippet(&chunk.text),
                    vector: chunk.vector,
                });
            }
        }
        tx.commit()?;
        Ok(kept)
    }

    /// Drops a page's passages (any case of its path).
    pub fn remove_page(&self, page: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM chunks WHERE page = ?1")?
            .execute([page])?;
        Ok(())
    }

    /// Drops every passage.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("DELETE FROM chunks;")?;
        Ok(())
    }

    /// The pages and passages stored.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(DISTINCT page), count(*) FROM chunks",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Everything, as an in-memory index of `dim`-dimensional vectors.
    pub fn load(&self, dim: usize) -> Result<VectorIndex, StoreError> {
        let mut index = VectorIndex::new(dim);
        for (page, chunks) in self.passages()? {
            index.upsert_page(&page, chunks)?;
        }
        index.shrink_to_fit();
        Ok(index)
    }

    /// Every stored passage (with a snippet of its text), grouped by page.
    pub fn passages(&self) -> Result<Vec<(String, Vec<ChunkVector>)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT page, id, heading, text, vector FROM chunks ORDER BY page, ordinal")?;
        let mut rows = stmt.query([])?;
        let mut pages: Vec<(String, Vec<ChunkVector>)> = Vec::new();
        while let Some(row) = rows.next()? {
            let page: String = row.get(0)?;
            let chunk = ChunkVector {
                id: row.get::<_, i64>(1)? as u64,
                heading: row.get(2)?,
                text: snippet(&row.get::<_, String>(3)?),
                vector: decode(&row.get::<_, Vec<u8>>(4)?),
            };
            match pages.last_mut() {
                Some((last, chunks)) if *last == page => chunks.push(chunk),
                _ => pages.push((page, vec![chunk])),
            }
        }
        Ok(pages)
    }
}

/// The start of a passage, cut at a character boundary, with an ellipsis if cut.
pub fn snippet(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(SNIPPET_CHARS) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", text[..end].trim_end()),
    }
}

fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(ordinal: usize, text: &str, vector: Vec<f32>) -> StoredChunk {
        StoredChunk {
            ordinal,
            heading: format!("H{ordinal}"),
            text: text.into(),
            hash: text_hash(text),
            vector,
        }
    }

    #[test]
    fn round_trips_and_finds_vectors_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("semantic.sqlite");
        let (mut store, fresh) = ChunkStore::open(&path, "m1").unwrap();
        assert!(fresh);
        store
            .replace_page(
                "A",
                vec![
                    chunk(0, "alpha", vec![1.0, 0.0]),
                    chunk(1, "beta", vec![0.0, 1.0]),
                ],
            )
            .unwrap();
        store
            .replace_page("B", vec![chunk(0, "gamma", vec![0.6, 0.8])])
            .unwrap();
        assert_eq!(store.counts().unwrap(), (2, 3));
        let known = store
            .vectors_for(&[text_hash("beta"), text_hash("delta")])
            .unwrap();
        assert_eq!(known.len(), 1);
        assert_eq!(known[&text_hash("beta")], vec![0.0, 1.0]);

        // Replacing a page (in another case) drops its old passages.
        store
            .replace_page("a", vec![chunk(0, "alpha2", vec![1.0, 0.0])])
            .unwrap();
        assert_eq!(store.counts().unwrap(), (2, 2));
        drop(store);

        // Reopened for the same model: kept, and loads into an index that answers.
        let (store, fresh) = ChunkStore::open(&path, "m1").unwrap();
        assert!(!fresh);
        let index = store.load(2).unwrap();
        assert_eq!(index.len(), 2);
        let hits = index.search(&[0.6, 0.8], 1, 1, |_| true).unwrap();
        assert_eq!(hits[0].page, "B");
        assert_eq!(hits[0].heading, "H0");

        // Another model: starts empty.
        drop(store);
        let (store, fresh) = ChunkStore::open(&path, "m2").unwrap();
        assert!(fresh);
        assert_eq!(store.counts().unwrap(), (0, 0));
    }

    #[test]
    fn snippets_cut_on_character_boundaries() {
        assert_eq!(snippet("  short  "), "short");
        let long = "é".repeat(SNIPPET_CHARS + 10);
        let cut = snippet(&long);
        assert!(cut.ends_with('…'));
        assert_eq!(cut.chars().count(), SNIPPET_CHARS + 1);
    }
}
