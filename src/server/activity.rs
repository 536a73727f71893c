//! A connection's calls in flight, so that the accept loop can close a connection that
//! has had none for `--idle-timeout` (HTTP/2 GOAWAY; HTTP/1.1 close). Neither hyper nor
//! h2 closes an idle connection by itself, and keepalive pings keep a silent client's
//! connection open for ever.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tonic::{Status, body::Body};

/// The calls in flight on one connection, and when the last one ended.
#[derive(Debug, Clone)]
pub(super) struct Activity(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// Calls started whose response has not finished.
    open: AtomicUsize,
    /// When a call last started or finished, in milliseconds since `epoch`.
    last_ms: AtomicU64,
    epoch: Instant,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self(Arc::new(Inner {
            open: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }))
    }

    fn touch(&self) {
        let now = self.0.epoch.elapsed().as_millis() as u64;
        self.0.last_ms.store(now, Ordering::Relaxed);
    }

    /// A call starts: it counts until the returned guard is dropped.
    pub(super) fn start(&self) -> ActiveCall {
        self.0.open.fetch_add(1, Ordering::SeqCst);
        self.touch();
        ActiveCall(self.clone())
    }

    /// Completes once the connection has had no call in flight for `timeout`.
    pub(super) async fn idle_for(&self, timeout: Duration) {
        // Checked a few times per timeout: a connection closes between 1x and about
        // 1.25x the timeout after its last call.
        let tick = (timeout / 4).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(tick).await;
            let last = Duration::from_millis(self.0.last_ms.load(Ordering::Relaxed));
            if self.0.open.load(Ordering::SeqCst) == 0 && self.0.epoch.elapsed() >= last + timeout {
                return;
            }
        }
    }

    /// `response`'s body, which keeps `call` counted until it has been sent or dropped.
    pub(super) fn track(call: ActiveCall, response: http::Response<Body>) -> http::Response<Body> {
        response.map(|body| Body::new(Tracked { body, _call: call }))
    }
}

/// One call in flight; dropping it ends the call's count.
#[derive(Debug)]
pub(super) struct ActiveCall(Activity);

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

/// A response body that holds its call's [`ActiveCall`].
struct Tracked {
    body: Body,
    _call: ActiveCall,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A service that counts its calls in an [`Activity`], each until its response body
/// has been sent.
#[derive(Debug, Clone)]
pub(super) struct TrackCalls<S> {
    pub(super) inner: S,
    pub(super) activity: Activity,
}

impl<S, R> tower::Service<R> for TrackCalls<S>
where
    S: tower::Service<R, Response = http::Response<Body>>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = TrackedCall<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        TrackedCall {
            active: Some(self.activity.start()),
            call: self.inner.call(request),
        }
    }
}

pin_project! {
    /// A call's response future, which hands its [`ActiveCall`] to the response body
    /// (no allocation per call: this sits on every call's path).
    pub(super) struct TrackedCall<F> {
        #[pin]
        call: F,
        active: Option<ActiveCall>,
    }
}

impl<F, E> Future for TrackedCall<F>
where
    F: Future<Output = Result<http::Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.call.poll(cx))?;
        let active = this.active.take().expect("polled after it completed");
        Poll::Ready(Ok(Activity::track(active, response)))
    }
}
