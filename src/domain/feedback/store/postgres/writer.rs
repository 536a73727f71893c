//! The replica's writer task: commits queued appends in batches (group commit) under the
//! commit lock, so that ids follow commit order across replicas (see the module docs of
//! [`super`]), and answers each append once its batch is committed.

use std::{collections::HashMap, sync::Arc};

use deadpool_postgres::Pool;
use tokio::sync::{Notify, mpsc};
use tokio_postgres::types::ToSql;

use super::{CHANNEL, COMMIT_LOCK, database, from_row};
use crate::domain::feedback::store::{Append, MAX_BATCH, StoreError, StoredFeedback};

/// Starts the writer task: takes appends from `queue` until every sender is dropped, and
/// wakes `committed` after each commit.
pub(in crate::domain::feedback::store) fn start(
    pool: Pool,
    mut queue: mpsc::Receiver<Append>,
    committed: Arc<Notify>,
) {
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(append) => batch.push(append),
                    Err(_) => break,
                }
            }
            match commit(&pool, &batch).await {
                Ok(stored) => {
                    for (append, feedback) in batch.into_iter().zip(stored) {
                        let _ = append.stored.send(Ok(feedback));
                    }
                    committed.notify_one();
                }
                Err(err) => {
                    tracing::error!("feedback commit failed: {err}");
                    for append in batch {
                        let _ = append.stored.send(Err(err.clone()));
                    }
                }
            }
        }
    });
}

/// The statements of a commit, prepared once per connection (deadpool's statement
/// cache): a statement given as text would cost a round trip to prepare every time.
const LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
const LOOKUP: &str = "SELECT id, consumer_id, feedback, stored_at_unix_ms, sentiment,
                             sentiment_score, idempotency_key
                      FROM feedback
                      WHERE (consumer_id, idempotency_key) IN
                            (SELECT * FROM unnest($1::text[], $2::text[]))";
const LAST: &str = "SELECT COALESCE(MAX(id), 0)::int8,
                           (extract(epoch FROM clock_timestamp()) * 1000)::int8
                    FROM feedback";
const INSERT: &str =
    "INSERT INTO feedback (id, consumer_id, feedback, stored_at_unix_ms, sentiment,
                                            sentiment_score, idempotency_key)
                      SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[],
                                           $5::text[], $6::float8[], $7::text[])";
const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// Commits `batch` in one transaction and gives each feedback as stored: new ones
/// numbered after the largest id, and for an idempotency key stored before (or earlier
/// in the batch), the feedback stored then.
///
/// The commit lock is held from its statement to COMMIT, so the statements after it are
/// pipelined (tokio-postgres sends queries polled together without waiting for each
/// answer; PostgreSQL runs them in order): lock, key lookup and largest id in one round
/// trip, insert and notify in a second, then COMMIT.
async fn commit(pool: &Pool, batch: &[Append]) -> Result<Vec<StoredFeedback>, StoreError> {
    let mut client = pool.get().await.map_err(database)?;
    let tx = client.transaction().await.map_err(database)?;
    let (lock, lookup, last, insert, notify) = futures::try_join!(
        tx.prepare_cached(LOCK),
        tx.prepare_cached(LOOKUP),
        tx.prepare_cached(LAST),
        tx.prepare_cached(INSERT),
        tx.prepare_cached(NOTIFY),
    )
    .map_err(database)?;

    let (consumers, keys): (Vec<&str>, Vec<&str>) = batch
        .iter()
        .filter_map(|append| {
            let feedback = &append.feedback;
            let key = feedback.idempotency_key.as_deref()?;
            Some((feedback.consumer_id.as_str(), key))
        })
        .unzip();
    // Under the lock, the largest id is the last one committed by any replica, and no
    // other replica can store one of the batch's keys meanwhile.
    let (_, found, row) = futures::try_join!(
        tx.execute(&lock, &[&COMMIT_LOCK]),
        async {
            if keys.is_empty() {
                Ok(Vec::new())
            } else {
                tx.query(&lookup, &[&consumers, &keys]).await
            }
        },
        tx.query_one(&last, &[]),
    )
    .map_err(database)?;

    // Feedback already stored under the batch's idempotency keys, by (consumer, key).
    let mut known: HashMap<(&str, &str), StoredFeedback> = HashMap::new();
    for row in &found {
        let found = from_row(row);
        let stored_key: &str = row.get(6);
        // The batch's own (consumer, key) pair, borrowed for as long as the batch.
        let pair = consumers
            .iter()
            .zip(&keys)
            .find(|(consumer, key)| **key == stored_key && **consumer == found.consumer_id);
        if let Some((consumer, key)) = pair {
            known.insert((consumer, key), found);
        }
    }
    let (mut next_id, stored_at_unix_ms): (i64, i64) = (row.get::<_, i64>(0) + 1, row.get(1));

    let mut stored = Vec::with_capacity(batch.len());
    let mut new = Vec::with_capacity(batch.len());
    for Append { feedback, .. } in batch {
        let key = feedback
            .idempotency_key
            .as_deref()
            .map(|key| (feedback.consumer_id.as_str(), key));
        if let Some(found) = key.and_then(|key| known.get(&key)) {
            stored.push(found.clone());
            continue;
        }
        let row = StoredFeedback {
            id: next_id,
            consumer_id: feedback.consumer_id.clone(),
            feedback: feedback.feedback.clone(),
            stored_at_unix_ms,
            sentiment: feedback.sentiment,
            sentiment_score: feedback.sentiment_score,
        };
        next_id += 1;
        if let Some(key) = key {
            known.insert(key, row.clone());
        }
        new.push((row.clone(), feedback.idempotency_key.as_deref()));
        stored.push(row);
    }

    if let Some((last, _)) = new.last() {
        let ids: Vec<i64> = new.iter().map(|(f, _)| f.id).collect();
        let consumers: Vec<&str> = new.iter().map(|(f, _)| f.consumer_id.as_str()).collect();
        let texts: Vec<&str> = new.iter().map(|(f, _)| f.feedback.as_str()).collect();
        let stamps: Vec<i64> = new.iter().map(|(f, _)| f.stored_at_unix_ms).collect();
        let labels: Vec<&str> = new.iter().map(|(f, _)| f.sentiment.as_str()).collect();
        let scores: Vec<f64> = new.iter().map(|(f, _)| f.sentiment_score).collect();
        let keys: Vec<Option<&str>> = new.iter().map(|(_, key)| *key).collect();
        let last_id = last.id.to_string();
        let rows: [&(dyn ToSql + Sync); 7] =
            [&ids, &consumers, &texts, &stamps, &labels, &scores, &keys];
        let notice: [&(dyn ToSql + Sync); 2] = [&CHANNEL, &last_id];
        futures::try_join!(
            tx.execute(&insert, &rows),
            // Delivered to every LISTEN connection when (and only if) the commit succeeds.
            tx.execute(&notify, &notice),
        )
        .map_err(database)?;
    }
    tx.commit().await.map_err(database)?;
    Ok(stored)
}
