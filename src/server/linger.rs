//! Closes finished TCP connections gracefully ("lingering close", as nginx does).
//!
//! When a connection's last stream ends, hyper drops the socket at once. If the client
//! is still writing at that moment (window updates, acknowledgements of the server's
//! last frames), its writes fail with a broken pipe or meet a reset, and its HTTP/2
//! stack may fail its streams before it has read the data already sent: a health
//! watcher, for instance, never sees the NOT_SERVING the server sent right before
//! exiting. So a dropped [`LingeringStream`] first sends FIN (the client reads
//! everything up to it), then reads and discards whatever the client still sends until
//! it closes its side, at most [`LINGER`], and only then closes the socket. The tasks
//! doing that are tracked so that the server waits for them before it exits.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_util::task::TaskTracker;

/// The longest a finished connection waits for its client to close.
pub const LINGER: Duration = Duration::from_secs(2);

/// A stream (TCP or Unix domain socket) closed with a lingering close when dropped;
/// see the module docs.
#[derive(Debug)]
pub struct LingeringStream<S: Stream> {
    /// The socket; taken by the lingering task on drop.
    stream: Option<S>,
    /// Where the lingering task is tracked.
    tracker: TaskTracker,
}

/// What a lingering close needs of a socket.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for S {}

impl<S: Stream> LingeringStream<S> {
    /// Wraps `stream`; its lingering close will be tracked by `tracker`.
    pub fn new(stream: S, tracker: TaskTracker) -> Self {
        Self {
            stream: Some(stream),
            tracker,
        }
    }

    fn stream(&mut self) -> io::Result<&mut S> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection closed"))
    }
}

impl<S: Stream> AsyncRead for LingeringStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_read(cx, buf),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

impl<S: Stream> AsyncWrite for LingeringStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_write(cx, buf),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_flush(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_shutdown(cx),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

impl<S: Stream> Drop for LingeringStream<S> {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        // Outside a runtime (it is shutting down) there is nothing to run the task on:
        // the socket just closes.
        if tokio::runtime::Handle::try_current().is_ok() {
            self.tracker.spawn(linger(stream));
        }
    }
}

async fn linger<S: Stream>(mut stream: S) {
    // FIN: the client reads everything sent so far, then end of stream.
    let _ = stream.shutdown().await;
    let mut discard = [0u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(n) = stream.read(&mut discard).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
