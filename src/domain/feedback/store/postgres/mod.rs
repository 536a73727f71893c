//! The feedback store in PostgreSQL, shared by any number of server processes.
//!
//! # One global order
//! Every replica has its own writer task (`writer.rs`) doing group commit, as the SQLite
//! store's writer thread does. To give feedback one global order, every batch's
//! transaction first takes one transaction-level advisory lock
//! (`pg_advisory_xact_lock(COMMIT_LOCK)`), then numbers its feedback after the largest id
//! stored, inserts it and commits. The lock is released only after the commit is
//! visible to other sessions (PostgreSQL releases a transaction's locks after marking it
//! committed), so ids are assigned in commit order: once id N is visible, every id below
//! N is visible too. A reader that has seen every id up to N and then reads `id > N` can
//! never miss a smaller id committed later, which a sequence (`nextval` is taken before
//! commit, so ids can commit out of order) does not promise. The price: batches of all
//! replicas commit one after the other; group commit keeps them few.
//!
//! # Watchers on every replica
//! Each replica's tail task (`tail.rs`) reads `id > last` in id order and broadcasts what
//! it finds to that replica's watchers, so every watcher, on any replica, sees every
//! feedback in the same order. It reads when this replica's writer has committed, when
//! another replica's commit sends `NOTIFY feedback` (one LISTEN connection per replica),
//! and at least every second, so a lost notification only delays.
//!
//! # TLS
//! As libpq's `sslmode` and `sslrootcert` URL parameters say: see `tls.rs`.
//!
//! # Faults
//! Connections come from a deadpool pool. While the database is unreachable, appends
//! and reads fail with [`StoreError::Database`] (the service answers UNAVAILABLE) and
//! [`super::FeedbackStore::available`] turns false; both recover by themselves when the
//! database returns. A batch whose COMMIT fails is not acknowledged; if the commit
//! reached the database before the connection broke, the feedback is stored all the
//! same, and a retry with the same idempotency key is answered with it.

use std::{str::FromStr, time::Duration};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Row;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{ListQuery, Page, StoreError, StoredFeedback, location::redact};
use crate::domain::feedback::Sentiment;

pub(super) mod tail;
mod tls;
pub(super) mod writer;

/// The advisory lock every commit of feedback takes (see the module docs): the bytes of
/// "feedback" as a big-endian integer.
const COMMIT_LOCK: i64 = i64::from_be_bytes(*b"feedback");
/// The advisory lock the migrations take, so that replicas starting together migrate
/// one at a time.
const MIGRATE_LOCK: i64 = i64::from_be_bytes(*b"migrate!");
/// The channel a commit notifies.
const CHANNEL: &str = "feedback";
/// The most connections one replica opens.
const POOL_SIZE: usize = 16;
/// How long to wait for a connection to the database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one migration per version; `feedback_schema.version` records how many
/// ran.
const MIGRATIONS: &[&str] = &[
    // 1: the feedback table, ids assigned in commit order by the writers (no sequence),
    // with indexes for the consumer and sentiment filters and the idempotency key.
    "CREATE TABLE feedback (
         id BIGINT PRIMARY KEY,
         consumer_id TEXT NOT NULL,
         feedback TEXT NOT NULL,
         stored_at_unix_ms BIGINT NOT NULL,
         sentiment TEXT NOT NULL CHECK (sentiment IN ('positive', 'neutral', 'negative')),
         sentiment_score DOUBLE PRECISION NOT NULL,
         idempotency_key TEXT
     );
     CREATE INDEX feedback_by_consumer ON feedback (consumer_id, id);
     CREATE INDEX feedback_by_sentiment ON feedback (sentiment, id);
     CREATE UNIQUE INDEX feedback_by_idempotency_key
         ON feedback (consumer_id, idempotency_key) WHERE idempotency_key IS NOT NULL;",
];

/// A connected, migrated database.
pub(super) struct Connected {
    /// Connections for the writer, the tail task and reads.
    pub(super) pool: Pool,
    /// The parsed URL, for the LISTEN connection.
    pub(super) config: tokio_postgres::Config,
    /// TLS as the URL's `sslmode` asks, for the LISTEN connection.
    pub(super) tls: MakeRustlsConnect,
    /// The largest id stored.
    pub(super) last_id: i64,
}

/// Connects to the database at `url`, migrates it to the current schema and reads the
/// largest id stored.
///
/// # Errors
/// [`StoreError::Open`], naming the URL without its password, when the URL is invalid,
/// the database cannot be reached, or its schema is newer than this server's.
pub(super) async fn connect(url: &str) -> Result<Connected, StoreError> {
    let open = |reason: String| StoreError::Open(format!("{}: {reason}", redact(url)));
    let tls = tls::prepare(url).map_err(open)?;
    let mut config =
        tokio_postgres::Config::from_str(&tls.url).map_err(|err| open(err.to_string()))?;
    config.connect_timeout(CONNECT_TIMEOUT);
    if config.get_application_name().is_none() {
        config.application_name("grpc-showcase");
    }
    let manager = Manager::from_config(
        config.clone(),
        tls.connector.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(CONNECT_TIMEOUT))
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|err| open(err.to_string()))?;
    let mut client = pool.get().await.map_err(|err| open(describe(&err)))?;
    migrate(&mut client).await.map_err(open)?;
    let last_id: i64 = client
        .query_one("SELECT COALESCE(MAX(id), 0)::int8 FROM feedback", &[])
        .await
        .map_err(|err| open(describe(&err)))?
        .get(0);
    drop(client);
    Ok(Connected {
        pool,
        config,
        tls: tls.connector,
        last_id,
    })
}

/// Runs every migration the database has not run yet, in one transaction under
/// [`MIGRATE_LOCK`].
async fn migrate(client: &mut deadpool_postgres::Client) -> Result<(), String> {
    let tx = client.transaction().await.map_err(|e| describe(&e))?;
    let version: i32 = async {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS feedback_schema (version INT NOT NULL)")
            .await?;
        let row = tx
            .query_opt("SELECT version FROM feedback_schema", &[])
            .await?;
        Ok::<_, tokio_postgres::Error>(row.map_or(0, |row| row.get(0)))
    }
    .await
    .map_err(|e| describe(&e))?;
    let known = MIGRATIONS.len() as i32;
    if version > known {
        return Err(format!(
            "the database is at schema version {version}; this server knows up to {known}"
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| format!("migration {}: {}", index + 1, describe(&e)))?;
        tracing::info!(version = index + 1, "feedback database migrated");
    }
    if version < known {
        tx.execute("DELETE FROM feedback_schema", &[])
            .await
            .map_err(|e| describe(&e))?;
        tx.execute("INSERT INTO feedback_schema VALUES ($1)", &[&known])
            .await
            .map_err(|e| describe(&e))?;
    }
    tx.commit().await.map_err(|e| describe(&e))
}

/// One page of `query`, oldest first.
pub(super) async fn read_page(pool: &Pool, query: &ListQuery) -> Result<Page, StoreError> {
    let limit = query.limit.max(1);
    let client = pool.get().await.map_err(database)?;
    let select = client
        .prepare_cached(
            "SELECT id, consumer_id, feedback, stored_at_unix_ms, sentiment, sentiment_score
             FROM feedback
             WHERE id > $1 AND ($2::text IS NULL OR consumer_id = $2)
                   AND ($3::text IS NULL OR sentiment = $3)
             ORDER BY id
             LIMIT $4",
        )
        .await
        .map_err(database)?;
    let rows = client
        .query(
            &select,
            &[
                &query.after_id,
                &query.consumer_id,
                &query.sentiment.map(Sentiment::as_str),
                &(limit as i64 + 1),
            ],
        )
        .await
        .map_err(database)?;
    let items: Vec<StoredFeedback> = rows.iter().map(from_row).collect();
    Ok(Page::from_rows(items, limit))
}

/// A feedback from a row of `id, consumer_id, feedback, stored_at_unix_ms, sentiment,
/// sentiment_score`.
fn from_row(row: &Row) -> StoredFeedback {
    StoredFeedback {
        id: row.get(0),
        consumer_id: row.get(1),
        feedback: row.get(2),
        stored_at_unix_ms: row.get(3),
        sentiment: Sentiment::parse(row.get(4)).unwrap_or(Sentiment::Neutral),
        sentiment_score: row.get(5),
    }
}

/// An error with its causes, `a: b: c`: tokio-postgres 0.7 shows only "db error" or
/// "error connecting to server" and keeps the reason in the source.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A database error as a [`StoreError::Database`].
fn database(err: impl std::error::Error + 'static) -> StoreError {
    StoreError::Database(describe(&err))
}
