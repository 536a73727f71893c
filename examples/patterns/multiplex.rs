//! Lesson: multiplexing. One HTTP/2 connection (a tonic `Channel`) carries many calls
//! at once, to any services of the server, each on its own stream: no connection per
//! call, no waiting for the call before.
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin multiplex           # this lesson, in another
//! ```

#[path = "common.rs"]
mod common;

/// The code build.rs generates from `proto/helloworld.proto`.
pub mod helloworld {
    tonic::include_proto!("helloworld");
}

use std::time::Instant;

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use helloworld::{HelloRequest, greeter_client::GreeterClient};

/// Runs concurrent calls to two services over one connection.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // One connection; cloning a channel or a client shares it.
    let channel = args.server.connect().await?;
    let echo = EchoClient::new(channel.clone());
    let greeter = GreeterClient::new(channel);

    step("10 echo calls of 200 ms each, and 10 greetings, all at once on one connection");
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..10 {
        let mut echo = echo.clone();
        calls.spawn(async move {
            let request = echo_request(&format!("echo {i}"), &[("x-echo-delay-ms", "200")]);
            echo.unary_echo(request)
                .await
                .map(|r| r.into_inner().message)
        });
        let mut greeter = greeter.clone();
        calls.spawn(async move {
            let request = HelloRequest {
                name: format!("caller {i}"),
            };
            greeter
                .say_hello(request)
                .await
                .map(|r| r.into_inner().message)
        });
    }
    let mut answered = 0;
    while let Some(result) = calls.join_next().await {
        result??;
        answered += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("   {answered} calls answered in {seconds:.2} s on one connection");
    notice("10 calls of 200 ms took about 200 ms, not 2 s: they ran side by side, each on");
    notice("its own HTTP/2 stream; the greetings did not wait behind the slow echoes");
    Ok(())
}
