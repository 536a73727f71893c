//! The gRPC interop tests' client (grpc/grpc, `doc/interop-test-descriptions.md`,
//! "Client"): runs the standard test cases against any server that implements the
//! spec's server features (this project's, or another implementation's), and exits 1
//! when one fails.
//!
//! ```text
//! cargo run --bin interop_client -- --server_host=localhost --server_port=50051 --test_case=all
//! cargo run --bin interop_client -- --server_port=50051 --test_case=large_unary
//! cargo run --bin interop_client -- --server_port=50443 --use_tls=true --ca_file=ca.pem
//! ```
//!
//! Calls go over a plain HTTP/2 client (hyper) rather than tonic's `Channel`, which
//! ends a call past its deadline with CANCELLED on its own (tonic 0.14's GrpcTimeout,
//! src/transport/service/grpc_timeout.rs): timeout_on_sleeping_server must see the
//! server's DEADLINE_EXCEEDED. [`wire::Wire`] gzips chosen request messages and reads
//! the response messages' compressed flags, which the compression cases check.

mod cases;
mod wire;

/// The code that build.rs generates from `proto/grpc/testing/`.
mod proto {
    tonic::include_proto!("grpc.testing");
}

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::{ArgAction, Parser};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client as HttpClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use proto::{
    test_service_client::TestServiceClient,
    unimplemented_service_client::UnimplementedServiceClient,
};
use tonic::{body::Body, codec::CompressionEncoding};
use tower::util::BoxCloneSyncService;
use wire::{Plan, Wire};

/// Runs gRPC interop test cases against a server.
#[derive(Parser)]
struct Args {
    /// The server's host name or address.
    #[arg(long = "server_host", default_value = "localhost")]
    server_host: String,
    /// The server's port.
    #[arg(long = "server_port", default_value_t = 50051)]
    server_port: u16,
    /// The case to run (empty_unary, large_unary ...), or "all".
    #[arg(long = "test_case", default_value = "all")]
    test_case: String,
    /// Whether to use TLS (`--use_tls=true`).
    #[arg(long = "use_tls", action = ArgAction::Set, default_value_t = false)]
    use_tls: bool,
    /// With TLS: a PEM CA to trust instead of the system's roots.
    #[arg(long = "ca_file")]
    ca_file: Option<PathBuf>,
    /// Give up on a case after this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    case_timeout: Duration,
}

/// The HTTP/2 transport, plaintext or TLS.
type Transport =
    BoxCloneSyncService<Request<Body>, Response<Incoming>, hyper_util::client::legacy::Error>;

/// A client of the server, whose wire follows [`Client::plan`].
pub struct Client {
    wire: Wire<Transport>,
    origin: http::Uri,
    /// What the next call's wire does, and what it saw.
    pub plan: Plan,
}

impl Client {
    /// A `grpc.testing.TestService` client; it accepts gzip-compressed replies.
    pub fn test(&self) -> TestServiceClient<Wire<Transport>> {
        TestServiceClient::with_origin(self.wire.clone(), self.origin.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(16 * 1024 * 1024)
    }

    /// A `grpc.testing.UnimplementedService` client.
    pub fn unimplemented(&self) -> UnimplementedServiceClient<Wire<Transport>> {
        UnimplementedServiceClient::with_origin(self.wire.clone(), self.origin.clone())
    }
}

fn transport(args: &Args) -> Result<Transport, Box<dyn std::error::Error>> {
    let builder = HttpClient::builder(TokioExecutor::new())
        .http2_only(true)
        .clone();
    if !args.use_tls {
        return Ok(BoxCloneSyncService::new(builder.build_http::<Body>()));
    }
    let mut roots = rustls::RootCertStore::empty();
    match &args.ca_file {
        Some(path) => {
            let pem = std::fs::read(path)?;
            for cert in rustls_pemfile_certs(&pem)? {
                roots.add(cert)?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http2()
        .wrap_connector({
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http
        });
    Ok(BoxCloneSyncService::new(
        builder.build::<_, Body>(connector),
    ))
}

/// The certificates of a PEM file.
fn rustls_pemfile_certs(
    pem: &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, Box<dyn std::error::Error>> {
    use rustls::pki_types::pem::PemObject;
    Ok(rustls::pki_types::CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let scheme = if args.use_tls { "https" } else { "http" };
    let origin = match format!("{scheme}://{}:{}", args.server_host, args.server_port).parse() {
        Ok(origin) => origin,
        Err(err) => {
            eprintln!("error: invalid server address: {err}");
            return ExitCode::from(2);
        }
    };
    let transport = match transport(&args) {
        Ok(transport) => transport,
        Err(err) => {
            eprintln!("error: cannot set up TLS: {err}");
            return ExitCode::from(2);
        }
    };
    let plan = Plan::default();
    let client = Client {
        wire: Wire::new(transport, plan.clone()),
        origin,
        plan,
    };
    let cases: Vec<&str> = match args.test_case.as_str() {
        "all" => cases::CASES.to_vec(),
        one => vec![one],
    };
    let mut failures = 0;
    for case in cases {
        let outcome = match tokio::time::timeout(args.case_timeout, cases::run(&client, case)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no result within {:?}", args.case_timeout)),
        };
        match outcome {
            Ok(()) => println!("{case}: PASSED"),
            Err(why) => {
                failures += 1;
                println!("{case}: FAILED: {why}");
            }
        }
    }
    if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
