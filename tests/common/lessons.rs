//! Running the pattern lessons (`examples/patterns/`) as a learner runs them, for
//! tests/patterns.rs and tests/patterns_connections.rs.

use std::{process::Stdio, time::Duration};

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{
    TestServer,
    process::{run_client, tokio_command, workspace_binary},
};

/// The lessons' demo certificates and tokens.
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/patterns/data");

pub async fn lesson(name: &str) -> String {
    let server = TestServer::start().await;
    run_client(name, &server.url(), &[]).await
}

/// Runs lesson `name` with `args`, calling `when(line)` on each line it prints until
/// `when` returns true; then waits for its end. Returns everything it printed.
pub async fn interact(name: &str, args: &[&str], mut when: impl FnMut(&str) -> bool) -> String {
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
pub fn line<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{out}"))
}

pub fn assert_all(out: &str, expected: &[&str]) {
    for expected in expected {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}
