//! The Open Inference Protocol's REST paths (KServe v2 over HTTP/JSON), on the gRPC
//! port: each request becomes a call to `inference.GRPCInferenceService` through this
//! server's own gRPC stack, in process, so it goes through the same layers as any call
//! (auth with the caller's token, limits, deadlines, metrics).
//!
//! | path | answer |
//! |---|---|
//! | `GET /v2` | server metadata |
//! | `GET /v2/health/live`, `/v2/health/ready` | 200 when live / ready, else 400 |
//! | `GET /v2/models/{name}[/versions/{v}]` | model metadata |
//! | `GET /v2/models/{name}[/versions/{v}]/ready` | 200 when ready, else 400 |
//! | `POST /v2/models/{name}[/versions/{v}]/infer` | inference ([`codec`]) |
//!
//! Errors are `{"error": "..."}` with the protocol's statuses: 400 for a bad request,
//! 404 for an unknown model, version or path, 401/403 without the right token, 413 for a
//! body over `--max-message-size`.

pub mod codec;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::json;
use tonic::{Code, Status, body::Body, metadata::MetadataValue, transport::server::TcpConnectInfo};

use super::gateway::Upstream;
use crate::proto::inference::{
    ModelMetadataRequest, ModelReadyRequest, ServerLiveRequest, ServerMetadataRequest,
    ServerReadyRequest, grpc_inference_service_client::GrpcInferenceServiceClient,
};

/// Triton's binary data extension: the length of the JSON header before the binary data.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// What a REST path asks for: one RPC of the inference service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    ServerMetadata,
    Live,
    Ready,
    ModelMetadata,
    ModelReady,
    Infer,
}

impl Action {
    /// The route, as metrics label it.
    fn route(self) -> &'static str {
        match self {
            Self::ServerMetadata => "/v2",
            Self::Live => "/v2/health/live",
            Self::Ready => "/v2/health/ready",
            Self::ModelMetadata => "/v2/models/{name}",
            Self::ModelReady => "/v2/models/{name}/ready",
            Self::Infer => "/v2/models/{name}/infer",
        }
    }
}

/// The REST paths' handler. Cheap to clone.
#[derive(Clone)]
pub struct V2 {
    client: GrpcInferenceServiceClient<Upstream>,
    /// The largest body, bytes (`--max-message-size`).
    max_body: usize,
    /// How long a body may take to arrive (`--request-body-timeout`).
    body_timeout: Duration,
}

/// Whether `path` is one of the REST paths.
pub fn serves(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// `{"error": message}` with `status`.
fn error(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    let body = json!({ "error": message.into() }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(Full::new(Bytes::from(body))))
        .expect("a valid response")
}

/// The HTTP answer to a failed call.
fn status_error(status: &Status) -> Response<Body> {
    let http = match status.code() {
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(http, status.message())
}

fn json_response(body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(Full::new(Bytes::from(body.to_string()))))
        .expect("a valid response")
}

/// 200 for true, 400 for false, with an empty body, as the protocol's health paths answer.
fn yes_no(yes: bool) -> Response<Body> {
    let status = if yes {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Response::builder()
        .status(status)
        .body(Body::empty())
        .expect("a valid response")
}

impl V2 {
    /// The handler calling `upstream` (this server's gRPC stack).
    pub fn new(upstream: Upstream, max_body: usize, body_timeout: Duration) -> Self {
        Self {
            client: GrpcInferenceServiceClient::new(upstream)
                .max_decoding_message_size(max_body)
                .max_encoding_message_size(usize::MAX),
            max_body,
            body_timeout,
        }
    }

    /// Answers one request to a REST path; also returns the route's name for metrics.
    pub async fn handle(self, request: Request<Body>) -> (&'static str, Response<Body>) {
        let path = request.uri().path().to_owned();
        let segments: Vec<&str> = path
            .trim_start_matches("/v2")
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let (model, version, action) = match segments.as_slice() {
            [] => ("", "", Action::ServerMetadata),
            ["health", "live"] => ("", "", Action::Live),
            ["health", "ready"] => ("", "", Action::Ready),
            ["models", name] => (*name, "", Action::ModelMetadata),
            ["models", name, "ready"] => (*name, "", Action::ModelReady),
            ["models", name, "infer"] => (*name, "", Action::Infer),
            ["models", name, "versions", v] => (*name, *v, Action::ModelMetadata),
            ["models", name, "versions", v, "ready"] => (*name, *v, Action::ModelReady),
            ["models", name, "versions", v, "infer"] => (*name, *v, Action::Infer),
            _ => {
                let message = format!(
                    "no such path: {}; the paths are /v2, /v2/health/live, /v2/health/ready, \
                     /v2/models/NAME[/versions/V][/ready|/infer]",
                    crate::domain::quote::quote(&path)
                );
                return ("unknown", error(StatusCode::NOT_FOUND, message));
            }
        };
        let route = action.route();
        let wanted = if action == Action::Infer {
            Method::POST
        } else {
            Method::GET
        };
        if request.method() != wanted {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{route} takes {wanted}, not {}", request.method()),
            );
            response.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_str(wanted.as_str()).expect("a method"),
            );
            return (route, response);
        }
        let (model, version) = (model.to_owned(), version.to_owned());
        let response = self.answer(action, &model, &version, request).await;
        (
            route,
            response.unwrap_or_else(|status| status_error(&status)),
        )
    }

    async fn answer(
        mut self,
        action: Action,
        model: &str,
        version: &str,
        request: Request<Body>,
    ) -> Result<Response<Body>, Status> {
        let call = Forwarded::of(&request);
        let (name, version) = (model.to_owned(), version.to_owned());
        match action {
            Action::ServerMetadata => {
                let reply = self
                    .client
                    .server_metadata(call.wrap(ServerMetadataRequest {}))
                    .await?;
                let reply = reply.into_inner();
                Ok(json_response(json!({
                    "name": reply.name, "version": reply.version, "extensions": reply.extensions,
                })))
            }
            Action::Live => Ok(yes_no(
                self.client
                    .server_live(call.wrap(ServerLiveRequest {}))
                    .await?
                    .into_inner()
                    .live,
            )),
            Action::Ready => Ok(yes_no(
                self.client
                    .server_ready(call.wrap(ServerReadyRequest {}))
                    .await?
                    .into_inner()
                    .ready,
            )),
            Action::ModelReady => Ok(yes_no(
                self.client
                    .model_ready(call.wrap(ModelReadyRequest { name, version }))
                    .await?
                    .into_inner()
                    .ready,
            )),
            Action::ModelMetadata => {
                let reply = self
                    .client
                    .model_metadata(call.wrap(ModelMetadataRequest { name, version }))
                    .await?
                    .into_inner();
                let tensors = |list: &[crate::proto::inference::model_metadata_response::TensorMetadata]| {
                    list.iter()
                        .map(|t| json!({"name": t.name, "datatype": t.datatype, "shape": t.shape}))
                        .collect::<Vec<_>>()
                };
                Ok(json_response(json!({
                    "name": reply.name, "versions": reply.versions, "platform": reply.platform,
                    "inputs": tensors(&reply.inputs), "outputs": tensors(&reply.outputs),
                })))
            }
            Action::Infer => self.infer(model, &version, call, request).await,
        }
    }

    async fn infer(
        mut self,
        model: &str,
        version: &str,
        call: Forwarded,
        request: Request<Body>,
    ) -> Result<Response<Body>, Status> {
        let header_length = match request.headers().get(HEADER_LENGTH) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .ok_or_else(|| {
                        Status::invalid_argument(format!("{HEADER_LENGTH} is not a byte count"))
                    })?,
            ),
        };
        let limited = Limited::new(request.into_body(), self.max_body).collect();
        let body = match tokio::time::timeout(self.body_timeout, limited).await {
            Err(_) => {
                return Ok(error(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body did not arrive in full within {:?}",
                        self.body_timeout
                    ),
                ));
            }
            Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
                return Ok(error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the body is over {} bytes (--max-message-size)",
                        self.max_body
                    ),
                ));
            }
            Ok(Err(_)) => return Ok(error(StatusCode::BAD_REQUEST, "the body could not be read")),
            Ok(Ok(body)) => body.to_bytes(),
        };
        let (json, binary) = match header_length {
            Some(length) if length <= body.len() => body.split_at(length),
            Some(length) => {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "{HEADER_LENGTH} is {length}, but the body has {} bytes",
                        body.len()
                    ),
                ));
            }
            None => (&body[..], &[][..]),
        };
        let (grpc_request, binary_outputs) = match codec::request(model, version, json, binary) {
            Ok(parsed) => parsed,
            Err(err) => return Ok(error(StatusCode::BAD_REQUEST, err.0)),
        };
        let reply = self
            .client
            .model_infer(call.wrap(grpc_request))
            .await?
            .into_inner();
        let (json, data) = codec::response(&reply, &binary_outputs);
        let mut response = Response::builder();
        if data.is_empty() {
            response = response.header(header::CONTENT_TYPE, "application/json");
            return Ok(response
                .body(Body::new(Full::new(json)))
                .expect("a valid response"));
        }
        let length = json.len();
        let mut body = json.to_vec();
        body.extend(data);
        Ok(response
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(HEADER_LENGTH, length)
            .body(Body::new(Full::new(Bytes::from(body))))
            .expect("a valid response"))
    }
}

/// What a REST request passes on to its gRPC call: the caller's token and address.
struct Forwarded {
    authorization: Option<HeaderValue>,
    peer: Option<TcpConnectInfo>,
}

impl Forwarded {
    fn of(request: &Request<Body>) -> Self {
        Self {
            authorization: request.headers().get(header::AUTHORIZATION).cloned(),
            peer: request.extensions().get::<TcpConnectInfo>().cloned(),
        }
    }

    /// `message` as a call with the caller's token and address.
    fn wrap<T>(&self, message: T) -> tonic::Request<T> {
        let mut call = tonic::Request::new(message);
        if let Some(value) = &self.authorization
            && let Ok(value) = MetadataValue::try_from(value.as_bytes())
        {
            call.metadata_mut().insert("authorization", value);
        }
        if let Some(peer) = &self.peer {
            call.extensions_mut().insert(peer.clone());
        }
        call
    }
}
