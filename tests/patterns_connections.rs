//! Smoke tests of the pattern lessons about connections and servers
//! (`examples/patterns/`): authentication, TLS, keepalive, wait-for-ready, health,
//! graceful shutdown, load balancing, name resolving and Unix sockets. Each runs against
//! a real server as a learner runs it, and its output must show the thing it teaches.

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use common::{
    TestServer,
    lessons::{DATA, assert_all, interact},
    process::{free_port, run_binary, run_client, workspace_binary},
    running::Running,
};
use grpc_showcase::{
    domain::auth::Tokens,
    server::{Settings, TlsFiles},
};

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
    let port = free_port();
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
