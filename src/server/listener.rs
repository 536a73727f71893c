//! The accept loop and graceful shutdown, in the manner of mini-redis's `Listener`: it
//! takes connections until told to stop, serves each one (TLS first, when on; then
//! HTTP/1.1 or HTTP/2) on a task of its own, and at shutdown lets the calls in flight
//! finish before it closes what is left.

use std::{future::Future, net::SocketAddr, time::Duration};

use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_util::{either::Either, task::TaskTracker};
use tonic::transport::server::TcpConnectInfo;
use tower::ServiceBuilder;
use tracing::{debug, info, warn};

use super::{edge::EdgeService, linger, settings::Settings};

/// How long a client has to complete its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The listening socket and the connections it has accepted.
pub(super) struct Listener {
    /// The bound socket; closed (dropped) when shutdown begins.
    listener: TcpListener,
    /// Set when the port speaks TLS.
    tls: Option<TlsAcceptor>,
    /// hyper's HTTP/1.1 and HTTP/2 connection settings (keepalive, streams per
    /// connection), shared by every connection.
    http: auto::Builder<TokioExecutor>,
    /// Tells every connection to finish (HTTP/2 GOAWAY) and waits for them.
    graceful: GracefulShutdown,
    /// The lingering closes of finished connections (see [`linger`]), waited for before
    /// the process exits so that clients read everything sent.
    lingering: TaskTracker,
    /// One task per connection, aborted if they outlast the grace period.
    connections: JoinSet<()>,
}

impl Listener {
    /// Serves `listener` with the connection settings of `settings`.
    pub(super) fn new(
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        settings: &Settings,
    ) -> Self {
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1().timer(TokioTimer::new());
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(settings.max_concurrent_streams)
            .keep_alive_interval(settings.http2_keepalive_interval)
            .keep_alive_timeout(settings.http2_keepalive_timeout);
        Self {
            listener,
            tls,
            http,
            graceful: GracefulShutdown::new(),
            lingering: TaskTracker::new(),
            connections: JoinSet::new(),
        }
    }

    /// Accepts connections and serves `service` on them until `shutdown` completes.
    pub(super) async fn run(&mut self, service: EdgeService, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let (stream, remote_addr) = tokio::select! {
                () = &mut shutdown => return,
                // Reap finished connection tasks so the set does not grow.
                Some(_) = self.connections.join_next() => continue,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors, for instance: back off rather than spin.
                        warn!("accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            self.serve_connection(stream, remote_addr, service.clone());
        }
    }

    /// Serves one accepted connection on a task of its own.
    fn serve_connection(
        &mut self,
        stream: tokio::net::TcpStream,
        remote_addr: SocketAddr,
        service: EdgeService,
    ) {
        // gRPC messages are often small and latency-bound: send them at once.
        if let Err(err) = stream.set_nodelay(true) {
            debug!(%remote_addr, "cannot set TCP_NODELAY: {err}");
        }
        // The connection's addresses go into each request, so that handlers'
        // `Request::remote_addr` works as under tonic's own server.
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
            .service(service);
        let stream = linger::LingeringStream::new(stream, self.lingering.clone());
        let (http, tls, watcher) = (self.http.clone(), self.tls.clone(), self.graceful.watcher());
        self.connections.spawn(async move {
            // The handshake runs in the connection's task: a slow client does not hold up
            // the accept loop.
            let io = match tls {
                None => Either::Left(stream),
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
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

    /// Closes the port (no new connections), tells every connection to finish (HTTP/2
    /// GOAWAY: no new calls), gives the calls in flight `grace` to finish, closes what
    /// is left, then waits (at most [`linger::LINGER`]) for the closed connections'
    /// lingering closes.
    pub(super) async fn shut_down(self, grace: Duration) {
        let Listener {
            listener,
            graceful,
            lingering,
            mut connections,
            ..
        } = self;
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
