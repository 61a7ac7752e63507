//! SQLite access: opening databases with Holt's pragmas, a small connection pool, migrations.
//!
//! Every database is in WAL mode: readers never block the single writer, and a commit is one
//! append to the log. All SQL lives in the modules that own a schema (`index`, `platform`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;
use rusqlite::config::DbConfig;

/// Errors opening or migrating a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Opens `path` with WAL, foreign keys and a busy timeout.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open(path).map_err(|source| DbError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA cache_size = -8000;
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(|source| DbError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    // Without the query planner stability guarantee SQLite may mark a cached statement for
    // re-preparation whenever a parameter is bound anew, in case the value would change the
    // plan; prepared statements are then parsed and planned again on every call. Holt's
    // queries have one good plan each.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(|source| DbError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(conn)
}

/// Applies the migrations a database has not seen yet, tracked by `PRAGMA user_version`.
pub fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), DbError> {
    let applied: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in migrations.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Read connections for one database; the writer has its own connection behind a lock.
pub struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// A pooled read connection, returned to the pool when dropped.
pub struct PooledConn<'a> {
    conn: Option<Connection>,
    pool: &'a Pool,
}

impl Pool {
    pub fn new(path: &Path) -> Self {
        Pool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A connection for reading (opened on demand, reused afterwards).
    pub fn get(&self) -> Result<PooledConn<'_>, DbError> {
        let reused = self.lock().pop();
        let conn = match reused {
            Some(conn) => conn,
            None => {
                let conn = open(&self.path)?;
                // Readers share the OS page cache; a small private cache each is enough.
                conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -2000;")?;
                conn
            }
        };
        Ok(PooledConn {
            conn: Some(conn),
            pool: self,
        })
    }

    /// Closes idle connections (before the database file is replaced).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::ops::Deref for PooledConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.pool.lock();
            if idle.len() < 16 {
                idle.push(conn);
            }
        }
    }
}
