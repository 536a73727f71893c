//! The framework's ceiling: a bare tonic `helloworld.Greeter` server, as tonic's own
//! helloworld example writes it, with none of our layers (no metrics, limits, auth,
//! deadlines, grpc-web, health or reflection) and none of our checks on the name.
//!
//! The benchmarks (`bench/run.sh`) serve the same load from this server and from
//! `grpc-showcase`, built with the same profile, so that the cost of everything the
//! showcase adds shows as a ratio. It answers with the same bytes as the showcase
//! (`"Hello, <name>!"`), so both move the same messages.
//!
//! `--current-thread` runs it on Tokio's current-thread scheduler, the one the showcase
//! picks when it may use one CPU (`--worker-threads`), so that the benchmarks can also
//! tell the showcase's layers apart from its choice of scheduler.
//!
//! ```text
//! cargo run --release --bin bare_greeter -- --listen 127.0.0.1:50052
//! cargo run --release --bin load -- --addr http://127.0.0.1:50052 --rpc hello
//! ```

/// The code that build.rs generates from `proto/helloworld.proto`: its messages and server.
pub mod helloworld {
    tonic::include_proto!("helloworld");
}

use std::net::SocketAddr;

use clap::Parser;
use helloworld::{
    HelloReply, HelloRequest,
    greeter_server::{Greeter, GreeterServer},
};
use tokio_stream::{Stream, StreamExt, wrappers::TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// A bare tonic Greeter server.
#[derive(Parser)]
struct Args {
    /// The address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:50052")]
    listen: SocketAddr,

    /// Run on Tokio's current-thread scheduler instead of the multi-thread one that
    /// `#[tokio::main]` gives.
    #[arg(long)]
    current_thread: bool,
}

#[derive(Default)]
struct BareGreeter;

type ReplyStream = std::pin::Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send>>;

fn reply(word: &str, request: HelloRequest) -> HelloReply {
    HelloReply {
        message: format!("{word}, {}!", request.name),
    }
}

#[tonic::async_trait]
impl Greeter for BareGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(reply("Hello", request.into_inner())))
    }

    async fn say_hello_again(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(reply("Hello again", request.into_inner())))
    }

    type SayHelloStreamReplyStream = ReplyStream;

    /// One greeting, then the end of the stream (the showcase streams ten, paced).
    async fn say_hello_stream_reply(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let one = reply("Hello", request.into_inner());
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(one)))))
    }

    type SayHelloBidiStreamStream = ReplyStream;

    /// A greeting for each name, in order, as the showcase answers.
    async fn say_hello_bidi_stream(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let replies = request
            .into_inner()
            .map(|name| name.map(|name| reply("Hello", name)));
        Ok(Response::new(Box::pin(replies)))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut runtime = if args.current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    runtime.enable_all().build()?.block_on(serve(args.listen))
}

async fn serve(listen: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    tonic::transport::Server::builder()
        .add_service(GreeterServer::new(BareGreeter))
        .serve_with_incoming(TcpListenerStream::new(listener))
        .await?;
    Ok(())
}
