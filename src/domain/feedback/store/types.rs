//! The store's data: what goes in ([`NewFeedback`]), what comes out ([`StoredFeedback`],
//! [`Page`], [`WatchEvent`]), the queries ([`ListQuery`]) and the errors ([`StoreError`]).

use std::{fmt, sync::Arc};

use crate::domain::feedback::Sentiment;

/// Why the store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database could not be created, opened, reached or migrated.
    Open(String),
    /// The database reported an error, or could not be reached.
    Database(String),
    /// The writer has stopped (the store is shutting down).
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
    /// The client's idempotency key: a feedback with the key of one already stored for
    /// the same consumer is not stored again; its append answers the stored one.
    pub idempotency_key: Option<String>,
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
    pub(super) fn matches(&self, feedback: &StoredFeedback) -> bool {
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

impl Page {
    /// The page of `rows`, read with a limit of `limit + 1`: one more row than asked
    /// tells that there is a next page (and is left out).
    pub(super) fn from_rows(mut items: Vec<StoredFeedback>, limit: usize) -> Self {
        let next_after_id = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|f| f.id)
        } else {
            None
        };
        Page {
            items,
            next_after_id,
        }
    }
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
