//! The command line: every flag also settable by an environment variable.

use std::{num::NonZeroUsize, path::PathBuf, sync::Arc, time::Duration};

use clap::{Parser, ValueEnum};

use crate::{
    domain::{
        auth::{Tokens, TokensError},
        feedback::StoreLocation,
        video::Limits,
    },
    server::{DEFAULT_LISTEN, ListenAddr, PlaygroundMode, ResponseCompression, Settings, TlsFiles},
};

/// The defaults of the flags that set [`Settings`]: the settings' own defaults, written
/// once, in [`Settings::default`].
fn defaults() -> Settings {
    Settings::default()
}

/// A duration as the flags write it and `--help` shows it: "10s", "500ms", "1m".
fn flag(duration: Duration) -> humantime::Duration {
    duration.into()
}

/// One gRPC server hosting the classic demo services on one port: helloworld.Greeter,
/// calculator.Calculator, model.ModelInference, fraud_detection.FraudDetectionService,
/// feedback.FeedbackService, video.VideoProcessing, grpc.health.v1.Health and server
/// reflection (v1 and v1alpha).
///
/// Explore it with grpcurl:  grpcurl -plaintext localhost:50051 list
#[derive(Debug, Clone, Parser)]
#[command(name = "grpc-showcase", version, about, long_about)]
// clap prints these doc comments verbatim as --help; `[::]:50051` there is an address,
// not a rustdoc link.
#[allow(
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls
)]
pub struct Config {
    /// The address and port to listen on. The default takes connections from this
    /// machine only; to take them from your network, bind all interfaces explicitly
    /// with 0.0.0.0:50051 (IPv4) or [::]:50051 (IPv6). Port 0 picks a free port.
    /// unix:PATH listens on a Unix domain socket instead. Give it more than once (or
    /// comma-separated) to listen on several addresses: each port shows as an instance
    /// of its own to the echo service's clients (x-echo-instance), as for load balancing.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_LISTEN",
        value_name = "ADDRESS",
        value_delimiter = ',',
        default_values_t = [ListenAddr::Tcp(DEFAULT_LISTEN)]
    )]
    pub listen: Vec<ListenAddr>,

    /// Which logs to print: a level (error, warn, info, debug, trace) or per-module
    /// directives as in RUST_LOG, for example "info,grpc_showcase=debug".
    #[arg(long, env = "GRPC_SHOWCASE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// How to print logs: human-readable text, or one JSON object per line for log
    /// collectors. Logs go to standard error.
    #[arg(long, env = "GRPC_SHOWCASE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// On SIGINT or SIGTERM, how long calls in flight may take to finish before the
    /// server closes their connections and exits, for example "10s", "500ms", "1m".
    #[arg(long, env = "GRPC_SHOWCASE_SHUTDOWN_GRACE", default_value_t = flag(defaults().shutdown_grace))]
    pub shutdown_grace: humantime::Duration,

    /// The largest message, in bytes, that the server decodes or encodes. A request
    /// message over it gets RESOURCE_EXHAUSTED. Clients have their own limit (4 MiB in
    /// most gRPC libraries) for the replies they accept.
    #[arg(long, env = "GRPC_SHOWCASE_MAX_MESSAGE_SIZE", default_value_t = defaults().max_message_size)]
    pub max_message_size: usize,

    /// The directory of the models to serve: one subdirectory per model, holding
    /// model.json (its metadata) and the ONNX file it names. Relative paths start from
    /// the working directory. A directory that cannot be read stops the start (exit
    /// status 2). Default: the models built into this binary, those of the repository's
    /// models/ directory when it was built (the startup log lists them).
    #[arg(long, env = "GRPC_SHOWCASE_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,

    /// The id of the model fraud_detection.FraudDetectionService scores with. Its
    /// model.json must give a decision threshold.
    #[arg(long, env = "GRPC_SHOWCASE_FRAUD_MODEL", default_value_t = defaults().fraud_model)]
    pub fraud_model: String,

    /// The directory of the server's data: the feedback database (feedback.sqlite3),
    /// created, with the directory and its schema, on first start. Relative paths start
    /// from the working directory. Default: the platform's data directory,
    /// $XDG_DATA_HOME/grpc-showcase on Linux (~/.local/share/grpc-showcase without
    /// XDG_DATA_HOME), ~/Library/Application Support/grpc-showcase on macOS; shown below
    /// for this user.
    #[arg(long, env = "GRPC_SHOWCASE_DATA_DIR", default_value_os_t = defaults().data_dir)]
    pub data_dir: PathBuf,

    /// Where feedback is stored: sqlite:PATH (one server process; the default is
    /// sqlite:DATA_DIR/feedback.sqlite3) or postgres://user:password@host:port/database,
    /// which any number of replicas may share (see docs/replicas.md),
    /// with libpq's sslmode (disable, prefer, require, verify-ca, verify-full) and
    /// sslrootcert=PATH parameters for TLS.
    /// The schema is created on first start. An unreachable database at start is an
    /// error (exit status 2).
    #[arg(
        long,
        env = "GRPC_SHOWCASE_FEEDBACK_STORE",
        value_name = "URL",
        value_parser = StoreLocationParser
    )]
    pub feedback_store: Option<StoreLocation>,

    /// The largest video frame the video service accepts, in pixels (width x height);
    /// the default is 4K UHD, 3840 x 2160. A JPEG or PNG frame is checked from its
    /// header, before it is decoded. A larger frame gets RESOURCE_EXHAUSTED.
    #[arg(long, env = "GRPC_SHOWCASE_MAX_FRAME_PIXELS", default_value_t = defaults().frame_limits.max_pixels)]
    pub max_frame_pixels: u64,

    /// The largest video frame the video service accepts, in bytes of frame data; the
    /// default, 32 MiB, holds a raw 4K RGB frame (24.9 MB). The video service's message
    /// limit is this plus 1 KiB, instead of --max-message-size. Clients need a
    /// matching limit for the processed frames they receive.
    #[arg(long, env = "GRPC_SHOWCASE_MAX_FRAME_BYTES", default_value_t = defaults().frame_limits.max_bytes)]
    pub max_frame_bytes: usize,

    /// Require bearer tokens: a JSON file listing each token's name, secret and the
    /// services or methods it may call, for example
    /// [{"name": "web", "token": "<openssl rand -hex 32>", "allow": ["fraud_detection.FraudDetectionService", "helloworld.Greeter/SayHello"]}]
    /// ("*" allows everything). Clients send "authorization: Bearer <token>". Health and
    /// reflection stay open. Without this flag every service is open to anyone who can
    /// connect (the server warns at startup).
    #[arg(long, env = "GRPC_SHOWCASE_AUTH_TOKENS", value_name = "FILE")]
    pub auth_tokens: Option<PathBuf>,

    /// Serve TLS with this PEM certificate chain (leaf first). Needs --tls-key.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Mutual TLS: require every client to present a certificate signed by a CA of this
    /// PEM file; a client without one cannot connect. Needs --tls-cert.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_TLS_CLIENT_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,

    /// Let web pages of these origins call the server from a browser (grpc-web and the
    /// REST gateway): CORS. Full origins, comma-separated or repeated, such as
    /// https://app.example.com, or * for any origin. Default: none (same origin only).
    #[arg(
        long,
        env = "GRPC_SHOWCASE_CORS_ALLOW_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub cors_allow_origin: Vec<String>,

    /// Where the REST gateway (POST /api/FraudActivity) sends its gRPC calls, for
    /// example http://10.0.0.5:50051 or https://fraud.internal:443. Default: this
    /// server itself.
    #[arg(long, env = "GRPC_SHOWCASE_GATEWAY_UPSTREAM", value_name = "URL")]
    pub gateway_upstream: Option<String>,

    /// A PEM CA certificate to trust for an https:// --gateway-upstream, besides the
    /// system's root certificates.
    #[arg(long, env = "GRPC_SHOWCASE_GATEWAY_UPSTREAM_CA", value_name = "FILE")]
    pub gateway_upstream_ca: Option<PathBuf>,

    /// How long the REST gateway waits for the fraud service (sent as the call's
    /// deadline); past it the client gets 504.
    #[arg(long, env = "GRPC_SHOWCASE_GATEWAY_TIMEOUT", default_value_t = flag(defaults().gateway_timeout))]
    pub gateway_timeout: humantime::Duration,

    /// The most calls one HTTP/2 connection may have open at once
    /// (SETTINGS_MAX_CONCURRENT_STREAMS); a client waits for a free one.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_MAX_CONCURRENT_STREAMS",
        default_value_t = defaults().max_concurrent_streams
    )]
    pub max_concurrent_streams: u32,

    /// The most calls in progress across all connections (a stream counts until it
    /// ends); more get UNAVAILABLE at once. Health checks are never refused.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_MAX_CONCURRENT_REQUESTS",
        default_value_t = defaults().max_concurrent_requests
    )]
    pub max_concurrent_requests: usize,

    /// The most calls one caller may have in progress (the token's name when
    /// --auth-tokens is on, the peer's IP address otherwise); more get
    /// RESOURCE_EXHAUSTED. Behind a proxy that connects for every client, raise it to
    /// --max-concurrent-requests.
    #[arg(long, env = "GRPC_SHOWCASE_MAX_CALLS_PER_CALLER", default_value_t = defaults().max_calls_per_caller)]
    pub max_calls_per_caller: usize,

    /// How long a unary or server-streaming call may wait for its request message (sent
    /// with the call by every client) before it ends with DEADLINE_EXCEEDED; 0 turns the
    /// limit off.
    #[arg(long, env = "GRPC_SHOWCASE_FIRST_MESSAGE_TIMEOUT", default_value_t = flag(defaults().first_message_timeout))]
    pub first_message_timeout: humantime::Duration,

    /// The bytes one stream's large replies (video frames, interop payloads) may hold
    /// while being made or waiting to be sent; the next waits while the stream is over
    /// it. A frame, or a resize, that needs more gets RESOURCE_EXHAUSTED.
    #[arg(long, env = "GRPC_SHOWCASE_STREAM_MEMORY", default_value_t = defaults().stream_memory)]
    pub stream_memory: usize,

    /// The bytes every stream's large replies together may hold (one caller's at most
    /// half); replies wait while the server is over it.
    #[arg(long, env = "GRPC_SHOWCASE_MEMORY_BUDGET", default_value_t = defaults().memory_budget)]
    pub memory_budget: usize,

    /// How often to ping an idle client over HTTP/2 to check it is still there; 0
    /// turns the pings off.
    #[arg(long, env = "GRPC_SHOWCASE_HTTP2_KEEPALIVE_INTERVAL", default_value_t = flag(defaults().http2_keepalive_interval.unwrap_or_default()))]
    pub http2_keepalive_interval: humantime::Duration,

    /// How long a keepalive ping may go unanswered before the connection is closed.
    #[arg(long, env = "GRPC_SHOWCASE_HTTP2_KEEPALIVE_TIMEOUT", default_value_t = flag(defaults().http2_keepalive_timeout))]
    pub http2_keepalive_timeout: humantime::Duration,

    /// How long a new connection may take to send its first byte (and to finish its TLS
    /// handshake) before it is closed.
    #[arg(long, env = "GRPC_SHOWCASE_HANDSHAKE_TIMEOUT", default_value_t = flag(defaults().handshake_timeout))]
    pub handshake_timeout: humantime::Duration,

    /// How long a connection may go with no call in flight before it is closed (HTTP/2
    /// GOAWAY, HTTP/1.1 close); keepalive pings do not count as calls.
    #[arg(long, env = "GRPC_SHOWCASE_IDLE_TIMEOUT", default_value_t = flag(defaults().idle_timeout))]
    pub idle_timeout: humantime::Duration,

    /// How long the body of a REST gateway or Connect unary request may take to arrive
    /// in full before the request is ended (HTTP 408; Connect deadline_exceeded).
    #[arg(long, env = "GRPC_SHOWCASE_REQUEST_BODY_TIMEOUT", default_value_t = flag(defaults().request_body_timeout))]
    pub request_body_timeout: humantime::Duration,

    /// The longest a unary call sent without a deadline (grpc-timeout) may take; past
    /// it, DEADLINE_EXCEEDED. A client's own deadline always applies instead. Streams
    /// are not limited. 0 turns the limit off.
    #[arg(long, env = "GRPC_SHOWCASE_DEFAULT_UNARY_TIMEOUT", default_value_t = flag(defaults().default_unary_timeout.unwrap_or_default()))]
    pub default_unary_timeout: humantime::Duration,

    /// The name of this server instance, which the echo service puts in every reply's
    /// x-echo-instance header, so that a client balancing over several servers sees
    /// which one answered. Default: this machine's host name and the port.
    #[arg(long, env = "GRPC_SHOWCASE_INSTANCE_NAME", value_name = "NAME")]
    pub instance_name: Option<String>,

    /// How many threads run calls (Tokio's worker threads). The default is the number of
    /// CPUs this process may use, after its CPU affinity and cgroup quota (Rust's
    /// `available_parallelism`). With one thread the server runs Tokio's current-thread
    /// scheduler: nothing to steal work from, and replies finished together leave in one
    /// write (BENCHMARKS.md). Blocking work (SQLite, image filters) has its own threads
    /// either way.
    #[arg(long, env = "GRPC_SHOWCASE_WORKER_THREADS")]
    pub worker_threads: Option<NonZeroUsize>,

    /// Serve the playground, a web page to explore and call every method, at
    /// http://ADDRESS/. auto: only when every --listen address is loopback or a Unix
    /// socket (a server open to a network shows no page unless asked to).
    #[arg(long, env = "GRPC_SHOWCASE_PLAYGROUND", value_enum, default_value_t = defaults().playground)]
    pub playground: PlaygroundMode,

    /// Which replies to compress, on gRPC, grpc-web and Connect alike. A client's
    /// grpc-accept-encoding says what it can decode (grpcio lists gzip on every call),
    /// not that it wants compression. mirror: a reply is compressed only with the
    /// encoding its request used. gzip, zstd: every reply for a client that accepts that
    /// encoding (others as mirror). off: none. Whatever the policy, a message under 1 KiB
    /// and a JPEG or PNG frame stay uncompressed, and an interop test request that asks
    /// for a compressed reply gets one.
    #[arg(long, env = "GRPC_SHOWCASE_RESPONSE_COMPRESSION", value_enum, default_value_t = defaults().response_compression)]
    pub response_compression: ResponseCompression,
}

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// Parses --feedback-store without echoing the value: clap's own message for an invalid
/// value quotes it whole, password included (clap 4).
#[derive(Debug, Clone, Copy)]
struct StoreLocationParser;

impl clap::builder::TypedValueParser for StoreLocationParser {
    type Value = StoreLocation;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StoreLocation, clap::Error> {
        let invalid = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("--feedback-store: {message}\n"),
            )
            .with_cmd(cmd)
        };
        value
            .to_str()
            .ok_or_else(|| invalid("the value is not UTF-8".to_owned()))?
            .parse()
            .map_err(invalid)
    }
}

impl Config {
    /// The server settings these flags give; reads the --auth-tokens file.
    ///
    /// # Errors
    /// When the tokens file cannot be read or is invalid.
    pub fn settings(&self) -> Result<Settings, TokensError> {
        let auth = self
            .auth_tokens
            .as_deref()
            .map(Tokens::load)
            .transpose()?
            .map(Arc::new);
        let nonzero = |duration: humantime::Duration| (!duration.is_zero()).then_some(*duration);
        Ok(Settings {
            max_message_size: self.max_message_size,
            shutdown_grace: *self.shutdown_grace,
            models_dir: self.models_dir.clone(),
            fraud_model: self.fraud_model.clone(),
            data_dir: self.data_dir.clone(),
            feedback_store: self.feedback_store.clone(),
            frame_limits: Limits {
                max_pixels: self.max_frame_pixels,
                max_bytes: self.max_frame_bytes,
            },
            auth,
            tls: self
                .tls_cert
                .clone()
                .zip(self.tls_key.clone())
                .map(|(cert, key)| TlsFiles {
                    cert,
                    key,
                    client_ca: self.tls_client_ca.clone(),
                }),
            cors_allowed_origins: self.cors_allow_origin.clone(),
            gateway_upstream: self.gateway_upstream.clone(),
            gateway_upstream_ca: self.gateway_upstream_ca.clone(),
            gateway_timeout: *self.gateway_timeout,
            max_concurrent_streams: self.max_concurrent_streams,
            max_concurrent_requests: self.max_concurrent_requests,
            max_calls_per_caller: self.max_calls_per_caller,
            first_message_timeout: nonzero(self.first_message_timeout).unwrap_or(Duration::MAX),
            stream_memory: self.stream_memory,
            memory_budget: self.memory_budget,
            http2_keepalive_interval: nonzero(self.http2_keepalive_interval),
            http2_keepalive_timeout: *self.http2_keepalive_timeout,
            handshake_timeout: *self.handshake_timeout,
            idle_timeout: *self.idle_timeout,
            request_body_timeout: *self.request_body_timeout,
            default_unary_timeout: nonzero(self.default_unary_timeout),
            instance_name: self.instance_name.clone(),
            playground: self.playground,
            response_compression: self.response_compression,
            ..Settings::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_only() {
        let config = Config::parse_from(["grpc-showcase"]);
        assert_eq!(
            config.listen,
            [ListenAddr::Tcp("127.0.0.1:50051".parse().unwrap())]
        );
    }

    /// The flags' defaults are the settings' defaults, read from [`Settings::default`]:
    /// nothing given on the command line is the same server as `Settings::default()`.
    #[test]
    fn flag_defaults_are_the_settings_defaults() {
        let from_flags = Config::parse_from(["grpc-showcase"]).settings().unwrap();
        assert_eq!(
            format!("{from_flags:?}"),
            format!("{:?}", Settings::default())
        );
    }

    #[test]
    fn flags_override_defaults() {
        let config = Config::parse_from([
            "grpc-showcase",
            "--listen",
            "0.0.0.0:6000",
            "--shutdown-grace",
            "1500ms",
            "--max-message-size",
            "1024",
            "--log-format",
            "json",
            "--max-frame-pixels",
            "307200",
            "--max-frame-bytes",
            "1000000",
        ]);
        assert_eq!(
            config.listen,
            [ListenAddr::Tcp("0.0.0.0:6000".parse().unwrap())]
        );
        let several = Config::parse_from([
            "grpc-showcase",
            "--listen",
            "127.0.0.1:1",
            "--listen",
            "unix:/tmp/x.sock,[::1]:2",
        ]);
        assert_eq!(
            several.listen,
            [
                ListenAddr::Tcp("127.0.0.1:1".parse().unwrap()),
                ListenAddr::Unix("/tmp/x.sock".into()),
                ListenAddr::Tcp("[::1]:2".parse().unwrap()),
            ]
        );
        assert!(Config::try_parse_from(["grpc-showcase", "--listen", "unix:"]).is_err());
        assert_eq!(*config.shutdown_grace, Duration::from_millis(1500));
        assert_eq!(config.max_message_size, 1024);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(
            config.settings().unwrap().frame_limits,
            Limits {
                max_pixels: 640 * 480,
                max_bytes: 1_000_000
            }
        );
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Config::command().debug_assert();
    }
}
