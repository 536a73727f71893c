//! The `grpc-showcase` binary and the example clients, run as a user runs them.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::TestServer;
use grpc_showcase::proto::helloworld::{HelloRequest, greeter_client::GreeterClient};
use image::RgbImage;

/// The video example's .mp4 reading and writing, used here to read its output back.
#[path = "../examples/video/h264.rs"]
#[allow(dead_code)]
mod h264;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const BINARY: &str = env!("CARGO_BIN_EXE_grpc-showcase");

/// The server binary, started on a free port, with its log lines.
struct Running {
    child: Child,
    addr: String,
    logs: mpsc::Receiver<String>,
    /// The log lines before "listening on".
    startup: Vec<String>,
    /// Its data directory, deleted with it.
    _data: tempfile::TempDir,
}

impl Running {
    /// Starts the binary (listen address from the environment, as a deployment would
    /// set it) and waits for its "listening on" log line.
    fn start() -> Self {
        Self::start_with_data(tempfile::tempdir().unwrap())
    }

    /// Starts the binary on the data directory `data`.
    fn start_with_data(data: tempfile::TempDir) -> Self {
        Self::start_with(data, &[])
    }

    /// Starts the binary on the data directory `data` with extra flags `args`.
    fn start_with(data: tempfile::TempDir, args: &[&str]) -> Self {
        let mut child = Command::new(BINARY)
            .args(args)
            .env("GRPC_SHOWCASE_LISTEN", "127.0.0.1:0")
            .env("GRPC_SHOWCASE_DATA_DIR", data.path())
            .env("GRPC_SHOWCASE_SHUTDOWN_GRACE", "5s")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the server binary");
        let (lines, logs) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut startup = Vec::new();
        let addr = loop {
            let line = logs
                .recv_timeout(Duration::from_secs(30))
                .expect("the server logs that it is listening");
            if let Some((_, rest)) = line.split_once("listening on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            startup.push(line);
        };
        Self {
            child,
            addr,
            logs,
            startup,
            _data: data,
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) has no memory-safety preconditions; pid is our own child,
        // which has not been reaped yet (we have not waited on it).
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(result, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Kills the process with SIGKILL (no chance to clean up) and returns its data
    /// directory.
    fn kill_9(mut self) -> tempfile::TempDir {
        self.signal(libc::SIGKILL);
        self.child.wait().unwrap();
        self._data
    }

    /// Waits for the process to exit, failing after 20 s.
    fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        for _ in 0..2000 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.logs.try_iter().collect());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child.kill().unwrap();
        panic!("the server did not exit within 20 s");
    }
}

#[test]
fn help_explains_every_flag_and_its_environment_variable() {
    let output = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "--listen",
        "GRPC_SHOWCASE_LISTEN",
        "127.0.0.1:50051",
        "0.0.0.0:50051",
        "--log-level",
        "GRPC_SHOWCASE_LOG_LEVEL",
        "--log-format",
        "GRPC_SHOWCASE_LOG_FORMAT",
        "--shutdown-grace",
        "GRPC_SHOWCASE_SHUTDOWN_GRACE",
        "--max-message-size",
        "GRPC_SHOWCASE_MAX_MESSAGE_SIZE",
        "--max-frame-pixels",
        "GRPC_SHOWCASE_MAX_FRAME_PIXELS",
        "--max-frame-bytes",
        "GRPC_SHOWCASE_MAX_FRAME_BYTES",
        "--auth-tokens",
        "GRPC_SHOWCASE_AUTH_TOKENS",
        "--tls-cert",
        "--tls-key",
        "--tls-client-ca",
        "--cors-allow-origin",
        "--gateway-upstream",
        "--gateway-upstream-ca",
        "--gateway-timeout",
        "--max-concurrent-streams",
        "--max-concurrent-requests",
        "--http2-keepalive-interval",
        "--http2-keepalive-timeout",
        "--default-unary-timeout",
        "GRPC_SHOWCASE_DEFAULT_UNARY_TIMEOUT",
        "--worker-threads",
        "GRPC_SHOWCASE_WORKER_THREADS",
    ] {
        assert!(
            help.contains(expected),
            "--help lacks {expected:?}:\n{help}"
        );
    }
}

async fn stop_with(signal: libc::c_int, name: &str) {
    let server = Running::start();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let request = || HealthCheckRequest {
        service: String::new(),
    };
    let status = health.check(request()).await.unwrap().into_inner().status();
    assert_eq!(status, ServingStatus::Serving);
    let mut watch = health.watch(request()).await.unwrap().into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );

    server.signal(signal);
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::NotServing
    );
    let (status, logs) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}; logs: {logs:#?}");
    assert!(
        logs.iter().any(|l| l.contains(&format!("{name} received"))),
        "{logs:#?}"
    );
}

#[tokio::test]
async fn sigterm_flips_health_then_exits_zero() {
    stop_with(libc::SIGTERM, "SIGTERM").await;
}

#[tokio::test]
async fn sigint_flips_health_then_exits_zero() {
    stop_with(libc::SIGINT, "SIGINT").await;
}

#[tokio::test]
async fn says_at_startup_when_auth_is_off() {
    let running = Running::start_with(tempfile::tempdir().unwrap(), &[]);
    let startup = running.startup.join("\n");
    running.signal(libc::SIGTERM);
    running.wait();
    assert!(startup.contains("auth is off"), "{startup}");
}

#[tokio::test]
async fn tokens_are_never_logged_even_at_trace_level() {
    const TOKEN: &str = "secret-7c1d9e2f4a6b8c0d";
    const WRONG: &str = "wrong-secret-3e5f7a9b1c";
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.json");
    std::fs::write(
        &tokens,
        format!(r#"[{{"name": "demo", "token": "{TOKEN}", "allow": ["helloworld.Greeter"]}}]"#),
    )
    .unwrap();
    let running = Running::start_with(
        tempfile::tempdir().unwrap(),
        &[
            "--auth-tokens",
            tokens.to_str().unwrap(),
            "--log-level",
            "trace",
        ],
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut greeter = GreeterClient::new(channel);
    for (token, ok) in [(TOKEN, true), (WRONG, false)] {
        let mut request = tonic::Request::new(HelloRequest { name: "log".into() });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        assert_eq!(greeter.say_hello(request).await.is_ok(), ok);
    }
    // The REST gateway sees the header too.
    let header = format!("Bearer {WRONG}");
    let reply = common::http1(
        running.addr.parse().unwrap(),
        "POST",
        "/api/FraudActivity",
        &[("Authorization", &header)],
        common::TRANSACTION_JSON.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 401);
    running.signal(libc::SIGTERM);
    let startup = running.startup.clone();
    let (status, logs) = running.wait();
    assert!(status.success());
    let all = [startup, logs].concat().join("\n");
    assert!(all.contains("auth is on"), "{all}");
    assert!(
        !all.contains(TOKEN) && !all.contains(WRONG),
        "a token was logged"
    );
    assert!(!all.contains("secret-"), "part of a token was logged");
}

#[test]
fn an_invalid_tokens_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.json");
    std::fs::write(
        &tokens,
        r#"[{"name": "demo", "token": "short", "allow": ["*"]}]"#,
    )
    .unwrap();
    let output = Command::new(BINARY)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--auth-tokens",
            tokens.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tokens.json") && stderr.contains("16 to 4096"),
        "{stderr}"
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(BINARY)
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

/// `target/<profile>/examples/<name>`, which `cargo test` builds with the tests.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run the whole suite with `cargo test`, which builds the examples",
        path.display()
    );
    path
}

async fn run_example(name: &str, server: &TestServer) -> String {
    run_example_with(name, server, &[]).await
}

async fn run_example_with(name: &str, server: &TestServer, args: &[&str]) -> String {
    run_example_at(name, &format!("http://{}", server.addr), args).await
}

/// Runs example `name` with `--addr addr` and `args`; fails unless it succeeds.
async fn run_example_at(name: &str, addr: &str, args: &[&str]) -> String {
    let path = example(name);
    let output: Output = tokio::process::Command::new(path)
        .args(["--addr", addr])
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{name} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn greeter_example_shows_every_rpc_style() {
    let server = TestServer::start().await;
    let out = run_example("greeter", &server).await;
    for expected in [
        "SayHello      -> Hello, World!",
        "SayHelloAgain -> Hello again, World!",
        "Konnichiwa, World!",
        "Hello, Barbara!",
        "DeadlineExceeded",
        "InvalidArgument: name must not be empty",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn greeter_example_compresses_when_asked() {
    let server = TestServer::start().await;
    for encoding in ["gzip", "zstd"] {
        let out = run_example_with("greeter", &server, &["--compression", encoding]).await;
        assert!(
            out.contains(&format!(
                "(the reply came compressed: grpc-encoding \"{encoding}\")"
            )),
            "{out}"
        );
        assert!(out.contains("Hello, Barbara!"), "{out}");
    }
}

#[tokio::test]
async fn calculator_example_shows_every_rpc_style() {
    let server = TestServer::start().await;
    let out = run_example("calculator", &server).await;
    for expected in [
        "SquareRoot(2)      = 1.4142135623730951",
        "Divide(7.5, 2.5)   = 3",
        "field \"b\": division by zero",
        "factor                 6857   (product so far 600851475143)",
        "count 8, mean 3.875, min 1, max 9",
        "sent      6   max so far      9",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn model_inference_example_lists_describes_predicts_and_streams() {
    let server = TestServer::start().await;
    let out = run_example("model_inference", &server).await;
    for expected in [
        "iris       v1  ready",
        "fraud      v1  ready",
        "tensor \"input\": FP32 [-1, 4]",
        "column petal_length     cm",
        "most likely: setosa",
        "row 2: [0.0001, 0.0962, 0.9036]",
        "#1 error 3: inputs has 5 values",
        "#3 [0.0001, 0.0962, 0.9036]",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn fraud_detection_example_scores_transactions() {
    let server = TestServer::start().await;
    let out = run_example("fraud_detection", &server).await;
    for expected in [
        "coffee on a long-standing account",
        "a burst of purchases on a week-old account",
        "FRAUD",
        "negative amount -> InvalidArgument",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn load_tool_reports_throughput_and_latency_without_errors() {
    let server = TestServer::start().await;
    let short = [
        "--duration",
        "300ms",
        "--warmup",
        "50ms",
        "--concurrency",
        "4",
    ];
    // The server runs in this test process: its CPU time is ours.
    let pid = std::process::id().to_string();
    for rpc in [
        &["--rpc", "fraud"][..],
        &["--rpc", "predict", "--model", "digits", "--rows", "8"],
        &["--rpc", "calculator", "--server-pid", &pid],
        &["--rpc", "gateway"],
    ] {
        let args: Vec<&str> = short.iter().chain(rpc).copied().collect();
        let out = run_example_with("load", &server, &args).await;
        assert!(out.contains("errors {}"), "{out}");
        assert!(ok_count(&out) > 0, "{out}");
        assert!(out.contains("latency ms: p50"), "{out}");
        if rpc.contains(&"--server-pid") {
            let per_request: f64 = out
                .lines()
                .find_map(|line| line.strip_prefix("server CPU "))
                .and_then(|rest| rest.split(", ").nth(1))
                .and_then(|rest| rest.strip_suffix(" us per request"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no CPU per request in {out}"));
            assert!(per_request > 0.0, "{out}");
        }
    }
}

/// On one worker thread the binary runs Tokio's current-thread scheduler (src/runtime.rs):
/// batched predictions, unary and streaming greetings, and the feedback database (on
/// the blocking threads) all still answer, through the real examples.
#[tokio::test]
async fn one_worker_thread_serves_every_kind_of_call() {
    let server = Running::start_with(tempfile::tempdir().unwrap(), &["--worker-threads", "1"]);
    let addr = format!("http://{}", server.addr);
    let fraud = run_example_at("fraud_detection", &addr, &[]).await;
    assert!(fraud.contains("FRAUD"), "{fraud}");
    let greeter = run_example_at("greeter", &addr, &[]).await;
    assert!(greeter.contains("Hello, Barbara!"), "{greeter}");
    let feedback = run_example_at("feedback", &addr, &["send", "--count", "20"]).await;
    assert!(feedback.contains("#19 stored as feedback 20"), "{feedback}");
    // 16 calls in flight, so that predictions run in batches.
    let load = run_example_at(
        "load",
        &addr,
        &[
            "--rpc",
            "fraud",
            "--requests",
            "2000",
            "--concurrency",
            "16",
        ],
    )
    .await;
    assert!(load.contains("ok 2000, errors {}"), "{load}");
}

#[test]
fn zero_worker_threads_is_refused() {
    let output = Command::new(BINARY)
        .args(["--worker-threads", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--worker-threads"), "{stderr}");
}

/// The bare tonic reference of the benchmarks (examples/bare_greeter.rs), started as
/// bench/run.py starts it; its address from its first line.
async fn start_bare_greeter() -> (tokio::process::Child, String) {
    start_bare_greeter_with(&[]).await
}

/// [`start_bare_greeter`] with extra flags `args`.
async fn start_bare_greeter_with(args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(example("bare_greeter"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("a listening line");
    let addr = line.strip_prefix("listening on ").expect(&line).to_owned();
    (child, format!("http://{addr}"))
}

/// The count of successful calls in the load tool's output.
fn ok_count(out: &str) -> u64 {
    out.split("ok ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"))
}

#[tokio::test]
async fn bare_greeter_answers_as_the_showcase_does() {
    let server = TestServer::start().await;
    let (_bare, bare_addr) = start_bare_greeter().await;
    let request = || HelloRequest {
        name: "World".into(),
    };
    let mut ours = GreeterClient::new(server.channel().await);
    let from_ours = ours.say_hello(request()).await.unwrap().into_inner();
    let (_bare_ct, bare_ct_addr) = start_bare_greeter_with(&["--current-thread"]).await;
    for addr in [bare_addr, bare_ct_addr] {
        let mut bare = GreeterClient::connect(addr).await.unwrap();
        let from_bare = bare.say_hello(request()).await.unwrap().into_inner();
        assert_eq!(from_bare.message, "Hello, World!");
        assert_eq!(from_bare, from_ours);
    }
}

#[tokio::test]
async fn load_tool_measures_a_fixed_count_of_calls_and_stream_messages() {
    let server = TestServer::start().await;
    let (_bare, bare_addr) = start_bare_greeter().await;
    let ours = format!("http://{}", server.addr);
    for addr in [&ours, &bare_addr] {
        for rpc in [
            &["--rpc", "hello", "--concurrency", "3"][..],
            // Two streams, four greetings in flight on each.
            &[
                "--rpc",
                "hello-stream",
                "--concurrency",
                "2",
                "--window",
                "4",
            ],
        ] {
            let args: Vec<&str> = ["--requests", "120", "--warmup", "20ms"]
                .iter()
                .chain(rpc)
                .copied()
                .collect();
            let out = run_example_at("load", addr, &args).await;
            assert!(out.contains("errors {}"), "{out}");
            // Exactly the count asked for: warm-up calls are not counted, none is lost.
            assert_eq!(ok_count(&out), 120, "{addr} {rpc:?}: {out}");
        }
    }
}

#[tokio::test]
async fn startup_tool_times_the_binary_to_serving_with_every_model_ready() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--runs",
        "2",
        "--",
        BINARY,
        "--listen",
        &listen,
        "--data-dir",
        data.path().to_str().unwrap(),
    ];
    let out = run_example_at("startup", &format!("http://{listen}"), &args).await;
    let models = std::fs::read_dir("models")
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().join("model.onnx").exists())
        .count();
    for run in 1..=2 {
        let line = out
            .lines()
            .find(|line| line.starts_with(&format!("run {run}: serving after ")))
            .unwrap_or_else(|| panic!("no run {run} in {out}"));
        assert!(line.ends_with(&format!(", {models} models ready")), "{out}");
    }
    assert!(out.contains("startup ms: median "), "{out}");
}

#[tokio::test]
async fn acknowledged_feedback_survives_sigkill() {
    use grpc_showcase::proto::feedback::{
        FeedbackRequest, feedback_service_client::FeedbackServiceClient,
    };

    let server = Running::start();
    let mut client = FeedbackServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    // An endless stream of feedback; acknowledgements are collected as they come.
    let requests = tokio_stream::iter((0u64..).map(|i| FeedbackRequest {
        consumer_id: format!("crash-{}", i % 7),
        feedback: format!("feedback number {i}: good service"),
    }));
    let mut responses = client.send_feedback(requests).await.unwrap().into_inner();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 300 {
        let response = responses.message().await.unwrap().unwrap();
        assert!(response.error.is_none(), "{response:?}");
        acknowledged.push((response.feedback_id, response.index));
    }
    // SIGKILL while feedback is still streaming in: no graceful shutdown, no flush.
    let data = server.kill_9();
    // Whatever was acknowledged before the kill, whether read by us or not yet.
    while let Ok(Some(response)) = responses.message().await {
        acknowledged.push((response.feedback_id, response.index));
    }

    let restarted = Running::start_with_data(data);
    let mut client = FeedbackServiceClient::connect(format!("http://{}", restarted.addr))
        .await
        .unwrap();
    let stored: std::collections::BTreeMap<i64, String> = common::list_all(&mut client, 500)
        .await
        .into_iter()
        .map(|(id, _, text)| (id, text))
        .collect();
    assert!(acknowledged.len() >= 300);
    for (id, index) in &acknowledged {
        let text = stored
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged feedback {id} lost"));
        assert_eq!(text, &format!("feedback number {index}: good service"));
    }
}

#[tokio::test]
async fn feedback_example_sends_watches_and_lists() {
    let server = TestServer::start().await;
    // More than the example's request channel holds (16): scripted sending must not wait
    // for the call to start.
    let out = run_example_with("feedback", &server, &["send", "--count", "40"]).await;
    for expected in [
        "#0 stored as feedback 1 [positive",
        "#2 stored as feedback 3 [negative",
        "Thank you for the kind words, alice!",
        "#39 stored as feedback 40",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let watched = run_example_with(
        "feedback",
        &server,
        &["watch", "--replay-after", "0", "--limit", "6"],
    )
    .await;
    assert_eq!(watched.lines().count(), 6, "{watched}");
    assert!(watched.contains("The delivery was fast"), "{watched}");
    let listed = run_example_with("feedback", &server, &["list", "--page-size", "4"]).await;
    assert!(listed.contains("-- page 2"), "{listed}");
    assert!(listed.contains("Support never answered"), "{listed}");
}

const VIDEO_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rocket.mp4");

/// Every picture of an .mp4, decoded.
fn pictures(path: &std::path::Path) -> Vec<h264::Picture> {
    let mut decoder = h264::Mp4Decoder::open(path).unwrap();
    let mut all = Vec::new();
    while let Some(picture) = decoder.next_picture().unwrap() {
        all.push(picture);
    }
    all
}

/// Mean absolute difference of two equal-length pixel buffers, in gray levels.
fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

/// The example's whole path on a real H.264 .mp4 (x264, High profile, B-frames):
/// decode, stream through the server, encode. The output is a playable H.264 .mp4
/// with the same number of frames and the same timing, each frame the inverse of the
/// input's frame at the same position (to within two rounds of lossy coding).
#[tokio::test]
async fn video_example_turns_an_mp4_into_a_processed_mp4() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("inverted.mp4");
    let out = run_example_with(
        "video",
        &server,
        &[
            VIDEO_FIXTURE,
            "--filter",
            "invert",
            "-o",
            output.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.contains("75 frames in"), "{out}");
    assert!(out.contains("(320 x 240, 75 frames, 3.00 s)"), "{out}");

    let input = pictures(std::path::Path::new(VIDEO_FIXTURE));
    let processed = pictures(&output);
    assert_eq!(input.len(), 75);
    assert_eq!(processed.len(), input.len());
    let mut worst = 0.0f64;
    for (k, (before, after)) in input.iter().zip(&processed).enumerate() {
        assert_eq!((after.width, after.height), (320, 240), "frame {k}");
        assert_eq!(after.timestamp_us, before.timestamp_us, "frame {k}");
        let inverted: Vec<u8> = before.rgb.iter().map(|c| 255 - c).collect();
        let off = mean_abs_diff(&after.rgb, &inverted);
        assert!(
            off < 6.0,
            "frame {k} is {off:.1} gray levels from the inverted input"
        );
        worst = worst.max(off);
        // ... and far from the input itself: the filter ran.
        assert!(mean_abs_diff(&after.rgb, &before.rgb) > 60.0, "frame {k}");
    }
    println!("worst frame: {worst:.2} gray levels from the inverted input");

    // A player's own reading of it, where ffmpeg is installed (.ci/run installs it and
    // sets GRPC_SHOWCASE_REQUIRE_FFPROBE).
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames,duration",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(&output)
        .output();
    match probe {
        Ok(probe) => {
            let text = String::from_utf8_lossy(&probe.stdout);
            assert!(probe.status.success(), "ffprobe: {text}");
            for expected in [
                "codec_name=h264",
                "width=320",
                "height=240",
                "nb_read_frames=75",
                "duration=3.0",
            ] {
                assert!(text.contains(expected), "ffprobe lacks {expected}: {text}");
            }
        }
        Err(_) => assert!(
            std::env::var_os("GRPC_SHOWCASE_REQUIRE_FFPROBE").is_none(),
            "ffprobe is required here but not installed"
        ),
    }
}

/// A folder of images in, a folder of PNG frames out: each frame is exactly what
/// imageproc's Canny gives on the image (PNG is lossless both ways).
#[tokio::test]
async fn video_example_processes_a_folder_of_images() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (frames_in, frames_out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir(&frames_in).unwrap();
    let input: Vec<h264::Picture> = pictures(std::path::Path::new(VIDEO_FIXTURE))
        .into_iter()
        .step_by(25)
        .collect();
    for (k, picture) in input.iter().enumerate() {
        RgbImage::from_raw(picture.width, picture.height, picture.rgb.clone())
            .unwrap()
            .save(frames_in.join(format!("{k:03}.png")))
            .unwrap();
    }
    let out = run_example_with(
        "video",
        &server,
        &[
            frames_in.to_str().unwrap(),
            "--filter",
            "edges",
            "-o",
            frames_out.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.contains("3 frames in"), "{out}");
    for (k, picture) in input.iter().enumerate() {
        let rgb = RgbImage::from_raw(picture.width, picture.height, picture.rgb.clone()).unwrap();
        let expected =
            imageproc::edges::canny(&image::DynamicImage::ImageRgb8(rgb).to_luma8(), 50.0, 100.0);
        let got = image::open(frames_out.join(format!("frame-{k:05}.png")))
            .unwrap()
            .to_luma8();
        assert_eq!(got, expected, "frame {k}");
    }
}
