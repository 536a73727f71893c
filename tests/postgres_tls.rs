//! TLS between the server and PostgreSQL (`--feedback-store postgres://...?sslmode=...`),
//! against a throwaway cluster serving a certificate from a test CA: every `sslmode`
//! does what libpq's does, and a certificate that fails the check stops the start with
//! a clear error.

mod common;

use std::process::Command;

use common::{
    certs::{TestCa, write},
    postgres::Postgres,
    process::command,
    running::{Running, server_binary},
};
use grpc_showcase::proto::feedback::{
    FeedbackRequest, feedback_service_client::FeedbackServiceClient,
};
use tokio_stream::StreamExt;

/// How many of the server's connections (application_name grpc-showcase) use TLS, and
/// how many do not, as PostgreSQL sees them.
fn connections(port: u16) -> (u32, u32) {
    let output = Command::new("psql")
        .arg(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .args([
            "-tA",
            "-c",
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'grpc-showcase'",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let (tls, plain) = text.trim().split_once('|').unwrap();
    (tls.parse().unwrap(), plain.parse().unwrap())
}

async fn send_one(server: &Running) -> i64 {
    let mut client = FeedbackServiceClient::connect(server.url()).await.unwrap();
    let request = FeedbackRequest {
        consumer_id: "tls".to_owned(),
        feedback: "encrypted all the way".to_owned(),
        ..FeedbackRequest::default()
    };
    let response = client
        .send_feedback(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner()
        .next()
        .await
        .unwrap()
        .unwrap();
    response.feedback_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_does_what_libpq_does() {
    let ca = TestCa::new("database CA");
    let (cert, key) = ca.issue("localhost");
    let Some(postgres) = Postgres::start_tls(&cert, &key) else {
        return;
    };
    let port = postgres.port().unwrap();
    let files = tempfile::tempdir().unwrap();
    let root = write(&files, "ca.pem", &ca.pem());
    let other = write(&files, "other.pem", &TestCa::new("another CA").pem());
    let url =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");

    // Accepted: each server stores a feedback; PostgreSQL sees only TLS connections,
    // or only plain ones with sslmode=disable.
    let verify_full = format!("sslmode=verify-full&sslrootcert={}", root.display());
    let verify_ca = format!("sslmode=verify-ca&sslrootcert={}", root.display());
    let mut ids = Vec::new();
    for (url, tls) in [
        (url("localhost", &verify_full), true),
        // The certificate names localhost, not 127.0.0.1: verify-ca does not look.
        (url("127.0.0.1", &verify_ca), true),
        // require and prefer encrypt without checking the certificate, as libpq.
        (url("127.0.0.1", "sslmode=require"), true),
        (url("127.0.0.1", ""), true),
        (url("127.0.0.1", "sslmode=disable"), false),
    ] {
        let server = Running::start_with(tempfile::tempdir().unwrap(), &["--feedback-store", &url]);
        ids.push(send_one(&server).await);
        let (encrypted, plain) = connections(port);
        if tls {
            assert!(
                encrypted > 0 && plain == 0,
                "{url}: {encrypted} TLS, {plain} plain"
            );
        } else {
            assert!(
                encrypted == 0 && plain > 0,
                "{url}: {encrypted} TLS, {plain} plain"
            );
        }
        drop(server.kill_9());
        // The killed server's connections end when PostgreSQL notices.
        for _ in 0..100 {
            if connections(port) == (0, 0) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);

    // Refused at start, with exit status 2 and the reason.
    for (url, reason) in [
        (
            url("127.0.0.1", &verify_full),
            "certificate not valid for name",
        ),
        (
            url(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={}", other.display()),
            ),
            "UnknownIssuer",
        ),
        (
            url(
                "localhost",
                "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            ),
            "/nonexistent/ca.pem",
        ),
        (url("localhost", "sslmode=allow"), "sslmode=allow"),
    ] {
        let output = command(server_binary())
            .args(["--listen", "127.0.0.1:0", "--feedback-store", &url])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(reason), "{url}: {stderr}");
    }
}
