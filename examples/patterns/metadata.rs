//! Lesson: metadata. A gRPC call carries key-value headers both ways: request headers
//! from the client, response headers before the first message, and trailers after the
//! last one, with the status. A key ending in `-bin` carries bytes (base64 on the
//! wire); any other key carries ASCII text.
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin metadata            # this lesson, in another
//! ```
//!
//! The echo service sends every `x-echo-*` request header back in its response headers,
//! and again in its trailers renamed `x-echo-trailer-*`; it adds `x-echo-instance`,
//! `x-echo-peer` and `x-echo-server-time` of its own.

#[path = "common.rs"]
mod common;

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic::metadata::{BinaryMetadataValue, KeyAndValueRef, MetadataMap};

/// Sends metadata and prints what comes back.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
}

/// Prints the entries of `map` whose key starts with `x-echo`.
fn print(what: &str, map: &MetadataMap) {
    for entry in map.iter() {
        match entry {
            KeyAndValueRef::Ascii(key, value) if key.as_str().starts_with("x-echo") => {
                println!(
                    "   {what} {key}: {}",
                    value.to_str().unwrap_or("(not text)")
                );
            }
            KeyAndValueRef::Binary(key, value) if key.as_str().starts_with("x-echo") => {
                let bytes = value.to_bytes().map(|b| b.to_vec()).unwrap_or_default();
                println!("   binary {what} {key}: {bytes:?}");
            }
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut client = EchoClient::new(args.server.connect().await?);

    step("request headers: one ASCII, one binary");
    let mut request = echo_request("hi", &[("x-echo-lesson", "metadata")]);
    request.metadata_mut().insert_bin(
        "x-echo-trace-bin",
        BinaryMetadataValue::from_bytes(&[1, 2, 3]),
    );
    println!("   sent x-echo-lesson: metadata, and x-echo-trace-bin: [1, 2, 3]");

    step("a server stream: its headers come first, its trailers last");
    let response = client.server_streaming_echo(request).await?;
    print("header", response.metadata());
    notice("the headers arrived before any message: the server sends them first");
    let mut stream = response.into_inner();
    let mut messages = 0;
    while stream.message().await?.is_some() {
        messages += 1;
    }
    println!("   {messages} messages");
    if let Some(trailers) = stream.trailers().await? {
        print("trailer", &trailers);
    }
    notice("the trailers came after the last message, beside grpc-status");
    notice("the -bin value came back as the same bytes: binary metadata stays binary");

    step("a unary call: tonic hands headers and trailers over together");
    let response = client
        .unary_echo(echo_request("hi", &[("x-echo-lesson", "unary")]))
        .await?;
    print("metadata", response.metadata());
    notice("for a unary call, tonic merges the trailers into the response's metadata");
    Ok(())
}
