//! What the interop cases need of the wire that a tonic client cannot choose or see: to
//! gzip some request messages of a stream and not others (CompressedRequest), and to
//! read whether each response message came compressed (CompressedResponse). A tower
//! wrapper around the HTTP/2 client does both, as a [`Plan`] for the next call says.

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
use http::{HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame};
use pin_project_lite::pin_project;
use tonic::{Status, body::Body, codegen::StdError};
use tower::Service;

/// A gRPC message's prefix: the compressed flag, then the length (32-bit big-endian).
const PREFIX_LEN: usize = 5;

/// What the wrapper does on the calls that follow, and what it saw.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Whether to gzip each request message, in order (none: send all as encoded).
    compress: Arc<Mutex<VecDeque<bool>>>,
    /// Whether each response message came compressed, in order.
    received: Arc<Mutex<Vec<bool>>>,
}

impl Plan {
    /// The next call gzips its messages as `compress` says, one entry per message.
    pub fn compress(&self, compress: &[bool]) {
        *self.compress.lock().expect("not poisoned") = compress.iter().copied().collect();
        self.received.lock().expect("not poisoned").clear();
    }

    /// Whether each response message since the last [`Plan::compress`] came compressed.
    pub fn received(&self) -> Vec<bool> {
        self.received.lock().expect("not poisoned").clone()
    }
}

/// The HTTP/2 client `inner`, following a [`Plan`].
#[derive(Debug, Clone)]
pub struct Wire<S> {
    inner: S,
    plan: Plan,
}

impl<S> Wire<S> {
    /// `inner`, following `plan`.
    pub fn new(inner: S, plan: Plan) -> Self {
        Self { inner, plan }
    }
}

impl<S, B> Service<Request<Body>> for Wire<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<StdError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let compress: VecDeque<bool> =
            std::mem::take(&mut *self.plan.compress.lock().expect("not poisoned"));
        if compress.iter().any(|c| *c) {
            request
                .headers_mut()
                .insert("grpc-encoding", HeaderValue::from_static("gzip"));
            request = request.map(|body| {
                Body::new(Gzipper {
                    inner: body,
                    pending: BytesMut::new(),
                    compress,
                })
            });
        }
        let received = Arc::clone(&self.plan.received);
        let response = self.inner.call(request);
        Box::pin(async move {
            Ok(response.await?.map(|body| {
                Body::new(FlagReader {
                    inner: body,
                    pending: 0,
                    prefix: Vec::new(),
                    received,
                })
            }))
        })
    }
}

pin_project! {
    /// A request body whose messages are gzipped as planned.
    struct Gzipper {
        #[pin]
        inner: Body,
        pending: BytesMut,
        compress: VecDeque<bool>,
    }
}

impl HttpBody for Gzipper {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let mut this = self.project();
        loop {
            let data = match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return Poll::Ready(other),
            };
            this.pending.extend_from_slice(&data);
            let mut out = BytesMut::new();
            while let Some(header) = this.pending.get(..PREFIX_LEN) {
                let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
                if this.pending.len() < PREFIX_LEN + len {
                    break;
                }
                let mut message = this.pending.split_to(PREFIX_LEN + len);
                if this.compress.pop_front().unwrap_or(false) {
                    message.advance(PREFIX_LEN);
                    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
                    let gzipped = encoder
                        .write_all(&message)
                        .and_then(|()| encoder.finish())
                        .map_err(|err| Status::internal(format!("gzip: {err}")))?;
                    out.put_u8(1);
                    out.put_u32(gzipped.len() as u32);
                    out.extend_from_slice(&gzipped);
                } else {
                    out.extend_from_slice(&message);
                }
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
        }
    }
}

pin_project! {
    /// A response body that records each message's compressed flag.
    struct FlagReader<B> {
        #[pin]
        inner: B,
        // Payload bytes of the current message still to come.
        pending: usize,
        // Prefix bytes of the next message seen so far.
        prefix: Vec<u8>,
        received: Arc<Mutex<Vec<bool>>>,
    }
}

impl<B> HttpBody for FlagReader<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<StdError>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let frame = match ready!(this.inner.poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(err)) => return Poll::Ready(Some(Err(Status::from_error(err.into())))),
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            let mut chunk = &data[..];
            while !chunk.is_empty() {
                if *this.pending > 0 {
                    let n = (*this.pending).min(chunk.len());
                    *this.pending -= n;
                    chunk = &chunk[n..];
                    continue;
                }
                let n = (PREFIX_LEN - this.prefix.len()).min(chunk.len());
                this.prefix.extend_from_slice(&chunk[..n]);
                chunk = &chunk[n..];
                if this.prefix.len() == PREFIX_LEN {
                    let flag = this.prefix[0] & 1 == 1;
                    *this.pending = u32::from_be_bytes([
                        this.prefix[1],
                        this.prefix[2],
                        this.prefix[3],
                        this.prefix[4],
                    ]) as usize;
                    this.prefix.clear();
                    this.received.lock().expect("not poisoned").push(flag);
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }
}
