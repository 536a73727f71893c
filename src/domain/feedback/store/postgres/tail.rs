//! The replica's tail task: reads the feedback committed by any replica, in id order,
//! and broadcasts it to this replica's watchers; and the LISTEN connection that wakes it
//! when another replica commits. Without watchers it reads only the last id. The tail's
//! reads double as the database's health check.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use deadpool_postgres::Pool;
use futures::StreamExt;
use tokio::sync::{Notify, broadcast, watch};
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{CHANNEL, ListQuery, database, read_page};
use crate::domain::feedback::store::{StoreError, StoredFeedback};

/// The longest the tail waits between two reads when nothing wakes it: the delay of a
/// feedback whose notification was lost, and how soon a lost or returned database is
/// noticed.
pub const POLL: Duration = Duration::from_secs(1);
/// The most feedback read at once.
const PAGE: usize = 500;

/// What the tail task shares with the store.
pub(in crate::domain::feedback::store) struct Tail {
    /// Connections for the reads.
    pub(in crate::domain::feedback::store) pool: Pool,
    /// The database's address, for the LISTEN connection.
    pub(in crate::domain::feedback::store) config: tokio_postgres::Config,
    /// TLS for the LISTEN connection, as for the pool's.
    pub(in crate::domain::feedback::store) tls: MakeRustlsConnect,
    /// Where stored feedback goes to this replica's watchers.
    pub(in crate::domain::feedback::store) events: broadcast::Sender<Arc<StoredFeedback>>,
    /// The id of the last feedback broadcast.
    pub(in crate::domain::feedback::store) last_id: Arc<AtomicI64>,
    /// Whether the last read reached the database.
    pub(in crate::domain::feedback::store) available: watch::Sender<bool>,
    /// Woken by this replica's writer after a commit, and by notifications.
    pub(in crate::domain::feedback::store) wake: Arc<Notify>,
}

impl Tail {
    /// Starts the tail and the LISTEN tasks. Both end once every store handle (each holds
    /// a receiver of `available`) is dropped.
    pub(in crate::domain::feedback::store) fn start(self) {
        tokio::spawn(listen(
            self.config.clone(),
            self.tls.clone(),
            Arc::clone(&self.wake),
            self.available.clone(),
        ));
        tokio::spawn(self.run());
    }

    async fn run(self) {
        let mut cursor = self.last_id.load(Ordering::SeqCst);
        while !self.available.is_closed() {
            // A wake-up while a read runs is kept (Notify stores one permit): no commit
            // goes unread.
            let _ = tokio::time::timeout(POLL, self.wake.notified()).await;
            if self.events.receiver_count() == 0 {
                // No watcher here: skip the rows, keep only the last id, so that a watcher
                // that starts now gets what is committed from now on. The count is checked
                // again after the read: a watcher that subscribed before the read may want
                // any row it returns.
                match last_committed(&self.pool).await {
                    Ok(last) if self.events.receiver_count() == 0 => {
                        self.record(Ok(()));
                        cursor = cursor.max(last);
                        self.last_id.store(cursor, Ordering::SeqCst);
                        continue;
                    }
                    Ok(_) => {}
                    Err(err) => {
                        self.record(Err(&err));
                        continue;
                    }
                }
            }
            loop {
                let query = ListQuery {
                    after_id: cursor,
                    limit: PAGE,
                    ..ListQuery::default()
                };
                match read_page(&self.pool, &query).await {
                    Ok(page) => {
                        self.record(Ok(()));
                        for feedback in page.items {
                            cursor = feedback.id;
                            self.last_id.store(cursor, Ordering::SeqCst);
                            // No watcher is fine: send fails only when none is subscribed.
                            let _ = self.events.send(Arc::new(feedback));
                        }
                        if page.next_after_id.is_none() {
                            break;
                        }
                    }
                    Err(err) => {
                        self.record(Err(&err));
                        break;
                    }
                }
            }
        }
    }

    /// Records whether the database answered, logging each change once.
    fn record(&self, outcome: Result<(), &StoreError>) {
        let now = outcome.is_ok();
        let changed = self.available.send_if_modified(|available| {
            let changed = *available != now;
            *available = now;
            changed
        });
        if changed {
            match outcome {
                Err(err) => tracing::error!("feedback database unreachable: {err}"),
                Ok(()) => tracing::info!("feedback database reachable again"),
            }
        }
    }
}

/// The largest id committed.
async fn last_committed(pool: &Pool) -> Result<i64, StoreError> {
    let client = pool.get().await.map_err(database)?;
    let last = client
        .prepare_cached("SELECT COALESCE(MAX(id), 0)::int8 FROM feedback")
        .await
        .map_err(database)?;
    let row = client.query_one(&last, &[]).await.map_err(database)?;
    Ok(row.get(0))
}

/// Keeps one connection LISTENing on the commit channel, waking the tail at each
/// notification and after each (re)connection; reconnects after [`POLL`] when it is
/// lost.
async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    wake: Arc<Notify>,
    alive: watch::Sender<bool>,
) {
    while !alive.is_closed() {
        if let Ok((client, mut connection)) = config.connect(tls.clone()).await {
            let woken = Arc::clone(&wake);
            // The connection's messages: query results go to `client`, notifications
            // come out here. The stream ends when the connection does.
            let messages = tokio::spawn(async move {
                let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(Ok(message)) = messages.next().await {
                    if let AsyncMessage::Notification(_) = message {
                        woken.notify_one();
                    }
                }
            });
            if client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .is_ok()
            {
                // Commits made while this replica was not listening.
                wake.notify_one();
                let _ = messages.await;
            } else {
                messages.abort();
            }
        }
        tokio::time::sleep(POLL).await;
    }
}
