//! Lesson: health checking. Every server hosts `grpc.health.v1.Health`: `Check` asks
//! whether a service (or, with "", the whole server) is SERVING now; `Watch` streams
//! each change. Load balancers and orchestrators use it to send calls only where they
//! can be answered; a client can too, and fail over to another instance.
//!
//! ```text
//! cargo run --release -- --listen 127.0.0.1:50051                  # the primary
//! cargo run --release -- --listen 127.0.0.1:50052 --data-dir data2 # a backup
//! cargo run --bin health -- --backup http://127.0.0.1:50052        # then Ctrl-C the primary
//! ```
//!
//! A server goes NOT_SERVING when it starts shutting down (SIGINT, SIGTERM), so the
//! watcher hears of it before the port closes.

#[path = "common.rs"]
mod common;

use std::time::Duration;

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Checks and watches the primary's health, and fails over to the backup.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
    /// The backup server.
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    backup: String,
    /// How long to wait for the primary to go NOT_SERVING.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    wait: Duration,
}

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// The instance that answers an echo call on `channel`.
async fn instance(channel: Channel) -> Result<String, tonic::Status> {
    let reply = EchoClient::new(channel)
        .unary_echo(echo_request("who?", &[]))
        .await?;
    let name = reply
        .metadata()
        .get("x-echo-instance")
        .and_then(|v| v.to_str().ok());
    Ok(name.unwrap_or("?").to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let primary = args.server.connect().await?;
    let backup = Endpoint::from_shared(args.backup.clone())?
        .connect()
        .await?;

    step("check: the whole server, a service, and a service nobody hosts");
    let mut health = HealthClient::new(primary.clone());
    for service in ["", "grpc.examples.echo.Echo", "no.such.Service"] {
        match health.check(request(service)).await {
            Ok(reply) => println!("   {service:?}: {:?}", reply.into_inner().status()),
            Err(status) => println!("   {service:?}: {:?}: {}", status.code(), status.message()),
        }
    }
    notice(
        "an unknown service is NOT_FOUND for Check (Watch would answer SERVICE_UNKNOWN and wait)",
    );

    step("calls go to the primary while it is SERVING");
    println!("   answered by {}", instance(primary.clone()).await?);
    let mut watch = health.watch(request("")).await?.into_inner();
    println!("   watching the primary (stop it now to see the failover)");
    let changed = tokio::time::timeout(args.wait, async {
        loop {
            match watch.message().await {
                Ok(Some(reply)) if reply.status() == ServingStatus::Serving => continue,
                Ok(Some(reply)) => return format!("{:?}", reply.status()),
                Ok(None) => return "the watch ended".to_owned(),
                Err(status) => return format!("the watch failed: {:?}", status.code()),
            }
        }
    })
    .await;
    let Ok(change) = changed else {
        println!("   the primary stayed SERVING for {:?}", args.wait);
        return Ok(());
    };

    step("the primary is going away: fail over");
    println!(
        "   the primary is {change}: failing over to {}",
        args.backup
    );
    let status = HealthClient::new(backup.clone())
        .check(request(""))
        .await?
        .into_inner();
    println!("   the backup is {:?}", status.status());
    println!("   answered by {}", instance(backup).await?);
    notice("the watch said NOT_SERVING as the primary began to drain, before its calls failed");
    Ok(())
}
