//! The playground in a real browser: headless Chromium, driven by PyPI's `playwright`
//! (tests/browser/playground.py), against two servers this test starts (one without
//! auth, one with `--auth-tokens`).
//!
//! What it drives: the page loads with every service and no console error; every
//! method of every service is called with its example request (OK, or UNIMPLEMENTED for
//! the interop tests' unimplemented ones; the two Watch streams give their first event
//! and are cancelled); SayHello
//! answers "Hello, Ada!", and the page's "Copy as curl" command repeats it; a share link
//! reopens the request; Calculator.RunningMax goes message by message, each reply shown
//! before the next message is sent, then half-closed, and its curl command repeats the
//! stream; Divide by zero shows INVALID_ARGUMENT with the BadRequest field `b`; Predict
//! shows the iris probabilities as bars with the model's labels; the edges filter on
//! tests/fixtures/rocket.jpg shows a gray edge map beside the original; WatchFeedback
//! shows, live and coloured by sentiment, feedback sent from a second page; with auth,
//! the token field turns UNAUTHENTICATED into OK while health stays open.
//!
//! Screenshots of every step go to `$CARGO_TARGET_DIR/browser-artifacts/` (or
//! `target/browser-artifacts/`). Without Chromium or playwright the test says so and
//! passes, unless `GRPC_SHOWCASE_REQUIRE_BROWSER` is set, as `.ci/run` sets it.

mod common;

use std::{path::PathBuf, process::Stdio, sync::Arc, time::Duration};

use common::{TestServer, process::tokio_command};
use grpc_showcase::{domain::auth::Tokens, server::Settings};

const TOKEN: &str = "browser-token-0123456789";

/// Chromium's path (`GRPC_SHOWCASE_CHROMIUM`, else Debian's), when it and playwright are
/// both installed.
fn browser() -> Option<String> {
    let chromium =
        std::env::var("GRPC_SHOWCASE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let playwright = std::process::Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .status()
        .is_ok_and(|s| s.success());
    let found = playwright && std::path::Path::new(&chromium).exists();
    if !found {
        assert!(
            std::env::var_os("GRPC_SHOWCASE_REQUIRE_BROWSER").is_none(),
            "the browser test is required here, but Chromium ({chromium}) or PyPI's \
             playwright is missing"
        );
        eprintln!("skipped: Chromium ({chromium}) or PyPI's playwright is not installed");
    }
    found.then_some(chromium)
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("browser-artifacts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_works_in_chromium() {
    let Some(chromium) = browser() else { return };
    let server = TestServer::start().await;
    let tokens = format!(r#"[{{"name": "page", "token": "{TOKEN}", "allow": ["*"]}}]"#);
    let with_auth = TestServer::with_settings(Settings {
        auth: Some(Arc::new(Tokens::parse(&tokens).unwrap())),
        ..Settings::default()
    })
    .await;
    let root = env!("CARGO_MANIFEST_DIR");
    let artifacts = artifacts();
    let _ = std::fs::remove_dir_all(&artifacts);
    let run = tokio_command("python3")
        .arg(format!("{root}/tests/browser/playground.py"))
        .args(["--url", &server.url(), "--chromium", &chromium])
        .arg("--artifacts")
        .arg(&artifacts)
        .arg("--image")
        .arg(format!("{root}/tests/fixtures/rocket.jpg"))
        .args(["--auth-url", &with_auth.url(), "--token", TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser test took over 5 minutes")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed (screenshots in {}):\n{stdout}\n{stderr}",
        artifacts.display()
    );
    assert!(stdout.contains("ok: no console errors"), "{stdout}");
    let screenshots = std::fs::read_dir(&artifacts)
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.ends_with(".png") && !name.ends_with(".failed.png")
        })
        .count();
    assert!(screenshots >= 14, "{screenshots} screenshots");
}
