//! Lesson: TLS and mutual TLS. TLS encrypts the connection and proves the server is who
//! it says (its certificate, signed by a CA the client trusts); mutual TLS also makes
//! the client prove who it is, with a certificate of its own.
//!
//! ```text
//! cargo run --release -- --tls-cert examples/patterns/data/server.pem \
//!     --tls-key examples/patterns/data/server.key --tls-client-ca examples/patterns/data/ca.pem
//! cargo run --bin tls
//! ```
//!
//! The demo certificates in examples/patterns/data (made by make_certs.sh there) are a
//! CA, a server certificate for localhost and 127.0.0.1, and a client certificate.

#[path = "common.rs"]
mod common;

use std::path::PathBuf;

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// Calls a mutual-TLS server with and without what it asks for.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
    /// The folder of ca.pem, client.pem and client.key.
    #[arg(long, default_value = "examples/patterns/data")]
    certs: PathBuf,
}

/// One echo call over `endpoint`, as "OK" or why it failed.
async fn try_call(endpoint: Endpoint) -> String {
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(err) => {
            return format!(
                "no connection: {}",
                std::error::Error::source(&err).map_or(err.to_string(), |s| s.to_string())
            );
        }
    };
    match EchoClient::new(channel)
        .unary_echo(echo_request("secret", &[]))
        .await
    {
        Ok(reply) => format!("OK, {:?} came back", reply.into_inner().message),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let port = args
        .server
        .addr
        .rsplit(':')
        .next()
        .unwrap_or("50051")
        .trim_end_matches('/')
        .to_owned();
    let ca = Certificate::from_pem(std::fs::read(args.certs.join("ca.pem"))?);
    let identity = Identity::from_pem(
        std::fs::read(args.certs.join("client.pem"))?,
        std::fs::read(args.certs.join("client.key"))?,
    );
    let https = || Endpoint::from_shared(format!("https://localhost:{port}"));

    step("plaintext, to a server that speaks TLS");
    println!(
        "   {}",
        try_call(Endpoint::from_shared(format!("http://localhost:{port}"))?).await
    );

    step("TLS, trusting only the system's CAs");
    let tls = ClientTlsConfig::new()
        .with_native_roots()
        .domain_name("localhost");
    println!("   {}", try_call(https()?.tls_config(tls)?).await);
    notice("the server's certificate is signed by the lesson's CA, which the system does not know");

    step("TLS, trusting the lesson's CA, without a client certificate");
    let tls = ClientTlsConfig::new()
        .ca_certificate(ca.clone())
        .domain_name("localhost");
    println!("   {}", try_call(https()?.tls_config(tls)?).await);
    notice("the server (--tls-client-ca) asks every client for a certificate: none, no call");

    step("mutual TLS: the lesson's CA, and the client's certificate");
    let tls = ClientTlsConfig::new()
        .ca_certificate(ca)
        .identity(identity)
        .domain_name("localhost");
    println!("   {}", try_call(https()?.tls_config(tls)?).await);
    notice("both sides proved who they are; the call went through, encrypted");
    Ok(())
}
