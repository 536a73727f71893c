//! Lesson: wait for ready. A call to a server that is not up yet fails at once with
//! UNAVAILABLE ("fail fast", the default); a client that should ride out a server's
//! restart instead waits for the connection, up to its deadline ("wait for ready").
//!
//! ```text
//! cargo run --bin wait_for_ready -- --addr http://127.0.0.1:50052   # first: no server there yet
//! cargo run --release -- --listen 127.0.0.1:50052                   # then start one
//! ```
//!
//! tonic connects when asked (`Endpoint::connect`) or on the first call
//! (`connect_lazy`), and fails fast either way; waiting is the client's own loop.

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic::transport::{Channel, Endpoint};

/// Fails fast, then waits for the server to come up.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
    /// How long to wait for the server.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    wait: Duration,
}

/// Connects, trying again every 200 ms until `wait` has passed.
async fn wait_for_ready(
    endpoint: &Endpoint,
    wait: Duration,
) -> Result<Channel, tonic::transport::Error> {
    let deadline = Instant::now() + wait;
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(err) if Instant::now() >= deadline => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let endpoint =
        Endpoint::from_shared(args.server.addr.clone())?.connect_timeout(Duration::from_secs(1));

    step("fail fast: one call, no waiting");
    let started = Instant::now();
    let channel = endpoint.connect_lazy();
    let result = EchoClient::new(channel)
        .unary_echo(echo_request("now?", &[]))
        .await;
    match result {
        Ok(_) => println!(
            "   the server is already up: stop it, or pick another --addr, to see this fail"
        ),
        Err(status) => println!(
            "   failed fast after {} ms: {:?}",
            started.elapsed().as_millis(),
            status.code()
        ),
    }
    notice("the default: a caller learns at once that the server is down, and decides");

    step(&format!(
        "wait for ready: waiting for a server at {} (up to {:?})",
        args.server.addr, args.wait
    ));
    let started = Instant::now();
    let channel = wait_for_ready(&endpoint, args.wait).await?;
    println!(
        "   connected after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let reply = EchoClient::new(channel)
        .unary_echo(echo_request("ready", &[]))
        .await?;
    println!(
        "   the call: OK, {:?} came back",
        reply.into_inner().message
    );
    notice("the call waited for the server instead of failing: right for a client that");
    notice("starts with its server, or rides out a restart; bound it with a deadline");
    Ok(())
}
