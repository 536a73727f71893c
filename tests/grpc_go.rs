//! grpc-go's own feature-example clients, unchanged, against the server binary: grpc-go
//! 1.33's examples as Debian's golang-google-grpc-dev ships them
//! (/usr/share/doc/golang-google-grpc-dev/examples), built offline in GOPATH mode on the
//! packaged grpc-go (/usr/share/gocode). Each client runs against a server started with
//! the flags it needs (TLS with the examples' own certificate, their token), and must
//! print the line its README or examples_test.sh expects.
//!
//! The clients are built once per run ([`go_clients`]), in the target directory, where
//! the Go build cache and the binaries stay, so that later runs only check them.
//! Left out, as they cannot work here: profiling and xds (Debian's grpc-go leaves out
//! their packages), encryption/ALTS (it needs Google Cloud's ALTS handshaker, and this
//! server has no ALTS), wait_for_ready (its own server is part of the program),
//! route_guide (no RouteGuide service here), reflection (a server only).
//!
//! Without Go or the examples the tests say so and pass, unless
//! `GRPC_SHOWCASE_REQUIRE_GO` is set, as `.ci/go.sh` sets it.

mod common;

#[path = "grpc_go/go.rs"]
mod go;

use common::running::Running;
use go::{GoClients, TOKEN, go_clients, run};

/// A server on a free port (plaintext unless `flags` say otherwise), with `flags`.
fn start(flags: &[&str]) -> Running {
    Running::start_with(tempfile::tempdir().unwrap(), flags)
}

/// Runs `client` with `args` to its end, which must be a success after printing every
/// one of `lines`; returns what it printed.
async fn check(go: &GoClients, client: &str, args: &[&str], lines: &[&str]) -> String {
    let run = run(go, client, args, None).await;
    run.expect(client, lines).succeeded(client);
    run.output
}

#[tokio::test]
async fn compression_deadline_retry_and_multiplex() {
    let Some(go) = go_clients() else { return };
    let server = start(&[]);
    let addr = ["-addr", &server.addr];
    let deadline = [
        "[1] wanted = OK, got = OK",
        "[2] wanted = DeadlineExceeded, got = DeadlineExceeded",
        "[3] wanted = OK, got = OK",
        "[4] wanted = DeadlineExceeded, got = DeadlineExceeded",
        "[5] wanted = OK, got = OK",
        "[6] wanted = DeadlineExceeded, got = DeadlineExceeded",
    ];
    let compression = [r#"UnaryEcho call returned "compress", <nil>"#];
    // The echo service fails 3 UnaryEcho calls of "Try and Success" in 4, as grpc-go's
    // retry server does: the client's service config retries them.
    let retry = [r#"UnaryEcho reply: message:"Try and Success""#];
    let multiplex = [
        "Greeting:  Hello, multiplex!",
        "UnaryEcho:  this is examples/multiplex",
    ];
    tokio::join!(
        check(go, "features/deadline/client", &addr, &deadline),
        check(go, "features/compression/client", &addr, &compression),
        check(go, "features/retry/client", &addr, &retry),
        check(go, "features/multiplex/client", &addr, &multiplex),
    );
    // The retry client's answer came on its 4th attempt, after 3 UNAVAILABLE (no other
    // client here gets that code).
    let metrics = common::http1(server.addr.parse().unwrap(), "GET", "/metrics", &[], b"").await;
    let metrics = String::from_utf8_lossy(&metrics.body);
    let unavailable = metrics
        .lines()
        .find(|line| {
            line.starts_with("grpc_server_handled_total{")
                && line.contains(r#"grpc_method="UnaryEcho""#)
                && line.contains(r#"grpc_code="Unavailable""#)
        })
        .unwrap_or_else(|| panic!("no UNAVAILABLE UnaryEcho in the metrics:\n{metrics}"));
    assert!(unavailable.ends_with(" 3"), "{unavailable}");
}

#[tokio::test]
async fn metadata_cancellation_errors_and_keepalive() {
    let Some(go) = go_clients() else { return };
    let server = start(&[]);
    let addr = ["-addr", &server.addr];
    let cancellation = [
        r#"received message "hello""#,
        r#"received message "world""#,
        "stream.Recv() returned expected error rpc error: code = Canceled",
    ];
    // The keepalive client waits forever after its call, to show pings.
    let keepalive = |out: &str| out.contains(r#"RPC response: message:"keepalive demo""#);
    let (metadata, ..) = tokio::join!(
        check(
            go,
            "features/metadata/client",
            &addr,
            &["--- bidirectional ---"]
        ),
        check(go, "features/cancellation/client", &addr, &cancellation),
        check(
            go,
            "features/errors/client",
            &addr,
            &["Greeting: Hello, world!"]
        ),
        run(go, "features/keepalive/client", &addr, Some(&keepalive)),
    );
    // It ran to the end: each of the four calls had its headers and its trailer.
    for check in ["location from header:\n 0. MTV", "timestamp from trailer:"] {
        assert_eq!(metadata.matches(check).count(), 4, "{metadata}");
    }
}

#[tokio::test]
async fn a_client_over_a_unix_socket() {
    let Some(go) = go_clients() else { return };
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("grpc-showcase.sock");
    let _server = start(&["--listen", &format!("unix:{}", socket.display())]);
    let addr = ["-addr", &format!("unix://{}", socket.display())];
    let lines = [
        "Greeting:  Hello, multiplex!",
        "UnaryEcho:  this is examples/multiplex",
    ];
    check(go, "features/multiplex/client", &addr, &lines).await;
}

#[tokio::test]
async fn tls_authentication_and_interceptor_with_the_examples_certificate_and_token() {
    let Some(go) = go_clients() else { return };
    let (cert, key) = (
        go.data("x509/server_cert.pem"),
        go.data("x509/server_key.pem"),
    );
    let tls = ["--tls-cert", &cert, "--tls-key", &key];
    let hello = ["UnaryEcho:  hello world"];
    let tls_only = start(&tls);
    let client = "features/encryption/TLS/client";
    check(go, client, &["-addr", &tls_only.addr], &hello).await;

    let tokens = tempfile::tempdir().unwrap();
    let file = tokens.path().join("tokens.json");
    let entry = format!(r#"[{{"name": "grpc-go-examples", "token": "{TOKEN}", "allow": ["*"]}}]"#);
    std::fs::write(&file, entry).unwrap();
    let server = start(&[&tls[..], &["--auth-tokens", file.to_str().unwrap()]].concat());
    let addr = ["-addr", &server.addr];
    // The interceptor client's interceptors add the token, and log each call and message.
    let interceptor = [
        hello[0],
        "LOG:\tRPC: /grpc.examples.echo.Echo/UnaryEcho",
        "BidiStreaming Echo:  Request 5",
    ];
    tokio::join!(
        check(go, "features/authentication/client", &addr, &hello),
        check(go, "features/interceptor/client", &addr, &interceptor),
    );
    // Without the token, the same server refuses the TLS client.
    let refused = run(go, client, &addr, None).await;
    refused.expect(client, &["code = Unauthenticated"]);
    assert!(!refused.status.unwrap().success());
}

/// Whether `addresses` can all be bound now.
fn free(addresses: &[&str]) -> bool {
    addresses
        .iter()
        .all(|a| std::net::TcpListener::bind(a).is_ok())
}

#[tokio::test]
async fn greeter_health_load_balancing_name_resolving_and_debugging_on_their_fixed_ports() {
    let Some(go) = go_clients() else { return };
    // These clients dial localhost:50051 (and :50052), or :10001 to :10003, themselves;
    // the debugging client serves channelz on :50052 itself.
    let ports = ["127.0.0.1:50051", "127.0.0.1:50052", "0.0.0.0:50052"];
    if !free(&ports) || !free(&["127.0.0.1:10001", "127.0.0.1:10002", "127.0.0.1:10003"]) {
        let busy = "ports 50051, 50052 or 10001 to 10003 are taken by another process";
        assert!(
            std::env::var_os("GRPC_SHOWCASE_REQUIRE_GO").is_none(),
            "{busy}"
        );
        eprintln!("skipped: {busy}");
        return;
    }
    let server = start(&["--listen", "127.0.0.1:50051,127.0.0.1:50052"]);
    let balancing = [
        "--- calling helloworld.Greeter/SayHello with pick_first ---",
        "--- calling helloworld.Greeter/SayHello with round_robin ---",
    ];
    let resolving = [
        r#"--- calling helloworld.Greeter/SayHello to "passthrough:///localhost:50051""#,
        r#"--- calling helloworld.Greeter/SayHello to "example:///resolver.example.grpc.io""#,
    ];
    // The health client checks both ports' health, and calls once a second forever.
    let health = |out: &str| out.matches("UnaryEcho:  \n").count() >= 2;
    let (_, balanced, resolved, _) = tokio::join!(
        check(
            go,
            "helloworld/greeter_client",
            &[],
            &["Greeting: Hello, world!"]
        ),
        check(go, "features/load_balancing/client", &[], &balancing),
        check(go, "features/name_resolving/client", &[], &resolving),
        run(go, "features/health/client", &[], Some(&health)),
    );
    assert_eq!(
        balanced
            .matches("this is examples/load_balancing\n")
            .count(),
        20
    );
    assert_eq!(
        resolved
            .matches("this is examples/name_resolving\n")
            .count(),
        20
    );
    drop(server);

    let _server = start(&[
        "--listen",
        "127.0.0.1:10001,127.0.0.1:10002,127.0.0.1:10003",
    ]);
    // 100 SayHello calls balanced over the three, then it waits forever (for channelz).
    let all = |out: &str| out.matches("Greeting: Hello, world!").count() >= 100;
    let debugging = run(go, "features/debugging/client", &[], Some(&all)).await;
    assert!(
        !debugging.output.contains("could not greet"),
        "{}",
        debugging.output
    );
}
