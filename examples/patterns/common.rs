//! What every pattern lesson shares: the echo service's generated client, the server's
//! address, and how a lesson prints its steps. Each lesson includes this file with
//! `#[path = "common.rs"] mod common;`.

#![allow(dead_code)] // Each lesson uses its own part.

use tonic::transport::{Channel, Endpoint};

/// The code that build.rs generates from `proto/echo.proto`: grpc-go's echo service,
/// whose server behaviours a client chooses with `x-echo-*` request headers.
pub mod echo {
    tonic::include_proto!("grpc.examples.echo");
}

#[allow(unused_imports)]
pub use echo::{EchoRequest, echo_client::EchoClient};

/// The server to call, as every lesson takes it.
#[derive(Debug, Clone, clap::Args)]
pub struct Server {
    /// The server's address.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    pub addr: String,
}

impl Server {
    /// One connection (an HTTP/2 channel) to the server.
    pub async fn connect(&self) -> Result<Channel, Box<dyn std::error::Error>> {
        Ok(Endpoint::from_shared(self.addr.clone())?.connect().await?)
    }
}

/// An echo request for `message` with the `x-echo-*` headers `headers`.
pub fn echo_request(
    message: &str,
    headers: &[(&'static str, &str)],
) -> tonic::Request<EchoRequest> {
    let mut request = tonic::Request::new(EchoRequest {
        message: message.to_owned(),
    });
    for (name, value) in headers {
        let value = value.parse().expect("an ASCII header value");
        request.metadata_mut().insert(*name, value);
    }
    request
}

/// Prints a step's title.
pub fn step(title: &str) {
    println!("\n== {title}");
}

/// Prints what to notice.
pub fn notice(text: &str) {
    println!("   notice: {text}");
}
