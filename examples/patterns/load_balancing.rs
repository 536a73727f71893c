//! Lesson: client-side load balancing. A client that knows several server instances
//! spreads its calls over them itself: by hand in round robin, or with tonic's
//! balancing channel, which picks, for each call, the less busy of two instances drawn
//! at random ("power of two choices", tower's p2c balancer).
//!
//! ```text
//! cargo run --release -- --listen 127.0.0.1:50051 --listen 127.0.0.1:50052 --listen 127.0.0.1:50053
//! cargo run --bin load_balancing
//! ```
//!
//! One server listening on three ports stands for three instances: the echo service
//! names the instance that answered (`x-echo-instance`, host:port) in every reply.

#[path = "common.rs"]
mod common;

use std::collections::BTreeMap;

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic::transport::{Channel, Endpoint};

/// Spreads calls over several instances and counts who answered.
#[derive(Parser)]
struct Args {
    /// The instances.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:50051,http://127.0.0.1:50052,http://127.0.0.1:50053"
    )]
    addrs: Vec<String>,
    /// Calls to make each way.
    #[arg(long, default_value_t = 30)]
    calls: usize,
}

/// The instance that answers one echo call on `client`.
async fn instance(client: &mut EchoClient<Channel>) -> Result<String, tonic::Status> {
    let reply = client.unary_echo(echo_request("who?", &[])).await?;
    let name = reply
        .metadata()
        .get("x-echo-instance")
        .and_then(|v| v.to_str().ok());
    Ok(name.unwrap_or("?").to_owned())
}

fn print(counts: &BTreeMap<String, usize>) {
    for (instance, calls) in counts {
        println!("   {instance}: {calls} calls");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let endpoints = args
        .addrs
        .iter()
        .map(|addr| Endpoint::from_shared(addr.clone()))
        .collect::<Result<Vec<_>, _>>()?;

    step("one channel to the first instance");
    let mut one = EchoClient::new(endpoints[0].connect().await?);
    let mut counts = BTreeMap::new();
    for _ in 0..args.calls {
        *counts.entry(instance(&mut one).await?).or_default() += 1;
    }
    print(&counts);
    notice("a channel is one connection to one address: every call lands on the same instance");

    step("round robin by hand: a channel per instance, taken in turn");
    let mut clients = Vec::new();
    for endpoint in &endpoints {
        clients.push(EchoClient::new(endpoint.connect().await?));
    }
    let mut counts = BTreeMap::new();
    for call in 0..args.calls {
        let client = &mut clients[call % endpoints.len()];
        *counts.entry(instance(client).await?).or_default() += 1;
    }
    print(&counts);
    notice("exactly even, whatever each instance's load");

    step("tonic's balancing channel over the same instances");
    let mut balanced = EchoClient::new(Channel::balance_list(endpoints.into_iter()));
    let mut counts = BTreeMap::new();
    for _ in 0..args.calls {
        *counts.entry(instance(&mut balanced).await?).or_default() += 1;
    }
    print(&counts);
    notice("one client, every instance: each call went to the less busy of two picked at random,");
    notice("so the spread is uneven when idle but steers away from a slow instance under load");
    Ok(())
}
