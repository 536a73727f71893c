//! Lesson: cancellation. A client that no longer wants an answer cancels the call: the
//! server is told (HTTP/2 RST_STREAM) and stops its work at once, instead of finishing
//! work nobody will read. In Rust, dropping a call's future or its response stream is
//! the cancel.
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin cancellation        # this lesson, in another
//! ```
//!
//! The lesson reads the server's metrics (`GET /metrics` on the same port) before and
//! after: `grpc_server_handled_total` counts each call once it ends, by status code,
//! and a cancelled one as `Canceled`. The server also logs "the handler stopped".

#[path = "common.rs"]
mod common;

use std::time::Duration;

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Cancels a unary call and a stream, and shows the server noticed.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
}

/// How many `method` calls the server has counted as cancelled, from `/metrics`.
async fn cancelled(addr: &str, method: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let host = addr.trim_start_matches("http://").trim_end_matches('/');
    let mut socket = tokio::net::TcpStream::connect(host).await?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await?;
    let mut text = String::new();
    socket.read_to_string(&mut text).await?;
    let wanted = format!("grpc_method=\"{method}\"");
    Ok(text
        .lines()
        .filter(|l| l.starts_with("grpc_server_handled_total") && l.contains(&wanted))
        .filter(|l| l.contains("grpc_code=\"Canceled\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum())
}

/// Waits (at most 2 s) for the server's count of cancelled `method` calls to pass `before`.
async fn counted(addr: &str, method: &str, before: u64) -> Result<u64, Box<dyn std::error::Error>> {
    for _ in 0..40 {
        let now = cancelled(addr, method).await?;
        if now > before {
            return Ok(now);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancelled(addr, method).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let addr = &args.server.addr;
    let mut client = EchoClient::new(args.server.connect().await?);

    step("a unary call that would take 5 s, cancelled after 200 ms");
    let before = cancelled(addr, "UnaryEcho").await?;
    let call = client.unary_echo(echo_request("slow", &[("x-echo-delay-ms", "5000")]));
    // Dropping the future when the timeout fires is the cancel.
    let result = tokio::time::timeout(Duration::from_millis(200), call).await;
    println!(
        "   the client stopped waiting: {}",
        if result.is_err() {
            "cancelled"
        } else {
            "it answered"
        }
    );
    let after = counted(addr, "UnaryEcho", before).await?;
    println!("   server's count of cancelled UnaryEcho calls: {before} -> {after}");
    notice("the server counted the call as Canceled at once, not 5 s later: its handler stopped");

    step("a stream of 1000 replies, cancelled after 3");
    let before = cancelled(addr, "ServerStreamingEcho").await?;
    let request = echo_request(
        "tick",
        &[("x-echo-count", "1000"), ("x-echo-interval-ms", "50")],
    );
    let mut stream = client.server_streaming_echo(request).await?.into_inner();
    for n in 1..=3 {
        stream.message().await?;
        println!("   reply {n}");
    }
    drop(stream);
    let after = counted(addr, "ServerStreamingEcho", before).await?;
    println!("   server's count of cancelled ServerStreamingEcho calls: {before} -> {after}");
    notice("dropping the stream cancelled it: the server stopped after 3 of 1000 replies");
    Ok(())
}
