//! The response compression of gRPC and grpc-web calls: a tower wrapper around each
//! generated tonic server, which compresses that server's reply messages one by one as
//! the policy and the handler's hints say (see the [module docs](super)).
//!
//! tonic's own `send_compressed` cannot do this: tonic 0.14 compresses every message of
//! a call when the client lists the encoding in `grpc-accept-encoding`, or none of them
//! (`SingleMessageCompressionOverride`, in its `codec/compression.rs`, turns compression
//! off for a whole unary reply, and `EncodeBody` in `codec/encode.rs` takes one encoding
//! for the whole stream). So the tonic servers here only decompress requests, and this
//! wrapper compresses the messages tonic encoded, plain, in its response body.
//! A call with nothing to compress (the usual case: the request came uncompressed) goes
//! through untouched, its body unwrapped.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderName, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::{Status, body::Body, server::NamedService};
use tower::Service;

use super::{Accepted, Encoding, Plan, ResponseCompression};
use crate::services::compression::ReplyHints;

const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// A gRPC message's prefix: the compressed flag, then the length (32-bit big-endian).
const PREFIX_LEN: usize = 5;

/// The tonic server `inner` (which compresses nothing itself) with the server's
/// response compression.
#[derive(Debug, Clone)]
pub struct Compressed<S> {
    inner: S,
    policy: ResponseCompression,
    /// Whether the handlers may ask for a compressed reply, whatever the policy (the
    /// interop service): such calls get [`ReplyHints`] whenever the client accepts an
    /// encoding this server has.
    on_request: bool,
}

impl<S> Compressed<S> {
    /// `inner`'s replies compressed as `policy` says.
    pub fn new(inner: S, policy: ResponseCompression) -> Self {
        Self {
            inner,
            policy,
            on_request: false,
        }
    }

    /// Lets the handlers ask for a compressed reply ([`crate::services::compression::ReplyHint::Always`]).
    pub fn on_request(mut self) -> Self {
        self.on_request = true;
        self
    }
}

impl<S: NamedService> NamedService for Compressed<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for Compressed<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let headers = request.headers();
        // An encoding this server lacks is refused by tonic (UNIMPLEMENTED, with the
        // encodings it has in grpc-accept-encoding), before any handler runs.
        let request_encoding = headers
            .get(GRPC_ENCODING)
            .and_then(|value| value.to_str().ok())
            .and_then(Encoding::from_name);
        // The usual call, an uncompressed request under `mirror` (or `off`), has nothing
        // to compress whatever the client accepts: its grpc-accept-encoding is not even
        // read (parsing grpcio's cost 1,400 instructions a call, 2.4% of a SayHello).
        let nothing_to_compress = !self.on_request
            && match self.policy {
                ResponseCompression::Off => true,
                ResponseCompression::Mirror => request_encoding.is_none(),
                ResponseCompression::Gzip | ResponseCompression::Zstd => false,
            };
        let compress = if nothing_to_compress {
            None
        } else {
            let accepted = Accepted::from_headers(headers.get_all(GRPC_ACCEPT_ENCODING));
            self.policy
                .plan(request_encoding, accepted, self.on_request)
                .map(|plan| {
                    let hints = ReplyHints::default();
                    request.extensions_mut().insert(hints.clone());
                    (plan, hints)
                })
        };
        ResponseFuture {
            inner: self.inner.call(request),
            compress,
        }
    }
}

pin_project! {
    /// The response of [`Compressed`]: the inner server's, with its body wrapped when
    /// the call's replies may be compressed.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // How the replies are compressed, and the handler's hints; `None`: not at all.
        compress: Option<(Plan, ReplyHints)>,
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        let Some((plan, hints)) = this.compress.take() else {
            return Poll::Ready(Ok(response));
        };
        // Trailers-only (an error before any message): nothing to compress.
        if response.headers().contains_key(GRPC_STATUS) {
            return Poll::Ready(Ok(response));
        }
        response
            .headers_mut()
            .insert(GRPC_ENCODING, plan.encoding.header_value());
        Poll::Ready(Ok(response.map(|body| {
            Body::new(Recompressor {
                inner: body,
                pending: BytesMut::new(),
                plan,
                hints,
            })
        })))
    }
}

pin_project! {
    /// A response body whose messages are compressed or left plain one by one.
    struct Recompressor {
        #[pin]
        inner: Body,
        // Bytes of a message not yet whole.
        pending: BytesMut,
        plan: Plan,
        hints: ReplyHints,
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
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => return Poll::Ready(Some(Ok(frame))),
            };
            // The usual chunk from tonic, one whole message, goes through without a
            // copy unless it is compressed: a 4 MB frame is not held twice.
            if this.pending.is_empty() && is_one_message(&data) {
                let hint = this.hints.next();
                if data[0] & 1 == 1 || !this.plan.compresses(hint, data.len() - PREFIX_LEN) {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                let mut out = BytesMut::new();
                if let Err(status) =
                    write_compressed(&mut out, &data[PREFIX_LEN..], this.plan.encoding)
                {
                    return Poll::Ready(Some(Err(status)));
                }
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
            // Several messages in one chunk (tonic batches what a stream had ready), or
            // one split across chunks.
            this.pending.extend_from_slice(&data);
            let mut out = BytesMut::new();
            while let Some(message) = whole_message(this.pending) {
                let hint = this.hints.next();
                let payload = &message[PREFIX_LEN..];
                if message[0] & 1 == 1 || !this.plan.compresses(hint, payload.len()) {
                    out.extend_from_slice(&message);
                } else if let Err(status) = write_compressed(&mut out, payload, this.plan.encoding)
                {
                    return Poll::Ready(Some(Err(status)));
                }
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // Compression changes the length: say nothing of it.
        SizeHint::default()
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

/// Writes `payload` to `out` as one compressed message: the flag 1, the compressed
/// length, the compressed bytes.
fn write_compressed(out: &mut BytesMut, payload: &[u8], encoding: Encoding) -> Result<(), Status> {
    let compressed = encoding
        .compress(payload)
        .map_err(|err| Status::internal(format!("{} failed: {err}", encoding.name())))?;
    let len = u32::try_from(compressed.len())
        .map_err(|_| Status::internal("a compressed message over 4 GiB"))?;
    out.reserve(PREFIX_LEN + compressed.len());
    out.put_u8(1);
    out.put_u32(len);
    out.extend_from_slice(&compressed);
    Ok(())
}
