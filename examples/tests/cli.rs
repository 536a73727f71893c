//! Every lesson's command line, without a server: how to point it at one, and what a
//! learner sees when none is running. (The lessons against a real server are in the
//! server's tests/lessons.rs; running these tests also makes Cargo build the lessons'
//! binaries for it.)

use std::process::Command;

const LESSONS: [(&str, &str); 21] = [
    ("greeter", env!("CARGO_BIN_EXE_greeter")),
    ("calculator", env!("CARGO_BIN_EXE_calculator")),
    ("model_inference", env!("CARGO_BIN_EXE_model_inference")),
    ("fraud_detection", env!("CARGO_BIN_EXE_fraud_detection")),
    ("feedback", env!("CARGO_BIN_EXE_feedback")),
    ("video", env!("CARGO_BIN_EXE_video")),
    ("metadata", env!("CARGO_BIN_EXE_metadata")),
    ("interceptor", env!("CARGO_BIN_EXE_interceptor")),
    ("error_details", env!("CARGO_BIN_EXE_error_details")),
    ("deadline", env!("CARGO_BIN_EXE_deadline")),
    ("cancellation", env!("CARGO_BIN_EXE_cancellation")),
    ("retry", env!("CARGO_BIN_EXE_retry")),
    ("compression", env!("CARGO_BIN_EXE_compression")),
    ("multiplex", env!("CARGO_BIN_EXE_multiplex")),
    ("flow_control", env!("CARGO_BIN_EXE_flow_control")),
    ("reflection", env!("CARGO_BIN_EXE_reflection")),
    ("authentication", env!("CARGO_BIN_EXE_authentication")),
    ("tls", env!("CARGO_BIN_EXE_tls")),
    ("keepalive", env!("CARGO_BIN_EXE_keepalive")),
    ("wait_for_ready", env!("CARGO_BIN_EXE_wait_for_ready")),
    ("health", env!("CARGO_BIN_EXE_health")),
];

#[test]
fn every_lesson_says_how_to_reach_the_server() {
    for (name, path) in LESSONS {
        let output = Command::new(path).arg("--help").output().unwrap();
        assert!(output.status.success(), "{name} --help failed");
        let help = String::from_utf8(output.stdout).unwrap();
        for expected in ["--addr", "GRPC_SHOWCASE_ADDR", "http://127.0.0.1:50051"] {
            assert!(
                help.contains(expected),
                "{name} --help lacks {expected}:\n{help}"
            );
        }
    }
}

#[test]
fn without_a_server_every_lesson_fails_with_an_error_not_a_panic() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("http://127.0.0.1:{port}");
    for (name, path) in LESSONS {
        let mut command = Command::new(path);
        command.args(["--addr", &addr]);
        match name {
            "video" => _ = command.arg("--list-filters"),
            "feedback" => _ = command.arg("list"),
            "wait_for_ready" => _ = command.args(["--wait", "1s"]),
            _ => {}
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(stderr.to_lowercase().contains("error"), "{name}: {stderr}");
    }
}

#[test]
fn graceful_shutdown_starts_the_server_binary_it_is_given() {
    let output = Command::new(env!("CARGO_BIN_EXE_graceful_shutdown"))
        .args(["--server-bin", "/nonexistent/grpc-showcase"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot start /nonexistent/grpc-showcase"),
        "{stderr}"
    );
}

#[test]
fn lessons_of_several_servers_fail_cleanly_without_them() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = format!("http://127.0.0.1:{port}");
    for (path, args) in [
        (
            env!("CARGO_BIN_EXE_load_balancing"),
            vec!["--addrs", nobody.as_str()],
        ),
        (
            env!("CARGO_BIN_EXE_name_resolving"),
            vec!["--first", nobody.as_str(), "--second", nobody.as_str()],
        ),
        (
            env!("CARGO_BIN_EXE_unix_socket"),
            vec!["--socket", "/nonexistent/lesson.sock"],
        ),
    ] {
        let output = Command::new(path).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{path}: {stderr}");
        assert!(!stderr.contains("panicked"), "{path}: {stderr}");
    }
}
