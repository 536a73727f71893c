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
//! layer under the client, so the sizes are what went over the wire. A client that only
//! accepts gzip gets a plain reply: accepting says what the client can decode, and this
//! server compresses a reply only when its request came compressed.

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

/// Sends the same message with no compression, gzip and zstd, and compares the sizes of
/// the request and of the reply.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let channel = args.server.connect().await?;
    let (sent, received) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (up, down) = (Arc::clone(&sent), Arc::clone(&received));
    // Counts the bytes of every request and response body's data frames as they pass
    // between the client and the channel.
    let counted = tower::ServiceBuilder::new()
        .map_request(move |request: http::Request<Body>| request.map(|body| counting(body, &up)))
        .map_response(move |response: http::Response<Body>| {
            response.map(|body| counting(body, &down))
        })
        .service(channel);
    // 100 KB of text that repeats, as JSON or logs do.
    let message = "the quick brown fox jumps over the lazy dog; ".repeat(2300);

    step(&format!(
        "the same {} KB message, four ways",
        message.len() / 1000
    ));
    // (name, what the client compresses with, what it says it accepts)
    let ways = [
        ("none", None, None),
        ("accepts gzip only", None, Some(CompressionEncoding::Gzip)),
        (
            "gzip",
            Some(CompressionEncoding::Gzip),
            Some(CompressionEncoding::Gzip),
        ),
        (
            "zstd",
            Some(CompressionEncoding::Zstd),
            Some(CompressionEncoding::Zstd),
        ),
    ];
    for (name, send, accept) in ways {
        sent.store(0, Ordering::SeqCst);
        received.store(0, Ordering::SeqCst);
        let mut client = EchoClient::new(counted.clone());
        if let Some(encoding) = send {
            client = client.send_compressed(encoding);
        }
        if let Some(encoding) = accept {
            client = client.accept_compressed(encoding);
        }
        let response = client.unary_echo(echo_request(&message, &[])).await?;
        let replied = response
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("identity")
            .to_owned();
        assert_eq!(response.into_inner().message, message);
        println!(
            "   {name:<17} request body {:>7} bytes, reply body {:>7} bytes; the reply came back as {replied}",
            sent.load(Ordering::SeqCst),
            received.load(Ordering::SeqCst),
        );
    }
    notice("send_compressed compresses what this client sends; accept_compressed only says");
    notice("what it can decode (grpc-accept-encoding). This server compresses a reply when the");
    notice("request came compressed, in the same encoding (--response-compression changes that).");
    notice("Small or random messages gain nothing: compress big, repetitive ones");
    Ok(())
}

/// `body`, whose data frames' bytes are added to `counter` as they pass.
fn counting(body: Body, counter: &Arc<AtomicUsize>) -> Body {
    let counter = Arc::clone(counter);
    Body::new(body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            counter.fetch_add(data.len(), Ordering::SeqCst);
        }
        frame
    }))
}
