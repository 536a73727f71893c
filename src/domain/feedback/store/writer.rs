//! The writer thread: the one owner of the write connection, committing queued appends
//! in batches (group commit) and telling each append and the watchers once its batch is
//! on disk.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{broadcast, mpsc};

use super::{Append, StoreError, StoredFeedback};
use crate::domain::feedback::Sentiment;

/// The most appends committed in one transaction.
pub const MAX_BATCH: usize = 256;

/// The writer thread's state.
pub(super) struct Writer {
    /// The write connection, owned by this thread alone.
    conn: Connection,
    /// Appends from every [`super::FeedbackStore`] clone; closed when all are dropped.
    queue: mpsc::Receiver<Append>,
    /// Every stored feedback, for watchers.
    events: broadcast::Sender<Arc<StoredFeedback>>,
    /// The id of the last committed feedback, for watchers that start.
    last_id: Arc<AtomicI64>,
}

impl Writer {
    /// Starts the writer thread on `conn`, taking appends from `queue`.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the thread cannot be started.
    pub(super) fn start(
        conn: Connection,
        queue: mpsc::Receiver<Append>,
        events: broadcast::Sender<Arc<StoredFeedback>>,
        last_id: Arc<AtomicI64>,
    ) -> Result<(), StoreError> {
        let writer = Writer {
            conn,
            queue,
            events,
            last_id,
        };
        std::thread::Builder::new()
            .name("feedback-writer".into())
            .spawn(move || writer.run())
            .map(drop)
            .map_err(|err| StoreError::Open(format!("cannot start the writer thread: {err}")))
    }

    /// Commits batches until every [`FeedbackStore`] is dropped.
    fn run(mut self) {
        while let Some(first) = self.queue.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.queue.try_recv() {
                    Ok(append) => batch.push(append),
                    Err(_) => break,
                }
            }
            match self.commit(&batch) {
                Ok(stored) => {
                    if let Some((last, _)) = stored.iter().rev().find(|(_, new)| *new) {
                        self.last_id.store(last.id, Ordering::SeqCst);
                    }
                    for (append, (feedback, new)) in batch.into_iter().zip(stored) {
                        // A retry answered from the store is no news for the watchers.
                        // No watcher is fine: send fails only when none is subscribed.
                        if new {
                            let _ = self.events.send(Arc::new(feedback.clone()));
                        }
                        let _ = append.stored.send(Ok(feedback));
                    }
                }
                Err(err) => {
                    tracing::error!("feedback commit failed: {err}");
                    let err = StoreError::from(err);
                    for append in batch {
                        let _ = append.stored.send(Err(err.clone()));
                    }
                }
            }
        }
    }

    /// Commits `batch` in one transaction: each feedback as stored, and whether it is
    /// new (false: its idempotency key was stored before, maybe earlier in the batch,
    /// and this is the feedback stored then).
    fn commit(&mut self, batch: &[Append]) -> rusqlite::Result<Vec<(StoredFeedback, bool)>> {
        let stored_at_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as i64;
        let tx = self.conn.transaction()?;
        let mut stored = Vec::with_capacity(batch.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO feedback (consumer_id, feedback, stored_at_unix_ms, sentiment,
                                       sentiment_score, idempotency_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut earlier = tx.prepare_cached(
                "SELECT id, feedback, stored_at_unix_ms, sentiment, sentiment_score
                 FROM feedback WHERE consumer_id = ?1 AND idempotency_key = ?2",
            )?;
            for Append { feedback, .. } in batch {
                if let Some(key) = &feedback.idempotency_key {
                    let found = earlier
                        .query_row(params![feedback.consumer_id, key], |row| {
                            Ok(StoredFeedback {
                                id: row.get(0)?,
                                consumer_id: feedback.consumer_id.clone(),
                                feedback: row.get(1)?,
                                stored_at_unix_ms: row.get(2)?,
                                sentiment: Sentiment::parse(&row.get::<_, String>(3)?)
                                    .unwrap_or(Sentiment::Neutral),
                                sentiment_score: row.get(4)?,
                            })
                        })
                        .optional()?;
                    if let Some(found) = found {
                        stored.push((found, false));
                        continue;
                    }
                }
                insert.execute(params![
                    feedback.consumer_id,
                    feedback.feedback,
                    stored_at_unix_ms,
                    feedback.sentiment.as_str(),
                    feedback.sentiment_score,
                    feedback.idempotency_key,
                ])?;
                stored.push((
                    StoredFeedback {
                        id: tx.last_insert_rowid(),
                        consumer_id: feedback.consumer_id.clone(),
                        feedback: feedback.feedback.clone(),
                        stored_at_unix_ms,
                        sentiment: feedback.sentiment,
                        sentiment_score: feedback.sentiment_score,
                    },
                    true,
                ));
            }
        }
        tx.commit()?;
        Ok(stored)
    }
}
