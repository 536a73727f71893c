//! A real server on 127.0.0.1 with a free port, for the integration tests.

#![allow(dead_code)] // Each test binary uses its own part of this module.

pub mod certs;
pub mod lessons;
pub mod postgres;
pub mod process;
pub mod running;
pub mod video;

use std::{
    net::{Shutdown, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use grpc_showcase::proto::feedback::{
    ListFeedbackRequest, feedback_service_client::FeedbackServiceClient,
};
use grpc_showcase::{
    domain::health::HealthRegistry,
    domain::streams::ActiveStreams,
    server::{Server, Settings},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::{Channel, Endpoint};

/// An HTTP/2 client that, unlike tonic's `Channel`, does not enforce `grpc-timeout`
/// itself (tonic 0.14.9's Channel ends an expired call with CANCELLED on the client
/// side), so a test sees the status the server sends. Use with a generated client's
/// `with_origin`.
pub type PlainClient = Client<HttpConnector, tonic::body::Body>;

/// A channel whose TCP connections the test can cut, as when a client process dies
/// or its network goes away.
pub struct Disconnectable {
    pub channel: Channel,
    /// Duplicates of the channel's sockets' descriptors, to shut them down.
    sockets: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Disconnectable {
    /// Shuts down every connection of the channel in both directions.
    pub fn disconnect(&self) {
        for socket in self.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// A server running in this process, shut down by [`TestServer::shutdown`].
pub struct TestServer {
    pub addr: SocketAddr,
    pub health: HealthRegistry,
    pub streams: ActiveStreams,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// The feedback database's directory, deleted with the server (unless the test
    /// gave its own).
    _data: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server with default settings.
    pub async fn start() -> Self {
        Self::with_settings(Settings::default()).await
    }

    /// Starts a server with `settings` on 127.0.0.1:0, with a fresh data directory unless
    /// `settings` names one.
    pub async fn with_settings(mut settings: Settings) -> Self {
        let data = (settings.data_dir == Settings::default().data_dir).then(|| {
            let dir = tempfile::tempdir().unwrap();
            settings.data_dir = dir.path().to_owned();
            dir
        });
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), settings)
            .await
            .expect("bind 127.0.0.1:0");
        let addr = server.local_addr().unwrap();
        let health = server.health();
        let streams = server.active_streams();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Self {
            addr,
            health,
            streams,
            stop: Some(stop),
            task,
            _data: data,
        }
    }

    /// `http://` and the server's address, as the lessons' `--addr` takes it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new connection to the server.
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the test server")
    }

    /// A plain HTTP/2 client and the server's origin: see [`PlainClient`].
    pub fn plain_client(&self) -> (PlainClient, http::Uri) {
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http();
        (client, format!("http://{}", self.addr).parse().unwrap())
    }

    /// A channel whose connections can be cut: see [`Disconnectable`].
    pub async fn disconnectable_channel(&self) -> Disconnectable {
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let addr = self.addr;
        let kept = Arc::clone(&sockets);
        let connector = tower::service_fn(move |_: http::Uri| {
            let kept = Arc::clone(&kept);
            async move {
                let stream = tokio::net::TcpStream::connect(addr).await?.into_std()?;
                kept.lock().unwrap().push(stream.try_clone()?);
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::TcpStream::from_std(stream)?))
            }
        });
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_with_connector(connector)
            .await
            .expect("connect to the test server");
        Disconnectable { channel, sockets }
    }

    /// Begins shutdown (as SIGTERM does) without waiting for it to finish.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Begins shutdown and waits for `serve` to return, failing the test after `limit`.
    pub async fn shutdown_within(mut self, limit: Duration) {
        self.begin_shutdown();
        tokio::time::timeout(limit, &mut self.task)
            .await
            .expect("the server stops within the limit")
            .expect("the server task did not panic");
    }
}

/// Waits until `condition` holds, checking every 10 ms; panics with `what` after 10 s.
///
/// This bounds a wait for something that must happen; it asserts nothing about speed.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every stored feedback, through ListFeedback pages of `page_size`.
pub async fn list_all(
    client: &mut FeedbackServiceClient<Channel>,
    page_size: u32,
) -> Vec<(i64, String, String)> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_feedback(ListFeedbackRequest {
                page_size,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(
            page.feedback
                .into_iter()
                .map(|f| (f.id, f.consumer_id, f.feedback)),
        );
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

/// The field named by the first `google.rpc.BadRequest` violation in `status`.
pub fn bad_request_field(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let bad_request = details
        .bad_request()
        .unwrap_or_else(|| panic!("no BadRequest detail in {status:?}"));
    bad_request.field_violations[0].field.clone()
}

/// A plain HTTP/1.1 response: version, status, headers (names lower-case) and body.
#[derive(Debug)]
pub struct HttpReply {
    pub version: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "not JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends one HTTP/1.1 request over a new connection, as curl does, and reads the whole
/// response (`Connection: close`; a chunked body is decoded).
pub async fn http1(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    socket.write_all(body).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    let mut raw_body = response[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let mut status_line = lines.next().unwrap().split(' ');
    let version = status_line.next().unwrap().to_owned();
    let status = status_line.next().unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        let mut decoded = Vec::new();
        let mut rest = &raw_body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            decoded.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        raw_body = decoded;
    }
    HttpReply {
        version,
        status,
        headers,
        body: raw_body,
    }
}

/// A valid transaction for the REST gateway, as JSON.
pub const TRANSACTION_JSON: &str = r#"{"transaction_id": 42, "amount": 950.0, "time": 1700003600, "age_of_account": 3, "number_of_transactions": 12}"#;
