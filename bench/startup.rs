//! Time to first service: starts a server command, and measures the wall-clock time
//! from starting the process to its first SERVING answer from the standard health
//! service (`grpc.health.v1.Health/Check`, the whole server) with every model that
//! `model.ModelInference/ListModels` lists ready. Then stops the server with SIGTERM.
//! Polls every millisecond, so a figure is at most about 1 ms late.
//!
//! ```text
//! cargo build --release
//! cargo run --release --bin startup -- --runs 5 -- target/release/grpc-showcase --listen 127.0.0.1:50070
//! ```
//!
//! `--addr` is where to poll (default `http://127.0.0.1:50070`); the command must
//! listen there. Prints one line per run, then the median and the slowest run.

/// The code that build.rs generates from `proto/model.proto`: its messages and client.
pub mod model {
    tonic::include_proto!("model");
}

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use clap::Parser;
use model::{ListModelsRequest, model_inference_client::ModelInferenceClient};
use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Measures how long a server takes to start serving.
#[derive(Parser)]
struct Args {
    /// Where the started server listens.
    #[arg(long, default_value = "http://127.0.0.1:50070")]
    addr: String,
    /// How many times to start it.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Give up on a run after this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// The server command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// How many models are listed, once the server answers SERVING with all of them
/// ready; `None` while it does not.
async fn serving(endpoint: &Endpoint) -> Option<usize> {
    let channel = endpoint.connect().await.ok()?;
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()?
        .into_inner();
    if health.status() != ServingStatus::Serving {
        return None;
    }
    let models = ModelInferenceClient::new(channel)
        .list_models(ListModelsRequest {})
        .await
        .ok()?
        .into_inner()
        .models;
    models.iter().all(|m| m.ready).then_some(models.len())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let endpoint =
        Endpoint::from_shared(args.addr.clone())?.connect_timeout(Duration::from_secs(1));
    let mut times = Vec::new();
    for run in 1..=args.runs.max(1) {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&args.command[0])
            .args(&args.command[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let models = loop {
            if let Some(models) = serving(&endpoint).await {
                break models;
            }
            if let Some(status) = child.try_wait()? {
                return Err(format!("the server exited before serving: {status}").into());
            }
            if started.elapsed() > args.timeout {
                return Err(format!("not serving after {:?}", args.timeout).into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let elapsed = started.elapsed();
        println!(
            "run {run}: serving after {:.1} ms, {models} models ready",
            elapsed.as_secs_f64() * 1e3
        );
        times.push(elapsed);
        let pid = child.id().ok_or("the server has exited")?;
        // SAFETY: kill(2) has no memory-safety preconditions; pid is our own child,
        // not yet reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        if tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .is_err()
        {
            child.kill().await?;
        }
    }
    times.sort();
    println!(
        "startup ms: median {:.1}  max {:.1}",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    Ok(())
}
