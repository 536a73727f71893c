//! What the interop tests ask of the wire that tonic's handlers cannot see, as a tower
//! wrapper around the generated `TestServiceServer`:
//! - CompressedRequest: the compressed flag of each request message (the first byte of
//!   its 5-byte prefix), for the handlers to check against `expect_compressed`;
//! - Echo Metadata: `x-grpc-test-echo-initial` back in the response headers and
//!   `x-grpc-test-echo-trailing-bin` in the trailers.
//!
//! CompressedResponse, a compressed reply when the request asks for one, is the
//! server's response compression (`crate::server::compression`), which the handlers ask
//! through [`crate::services::compression::ReplyHints`].
//!
//! The handlers and the wrapper share [`MessageFlags`], put in each request's extensions.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::{Status, body::Body, server::NamedService};
use tower::Service;

use crate::services::compression::{self, ReplyHint, ReplyHints};

const ECHO_INITIAL: HeaderName = HeaderName::from_static("x-grpc-test-echo-initial");
const ECHO_TRAILING: HeaderName = HeaderName::from_static("x-grpc-test-echo-trailing-bin");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// A gRPC message's prefix: the compressed flag, then the length (32-bit big-endian).
const PREFIX_LEN: usize = 5;

/// The compressed flags of one call's request messages, shared by its handler and the
/// wrapper.
#[derive(Debug, Clone, Default)]
pub struct MessageFlags {
    /// Whether each request message came compressed, in order, as the wrapper saw them.
    received: Arc<Mutex<VecDeque<bool>>>,
    /// Where the handler asks for each reply to be compressed or not; `None` when the
    /// client accepts no encoding this server has.
    hints: Option<ReplyHints>,
}

impl MessageFlags {
    /// Whether the next request message (in the order the handler reads them) came
    /// compressed; `None` when the wrapper saw no more.
    pub fn next_received(&self) -> Option<bool> {
        lock(&self.received).pop_front()
    }

    /// Asks for the next response message (in the order the handler sends them) to be
    /// compressed (`Some(true)`, in an encoding the client accepts), to be sent plain
    /// (`Some(false)`), or to follow the server's policy (`None`).
    pub fn send_next(&self, compressed: Option<bool>) {
        let hint = match compressed {
            Some(true) => ReplyHint::Always,
            Some(false) => ReplyHint::Never,
            None => ReplyHint::Policy,
        };
        compression::hint(self.hints.as_ref(), hint);
    }
}

fn lock(queue: &Mutex<VecDeque<bool>>) -> std::sync::MutexGuard<'_, VecDeque<bool>> {
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The interop server `inner` with the wire features of the module docs.
#[derive(Debug, Clone)]
pub struct InteropWire<S> {
    inner: S,
}

impl<S> InteropWire<S> {
    /// Wraps `inner`, a `TestServiceServer`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for InteropWire<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for InteropWire<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let flags = MessageFlags {
            received: Arc::default(),
            hints: ReplyHints::of(request.extensions()),
        };
        let headers = request.headers();
        let initial = headers.get(ECHO_INITIAL).cloned();
        let trailing = headers.get(ECHO_TRAILING).cloned();
        request.extensions_mut().insert(flags.clone());
        let received = Arc::clone(&flags.received);
        let request = request.map(|body| {
            Body::new(FlagScanner {
                inner: body,
                scanner: Prefixes::default(),
                received,
            })
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            let headers = response.headers_mut();
            if let Some(value) = initial {
                headers.insert(ECHO_INITIAL, value);
            }
            if headers.contains_key(GRPC_STATUS) {
                // Trailers-only (an error before any message): the headers are the trailers.
                if let Some(value) = trailing {
                    headers.insert(ECHO_TRAILING, value);
                }
                return Ok(response);
            }
            if trailing.is_none() {
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(EchoTrailers {
                    inner: body,
                    trailing,
                })
            }))
        })
    }
}

/// Follows the message boundaries of a body, chunk by chunk.
#[derive(Debug, Default)]
struct Prefixes {
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    payload_left: usize,
}

impl Prefixes {
    /// The compressed flag of every message whose prefix ends in `chunk`.
    fn scan(&mut self, mut chunk: &[u8], mut found: impl FnMut(bool)) {
        while !chunk.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(chunk.len());
                self.payload_left -= n;
                chunk = &chunk[n..];
                continue;
            }
            let n = (PREFIX_LEN - self.prefix_len).min(chunk.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&chunk[..n]);
            self.prefix_len += n;
            chunk = &chunk[n..];
            if self.prefix_len == PREFIX_LEN {
                self.prefix_len = 0;
                let [flag, a, b, c, d] = self.prefix;
                self.payload_left = u32::from_be_bytes([a, b, c, d]) as usize;
                found(flag & 1 == 1);
            }
        }
    }
}

pin_project! {
    /// A request body that records each message's compressed flag as it passes.
    struct FlagScanner {
        #[pin]
        inner: Body,
        scanner: Prefixes,
        received: Arc<Mutex<VecDeque<bool>>>,
    }
}

impl HttpBody for FlagScanner {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            let mut received = lock(this.received);
            this.scanner.scan(data, |flag| received.push_back(flag));
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// A response body whose trailers get the echoed trailing metadata.
    struct EchoTrailers {
        #[pin]
        inner: Body,
        trailing: Option<HeaderValue>,
    }
}

impl HttpBody for EchoTrailers {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let frame = match ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        Poll::Ready(Some(Ok(match frame.into_trailers() {
            Ok(mut trailers) => {
                if let Some(value) = this.trailing.take() {
                    trailers.insert(ECHO_TRAILING, value);
                }
                Frame::trailers(trailers)
            }
            Err(frame) => frame,
        })))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
