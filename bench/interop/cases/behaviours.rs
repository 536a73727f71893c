//! The cases about what surrounds messages: metadata, status codes, unimplemented
//! methods, cancellation and deadlines.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, metadata::MetadataValue};

use super::{
    Outcome, check, failed, large,
    messages::{full_duplex, ping},
    zeros,
};
use crate::{
    Client,
    proto::{
        EchoStatus, Empty, SimpleRequest, StreamingInputCallRequest, StreamingOutputCallRequest,
    },
};

const INITIAL: &str = "x-grpc-test-echo-initial";
const INITIAL_VALUE: &str = "test_initial_metadata_value";
const TRAILING: &str = "x-grpc-test-echo-trailing-bin";
const TRAILING_VALUE: [u8; 3] = [0xab, 0xab, 0xab];

fn with_metadata<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert(INITIAL, MetadataValue::from_static(INITIAL_VALUE));
    metadata.insert_bin(TRAILING, MetadataValue::from_bytes(&TRAILING_VALUE));
    request
}

fn check_metadata(
    call: &str,
    initial: &tonic::metadata::MetadataMap,
    trailing: &tonic::metadata::MetadataMap,
) -> Outcome {
    let got = initial.get(INITIAL).and_then(|v| v.to_str().ok());
    check(got == Some(INITIAL_VALUE), || {
        format!("{call}: initial metadata {got:?}")
    })?;
    let got = trailing.get_bin(TRAILING).and_then(|v| v.to_bytes().ok());
    check(got.as_deref() == Some(&TRAILING_VALUE[..]), || {
        format!("{call}: trailing metadata {got:?}")
    })
}

pub(super) async fn custom_metadata(client: &Client) -> Outcome {
    let mut request = large(None, None);
    request.payload = zeros(271_828);
    let response = client
        .test()
        .unary_call(with_metadata(request))
        .await
        .map_err(failed("UnaryCall"))?;
    // tonic merges a unary call's trailers into its metadata.
    check_metadata("UnaryCall", response.metadata(), response.metadata())?;

    let (tx, rx) = mpsc::channel(1);
    tx.send(ping(314_159, 271_828))
        .await
        .map_err(|_| "the request stream closed".to_owned())?;
    drop(tx);
    let response = full_duplex(client, with_metadata(ReceiverStream::new(rx))).await?;
    let initial = response.metadata().clone();
    let mut stream = response.into_inner();
    while stream
        .message()
        .await
        .map_err(failed("FullDuplexCall"))?
        .is_some()
    {}
    let trailing = stream
        .trailers()
        .await
        .map_err(failed("FullDuplexCall"))?
        .unwrap_or_default();
    check_metadata("FullDuplexCall", &initial, &trailing)
}

/// Both calls of the status cases end with `code` and `message`.
pub(super) async fn echo_status(client: &Client, code: i32, message: &str) -> Outcome {
    let status = EchoStatus {
        code,
        message: message.to_owned(),
    };
    let unary = client
        .test()
        .unary_call(SimpleRequest {
            response_status: Some(status.clone()),
            ..SimpleRequest::default()
        })
        .await;
    let (tx, rx) = mpsc::channel(1);
    tx.send(StreamingOutputCallRequest {
        response_status: Some(status),
        ..StreamingOutputCallRequest::default()
    })
    .await
    .map_err(|_| "the request stream closed".to_owned())?;
    drop(tx);
    let duplex = match full_duplex(client, Request::new(ReceiverStream::new(rx))).await {
        Ok(response) => response.into_inner().message().await.map(drop),
        Err(err) => return Err(err),
    };
    for (call, result) in [("UnaryCall", unary.map(drop)), ("FullDuplexCall", duplex)] {
        let Err(got) = result else {
            return Err(format!("{call} succeeded"));
        };
        check(
            got.code() as i32 == code && got.message() == message,
            || format!("{call}: {:?} {:?}", got.code(), got.message()),
        )?;
    }
    Ok(())
}

pub(super) async fn status_code_and_message(client: &Client) -> Outcome {
    echo_status(client, 2, "test status message").await
}

pub(super) async fn special_status_message(client: &Client) -> Outcome {
    echo_status(
        client,
        2,
        "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n",
    )
    .await
}

pub(super) async fn unimplemented_method(client: &Client) -> Outcome {
    is_unimplemented(client.test().unimplemented_call(Empty {}).await)
}

pub(super) async fn unimplemented_service(client: &Client) -> Outcome {
    is_unimplemented(client.unimplemented().unimplemented_call(Empty {}).await)
}

/// Both unimplemented cases pass when the call ends with UNIMPLEMENTED.
fn is_unimplemented<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Outcome {
    check(
        result
            .as_ref()
            .is_err_and(|s| s.code() == Code::Unimplemented),
        || format!("got {result:?}"),
    )
}

/// A client cancels by dropping the call; its status is then CANCELLED, as every gRPC
/// library reports a call its own client cancelled.
pub(super) async fn cancel_after_begin(client: &Client) -> Outcome {
    let (tx, rx) = mpsc::channel::<StreamingInputCallRequest>(1);
    let mut test = client.test();
    let call = test.streaming_input_call(ReceiverStream::new(rx));
    // Started (the request's headers are out), then cancelled before any message.
    let outcome = tokio::time::timeout(Duration::from_millis(100), call).await;
    drop(tx);
    check(outcome.is_err(), || {
        format!("the call ended before it was cancelled: {outcome:?}")
    })
}

pub(super) async fn cancel_after_first_response(client: &Client) -> Outcome {
    let (tx, rx) = mpsc::channel(1);
    tx.send(ping(31_415, 27_182))
        .await
        .map_err(|_| "the request stream closed".to_owned())?;
    let mut stream = full_duplex(client, Request::new(ReceiverStream::new(rx)))
        .await?
        .into_inner();
    let first = stream.message().await.map_err(failed("FullDuplexCall"))?;
    check(first.is_some(), || "no first response".into())?;
    // Cancel: drop the call while the request stream is still open.
    drop(stream);
    drop(tx);
    Ok(())
}

pub(super) async fn timeout_on_sleeping_server(client: &Client) -> Outcome {
    let (tx, rx) = mpsc::channel(1);
    tx.send(StreamingOutputCallRequest {
        payload: zeros(27_182),
        ..StreamingOutputCallRequest::default()
    })
    .await
    .map_err(|_| "the request stream closed".to_owned())?;
    let mut request = Request::new(ReceiverStream::new(rx));
    request.set_timeout(Duration::from_millis(1));
    let status = match client.test().full_duplex_call(request).await {
        Err(status) => status,
        Ok(response) => match response.into_inner().message().await {
            Err(status) => status,
            Ok(message) => return Err(format!("the call went on: {message:?}")),
        },
    };
    drop(tx);
    check(status.code() == Code::DeadlineExceeded, || {
        format!("{:?}: {}", status.code(), status.message())
    })
}
