//! NVIDIA's `tritonclient` (PyPI `tritonclient[grpc,http]`) against this server's Open
//! Inference Protocol service and its REST paths, unchanged: tests/tritonclient/check.py, which checks
//! health, metadata, inference on iris and digits against the onnxruntime references, a
//! streaming inference with an in-band error, the repository index, the statistics, and
//! an unknown model's error; then the same over HTTP (binary and JSON tensors).
//!
//! Without tritonclient the test says so and passes, unless
//! `GRPC_SHOWCASE_REQUIRE_TRITONCLIENT` is set, as `.ci/run` sets it.

mod common;

use std::time::Duration;

use common::{TestServer, process::tokio_command};

fn tritonclient_installed() -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", "import tritonclient.grpc"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("GRPC_SHOWCASE_REQUIRE_TRITONCLIENT").is_none(),
            "the tritonclient test is required here, but PyPI's tritonclient is missing"
        );
        eprintln!("skipped: PyPI's tritonclient is not installed");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_works_unchanged() {
    if !tritonclient_installed() {
        return;
    }
    let server = TestServer::start().await;
    let root = env!("CARGO_MANIFEST_DIR");
    let run = tokio_command("python3")
        .arg(format!("{root}/tests/tritonclient/check.py"))
        .args(["--url", server.url().trim_start_matches("http://")])
        .args(["--models", &format!("{root}/models")])
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("tritonclient took over 2 minutes")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for check in [
        "ok: the server is live",
        "ok: iris's metadata names its tensors",
        "ok: iris: 45 rows match the onnxruntime reference to 1e-5",
        "ok: digits: the request id comes back",
        "ok: a stream answers in order, the bad request's error in-band",
        "ok: the repository index lists every model as READY",
        "ok: the statistics count iris's runs",
        "ok: an unknown model is refused with NOT_FOUND",
        "ok: http: digits (binary) matches the reference to 1e-5",
        "ok: http: iris (JSON) matches the reference to 1e-5",
        "ok: http: an unknown model is refused with 404",
    ] {
        assert!(stdout.contains(check), "missing {check:?} in\n{stdout}");
    }
}
