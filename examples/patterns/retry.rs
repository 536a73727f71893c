//! Lesson: retries. UNAVAILABLE means "try again": a client retries it after a pause
//! that grows each time (exponential backoff), or after the pause the server asks for
//! in a google.rpc.RetryInfo detail, and gives up after a few attempts.
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin retry               # this lesson, in another
//! ```
//!
//! tonic has no retry policy of its own; tower's `Retry` middleware is the Rust way: a
//! [`Policy`] says which results to retry and how long to wait. The echo service fails
//! the first `x-echo-fail-first` calls that carry one `x-echo-retry-key`.

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;
use tower::{
    ServiceExt,
    retry::{
        Policy, Retry,
        backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff},
    },
    util::rng::HasherRng,
};

/// Retries a flaky call until it succeeds, and one that keeps failing.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
}

/// Retry UNAVAILABLE until `attempts` calls were made: after the pause a RetryInfo
/// asks for, or else the next exponential backoff (50 ms, 100 ms, 200 ms ... with jitter).
#[derive(Clone)]
struct RetryUnavailable {
    attempts: u32,
    backoff: ExponentialBackoff,
}

impl Policy<Vec<(&'static str, String)>, String, Status> for RetryUnavailable {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _request: &mut Vec<(&'static str, String)>,
        result: &mut Result<String, Status>,
    ) -> Option<Self::Future> {
        let status = result
            .as_ref()
            .err()
            .filter(|s| s.code() == Code::Unavailable)?;
        self.attempts = self.attempts.checked_sub(1).filter(|left| *left > 0)?;
        let asked = status
            .get_error_details()
            .retry_info()
            .and_then(|r| r.retry_delay);
        Some(match asked {
            Some(wait) => {
                println!("   UNAVAILABLE; the server's RetryInfo says retry in {wait:?}");
                tokio::time::sleep(wait)
            }
            None => {
                println!("   UNAVAILABLE; backing off");
                self.backoff.next_backoff()
            }
        })
    }

    fn clone_request(
        &mut self,
        request: &Vec<(&'static str, String)>,
    ) -> Option<Vec<(&'static str, String)>> {
        Some(request.clone())
    }
}

/// Calls UnaryEcho with `x-echo-*` headers, with `attempts` attempts at most.
async fn call(
    client: &EchoClient<Channel>,
    attempts: u32,
    headers: Vec<(&'static str, String)>,
) -> Result<String, Status> {
    let backoff = ExponentialBackoffMaker::new(
        Duration::from_millis(50),
        Duration::from_secs(2),
        0.5,
        HasherRng::new(),
    )
    .expect("valid bounds")
    .make_backoff();
    let policy = RetryUnavailable { attempts, backoff };
    let client = client.clone();
    // The call as a tower service of its headers, which tower can send again.
    let service = tower::service_fn(move |headers: Vec<(&'static str, String)>| {
        let mut client = client.clone();
        async move {
            println!("   attempt");
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let request = echo_request("hello", &headers);
            Ok::<_, Status>(client.unary_echo(request).await?.into_inner().message)
        }
    });
    Retry::new(policy, service).oneshot(headers).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let client = EchoClient::new(args.server.connect().await?);
    // A key of this run's own: the server counts the attempts per key.
    let key = format!("retry-lesson-{}-{:?}", std::process::id(), Instant::now());

    step("a call that fails twice, then succeeds; at most 5 attempts");
    let started = Instant::now();
    let headers = vec![
        ("x-echo-fail-first", "2".to_owned()),
        ("x-echo-retry-key", key),
        ("x-echo-retry-delay-ms", "100".to_owned()),
    ];
    let reply = call(&client, 5, headers).await?;
    println!(
        "   succeeded with {reply:?} after 3 attempts, {} ms",
        started.elapsed().as_millis()
    );
    notice("each retry waited the 100 ms the server's RetryInfo asked for");

    step("a call that always fails with UNAVAILABLE and no RetryInfo; at most 3 attempts");
    let headers = vec![("x-echo-status", "UNAVAILABLE".to_owned())];
    match call(&client, 3, headers).await {
        Ok(reply) => println!("   succeeded: {reply}"),
        Err(status) => println!(
            "   gave up after 3 attempts: {:?}: {}",
            status.code(),
            status.message()
        ),
    }
    notice("without RetryInfo the pauses grew exponentially; and the policy gave up:");
    notice("retrying forever would make an overloaded server worse");
    Ok(())
}
