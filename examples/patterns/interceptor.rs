//! Lesson: interceptors. Code that runs on every call, around the call itself: a tonic
//! interceptor sees and changes a request's metadata (here it adds a bearer token and
//! a request id); a tower layer wraps the whole HTTP exchange (here it logs and times
//! every call, including its response stream).
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin interceptor         # this lesson, in another
//! ```
//!
//! The echo service sends back every `x-echo-*` header: the request id the interceptor
//! added comes back, which shows it was really sent.

#[path = "common.rs"]
mod common;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    task::{Context, Poll},
    time::Instant,
};

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic::{Request, Status, service::Interceptor, transport::Channel};
use tower::{Layer, Service, ServiceBuilder};

/// Calls through an interceptor and a logging layer.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
}

/// Adds `authorization` and a fresh `x-echo-request-id` to every request.
#[derive(Clone)]
struct AddHeaders;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Interceptor for AddHeaders {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let metadata = request.metadata_mut();
        metadata.insert(
            "authorization",
            "Bearer lesson-token".parse().expect("ASCII"),
        );
        metadata.insert("x-echo-request-id", id.to_string().parse().expect("ASCII"));
        Ok(request)
    }
}

/// A tower layer that prints each call's path and how long its response took to start.
#[derive(Clone)]
struct LogLayer;

impl<S> Layer<S> for LogLayer {
    type Service = Log<S>;
    fn layer(&self, inner: S) -> Log<S> {
        Log(inner)
    }
}

#[derive(Clone)]
struct Log<S>(S);

impl<S, B> Service<http::Request<B>> for Log<S>
where
    S: Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let started = Instant::now();
        let response = self.0.call(request);
        Box::pin(async move {
            let response = response.await;
            println!(
                "   [log] {path}: response headers after {:.1} ms",
                started.elapsed().as_secs_f64() * 1e3
            );
            response
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let channel: Channel = args.server.connect().await?;
    // The tower layer wraps the channel; the interceptor wraps the generated client.
    let logged = ServiceBuilder::new().layer(LogLayer).service(channel);
    let mut client = EchoClient::with_interceptor(logged, AddHeaders);

    step("two unary calls through the interceptor and the layer");
    for message in ["first", "second"] {
        let response = client.unary_echo(echo_request(message, &[])).await?;
        let id = response
            .metadata()
            .get("x-echo-request-id")
            .and_then(|v| v.to_str().ok());
        println!(
            "   {message}: x-echo-request-id {} came back",
            id.unwrap_or("(none)")
        );
    }
    notice("the interceptor added the headers; the server echoed the request id it received");

    step("a server stream, through the same layer");
    let mut stream = client
        .server_streaming_echo(echo_request("tick", &[("x-echo-count", "3")]))
        .await?
        .into_inner();
    while stream.message().await?.is_some() {}
    notice("the layer saw one HTTP request per call, whatever its RPC style");
    Ok(())
}
