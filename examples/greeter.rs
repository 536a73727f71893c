//! A client of `helloworld.Greeter` showing each of its RPC styles.
//!
//! Start the server (`cargo run --release`), then in another terminal:
//!
//! ```text
//! cargo run --bin greeter
//! cargo run --bin greeter -- --name Ada --addr http://127.0.0.1:50051
//! cargo run --bin greeter -- --compression zstd    # compress messages both ways
//! ```

/// The code that build.rs generates from `proto/helloworld.proto`: its messages and client.
pub mod helloworld {
    tonic::include_proto!("helloworld");
}

use std::time::{Duration, Instant};

use clap::Parser;
use helloworld::{HelloRequest, greeter_client::GreeterClient};
use tokio_stream::StreamExt;
use tonic::{Code, Request, codec::CompressionEncoding};

/// Calls every Greeter RPC once and prints what comes back.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,
    /// Who to greet.
    #[arg(long, default_value = "World")]
    name: String,
    /// Compress requests with this encoding and ask for replies compressed the same way
    /// (the server accepts and sends gzip and zstd).
    #[arg(long, value_enum, default_value_t = Compression::None)]
    compression: Compression,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

fn hello(name: &str) -> HelloRequest {
    HelloRequest {
        name: name.to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // One connection (an HTTP/2 channel) carries every call below, concurrently if
    // need be. Cloning a client is cheap: clones share the channel.
    let mut client = GreeterClient::connect(args.addr.clone()).await?;
    // Compression is per client (or per call): `send_compressed` compresses requests,
    // `accept_compressed` adds the encoding to grpc-accept-encoding, what this client
    // can decode. The server answers a compressed request in the same encoding (its
    // reply's grpc-encoding header), and sends a message under 1 KiB plain all the same.
    let encoding = match args.compression {
        Compression::None => None,
        Compression::Gzip => Some(CompressionEncoding::Gzip),
        Compression::Zstd => Some(CompressionEncoding::Zstd),
    };
    if let Some(encoding) = encoding {
        client = client.send_compressed(encoding).accept_compressed(encoding);
    }

    println!("== unary: one request, one reply");
    let reply = client.say_hello(hello(&args.name)).await?;
    println!("SayHello      -> {}", reply.get_ref().message);
    if let Some(encoding) = reply.metadata().get("grpc-encoding") {
        println!(
            "                 (replies in grpc-encoding {encoding:?}; this one, under 1 KiB, travelled plain)"
        );
    }
    let reply = client.say_hello_again(hello(&args.name)).await?;
    println!("SayHelloAgain -> {}", reply.get_ref().message);

    println!("\n== server streaming: one request, replies arrive one by one");
    let started = Instant::now();
    let mut replies = client
        .say_hello_stream_reply(hello(&args.name))
        .await?
        .into_inner();
    // `message()` waits for the next reply; `None` means the server ended the stream
    // with status OK, an `Err` would carry its error status.
    while let Some(reply) = replies.message().await? {
        println!("{:>5} ms  {}", started.elapsed().as_millis(), reply.message);
    }

    println!("\n== bidirectional streaming: names go out as replies come back");
    let names = ["Ada", "Grace", "Barbara"];
    // The request stream is any Stream; here each name is sent 100 ms after the last,
    // and each reply is printed as soon as it arrives, before the next name is sent.
    let outbound = tokio_stream::iter(names.map(hello)).throttle(Duration::from_millis(100));
    let started = Instant::now();
    let mut replies = client.say_hello_bidi_stream(outbound).await?.into_inner();
    while let Some(reply) = replies.message().await? {
        println!("{:>5} ms  {}", started.elapsed().as_millis(), reply.message);
    }

    println!("\n== a deadline: the server ends the stream when it passes");
    let mut request = Request::new(hello(&args.name));
    // Sent as the `grpc-timeout` header. The server ends the call with
    // DEADLINE_EXCEEDED when it passes, and stops the work for it.
    request.set_timeout(Duration::from_millis(500));
    let mut replies = client.say_hello_stream_reply(request).await?.into_inner();
    let mut received = 0;
    loop {
        match replies.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => {
                println!("the stream finished before its deadline ({received} replies)");
                break;
            }
            Err(status) if status.code() == Code::DeadlineExceeded => {
                println!(
                    "{received} replies, then {:?}: {}",
                    status.code(),
                    status.message()
                );
                break;
            }
            Err(status) => return Err(status.into()),
        }
    }

    println!("\n== an error: the status code and its message");
    match client.say_hello(hello("")).await {
        Ok(reply) => println!("unexpected reply: {}", reply.get_ref().message),
        Err(status) => println!("{:?}: {}", status.code(), status.message()),
    }
    Ok(())
}
