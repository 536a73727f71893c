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
//!    `/api/` ([`crate::server::gateway`]), the playground page ([`playground`]),
//!    Connect calls and WebSockets ([`connect`]), and everything else on to
//! 4. grpc-web's translation (tonic-web), which turns grpc-web requests (HTTP/1.1 or
//!    HTTP/2) into gRPC and passes plain gRPC through;
//! 5. [`metrics::MetricsLayer`], which counts every gRPC call by method and status;
//! 6. [`limit::ConcurrencyLimitLayer`], the limit on calls in progress;
//! 7. [`auth::AuthLayer`], when [`Settings::auth`] is set: bearer tokens;
//! 8. [`quota::QuotaLayer`], the limit on the calls in progress of each caller (token,
//!    or peer address): [`Settings::max_calls_per_caller`];
//! 9. [`deadline::DeadlineLayer`], which ends calls whose `grpc-timeout` (or, for unary
//!    calls without one, [`Settings::default_unary_timeout`]) passes with
//!    DEADLINE_EXCEEDED;
//! 10. [`message_limit::MessageLimitLayer`], which refuses request messages over
//!     [`Settings::max_message_size`] (for the video service, over
//!     [`video_message_limit`]) with RESOURCE_EXHAUSTED, holds unary and
//!     server-streaming calls to one request message, and ends those whose message has
//!     not arrived within [`Settings::first_message_timeout`];
//! 11. [`unknown::Known`], which answers a call to a service or method that is not
//!     hosted with UNIMPLEMENTED naming the closest ones that are;
//! 12. tonic's `Routes`, which dispatch on the `/package.Service/Method` path, to each
//!     service wrapped in [`compression::grpc::Compressed`], which compresses its
//!     replies, message by message, as `--response-compression` says ([`compression`]).
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

mod activity;
pub mod compression;
pub mod connect;
pub mod edge;
pub mod gateway;
pub mod layers;
pub mod linger;
pub mod listener;
pub mod playground;
pub mod routes;
mod serving;
pub mod settings;
pub mod tls;
pub mod unknown;
pub mod v2;

use std::{convert::Infallible, future::Future, io, net::SocketAddr, sync::Arc};

use http::{Request, Response};
use tokio_rustls::TlsAcceptor;
use tonic::{body::Body, service::Routes, transport::Channel};
use tower::{ServiceBuilder, util::BoxCloneSyncService};
use tracing::info;

use crate::{
    domain::{
        feedback::{self, FeedbackStore, StoreError, StoreLocation},
        health::HealthRegistry,
        models::{ModelRegistry, ModelsDirError},
        streams::ActiveStreams,
    },
    proto::video::video_processing_server::VideoProcessingServer,
    services::video::VideoService,
};
use layers::{auth, deadline, limit, message_limit, methods, metrics, quota};
pub use listener::shutdown_signal;
pub use settings::{
    DEFAULT_LISTEN, ListenAddr, PlaygroundMode, ResponseCompression, Settings, TlsFiles,
    video_message_limit,
};

/// An HTTP service of the server: every layer takes and gives tonic bodies.
pub type HttpService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// Why the server could not start.
#[derive(Debug)]
pub enum ServeError {
    /// The address could not be bound.
    Listen {
        /// The address asked for.
        addr: ListenAddr,
        /// Why.
        source: io::Error,
    },
    /// The feedback database could not be opened.
    Storage(StoreError),
    /// The models directory given ([`Settings::models_dir`]) cannot be read.
    Models(ModelsDirError),
    /// Reading the listening socket failed.
    Io(io::Error),
    /// The TLS certificate, key or CA could not be used.
    Tls(tls::TlsError),
    /// The REST gateway's upstream URL or CA is invalid.
    Gateway(String),
    /// A descriptor set given to reflection was invalid.
    Reflection(tonic_reflection::server::Error),
    /// A setting's value cannot be used (the message names the flag).
    Setting(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServeError::Storage(err) => err.fmt(f),
            ServeError::Models(err) => write!(f, "--models-dir: {err}"),
            ServeError::Io(err) => write!(f, "socket error: {err}"),
            ServeError::Tls(err) => write!(f, "TLS: {err}"),
            ServeError::Gateway(err) => write!(f, "REST gateway: {err}"),
            ServeError::Reflection(err) => write!(f, "reflection setup failed: {err}"),
            ServeError::Setting(err) => f.write_str(err),
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
    /// The listening sockets, bound in [`Server::bind_all`] so that their addresses
    /// (with the real port when port 0 was asked for) are known before serving starts.
    listeners: Vec<listener::Bound>,
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
            .field("listeners", &self.listeners)
            .field("settings", &self.settings)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// [`Server::bind_all`] with one TCP address.
    ///
    /// # Errors
    /// As [`Server::bind_all`].
    pub async fn bind(addr: SocketAddr, settings: Settings) -> Result<Self, ServeError> {
        Self::bind_all(&[ListenAddr::Tcp(addr)], settings).await
    }

    /// Binds every address of `addrs` (a TCP port 0 picks a free port; `unix:PATH` a Unix
    /// domain socket), loads the models of [`Settings::models_dir`], or the built-in
    /// ones (a model that fails to load is served as not ready), and opens the feedback
    /// store of [`Settings::feedback_store`] (by default, SQLite in
    /// [`Settings::data_dir`]).
    ///
    /// # Errors
    /// [`ServeError::Listen`] when an address cannot be bound (in use, not permitted
    /// ...); [`ServeError::Models`] when the models directory cannot be read;
    /// [`ServeError::Storage`] when the feedback database cannot be opened.
    pub async fn bind_all(addrs: &[ListenAddr], settings: Settings) -> Result<Self, ServeError> {
        let tls = settings
            .tls
            .as_ref()
            .map(tls::acceptor)
            .transpose()
            .map_err(ServeError::Tls)?;
        let upstream = match &settings.gateway_upstream {
            None => None,
            Some(url) => Some(edge::upstream_channel(url, &settings)?),
        };
        let mut listeners = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let bound = listener::Bound::bind(addr)
                .await
                .map_err(|source| ServeError::Listen {
                    addr: addr.clone(),
                    source,
                })?;
            listeners.push(bound);
        }
        let models_dir = settings.models_dir.clone();
        // Reading models is blocking work: keep it off the async workers.
        let models = tokio::task::spawn_blocking(move || match models_dir {
            None => Ok(ModelRegistry::built_in()),
            Some(dir) => ModelRegistry::open_dir(&dir),
        })
        .await
        .map_err(|err| ServeError::Io(io::Error::other(err)))?
        .map_err(ServeError::Models)?;
        let location = settings.feedback_store.clone().unwrap_or_else(|| {
            StoreLocation::Sqlite(settings.data_dir.join(feedback::store::DATABASE_FILE))
        });
        let feedback = FeedbackStore::open_at(&location, settings.feedback_watch_buffer)
            .await
            .map_err(ServeError::Storage)?;
        info!(database = %feedback.location(), "feedback database open");
        Ok(Self {
            listeners,
            settings,
            health: HealthRegistry::new(),
            streams: ActiveStreams::new(),
            models: Arc::new(models),
            feedback,
            tls,
            upstream,
        })
    }

    /// The first TCP address the server listens on.
    ///
    /// # Errors
    /// When it listens on no TCP address, or the socket cannot report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.local_addrs()?
            .into_iter()
            .find_map(|addr| match addr {
                ListenAddr::Tcp(addr) => Some(addr),
                ListenAddr::Unix(_) => None,
            })
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no TCP address"))
    }

    /// Every address the server listens on, in the order given.
    ///
    /// # Errors
    /// When a socket cannot report its address (not seen in practice).
    pub fn local_addrs(&self) -> io::Result<Vec<ListenAddr>> {
        self.listeners
            .iter()
            .map(listener::Bound::local_addr)
            .collect()
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
    /// When the router cannot be built (an invalid descriptor set) or the edge's
    /// settings are invalid (a CORS origin that is not a header value).
    pub async fn serve<F>(self, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()>,
    {
        let local_addrs = self.local_addrs()?;
        let Server {
            listeners,
            settings,
            health,
            streams,
            models,
            feedback,
            tls,
            upstream,
        } = self;
        // Decoded once: metrics label by it, the deadline layer picks the unary methods.
        let known_methods = methods::methods(&routes::DESCRIPTOR_SETS);
        let metrics = metrics::Metrics::new(&known_methods, streams.clone());
        let host = host_name();
        let available = feedback.available();
        let (routes, names) =
            routes::routes(&settings, &health, &streams, &models, feedback, &host)?;
        let catalog = Arc::new(unknown::hosted(&known_methods, &names));
        let grpc = grpc_stack(
            &settings,
            &known_methods,
            metrics.clone(),
            unknown::Known::new(Arc::clone(&catalog), routes),
        );
        let playground = settings.playground.enabled(&local_addrs);
        let service = edge::service(&settings, grpc, metrics, upstream, playground, catalog)?;

        serving::set_serving(&health, &names, &settings, &models);
        tokio::spawn(serving::follow_feedback_store(health.clone(), available));
        edge::log_settings(&settings);
        info!(
            "response compression {}",
            settings.response_compression.describe()
        );
        let scheme = if tls.is_some() { "TLS" } else { "plaintext" };
        for addr in &local_addrs {
            info!(services = ?names, "listening on {addr} ({scheme})");
        }
        edge::log_playground(&settings, &local_addrs, playground);

        let mut listener = listener::Listener::new(listeners, tls, &settings);
        listener.run(service, shutdown).await;
        health.shut_down();
        listener.shut_down(settings.shutdown_grace).await;
        Ok(())
    }
}

/// This machine's host name (`localhost` when it cannot be read), for the echo
/// service's default instance names and the interop service's `hostname`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The layers every gRPC call goes through, from the network or from the REST gateway,
/// around `routes` (see the module docs for their order).
fn grpc_stack(
    settings: &Settings,
    known_methods: &[(String, methods::RpcType)],
    metrics: metrics::Metrics,
    routes: unknown::Known<Routes>,
) -> HttpService {
    let deadline = match settings.default_unary_timeout {
        Some(timeout) => {
            let unary = known_methods
                .iter()
                .filter(|(_, rpc_type)| *rpc_type == methods::RpcType::Unary)
                .map(|(path, _)| path.clone())
                .collect();
            deadline::DeadlineLayer::with_default_unary_timeout(timeout, Arc::new(unary))
        }
        None => deadline::DeadlineLayer::new(),
    };
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(metrics::MetricsLayer::new(metrics))
            .layer(limit::ConcurrencyLimitLayer::new(
                settings.max_concurrent_requests,
            ))
            .option_layer(settings.auth.clone().map(auth::AuthLayer::new))
            .layer(quota::QuotaLayer::new(settings.max_calls_per_caller))
            .layer(deadline)
            .layer(
                message_limit::MessageLimitLayer::new(
                    message_limit::Limit {
                        bytes: settings.max_message_size,
                        setting: "--max-message-size",
                    },
                    [(
                        routes::name_of_type::<VideoProcessingServer<VideoService>>(),
                        message_limit::Limit {
                            bytes: video_message_limit(&settings.frame_limits),
                            setting: "--max-frame-bytes",
                        },
                    )],
                )
                .with_single_request(
                    known_methods
                        .iter()
                        .filter(|(_, rpc_type)| {
                            matches!(
                                rpc_type,
                                methods::RpcType::Unary | methods::RpcType::ServerStream
                            )
                        })
                        .map(|(path, _)| path.clone()),
                    settings.first_message_timeout,
                ),
            )
            .service(routes),
    )
}
