//! How the server behaves: [`Settings`], and the one place their defaults are written.

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    path::PathBuf,
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use crate::domain::{auth::Tokens, feedback::StoreLocation, video::Limits};

pub use super::compression::ResponseCompression;
pub use super::tls::TlsFiles;

/// Where the server listens unless told otherwise: this machine only (a server that
/// takes connections from the network is a choice to make explicitly), on 50051, the
/// port gRPC's examples use.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 50051));

/// The server's data directory unless told otherwise: `grpc-showcase` in the platform's
/// data directory (the `dirs` crate's `data_dir`): `$XDG_DATA_HOME/grpc-showcase` on
/// Linux, `~/.local/share/grpc-showcase` when XDG_DATA_HOME is not set (or not an
/// absolute path); `~/Library/Application Support/grpc-showcase` on macOS. `data` (in the
/// working directory) only when there is no home directory to find.
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir().map_or_else(|| PathBuf::from("data"), |dir| dir.join("grpc-showcase"))
}

/// Where the server takes connections: a TCP address, or a Unix domain socket's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// `HOST:PORT`, such as `127.0.0.1:50051` or `[::]:50051` (port 0: a free port).
    Tcp(SocketAddr),
    /// `unix:PATH`: a Unix domain socket, for clients on this machine only; the file is
    /// created at start and removed at shutdown.
    Unix(PathBuf),
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a path, as in unix:/tmp/grpc-showcase.sock".into());
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        text.parse().map(Self::Tcp).map_err(|_| {
            format!("{text:?} is not HOST:PORT (127.0.0.1:50051, [::]:50051) nor unix:PATH")
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => addr.fmt(f),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl ListenAddr {
    /// Whether only this machine can connect: a loopback address or a Unix socket.
    pub fn is_local(&self) -> bool {
        match self {
            Self::Tcp(addr) => addr.ip().is_loopback(),
            Self::Unix(_) => true,
        }
    }
}

/// Whether the server serves the playground page at `/` (see
/// [`crate::server::playground`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PlaygroundMode {
    /// When every listen address is local (loopback or a Unix socket): a server
    /// reachable from a network shows no page unless asked to.
    #[default]
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

impl PlaygroundMode {
    /// Whether the page is served on `addrs`.
    pub fn enabled(self, addrs: &[ListenAddr]) -> bool {
        match self {
            Self::Auto => addrs.iter().all(ListenAddr::is_local),
            Self::On => true,
            Self::Off => false,
        }
    }
}

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
    /// The directory whose subdirectories are the models to serve (see
    /// [`crate::domain::models`]); `None`: the models built into the binary. A directory
    /// that cannot be listed stops the start ([`super::ServeError::Models`]).
    pub models_dir: Option<PathBuf>,
    /// The id of the model that `FraudDetectionService` scores with.
    pub fraud_model: String,
    /// The directory of the feedback database (created, with the database, on first
    /// start), when `feedback_store` is `None`; by default [`default_data_dir`].
    pub data_dir: PathBuf,
    /// Where feedback is stored; `None`: `data_dir/feedback.sqlite3`.
    pub feedback_store: Option<StoreLocation>,
    /// How many feedbacks a WatchFeedback watcher may fall behind before it is told it
    /// lagged.
    pub feedback_watch_buffer: usize,
    /// The largest video frames accepted. The video service's message limit follows
    /// from [`Limits::max_bytes`] (see [`video_message_limit`]), not from
    /// `max_message_size`: a raw 1080p RGB frame (6.2 MB) is over tonic's 4 MiB default.
    pub frame_limits: Limits,
    /// The bearer tokens every application service requires; `None` leaves every
    /// service open (see [`crate::domain::auth`]).
    pub auth: Option<Arc<Tokens>>,
    /// TLS (and mTLS) on the port; `None` serves plaintext.
    pub tls: Option<TlsFiles>,
    /// The origins whose web pages may call the server (CORS, for grpc-web, Connect and
    /// the REST gateway; the `Origin` check of WebSockets): full origins such as
    /// `https://app.example.com`, or `*` for any. Empty: no CORS headers, so only pages
    /// of the server's own origin may call.
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
    /// (see [`crate::server::layers::limit`]).
    pub max_concurrent_requests: usize,
    /// The most calls one caller may have in progress: one token when auth is on, one
    /// peer address otherwise; more get RESOURCE_EXHAUSTED (see
    /// [`crate::server::layers::quota`]).
    pub max_calls_per_caller: usize,
    /// How long a unary or server-streaming call may wait for its one request message
    /// before it ends with DEADLINE_EXCEEDED; `Duration::MAX`: no limit.
    pub first_message_timeout: Duration,
    /// The bytes one stream's large replies (video frames, interop payloads) may hold
    /// while being made or waiting to be sent (see [`crate::domain::budget`]).
    pub stream_memory: usize,
    /// The bytes every stream's large replies together may hold; one caller's at most
    /// half.
    pub memory_budget: usize,
    /// How often the server pings an idle HTTP/2 connection to check that the client is
    /// still there; `None` never pings.
    pub http2_keepalive_interval: Option<Duration>,
    /// How long the server waits for a ping's answer before closing the connection.
    pub http2_keepalive_timeout: Duration,
    /// How long a new connection may take to send its first byte (and, with TLS, to
    /// finish its handshake) before it is closed.
    pub handshake_timeout: Duration,
    /// How long a connection may go with no call in flight before it is closed (HTTP/2
    /// GOAWAY, HTTP/1.1 close); keepalive pings do not count as calls.
    pub idle_timeout: Duration,
    /// How long the body of a gateway or Connect unary request may take to arrive in
    /// full before the request is ended (HTTP 408; Connect `deadline_exceeded`): a body
    /// that stalls, or dribbles, does not hold a connection.
    pub request_body_timeout: Duration,
    /// The limit of unary calls sent without a deadline; `None`: no limit.
    pub default_unary_timeout: Option<Duration>,
    /// The name the echo service gives as the instance that answered (`x-echo-instance`),
    /// so that a client balancing over several servers sees which one answered; `None`:
    /// this machine's host name and the port.
    pub instance_name: Option<String>,
    /// Whether to serve the playground page at `/`.
    pub playground: PlaygroundMode,
    /// Which replies are compressed ([`crate::server::compression`]).
    pub response_compression: ResponseCompression,
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
    /// the built-in models, the fraud model `fraud`, feedback in [`default_data_dir`],
    /// watchers 1024 feedbacks of slack, frames up to 4K UHD and 32 MiB
    /// ([`Limits::default`]); no auth, no TLS, no CORS; the gateway calls this server
    /// with a 5 s timeout; 200 calls per connection (hyper's default), 1000 in all; a
    /// keepalive ping every 60 s answered within 20 s (grpc-go's default timeout); unary
    /// calls without a deadline limited to 30 s; the instance named after the host and
    /// port; the playground on loopback addresses only; replies compressed only as their
    /// requests were ([`ResponseCompression::Mirror`]).
    ///
    /// These are also the defaults of the command line's flags, which read them from
    /// here ([`crate::config`]): this is the one place they are written.
    fn default() -> Self {
        Self {
            max_message_size: 4 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            greeting_interval: Duration::from_millis(200),
            models_dir: None,
            fraud_model: "fraud".to_owned(),
            data_dir: default_data_dir(),
            feedback_store: None,
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
            max_calls_per_caller: 250,
            first_message_timeout: Duration::from_secs(10),
            stream_memory: 128 * 1024 * 1024,
            memory_budget: 512 * 1024 * 1024,
            http2_keepalive_interval: Some(Duration::from_secs(60)),
            http2_keepalive_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            request_body_timeout: Duration::from_secs(30),
            default_unary_timeout: Some(Duration::from_secs(30)),
            instance_name: None,
            playground: PlaygroundMode::Auto,
            response_compression: ResponseCompression::Mirror,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<ListenAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn the_playground_is_on_by_default_only_when_every_address_is_local() {
        let local = addrs(&["127.0.0.1:50051", "[::1]:50051", "unix:/tmp/showcase.sock"]);
        assert!(PlaygroundMode::Auto.enabled(&local));
        let exposed = addrs(&["127.0.0.1:50051", "0.0.0.0:50051"]);
        assert!(!PlaygroundMode::Auto.enabled(&exposed));
        assert!(!PlaygroundMode::Auto.enabled(&addrs(&["192.168.1.5:50051"])));
        assert!(PlaygroundMode::On.enabled(&exposed));
        assert!(!PlaygroundMode::Off.enabled(&local));
    }
}
