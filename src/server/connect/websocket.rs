//! Streams from a browser: a WebSocket for every method, so that client and
//! bidirectional streams work where `fetch` cannot stream a request body.
//!
//! `GET /package.Service/Method` with `Upgrade: websocket` (HTTP/1.1) opens one call:
//! - each text frame from the client is one request message, as proto3 JSON;
//! - the call's response headers come first, as `{"headers": {"name": ["value"]}}`
//!   (not when the call fails before it answers: then the end frame comes alone);
//! - each reply comes as a text frame `{"message": {...}}`, as it is sent;
//! - the last frame is `{"end": {"code": "ok", "metadata": {...}}}`, or the error as
//!   Connect writes it (`code`, `message`, `details`) with the trailers in `metadata`;
//!   then the server closes the socket;
//! - an empty text frame from the client ends its requests (a half-close): the replies
//!   still come, then the end frame. A Close frame from the client ends the call.
//!   (Not Close as the half-close: a WebSocket endpoint that receives Close answers
//!   Close and sends nothing more, as RFC 6455 section 5.5.1 has it and tungstenite 0.30
//!   does, and a browser drops any message that arrives after it called `close()`.)
//! - a unary or server-streaming method takes one request: its first frame.
//!
//! Only pages of the server's own origin, or of an origin `--cors-allow-origin` allows,
//! may open one (browsers let any page open a WebSocket anywhere). Browsers cannot set
//! headers on a WebSocket: `?token=TOKEN` stands for
//! `authorization: Bearer TOKEN`, `?timeout_ms=N` for the deadline, and any query
//! parameter named `x-...` for a metadata header of that name (it may repeat); other
//! clients may send `x-*` headers as well. The server reads at most one
//! message ahead of the call, so a fast sender is slowed down to the call's pace.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{self, Message, handshake::derive_accept_key, protocol::Role},
};
use tonic::{Code, Status, body::Body};
use tower::ServiceExt;
use tracing::debug;

use super::{
    Connect,
    codec::{Codec, Envelopes, envelope, from_proto, to_proto},
    error::ConnectError,
    grpc_request, metadata_json, status_trailers,
};
use crate::domain::quote::quote;

/// Whether `request` asks to open a WebSocket.
pub fn is_websocket(method: &Method, headers: &HeaderMap) -> bool {
    let has = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    method == Method::GET && has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

impl Connect {
    /// Answers a WebSocket upgrade for the method of the request's path, and runs the
    /// call on the socket once it is open.
    pub async fn websocket(self, mut request: Request<Body>) -> Response<Body> {
        let pool = &self.shared.pool;
        let method = match self.method(request.uri().path()) {
            Ok(method) => method,
            Err(err) => return err.into_response(pool),
        };
        if let Err(err) = self.check_origin(request.headers()) {
            return err.into_response(pool);
        }
        let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY) else {
            return ConnectError::new(
                Code::InvalidArgument,
                "a WebSocket upgrade needs Sec-WebSocket-Key",
            )
            .into_response(pool);
        };
        let accept = derive_accept_key(key.as_bytes());
        // The browser's stand-ins for headers, from the query: a browser's WebSocket
        // cannot set request headers.
        let query = request.uri().query().unwrap_or_default().to_owned();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let name = name.to_ascii_lowercase();
            let (name, value) = match name.as_str() {
                "token" => (header::AUTHORIZATION, format!("Bearer {value}")),
                "timeout_ms" => (HeaderName::from_static("connect-timeout-ms"), value.into()),
                // Custom metadata: `x-` names only, so that a query cannot pose as a
                // protocol header (`content-type`, `grpc-timeout` ...).
                custom if custom.starts_with("x-") => {
                    match HeaderName::from_bytes(custom.as_bytes()) {
                        Ok(name) => (name, value.into_owned()),
                        Err(_) => {
                            return ConnectError::new(
                                Code::InvalidArgument,
                                format!(
                                    "query parameter {} is not a valid metadata name",
                                    quote(custom)
                                ),
                            )
                            .into_response(pool);
                        }
                    }
                }
                _ => continue,
            };
            match HeaderValue::from_str(&value) {
                // Custom metadata may repeat; the token and the deadline may not.
                Ok(value) if name.as_str().starts_with("x-") => {
                    request.headers_mut().append(name, value);
                }
                Ok(value) => {
                    request.headers_mut().insert(name, value);
                }
                Err(_) => {
                    return ConnectError::new(
                        Code::InvalidArgument,
                        format!(
                            "query parameter {name} has a value that is not a valid header value"
                        ),
                    )
                    .into_response(pool);
                }
            }
        }
        let upgrade = hyper::upgrade::on(&mut request);
        let (parts, _) = request.into_parts();
        tokio::spawn(async move {
            match upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        None,
                    )
                    .await;
                    self.run_socket(socket, parts, method).await;
                }
                Err(err) => debug!("WebSocket upgrade failed: {err}"),
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::UPGRADE, "websocket")
            .header(header::CONNECTION, "upgrade")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(Body::empty())
            .expect("a valid response")
    }

    /// Refuses a page of another origin: a browser lets any page open a WebSocket to
    /// any server (no CORS), so without this any web site a user visits could call the
    /// server on their machine. Clients other than browsers send no `Origin`.
    fn check_origin(&self, headers: &HeaderMap) -> Result<(), ConnectError> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
        // The server's own pages: the origin's host and port are the Host header.
        let own = origin.split_once("://").is_some_and(|(_, authority)| {
            headers
                .get(header::HOST)
                .is_some_and(|host| host.as_bytes() == authority.as_bytes())
        });
        let allowed = self
            .shared
            .allowed_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed.trim_end_matches('/') == origin);
        if own || allowed {
            Ok(())
        } else {
            Err(ConnectError::new(
                Code::PermissionDenied,
                format!(
                    "a page from {origin} may not open a WebSocket here; \
                     allow its origin with --cors-allow-origin"
                ),
            ))
        }
    }

    /// One call on an open socket: frames in, replies out, then the end frame.
    async fn run_socket<S>(
        self,
        socket: WebSocketStream<S>,
        parts: http::request::Parts,
        method: prost_reflect::MethodDescriptor,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, source) = socket.split();
        // Capacity 1: the reader runs at most one message ahead of the call.
        let (requests, received) = mpsc::channel(1);
        let mut reader = tokio::spawn(read_requests(source, requests, method.clone()));
        let body = Body::new(StreamBody::new(ReceiverStream::new(received)));
        let pool = &self.shared.pool;
        let end = match grpc_request(&parts, body) {
            Err(err) => json!({ "end": err.to_json(pool) }),
            Ok(request) => {
                let Ok(response) = self.shared.grpc.clone().oneshot(request).await;
                tokio::select! {
                    end = forward(response, &method, pool, &mut sink) => end,
                    // The client closed the socket or it broke: dropping the response
                    // cancels the call, as a reset stream does for gRPC.
                    _ = &mut reader => return,
                }
            }
        };
        let _ = sink.send(Message::text(end.to_string())).await;
        let _ = sink.close().await;
        // The client answers Close with Close, which the reader takes; a client that
        // does not answer is not waited for long.
        if tokio::time::timeout(CLOSE_WAIT, &mut reader).await.is_err() {
            reader.abort();
        }
    }
}

/// How long the server waits for the client's Close after its own.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

type RequestFrame = Result<http_body::Frame<Bytes>, Status>;

/// Reads the client's frames until it closes the socket: each text frame becomes one
/// enveloped request message for the call, until the half-close (an empty text frame),
/// the first message of a unary or server-streaming method, or a bad frame; after
/// that the frames are only read to see the Close. Returns when the client is gone.
async fn read_requests<S>(
    mut source: S,
    requests: mpsc::Sender<RequestFrame>,
    method: prost_reflect::MethodDescriptor,
) where
    S: futures::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let input = method.input();
    let mut requests = Some(requests);
    while let Some(frame) = source.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                if let Some(requests) = requests.take() {
                    let status = Status::invalid_argument("send each message as a JSON text frame");
                    let _ = requests.send(Err(status)).await;
                }
                continue;
            }
            Ok(Message::Close(_)) | Err(_) => return,
            Ok(_) => continue,
        };
        let Some(sender) = &requests else { continue };
        if text.is_empty() {
            requests = None;
            continue;
        }
        let frame = match to_proto(Codec::Json, &input, text.as_bytes()) {
            Ok(message) => Ok(http_body::Frame::data(envelope(0, &message))),
            Err(err) => Err(Status::new(err.code, err.message)),
        };
        let last = frame.is_err() || !method.is_client_streaming();
        // An error means the call no longer reads its requests: it has ended.
        if sender.send(frame).await.is_err() || last {
            requests = None;
        }
    }
}

/// Sends each reply of `response` as a `{"message": ...}` frame; returns the end frame.
async fn forward<W>(
    response: Response<Body>,
    method: &prost_reflect::MethodDescriptor,
    pool: &prost_reflect::DescriptorPool,
    sink: &mut W,
) -> Value
where
    W: futures::Sink<Message> + Unpin,
{
    let (head, mut body) = response.into_parts();
    let mut trailers = head
        .headers
        .contains_key("grpc-status")
        .then(|| head.headers.clone());
    if trailers.is_none() {
        let headers = json!({ "headers": metadata_json(&head.headers) });
        if sink.send(Message::text(headers.to_string())).await.is_err() {
            return Value::Null;
        }
    }
    let mut frames = Envelopes::default();
    while trailers.is_none() {
        let frame = match body.frame().await {
            None => break,
            Some(Err(status)) => {
                trailers = Some(status_trailers(&status));
                break;
            }
            Some(Ok(frame)) => frame,
        };
        match frame.into_data() {
            Ok(data) => {
                frames.push(&data);
                while let Some((_, message)) = frames.next_frame() {
                    let reply = match from_proto(Codec::Json, &method.output(), &message) {
                        Ok(reply) => reply,
                        Err(err) => return json!({ "end": err.to_json(pool) }),
                    };
                    let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
                    if sink
                        .send(Message::text(json!({ "message": reply }).to_string()))
                        .await
                        .is_err()
                    {
                        // The client went away: dropping the body cancels the call.
                        return Value::Null;
                    }
                }
            }
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    let trailers = trailers
        .unwrap_or_else(|| status_trailers(&Status::internal("the call ended without a status")));
    let status =
        Status::from_header_map(&trailers).unwrap_or_else(|| Status::internal("no status"));
    let mut end = if status.code() == Code::Ok {
        json!({ "code": "ok" })
    } else {
        ConnectError::from_status(&status).to_json(pool)
    };
    end["metadata"] = metadata_json(&trailers);
    json!({ "end": end })
}
