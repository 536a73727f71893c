//! The server: builds the router of every hosted service, serves it on one port, and
//! shuts down gracefully.
//!
//! Requests go through these layers, outermost first:
//! 1. our accept loop (hyper-util, HTTP/1.1 and HTTP/2 on one port, TLS when
//!    [`Settings::tls`] is set, HTTP/2 keepalive pings and
//!    [`Settings::max_concurrent_streams`] per connection), which puts the
//!    connection's addresses in each request so `Request::remote_addr` works;
//! 2. CORS (tower-http), when [`Settings::cors_allowed_origins`] is not empty;
//! 3. the edge: `GET /metrics` (Prometheus text, [`metrics`]), the REST gateway under
//!    `/api/` ([`crate::gateway`]), and everything else on to
//! 4. grpc-web's translation (tonic-web), which turns grpc-web requests (HTTP/1.1 or
//!    HTTP/2) into gRPC and passes plain gRPC through;
//! 5. [`metrics::MetricsLayer`], which counts every gRPC call by method and status;
//! 6. [`limit::ConcurrencyLimitLayer`], the limit on calls in progress;
//! 7. [`auth::AuthLayer`], when [`Settings::auth`] is set: bearer tokens;
//! 8. [`deadline::DeadlineLayer`], which ends calls whose `grpc-timeout` (or, for unary
//!    calls without one, [`Settings::default_unary_timeout`]) passes with
//!    DEADLINE_EXCEEDED;
//! 9. [`message_limit::MessageLimitLayer`], which refuses request messages over
//!    [`Settings::max_message_size`] (for the video service, over
//!    [`video_message_limit`]) with RESOURCE_EXHAUSTED;
//! 10. tonic's `Routes`, which dispatch on the `/package.Service/Method` path.
//!
//! The REST gateway's gRPC calls to this server enter at 5, like a call from the
//! network.
//!
//! Why our own accept loop rather than `tonic::transport::Server`: the latter always
//! applies its own `grpc-timeout` handling, which ends calls with CANCELLED, outside
//! any layer we could add (see [`deadline`]).
//!
//! Shutdown, when the future given to [`Server::serve`] completes: every health status
//! goes to NOT_SERVING, the listener closes (no new connections), every connection is
//! told to finish (HTTP/2 GOAWAY: no new calls), calls in flight get
//! [`Settings::shutdown_grace`] to finish, and whatever is left is then closed.

pub mod auth;
pub mod deadline;
pub mod limit;
pub mod linger;
pub mod message_limit;
pub mod methods;
pub mod metrics;
pub mod tls;

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use http::{HeaderName, HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_util::{either::Either, task::TaskTracker};
use tonic::{
    body::Body,
    codec::CompressionEncoding,
    server::NamedService,
    service::Routes,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, server::TcpConnectInfo},
};
use tonic_web::{GrpcWebLayer, GrpcWebService};
use tower::{Layer, ServiceBuilder, util::BoxCloneSyncService};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::{debug, info, warn};

use crate::{
    auth::Tokens,
    feedback::{FeedbackStore, StoreError},
    gateway::{self, Gateway},
    health::{HealthRegistry, OVERALL, ServingStatus},
    models::{ModelEntry, ModelRegistry},
    proto::{
        self, calculator::calculator_server::CalculatorServer,
        feedback::feedback_service_server::FeedbackServiceServer,
        fraud_detection::fraud_detection_service_server::FraudDetectionServiceServer,
        helloworld::greeter_server::GreeterServer,
        model::model_inference_server::ModelInferenceServer,
        video::video_processing_server::VideoProcessingServer,
    },
    services::{
        calculator::CalculatorService, feedback::FeedbackService, fraud_detection::FraudService,
        greeter::GreeterService, health::HealthService, model::ModelService, video::VideoService,
    },
    streams::ActiveStreams,
    video::Limits,
};
pub use tls::TlsFiles;

/// How the server behaves, independent of where it listens.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The largest message, in bytes, that a service decodes from a request or encodes
    /// into a response. A larger request gets RESOURCE_EXHAUSTED.
    pub max_message_size: usize,
    /// After shutdown begins, how long calls in flight may take to finish before their
    /// connections are closed.
    pub shutdown_grace: Duration,
    /// The pause between two replies of `Greeter.SayHelloStreamReply`.
    pub greeting_interval: Duration,
    /// The directory whose subdirectories are the models to serve (see [`crate::models`]).
    pub models_dir: PathBuf,
    /// The id of the model that `FraudDetectionService` scores with.
    pub fraud_model: String,
    /// The directory of the feedback database (created on first start).
    pub data_dir: PathBuf,
    /// How many feedbacks a WatchFeedback watcher may fall behind before it is told it
    /// lagged.
    pub feedback_watch_buffer: usize,
    /// The largest video frames accepted. The video service's message limit follows
    /// from [`Limits::max_bytes`] (see [`video_message_limit`]), not from
    /// `max_message_size`: a raw 1080p RGB frame (6.2 MB) is over tonic's 4 MiB default.
    pub frame_limits: Limits,
    /// The bearer tokens every application service requires; `None` leaves every
    /// service open (see [`crate::auth`]).
    pub auth: Option<Arc<Tokens>>,
    /// TLS (and mTLS) on the port; `None` serves plaintext.
    pub tls: Option<TlsFiles>,
    /// The origins whose web pages may call the server (CORS, for grpc-web and the
    /// REST gateway): full origins such as `https://app.example.com`, or `*` for any.
    /// Empty: no CORS headers, so only pages of the server's own origin may call.
    pub cors_allowed_origins: Vec<String>,
    /// Where the REST gateway sends its gRPC calls: a URL (`http://host:port` or
    /// `https://...`), or `None` for this server itself, in process.
    pub gateway_upstream: Option<String>,
    /// A PEM CA certificate to trust for an `https://` upstream, besides the system's.
    pub gateway_upstream_ca: Option<PathBuf>,
    /// How long the REST gateway waits for its upstream call (sent as its deadline).
    pub gateway_timeout: Duration,
    /// The most calls one HTTP/2 connection may have open at once
    /// (SETTINGS_MAX_CONCURRENT_STREAMS: clients wait for a free one).
    pub max_concurrent_streams: u32,
    /// The most calls in progress across all connections; more get UNAVAILABLE
    /// (see [`limit`]).
    pub max_concurrent_requests: usize,
    /// How often the server pings an idle HTTP/2 connection to check that the client is
    /// still there; `None` never pings.
    pub http2_keepalive_interval: Option<Duration>,
    /// How long the server waits for a ping's answer before closing the connection.
    pub http2_keepalive_timeout: Duration,
    /// The limit of unary calls sent without a deadline; `None`: no limit.
    pub default_unary_timeout: Option<Duration>,
}

/// The largest message of the video service, in bytes: a frame's data plus room for
/// its other fields.
pub fn video_message_limit(limits: &Limits) -> usize {
    limits.max_bytes.saturating_add(FRAME_MESSAGE_OVERHEAD)
}

/// Bytes of a frame message besides its data (numbers, tags, lengths: under 64 in
/// practice).
const FRAME_MESSAGE_OVERHEAD: usize = 1024;

impl Default for Settings {
    /// 4 MiB messages (tonic's own default), 10 s of grace, 200 ms between greetings,
    /// models from `./models`, the fraud model `fraud`, feedback in `./data`, watchers
    /// 1024 feedbacks of slack, frames up to 4K UHD and 32 MiB ([`Limits::default`]);
    /// no auth, no TLS, no CORS; the gateway calls this server with a 5 s timeout; 200
    /// calls per connection (hyper's default), 1000 in all; a keepalive ping every 60 s
    /// answered within 20 s (grpc-go's default timeout); unary calls without a deadline
    /// limited to 30 s.
    fn default() -> Self {
        Self {
            max_message_size: 4 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            greeting_interval: Duration::from_millis(200),
            models_dir: PathBuf::from("models"),
            fraud_model: "fraud".to_owned(),
            data_dir: PathBuf::from("data"),
            feedback_watch_buffer: 1024,
            frame_limits: Limits::default(),
            auth: None,
            tls: None,
            cors_allowed_origins: Vec::new(),
            gateway_upstream: None,
            gateway_upstream_ca: None,
            gateway_timeout: Duration::from_secs(5),
            max_concurrent_streams: 200,
            max_concurrent_requests: 1000,
            http2_keepalive_interval: Some(Duration::from_secs(60)),
            http2_keepalive_timeout: Duration::from_secs(20),
            default_unary_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Why the server could not start.
#[derive(Debug)]
pub enum ServeError {
    /// The address could not be bound.
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The feedback database could not be opened.
    Storage(StoreError),
    /// Reading the listening socket failed.
    Io(io::Error),
    /// The TLS certificate, key or CA could not be used.
    Tls(tls::TlsError),
    /// The REST gateway's upstream URL or CA is invalid.
    Gateway(String),
    /// A descriptor set given to reflection was invalid.
    Reflection(tonic_reflection::server::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServeError::Storage(err) => err.fmt(f),
            ServeError::Io(err) => write!(f, "socket error: {err}"),
            ServeError::Tls(err) => write!(f, "TLS: {err}"),
            ServeError::Gateway(err) => write!(f, "REST gateway: {err}"),
            ServeError::Reflection(err) => write!(f, "reflection setup failed: {err}"),
        }
    }
}

impl std::error::Error for ServeError {}

impl From<io::Error> for ServeError {
    fn from(err: io::Error) -> Self {
        ServeError::Io(err)
    }
}

/// A bound, not yet serving, server.
pub struct Server {
    /// The listening socket, bound in [`Server::bind`] so that its address (with the
    /// real port when port 0 was asked for) is known before serving starts.
    listener: TcpListener,
    /// How the services behave.
    settings: Settings,
    /// Every service's serving status, shared with the health service.
    health: HealthRegistry,
    /// The streams in progress, shared with every streaming service.
    streams: ActiveStreams,
    /// The models, loaded in [`Server::bind`] before the port takes calls.
    models: Arc<ModelRegistry>,
    /// The feedback database, opened in [`Server::bind`].
    feedback: FeedbackStore,
    /// The TLS acceptor, when TLS is on.
    tls: Option<TlsAcceptor>,
    /// The REST gateway's channel to another server (`--gateway-upstream`).
    upstream: Option<Channel>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("settings", &self.settings)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `addr` (port 0 picks a free port), loads the models of
    /// [`Settings::models_dir`] (a model that fails to load is served as not ready) and
    /// opens the feedback database in [`Settings::data_dir`].
    ///
    /// # Errors
    /// [`ServeError::Listen`] when the address cannot be bound (in use, not permitted
    /// ...); [`ServeError::Storage`] when the feedback database cannot be opened.
    pub async fn bind(addr: SocketAddr, settings: Settings) -> Result<Self, ServeError> {
        let tls = settings
            .tls
            .as_ref()
            .map(tls::acceptor)
            .transpose()
            .map_err(ServeError::Tls)?;
        let upstream = match &settings.gateway_upstream {
            None => None,
            Some(url) => Some(upstream_channel(url, &settings)?),
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Listen { addr, source })?;
        let models_dir = settings.models_dir.clone();
        let data_dir = settings.data_dir.clone();
        let watch_buffer = settings.feedback_watch_buffer;
        // Reading models and opening the database are blocking work: keep them off the
        // async workers.
        let (models, feedback) = tokio::task::spawn_blocking(move || {
            (
                ModelRegistry::load_dir(&models_dir),
                FeedbackStore::open(&data_dir, watch_buffer),
            )
        })
        .await
        .map_err(|err| ServeError::Io(io::Error::other(err)))?;
        let feedback = feedback.map_err(ServeError::Storage)?;
        info!(database = %feedback.path().display(), "feedback database open");
        Ok(Self {
            listener,
            settings,
            health: HealthRegistry::new(),
            streams: ActiveStreams::new(),
            models: Arc::new(models),
            feedback,
            tls,
            upstream,
        })
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// When the socket cannot report it (not seen in practice).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle on the serving statuses that the health service reports.
    pub fn health(&self) -> HealthRegistry {
        self.health.clone()
    }

    /// A handle on the count of streams in progress.
    pub fn active_streams(&self) -> ActiveStreams {
        self.streams.clone()
    }

    /// Serves until `shutdown` completes, then shuts down gracefully (see the module
    /// docs) and returns.
    ///
    /// # Errors
    /// When the router cannot be built (an invalid descriptor set).
    pub async fn serve<F>(self, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()>,
    {
        let Server {
            listener,
            settings,
            health,
            streams,
            models,
            feedback,
            tls,
            upstream,
        } = self;
        // Decoded once: metrics label by it, the deadline layer picks the unary methods.
        let known_methods = methods::methods(&DESCRIPTOR_SETS);
        let metrics = metrics::Metrics::new(&known_methods, streams.clone());
        let (routes, names) = routes(&settings, &health, &streams, &models, feedback)?;
        let deadline = match settings.default_unary_timeout {
            Some(timeout) => {
                let unary = known_methods
                    .into_iter()
                    .filter(|(_, rpc_type)| *rpc_type == methods::RpcType::Unary)
                    .map(|(path, _)| path)
                    .collect();
                deadline::DeadlineLayer::with_default_unary_timeout(timeout, Arc::new(unary))
            }
            None => deadline::DeadlineLayer::new(),
        };
        // Every gRPC call, from the network or from the REST gateway, goes through this.
        let grpc: HttpService = BoxCloneSyncService::new(
            ServiceBuilder::new()
                .layer(metrics::MetricsLayer::new(metrics.clone()))
                .layer(limit::ConcurrencyLimitLayer::new(
                    settings.max_concurrent_requests,
                ))
                .option_layer(settings.auth.clone().map(auth::AuthLayer::new))
                .layer(deadline)
                .layer(message_limit::MessageLimitLayer::new(
                    message_limit::Limit {
                        bytes: settings.max_message_size,
                        setting: "--max-message-size",
                    },
                    [(
                        name_of_type::<VideoProcessingServer<VideoService>>(),
                        message_limit::Limit {
                            bytes: video_message_limit(&settings.frame_limits),
                            setting: "--max-frame-bytes",
                        },
                    )],
                ))
                .service(routes),
        );
        let upstream = match upstream {
            Some(channel) => BoxCloneSyncService::new(channel),
            None => Gateway::in_process(grpc.clone()),
        };
        let edge = Edge {
            shared: Arc::new(EdgeShared {
                metrics,
                gateway: Gateway::new(upstream, settings.auth.clone(), settings.gateway_timeout),
            }),
            grpc_web: GrpcWebLayer::new().layer(grpc),
        };
        // Not boxed: hyper clones this service for every request (hyper-util 0.1's
        // TowerToHyperService::call), and a boxed service costs an allocation per clone.
        let service = match cors_layer(&settings.cors_allowed_origins)? {
            Some(cors) => tower::util::Either::Left(cors.layer(edge)),
            None => tower::util::Either::Right(edge),
        };

        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1().timer(TokioTimer::new());
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(settings.max_concurrent_streams)
            .keep_alive_interval(settings.http2_keepalive_interval)
            .keep_alive_timeout(settings.http2_keepalive_timeout);
        let graceful = GracefulShutdown::new();
        let lingering = TaskTracker::new();
        let mut connections = JoinSet::new();

        for name in &names {
            health.set(name, ServingStatus::Serving);
        }
        // The fraud service serves only with its model loaded and a decision threshold.
        let fraud_ready = matches!(
            models.entry(&settings.fraud_model),
            Some(ModelEntry::Ready(model)) if model.card().threshold.is_some()
        );
        if !fraud_ready {
            warn!(model = %settings.fraud_model, "fraud model not ready: FraudDetectionService is NOT_SERVING");
            health.set(
                <FraudDetectionServiceServer<FraudService> as NamedService>::NAME,
                ServingStatus::NotServing,
            );
        }
        health.set(OVERALL, ServingStatus::Serving);
        log_edge_settings(&settings);
        let local_addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "TLS" } else { "plaintext" };
        info!(services = ?names, "listening on {local_addr} ({scheme})");

        tokio::pin!(shutdown);
        loop {
            let (stream, remote_addr) = tokio::select! {
                () = &mut shutdown => break,
                // Reap finished connection tasks so the set does not grow.
                Some(_) = connections.join_next() => continue,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors, for instance: back off rather than spin.
                        warn!("accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            // gRPC messages are often small and latency-bound: send them at once.
            if let Err(err) = stream.set_nodelay(true) {
                debug!(%remote_addr, "cannot set TCP_NODELAY: {err}");
            }
            let connect_info = TcpConnectInfo {
                local_addr: stream.local_addr().ok(),
                remote_addr: Some(remote_addr),
            };
            let service = ServiceBuilder::new()
                .map_request(move |request: http::Request<Incoming>| {
                    let mut request = request.map(tonic::body::Body::new);
                    request.extensions_mut().insert(connect_info.clone());
                    request
                })
                .service(service.clone());
            let stream = linger::LingeringStream::new(stream, lingering.clone());
            let (http, tls, watcher) = (http.clone(), tls.clone(), graceful.watcher());
            connections.spawn(async move {
                // The handshake runs in the connection's task: a slow client does not
                // hold up the accept loop.
                let io = match tls {
                    None => Either::Left(stream),
                    Some(acceptor) => {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(tls_stream)) => Either::Right(tls_stream),
                            Ok(Err(err)) => {
                                debug!(%remote_addr, "TLS handshake failed: {err}");
                                return;
                            }
                            Err(_) => {
                                debug!(%remote_addr, "TLS handshake timed out");
                                return;
                            }
                        }
                    }
                };
                let connection = http
                    .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
                    .into_owned();
                if let Err(err) = watcher.watch(connection).await {
                    debug!(%remote_addr, "connection ended with an error: {err}");
                }
            });
        }

        let grace = settings.shutdown_grace;
        health.shut_down();
        drop(listener);
        info!(
            "shutting down: health is NOT_SERVING, new connections and calls are refused, \
             calls in flight have {grace:?} to finish"
        );
        match tokio::time::timeout(grace, graceful.shutdown()).await {
            Ok(()) => info!("every call finished; stopped"),
            Err(_) => {
                warn!(
                    connections = connections.len(),
                    "grace period over; closing the connections still open"
                );
                connections.shutdown().await;
            }
        }
        // Let the closed connections finish their lingering close, so that clients read
        // everything sent (the last health status among it) before the process exits.
        lingering.close();
        let _ = tokio::time::timeout(linger::LINGER, lingering.wait()).await;
        Ok(())
    }
}

/// How long a client has to complete its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP service of the server: every layer takes and gives tonic bodies.
type HttpService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

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
struct Edge {
    shared: Arc<EdgeShared>,
    grpc_web: GrpcWebService<HttpService>,
}

/// The parts of [`Edge`] gRPC calls do not use.
struct EdgeShared {
    metrics: metrics::Metrics,
    gateway: Gateway,
}

/// The response future of our layers that answer some requests themselves.
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
        let path = request.uri().path();
        if path == metrics::METRICS_PATH && request.method() == Method::GET {
            let response = self.shared.metrics.response();
            return futures::future::Either::Left(Box::pin(async move { Ok(response) }));
        }
        if path.starts_with(gateway::PREFIX) {
            let shared = Arc::clone(&self.shared);
            return futures::future::Either::Left(Box::pin(async move {
                let started = Instant::now();
                let method = request.method().clone();
                let (handler, response) = shared.gateway.clone().handle(request).await;
                let elapsed = started.elapsed();
                shared
                    .metrics
                    .record_http(handler, &method, response.status(), elapsed);
                Ok(response)
            }));
        }
        futures::future::Either::Right(self.grpc_web.call(request))
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
fn upstream_channel(url: &str, settings: &Settings) -> Result<Channel, ServeError> {
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
fn log_edge_settings(settings: &Settings) {
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
        keepalive_interval = ?settings.http2_keepalive_interval,
        keepalive_timeout = ?settings.http2_keepalive_timeout,
        default_unary_timeout = ?settings.default_unary_timeout,
        "limits"
    );
}

/// Every descriptor set the server knows: ours, google.rpc's error details, health and
/// both reflection versions.
const DESCRIPTOR_SETS: [&[u8]; 5] = [
    proto::FILE_DESCRIPTOR_SET,
    tonic_types::pb::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// Lets `$server` (a generated tonic server) decompress requests sent with gzip or zstd,
/// and compress its responses with either when the client says it accepts it
/// (`grpc-accept-encoding`); a client that asks for nothing gets uncompressed messages.
macro_rules! with_compression {
    ($server:expr) => {
        $server
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Zstd)
    };
}

/// The router of every hosted service, and the full names of those services (as
/// registered with health).
fn routes(
    settings: &Settings,
    health: &HealthRegistry,
    streams: &ActiveStreams,
    models: &Arc<ModelRegistry>,
    feedback: FeedbackStore,
) -> Result<(Routes, Vec<String>), ServeError> {
    let limit = settings.max_message_size;
    let greeter = GreeterServer::new(GreeterService::new(
        settings.greeting_interval,
        streams.clone(),
    ))
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    let calculator = CalculatorServer::new(CalculatorService::new(streams.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let model = ModelInferenceServer::new(ModelService::new(Arc::clone(models), streams.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let fraud = FraudDetectionServiceServer::new(FraudService::new(
        Arc::clone(models),
        settings.fraud_model.clone(),
    ))
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    let feedback = FeedbackServiceServer::new(FeedbackService::new(feedback, streams.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let video_limit = video_message_limit(&settings.frame_limits);
    let video =
        VideoProcessingServer::new(VideoService::new(settings.frame_limits, streams.clone()))
            .max_decoding_message_size(video_limit)
            .max_encoding_message_size(video_limit);
    let health_service = tonic_health::pb::health_server::HealthServer::new(HealthService::new(
        health.clone(),
        streams.clone(),
    ));

    // Every descriptor set goes to both reflection versions, so that a client speaking
    // either one lists and describes every service, both reflection services included.
    // (tonic-reflection 0.14.9's include_reflection_service adds only the version
    // being built.) google/rpc/error_details.proto is there so that grpcurl can decode
    // the google.rpc.BadRequest in our error details instead of printing raw bytes.
    let reflection = || {
        DESCRIPTOR_SETS.iter().fold(
            tonic_reflection::server::Builder::configure().include_reflection_service(false),
            |builder, set| builder.register_encoded_file_descriptor_set(set),
        )
    };
    let reflection_v1 = reflection().build_v1().map_err(ServeError::Reflection)?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(ServeError::Reflection)?;

    let (greeter, calculator, model, fraud) = (
        with_compression!(greeter),
        with_compression!(calculator),
        with_compression!(model),
        with_compression!(fraud),
    );
    let (feedback, video, health_service) = (
        with_compression!(feedback),
        with_compression!(video),
        with_compression!(health_service),
    );
    let (reflection_v1, reflection_v1alpha) = (
        with_compression!(reflection_v1),
        with_compression!(reflection_v1alpha),
    );

    let names = vec![
        name_of(&greeter),
        name_of(&calculator),
        name_of(&model),
        name_of(&fraud),
        name_of(&feedback),
        name_of(&video),
        name_of(&health_service),
        name_of(&reflection_v1),
        name_of(&reflection_v1alpha),
    ];
    let routes = Routes::builder()
        .add_service(greeter)
        .add_service(calculator)
        .add_service(model)
        .add_service(fraud)
        .add_service(feedback)
        .add_service(video)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .clone()
        .routes();
    Ok((routes, names))
}

fn name_of<S: NamedService>(_: &S) -> String {
    name_of_type::<S>()
}

fn name_of_type<S: NamedService>() -> String {
    S::NAME.to_owned()
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM, the signals that ask a server to stop.
///
/// # Panics
/// If the signal handlers cannot be installed, which happens only when the process is
/// out of resources at startup.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c()
            .await
            .expect("install the SIGINT handler");
    };
    #[cfg(unix)]
    let terminate = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler")
            .recv()
            .await;
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("SIGINT received"),
        () = terminate => info!("SIGTERM received"),
    }
}
