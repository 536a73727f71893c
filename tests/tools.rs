//! Tests of the benchmark tools (the `bench/` package): the load tool, the bare tonic
//! reference server and the start-up timer, run as bench/run.py runs them.

mod common;

use std::process::Stdio;

use common::{
    TestServer,
    certs::{TestCa, write},
    process::{free_port, run_binary, run_client, tokio_command, workspace_binary},
    running::server_binary,
};
use grpc_showcase::{
    proto::helloworld::{HelloRequest, greeter_client::GreeterClient},
    server::{Settings, TlsFiles},
};

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
        &["--rpc", "infer", "--model", "iris", "--rows", "4"],
        &["--rpc", "calculator", "--server-pid", &pid],
        &["--rpc", "gateway"],
    ] {
        let args: Vec<&str> = short.iter().chain(rpc).copied().collect();
        let out = run_client("load", &server.url(), &args).await;
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

/// The bare tonic reference of the benchmarks (bench/bare_greeter.rs), started as
/// bench/run.py starts it; its address from its first line.
async fn start_bare_greeter() -> (tokio::process::Child, String) {
    start_bare_greeter_with(&[]).await
}

/// [`start_bare_greeter`] with extra flags `args`.
async fn start_bare_greeter_with(args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio_command(workspace_binary("bare_greeter"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
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
            let out = run_client("load", addr, &args).await;
            assert!(out.contains("errors {}"), "{out}");
            // Exactly the count asked for: warm-up calls are not counted, none is lost.
            assert_eq!(ok_count(&out), 120, "{addr} {rpc:?}: {out}");
        }
    }
}

#[tokio::test]
async fn startup_tool_times_the_binary_to_serving_with_every_model_ready() {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let binary = server_binary();
    let args = [
        "--runs",
        "2",
        "--",
        binary.to_str().unwrap(),
        "--listen",
        &listen,
        "--data-dir",
        data.path().to_str().unwrap(),
    ];
    let out = run_client("startup", &format!("http://{listen}"), &args).await;
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

/// The interop client (bench/interop) passes every standard case of the gRPC interop
/// spec against this server: the TestService's features, through a client that sees
/// the wire (per-message compression flags, trailers, the server's deadline status).
#[tokio::test]
async fn interop_client_passes_every_case() {
    let server = TestServer::start().await;
    let port = server.addr.port().to_string();
    let out = run_binary(
        "interop_client",
        &[
            "--server_host=127.0.0.1",
            &format!("--server_port={port}"),
            "--test_case=all",
        ],
    )
    .await;
    let passed = out
        .lines()
        .filter(|line| line.ends_with(": PASSED"))
        .count();
    assert_eq!(passed, 18, "{out}");
    for case in [
        "server_compressed_streaming",
        "client_compressed_streaming",
        "custom_metadata",
        "special_status_message",
        "timeout_on_sleeping_server",
    ] {
        assert!(out.contains(&format!("{case}: PASSED")), "{out}");
    }
}

/// The same client over TLS (`--use_tls=true`), trusting the test CA.
#[tokio::test]
async fn interop_client_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("interop test CA");
    let (cert, key) = ca.issue("localhost");
    let server = TestServer::with_settings(Settings {
        tls: Some(TlsFiles {
            cert: write(&dir, "server.pem", &cert),
            key: write(&dir, "server.key", &key),
            client_ca: None,
        }),
        ..Settings::default()
    })
    .await;
    let ca_file = write(&dir, "ca.pem", &ca.pem());
    for case in [
        "large_unary",
        "server_compressed_streaming",
        "custom_metadata",
    ] {
        let out = run_binary(
            "interop_client",
            &[
                "--server_host=localhost",
                &format!("--server_port={}", server.addr.port()),
                "--use_tls=true",
                &format!("--ca_file={}", ca_file.display()),
                &format!("--test_case={case}"),
            ],
        )
        .await;
        assert_eq!(out.trim(), format!("{case}: PASSED"));
    }
}
