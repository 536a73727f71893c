//! The standard test cases of grpc/grpc's `doc/interop-test-descriptions.md`, "Client",
//! each as the spec's procedure and the spec's assertions.

mod behaviours;
mod messages;

use tonic::Status;

use crate::{
    Client,
    proto::{BoolValue, Payload, SimpleRequest},
};
use behaviours::*;
use messages::*;

/// A case's outcome: `Err` says which assertion failed.
pub type Outcome = Result<(), String>;

/// Every case this client runs, by the spec's name.
pub const CASES: [&str; 18] = [
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
];

/// Runs the case `name`.
pub async fn run(client: &Client, name: &str) -> Outcome {
    match name {
        "empty_unary" => empty_unary(client).await,
        "large_unary" => large_unary(client).await,
        "client_compressed_unary" => client_compressed_unary(client).await,
        "server_compressed_unary" => server_compressed_unary(client).await,
        "client_streaming" => client_streaming(client).await,
        "client_compressed_streaming" => client_compressed_streaming(client).await,
        "server_streaming" => server_streaming(client).await,
        "server_compressed_streaming" => server_compressed_streaming(client).await,
        "ping_pong" => ping_pong(client).await,
        "empty_stream" => empty_stream(client).await,
        "custom_metadata" => custom_metadata(client).await,
        "status_code_and_message" => status_code_and_message(client).await,
        "special_status_message" => special_status_message(client).await,
        "unimplemented_method" => unimplemented_method(client).await,
        "unimplemented_service" => unimplemented_service(client).await,
        "cancel_after_begin" => cancel_after_begin(client).await,
        "cancel_after_first_response" => cancel_after_first_response(client).await,
        "timeout_on_sleeping_server" => timeout_on_sleeping_server(client).await,
        other => Err(format!("unknown test case {other:?}")),
    }
}

/// Fails with `what` unless `condition`.
fn check(condition: bool, what: impl FnOnce() -> String) -> Outcome {
    if condition { Ok(()) } else { Err(what()) }
}

fn failed(call: &str) -> impl FnOnce(Status) -> String + '_ {
    move |status| format!("{call} failed: {:?}: {}", status.code(), status.message())
}

fn zeros(size: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; size],
    })
}

fn flag(value: bool) -> Option<BoolValue> {
    Some(BoolValue { value })
}

/// The payload body size of a response, checked to be zeros.
fn body_size(payload: Option<&Payload>) -> Result<usize, String> {
    let body = payload.map(|p| p.body.as_slice()).unwrap_or_default();
    check(body.iter().all(|b| *b == 0), || {
        "a payload that is not zeros".into()
    })?;
    Ok(body.len())
}

/// The large_unary request, with the compression flags asked.
fn large(expect_compressed: Option<bool>, response_compressed: Option<bool>) -> SimpleRequest {
    SimpleRequest {
        response_size: 314_159,
        payload: zeros(271_828),
        expect_compressed: expect_compressed.map(|value| BoolValue { value }),
        response_compressed: response_compressed.map(|value| BoolValue { value }),
        ..SimpleRequest::default()
    }
}
