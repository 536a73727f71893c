//! Lesson: Unix domain sockets. A server can listen on a file path instead of a TCP
//! port: only processes on the same machine, with the file's permissions, can connect,
//! and no port is open to the network. Sidecars and local agents talk gRPC this way.
//!
//! ```text
//! cargo run --release -- --listen 127.0.0.1:50051 --listen unix:/tmp/grpc-showcase.sock
//! cargo run --bin unix_socket
//! grpcurl -plaintext -unix -authority localhost /tmp/grpc-showcase.sock list
//! ```
//!
//! tonic connects to whatever its connector returns: here a `UnixStream`. The URI is
//! only a placeholder for the HTTP/2 `:authority` header; it must still be a valid URI.

#[path = "common.rs"]
mod common;

use std::path::PathBuf;

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use hyper_util::rt::TokioIo;
use tonic::transport::Endpoint;

/// Calls the server over its Unix domain socket.
#[derive(Parser)]
struct Args {
    /// The server's socket.
    #[arg(long, default_value = "/tmp/grpc-showcase.sock")]
    socket: PathBuf,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();

    step(&format!("connect to unix:{}", args.socket.display()));
    let socket = args.socket.clone();
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await
        .map_err(|err| {
            format!(
                "cannot connect to {}: {err} (start the server with --listen unix:PATH)",
                args.socket.display()
            )
        })?;
    let mut client = EchoClient::new(channel);

    step("a call over the socket");
    let reply = client
        .unary_echo(echo_request("over a socket file", &[]))
        .await?;
    let header = |name| {
        reply
            .metadata()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_owned()
    };
    println!(
        "   instance {}, peer {}",
        header("x-echo-instance"),
        header("x-echo-peer")
    );
    println!("   {:?} came back", reply.into_inner().message);
    notice("the server saw a Unix socket peer, with the client's process id: no address, no port");
    Ok(())
}
