//! Lesson: keepalive. HTTP/2 PING frames check that the other side of an idle
//! connection is still there: a client pings to keep NATs and proxies from dropping a
//! quiet connection, and a server pings to find clients that vanished (a laptop closed,
//! a network gone) and free what they held. A side that does not answer in time is
//! disconnected.
//!
//! ```text
//! cargo run --release -- --http2-keepalive-interval 1s --http2-keepalive-timeout 1s
//! cargo run --bin keepalive
//! ```
//!
//! The server pings idle connections every `--http2-keepalive-interval` (default 60 s)
//! and closes one whose ping goes unanswered for `--http2-keepalive-timeout` (20 s).

#[path = "common.rs"]
mod common;

use std::time::Duration;

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic::transport::Endpoint;

/// An idle connection that answers pings, and one that does not.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
    /// How long to stay idle (longer than the server's interval plus timeout).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    idle: Duration,
}

/// The client port the server saw, from the echo service's `x-echo-peer`.
async fn peer(client: &mut EchoClient<tonic::transport::Channel>) -> Result<String, tonic::Status> {
    let response = client.unary_echo(echo_request("ping?", &[])).await?;
    let peer = response
        .metadata()
        .get("x-echo-peer")
        .and_then(|v| v.to_str().ok());
    Ok(peer.unwrap_or("?").to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();

    step("a tonic client with keepalive on, idle, then called again");
    let channel = Endpoint::from_shared(args.server.addr.clone())?
        .http2_keep_alive_interval(Duration::from_millis(500))
        .keep_alive_timeout(Duration::from_secs(1))
        .keep_alive_while_idle(true)
        .connect()
        .await?;
    let mut client = EchoClient::new(channel);
    let before = peer(&mut client).await?;
    tokio::time::sleep(args.idle).await;
    let after = peer(&mut client).await?;
    println!(
        "   connected from {before}; after {:?} idle, from {after}",
        args.idle
    );
    println!("   the same connection: {}", before == after);
    notice("both sides pinged while idle, both answered: the connection stayed up");

    step("a raw HTTP/2 connection that stops answering pings");
    let host = args
        .server
        .addr
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let tcp = tokio::net::TcpStream::connect(&host).await?;
    let (_client, mut connection) = h2::client::handshake(tcp).await?;
    // h2 answers the server's pings only while its connection is being polled.
    let open = tokio::time::timeout(args.idle, &mut connection)
        .await
        .is_err();
    println!(
        "   polled (answering pings) for {:?}: still open = {open}",
        args.idle
    );
    println!(
        "   now not polling the connection for {:?}: pings go unanswered",
        args.idle
    );
    tokio::time::sleep(args.idle).await;
    match tokio::time::timeout(Duration::from_secs(1), &mut connection).await {
        Err(_) => println!("   the connection is still open"),
        Ok(Ok(())) => println!("   the server closed the connection (GOAWAY)"),
        Ok(Err(err)) => println!("   the server closed the connection: {err}"),
    }
    notice("the server's ping went unanswered past its keepalive timeout, so it hung up:");
    notice("a client that vanished does not hold a connection, or its streams, forever");
    Ok(())
}
