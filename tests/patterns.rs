//! Smoke tests of the pattern lessons (`examples/patterns/`): each runs against a real
//! server as a learner runs it, and its output must show the thing it teaches.

mod common;

use std::{path::Path, process::Stdio, sync::Arc, time::Duration};

use common::{
    TestServer,
    process::{run_binary, run_client, tokio_command, workspace_binary},
    running::Running,
};
use grpc_showcase::{
    domain::auth::Tokens,
    server::{Settings, TlsFiles},
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The lessons' demo certificates and tokens.
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/patterns/data");

async fn lesson(name: &str) -> String {
    let server = TestServer::start().await;
    run_client(name, &server.url(), &[]).await
}

/// Runs lesson `name` with `args`, calling `when(line)` on each line it prints until
/// `when` returns true; then waits for its end. Returns everything it printed.
async fn interact(name: &str, args: &[&str], mut when: impl FnMut(&str) -> bool) -> String {
    let mut child = tokio_command(workspace_binary(name))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = String::new();
    let mut fired = false;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the lesson prints within 30 s")
        .unwrap()
    {
        if !fired {
            fired = when(&line);
        }
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{name} failed:\n{out}");
    out
}

/// The line of `out` that contains `needle`.
fn line<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{out}"))
}

fn assert_all(out: &str, expected: &[&str]) {
    for expected in expected {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn metadata_comes_back_in_headers_then_trailers_and_binary_stays_binary() {
    let out = lesson("metadata").await;
    assert_all(
        &out,
        &[
            "header x-echo-lesson: metadata",
            "binary header x-echo-trace-bin: [1, 2, 3]",
            "3 messages",
            "trailer x-echo-trailer-lesson: metadata",
            "binary trailer x-echo-trailer-trace-bin: [1, 2, 3]",
            "metadata x-echo-trailer-lesson: unary",
        ],
    );
    // Headers before the messages, trailers after.
    let header = out.find("header x-echo-lesson").unwrap();
    let messages = out.find("3 messages").unwrap();
    let trailer = out.find("trailer x-echo-trailer-lesson").unwrap();
    assert!(header < messages && messages < trailer, "{out}");
}

#[tokio::test]
async fn error_details_reads_every_detail_type() {
    let out = lesson("error_details").await;
    assert_all(
        &out,
        &[
            "asked UNAVAILABLE        got Unavailable",
            "ResourceExhausted: out of echoes",
            "RetryInfo: retry after 100ms",
            "QuotaFailure: echo-demo-quota",
            "ErrorInfo: reason ECHO_DETAIL_REQUESTED",
            "BadRequest: field message",
            "DebugInfo: x-echo-detail asked for debug info",
            "BadRequest: field x-echo-delay-ms",
        ],
    );
}

#[tokio::test]
async fn deadline_ends_calls_and_propagation_stops_the_backend_early() {
    let out = lesson("deadline").await;
    let unary = line(&out, "after ");
    assert!(
        unary.contains("DeadlineExceeded") || unary.contains("Cancelled"),
        "{out}"
    );
    // A stream of 10 replies 100 ms apart cut at 350 ms: some replies, not all.
    let stream = line(&out, "replies, then DeadlineExceeded");
    let replies: u32 = stream.split_whitespace().next().unwrap().parse().unwrap();
    assert!((1..10).contains(&replies), "{out}");
    // Without propagation the backend call ran to its end; with it, it was cut short.
    let backend: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("frontend: its backend call ended"))
        .collect();
    assert_eq!(backend.len(), 2, "{out}");
    assert!(backend[0].contains("ended OK"), "{out}");
    assert!(!backend[1].contains("ended OK"), "{out}");
}

/// The cancelled count of a method went up by one, from `line`'s "a -> b".
fn went_up_by_one(out: &str, method: &str) {
    let line = line(out, &format!("count of cancelled {method} calls"));
    let (before, after) = line
        .rsplit_once(": ")
        .unwrap()
        .1
        .split_once(" -> ")
        .unwrap();
    let (before, after): (u64, u64) = (before.parse().unwrap(), after.parse().unwrap());
    assert_eq!(after, before + 1, "{out}");
}

#[tokio::test]
async fn cancellation_is_seen_by_the_server() {
    let out = lesson("cancellation").await;
    assert!(
        out.contains("the client stopped waiting: cancelled"),
        "{out}"
    );
    went_up_by_one(&out, "UnaryEcho");
    went_up_by_one(&out, "ServerStreamingEcho");
    assert!(out.contains("reply 3"), "{out}");
}

#[tokio::test]
async fn retry_succeeds_on_the_third_attempt_and_gives_up_after_three() {
    let out = lesson("retry").await;
    let (first, second) = out.split_once("always fails").unwrap();
    assert_eq!(first.matches("   attempt").count(), 3, "{out}");
    assert_eq!(
        first.matches("RetryInfo says retry in 100ms").count(),
        2,
        "{out}"
    );
    assert!(
        first.contains("succeeded with \"hello\" after 3 attempts"),
        "{out}"
    );
    assert_eq!(second.matches("   attempt").count(), 3, "{out}");
    assert_eq!(second.matches("backing off").count(), 2, "{out}");
    assert!(
        second.contains("gave up after 3 attempts: Unavailable"),
        "{out}"
    );
}

#[tokio::test]
async fn interceptor_adds_headers_and_the_layer_sees_every_call() {
    let out = lesson("interceptor").await;
    assert_all(
        &out,
        &[
            "first: x-echo-request-id 1 came back",
            "second: x-echo-request-id 2 came back",
            "[log] /grpc.examples.echo.Echo/UnaryEcho",
            "[log] /grpc.examples.echo.Echo/ServerStreamingEcho",
        ],
    );
}

#[tokio::test]
async fn compression_shrinks_the_bytes_on_the_wire() {
    let out = lesson("compression").await;
    let size = |name: &str| -> u64 {
        let line = line(&out, &format!("   {name}"));
        let after = line.split("request body").nth(1).unwrap();
        after.split_whitespace().next().unwrap().parse().unwrap()
    };
    let (none, gzip, zstd) = (size("none"), size("gzip"), size("zstd"));
    assert!(none > 100_000, "{out}");
    assert!(gzip * 10 < none && zstd * 10 < none, "{out}");
    assert!(
        out.contains("came back as gzip") && out.contains("came back as zstd"),
        "{out}"
    );
}

#[tokio::test]
async fn multiplex_runs_calls_side_by_side_on_one_connection() {
    let out = lesson("multiplex").await;
    let line = line(&out, "calls answered in");
    assert!(line.contains("20 calls"), "{out}");
    let seconds: f64 = line
        .split("answered in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    // Ten 200 ms echoes one after another would take 2 s: they overlapped.
    assert!(seconds < 2.0, "{out}");
}

#[tokio::test]
async fn flow_control_stalls_a_sender_whose_replies_are_not_read() {
    let out = lesson("flow_control").await;
    let line = line(&out, "without reading:");
    let stalled: usize = line
        .split("reading: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    // Some messages went (the windows' worth), far from all 1000 (64 MB).
    assert!(stalled > 0 && stalled < 500, "{out}");
    assert!(
        out.contains("read all 1000 replies; 1000 messages sent"),
        "{out}"
    );
}

#[tokio::test]
async fn reflection_lists_and_describes_with_no_generated_code() {
    let out = lesson("reflection").await;
    assert_all(
        &out,
        &[
            "   grpc.examples.echo.Echo\n",
            "   helloworld.Greeter\n",
            "rpc UnaryEcho(.grpc.examples.echo.EchoRequest) returns (.grpc.examples.echo.EchoResponse): unary",
            "rpc BidirectionalStreamingEcho(.grpc.examples.echo.EchoRequest) returns (.grpc.examples.echo.EchoResponse): bidirectional streaming",
            "// UnaryEcho is unary echo",
        ],
    );
}

#[tokio::test]
async fn authentication_tells_unauthenticated_from_permission_denied() {
    let tokens = Tokens::load(&Path::new(DATA).join("tokens.json")).unwrap();
    let server = TestServer::with_settings(Settings {
        auth: Some(Arc::new(tokens)),
        ..Settings::default()
    })
    .await;
    let out = run_client("authentication", &server.url(), &[]).await;
    let section = |who: &str| {
        out.split(&format!("calls with {who}"))
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert!(
        section("no token").contains("Greeter/SayHello: Unauthenticated"),
        "{out}"
    );
    assert!(
        section("a wrong token").contains("Echo/UnaryEcho:   Unauthenticated"),
        "{out}"
    );
    let greeter_only = section("the greeter-only token");
    assert!(greeter_only.contains("Greeter/SayHello: OK"), "{out}");
    assert!(
        greeter_only.contains("Echo/UnaryEcho:   PermissionDenied"),
        "{out}"
    );
    let admin = section("the admin token");
    assert!(
        admin.contains("Greeter/SayHello: OK") && admin.contains("Echo/UnaryEcho:   OK"),
        "{out}"
    );
}

#[tokio::test]
async fn tls_needs_the_ca_and_mutual_tls_the_client_certificate() {
    let data = Path::new(DATA);
    let server = TestServer::with_settings(Settings {
        tls: Some(TlsFiles {
            cert: data.join("server.pem"),
            key: data.join("server.key"),
            client_ca: Some(data.join("ca.pem")),
        }),
        ..Settings::default()
    })
    .await;
    let out = run_client("tls", &server.url(), &["--certs", DATA]).await;
    let step = |title: &str| {
        let rest = out.split(title).nth(1).unwrap();
        rest.lines().nth(1).unwrap().to_owned()
    };
    assert!(!step("plaintext").contains("OK"), "{out}");
    assert!(step("system's CAs").contains("UnknownIssuer"), "{out}");
    assert!(
        !step("without a client certificate").contains("OK"),
        "{out}"
    );
    assert!(
        step("mutual TLS").contains("OK, \"secret\" came back"),
        "{out}"
    );
}

#[tokio::test]
async fn keepalive_keeps_answering_connections_and_drops_silent_ones() {
    let server = TestServer::with_settings(Settings {
        http2_keepalive_interval: Some(Duration::from_secs(1)),
        http2_keepalive_timeout: Duration::from_secs(1),
        ..Settings::default()
    })
    .await;
    let out = run_client("keepalive", &server.url(), &[]).await;
    assert_all(
        &out,
        &[
            "the same connection: true",
            "still open = true",
            "the server closed the connection",
        ],
    );
}

#[tokio::test]
async fn wait_for_ready_fails_fast_then_waits_for_the_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = None;
    let out = interact(
        "wait_for_ready",
        &["--addr", &format!("http://{addr}"), "--wait", "30s"],
        |line| {
            if !line.contains("waiting for a server") {
                return false;
            }
            server = Some(Running::start_with(
                tempfile::tempdir().unwrap(),
                &["--listen", &addr],
            ));
            true
        },
    )
    .await;
    assert!(server.is_some(), "{out}");
    assert!(out.contains("failed fast after"), "{out}");
    assert!(out.contains("Unavailable"), "{out}");
    assert!(out.contains("connected after"), "{out}");
    assert!(out.contains("the call: OK, \"ready\" came back"), "{out}");
}

#[tokio::test]
async fn health_watch_sees_not_serving_and_fails_over() {
    let primary = Running::start_with(
        tempfile::tempdir().unwrap(),
        &["--instance-name", "primary"],
    );
    let backup = Running::start_with(tempfile::tempdir().unwrap(), &["--instance-name", "backup"]);
    let out = interact(
        "health",
        &[
            "--addr",
            &primary.url(),
            "--backup",
            &backup.url(),
            "--wait",
            "20s",
        ],
        |line| {
            if line.contains("watching the primary") {
                primary.signal(libc::SIGTERM);
                return true;
            }
            false
        },
    )
    .await;
    assert_all(
        &out,
        &[
            "\"\": Serving",
            "\"no.such.Service\": NotFound",
            "answered by primary",
            "the primary is NotServing: failing over",
            "the backup is Serving",
            "answered by backup",
        ],
    );
}

#[tokio::test]
async fn graceful_shutdown_drains_then_refuses() {
    let server_bin = workspace_binary("grpc-showcase");
    let out = run_binary(
        "graceful_shutdown",
        &["--server-bin", server_bin.to_str().unwrap()],
    )
    .await;
    assert_all(
        &out,
        &[
            "health: Serving",
            "health: Some(NotServing)",
            "a new call: Cancelled",
            "on a new connection: Err(Unavailable)",
            "the call in flight: Ok(\"almost done\")",
            "the server exited: exit status: 0",
        ],
    );
}

/// `n` ports of 127.0.0.1 free now (bound, then released).
fn free_ports(n: usize) -> Vec<String> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect()
}

/// The server binary listening on every address of `addrs`.
fn listening_on(addrs: &[String]) -> Running {
    let args: Vec<&str> = addrs
        .iter()
        .flat_map(|a| ["--listen", a.as_str()])
        .collect();
    Running::start_with(tempfile::tempdir().unwrap(), &args)
}

/// The per-instance counts under step `title` of `out`: (instance, calls).
fn counts(out: &str, title: &str) -> Vec<(String, usize)> {
    let section = out.split(title).nth(1).unwrap();
    let section = section.split("\n== ").next().unwrap();
    section
        .lines()
        .filter_map(|line| line.trim().strip_suffix(" calls"))
        .map(|line| {
            let (instance, n) = line.rsplit_once(": ").unwrap();
            (instance.to_owned(), n.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn load_balancing_spreads_calls_over_the_instances() {
    let addrs = free_ports(3);
    let _server = listening_on(&addrs);
    let urls: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
    let out = run_binary("load_balancing", &["--addrs", &urls.join(",")]).await;
    let one = counts(&out, "one channel to the first instance");
    assert_eq!(one.len(), 1, "{out}");
    let robin = counts(&out, "round robin by hand");
    assert_eq!(robin.len(), 3, "{out}");
    assert!(robin.iter().all(|(_, n)| *n == 10), "{out}");
    let balanced = counts(&out, "tonic's balancing channel");
    assert!(balanced.len() >= 2, "{out}");
    assert_eq!(balanced.iter().map(|(_, n)| n).sum::<usize>(), 30, "{out}");
}

#[tokio::test]
async fn name_resolving_follows_the_instances_that_come_and_go() {
    let addrs = free_ports(2);
    let _server = listening_on(&addrs);
    let out = run_binary(
        "name_resolving",
        &[
            "--first",
            &format!("http://{}", addrs[0]),
            "--second",
            &format!("http://{}", addrs[1]),
        ],
    )
    .await;
    let port = |addr: &str| addr.rsplit(':').next().unwrap().to_owned();
    let (first, second) = (port(&addrs[0]), port(&addrs[1]));
    let found = counts(&out, "finds the first instance");
    assert_eq!(found.len(), 1, "{out}");
    assert!(found[0].0.ends_with(&first), "{out}");
    assert_eq!(counts(&out, "the resolver adds it").len(), 2, "{out}");
    let removed = counts(&out, "the resolver removes it");
    assert_eq!(removed.len(), 1, "{out}");
    assert!(
        removed[0].0.ends_with(&second) && removed[0].1 == 20,
        "{out}"
    );
}

#[tokio::test]
async fn unix_socket_reaches_the_server_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("lesson.sock");
    let addrs = [
        free_ports(1).remove(0),
        format!("unix:{}", socket.display()),
    ];
    let server = listening_on(&addrs);
    let out = run_binary("unix_socket", &["--socket", socket.to_str().unwrap()]).await;
    assert!(out.contains(":unix, peer unix socket, pid "), "{out}");
    assert!(out.contains("\"over a socket file\" came back"), "{out}");
    // The socket's file goes with the server.
    server.signal(libc::SIGTERM);
    let (status, _) = server.wait();
    assert!(status.success());
    assert!(!socket.exists());
}
