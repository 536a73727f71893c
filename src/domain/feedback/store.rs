//! Durable feedback storage in SQLite, with live notification of watchers.
//!
//! One writer thread owns the write connection. Appends queue up on a channel; the
//! writer takes every append waiting (up to [`MAX_BATCH`]), inserts them in one
//! transaction and commits (group commit: one disk sync for many feedbacks), then
//! answers each append and broadcasts the stored feedback to watchers. So an append
//! returns only once its feedback is on disk, and watchers only ever see stored
//! feedback, in id order. The database runs in WAL mode with `synchronous=FULL`: a
//! committed transaction survives a crash of the process or of the machine.
//!
//! Reads (pages, replays) open their own read-only connection on tokio's blocking
//! pool; WAL lets them run while the writer writes. No database call ever runs on an
//! async worker thread.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures::Stream;
use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::Sentiment;

/// The most appends committed in one transaction.
pub const MAX_BATCH: usize = 256;
/// The database file's name in the data directory.
pub const DATABASE_FILE: &str = "feedback.sqlite3";

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
];

/// Why the store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The data directory or database file could not be created or opened.
    Open(String),
    /// SQLite reported an error.
    Database(String),
    /// The writer thread has stopped (the store is shutting down).
    Closed,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open(reason) => write!(f, "cannot open the feedback database: {reason}"),
            StoreError::Database(reason) => write!(f, "feedback database error: {reason}"),
            StoreError::Closed => f.write_str("the feedback store is closed"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Database(err.to_string())
    }
}

/// A feedback to store: validated, analyzed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeedback {
    /// Who sent it.
    pub consumer_id: String,
    /// The text.
    pub feedback: String,
    /// Its sentiment.
    pub sentiment: Sentiment,
    /// VADER's compound score, -1 to 1.
    pub sentiment_score: f64,
}

/// A stored feedback.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFeedback {
    /// Its id, increasing in the order of storage.
    pub id: i64,
    /// Who sent it.
    pub consumer_id: String,
    /// The text.
    pub feedback: String,
    /// When it was committed: Unix time, milliseconds.
    pub stored_at_unix_ms: i64,
    /// Its sentiment.
    pub sentiment: Sentiment,
    /// VADER's compound score, -1 to 1.
    pub sentiment_score: f64,
}

/// Which stored feedback to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// Only this consumer's.
    pub consumer_id: Option<String>,
    /// Only this sentiment.
    pub sentiment: Option<Sentiment>,
    /// Only ids above this one.
    pub after_id: i64,
    /// At most this many.
    pub limit: usize,
}

impl ListQuery {
    fn matches(&self, feedback: &StoredFeedback) -> bool {
        self.consumer_id
            .as_ref()
            .is_none_or(|c| *c == feedback.consumer_id)
            && self.sentiment.is_none_or(|s| s == feedback.sentiment)
    }
}

/// One page of stored feedback.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The feedback, oldest first.
    pub items: Vec<StoredFeedback>,
    /// The `after_id` of the next page; `None` on the last page.
    pub next_after_id: Option<i64>,
}

/// One event of a watch.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// A stored feedback matching the filters.
    Feedback(Arc<StoredFeedback>),
    /// The watcher fell behind; the watch ends after this.
    Lagged {
        /// How many feedbacks it missed, before filtering.
        missed: u64,
        /// Replay after this id to resume without a gap.
        resume_after_id: i64,
    },
}

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

struct Append {
    feedback: NewFeedback,
    stored: oneshot::Sender<Result<StoredFeedback, StoreError>>,
}

/// The feedback store. Cheap to clone: clones share the database and the writer.
#[derive(Debug, Clone)]
pub struct FeedbackStore {
    /// The database file, for read connections.
    path: PathBuf,
    /// Appends for the writer thread.
    appends: mpsc::Sender<Append>,
    /// Every stored feedback, for watchers.
    events: broadcast::Sender<Arc<StoredFeedback>>,
    /// The id of the last committed feedback (0 when none).
    last_id: Arc<AtomicI64>,
}

impl FeedbackStore {
    /// Opens (creating on first use) `data_dir/feedback.sqlite3`, runs the schema
    /// migrations, and starts the writer thread. A watcher may fall `watch_buffer`
    /// feedbacks behind before it is told it lagged. Blocking: call it off the async
    /// workers.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the directory or database cannot be created or opened,
    /// or the database was written by a newer version of this server.
    pub fn open(data_dir: &Path, watch_buffer: usize) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|err| StoreError::Open(format!("{}: {err}", data_dir.display())))?;
        let path = data_dir.join(DATABASE_FILE);
        let open = |err: rusqlite::Error| StoreError::Open(format!("{}: {err}", path.display()));
        let mut conn = Connection::open(&path).map_err(open)?;
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

        let (appends, queue) = mpsc::channel(4 * MAX_BATCH);
        let (events, _) = broadcast::channel(watch_buffer.max(1));
        let last_id = Arc::new(AtomicI64::new(last_id));
        let writer = Writer {
            conn,
            queue,
            events: events.clone(),
            last_id: Arc::clone(&last_id),
        };
        std::thread::Builder::new()
            .name("feedback-writer".into())
            .spawn(move || writer.run())
            .map_err(|err| StoreError::Open(format!("cannot start the writer thread: {err}")))?;
        Ok(Self {
            path,
            appends,
            events,
            last_id,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
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
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || read_page(&path, &query))
            .await
            .map_err(|err| StoreError::Database(format!("read task failed: {err}")))?
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

/// The writer thread's state.
struct Writer {
    conn: Connection,
    queue: mpsc::Receiver<Append>,
    events: broadcast::Sender<Arc<StoredFeedback>>,
    last_id: Arc<AtomicI64>,
}

impl Writer {
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
                    if let Some(last) = stored.last() {
                        self.last_id.store(last.id, Ordering::SeqCst);
                    }
                    for (append, feedback) in batch.into_iter().zip(stored) {
                        // No watcher is fine: send fails only when none is subscribed.
                        let _ = self.events.send(Arc::new(feedback.clone()));
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

    fn commit(&mut self, batch: &[Append]) -> rusqlite::Result<Vec<StoredFeedback>> {
        let stored_at_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as i64;
        let tx = self.conn.transaction()?;
        let mut stored = Vec::with_capacity(batch.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO feedback (consumer_id, feedback, stored_at_unix_ms, sentiment, sentiment_score)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for Append { feedback, .. } in batch {
                insert.execute(params![
                    feedback.consumer_id,
                    feedback.feedback,
                    stored_at_unix_ms,
                    feedback.sentiment.as_str(),
                    feedback.sentiment_score,
                ])?;
                stored.push(StoredFeedback {
                    id: tx.last_insert_rowid(),
                    consumer_id: feedback.consumer_id.clone(),
                    feedback: feedback.feedback.clone(),
                    stored_at_unix_ms,
                    sentiment: feedback.sentiment,
                    sentiment_score: feedback.sentiment_score,
                });
            }
        }
        tx.commit()?;
        Ok(stored)
    }
}

/// Reads one page with a fresh read-only connection.
fn read_page(path: &Path, query: &ListQuery) -> Result<Page, StoreError> {
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
    let mut items = rows.collect::<Result<Vec<_>, _>>()?;
    // One more row than asked tells whether there is a next page.
    let next_after_id = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|f| f.id)
    } else {
        None
    };
    Ok(Page {
        items,
        next_after_id,
    })
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn new(consumer: &str, text: &str) -> NewFeedback {
        let (sentiment, sentiment_score) = super::super::analyze(text);
        NewFeedback {
            consumer_id: consumer.to_owned(),
            feedback: text.to_owned(),
            sentiment,
            sentiment_score,
        }
    }

    fn all() -> ListQuery {
        ListQuery {
            limit: 1000,
            ..ListQuery::default()
        }
    }

    #[tokio::test]
    async fn appends_are_stored_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = FeedbackStore::open(dir.path(), 16).unwrap();
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                store
                    .append(new("alice", &format!("message {i}")))
                    .await
                    .unwrap()
                    .id,
            );
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        drop(store);

        let reopened = FeedbackStore::open(dir.path(), 16).unwrap();
        let page = reopened.list(all()).await.unwrap();
        let texts: Vec<_> = page.items.iter().map(|f| f.feedback.as_str()).collect();
        assert_eq!(
            texts,
            [
                "message 0",
                "message 1",
                "message 2",
                "message 3",
                "message 4"
            ]
        );
        let next = reopened
            .append(new("bob", "after reopening"))
            .await
            .unwrap();
        assert!(next.id > ids[4]);
    }

    #[tokio::test]
    async fn concurrent_appends_are_all_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = FeedbackStore::open(dir.path(), 16).unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|c| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..50 {
                        store
                            .append(new(&format!("c{c}"), &format!("m{i}")))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(store.list(all()).await.unwrap().items.len(), 400);
    }

    #[tokio::test]
    async fn pages_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let store = FeedbackStore::open(dir.path(), 16).unwrap();
        for i in 0..7 {
            let consumer = if i % 2 == 0 { "even" } else { "odd" };
            store
                .append(new(consumer, "I love it, wonderful"))
                .await
                .unwrap();
        }
        store
            .append(new("odd", "awful, broken, terrible"))
            .await
            .unwrap();
        let mut query = ListQuery {
            limit: 3,
            ..ListQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = store.list(query.clone()).await.unwrap();
            seen.extend(page.items.iter().map(|f| f.id));
            match page.next_after_id {
                Some(next) => query.after_id = next,
                None => break,
            }
        }
        assert_eq!(seen.len(), 8);
        let odd = ListQuery {
            consumer_id: Some("odd".into()),
            ..all()
        };
        assert_eq!(store.list(odd).await.unwrap().items.len(), 4);
        let negative = ListQuery {
            sentiment: Some(Sentiment::Negative),
            ..all()
        };
        let page = store.list(negative).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].feedback, "awful, broken, terrible");
    }

    #[tokio::test]
    async fn watch_replays_then_goes_live_without_gap_or_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let store = FeedbackStore::open(dir.path(), 64).unwrap();
        let first = store.append(new("a", "one")).await.unwrap();
        store.append(new("a", "two")).await.unwrap();
        let mut watch = Box::pin(store.watch(ListQuery::default(), Some(first.id)));
        store.append(new("a", "three")).await.unwrap();
        let mut texts = Vec::new();
        while texts.len() < 2 {
            if let Some(Ok(WatchEvent::Feedback(f))) = watch.next().await {
                texts.push(f.feedback.clone());
            }
        }
        store.append(new("a", "four")).await.unwrap();
        while texts.len() < 3 {
            if let Some(Ok(WatchEvent::Feedback(f))) = watch.next().await {
                texts.push(f.feedback.clone());
            }
        }
        assert_eq!(texts, ["two", "three", "four"]);
    }

    #[tokio::test]
    async fn a_slow_watcher_is_told_where_to_resume() {
        let dir = tempfile::tempdir().unwrap();
        let store = FeedbackStore::open(dir.path(), 4).unwrap();
        let mut watch = Box::pin(store.watch(ListQuery::default(), None));
        // The watcher reads nothing while 20 feedbacks are stored: appends do not wait.
        for i in 0..20 {
            store.append(new("a", &format!("m{i}"))).await.unwrap();
        }
        let mut delivered = Vec::new();
        let resume = loop {
            match watch.next().await.unwrap().unwrap() {
                WatchEvent::Feedback(f) => delivered.push(f.id),
                WatchEvent::Lagged {
                    resume_after_id,
                    missed,
                } => {
                    assert!(missed > 0);
                    break resume_after_id;
                }
            }
        };
        assert!(watch.next().await.is_none(), "the watch ends after Lagged");
        // Resuming replays exactly what was missed.
        let mut resumed = Box::pin(store.watch(ListQuery::default(), Some(resume)));
        let mut ids = delivered.clone();
        while ids.len() < 20 {
            if let Some(Ok(WatchEvent::Feedback(f))) = resumed.next().await {
                ids.push(f.id);
            }
        }
        let all: Vec<i64> = store
            .list(all())
            .await
            .unwrap()
            .items
            .iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, all);
    }

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
