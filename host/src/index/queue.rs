//! The semantic reindex queue: pages whose passages must be (re-)embedded or dropped.
//!
//! Entries are written by `sync` in the same transaction as the change itself, so a change is
//! never indexed without being queued; the semantic worker removes an entry only after the
//! page's passages are stored, and only if it was not queued again meanwhile. A crash at any
//! point therefore leaves the entry in place, and the work is redone after a restart.

use rusqlite::params;

use super::{Result, WikiIndex};

/// One queued page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPage {
    pub path: String,
    /// Grows with every enqueue; `semantic_done` compares it.
    pub seq: i64,
}

impl WikiIndex {
    /// The oldest `limit` queued pages.
    pub fn semantic_queue(&self, limit: usize) -> Result<Vec<QueuedPage>> {
        let conn = self.reader()?;
        let mut stmt =
            conn.prepare_cached("SELECT path, seq FROM semantic_queue ORDER BY seq LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(QueuedPage {
                path: r.get(0)?,
                seq: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many pages are queued.
    pub fn semantic_queue_len(&self) -> Result<u64> {
        let conn = self.reader()?;
        let n: i64 = conn.query_row("SELECT count(*) FROM semantic_queue", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Removes the entries that were worked on, unless they were queued again since.
    pub fn semantic_done(&self, done: &[QueuedPage]) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("DELETE FROM semantic_queue WHERE path = ?1 AND seq = ?2")?;
            for entry in done {
                stmt.execute(params![entry.path, entry.seq])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Queues every page at HEAD (a new model, a lost semantic index, `holt reindex --semantic`).
    pub fn semantic_enqueue_all(&self) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let paths: Vec<String> = {
            let mut stmt = tx.prepare_cached("SELECT path FROM pages ORDER BY path")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for path in paths {
            super::sync::enqueue_semantic(&tx, &path)?;
        }
        tx.commit()?;
        Ok(())
    }
}
