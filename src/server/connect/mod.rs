//! The Connect protocol (connectrpc.com/docs/protocol) on the gRPC port, for every method
//! of every service: plain HTTP with JSON (or protobuf), which `curl`, browsers and
//! Connect clients speak.
//!
//! - Unary: `POST /package.Service/Method` with `Content-Type: application/json` (or
//!   `application/proto`) and the request message as the body; the reply is the
//!   response message, or a Connect error with the HTTP status the protocol maps its
//!   code to.
//! - Streams: `Content-Type: application/connect+json` (or `+proto`); each message in
//!   an envelope (a flags byte, a 32-bit big-endian length); the reply's last envelope
//!   (flag 0b10) carries the status and the trailers as JSON. Server streams work over
//!   HTTP/1.1; client and bidirectional streams need HTTP/2 for both directions at once.
//! - Compression: a unary body by `Content-Encoding`, a stream's envelopes by
//!   `Connect-Content-Encoding` (gzip, zstd or deflate); replies as the server's one
//!   policy says ([`compression`]).
//! - `Connect-Timeout-Ms` is the call's deadline; other `x-*` headers and
//!   `authorization` are the call's metadata. Response metadata comes back as headers,
//!   and trailers as headers prefixed `trailer-` (unary) or in the last envelope.
//!
//! Transcoding is generic: the server's descriptor sets (prost-reflect's dynamic
//! messages) turn each message to protobuf and back, and the call itself is a gRPC call
//! to this server's own stack, so it goes through the same layers as a call from the
//! network: metrics, limits, auth, deadlines, message limits.

pub mod codec;
pub mod compression;
pub mod error;
mod streaming;
pub mod websocket;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use codec::{COMPRESSED, Codec, END_STREAM, Envelopes, envelope, from_proto, to_proto};
use error::ConnectError;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE},
    request::Parts,
};
use http_body_util::{BodyExt, Full, Limited};
use prost_reflect::{DescriptorPool, MethodDescriptor};
use serde_json::{Map, Value};
use tonic::{Code, Status, body::Body};
use tower::ServiceExt;

use super::{HttpService, ResponseCompression, routes};
use crate::domain::{catalog::Catalog, quote::quote};
use compression::CallCompression;

const CONNECT_TIMEOUT_MS: HeaderName = HeaderName::from_static("connect-timeout-ms");
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// A call's content type: how its messages are written, and whether it is a stream.
fn content_type(headers: &HeaderMap) -> Option<(Codec, bool)> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim();
    Some(match media {
        "application/json" => (Codec::Json, false),
        "application/proto" => (Codec::Proto, false),
        "application/connect+json" => (Codec::Json, true),
        "application/connect+proto" => (Codec::Proto, true),
        _ => return None,
    })
}

/// Whether a request is a Connect call: a POST with one of Connect's content types.
pub fn is_connect(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::POST && content_type(headers).is_some()
}

/// The Connect handler: the descriptors, and the gRPC stack it calls.
#[derive(Clone)]
pub struct Connect {
    shared: Arc<Shared>,
}

struct Shared {
    /// Every message and method the server knows.
    pool: DescriptorPool,
    /// This server's gRPC stack, with all its layers.
    grpc: HttpService,
    /// The largest unary request body, bytes (`--max-message-size`).
    max_body: usize,
    /// The web origins besides the server's own whose pages may open a WebSocket
    /// (`--cors-allow-origin`; `*` for any).
    allowed_origins: Vec<String>,
    /// How long a unary request's body may take to arrive (`--request-body-timeout`).
    body_timeout: Duration,
    /// Which replies are compressed (`--response-compression`).
    compression: ResponseCompression,
    /// The hosted methods, for the message of an unknown one (as on gRPC); `None`
    /// names what the descriptor sets describe.
    catalog: Option<Arc<Catalog>>,
}

impl Connect {
    /// A handler for the methods of `descriptor_sets` (encoded `FileDescriptorSet`s),
    /// calling `grpc`; unary bodies up to `max_body` bytes; WebSockets from pages of the
    /// server's own origin and of `allowed_origins`.
    ///
    /// # Errors
    /// When a descriptor set does not decode or refers to files not given before it.
    pub fn new(
        descriptor_sets: &[&[u8]],
        grpc: HttpService,
        max_body: usize,
        allowed_origins: Vec<String>,
    ) -> Result<Self, prost_reflect::DescriptorError> {
        let mut pool = DescriptorPool::new();
        for set in descriptor_sets {
            pool.decode_file_descriptor_set(*set)?;
        }
        Ok(Self {
            shared: Arc::new(Shared {
                pool,
                grpc,
                max_body,
                allowed_origins,
                body_timeout: Duration::from_secs(30),
                compression: ResponseCompression::default(),
                catalog: None,
            }),
        })
    }

    /// The handler with `body_timeout` for a unary request's body to arrive in full
    /// (30 s unless set); past it, `deadline_exceeded`.
    pub fn with_body_timeout(mut self, body_timeout: Duration) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.body_timeout = body_timeout;
        }
        self
    }

    /// The handler with `policy` for its replies' compression
    /// ([`ResponseCompression::Mirror`] unless set).
    pub fn with_compression(mut self, policy: ResponseCompression) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.compression = policy;
        }
        self
    }

    /// The handler answering calls to methods not in `catalog` (the hosted ones) with
    /// `unimplemented` and [`Catalog::unknown`]'s message, as gRPC calls get it.
    pub fn with_catalog(mut self, catalog: Arc<Catalog>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.catalog = Some(catalog);
        }
        self
    }

    /// How `method`'s replies are compressed, from its request's `headers`.
    fn negotiate(
        &self,
        headers: &HeaderMap,
        method: &MethodDescriptor,
        streaming: bool,
    ) -> Result<CallCompression, ConnectError> {
        let on_request = routes::compresses_on_request(method.parent_service().full_name());
        CallCompression::negotiate(headers, streaming, self.shared.compression, on_request)
    }

    /// Every message and method the server knows.
    pub fn pool(&self) -> &DescriptorPool {
        &self.shared.pool
    }

    /// Answers one Connect call.
    pub async fn handle(self, request: Request<Body>) -> Response<Body> {
        let pool = &self.shared.pool;
        let Some((codec, streaming)) = content_type(request.headers()) else {
            return ConnectError::new(Code::Unknown, "not a Connect call").into_response(pool);
        };
        let method = match self.method(request.uri().path()) {
            Ok(method) => method,
            Err(err) => return err.into_response(pool),
        };
        let is_stream = method.is_client_streaming() || method.is_server_streaming();
        if is_stream != streaming {
            let wanted = if is_stream {
                "application/connect+json"
            } else {
                "application/json"
            };
            let mut response = ConnectError::new(
                Code::InvalidArgument,
                format!("{} takes Content-Type: {wanted}", method.full_name()),
            )
            .into_response(pool);
            *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            return response;
        }
        let (parts, body) = request.into_parts();
        if streaming {
            self.streaming(parts, body, codec, method).await
        } else {
            match self.unary(parts, body, codec, &method).await {
                Ok(response) | Err(response) => response,
            }
        }
    }

    /// The method of `path` (`/package.Service/Method`).
    fn method(&self, path: &str) -> Result<MethodDescriptor, ConnectError> {
        if let Some(message) = self.shared.catalog.as_ref().and_then(|c| c.unknown(path)) {
            return Err(ConnectError::new(Code::Unimplemented, message));
        }
        let (service, name) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or_default();
        let Some(service) = self.shared.pool.get_service_by_name(service) else {
            return Err(ConnectError::new(
                Code::Unimplemented,
                format!("no service {} on this server", quote(service)),
            ));
        };
        service.methods().find(|m| m.name() == name).ok_or_else(|| {
            let names: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
            ConnectError::new(
                Code::Unimplemented,
                format!(
                    "{} has no method {}; its methods are {}",
                    service.full_name(),
                    quote(name),
                    names.join(", ")
                ),
            )
        })
    }

    async fn unary(
        &self,
        parts: Parts,
        body: Body,
        codec: Codec,
        method: &MethodDescriptor,
    ) -> Result<Response<Body>, Response<Body>> {
        let pool = &self.shared.pool;
        let fail = |err: ConnectError| err.into_response(pool);
        let compression = self
            .negotiate(&parts.headers, method, false)
            .map_err(|err| {
                let mut response = fail(err);
                response
                    .headers_mut()
                    .extend([compression::unsupported_headers(false)]);
                response
            })?;
        let max = self.shared.max_body;
        // A Content-Length over the limit is refused before any of the body is read.
        if crate::server::gateway::announced_length(&parts.headers)
            .is_some_and(|len| len > max as u64)
        {
            return Err(fail(ConnectError::new(
                Code::ResourceExhausted,
                format!("the request body is over {max} bytes (--max-message-size)"),
            )));
        }
        let body = Limited::new(body, max).collect();
        let Ok(body) = tokio::time::timeout(self.shared.body_timeout, body).await else {
            return Err(fail(ConnectError::new(
                Code::DeadlineExceeded,
                format!(
                    "the request body did not arrive in full within {:?} (--request-body-timeout)",
                    self.shared.body_timeout
                ),
            )));
        };
        let bytes = match body {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                return Err(fail(ConnectError::new(
                    Code::ResourceExhausted,
                    format!("the request body is over {max} bytes (--max-message-size)"),
                )));
            }
            Err(err) => {
                return Err(fail(ConnectError::new(
                    Code::InvalidArgument,
                    format!("the request body could not be read: {err}"),
                )));
            }
        };
        let bytes = compression.decompress(bytes, max).map_err(fail)?;
        let message = to_proto(codec, &method.input(), &bytes).map_err(fail)?;
        let mut request =
            grpc_request(&parts, Body::new(Full::new(envelope(0, &message)))).map_err(fail)?;
        if let Some(hints) = &compression.hints {
            request.extensions_mut().insert(hints.clone());
        }
        let Ok(response) = self.shared.grpc.clone().oneshot(request).await;
        let (head, body) = response.into_parts();
        let mut headers = metadata_headers(&head.headers);
        let (data, trailers) = match body.collect().await {
            Ok(collected) => {
                let trailers = collected.trailers().cloned();
                (collected.to_bytes(), trailers)
            }
            Err(status) => (Bytes::new(), Some(status_trailers(&status))),
        };
        // A trailers-only response has its status in its headers.
        let trailers = trailers.unwrap_or_else(|| head.headers.clone());
        for (name, value) in metadata_headers(&trailers).iter() {
            if let Ok(name) = HeaderName::from_bytes(format!("trailer-{name}").as_bytes()) {
                headers.append(name, value.clone());
            }
        }
        let status = Status::from_header_map(&trailers)
            .unwrap_or_else(|| Status::internal("the call ended without a status"));
        let mut response = if status.code() == Code::Ok {
            let mut frames = Envelopes::default();
            frames.push(&data);
            let Some((_, message)) = frames.next_frame() else {
                return Err(fail(ConnectError::new(
                    Code::Internal,
                    "the call ended without a reply",
                )));
            };
            let reply = from_proto(codec, &method.output(), &message).map_err(fail)?;
            let (reply, compressed) = compression.reply(reply).map_err(fail)?;
            let mut response = Response::builder()
                .header(CONTENT_TYPE, format!("application/{}", codec.name()))
                .body(Body::new(Full::new(Bytes::from(reply))))
                .expect("a valid response");
            if compressed && let Some((name, value)) = compression.response_header(false) {
                response.headers_mut().insert(name, value);
            }
            response
        } else {
            ConnectError::from_status(&status).into_response(pool)
        };
        response.headers_mut().extend(headers);
        Ok(response)
    }
}

/// The gRPC request for a Connect call: its path, its metadata (`authorization`, `x-*`),
/// its deadline, and the connection's extensions (the peer's address).
fn grpc_request(parts: &Parts, body: Body) -> Result<Request<Body>, ConnectError> {
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = parts.uri.clone();
    *request.extensions_mut() = parts.extensions.clone();
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("te", HeaderValue::from_static("trailers"));
    for (name, value) in &parts.headers {
        if name == AUTHORIZATION || name.as_str().starts_with("x-") {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(value) = parts.headers.get(CONNECT_TIMEOUT_MS) {
        let millis: u64 = value
            .to_str()
            .ok()
            .filter(|v| !v.is_empty() && v.len() <= 10)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                ConnectError::new(
                    Code::InvalidArgument,
                    format!(
                        "Connect-Timeout-Ms {}: give 1 to 10 digits of milliseconds",
                        quote(&String::from_utf8_lossy(value.as_bytes()))
                    ),
                )
            })?;
        // grpc-timeout takes at most 8 digits.
        let timeout = if millis <= 99_999_999 {
            format!("{millis}m")
        } else {
            format!("{}S", (millis / 1000).min(99_999_999))
        };
        headers.insert(
            GRPC_TIMEOUT,
            HeaderValue::from_str(&timeout).expect("ASCII"),
        );
    }
    Ok(request)
}

/// The response headers that are call metadata (not HTTP's or gRPC's own).
fn metadata_headers(headers: &HeaderMap) -> HeaderMap {
    let mut metadata = HeaderMap::new();
    for (name, value) in headers {
        let name_str = name.as_str();
        let own = name_str.starts_with("grpc-")
            || matches!(
                name_str,
                "content-type" | "content-length" | "te" | "trailer" | "date"
            );
        if !own {
            metadata.append(name.clone(), value.clone());
        }
    }
    metadata
}

/// The trailers a gRPC response would end with for `status`.
fn status_trailers(status: &Status) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    let _ = status.add_header(&mut trailers);
    trailers
}

/// Metadata as Connect's JSON: `{"name": ["value", ...]}`.
fn metadata_json(headers: &HeaderMap) -> Value {
    let mut metadata = Map::new();
    for (name, value) in metadata_headers(headers).iter() {
        let value = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match metadata.get_mut(name.as_str()) {
            Some(Value::Array(values)) => values.push(value),
            _ => {
                metadata.insert(name.as_str().to_owned(), Value::Array(vec![value]));
            }
        }
    }
    Value::Object(metadata)
}
