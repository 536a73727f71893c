//! The shape the layers share: a guard that lives as long as its call, the response
//! future that runs a call under it, and the body that carries it to the call's end.
//!
//! A layer's work on one call is a [`CallGuard`]:
//! - [`CallGuard::poll_end`] may end the call with a status (the deadline passes): it is
//!   polled while the handler works and before each frame of the response body;
//! - [`CallGuard::on_response`] sees the response's headers and keeps the guard for the
//!   body, or lets it go (a trailers-only response is already complete);
//! - [`CallGuard::on_item`] sees each frame of the body (the status trailers, an error,
//!   the end) and may replace it;
//! - dropping the guard tells the layer the call is over, however it ended: a client
//!   that cancels drops the response, and with it the guard.
//!
//! Ending a call drops the handler's future or response stream, which stops its work.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::{Status, body::Body, codegen::StdError};

/// One item of a body: a frame (data or trailers), an error, or `None` at the end.
pub type Item = Option<Result<Frame<Bytes>, Status>>;

/// What a layer does with one call; see the module docs.
pub trait CallGuard: Send + Sized + 'static {
    /// `Ready(status)` ends the call with `status` now. Polled while the handler has not
    /// answered, then before each frame of the guarded body.
    fn poll_end(&mut self, _cx: &mut Context<'_>) -> Poll<Status> {
        Poll::Pending
    }

    /// The guard to keep on the body of a response with `headers`, or `None` when the
    /// body needs no watching.
    fn on_response(self, _headers: &HeaderMap) -> Option<Self> {
        Some(self)
    }

    /// Whether the guard must see the body's end (its `None`) even when the body says
    /// it has ended (`is_end_stream`): an empty request body says so before its first
    /// poll, and a decoder that trusts it never polls.
    fn awaits_end(&self) -> bool {
        false
    }

    /// Sees each item of the guarded body before it is passed on; may replace it.
    fn on_item(&mut self, item: Item) -> Item {
        item
    }

    /// The last item of a body that [`CallGuard::poll_end`] ended: by default the status
    /// as trailers, which is how a gRPC response ends. (A request body ends with the
    /// status as an error instead, which the handler's decoder reports.)
    fn end_item(status: &Status) -> Item {
        let mut trailers = HeaderMap::new();
        match status.add_header(&mut trailers) {
            Ok(()) => Some(Ok(Frame::trailers(trailers))),
            Err(_) => Some(Err(status.clone())),
        }
    }
}

/// The guard of a layer that watches nothing on this call (it only lets it through).
#[derive(Debug)]
pub enum Unguarded {}

impl CallGuard for Unguarded {}

pin_project! {
    /// The response future of a guarded layer: either a status at once (the call was
    /// refused), or the inner service's response, ended early by the guard if it says
    /// so, with its body guarded until it ends. (A named future rather than a boxed one:
    /// no allocation per call.)
    pub struct CallFuture<F, G> {
        #[pin]
        inner: Option<F>,
        guard: Option<G>,
        refused: Option<Status>,
    }
}

impl<F, G> CallFuture<F, G> {
    /// Runs the call `inner` under `guard` (`None`: unwatched).
    pub fn new(inner: F, guard: Option<G>) -> Self {
        Self {
            inner: Some(inner),
            guard,
            refused: None,
        }
    }

    /// Answers `status` without calling the service.
    pub fn refuse(status: Status) -> Self {
        Self {
            inner: None,
            guard: None,
            refused: Some(status),
        }
    }
}

impl<F, G, E> Future for CallFuture<F, G>
where
    F: Future<Output = Result<Response<Body>, E>>,
    G: CallGuard,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            let status = this
                .refused
                .take()
                .unwrap_or_else(|| Status::internal("a call future polled after completion"));
            return Poll::Ready(Ok(status.into_http()));
        };
        if let Poll::Ready(response) = inner.poll(cx) {
            this.inner.set(None);
            let response = response?;
            return Poll::Ready(Ok(
                match this
                    .guard
                    .take()
                    .and_then(|g| g.on_response(response.headers()))
                {
                    Some(guard) => response.map(|body| Body::new(GuardedBody::new(body, guard))),
                    None => response,
                },
            ));
        }
        if let Some(guard) = this.guard.as_mut()
            && let Poll::Ready(status) = guard.poll_end(cx)
        {
            // Dropping the handler's future stops its work.
            this.inner.set(None);
            this.guard.take();
            return Poll::Ready(Ok(status.into_http()));
        }
        Poll::Pending
    }
}

pin_project! {
    /// A body (a response's, or a request's) watched by a guard until it ends. Once it
    /// has ended, by its own end, an error or the guard, the inner body is dropped.
    pub struct GuardedBody<B, G> {
        #[pin]
        inner: Option<B>,
        guard: G,
    }
}

impl<B, G> GuardedBody<B, G> {
    /// `inner` under `guard`.
    pub fn new(inner: B, guard: G) -> Self {
        Self {
            inner: Some(inner),
            guard,
        }
    }
}

impl<B, G> HttpBody for GuardedBody<B, G>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<StdError>,
    G: CallGuard,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(status) = this.guard.poll_end(cx) {
            // Dropping the handler's stream now stops its work without waiting for
            // hyper to drop this body.
            this.inner.set(None);
            return Poll::Ready(G::end_item(&status));
        }
        let item = ready!(inner.poll_frame(cx))
            .map(|result| result.map_err(|err| Status::from_error(err.into())));
        let item = this.guard.on_item(item);
        let ended = match &item {
            None | Some(Err(_)) => true,
            Some(Ok(frame)) => frame.is_trailers(),
        };
        if ended {
            this.inner.set(None);
        }
        Poll::Ready(item)
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|inner| inner.is_end_stream() && !self.guard.awaits_end())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}
