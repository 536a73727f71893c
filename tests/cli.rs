//! The `grpc-showcase` binary run as a user runs it: its command line, its signals, its
//! logs, a crash, and the processes the tests start.

mod common;

use common::{
    process::{KillOnDrop, command, is_gone, run_client},
    running::{Running, server_binary},
};
use grpc_showcase::proto::helloworld::{HelloRequest, greeter_client::GreeterClient};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[test]
fn help_explains_every_flag_and_its_environment_variable() {
    let output = command(server_binary()).arg("--help").output().unwrap();
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
        "--instance-name",
        "GRPC_SHOWCASE_INSTANCE_NAME",
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
    let output = command(server_binary())
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
    let output = command(server_binary())
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
/// On one worker thread the binary runs Tokio's current-thread scheduler (src/runtime.rs):
/// batched predictions, unary and streaming greetings, and the feedback database (on
/// the blocking threads) all still answer, through the real examples.
#[tokio::test]
async fn one_worker_thread_serves_every_kind_of_call() {
    let server = Running::start_with(tempfile::tempdir().unwrap(), &["--worker-threads", "1"]);
    let addr = server.url();
    let fraud = run_client("fraud_detection", &addr, &[]).await;
    assert!(fraud.contains("FRAUD"), "{fraud}");
    let greeter = run_client("greeter", &addr, &[]).await;
    assert!(greeter.contains("Hello, Barbara!"), "{greeter}");
    let feedback = run_client("feedback", &addr, &["send", "--count", "20"]).await;
    assert!(feedback.contains("#19 stored as feedback 20"), "{feedback}");
    // 16 calls in flight, so that predictions run in batches.
    let load = run_client(
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
    let output = command(server_binary())
        .args(["--worker-threads", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--worker-threads"), "{stderr}");
}
#[tokio::test]
async fn acknowledged_feedback_survives_sigkill_and_retries_store_nothing_twice() {
    use grpc_showcase::proto::feedback::{
        FeedbackRequest, feedback_service_client::FeedbackServiceClient,
    };

    let server = Running::start();
    let mut client = FeedbackServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    // An endless stream of feedback; acknowledgements are collected as they come.
    // Each with an idempotency key, so that the client can retry after the crash.
    let request = |i: u64| FeedbackRequest {
        consumer_id: format!("crash-{}", i % 7),
        feedback: format!("feedback number {i}: good service"),
        idempotency_key: format!("key-{i}"),
    };
    let requests = tokio_stream::iter((0u64..).map(request));
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

    // The client retries everything it may have sent, acknowledged or not (far past
    // what HTTP/2 flow control let through before the kill): each acknowledged one gets
    // its first id again, and nothing is stored twice.
    let sent_at_most = stored.len() as u64 + 5_000;
    let retries = tokio_stream::iter((0..sent_at_most).map(request));
    let mut responses = client.send_feedback(retries).await.unwrap().into_inner();
    let mut ids = std::collections::HashMap::new();
    while let Some(response) = responses.message().await.unwrap() {
        assert!(response.error.is_none(), "{response:?}");
        ids.insert(response.index, response.feedback_id);
    }
    for (id, index) in &acknowledged {
        assert_eq!(ids.get(index), Some(id), "feedback {index} stored again");
    }
    let texts: Vec<String> = common::list_all(&mut client, 500)
        .await
        .into_iter()
        .map(|(_, _, text)| text)
        .collect();
    let distinct: std::collections::HashSet<&String> = texts.iter().collect();
    assert_eq!(texts.len(), distinct.len(), "a retry was stored twice");
    assert_eq!(texts.len() as u64, sent_at_most);
}

/// The binary runs without transparent huge pages (src/main.rs: its allocator would
/// otherwise spread a small heap over 2 MiB pages), from before its first allocation.
#[test]
fn the_server_runs_without_transparent_huge_pages() {
    let server = Running::start();
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let thp = status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(str::trim);
    // Kernels before 5.0 do not report it; there is nothing to check then.
    if let Some(thp) = thp {
        assert_eq!(thp, "0", "{status}");
    }
}

/// A test that fails after starting the server binary leaves nothing running: the
/// server is killed and reaped as the failing test unwinds.
#[test]
fn a_server_started_by_a_failing_test_ends_with_it() {
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let server = Running::start();
        pid_tx.send(server.pid()).unwrap();
        panic!("a test that fails while its server runs");
    })
    .join();
    assert!(failed.is_err());
    let pid = pid_rx.recv().unwrap();
    assert!(is_gone(pid), "server {pid} outlived its test");
}

/// A process whose test never drops it (leaked, or the test process killed) still dies
/// with the test's thread: the kernel sends it SIGKILL (PR_SET_PDEATHSIG).
#[test]
fn a_process_leaked_by_a_test_dies_with_the_test_thread() {
    let child = std::thread::spawn(|| {
        let child = command("sleep").arg("600").spawn().unwrap();
        let pid = child.id();
        std::mem::forget(child);
        pid
    })
    .join()
    .unwrap();
    let pid = libc::pid_t::try_from(child).unwrap();
    let mut status = 0;
    // SAFETY: waitpid(2) on our own child, with a valid pointer for its status.
    let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(reaped, pid);
    assert!(libc::WIFSIGNALED(status), "status {status:#x}");
    assert_eq!(libc::WTERMSIG(status), libc::SIGKILL);
}

/// [`KillOnDrop`] ends a process that would run for ten minutes.
#[test]
fn kill_on_drop_kills_and_reaps() {
    let guard = KillOnDrop(command("sleep").arg("600").spawn().unwrap());
    let pid = guard.0.id();
    drop(guard);
    assert!(is_gone(pid));
}

/// A Unix socket's file left by a server that was killed is replaced at the next start;
/// one that a running server accepts on is refused with a clear error.
#[test]
fn a_stale_unix_socket_is_replaced_and_a_live_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    let listen = format!("unix:{}", socket.display());
    let first = Running::start_with(tempfile::tempdir().unwrap(), &["--listen", &listen]);
    let output = command(server_binary())
        .args(["--listen", &listen, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a server already listens on this socket"),
        "{stderr}"
    );
    // SIGKILL leaves the file behind; a new server takes its place.
    drop(first.kill_9());
    assert!(socket.exists());
    let second = Running::start_with(tempfile::tempdir().unwrap(), &["--listen", &listen]);
    assert_eq!(second.addr, listen);
}
