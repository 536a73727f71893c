//! The standard test cases of grpc/grpc's `doc/interop-test-descriptions.md`, "Client",
//! each as the spec's procedure and the spec's assertions.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Code, Request, Status, metadata::MetadataValue};

use crate::{
    Client,
    proto::{
        BoolValue, EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest,
        StreamingInputCallRequest, StreamingOutputCallRequest, StreamingOutputCallResponse,
    },
};

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

async fn empty_unary(client: &Client) -> Outcome {
    client
        .test()
        .empty_call(Empty {})
        .await
        .map_err(failed("EmptyCall"))?;
    Ok(())
}

async fn large_unary(client: &Client) -> Outcome {
    let response = client
        .test()
        .unary_call(large(None, None))
        .await
        .map_err(failed("UnaryCall"))?
        .into_inner();
    let size = body_size(response.payload.as_ref())?;
    check(size == 314_159, || format!("payload of {size} bytes"))
}

async fn client_compressed_unary(client: &Client) -> Outcome {
    // The probe: an uncompressed message that says it is compressed.
    client.plan.compress(&[false]);
    let probe = client.test().unary_call(large(Some(true), None)).await;
    check(
        probe
            .as_ref()
            .is_err_and(|s| s.code() == Code::InvalidArgument),
        || format!("the probe got {probe:?}, not INVALID_ARGUMENT"),
    )?;
    for compressed in [true, false] {
        client.plan.compress(&[compressed]);
        let response = client
            .test()
            .unary_call(large(Some(compressed), None))
            .await
            .map_err(failed("UnaryCall"))?
            .into_inner();
        let size = body_size(response.payload.as_ref())?;
        check(size == 314_159, || format!("payload of {size} bytes"))?;
    }
    Ok(())
}

async fn server_compressed_unary(client: &Client) -> Outcome {
    for compressed in [true, false] {
        client.plan.compress(&[]);
        let response = client
            .test()
            .unary_call(large(None, Some(compressed)))
            .await
            .map_err(failed("UnaryCall"))?
            .into_inner();
        let size = body_size(response.payload.as_ref())?;
        check(size == 314_159, || format!("payload of {size} bytes"))?;
        let flags = client.plan.received();
        check(flags == [compressed], || {
            format!("response_compressed {compressed}, but the message flags were {flags:?}")
        })?;
    }
    Ok(())
}

async fn client_streaming(client: &Client) -> Outcome {
    let requests = [27_182, 8, 1_828, 45_904].map(|size| StreamingInputCallRequest {
        payload: zeros(size),
        ..StreamingInputCallRequest::default()
    });
    let response = client
        .test()
        .streaming_input_call(tokio_stream::iter(requests))
        .await
        .map_err(failed("StreamingInputCall"))?
        .into_inner();
    let total = response.aggregated_payload_size;
    check(total == 74_922, || {
        format!("aggregated_payload_size {total}")
    })
}

async fn client_compressed_streaming(client: &Client) -> Outcome {
    client.plan.compress(&[false]);
    let probe = client
        .test()
        .streaming_input_call(tokio_stream::iter([StreamingInputCallRequest {
            expect_compressed: flag(true),
            payload: zeros(27_182),
        }]))
        .await;
    check(
        probe
            .as_ref()
            .is_err_and(|s| s.code() == Code::InvalidArgument),
        || format!("the probe got {probe:?}, not INVALID_ARGUMENT"),
    )?;
    // The first message compressed, the second not, in one stream.
    client.plan.compress(&[true, false]);
    let requests = [
        StreamingInputCallRequest {
            expect_compressed: flag(true),
            payload: zeros(27_182),
        },
        StreamingInputCallRequest {
            expect_compressed: flag(false),
            payload: zeros(45_904),
        },
    ];
    let response = client
        .test()
        .streaming_input_call(tokio_stream::iter(requests))
        .await
        .map_err(failed("StreamingInputCall"))?
        .into_inner();
    let total = response.aggregated_payload_size;
    check(total == 73_086, || {
        format!("aggregated_payload_size {total}")
    })
}

/// The responses' payload sizes of a stream, in order.
async fn sizes(
    mut stream: tonic::Streaming<StreamingOutputCallResponse>,
) -> Result<Vec<usize>, String> {
    let mut sizes = Vec::new();
    while let Some(response) = stream.message().await.map_err(failed("the stream"))? {
        sizes.push(body_size(response.payload.as_ref())?);
    }
    Ok(sizes)
}

fn parameters(sizes: &[(i32, Option<bool>)]) -> Vec<ResponseParameters> {
    sizes
        .iter()
        .map(|&(size, compressed)| ResponseParameters {
            size,
            compressed: compressed.map(|value| BoolValue { value }),
            ..ResponseParameters::default()
        })
        .collect()
}

async fn server_streaming(client: &Client) -> Outcome {
    let stream = client
        .test()
        .streaming_output_call(StreamingOutputCallRequest {
            response_parameters: parameters(&[
                (31_415, None),
                (9, None),
                (2_653, None),
                (58_979, None),
            ]),
            ..StreamingOutputCallRequest::default()
        })
        .await
        .map_err(failed("StreamingOutputCall"))?
        .into_inner();
    let sizes = sizes(stream).await?;
    check(sizes == [31_415, 9, 2_653, 58_979], || {
        format!("sizes {sizes:?}")
    })
}

async fn server_compressed_streaming(client: &Client) -> Outcome {
    client.plan.compress(&[]);
    let stream = client
        .test()
        .streaming_output_call(StreamingOutputCallRequest {
            response_parameters: parameters(&[(31_415, Some(true)), (92_653, Some(false))]),
            ..StreamingOutputCallRequest::default()
        })
        .await
        .map_err(failed("StreamingOutputCall"))?
        .into_inner();
    let sizes = sizes(stream).await?;
    check(sizes == [31_415, 92_653], || format!("sizes {sizes:?}"))?;
    let flags = client.plan.received();
    check(flags == [true, false], || {
        format!("compressed asked [true, false], message flags {flags:?}")
    })
}

/// A bidirectional call whose requests the case sends one by one.
async fn full_duplex(
    client: &Client,
    request: Request<ReceiverStream<StreamingOutputCallRequest>>,
) -> Result<tonic::Response<tonic::Streaming<StreamingOutputCallResponse>>, String> {
    client
        .test()
        .full_duplex_call(request)
        .await
        .map_err(failed("FullDuplexCall"))
}

fn ping(size: i32, payload: usize) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: parameters(&[(size, None)]),
        payload: zeros(payload),
        ..StreamingOutputCallRequest::default()
    }
}

async fn ping_pong(client: &Client) -> Outcome {
    let (tx, rx) = mpsc::channel(1);
    let mut stream = full_duplex(client, Request::new(ReceiverStream::new(rx)))
        .await?
        .into_inner();
    for (size, payload) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
        tx.send(ping(size, payload))
            .await
            .map_err(|_| "the request stream closed".to_owned())?;
        let response = stream
            .message()
            .await
            .map_err(failed("FullDuplexCall"))?
            .ok_or("the stream ended early")?;
        let got = body_size(response.payload.as_ref())?;
        check(got == size as usize, || {
            format!("a {got}-byte reply to {size}")
        })?;
    }
    drop(tx);
    let rest = stream.message().await.map_err(failed("FullDuplexCall"))?;
    check(rest.is_none(), || "more than four responses".into())
}

async fn empty_stream(client: &Client) -> Outcome {
    let (tx, rx) = mpsc::channel(1);
    drop(tx);
    let stream = full_duplex(client, Request::new(ReceiverStream::new(rx)))
        .await?
        .into_inner();
    let count = stream.collect::<Vec<_>>().await.len();
    check(count == 0, || format!("{count} responses"))
}

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

async fn custom_metadata(client: &Client) -> Outcome {
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
async fn echo_status(client: &Client, code: i32, message: &str) -> Outcome {
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

async fn status_code_and_message(client: &Client) -> Outcome {
    echo_status(client, 2, "test status message").await
}

async fn special_status_message(client: &Client) -> Outcome {
    echo_status(
        client,
        2,
        "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n",
    )
    .await
}

async fn unimplemented_method(client: &Client) -> Outcome {
    let result = client.test().unimplemented_call(Empty {}).await;
    check(
        result
            .as_ref()
            .is_err_and(|s| s.code() == Code::Unimplemented),
        || format!("got {result:?}"),
    )
}

async fn unimplemented_service(client: &Client) -> Outcome {
    let result = client.unimplemented().unimplemented_call(Empty {}).await;
    check(
        result
            .as_ref()
            .is_err_and(|s| s.code() == Code::Unimplemented),
        || format!("got {result:?}"),
    )
}

/// A client cancels by dropping the call; its status is then CANCELLED, as every gRPC
/// library reports a call its own client cancelled.
async fn cancel_after_begin(client: &Client) -> Outcome {
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

async fn cancel_after_first_response(client: &Client) -> Outcome {
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

async fn timeout_on_sleeping_server(client: &Client) -> Outcome {
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
