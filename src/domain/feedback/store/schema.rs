//! Opening the database: WAL mode, `synchronous=FULL`, and the schema's migrations.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// The schema, one migration per version; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: the feedback table, with indexes for the consumer and sentiment filters.
    "CREATE TABLE feedback (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         consumer_id TEXT NOT NULL,
         feedback TEXT NOT NULL,
         stored_at_unix_ms INTEGER NOT NULL,
         sentiment TEXT NOT NULL CHECK (sentiment IN ('positive', 'neutral', 'negative')),
         sentiment_score REAL NOT NULL
     );
     CREATE INDEX feedback_by_consumer ON feedback (consumer_id, id);
     CREATE INDEX feedback_by_sentiment ON feedback (sentiment, id);",
    // 2: the client's idempotency key, unique per consumer when given.
    "ALTER TABLE feedback ADD COLUMN idempotency_key TEXT;
     CREATE UNIQUE INDEX feedback_by_idempotency_key
         ON feedback (consumer_id, idempotency_key) WHERE idempotency_key IS NOT NULL;",
];

/// Opens (creating it if need be) the database at `path` for writing, in WAL mode with
/// `synchronous=FULL`, migrated to the current schema; also returns the id of the last
/// stored feedback (0 when none).
///
/// # Errors
/// [`StoreError::Open`] when the file cannot be opened, WAL mode is refused, or the
/// database was written by a newer version of this server (its schema version is ahead).
pub(super) fn open(path: &Path) -> Result<(Connection, i64), StoreError> {
    let open = |err: rusqlite::Error| StoreError::Open(format!("{}: {err}", path.display()));
    let mut conn = Connection::open(path).map_err(open)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(open)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open(format!(
            "{}: WAL mode refused ({mode})",
            path.display()
        )));
    }
    // FULL: the WAL is synced at every commit, so a commit survives power loss too.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open)?;
    migrate(&mut conn).map_err(|err| StoreError::Open(format!("{}: {err}", path.display())))?;
    let last_id: i64 = conn
        .query_row("SELECT COALESCE(MAX(id), 0) FROM feedback", [], |row| {
            row.get(0)
        })
        .map_err(open)?;
    Ok((conn, last_id))
}

/// Runs every migration the database has not run yet.
fn migrate(conn: &mut Connection) -> Result<(), String> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|err| err.to_string())?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(format!(
            "the database is at schema version {version}; this server knows up to {known}"
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        run_migration(conn, index, sql).map_err(|err| format!("migration {}: {err}", index + 1))?;
        tracing::info!(version = index + 1, "feedback database migrated");
    }
    Ok(())
}

fn run_migration(conn: &mut Connection, index: usize, sql: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(sql)?;
    tx.pragma_update(None, "user_version", index as i64 + 1)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::{
        super::{DATABASE_FILE, FeedbackStore},
        *,
    };

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(FeedbackStore::open(dir.path(), 4).unwrap());
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = FeedbackStore::open(dir.path(), 4).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }
}
