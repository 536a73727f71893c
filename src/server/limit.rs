//! A limit on the calls in progress across all connections (`--max-concurrent-requests`).
//!
//! A call over the limit is answered at once with UNAVAILABLE (the code gRPC clients
//! retry with backoff, as Netflix's concurrency-limits answers overload), not queued: a
//! queue would only add latency to every call while the server is saturated. A call
//! holds its slot until its response ends, so a long stream counts for its whole life.
//! Health checks are never refused: a load balancer must still see an overloaded server
//! as alive. (The per-connection limit is HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS,
//! `--max-concurrent-streams`, set on the connection in [`crate::server`]: the client
//! waits for a free stream, as the HTTP/2 spec has it.)

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

/// The path prefix of the calls never refused.
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// A [`Layer`] that limits the calls in progress to a number shared by every connection.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    slots: Arc<Semaphore>,
    max: usize,
}

impl ConcurrencyLimitLayer {
    /// At most `max` calls at once.
    pub fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> ConcurrencyLimit<S> {
        ConcurrencyLimit {
            inner,
            slots: Arc::clone(&self.slots),
            max: self.max,
        }
    }
}

/// See [`ConcurrencyLimitLayer`].
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    slots: Arc<Semaphore>,
    max: usize,
}

impl<S, B> Service<Request<B>> for ConcurrencyLimit<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = LimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.uri().path().starts_with(HEALTH_PREFIX) {
            return LimitFuture {
                inner: Some(self.inner.call(request)),
                permit: None,
                refused: None,
            };
        }
        let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
            let status = Status::unavailable(format!(
                "the server is at its limit of {} calls in progress \
                 (--max-concurrent-requests); retry later",
                self.max
            ));
            return LimitFuture {
                inner: None,
                permit: None,
                refused: Some(status),
            };
        };
        LimitFuture {
            inner: Some(self.inner.call(request)),
            permit: Some(permit),
            refused: None,
        }
    }
}

pin_project! {
    /// The response future of [`ConcurrencyLimit`]: the inner service's response, its
    /// body holding the call's slot, or UNAVAILABLE at once. (A named future rather
    /// than a boxed one: no allocation per call.)
    pub struct LimitFuture<F> {
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedSemaphorePermit>,
        refused: Option<Status>,
    }
}

impl<F, E> Future for LimitFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let status = this
                .refused
                .take()
                .unwrap_or_else(|| Status::internal("limit future polled after completion"));
            return Poll::Ready(Ok(status.into_http()));
        };
        let response = std::task::ready!(inner.poll(cx))?;
        Poll::Ready(Ok(match this.permit.take() {
            Some(permit) => response.map(|body| {
                Body::new(PermitBody {
                    inner: body,
                    _permit: permit,
                })
            }),
            None => response,
        }))
    }
}

pin_project! {
    /// A response body that holds its call's slot until it ends or is dropped.
    struct PermitBody {
        #[pin]
        inner: Body,
        _permit: OwnedSemaphorePermit,
    }
}

impl HttpBody for PermitBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
