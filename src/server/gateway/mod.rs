//! The REST/JSON gateway: `POST /api/FraudActivity` for web clients that do not speak
//! gRPC, answered by a real gRPC client of `fraud_detection.FraudDetectionService`.
//!
//! By default the gateway's client calls this same server in process, through the same
//! layers as a call from the network (metrics, concurrency limit, auth, deadline,
//! message limit): the protobuf encoding, framing and status codes are the real ones,
//! with no loopback socket and no TLS to itself. With `--gateway-upstream URL` it calls
//! another server over the network instead, so the gateway and the model service can
//! run as two processes.
//!
//! Request: a JSON object with the transaction's five fields ([`json`](mod@json)). Response, 200:
//! `{"transaction_id": 7, "predicted_label": false, "fraud_probability": 0.0123,
//! "threshold": 0.1309, "model_version": "1.0.0"}`. Errors are JSON in the shape of
//! Google's API errors (AIP-193):
//! `{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "...", "field": "amount"}}`
//! (`field` when one field is at fault).
//!
//! | HTTP | when |
//! |---|---|
//! | 400 | the body is not JSON, lacks a field, has a mistyped or unknown field, or the fraud service finds a field out of range (INVALID_ARGUMENT) |
//! | 401 | auth is on and the `Authorization: Bearer` token is missing or unknown (with `WWW-Authenticate: Bearer`) |
//! | 403 | the token may not call `PredictFraud` |
//! | 404, 405 | another path under `/api/`; another method than POST |
//! | 413 | a body over 64 KiB, refused from its `Content-Length` before it is read when that announces more |
//! | 429 | the upstream is out of a resource (RESOURCE_EXHAUSTED) |
//! | 502 | the upstream failed or answered something invalid (INTERNAL, UNKNOWN, UNIMPLEMENTED ...) |
//! | 503 | the upstream is unavailable: not reachable, overloaded, or its fraud model is not loaded (UNAVAILABLE) |
//! | 504 | the upstream did not answer within `--gateway-timeout` (default 5 s) |
//!
//! The mapping of gRPC codes follows grpc-gateway's `HTTPStatusFromCode`, except that
//! every upstream failure that is not the client's fault is a 5xx of the gateway kind
//! (502/503/504). The upstream call carries the deadline as `grpc-timeout`, so a remote
//! upstream stops working on it too.

pub mod json;

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};
use tonic::{Code, Status, body::Body, metadata::MetadataValue, transport::server::TcpConnectInfo};
use tonic_types::StatusExt;
use tower::util::BoxCloneSyncService;
use tracing::{debug, warn};

use crate::{
    codes::code_name,
    domain::auth::{AuthError, Tokens},
    proto::fraud_detection::{
        PredictionRequest, fraud_detection_service_client::FraudDetectionServiceClient,
    },
};

/// The route of the fraud check.
pub const FRAUD_ACTIVITY: &str = "/api/FraudActivity";

/// Every path the gateway serves starts with this.
pub const PREFIX: &str = "/api/";

/// The largest request body, bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The gRPC method behind [`FRAUD_ACTIVITY`], as tokens' permissions name it.
const PREDICT_FRAUD: &str = "fraud_detection.FraudDetectionService/PredictFraud";

/// Where the gateway's gRPC calls go: any HTTP service that speaks gRPC (this server's
/// own stack, or a `tonic::transport::Channel` to another server). The error type is
/// the channel's: a boxed `dyn Error` here trips rustc's higher-ranked lifetime check
/// on the `Send` future ("implementation of `From` is not general enough").
pub type Upstream = BoxCloneSyncService<Request<Body>, Response<Body>, tonic::transport::Error>;

/// The gateway: the JSON routes in front of a gRPC client.
#[derive(Clone)]
pub struct Gateway {
    client: FraudDetectionServiceClient<Upstream>,
    tokens: Option<Arc<Tokens>>,
    timeout: Duration,
    body_timeout: Duration,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("auth", &self.tokens.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway calling `upstream`, checking tokens against `tokens` when auth is on,
    /// and giving each upstream call `timeout`.
    pub fn new(upstream: Upstream, tokens: Option<Arc<Tokens>>, timeout: Duration) -> Self {
        Self {
            client: FraudDetectionServiceClient::new(upstream),
            tokens,
            timeout,
            body_timeout: Duration::from_secs(30),
        }
    }

    /// The gateway with `body_timeout` for a request body to arrive in full (30 s
    /// unless set); past it, 408.
    pub fn with_body_timeout(mut self, body_timeout: Duration) -> Self {
        self.body_timeout = body_timeout;
        self
    }

    /// An [`Upstream`] from a service that cannot fail (this server's own stack).
    pub fn in_process<S>(service: S) -> Upstream
    where
        S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        BoxCloneSyncService::new(tower::ServiceExt::map_err(service, |never| match never {}))
    }

    /// Answers one request to a path under [`PREFIX`]; also returns the route's name
    /// for metrics (`unknown` for a path the gateway does not serve). Takes the gateway
    /// by value: its gRPC client needs `&mut` for the call, and the caller already
    /// holds a clone for the request's future.
    pub async fn handle(self, request: Request<Body>) -> (&'static str, Response<Body>) {
        if request.uri().path() != FRAUD_ACTIVITY {
            let message = format!(
                "no such route: {}; the gateway serves POST {FRAUD_ACTIVITY}",
                request.uri().path()
            );
            return (
                "unknown",
                error(StatusCode::NOT_FOUND, "NOT_FOUND", message, None),
            );
        }
        (FRAUD_ACTIVITY, self.fraud_activity(request).await)
    }

    async fn fraud_activity(mut self, request: Request<Body>) -> Response<Body> {
        if request.method() != Method::POST {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNIMPLEMENTED",
                format!("{FRAUD_ACTIVITY} takes POST, not {}", request.method()),
                None,
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let authorization = request.headers().get(header::AUTHORIZATION).cloned();
        // The caller's address goes with the call, so that a call to this server counts
        // against the caller's quota rather than the gateway's (tonic 0.14.9 moves a
        // request's extensions into the HTTP request it sends, src/request.rs).
        let peer = request.extensions().get::<TcpConnectInfo>().cloned();
        if let Some(tokens) = &self.tokens
            && let Err(err) =
                tokens.authorize(authorization.as_ref().map(|v| v.as_bytes()), PREDICT_FRAUD)
        {
            return auth_error(&err);
        }
        // A Content-Length over the limit is refused before any of the body is read.
        if announced_length(request.headers()).is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "INVALID_ARGUMENT",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
                None,
            );
        }
        let body = Limited::new(request.into_body(), MAX_BODY_BYTES).collect();
        let Ok(body) = tokio::time::timeout(self.body_timeout, body).await else {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "DEADLINE_EXCEEDED",
                format!(
                    "the body did not arrive in full within {:?}",
                    self.body_timeout
                ),
                None,
            );
        };
        let body = match body {
            Ok(body) => body.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "INVALID_ARGUMENT",
                    format!("the body is over {MAX_BODY_BYTES} bytes"),
                    None,
                );
            }
            Err(err) => {
                // hyper's own text ("error reading a body from connection") says nothing
                // to the caller that the log does not say better.
                tracing::debug!("gateway: the body could not be read: {err}");
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "the body could not be read: its chunked encoding is malformed, or it \
                     ended early"
                        .to_owned(),
                    None,
                );
            }
        };
        let transaction = match json::parse_transaction(&body) {
            Ok(transaction) => transaction,
            Err(err) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    err.message,
                    err.field,
                );
            }
        };
        let mut call = tonic::Request::new(PredictionRequest::from(transaction));
        if let Some(peer) = peer {
            call.extensions_mut().insert(peer);
        }
        // The deadline travels as grpc-timeout: the upstream stops at it too.
        call.set_timeout(self.timeout);
        // The caller's token goes upstream: the upstream checks it against its own
        // tokens (when it is this server, the same ones).
        if let Some(value) = authorization
            && let Ok(value) = MetadataValue::try_from(value.as_bytes())
        {
            call.metadata_mut().insert("authorization", value);
        }
        let reply = match tokio::time::timeout(self.timeout, self.client.predict_fraud(call)).await
        {
            Ok(Ok(reply)) => reply.into_inner(),
            Ok(Err(status)) => return upstream_error(&status, self.timeout),
            Err(_elapsed) => {
                warn!(timeout = ?self.timeout, "fraud upstream did not answer in time");
                return error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "DEADLINE_EXCEEDED",
                    format!("the fraud service did not answer within {:?}", self.timeout),
                    None,
                );
            }
        };
        let body = json!({
            "transaction_id": reply.transaction_id,
            "predicted_label": reply.predicted_label,
            "fraud_probability": reply.fraud_probability,
            "threshold": reply.threshold,
            "model_version": reply.model_version,
        });
        json_response(StatusCode::OK, &body)
    }
}

/// The HTTP status for an upstream gRPC status (see the module docs).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        // A client-side Channel ends a call past its deadline with CANCELLED (tonic
        // 0.14.9, transport/service/grpc_timeout.rs); the gateway cancels nothing else.
        Code::DeadlineExceeded | Code::Cancelled => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown
        | Code::NotFound
        | Code::AlreadyExists
        | Code::Aborted
        | Code::Unimplemented
        | Code::Internal
        | Code::DataLoss => StatusCode::BAD_GATEWAY,
    }
}

fn upstream_error(status: &Status, timeout: Duration) -> Response<Body> {
    let code = status.code();
    let http = http_status(code);
    if http.is_server_error() {
        warn!(code = ?code, message = status.message(), "fraud upstream failed");
    } else {
        debug!(code = ?code, message = status.message(), "fraud upstream refused the call");
    }
    let message = match code {
        Code::Cancelled | Code::DeadlineExceeded => {
            format!(
                "the fraud service did not answer within {timeout:?}: {}",
                status.message()
            )
        }
        _ if http.is_server_error() => format!("the fraud service failed: {}", status.message()),
        _ => status.message().to_owned(),
    };
    let field = status
        .get_error_details()
        .bad_request()
        .and_then(|bad| bad.field_violations.first().map(|v| v.field.clone()));
    // The client-side CANCELLED of an expired deadline is, to the caller, the deadline.
    let shown = match code {
        Code::Cancelled => Code::DeadlineExceeded,
        code => code,
    };
    let name = code_name(shown as i32).map_or("UNKNOWN", |names| names.canonical);
    let mut response = error(http, name, message, field);
    if code == Code::Unauthenticated {
        add_www_authenticate(&mut response);
    }
    response
}

/// 401 (with `WWW-Authenticate: Bearer`) or 403 for `err`, as Google's JSON error.
pub(crate) fn auth_error(err: &AuthError) -> Response<Body> {
    match err {
        AuthError::Missing | AuthError::Unknown => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                err.to_string(),
                None,
            );
            add_www_authenticate(&mut response);
            response
        }
        AuthError::Denied { .. } => error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            err.to_string(),
            None,
        ),
    }
}

/// RFC 6750, section 3: a 401 names the scheme the client should use.
fn add_www_authenticate(response: &mut Response<Body>) {
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"grpc-showcase\""),
    );
}

/// A JSON error response (see the module docs for its shape).
pub fn error(
    http: StatusCode,
    status: &str,
    message: String,
    field: Option<String>,
) -> Response<Body> {
    let mut error = json!({
        "code": http.as_u16(),
        "status": status,
        "message": message,
    });
    if let Some(field) = field {
        error["field"] = Value::String(field);
    }
    json_response(http, &json!({ "error": error }))
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(Full::new(Bytes::from(body.to_string()))))
        .expect("a valid response")
}

/// The body length a request's `Content-Length` announces, when it has a valid one.
pub(crate) fn announced_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_failures_are_gateway_errors() {
        assert_eq!(
            http_status(Code::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            http_status(Code::DeadlineExceeded),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(http_status(Code::Internal), StatusCode::BAD_GATEWAY);
        assert_eq!(http_status(Code::Unimplemented), StatusCode::BAD_GATEWAY);
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(http_status(Code::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(http_status(Code::PermissionDenied), StatusCode::FORBIDDEN);
    }
}
