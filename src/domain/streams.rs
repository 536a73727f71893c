//! A count of the streaming calls in progress.
//!
//! Every streaming handler holds a [`StreamGuard`] for as long as it does work for
//! its stream: the task that feeds a server stream, or the stream that answers a
//! bidirectional one. The guard is dropped when that work stops, whether the stream
//! finished, failed or was cancelled by the client, so [`ActiveStreams::count`]
//! going back to zero shows that no work outlives its stream.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use futures::Stream;
use pin_project_lite::pin_project;

/// The number of streams being worked on. Cheap to clone: clones share the count.
#[derive(Debug, Clone, Default)]
pub struct ActiveStreams {
    count: Arc<AtomicUsize>,
}

impl ActiveStreams {
    /// A count at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one more stream until the returned guard is dropped.
    pub fn open(&self) -> StreamGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        StreamGuard {
            count: Arc::clone(&self.count),
        }
    }

    /// `stream`, counted until it is dropped (finished, failed or cancelled).
    pub fn track<S: Stream>(&self, stream: S) -> Tracked<S> {
        Tracked {
            stream,
            _guard: self.open(),
        }
    }

    /// How many streams are being worked on now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Keeps one stream counted in [`ActiveStreams`] while it lives.
#[derive(Debug)]
pub struct StreamGuard {
    count: Arc<AtomicUsize>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

pin_project! {
    /// A stream counted in [`ActiveStreams`] while it lives: see [`ActiveStreams::track`].
    pub struct Tracked<S> {
        #[pin]
        stream: S,
        _guard: StreamGuard,
    }
}

impl<S: Stream> Stream for Tracked<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.project().stream.poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_while_alive() {
        let streams = ActiveStreams::new();
        let a = streams.open();
        let b = streams.clone().open();
        assert_eq!(streams.count(), 2);
        drop(a);
        assert_eq!(streams.count(), 1);
        drop(b);
        assert_eq!(streams.count(), 0);
    }

    #[test]
    fn a_tracked_stream_counts_until_dropped() {
        use futures::StreamExt;
        let streams = ActiveStreams::new();
        let mut tracked = streams.track(futures::stream::iter([1, 2]));
        assert_eq!(streams.count(), 1);
        assert_eq!(futures::executor::block_on(tracked.next()), Some(1));
        drop(tracked);
        assert_eq!(streams.count(), 0);
    }
}
