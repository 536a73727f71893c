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
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use super::guard::{CallFuture, CallGuard};

/// The path prefix of the calls never refused.
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// A [`Layer`] that limits the calls in progress to a number shared by every connection.
///
/// Not tower's `ConcurrencyLimit`: that one waits for a free slot in `poll_ready` instead
/// of refusing, and its permit lives in the response future (tower 0.5.3,
/// src/limit/concurrency/future.rs), so it is given back when the response's headers are
/// ready: a stream would stop counting as soon as it starts.
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

/// A call's slot, held until its response body ends or is dropped.
impl CallGuard for OwnedSemaphorePermit {}

impl<S, B> Service<Request<B>> for ConcurrencyLimit<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = CallFuture<S::Future, OwnedSemaphorePermit>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.uri().path().starts_with(HEALTH_PREFIX) {
            return CallFuture::new(self.inner.call(request), None);
        }
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => CallFuture::new(self.inner.call(request), Some(permit)),
            Err(_) => CallFuture::refuse(Status::unavailable(format!(
                "the server is at its limit of {} calls in progress \
                 (--max-concurrent-requests); retry later",
                self.max
            ))),
        }
    }
}
