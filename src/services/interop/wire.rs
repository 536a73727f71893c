//! What the interop tests ask of the wire that tonic's handlers cannot see or choose, as
//! a tower wrapper around the generated `TestServiceServer`:
//! - CompressedRequest: the compressed flag of each request message (the first byte of
//!   its 5-byte prefix), for the handlers to check against `expect_compressed`;
//! - CompressedResponse: gzip on each response message the handler asks for, and on no
//!   other (tonic 0.14 compresses a whole stream or none of it; see
//!   `SingleMessageCompressionOverride` in its server/grpc.rs);
//! - Echo Metadata: `x-grpc-test-echo-initial` back in the response headers and
//!   `x-grpc-test-echo-trailing-bin` in the trailers.
//!
//! The handlers and the wrapper share [`MessageFlags`], put in each request's extensions.

use std::{
    collections::VecDeque,
    future::Future,
    io::Write,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, ready},
};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compression, write::GzEncoder};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::{Status, body::Body, server::NamedService};
use tower::Service;

const ECHO_INITIAL: HeaderName = HeaderName::from_static("x-grpc-test-echo-initial");
const ECHO_TRAILING: HeaderName = HeaderName::from_static("x-grpc-test-echo-trailing-bin");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
/// A gRPC message's prefix: the compressed flag, then the length (32-bit big-endian).
const PREFIX_LEN: usize = 5;

/// The compressed flags of one call's messages, shared by its handler and the wrapper.
#[derive(Debug, Clone, Default)]
pub struct MessageFlags {
    /// Whether each request message came compressed, in order, as the wrapper saw them.
    received: Arc<Mutex<VecDeque<bool>>>,
    /// Whether to compress each response message, in order, as the handler asked.
    to_send: Arc<Mutex<VecDeque<bool>>>,
}

impl MessageFlags {
    /// Whether the next request message (in the order the handler reads them) came
    /// compressed; `None` when the wrapper saw no more.
    pub fn next_received(&self) -> Option<bool> {
        lock(&self.received).pop_front()
    }

    /// Asks for the next response message (in the order the handler sends them) to be
    /// compressed (when the client accepts gzip) or not.
    pub fn send_next(&self, compressed: bool) {
        lock(&self.to_send).push_back(compressed);
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
    /// Wraps `inner`, a `TestServiceServer` that does not compress on its own.
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
        let flags = MessageFlags::default();
        let headers = request.headers();
        let gzip = headers
            .get_all(GRPC_ACCEPT_ENCODING)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|encoding| encoding.trim() == "gzip");
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
            if gzip {
                headers.insert(GRPC_ENCODING, HeaderValue::from_static("gzip"));
            }
            Ok(response.map(|body| {
                Body::new(Recompressor {
                    inner: body,
                    pending: BytesMut::new(),
                    to_send: flags.to_send,
                    gzip,
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
    /// A response body whose messages are gzipped or not, one by one, as the handler
    /// asked, and whose trailers get the echoed trailing metadata.
    struct Recompressor {
        #[pin]
        inner: Body,
        // Bytes of a message not yet whole.
        pending: BytesMut,
        to_send: Arc<Mutex<VecDeque<bool>>>,
        // Whether the client accepts gzip.
        gzip: bool,
        trailing: Option<HeaderValue>,
    }
}

impl HttpBody for Recompressor {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let mut this = self.project();
        loop {
            let frame = match ready!(this.inner.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Err(status)) => return Poll::Ready(Some(Err(status))),
                Some(Ok(frame)) => frame,
            };
            let frame = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    let Ok(mut trailers) = frame.into_trailers() else {
                        continue;
                    };
                    if let Some(value) = this.trailing.take() {
                        trailers.insert(ECHO_TRAILING, value);
                    }
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
            };
            // The usual chunk from tonic, one whole message, goes through without a
            // copy unless it is to be compressed: a 4 MB payload is not held twice.
            if this.pending.is_empty() && is_one_message(&frame) {
                let compress = lock(this.to_send).pop_front().unwrap_or(false) && *this.gzip;
                if !compress || frame[0] & 1 == 1 {
                    return Poll::Ready(Some(Ok(Frame::data(frame))));
                }
                let mut out = BytesMut::new();
                if let Err(status) = write_message(&mut out, BytesMut::from(frame), true) {
                    return Poll::Ready(Some(Err(status)));
                }
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
            this.pending.extend_from_slice(&frame);
            let mut out = BytesMut::new();
            while let Some(message) = whole_message(this.pending) {
                let compress = lock(this.to_send).pop_front().unwrap_or(false) && *this.gzip;
                if let Err(status) = write_message(&mut out, message, compress) {
                    return Poll::Ready(Some(Err(status)));
                }
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

/// Whether `chunk` is exactly one whole message, prefix and payload.
fn is_one_message(chunk: &[u8]) -> bool {
    chunk.get(..PREFIX_LEN).is_some_and(|header| {
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        chunk.len() == PREFIX_LEN + len
    })
}

/// The next whole message of `pending` (its prefix and payload), taken out of it.
fn whole_message(pending: &mut BytesMut) -> Option<BytesMut> {
    let header = pending.get(..PREFIX_LEN)?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    (pending.len() >= PREFIX_LEN + len).then(|| pending.split_to(PREFIX_LEN + len))
}

/// Writes `message` (uncompressed, as tonic encoded it) to `out`, gzipped if `compress`.
fn write_message(out: &mut BytesMut, mut message: BytesMut, compress: bool) -> Result<(), Status> {
    if !compress || message[0] & 1 == 1 {
        out.extend_from_slice(&message);
        return Ok(());
    }
    message.advance(PREFIX_LEN);
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    let gzipped = encoder
        .write_all(&message)
        .and_then(|()| encoder.finish())
        .map_err(|err| Status::internal(format!("gzip failed: {err}")))?;
    let len = u32::try_from(gzipped.len())
        .map_err(|_| Status::internal("a compressed message over 4 GiB"))?;
    out.put_u8(1);
    out.put_u32(len);
    out.extend_from_slice(&gzipped);
    Ok(())
}
