//! The echo service's metadata echo, as a tower wrapper around its generated server:
//! tonic lets a handler set response headers but not trailers, so the trailers of a
//! successful call are written here, on the HTTP response.
//!
//! Every request header named `x-echo-*` comes back in the response headers, and again
//! in the trailers renamed `x-echo-trailer-*` ([`trailer_name`]; a `-bin` name keeps
//! its suffix, and its bytes, so it stays binary). The response headers also carry
//! `x-echo-instance`, `x-echo-peer` and `x-echo-server-time`, and, as grpc-go's metadata
//! example server sends them, `location: MTV` and `timestamp` (the time the headers
//! left); the trailers carry `timestamp` too (the time the call ended), in Go's
//! `time.StampNano` layout ([`stamp_nano`]). A trailers-only response (an error before
//! any reply) has one `timestamp`.
//!
//! ClientStreamingEcho's response headers leave at once, before its handler has read a
//! request, as grpc-go's metadata server sends them (`stream.SendHeader` first): its
//! client waits for them before it sends anything, while tonic sends a client-streaming
//! call's headers only with its reply. So [`EchoMetadata`] answers such a call with
//! its headers at once and a body that waits for the handler (`LateBody`); the
//! handler's error then comes in the trailers, not as a trailers-only response. Its
//! reply is never compressed, as headers sent before the handler ran cannot name an
//! encoding (the request's `grpc-accept-encoding` is taken out for the handler).

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::SystemTime,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::{
    Status,
    body::Body,
    server::NamedService,
    transport::server::{TcpConnectInfo, UdsConnectInfo},
};
use tower::Service;

use crate::domain::echo::{
    PREFIX,
    grpc_go::{LOCATION, LOCATION_HEADER, TIMESTAMP, stamp_nano},
    trailer_name,
};

/// The header that names the server instance that answered.
pub const INSTANCE: HeaderName = HeaderName::from_static("x-echo-instance");
/// The header with the client's address, as the server sees it.
pub const PEER: HeaderName = HeaderName::from_static("x-echo-peer");
/// The header with the server's clock when it answered (RFC 3339, UTC, milliseconds).
pub const SERVER_TIME: HeaderName = HeaderName::from_static("x-echo-server-time");
/// The header of a gRPC status, present in the headers of a trailers-only response.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The encodings a client can decode, taken out of a ClientStreamingEcho request (see
/// the module docs).
const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
/// The path of the call whose headers leave before its handler runs.
const CLIENT_STREAMING: &str = "/grpc.examples.echo.Echo/ClientStreamingEcho";

/// `timestamp`, for now ([`stamp_nano`]).
fn timestamp() -> HeaderValue {
    HeaderValue::from_str(&stamp_nano(SystemTime::now()))
        .unwrap_or_else(|_| HeaderValue::from_static("?"))
}

/// The echo server `inner` with its metadata echoed; see the module docs.
#[derive(Debug, Clone)]
pub struct EchoMetadata<S> {
    inner: S,
    /// This server instance's name (`--instance-name`), for every connection.
    instance: Option<HeaderValue>,
    /// This machine's name: without `--instance-name`, the instance is this and the
    /// port the connection came in on (`host:50051`), or `host:unix` for a Unix socket,
    /// so that one server listening on several ports shows as several instances.
    host: String,
}

impl<S> EchoMetadata<S> {
    /// `inner`, answering as `instance`, or else as `host` and the connection's port.
    ///
    /// # Errors
    /// When `instance` cannot be a header value (a control character).
    pub fn new(
        inner: S,
        instance: Option<&str>,
        host: &str,
    ) -> Result<Self, http::header::InvalidHeaderValue> {
        Ok(Self {
            inner,
            instance: instance.map(HeaderValue::from_str).transpose()?,
            host: host.to_owned(),
        })
    }

    /// The instance that answers `request`.
    fn instance_of<B>(&self, request: &Request<B>) -> Option<HeaderValue> {
        if let Some(instance) = &self.instance {
            return Some(instance.clone());
        }
        let port = match request.extensions().get::<TcpConnectInfo>() {
            Some(info) => info
                .local_addr
                .map_or("?".to_owned(), |a| a.port().to_string()),
            None if request.extensions().get::<UdsConnectInfo>().is_some() => "unix".to_owned(),
            None => "in-process".to_owned(),
        };
        HeaderValue::from_str(&format!("{}:{port}", self.host)).ok()
    }
}

impl<S: NamedService> NamedService for EchoMetadata<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for EchoMetadata<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: fmt::Display + Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let echoed: Vec<(HeaderName, HeaderValue)> = request
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str().starts_with(PREFIX))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let extensions = request.extensions();
        let peer = match (
            extensions.get::<TcpConnectInfo>(),
            extensions.get::<UdsConnectInfo>(),
        ) {
            (Some(info), _) => info.remote_addr.map_or("?".to_owned(), |a| a.to_string()),
            (None, Some(info)) => info
                .peer_cred
                .and_then(|cred| cred.pid())
                .map_or("unix socket".to_owned(), |pid| {
                    format!("unix socket, pid {pid}")
                }),
            (None, None) => "in process".to_owned(),
        };
        let instance = self.instance_of(&request);
        let mut trailers = HeaderMap::new();
        for (name, value) in &echoed {
            if let Some(renamed) = trailer_name(name.as_str())
                .and_then(|renamed| HeaderName::from_bytes(renamed.as_bytes()).ok())
            {
                trailers.append(renamed, value.clone());
            }
        }
        let add_headers = move |headers: &mut HeaderMap| {
            for (name, value) in echoed {
                headers.append(name, value);
            }
            if let Some(instance) = instance {
                headers.insert(INSTANCE, instance);
            }
            if let Ok(peer) = HeaderValue::from_str(&peer) {
                headers.insert(PEER, peer);
            }
            let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
            if let Ok(now) = HeaderValue::from_str(&now) {
                headers.insert(SERVER_TIME, now);
            }
            headers.insert(LOCATION_HEADER, HeaderValue::from_static(LOCATION));
            headers.insert(TIMESTAMP, timestamp());
        };
        if request.uri().path() == CLIENT_STREAMING {
            request.headers_mut().remove(GRPC_ACCEPT_ENCODING);
            let mut response = Response::new(Body::new(LateBody {
                state: Late::Waiting(Box::pin(self.inner.call(request))),
                extra: Some(trailers),
            }));
            let headers = response.headers_mut();
            headers.insert(http::header::CONTENT_TYPE, GRPC_CONTENT_TYPE);
            add_headers(headers);
            return Box::pin(std::future::ready(Ok(response)));
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            let headers = response.headers_mut();
            add_headers(headers);
            if headers.contains_key(GRPC_STATUS) {
                // A trailers-only response (an error before any message): its headers
                // are its trailers, and already have a timestamp.
                headers.extend(trailers);
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(TrailersBody {
                    inner: body,
                    extra: Some(trailers),
                })
            }))
        })
    }
}

/// The content type of the headers [`LateBody`]'s call sends before its handler runs.
const GRPC_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/grpc");

/// The trailers `extra`, with `timestamp` for now, added to `trailers`.
fn add_trailers(trailers: &mut HeaderMap, extra: Option<HeaderMap>) {
    if let Some(extra) = extra {
        trailers.extend(extra);
        trailers.insert(TIMESTAMP, timestamp());
    }
}

pin_project! {
    /// A response body whose trailers get `extra` added.
    struct TrailersBody {
        #[pin]
        inner: Body,
        extra: Option<HeaderMap>,
    }
}

impl HttpBody for TrailersBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    add_trailers(&mut trailers, this.extra.take());
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where a [`LateBody`] is: waiting for the handler's response, then sending its body.
enum Late<E> {
    /// The inner server's response, not yet there.
    Waiting(BoxFuture<'static, Result<Response<Body>, E>>),
    /// Its body.
    Body(Pin<Box<TrailersBody>>),
    /// Its status and trailers sent: nothing more.
    Done,
}

/// The body of a call whose headers have already left (ClientStreamingEcho): it waits
/// for the handler's response, then sends its body, and its trailers with `extra`
/// (the echoed metadata and `timestamp`). A trailers-only response (an error) becomes
/// trailers alone: its `grpc-status`, `grpc-message` and any metadata.
struct LateBody<E> {
    state: Late<E>,
    extra: Option<HeaderMap>,
}

impl<E: fmt::Display> HttpBody for LateBody<E> {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                Late::Waiting(response) => {
                    let response = match ready!(response.as_mut().poll(cx)) {
                        Ok(response) => response,
                        Err(err) => {
                            this.state = Late::Done;
                            return Poll::Ready(Some(Err(Status::internal(err.to_string()))));
                        }
                    };
                    let (mut parts, body) = response.into_parts();
                    parts.headers.remove(http::header::CONTENT_TYPE);
                    if parts.headers.contains_key(GRPC_STATUS) {
                        this.state = Late::Done;
                        add_trailers(&mut parts.headers, this.extra.take());
                        return Poll::Ready(Some(Ok(Frame::trailers(parts.headers))));
                    }
                    // The handler's own metadata, which had no headers left to go in.
                    let mut extra = this.extra.take().unwrap_or_default();
                    extra.extend(parts.headers);
                    this.state = Late::Body(Box::pin(TrailersBody {
                        inner: body,
                        extra: Some(extra),
                    }));
                }
                Late::Body(body) => return body.as_mut().poll_frame(cx),
                Late::Done => return Poll::Ready(None),
            }
        }
    }
}
