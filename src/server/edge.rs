//! The edge of the server: what a request meets before the gRPC layers. `GET /metrics`,
//! the REST gateway under `/api/`, the playground page (`GET /`, [`super::playground`])
//! and Connect calls and WebSockets (JSON over HTTP, [`connect`]) are answered here;
//! everything else goes through grpc-web's translation to the gRPC stack. CORS wraps it
//! all when origins are allowed.
//! Also the gateway's channel to another server, and the start-up log of these settings.

use std::{
    convert::Infallible,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use http::{HeaderName, HeaderValue, Method, Request, Response};
use tonic::{
    body::Body,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};
use tonic_web::{GrpcWebLayer, GrpcWebService};
use tower::Layer;
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tracing::{info, warn};

use super::{
    HttpService, ServeError,
    connect::{self, Connect},
    gateway::{self, Gateway},
    layers::metrics,
    playground::Playground,
    routes::DESCRIPTOR_SETS,
    settings::{ListenAddr, PlaygroundMode, Settings},
    v2::{self, V2},
};

/// What the accept loop serves: the edge, behind CORS when origins are allowed. Not
/// boxed: hyper clones this service for every request (hyper-util 0.1's
/// TowerToHyperService::call), and a boxed service costs an allocation per clone.
pub type EdgeService = tower::util::Either<Cors<Edge>, Edge>;

/// The edge in front of `grpc` (the gRPC stack), with `metrics` at `/metrics` and the
/// REST gateway calling `upstream` (or `grpc` itself when `None`).
///
/// # Errors
/// [`ServeError::Gateway`] for an invalid CORS origin.
pub(super) fn service(
    settings: &Settings,
    grpc: HttpService,
    metrics: metrics::Metrics,
    upstream: Option<Channel>,
    playground: bool,
    catalog: Arc<crate::domain::catalog::Catalog>,
) -> Result<EdgeService, ServeError> {
    let upstream = match upstream {
        Some(channel) => tower::util::BoxCloneSyncService::new(channel),
        None => Gateway::in_process(grpc.clone()),
    };
    let connect = Connect::new(
        &DESCRIPTOR_SETS,
        grpc.clone(),
        settings.max_message_size,
        settings.cors_allowed_origins.clone(),
    )
    .map_err(|err| ServeError::Setting(format!("the descriptor sets for Connect: {err}")))?
    .with_body_timeout(settings.request_body_timeout)
    .with_compression(settings.response_compression)
    .with_catalog(catalog);
    let playground = playground
        .then(|| Playground::new(connect.pool(), settings.auth.is_some()))
        .transpose()
        .map_err(ServeError::Setting)?;
    let v2 = V2::new(
        Gateway::in_process(grpc.clone()),
        settings.max_message_size,
        settings.request_body_timeout,
    );
    let edge = Edge {
        shared: Arc::new(EdgeShared {
            v2,
            metrics,
            gateway: Gateway::new(upstream, settings.auth.clone(), settings.gateway_timeout)
                .with_body_timeout(settings.request_body_timeout),
            connect,
            playground,
            tokens: settings.auth.clone(),
        }),
        grpc_web: GrpcWebLayer::new().layer(grpc),
    };
    Ok(match cors_layer(&settings.cors_allowed_origins)? {
        Some(cors) => tower::util::Either::Left(cors.layer(edge)),
        None => tower::util::Either::Right(edge),
    })
}

/// The front of the server: sends each request to `/metrics`, the REST gateway, or
/// the gRPC services (through grpc-web's translation, which passes plain gRPC on).
///
/// Why the dispatch comes before grpc-web: tonic-web 0.14.9's `GrpcWebService` answers
/// 400 to any HTTP/1.1 request that is not grpc-web (src/service.rs,
/// `RequestKind::Other`), which would refuse `curl /metrics` and the gateway's JSON.
///
/// hyper clones it for every request: what only `/metrics` and the gateway use is
/// behind one `Arc`, so that a gRPC call's clone is one reference count and the
/// clone of the gRPC stack it goes to.
#[derive(Clone)]
pub struct Edge {
    shared: Arc<EdgeShared>,
    grpc_web: GrpcWebService<HttpService>,
}

/// The parts of [`Edge`] gRPC calls do not use.
struct EdgeShared {
    /// The Open Inference Protocol's REST paths.
    v2: V2,
    metrics: metrics::Metrics,
    gateway: Gateway,
    /// Connect calls (JSON over HTTP) to every method.
    connect: Connect,
    /// The playground page, when it is on.
    playground: Option<Playground>,
    /// `--auth-tokens`: with them, `/metrics` needs a token allowed `"metrics"`.
    tokens: Option<Arc<crate::domain::auth::Tokens>>,
}

/// The response future of `/metrics` and the gateway, which the edge answers itself.
type BoxFuture<T, E> = std::pin::Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl tower::Service<Request<Body>> for Edge {
    type Response = Response<Body>;
    type Error = Infallible;
    /// gRPC calls take the right-hand side, without a box of their own.
    type Future = futures::future::Either<
        BoxFuture<Response<Body>, Infallible>,
        tonic_web::ResponseFuture<BoxFuture<Response<Body>, Infallible>>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        tower::Service::<Request<Body>>::poll_ready(&mut self.grpc_web, cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let method = request.method().clone();
        let path = request.uri().path();
        if path == metrics::METRICS_PATH && request.method() == Method::GET {
            let response = match self.metrics_denied(request.headers()) {
                Some(denied) => denied,
                None => self.shared.metrics.response(),
            };
            return futures::future::Either::Left(Box::pin(async move { Ok(response) }));
        }
        if path.starts_with(gateway::PREFIX) {
            let answer = self.shared.gateway.clone().handle(request);
            return futures::future::Either::Left(self.counted(method, answer));
        }
        if v2::serves(path) {
            let answer = self.shared.v2.clone().handle(request);
            return futures::future::Either::Left(self.counted(method, answer));
        }
        if Playground::serves(request.method(), path) {
            let response = match &self.shared.playground {
                Some(playground) => playground.response(request.method(), path),
                None => Playground::off_response(),
            };
            return futures::future::Either::Left(Box::pin(async move { Ok(response) }));
        }
        if connect::websocket::is_websocket(request.method(), request.headers()) {
            let connect = self.shared.connect.clone();
            return futures::future::Either::Left(Box::pin(async move {
                Ok(connect.websocket(request).await)
            }));
        }
        if connect::is_connect(request.method(), request.headers()) {
            let connect = self.shared.connect.clone();
            return futures::future::Either::Left(Box::pin(async move {
                Ok(connect.handle(request).await)
            }));
        }
        if request.method() != Method::POST {
            // Every call is a POST (Connect's GET for side-effect-free methods is not
            // served): anything else is a page that is not here.
            return futures::future::Either::Left(Box::pin(async move {
                Ok(Response::builder()
                    .status(http::StatusCode::NOT_FOUND)
                    .body(Body::empty())
                    .expect("a valid response"))
            }));
        }
        if !crate::server::layers::methods::is_grpc(request.headers()) {
            // gRPC's HTTP/2 protocol: "If Content-Type does not begin with
            // application/grpc, gRPC servers SHOULD respond with HTTP status of 415".
            // (application/grpc covers grpc-web's content types too.)
            return futures::future::Either::Left(Box::pin(
                async move { Ok(unsupported_media_type()) },
            ));
        }
        futures::future::Either::Right(self.grpc_web.call(request))
    }
}

/// 415, with the content types this port takes.
fn unsupported_media_type() -> Response<Body> {
    Response::builder()
        .status(http::StatusCode::UNSUPPORTED_MEDIA_TYPE)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::new(http_body_util::Full::new(
            bytes::Bytes::from_static(
                b"unsupported content type: this port takes gRPC (application/grpc...), \
              grpc-web (application/grpc-web...), Connect (application/json, \
              application/proto, application/connect+json, application/connect+proto), \
              the REST gateway under /api/, the Open Inference Protocol under /v2/, \
              and GET / for the playground\n",
            ),
        )))
        .expect("a valid response")
}

impl Edge {
    /// `answer`, a plain-HTTP handler's (route, response), counted in the metrics'
    /// `http_requests_total` by route, method and status.
    fn counted(
        &self,
        method: Method,
        answer: impl Future<Output = (&'static str, Response<Body>)> + Send + 'static,
    ) -> BoxFuture<Response<Body>, Infallible> {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let started = Instant::now();
            let (handler, response) = answer.await;
            let elapsed = started.elapsed();
            shared
                .metrics
                .record_http(handler, &method, response.status(), elapsed);
            Ok(response)
        })
    }

    /// With `--auth-tokens`, the answer to a `/metrics` scrape without a token allowed
    /// `"metrics"` (Prometheus scrape configs send one with `authorization:`): 401 (with
    /// `WWW-Authenticate`) or 403, as for a gRPC call. `None`: the scrape may read the
    /// metrics.
    fn metrics_denied(&self, headers: &http::HeaderMap) -> Option<Response<Body>> {
        let tokens = self.shared.tokens.as_ref()?;
        let authorization = headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let err = tokens
            .authorize(authorization, crate::domain::auth::METRICS)
            .err()?;
        // The REST gateway's answer, the same statuses and JSON error shape.
        Some(gateway::auth_error(&err))
    }
}

/// The CORS layer for `origins` (see [`Settings::cors_allowed_origins`]), or `None`
/// when there are none.
///
/// # Errors
/// [`ServeError::Gateway`] for an origin that is not a valid header value.
fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, ServeError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        let origins = origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin.trim_end_matches('/')).map_err(|err| {
                    ServeError::Gateway(format!("invalid CORS origin {origin:?}: {err}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(origins)
    };
    let header = HeaderName::from_static;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
            // What grpc-web clients (grpc-web, Connect, improbable-eng) and the gateway's
            // callers send.
            .allow_headers([
                http::header::CONTENT_TYPE,
                http::header::AUTHORIZATION,
                header("x-grpc-web"),
                header("x-user-agent"),
                header("grpc-timeout"),
                header("grpc-accept-encoding"),
                header("grpc-encoding"),
                header("connect-protocol-version"),
                header("connect-timeout-ms"),
            ])
            // The status of a grpc-web call is in these (trailers-only responses): a
            // script can read them only when they are exposed.
            .expose_headers([
                header("grpc-status"),
                header("grpc-message"),
                header("grpc-status-details-bin"),
                header("grpc-encoding"),
            ])
            .max_age(Duration::from_secs(24 * 60 * 60)),
    ))
}

/// A lazily connecting channel to the gateway's upstream `url`.
pub(super) fn upstream_channel(url: &str, settings: &Settings) -> Result<Channel, ServeError> {
    let invalid = |err: &dyn std::fmt::Display| {
        ServeError::Gateway(format!("invalid --gateway-upstream {url:?}: {err}"))
    };
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|err| invalid(&err))?
        .connect_timeout(settings.gateway_timeout);
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(ca) = &settings.gateway_upstream_ca {
            let pem = std::fs::read(ca).map_err(|err| {
                ServeError::Gateway(format!(
                    "cannot read --gateway-upstream-ca {}: {err}",
                    ca.display()
                ))
            })?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint = endpoint.tls_config(tls).map_err(|err| invalid(&err))?;
    } else if !url.starts_with("http://") {
        return Err(invalid(&"expected an http:// or https:// URL"));
    }
    Ok(endpoint.connect_lazy())
}

/// Says at startup how the edge is set up: auth (a warning when it is off), CORS, the
/// gateway's upstream, the limits.
pub(super) fn log_settings(settings: &Settings) {
    match &settings.auth {
        None => warn!(
            "auth is off: anyone who can connect may call every service \
             (--auth-tokens FILE requires bearer tokens)"
        ),
        Some(tokens) => info!(
            tokens = tokens.len(),
            "auth is on: every service but health and reflection requires a bearer token"
        ),
    }
    if let Some(files) = &settings.tls {
        match &files.client_ca {
            Some(ca) => info!(ca = %ca.display(), "TLS on; client certificates required (mTLS)"),
            None => info!("TLS on"),
        }
    }
    if !settings.cors_allowed_origins.is_empty() {
        info!(origins = ?settings.cors_allowed_origins, "CORS allows these origins");
    }
    match &settings.gateway_upstream {
        Some(url) => {
            info!(upstream = %url, "REST gateway: POST {} calls {url}", gateway::FRAUD_ACTIVITY)
        }
        None => info!(
            "REST gateway: POST {} calls this server",
            gateway::FRAUD_ACTIVITY
        ),
    }
    info!(
        max_concurrent_streams = settings.max_concurrent_streams,
        max_concurrent_requests = settings.max_concurrent_requests,
        max_calls_per_caller = settings.max_calls_per_caller,
        first_message_timeout = ?settings.first_message_timeout,
        stream_memory = settings.stream_memory,
        memory_budget = settings.memory_budget,
        keepalive_interval = ?settings.http2_keepalive_interval,
        keepalive_timeout = ?settings.http2_keepalive_timeout,
        default_unary_timeout = ?settings.default_unary_timeout,
        "limits"
    );
}

/// Says where the playground is, or why it is off.
pub(super) fn log_playground(settings: &Settings, addrs: &[ListenAddr], on: bool) {
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    match (
        on,
        addrs.iter().find_map(|addr| match addr {
            ListenAddr::Tcp(addr) => Some(addr),
            ListenAddr::Unix(_) => None,
        }),
    ) {
        (true, Some(addr)) => info!("playground: open {scheme}://{addr}/ in a browser"),
        (true, None) => info!("playground on (at / of the Unix socket)"),
        (false, _) if settings.playground == PlaygroundMode::Off => {
            info!("playground off (--playground off)")
        }
        (false, _) => {
            info!("playground off: the server listens beyond loopback (--playground on serves it)")
        }
    }
}
