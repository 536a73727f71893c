//! The accept loop and graceful shutdown, in the manner of mini-redis's `Listener`: it
//! takes connections on every address the server listens on (TCP ports, Unix domain
//! sockets) until told to stop, serves each one (TLS first, when on; then HTTP/1.1 or
//! HTTP/2) on a task of its own, and at shutdown lets the calls in flight finish before
//! it closes what is left.

use std::os::fd::AsRawFd;
use std::{future::Future, io, path::PathBuf, pin::Pin, sync::Arc, time::Duration};

use futures::{Stream, StreamExt};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    net::{TcpListener, TcpStream, UnixListener, UnixStream},
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tokio_util::{either::Either, sync::CancellationToken, task::TaskTracker};
use tonic::transport::server::{TcpConnectInfo, UdsConnectInfo};
use tower::ServiceBuilder;
use tracing::{debug, info, warn};

use super::{
    activity::{Activity, TrackCalls},
    edge::EdgeService,
    linger,
    settings::{ListenAddr, Settings},
};

/// A bound socket, not yet accepting.
#[derive(Debug)]
pub(super) enum Bound {
    /// A TCP port.
    Tcp(TcpListener),
    /// A Unix domain socket, and its file (removed at shutdown).
    Unix(UnixListener, PathBuf),
}

impl Bound {
    /// Binds `addr`. For a Unix socket, a file left at the path by a server that did not
    /// shut down is replaced; a live one (something accepts on it) is an error. (A client
    /// must send a host name as the `:authority` of its calls on a Unix socket: h2 0.4.20
    /// refuses a path there as malformed, src/server.rs, which grpcurl 1.8.6 sends unless
    /// given `-authority localhost`.)
    pub(super) async fn bind(addr: &ListenAddr) -> io::Result<Self> {
        match addr {
            ListenAddr::Tcp(addr) => Ok(Self::Tcp(TcpListener::bind(addr).await?)),
            ListenAddr::Unix(path) => {
                if path.exists() {
                    if UnixStream::connect(path).await.is_ok() {
                        return Err(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            "a server already listens on this socket",
                        ));
                    }
                    std::fs::remove_file(path)?;
                }
                Ok(Self::Unix(UnixListener::bind(path)?, path.clone()))
            }
        }
    }

    /// The address it listens on (with the real port when port 0 was asked for).
    pub(super) fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            Self::Tcp(listener) => listener.local_addr().map(ListenAddr::Tcp),
            Self::Unix(_, path) => Ok(ListenAddr::Unix(path.clone())),
        }
    }
}

/// One accepted connection.
enum Accepted {
    Tcp(TcpStream),
    Unix(UnixStream),
}

type Accepting = Pin<Box<dyn Stream<Item = io::Result<Accepted>> + Send>>;

/// The listening sockets and the connections they have accepted.
pub(super) struct Listener {
    /// The bound sockets; closed (dropped) when [`Listener::run`] returns.
    bound: Vec<Bound>,
    /// The files of the Unix domain sockets, removed at shutdown.
    unix_paths: Vec<PathBuf>,
    /// Set when the port speaks TLS.
    tls: Option<TlsAcceptor>,
    /// hyper's HTTP/1.1 and HTTP/2 connection settings (keepalive, streams per
    /// connection), shared by every connection.
    http: auto::Builder<TokioExecutor>,
    /// Tells every connection to finish (HTTP/2 GOAWAY) and waits for them.
    /// Cancelled when the server shuts down: each connection then finishes gracefully
    /// (HTTP/2 GOAWAY: no new calls; the calls in flight go on).
    stopping: CancellationToken,
    /// The lingering closes of finished connections (see [`linger`]), waited for before
    /// the process exits so that clients read everything sent.
    lingering: TaskTracker,
    /// One task per connection, aborted if they outlast the grace period.
    connections: JoinSet<()>,
    /// How long a new connection may take to send its first byte and to finish its TLS
    /// handshake.
    handshake_timeout: Duration,
    /// How long a connection may have no call in flight before it is closed.
    idle_timeout: Duration,
}

/// A socket that can say when its first byte has arrived (or it has closed).
pub(super) trait Readable {
    /// Waits until a byte can be read, or the peer closed, without reading it.
    fn first_byte(&self) -> impl Future<Output = io::Result<()>> + Send;
}

/// Waits for a byte on `fd` with `recv(MSG_PEEK)`: tokio's `readable()` alone may
/// report a new socket ready before any byte came (tokio 1.x documents these false
/// positives, and a freshly accepted socket shows one), which let silent clients in.
macro_rules! first_byte {
    ($stream:expr) => {{
        let stream = $stream;
        async move {
            let fd = stream.as_raw_fd();
            loop {
                stream.readable().await?;
                let peeked = stream.try_io(tokio::io::Interest::READABLE, || {
                    let mut byte = 0u8;
                    // SAFETY: recv writes at most 1 byte into `byte`, which lives for
                    // the call; MSG_PEEK leaves the byte in the socket for hyper.
                    let n = unsafe { libc::recv(fd, (&raw mut byte).cast(), 1, libc::MSG_PEEK) };
                    if n < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(())
                    }
                });
                match peeked {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                    other => return other,
                }
            }
        }
    }};
}

impl Readable for tokio::net::TcpStream {
    fn first_byte(&self) -> impl Future<Output = io::Result<()>> + Send {
        first_byte!(self)
    }
}

impl Readable for tokio::net::UnixStream {
    fn first_byte(&self) -> impl Future<Output = io::Result<()>> + Send {
        first_byte!(self)
    }
}

/// The largest HTTP/2 DATA frame this server accepts, bytes (SETTINGS_MAX_FRAME_SIZE).
const MAX_FRAME_SIZE: u32 = 256 << 10;

impl Listener {
    /// Serves `bound` with the connection settings of `settings`.
    pub(super) fn new(bound: Vec<Bound>, tls: Option<TlsAcceptor>, settings: &Settings) -> Self {
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1().timer(TokioTimer::new());
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(settings.max_concurrent_streams)
            .keep_alive_interval(settings.http2_keepalive_interval)
            .keep_alive_timeout(settings.http2_keepalive_timeout)
            // Flow-control windows sized from the measured bandwidth-delay product
            // (hyper's BDP estimator; grpc-go and gRPC C-core do the same) instead of
            // hyper's fixed 1 MB, and DATA frames up to 256 KiB instead of HTTP/2's
            // initial 16 KiB (RFC 9113 allows up to 16 MiB): a raw 1280 x 720 RGB8
            // video frame (2.76 MB) arrives in 11 frames instead of 169. Raw 1280 x 720
            // frames through grayscale, one core: 355 to 453 frames/s against 192 to
            // 283 without either (bench/video.py's setup, 3 alternating rounds).
            // Not larger: when tonic 0.14.9 reads a message's header it reserves room
            // for the message in its decode buffer, and `BytesMut::reserve` moves what
            // is already there, up to a DATA frame of the next message, to the front.
            // In perf of raw 640 x 480 grayscale frames that move was 8% of the
            // server's time with 1 MiB frames, 2.5% with 256 KiB.
            .adaptive_window(true)
            .max_frame_size(MAX_FRAME_SIZE);
        let unix_paths = bound
            .iter()
            .filter_map(|b| match b {
                Bound::Unix(_, path) => Some(path.clone()),
                Bound::Tcp(_) => None,
            })
            .collect();
        Self {
            bound,
            unix_paths,
            tls,
            http,
            stopping: CancellationToken::new(),
            lingering: TaskTracker::new(),
            connections: JoinSet::new(),
            handshake_timeout: settings.handshake_timeout,
            idle_timeout: settings.idle_timeout,
        }
    }

    /// Accepts connections on every socket and serves `service` on them until
    /// `shutdown` completes; the sockets close when it returns.
    pub(super) async fn run(&mut self, service: EdgeService, shutdown: impl Future<Output = ()>) {
        let sockets: Vec<Accepting> = self
            .bound
            .drain(..)
            .map(|bound| -> Accepting {
                match bound {
                    Bound::Tcp(listener) => {
                        Box::pin(TcpListenerStream::new(listener).map(|s| s.map(Accepted::Tcp)))
                    }
                    Bound::Unix(listener, _) => {
                        Box::pin(UnixListenerStream::new(listener).map(|s| s.map(Accepted::Unix)))
                    }
                }
            })
            .collect();
        let mut incoming = futures::stream::select_all(sockets);
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => return,
                // Reap finished connection tasks so the set does not grow.
                Some(_) = self.connections.join_next() => continue,
                accepted = incoming.next() => match accepted {
                    Some(Ok(accepted)) => accepted,
                    Some(Err(err)) => {
                        // Out of file descriptors, for instance: back off rather than spin.
                        warn!("accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    None => return,
                },
            };
            match accepted {
                Accepted::Tcp(stream) => {
                    // gRPC messages are often small and latency-bound: send them at once.
                    if let Err(err) = stream.set_nodelay(true) {
                        debug!("cannot set TCP_NODELAY: {err}");
                    }
                    // The connection's addresses go into each request, so that handlers'
                    // `Request::remote_addr` works as under tonic's own server.
                    let info = TcpConnectInfo {
                        local_addr: stream.local_addr().ok(),
                        remote_addr: stream.peer_addr().ok(),
                    };
                    let peer = info.remote_addr.map_or("?".to_owned(), |a| a.to_string());
                    self.serve_connection(stream, peer, info, service.clone());
                }
                Accepted::Unix(stream) => {
                    let info = UdsConnectInfo {
                        peer_addr: stream.peer_addr().ok().map(Arc::new),
                        peer_cred: stream.peer_cred().ok(),
                    };
                    let peer = info.peer_cred.map_or("unix socket".to_owned(), |c| {
                        format!("unix socket, pid {:?}", c.pid())
                    });
                    self.serve_connection(stream, peer, info, service.clone());
                }
            }
        }
    }

    /// Serves one accepted connection on a task of its own; `peer` names the client in
    /// logs, `info` goes into every request's extensions.
    fn serve_connection<S, I>(&mut self, stream: S, peer: String, info: I, service: EdgeService)
    where
        S: linger::Stream + Readable,
        I: Clone + Send + Sync + 'static,
    {
        let activity = Activity::new();
        let service = TrackCalls {
            inner: service,
            activity: activity.clone(),
        };
        let service = ServiceBuilder::new()
            .map_request(move |request: http::Request<Incoming>| {
                let mut request = request.map(tonic::body::Body::new);
                request.extensions_mut().insert(info.clone());
                request
            })
            .service(service);
        let (http, tls, stopping) = (self.http.clone(), self.tls.clone(), self.stopping.clone());
        let idle_timeout = self.idle_timeout;
        let (lingering, handshake_timeout) = (self.lingering.clone(), self.handshake_timeout);
        self.connections.spawn(async move {
            // A client that connects and sends nothing would otherwise hold the
            // connection for ever: hyper-util's auto builder waits for the first bytes
            // (to tell HTTP/1.1 from HTTP/2) with no timeout of its own (hyper-util
            // 0.1.21, `server::conn::auto::read_version`).
            // One deadline for the first byte and the TLS handshake together.
            let deadline = tokio::time::Instant::now() + handshake_timeout;
            if tokio::time::timeout_at(deadline, stream.first_byte())
                .await
                .is_err()
            {
                debug!(%peer, "closed: no byte within {handshake_timeout:?}");
                return;
            }
            let stream = linger::LingeringStream::new(stream, lingering);
            // The handshake runs in the connection's task: a slow client does not hold up
            // the accept loop.
            let io = match tls {
                None => Either::Left(stream),
                Some(acceptor) => {
                    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => Either::Right(tls_stream),
                        Ok(Err(err)) => {
                            debug!(%peer, "TLS handshake failed: {err}");
                            return;
                        }
                        Err(_) => {
                            debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            // With upgrades: HTTP/1.1 connections may become WebSockets
            // (server/connect/websocket.rs).
            let connection = http
                .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service))
                .into_owned();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopping.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
                () = activity.idle_for(idle_timeout) => {
                    debug!(%peer, "closing: no call for {idle_timeout:?}");
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        result = connection.as_mut() => result,
                        // A shutdown while it closes changes nothing: it is closing.
                        () = stopping.cancelled() => connection.await,
                    }
                }
            };
            if let Err(err) = result {
                debug!(%peer, "connection ended with an error: {err}");
            }
        });
    }

    /// Removes the Unix sockets' files (the ports closed when [`Listener::run`]
    /// returned), tells every connection to finish (HTTP/2
    /// GOAWAY: no new calls), gives the calls in flight `grace` to finish, closes what
    /// is left, then waits (at most [`linger::LINGER`]) for the closed connections'
    /// lingering closes.
    pub(super) async fn shut_down(self, grace: Duration) {
        let Listener {
            unix_paths,
            stopping,
            lingering,
            mut connections,
            ..
        } = self;
        for path in unix_paths {
            let _ = std::fs::remove_file(path);
        }
        info!(
            "shutting down: health is NOT_SERVING, new connections and calls are refused, \
             calls in flight have {grace:?} to finish"
        );
        stopping.cancel();
        let finished = async { while connections.join_next().await.is_some() {} };
        match tokio::time::timeout(grace, finished).await {
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
    }
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
