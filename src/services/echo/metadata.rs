//! The echo service's metadata echo, as a tower wrapper around its generated server:
//! tonic lets a handler set response headers but not trailers, so the trailers of a
//! successful call are written here, on the HTTP response.
//!
//! Every request header named `x-echo-*` comes back in the response headers, and again
//! in the trailers renamed `x-echo-trailer-*` ([`trailer_name`]; a `-bin` name keeps
//! its suffix, and its bytes, so it stays binary). The response headers also carry
//! `x-echo-instance`, `x-echo-peer` and `x-echo-server-time`.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::SystemTime,
};

use bytes::Bytes;
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

use crate::domain::echo::{PREFIX, trailer_name};

/// The header that names the server instance that answered.
pub const INSTANCE: HeaderName = HeaderName::from_static("x-echo-instance");
/// The header with the client's address, as the server sees it.
pub const PEER: HeaderName = HeaderName::from_static("x-echo-peer");
/// The header with the server's clock when it answered (RFC 3339, UTC, milliseconds).
pub const SERVER_TIME: HeaderName = HeaderName::from_static("x-echo-server-time");
/// The header of a gRPC status, present in the headers of a trailers-only response.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

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
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
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
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            let mut trailers = HeaderMap::new();
            for (name, value) in &echoed {
                if let Some(renamed) = trailer_name(name.as_str())
                    .and_then(|renamed| HeaderName::from_bytes(renamed.as_bytes()).ok())
                {
                    trailers.append(renamed, value.clone());
                }
            }
            let headers = response.headers_mut();
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
            if headers.contains_key(GRPC_STATUS) {
                // A trailers-only response (an error before any message): its headers
                // are its trailers.
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
                    if let Some(extra) = this.extra.take() {
                        trailers.extend(extra);
                    }
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
