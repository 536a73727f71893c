//! Lesson: error details. A failed call ends with a status code and a message, and may
//! carry details: typed google.rpc messages that a program can act on (when to retry,
//! which field was wrong, which quota ran out), in the `grpc-status-details-bin` trailer.
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin error_details       # this lesson, in another
//! ```
//!
//! The echo service ends a call with the status `x-echo-status` names, with the details
//! `x-echo-detail` lists; tonic-types reads them back (`StatusExt::get_error_details`).

#[path = "common.rs"]
mod common;

use clap::Parser;
use common::{EchoClient, echo_request, notice, step};
use tonic_types::StatusExt;

/// Asks for failures and prints their details.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut client = EchoClient::new(args.server.connect().await?);

    step("status codes: the code says what kind of failure it was");
    for code in ["NOT_FOUND", "PERMISSION_DENIED", "UNAVAILABLE", "INTERNAL"] {
        let request = echo_request("x", &[("x-echo-status", code)]);
        let status = client.unary_echo(request).await.unwrap_err();
        println!(
            "   asked {code:<18} got {:?}: {}",
            status.code(),
            status.message()
        );
    }
    notice(
        "a client decides from the code: retry UNAVAILABLE, fix the request on INVALID_ARGUMENT ...",
    );

    step("rich error details: typed messages beside the code");
    let request = echo_request(
        "x",
        &[
            ("x-echo-status", "RESOURCE_EXHAUSTED"),
            ("x-echo-message", "out of echoes"),
            (
                "x-echo-detail",
                "retry-info,quota-failure,error-info,bad-request,debug-info",
            ),
        ],
    );
    let status = client.unary_echo(request).await.unwrap_err();
    println!("   {:?}: {}", status.code(), status.message());
    let details = status.get_error_details();
    if let Some(retry) = details.retry_info() {
        println!(
            "   RetryInfo: retry after {:?}",
            retry.retry_delay.unwrap_or_default()
        );
    }
    if let Some(quota) = details.quota_failure() {
        for violation in &quota.violations {
            println!(
                "   QuotaFailure: {} ({})",
                violation.subject, violation.description
            );
        }
    }
    if let Some(info) = details.error_info() {
        println!(
            "   ErrorInfo: reason {} in domain {}",
            info.reason, info.domain
        );
    }
    if let Some(bad) = details.bad_request() {
        for violation in &bad.field_violations {
            println!(
                "   BadRequest: field {} ({})",
                violation.field, violation.description
            );
        }
    }
    if let Some(debug) = details.debug_info() {
        println!("   DebugInfo: {} {:?}", debug.detail, debug.stack_entries);
    }
    notice("the details travel in the grpc-status-details-bin trailer as a google.rpc.Status");

    step("bad input: a header out of range names itself");
    let request = echo_request("x", &[("x-echo-delay-ms", "99999")]);
    let status = client.unary_echo(request).await.unwrap_err();
    println!("   {:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_error_details().bad_request() {
        println!("   BadRequest: field {}", bad.field_violations[0].field);
    }
    notice("a header out of range is INVALID_ARGUMENT, and the BadRequest names the header");
    Ok(())
}
