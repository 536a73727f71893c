//! Lesson: deadlines. A client says how long it will wait (`grpc-timeout`); past it the
//! call ends with DEADLINE_EXCEEDED and the server stops working on it. A server that
//! calls another service passes on the time that is left, so the whole chain gives up
//! together.
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin deadline            # this lesson, in another
//! ```
//!
//! The echo service waits `x-echo-delay-ms` before each reply. The last step starts a
//! small service of its own in this process, a "frontend" that calls the server.

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{
    EchoClient, EchoRequest, echo::EchoResponse, echo::echo_server, echo_request, notice, step,
};
use tonic::{Request, Response, Status, transport::Channel};

/// Shows deadlines on a unary call, on a stream, and passed on to another service.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
}

/// The seconds of a `grpc-timeout` header such as `300m` (its unit: H, M, S, m, u, n).
fn timeout_of<T>(request: &Request<T>) -> Option<Duration> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// A frontend that does 150 ms of its own work, then asks the server's echo for the
/// rest, which takes 200 ms: with or without passing on the time left.
struct Frontend {
    backend: EchoClient<Channel>,
    propagate: bool,
}

#[tonic::async_trait]
impl echo_server::Echo for Frontend {
    async fn unary_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Status> {
        let deadline = timeout_of(&request).map(|t| Instant::now() + t);
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut call = echo_request(&request.get_ref().message, &[("x-echo-delay-ms", "200")]);
        if self.propagate
            && let Some(deadline) = deadline
        {
            call.set_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        // The backend call runs in a task of its own, as fan-out code often does: it goes
        // on even when this handler is dropped because the client gave up.
        let mut backend = self.backend.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let result = backend.unary_echo(call).await;
            let outcome = result.as_ref().map(|_| "OK".to_owned());
            let outcome = outcome.unwrap_or_else(|s| format!("{:?}", s.code()));
            println!(
                "   frontend: its backend call ended {outcome} after {} ms",
                started.elapsed().as_millis()
            );
            result
        });
        task.await
            .map_err(|err| Status::internal(err.to_string()))?
    }
    type ServerStreamingEchoStream = tonic::codec::Streaming<EchoResponse>;
    async fn server_streaming_echo(
        &self,
        _: Request<EchoRequest>,
    ) -> Result<Response<Self::ServerStreamingEchoStream>, Status> {
        Err(Status::unimplemented("not in this lesson"))
    }
    async fn client_streaming_echo(
        &self,
        _: Request<tonic::Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        Err(Status::unimplemented("not in this lesson"))
    }
    type BidirectionalStreamingEchoStream = tonic::codec::Streaming<EchoResponse>;
    async fn bidirectional_streaming_echo(
        &self,
        _: Request<tonic::Streaming<EchoRequest>>,
    ) -> Result<Response<Self::BidirectionalStreamingEchoStream>, Status> {
        Err(Status::unimplemented("not in this lesson"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let channel = args.server.connect().await?;
    let mut client = EchoClient::new(channel.clone());

    step("a unary call that takes 2 s, with a deadline of 300 ms");
    let mut request = echo_request("slow", &[("x-echo-delay-ms", "2000")]);
    request.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let status = client.unary_echo(request).await.unwrap_err();
    println!(
        "   after {} ms: {:?}: {}",
        started.elapsed().as_millis(),
        status.code(),
        status.message()
    );
    notice("the server ended the call at its deadline, and stopped its work. If tonic's own timer");
    notice(
        "fires first, it reports CANCELLED: Timeout expired (grpc-go and Java: DEADLINE_EXCEEDED)",
    );

    step("a stream of 10 replies, 100 ms apart, with a deadline of 350 ms");
    let mut request = echo_request(
        "tick",
        &[("x-echo-count", "10"), ("x-echo-interval-ms", "100")],
    );
    request.set_timeout(Duration::from_millis(350));
    let mut stream = client.server_streaming_echo(request).await?.into_inner();
    let mut replies = 0;
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => replies += 1,
            Ok(None) => break Status::ok("the stream ended"),
            Err(status) => break status,
        }
    };
    println!(
        "   {replies} replies, then {:?}: {}",
        status.code(),
        status.message()
    );
    notice("the server ended the stream at the deadline, after the replies it had sent in time");

    step("propagation: client -> frontend (150 ms of work) -> server (200 ms), deadline 300 ms");
    for propagate in [false, true] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let frontend = format!("http://{}", listener.local_addr()?);
        let service = echo_server::EchoServer::new(Frontend {
            backend: client.clone(),
            propagate,
        });
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        println!(
            "   {} the time left:",
            if propagate {
                "passing on"
            } else {
                "not passing on"
            }
        );
        let mut request = echo_request("chain", &[]);
        request.set_timeout(Duration::from_millis(300));
        let mut to_frontend = EchoClient::connect(frontend).await?;
        let result = to_frontend.unary_echo(request).await;
        println!(
            "   client: {:?}",
            result.map(|_| "OK").map_err(|s| s.code())
        );
        // Time for the backend call to end and say so.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    notice(
        "without propagation the backend call ran its full 200 ms for a client that had given up",
    );
    notice("at 300 ms; with it, the backend call ended when the client's time ran out, 150 ms in");
    Ok(())
}
