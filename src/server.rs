//! The server: builds the router of every hosted service, serves it on one port, and
//! shuts down gracefully.
//!
//! Requests go through these layers, outermost first:
//! 1. our accept loop (hyper-util, HTTP/1.1 and HTTP/2 on one port), which puts the
//!    connection's addresses in each request so `Request::remote_addr` works;
//! 2. [`deadline::DeadlineLayer`], which ends calls whose `grpc-timeout` passes with
//!    DEADLINE_EXCEEDED;
//! 3. [`message_limit::MessageLimitLayer`], which refuses request messages over
//!    [`Settings::max_message_size`] (for the video service, over
//!    [`video_message_limit`]) with RESOURCE_EXHAUSTED;
//! 4. tonic's `Routes`, which dispatch on the `/package.Service/Method` path.
//!
//! Between 1 and 2, [`metrics::MetricsLayer`] counts every gRPC call by method and
//! status code and answers `GET /metrics` (Prometheus text) on the same port.
//!
//! Why our own accept loop rather than `tonic::transport::Server`: the latter always
//! applies its own `grpc-timeout` handling, which ends calls with CANCELLED, outside
//! any layer we could add (see [`deadline`]).
//!
//! Shutdown, when the future given to [`Server::serve`] completes: every health status
//! goes to NOT_SERVING, the listener closes (no new connections), every connection is
//! told to finish (HTTP/2 GOAWAY: no new calls), calls in flight get
//! [`Settings::shutdown_grace`] to finish, and whatever is left is then closed.

pub mod deadline;
pub mod linger;
pub mod message_limit;
pub mod metrics;

use std::{future::Future, io, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::task::TaskTracker;
use tonic::{
    codec::CompressionEncoding, server::NamedService, service::Routes,
    transport::server::TcpConnectInfo,
};
use tower::ServiceBuilder;
use tracing::{debug, info, warn};

use crate::{
    feedback::{FeedbackStore, StoreError},
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
    /// 1024 feedbacks of slack, frames up to 4K UHD and 32 MiB ([`Limits::default`]).
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
    /// A descriptor set given to reflection was invalid.
    Reflection(tonic_reflection::server::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServeError::Storage(err) => err.fmt(f),
            ServeError::Io(err) => write!(f, "socket error: {err}"),
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
#[derive(Debug)]
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
        } = self;
        let metrics = metrics::Metrics::new(&DESCRIPTOR_SETS, streams.clone());
        let (routes, names) = routes(&settings, &health, &streams, &models, feedback)?;
        let service = ServiceBuilder::new()
            .layer(metrics::MetricsLayer::new(metrics))
            .layer(deadline::DeadlineLayer)
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
            .service(routes);

        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1().timer(TokioTimer::new());
        http.http2().timer(TokioTimer::new());
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
        let local_addr = listener.local_addr()?;
        info!(services = ?names, "listening on {local_addr}");

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
                .map_request(move |mut request: http::Request<_>| {
                    request.extensions_mut().insert(connect_info.clone());
                    request
                })
                .service(service.clone());
            let connection = http
                .serve_connection(
                    TokioIo::new(linger::LingeringStream::new(stream, lingering.clone())),
                    TowerToHyperService::new(service),
                )
                .into_owned();
            let connection = graceful.watch(connection);
            connections.spawn(async move {
                if let Err(err) = connection.await {
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
