//! The plugins' key-value store: one SQLite file per wiki (`plugin-data.sqlite`), one
//! namespace per plugin. Unlike the index it is not derived from git, so it lives apart.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{self, DbError};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most bytes (keys and values) one plugin keeps in one wiki.
pub const MAX_TOTAL_BYTES: i64 = 10 << 20;

const MIGRATIONS: &[&str] = &["CREATE TABLE kv (
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (plugin, key)
) WITHOUT ROWID;"];

/// Why a key-value call was refused.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Invalid(String),
    #[error("plugin data: {0}")]
    Db(#[from] DbError),
    #[error("plugin data: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The key-value data of one wiki's plugins.
pub struct KvStore {
    conn: Mutex<Connection>,
}

impl KvStore {
    pub fn open(path: &Path) -> Result<Self, KvError> {
        let mut conn = db::open(path)?;
        db::migrate(&mut conn, MIGRATIONS)?;
        Ok(KvStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM kv WHERE plugin = ?1 AND key = ?2",
                params![plugin, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), KvError> {
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::Limit(format!(
                "values are limited to {MAX_VALUE_BYTES} bytes"
            )));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let used: i64 = tx.query_row(
            "SELECT coalesce(sum(length(key) + length(value)), 0) FROM kv WHERE plugin = ?1 AND key <> ?2",
            params![plugin, key],
            |r| r.get(0),
        )?;
        if used + (key.len() + value.len()) as i64 > MAX_TOTAL_BYTES {
            return Err(KvError::Limit(format!(
                "a plugin keeps at most {MAX_TOTAL_BYTES} bytes per wiki"
            )));
        }
        tx.execute(
            "INSERT INTO kv (plugin, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value",
            params![plugin, key, value],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn delete(&self, plugin: &str, key: &str) -> Result<(), KvError> {
        check_key(key)?;
        self.conn().execute(
            "DELETE FROM kv WHERE plugin = ?1 AND key = ?2",
            params![plugin, key],
        )?;
        Ok(())
    }

    pub fn keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT key FROM kv WHERE plugin = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key LIMIT 10000",
        )?;
        let rows = stmt.query_map(params![plugin, prefix], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(KvError::Invalid(format!(
            "keys are 1 to {MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let kv = KvStore::open(&dir.path().join("kv.sqlite")).unwrap();
        kv.set("a", "k", b"one").unwrap();
        kv.set("b", "k", b"two").unwrap();
        assert_eq!(kv.get("a", "k").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(
            kv.get("b", "k").unwrap().as_deref(),
            Some(&b"two"[..]),
            "plugins do not share keys"
        );
        kv.set("a", "k2", b"x").unwrap();
        assert_eq!(kv.keys("a", "k").unwrap(), vec!["k", "k2"]);
        kv.delete("a", "k").unwrap();
        assert_eq!(kv.get("a", "k").unwrap(), None);
        assert!(matches!(
            kv.set("a", "big", &vec![0; MAX_VALUE_BYTES + 1]),
            Err(KvError::Limit(_))
        ));
        assert!(matches!(
            kv.set("a", &"k".repeat(300), b"x"),
            Err(KvError::Invalid(_))
        ));
        assert!(matches!(kv.get("a", ""), Err(KvError::Invalid(_))));
        for i in 0..160 {
            match kv.set("c", &format!("key{i}"), &vec![1; MAX_VALUE_BYTES]) {
                Ok(()) => continue,
                Err(KvError::Limit(_)) => {
                    return assert!(i >= 150, "the total cap allows about 10 MiB");
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("the total cap never applied");
    }
}
