//! Memory budgets: how many bytes the work of one stream may hold at once, and the work
//! of every stream together.
//!
//! A stream reserves the bytes a unit of work will hold (a video frame's decoded picture
//! and its output) before doing it, and keeps the [`Reservation`] until the reply has
//! left the server. A reservation waits while a budget is full, so a stream whose
//! client stops reading stops taking new work once its replies fill its budget, and all
//! the streams together never hold more than the server-wide budget.
//!
//! Between the two, each caller (a token, or a peer address) may hold at most half of
//! the server's budget with all its streams together: a caller that opens many streams
//! and never reads them leaves the other half to everyone else.
//!
//! Budgets are counted in KiB (rounded up): tokio's semaphore takes at most `u32::MAX`
//! permits in one acquire, which in bytes would cap a reservation at 4 GiB.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use futures::Stream;
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Who made a call, as the server's per-caller quota and budgets count it: the server's
/// layers put it in each call's extensions (the auth layer a [`Caller::Token`], the quota
/// layer the peer otherwise), and the services that keep a budget per caller
/// ([`MemoryBudget::stream`]) key it by this. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// An authorized token, by name.
    Token(Arc<str>),
    /// A peer without a token, by IP address (every port of one host is one caller).
    Peer(IpAddr),
    /// A client of a Unix socket, or a call with no peer address.
    Local,
}

impl fmt::Display for Caller {
    /// `token "alice"`, `peer 10.0.0.1`, `the local peer`, as error messages name it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(name) => write!(f, "token {name:?}"),
            Self::Peer(ip) => write!(f, "peer {ip}"),
            Self::Local => f.write_str("the local peer"),
        }
    }
}

/// The unit of a budget's permits, bytes.
const UNIT: usize = 1024;

/// Permits for `bytes`, rounded up to whole units.
fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT)
}

/// The server-wide budget, from which each stream takes its own ([`MemoryBudget::stream`]).
/// Cheap to clone: clones share the budget.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    total: Arc<Semaphore>,
    total_bytes: usize,
    stream_bytes: usize,
    /// The budget of each caller with a stream open, by name.
    callers: Arc<Mutex<HashMap<Caller, Arc<Semaphore>>>>,
}

impl MemoryBudget {
    /// A budget of `total_bytes` for every stream together, `stream_bytes` for each
    /// (at most `total_bytes`: a larger one is cut to it).
    pub fn new(stream_bytes: usize, total_bytes: usize) -> Self {
        Self {
            total: Arc::new(Semaphore::new(units(total_bytes))),
            total_bytes,
            stream_bytes: stream_bytes.min(total_bytes),
            callers: Arc::default(),
        }
    }

    /// The budget of one new stream of `caller`.
    pub fn stream(&self, caller: &Caller) -> StreamBudget {
        let shared = {
            let mut callers = self.lock_callers();
            // Forget the callers with no stream or reservation left (only the map holds
            // their budget; a permit holds its semaphore too): the map stays as small as
            // the callers at work.
            callers.retain(|_, budget| Arc::strong_count(budget) > 1);
            let caller_units = units(self.caller_bytes()).max(units(self.stream_bytes));
            Arc::clone(
                callers
                    .entry(caller.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(caller_units))),
            )
        };
        StreamBudget {
            own: Arc::new(Semaphore::new(units(self.stream_bytes))),
            shared,
            server: self.clone(),
        }
    }

    /// The bytes one caller's streams together may hold: half the server's budget (at
    /// least one stream's).
    pub fn caller_bytes(&self) -> usize {
        (self.total_bytes / 2).max(self.stream_bytes)
    }

    fn lock_callers(&self) -> std::sync::MutexGuard<'_, HashMap<Caller, Arc<Semaphore>>> {
        self.callers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bytes one stream may hold.
    pub fn stream_bytes(&self) -> usize {
        self.stream_bytes
    }

    /// The bytes every stream together may hold.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// The bytes reserved now, by every stream (rounded up to KiB per reservation).
    pub fn reserved_bytes(&self) -> usize {
        (units(self.total_bytes) - self.total.available_permits()) * UNIT
    }
}

/// A reservation larger than a budget: it could never be granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverBudget {
    /// The bytes asked for.
    pub bytes: usize,
    /// The budget, bytes.
    pub budget: usize,
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "needs {:.1} MiB of memory; a stream may hold at most {:.1} MiB",
            self.bytes as f64 / (1024.0 * 1024.0),
            self.budget as f64 / (1024.0 * 1024.0)
        )
    }
}

impl std::error::Error for OverBudget {}

/// One stream's budget, taken from its caller's and the server's as it is used.
#[derive(Debug)]
pub struct StreamBudget {
    own: Arc<Semaphore>,
    /// The caller's budget, shared by its streams.
    shared: Arc<Semaphore>,
    server: MemoryBudget,
}

impl StreamBudget {
    /// Whether `bytes` could ever be reserved.
    ///
    /// # Errors
    /// [`OverBudget`] when `bytes` is over the per-stream budget.
    pub fn check(&self, bytes: usize) -> Result<(), OverBudget> {
        if units(bytes) > units(self.server.stream_bytes) {
            return Err(OverBudget {
                bytes,
                budget: self.server.stream_bytes,
            });
        }
        Ok(())
    }

    /// Reserves `bytes`, waiting while this stream's budget, its caller's or the
    /// server's is full. Reservations are granted in the order they are asked for.
    ///
    /// # Errors
    /// [`OverBudget`] at once when `bytes` is over the per-stream budget.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation, OverBudget> {
        self.check(bytes)?;
        let n = units(bytes) as u32;
        // The semaphores are never closed, so acquiring cannot fail. The narrowest
        // budget first: only this stream's frames wait on its own, only its caller's
        // streams on the caller's, so holding one while waiting for the next cannot
        // block another caller.
        let mut permits = Vec::with_capacity(3);
        for budget in [&self.own, &self.shared, &self.server.total] {
            permits.push(
                Arc::clone(budget)
                    .acquire_many_owned(n)
                    .await
                    .expect("the budget is never closed"),
            );
        }
        Ok(Reservation { permits })
    }
}

/// Bytes held against a stream's budget and the server's, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    /// The same number of permits of the stream's, the caller's and the server's budget.
    permits: Vec<OwnedSemaphorePermit>,
}

impl Reservation {
    /// Gives back all but `bytes` (no-op when the reservation is not larger).
    pub fn shrink_to(&mut self, bytes: usize) {
        let excess = self.bytes() / UNIT - units(bytes).min(self.bytes() / UNIT);
        if excess > 0 {
            for permit in &mut self.permits {
                drop(permit.split(excess));
            }
        }
    }

    /// The bytes held (rounded up to KiB).
    pub fn bytes(&self) -> usize {
        self.permits
            .first()
            .map_or(0, OwnedSemaphorePermit::num_permits)
            * UNIT
    }
}

pin_project! {
    /// A stream of replies that keeps each reply's [`Reservation`] until the reply has
    /// left the server: see [`held_until_sent`].
    pub struct HeldUntilSent<S> {
        #[pin]
        replies: S,
        held: VecDeque<Reservation>,
    }
}

/// `replies` without their reservations, each kept until the reply has left the server.
///
/// A gRPC response stream is asked for its next reply only when the transport has room
/// for it: hyper 1.12 (src/proto/h2/mod.rs, `PipeToSendStream`) holds one reply's bytes
/// while it waits for send capacity and then hands them to h2's send buffer, and polls
/// for the next reply only after that. So when the next reply is asked for, the latest
/// one may still be in h2's buffer, and the one before it has left. Each reservation is
/// therefore dropped when the reply after the next one is asked for, or when the stream
/// ends or is dropped. (Replies smaller than tonic's 32 KiB yield threshold may share
/// one chunk; those undercount by less than 32 KiB.)
pub fn held_until_sent<S, T, E>(replies: S) -> HeldUntilSent<S>
where
    S: Stream<Item = Result<(T, Reservation), E>>,
{
    HeldUntilSent {
        replies,
        held: VecDeque::with_capacity(2),
    }
}

impl<S, T, E> Stream for HeldUntilSent<S>
where
    S: Stream<Item = Result<(T, Reservation), E>>,
{
    type Item = Result<T, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        // Asked for another reply: all but the latest have left the server.
        while this.held.len() > 1 {
            this.held.pop_front();
        }
        match std::task::ready!(this.replies.poll_next(cx)) {
            Some(Ok((reply, reservation))) => {
                this.held.push_back(reservation);
                Poll::Ready(Some(Ok(reply)))
            }
            Some(Err(err)) => Poll::Ready(Some(Err(err))),
            None => {
                this.held.clear();
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MIB: usize = 1024 * 1024;

    fn caller(name: &str) -> Caller {
        Caller::Token(name.into())
    }

    #[tokio::test]
    async fn a_stream_waits_while_its_own_budget_is_full() {
        let budget = MemoryBudget::new(10 * MIB, 100 * MIB);
        let stream = budget.stream(&caller("a"));
        let first = stream.reserve(6 * MIB).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), stream.reserve(6 * MIB));
        assert!(waiting.await.is_err(), "over the stream's budget: waits");
        // Another stream is not held up by this one's budget.
        let other = budget.stream(&caller("b")).reserve(6 * MIB).await.unwrap();
        assert_eq!(budget.reserved_bytes(), 12 * MIB);
        drop(first);
        let second = stream.reserve(6 * MIB).await.unwrap();
        assert_eq!(second.bytes(), 6 * MIB);
        drop((second, other));
        assert_eq!(budget.reserved_bytes(), 0);
    }

    #[tokio::test]
    async fn every_stream_waits_while_the_server_budget_is_full() {
        let budget = MemoryBudget::new(10 * MIB, 15 * MIB);
        let a = budget.stream(&caller("a")).reserve(10 * MIB).await.unwrap();
        let b = budget.stream(&caller("b"));
        let waiting = tokio::time::timeout(Duration::from_millis(50), b.reserve(6 * MIB));
        assert!(waiting.await.is_err(), "over the server's budget: waits");
        drop(a);
        assert_eq!(b.reserve(6 * MIB).await.unwrap().bytes(), 6 * MIB);
    }

    #[tokio::test]
    async fn one_caller_holds_at_most_half_the_server_budget() {
        let budget = MemoryBudget::new(10 * MIB, 40 * MIB);
        assert_eq!(budget.caller_bytes(), 20 * MIB);
        let streams: Vec<_> = (0..3).map(|_| budget.stream(&caller("greedy"))).collect();
        let _a = streams[0].reserve(10 * MIB).await.unwrap();
        let _b = streams[1].reserve(10 * MIB).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(50), streams[2].reserve(MIB));
        assert!(third.await.is_err(), "the caller's half is full: waits");
        // Another caller still has the other half.
        let other = budget.stream(&caller("polite"));
        let _c = other.reserve(10 * MIB).await.unwrap();
        let _d = budget
            .stream(&caller("polite"))
            .reserve(10 * MIB)
            .await
            .unwrap();
        assert_eq!(budget.reserved_bytes(), 40 * MIB);
    }

    #[tokio::test]
    async fn a_callers_budget_is_forgotten_once_nothing_holds_it() {
        let budget = MemoryBudget::new(10 * MIB, 40 * MIB);
        let a = budget.stream(&caller("a"));
        let held = a.reserve(MIB).await.unwrap();
        drop(a);
        let _b = budget.stream(&caller("b"));
        assert_eq!(
            budget.lock_callers().len(),
            2,
            "a's reservation is still held"
        );
        drop(held);
        let _c = budget.stream(&caller("c"));
        let callers = budget.lock_callers();
        assert!(!callers.contains_key(&caller("a")) && callers.len() == 2);
    }

    #[tokio::test]
    async fn more_than_a_stream_may_hold_is_refused_at_once() {
        let budget = MemoryBudget::new(10 * MIB, 100 * MIB);
        let err = budget
            .stream(&caller("a"))
            .reserve(10 * MIB + 1)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            OverBudget {
                bytes: 10 * MIB + 1,
                budget: 10 * MIB
            }
        );
        assert!(err.to_string().contains("at most 10.0 MiB"), "{err}");
        // A per-stream budget over the server's is cut to it.
        assert_eq!(MemoryBudget::new(50, 20).stream_bytes(), 20);
    }

    #[tokio::test]
    async fn shrinking_gives_back_the_rest_to_both_budgets() {
        let budget = MemoryBudget::new(10 * MIB, 100 * MIB);
        let stream = budget.stream(&caller("a"));
        let mut held = stream.reserve(8 * MIB).await.unwrap();
        held.shrink_to(MIB + 1);
        assert_eq!(held.bytes(), MIB + UNIT);
        assert_eq!(budget.reserved_bytes(), MIB + UNIT);
        held.shrink_to(9 * MIB);
        assert_eq!(held.bytes(), MIB + UNIT, "shrinking never grows");
        // The stream's own budget got the bytes back too.
        let _more = stream.reserve(8 * MIB).await.unwrap();
    }

    #[tokio::test]
    async fn a_reply_stays_reserved_until_the_one_after_next_is_asked_for() {
        use futures::StreamExt;
        let budget = MemoryBudget::new(10 * MIB, 100 * MIB);
        let stream = budget.stream(&caller("a"));
        let mut replies = Vec::new();
        for n in 1..=3 {
            let reservation = stream.reserve(n * MIB).await.unwrap();
            replies.push(Ok::<_, ()>((n, reservation)));
        }
        let mut held = Box::pin(held_until_sent(futures::stream::iter(replies)));
        assert_eq!(budget.reserved_bytes(), 6 * MIB);
        assert_eq!(held.next().await, Some(Ok(1)));
        assert_eq!(budget.reserved_bytes(), 6 * MIB, "1 is with the transport");
        assert_eq!(held.next().await, Some(Ok(2)));
        assert_eq!(
            budget.reserved_bytes(),
            6 * MIB,
            "1 may still be in h2's buffer"
        );
        assert_eq!(held.next().await, Some(Ok(3)));
        assert_eq!(budget.reserved_bytes(), 5 * MIB, "1 has left");
        assert_eq!(held.next().await, None);
        assert_eq!(budget.reserved_bytes(), 0);
    }
}
