//! Reading stored feedback: one page of a query, on a read-only connection of its own
//! (WAL lets it run while the writer writes).

use std::{path::Path, time::Duration};

use rusqlite::{Connection, OpenFlags, params};

use super::{ListQuery, Page, StoreError, StoredFeedback};
use crate::domain::feedback::Sentiment;

/// Reads one page with a fresh read-only connection.
pub(super) fn read_page(path: &Path, query: &ListQuery) -> Result<Page, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let limit = query.limit.max(1);
    let mut select = conn.prepare_cached(
        "SELECT id, consumer_id, feedback, stored_at_unix_ms, sentiment, sentiment_score
         FROM feedback
         WHERE id > ?1 AND (?2 IS NULL OR consumer_id = ?2) AND (?3 IS NULL OR sentiment = ?3)
         ORDER BY id
         LIMIT ?4",
    )?;
    let rows = select.query_map(
        params![
            query.after_id,
            query.consumer_id,
            query.sentiment.map(Sentiment::as_str),
            limit as i64 + 1
        ],
        |row| {
            let sentiment: String = row.get(4)?;
            Ok(StoredFeedback {
                id: row.get(0)?,
                consumer_id: row.get(1)?,
                feedback: row.get(2)?,
                stored_at_unix_ms: row.get(3)?,
                sentiment: Sentiment::parse(&sentiment).unwrap_or(Sentiment::Neutral),
                sentiment_score: row.get(5)?,
            })
        },
    )?;
    let items = rows.collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(items, limit))
}
