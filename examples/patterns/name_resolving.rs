//! Lesson: name resolution. A client's set of server instances can change while it
//! runs: instances start and stop, DNS or a service registry says so. tonic's balancing
//! channel takes the changes as they come (`Change::Insert`, `Change::Remove`), and new
//! calls go to the instances it knows now.
//!
//! ```text
//! cargo run --release -- --listen 127.0.0.1:50051 --listen 127.0.0.1:50052
//! cargo run --bin name_resolving
//! ```
//!
//! Here the lesson itself plays the resolver; in a real client a task watching DNS or a
//! registry sends the same changes.

#[path = "common.rs"]
mod common;

use std::{collections::BTreeMap, time::Duration};

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic::transport::{Channel, Endpoint, channel::Change};

/// Adds and removes instances behind one channel while calling it.
#[derive(Parser)]
struct Args {
    /// The first instance.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    first: String,
    /// The second instance.
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    second: String,
}

/// Makes 20 calls on `client` and prints how many each instance answered.
async fn calls(client: &mut EchoClient<Channel>) -> Result<(), tonic::Status> {
    let mut counts = BTreeMap::<String, usize>::new();
    for _ in 0..20 {
        // The channel waits for an instance it can reach: bound the wait.
        let call = client.unary_echo(echo_request("who?", &[]));
        let reply = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .map_err(|_| tonic::Status::unavailable("no instance answered within 5 s"))??;
        let name = reply
            .metadata()
            .get("x-echo-instance")
            .and_then(|v| v.to_str().ok());
        *counts.entry(name.unwrap_or("?").to_owned()).or_default() += 1;
    }
    for (instance, n) in counts {
        println!("   {instance}: {n} calls");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (channel, changes) = Channel::balance_channel::<&'static str>(8);
    let mut client = EchoClient::new(channel);
    // The balancer connects to a new instance in the background: give it a moment.
    let settle = || tokio::time::sleep(Duration::from_millis(300));

    step("the resolver finds the first instance");
    changes
        .send(Change::Insert(
            "first",
            Endpoint::from_shared(args.first.clone())?,
        ))
        .await?;
    settle().await;
    calls(&mut client).await?;

    step("a second instance starts: the resolver adds it");
    changes
        .send(Change::Insert(
            "second",
            Endpoint::from_shared(args.second.clone())?,
        ))
        .await?;
    settle().await;
    calls(&mut client).await?;
    notice("the same client, no new channel: calls now go to both");

    step("the first instance goes away: the resolver removes it");
    changes.send(Change::Remove("first")).await?;
    settle().await;
    calls(&mut client).await?;
    notice("every call went to the second instance; none failed while the set changed");
    Ok(())
}
