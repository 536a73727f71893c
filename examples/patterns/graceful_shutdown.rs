//! Lesson: graceful shutdown. A server that is asked to stop (SIGTERM, Ctrl-C) first
//! says so: health goes NOT_SERVING, each connection gets an HTTP/2 GOAWAY (no new
//! calls on it), and the calls already in flight get time to finish. Then it exits.
//!
//! ```text
//! cargo build --bin grpc-showcase     # this lesson starts, and stops, a server of its own
//! cargo run --bin graceful_shutdown
//! ```
//!
//! It runs the `grpc-showcase` binary next to its own (target/debug or target/release),
//! or the one `--server-bin` names, on a free port of 127.0.0.1, and sends it SIGTERM.

#[path = "common.rs"]
mod common;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// The server process, killed if the lesson ends early (an error): never left running.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops a server mid-call and shows what its clients see.
#[derive(Parser)]
struct Args {
    /// The server binary (default: grpc-showcase, next to this lesson's binary).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let binary = match args.server_bin {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("grpc-showcase"),
    };
    step("start a server");
    let data =
        std::env::temp_dir().join(format!("graceful-shutdown-lesson-{}", std::process::id()));
    let mut server = Server(
        Command::new(&binary)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--shutdown-grace",
                "10s",
                "--data-dir",
            ])
            .arg(&data)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| {
                format!(
                    "cannot start {}: {err} (cargo build --bin grpc-showcase)",
                    binary.display()
                )
            })?,
    );
    let mut logs = BufReader::new(server.0.stderr.take().ok_or("no stderr")?).lines();
    let addr = loop {
        let line = logs.next().ok_or("the server exited before listening")??;
        if let Some((_, rest)) = line.split_once("listening on ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    println!("   listening on {addr}");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut echo = EchoClient::new(channel.clone());
    let mut watch = HealthClient::new(channel)
        .watch(HealthCheckRequest::default())
        .await?
        .into_inner();
    println!(
        "   health: {:?}",
        watch.message().await?.ok_or("no status")?.status()
    );

    step("a call that takes 1.5 s is in flight; the server gets SIGTERM");
    let mut slow = echo.clone();
    let in_flight = tokio::spawn(async move {
        let started = Instant::now();
        let result = slow
            .unary_echo(echo_request("almost done", &[("x-echo-delay-ms", "1500")]))
            .await;
        (result.map(|r| r.into_inner().message), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's.
    unsafe { libc::kill(server.0.id() as libc::pid_t, libc::SIGTERM) };
    println!(
        "   health: {:?}",
        watch.message().await?.map(|r| r.status())
    );
    notice("the watcher heard NOT_SERVING first: time for a load balancer to look elsewhere");

    tokio::time::sleep(Duration::from_millis(200)).await;
    let next = echo.unary_echo(echo_request("a new call", &[])).await;
    match next {
        Ok(_) => println!("   a new call: OK"),
        Err(status) => println!("   a new call: {:?}: {}", status.code(), status.message()),
    }
    notice("the connection got a GOAWAY: the new call never reached a handler. tonic says");
    notice("CANCELLED (grpc-go says UNAVAILABLE); either way it is safe to send again elsewhere");
    let fresh = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?.connect_lazy();
    let again = EchoClient::new(fresh)
        .unary_echo(echo_request("again", &[]))
        .await;
    println!(
        "   on a new connection: {:?}",
        again.map(|_| "OK").map_err(|s| s.code())
    );
    notice("the port is closed: UNAVAILABLE, the code clients retry on another instance");

    let (result, took) = in_flight.await?;
    println!(
        "   the call in flight: {:?} after {:.1} s",
        result.map_err(|s| s.code()),
        took.as_secs_f64()
    );
    notice("the call already running was allowed to finish (--shutdown-grace)");

    let status = tokio::task::spawn_blocking(move || server.0.wait()).await??;
    println!("   the server exited: {status}");
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
