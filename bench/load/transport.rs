//! The tool's HTTP/2 connections, and the request headers that say which client it is.
//!
//! Real clients tell the server what they can decode: grpcio (Python) sends
//! `grpc-accept-encoding: identity, deflate, gzip` and its own user-agent on every call,
//! and so do tritonclient (which is grpcio underneath: captured, tritonclient 2.73.0 on
//! grpcio 1.85.4, the same two headers), grpc-go and grpc-js. A server that compresses
//! replies for such clients spends its CPU there, so by default the tool sends grpcio's
//! headers; `--bare-headers` sends what it sent before (tonic's user-agent and no
//! grpc-accept-encoding).
//!
//! Why a plain hyper connection and not tonic's `Channel`: tonic 0.14.9's Channel appends
//! its own `tonic/0.14.9` to any user-agent a request carries
//! (src/transport/channel/service/user_agent.rs), so through it the tool could not send
//! grpcio's user-agent as grpcio sends it. What the Channel drives underneath is this same
//! connection (hyper 1's `client::conn::http2` with its default settings, Tokio's timer,
//! TCP_NODELAY as tonic's connector sets it), reached here without the Channel's Buffer
//! task in between. The generated clients run over it unchanged.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{
    HeaderValue, Request, Response, Uri,
    header::USER_AGENT,
    uri::{Authority, Scheme},
};
use hyper::{body::Incoming, client::conn::http2::SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tonic::{body::Body, codec::CompressionEncoding};

/// grpcio's user-agent, as grpcio 1.85.4 sends it (the synchronous API's; grpc.aio says
/// `grpc-python-asyncio/...`).
pub const GRPCIO_USER_AGENT: &str = "grpc-python/1.85.4 grpc-c/58.0.0 (linux; chttp2)";
/// What grpcio says it decodes.
pub const GRPCIO_ACCEPT_ENCODING: &str = "identity, deflate, gzip";
/// What tonic's Channel sends: `tonic/` and its version (build.rs reads it from Cargo.lock).
pub const TONIC_USER_AGENT: &str = concat!("tonic/", env!("TONIC_VERSION"));

const ACCEPT_ENCODING: &str = "grpc-accept-encoding";

/// The headers that every call carries.
pub struct ClientHeaders {
    pub user_agent: HeaderValue,
    /// None: no grpc-accept-encoding at all.
    pub accept_encoding: Option<HeaderValue>,
}

impl ClientHeaders {
    /// The reply encodings the generated clients must decode: those of
    /// `accept_encoding` that this build has (gzip, zstd). A reply in another one (deflate,
    /// which grpcio lists and neither this tool's tonic nor the server compiles in) fails
    /// as tonic fails it, UNIMPLEMENTED, and counts as an error.
    pub fn decodes(&self) -> Vec<CompressionEncoding> {
        let listed = self
            .accept_encoding
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        listed
            .split(',')
            .filter_map(|name| match name.trim() {
                "gzip" => Some(CompressionEncoding::Gzip),
                "zstd" => Some(CompressionEncoding::Zstd),
                _ => None,
            })
            .collect()
    }

    /// How the report names them.
    pub fn describe(&self) -> String {
        let accept = match &self.accept_encoding {
            Some(v) => format!("grpc-accept-encoding: {}", v.to_str().unwrap_or("?")),
            None => "no grpc-accept-encoding".to_owned(),
        };
        format!(
            "user-agent: {}; {accept}",
            self.user_agent.to_str().unwrap_or("?")
        )
    }
}

/// One HTTP/2 connection, as a service of `http::Request`s that the generated clients
/// call; clones share the connection.
#[derive(Clone)]
pub struct Connection {
    send: SendRequest<Body>,
    authority: Authority,
    headers: Arc<ClientHeaders>,
}

/// Opens an HTTP/2 connection (prior knowledge, no TLS) to `addr` (`http://host:port`).
pub async fn connect(
    addr: &str,
    headers: Arc<ClientHeaders>,
) -> Result<Connection, Box<dyn std::error::Error>> {
    let uri: Uri = addr.parse()?;
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err(format!("--addr {addr}: only http:// (the tool has no TLS)").into());
    }
    let authority = uri.authority().ok_or("--addr needs host:port")?.clone();
    let target = match authority.port() {
        Some(_) => authority.to_string(),
        None => format!("{authority}:80"),
    };
    let stream = tokio::net::TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(stream))
        .await?;
    // The connection's own task: it ends when every clone of `send` is gone or the server
    // closes; calls in flight then fail, and count as errors.
    tokio::spawn(connection);
    Ok(Connection {
        send,
        authority,
        headers,
    })
}

impl tower::Service<Request<Body>> for Connection {
    type Response = Response<Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Incoming>, hyper::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.send.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The generated clients give the path only; the origin is the connection's (what
        // tonic's AddOrigin does).
        let mut parts = request.uri().clone().into_parts();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        *request.uri_mut() = Uri::from_parts(parts).expect("a path and an authority");
        let headers = request.headers_mut();
        headers.insert(USER_AGENT, self.headers.user_agent.clone());
        // Replaces tonic's own list (`gzip` once a client accepts gzip) with the client's.
        match &self.headers.accept_encoding {
            Some(value) => headers.insert(ACCEPT_ENCODING, value.clone()),
            None => headers.remove(ACCEPT_ENCODING),
        };
        Box::pin(self.send.send_request(request))
    }
}

/// The encoding a reply's messages came in, from its `grpc-encoding` header: None when
/// they came uncompressed.
pub fn reply_encoding(metadata: &tonic::metadata::MetadataMap) -> Option<&'static str> {
    match metadata.get("grpc-encoding")?.as_bytes() {
        b"identity" => None,
        b"gzip" => Some("gzip"),
        b"zstd" => Some("zstd"),
        b"deflate" => Some("deflate"),
        _ => Some("other"),
    }
}
