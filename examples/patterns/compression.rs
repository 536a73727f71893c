//! Lesson: compression. gRPC compresses messages one by one (gzip, zstd ...), chosen
//! per client or per call: fewer bytes on the wire for more CPU on both ends. The
//! sender says which encoding it used (`grpc-encoding`), the receiver which ones it
//! takes (`grpc-accept-encoding`).
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin compression         # this lesson, in another
//! ```
//!
//! The lesson counts the bytes of the HTTP/2 request and response bodies with a tower
//! layer under the client, so the sizes are what went over the wire.

#[path = "common.rs"]
mod common;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use http_body_util::BodyExt;
use tonic::{body::Body, codec::CompressionEncoding};

/// Sends the same message with no compression, gzip and zstd, and compares sizes.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let channel = args.server.connect().await?;
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    // Counts the bytes of every request body's data frames as they go to the channel.
    let counted = tower::ServiceBuilder::new()
        .map_request(move |request: http::Request<Body>| {
            let counter = Arc::clone(&counter);
            request.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    if let Some(data) = frame.data_ref() {
                        counter.fetch_add(data.len(), Ordering::SeqCst);
                    }
                    frame
                }))
            })
        })
        .service(channel);
    // 100 KB of text that repeats, as JSON or logs do.
    let message = "the quick brown fox jumps over the lazy dog; ".repeat(2300);

    step(&format!(
        "the same {} KB message, three ways",
        message.len() / 1000
    ));
    for encoding in [
        None,
        Some(CompressionEncoding::Gzip),
        Some(CompressionEncoding::Zstd),
    ] {
        sent.store(0, Ordering::SeqCst);
        let mut client = EchoClient::new(counted.clone());
        if let Some(encoding) = encoding {
            client = client.send_compressed(encoding).accept_compressed(encoding);
        }
        let response = client.unary_echo(echo_request(&message, &[])).await?;
        let replied = response
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity");
        let name = encoding.map_or("none".to_owned(), |e| format!("{e:?}").to_lowercase());
        println!(
            "   {name:<5} request body {:>7} bytes; the reply came back as {replied}",
            sent.load(Ordering::SeqCst)
        );
        assert_eq!(response.into_inner().message, message);
    }
    notice("send_compressed compresses what this client sends; accept_compressed lets the");
    notice(
        "server compress its reply. Small or random messages gain nothing: compress big, repetitive ones",
    );
    Ok(())
}
