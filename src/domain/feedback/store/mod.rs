//! Durable feedback storage, in SQLite (the default) or PostgreSQL, with live
//! notification of watchers.
//!
//! One writer owns the writes. Appends queue up on a channel; the writer takes every
//! append waiting (up to [`MAX_BATCH`]), inserts them in one transaction and commits
//! (group commit: one disk sync for many feedbacks), then answers each append. So an
//! append returns only once its feedback is committed, and watchers only ever see
//! committed feedback, in id order.
//!
//! - **SQLite** ([`FeedbackStore::open`]): one process. The writer is a thread with the
//!   write connection; it broadcasts each batch to the watchers itself. WAL mode with
//!   `synchronous=FULL`: a committed transaction survives a crash of the process or of
//!   the machine. Reads open their own read-only connection on tokio's blocking pool;
//!   WAL lets them run while the writer writes.
//! - **PostgreSQL** ([`FeedbackStore::connect`]): any number of replicas on one
//!   database. Each replica's writer is a task; ids follow the global commit order, and
//!   each replica's tail task reads what any replica committed and broadcasts it to its
//!   own watchers (see [`postgres`] for how the order is kept).
//!
//! Here: the store's handle ([`FeedbackStore`]) and the watchers; `location.rs` parses
//! `--feedback-store`; `schema.rs` opens the SQLite database and migrates it,
//! `writer.rs` is its writer thread, `reads.rs` its page query; `postgres/` the
//! PostgreSQL store.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use futures::Stream;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

pub use location::{StoreLocation, redact};
pub use types::{ListQuery, NewFeedback, Page, StoreError, StoredFeedback, WatchEvent};
pub use writer::MAX_BATCH;
use writer::Writer;

mod location;
pub mod postgres;
mod reads;
mod schema;
mod types;
mod writer;

/// The database file's name in the data directory.
pub const DATABASE_FILE: &str = "feedback.sqlite3";

/// The promise of a queued feedback's commit: see [`FeedbackStore::enqueue`].
#[derive(Debug)]
pub struct Receipt(oneshot::Receiver<Result<StoredFeedback, StoreError>>);

impl Receipt {
    /// Waits until the feedback is committed to disk.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the commit failed, or [`StoreError::Closed`].
    pub async fn stored(self) -> Result<StoredFeedback, StoreError> {
        self.0.await.map_err(|_| StoreError::Closed)?
    }
}

/// One queued feedback and where to say it is stored.
struct Append {
    /// What to store.
    feedback: NewFeedback,
    /// Told once the feedback is committed, or why it is not.
    stored: oneshot::Sender<Result<StoredFeedback, StoreError>>,
}

/// Where a store reads pages from.
#[derive(Clone)]
enum Reads {
    /// The SQLite database file: each read opens a read-only connection.
    Sqlite(PathBuf),
    /// The PostgreSQL pool.
    Postgres(deadpool_postgres::Pool),
}

/// The feedback store. Cheap to clone: clones share the database and the writer.
#[derive(Clone)]
pub struct FeedbackStore {
    /// Where it is, for logs (a URL without its password).
    location: StoreLocation,
    /// Where pages are read from.
    reads: Reads,
    /// Appends for the writer.
    appends: mpsc::Sender<Append>,
    /// Every stored feedback, for watchers.
    events: broadcast::Sender<Arc<StoredFeedback>>,
    /// The id of the last feedback broadcast (0 when none).
    last_id: Arc<AtomicI64>,
    /// Whether the database answered lately (always true for SQLite).
    available: watch::Receiver<bool>,
}

impl fmt::Debug for FeedbackStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedbackStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl FeedbackStore {
    /// Opens (creating on first use) `data_dir/feedback.sqlite3`: see
    /// [`FeedbackStore::open_sqlite`].
    ///
    /// # Errors
    /// As [`FeedbackStore::open_sqlite`].
    pub fn open(data_dir: &Path, watch_buffer: usize) -> Result<Self, StoreError> {
        Self::open_sqlite(&data_dir.join(DATABASE_FILE), watch_buffer)
    }

    /// Opens (creating on first use, with its directory) the SQLite database `path`, runs
    /// the schema migrations, and starts the writer thread. A watcher may fall
    /// `watch_buffer` feedbacks behind before it is told it lagged. Blocking: call it off
    /// the async workers.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the directory or database cannot be created or opened,
    /// or the database was written by a newer version of this server.
    pub fn open_sqlite(path: &Path, watch_buffer: usize) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|err| StoreError::Open(format!("{}: {err}", dir.display())))?;
        }
        let (conn, last_id) = schema::open(path)?;

        let (appends, queue) = mpsc::channel(4 * MAX_BATCH);
        let (events, _) = broadcast::channel(watch_buffer.max(1));
        let last_id = Arc::new(AtomicI64::new(last_id));
        Writer::start(conn, queue, events.clone(), Arc::clone(&last_id))?;
        Ok(Self {
            location: StoreLocation::Sqlite(path.to_owned()),
            reads: Reads::Sqlite(path.to_owned()),
            appends,
            events,
            last_id,
            available: watch::channel(true).1,
        })
    }

    /// Connects to the PostgreSQL database at `url`, migrates it (creating the schema on
    /// first use; replicas starting together take turns), and starts this replica's
    /// writer and tail tasks (see [`postgres`]). Must be called within a tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::Open`], naming the URL without its password, when the URL is
    /// invalid, the database cannot be reached in 5 s, or its schema is newer than this
    /// server's.
    pub async fn connect(url: &str, watch_buffer: usize) -> Result<Self, StoreError> {
        let connected = postgres::connect(url).await?;
        let (appends, queue) = mpsc::channel(4 * MAX_BATCH);
        let (events, _) = broadcast::channel(watch_buffer.max(1));
        let last_id = Arc::new(AtomicI64::new(connected.last_id));
        let (available_tx, available) = watch::channel(true);
        let wake = Arc::new(Notify::new());
        postgres::writer::start(connected.pool.clone(), queue, Arc::clone(&wake));
        postgres::tail::Tail {
            pool: connected.pool.clone(),
            config: connected.config,
            tls: connected.tls,
            events: events.clone(),
            last_id: Arc::clone(&last_id),
            available: available_tx,
            wake,
        }
        .start();
        Ok(Self {
            location: StoreLocation::Postgres(url.to_owned()),
            reads: Reads::Postgres(connected.pool),
            appends,
            events,
            last_id,
            available,
        })
    }

    /// Opens the store at `location`: [`FeedbackStore::open_sqlite`] (on the blocking
    /// pool) or [`FeedbackStore::connect`].
    ///
    /// # Errors
    /// As those.
    pub async fn open_at(
        location: &StoreLocation,
        watch_buffer: usize,
    ) -> Result<Self, StoreError> {
        match location {
            StoreLocation::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || Self::open_sqlite(&path, watch_buffer))
                    .await
                    .map_err(|err| StoreError::Open(format!("open task failed: {err}")))?
            }
            StoreLocation::Postgres(url) => Self::connect(url, watch_buffer).await,
        }
    }

    /// Where the store is (its `Display` hides a URL's password).
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// Whether the database answers: always true for SQLite; for PostgreSQL, whether the
    /// last of the reads made at least every second reached it. Changes are sent to the
    /// receiver.
    pub fn available(&self) -> watch::Receiver<bool> {
        self.available.clone()
    }

    /// Stores `feedback`; returns once it is committed to disk.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the commit failed (the feedback is not stored), or
    /// [`StoreError::Closed`].
    pub async fn append(&self, feedback: NewFeedback) -> Result<StoredFeedback, StoreError> {
        self.enqueue(feedback).await?.stored().await
    }

    /// Queues `feedback` for the writer, waiting only for room in the queue. Feedbacks
    /// are stored (and get their ids) in the order they are queued; the [`Receipt`]
    /// says when this one is on disk. Lets one stream queue many feedbacks in order
    /// and wait for their commits together.
    ///
    /// # Errors
    /// [`StoreError::Closed`].
    pub async fn enqueue(&self, feedback: NewFeedback) -> Result<Receipt, StoreError> {
        let (stored, receipt) = oneshot::channel();
        self.appends
            .send(Append { feedback, stored })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(Receipt(receipt))
    }

    /// One page of stored feedback matching `query`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the read fails.
    pub async fn list(&self, query: ListQuery) -> Result<Page, StoreError> {
        match &self.reads {
            Reads::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || reads::read_page(&path, &query))
                    .await
                    .map_err(|err| StoreError::Database(format!("read task failed: {err}")))?
            }
            Reads::Postgres(pool) => postgres::read_page(pool, &query).await,
        }
    }

    /// Stored feedback matching the filters of `query` (its `after_id` and `limit` are
    /// ignored), as it is committed. With `replay_after`, first every stored feedback
    /// with a greater id, then live feedback, with no gap and no repeat. Ends after a
    /// [`WatchEvent::Lagged`] when the watcher falls more than the watch buffer behind.
    pub fn watch(
        &self,
        query: ListQuery,
        replay_after: Option<i64>,
    ) -> impl Stream<Item = Result<WatchEvent, StoreError>> + Send + 'static {
        // Subscribe before reading the last id and replaying: whatever is committed from
        // now on arrives on `live`; whatever was committed before is in the database.
        let mut live = self.events.subscribe();
        let mut seen = self.last_id.load(Ordering::SeqCst);
        let store = self.clone();
        async_stream::try_stream! {
            if let Some(after) = replay_after {
                let mut cursor = after;
                loop {
                    let page = store
                        .list(ListQuery { after_id: cursor, limit: 500, ..query.clone() })
                        .await?;
                    for feedback in page.items {
                        cursor = feedback.id;
                        yield WatchEvent::Feedback(Arc::new(feedback));
                    }
                    match page.next_after_id {
                        Some(next) => cursor = next,
                        None => break,
                    }
                }
                // Every matching feedback up to the last replayed id has been delivered.
                seen = seen.max(cursor);
            }
            loop {
                match live.recv().await {
                    Ok(feedback) => {
                        if feedback.id <= seen {
                            continue;
                        }
                        seen = feedback.id;
                        if query.matches(&feedback) {
                            yield WatchEvent::Feedback(feedback);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        yield WatchEvent::Lagged { missed, resume_after_id: seen };
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
