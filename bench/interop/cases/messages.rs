//! The cases about messages: sizes, compression, and the four RPC styles.

use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Code, Request};

use super::{Outcome, body_size, check, failed, flag, large, zeros};
use crate::{
    Client,
    proto::{
        BoolValue, Empty, ResponseParameters, StreamingInputCallRequest,
        StreamingOutputCallRequest, StreamingOutputCallResponse,
    },
};

pub(super) async fn empty_unary(client: &Client) -> Outcome {
    client
        .test()
        .empty_call(Empty {})
        .await
        .map_err(failed("EmptyCall"))?;
    Ok(())
}

pub(super) async fn large_unary(client: &Client) -> Outcome {
    let response = client
        .test()
        .unary_call(large(None, None))
        .await
        .map_err(failed("UnaryCall"))?
        .into_inner();
    let size = body_size(response.payload.as_ref())?;
    check(size == 314_159, || format!("payload of {size} bytes"))
}

pub(super) async fn client_compressed_unary(client: &Client) -> Outcome {
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

pub(super) async fn server_compressed_unary(client: &Client) -> Outcome {
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

pub(super) async fn client_streaming(client: &Client) -> Outcome {
    let requests = [27_182, 8, 1_828, 45_904].map(|size| StreamingInputCallRequest {
        payload: zeros(size),
        ..StreamingInputCallRequest::default()
    });
    expect_aggregate(client, requests, 74_922).await
}

/// StreamingInputCall with `requests`, whose answer must be `expected` bytes in all.
async fn expect_aggregate<const N: usize>(
    client: &Client,
    requests: [StreamingInputCallRequest; N],
    expected: i32,
) -> Outcome {
    let response = client
        .test()
        .streaming_input_call(tokio_stream::iter(requests))
        .await
        .map_err(failed("StreamingInputCall"))?
        .into_inner();
    let total = response.aggregated_payload_size;
    check(total == expected, || {
        format!("aggregated_payload_size {total}")
    })
}

pub(super) async fn client_compressed_streaming(client: &Client) -> Outcome {
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
    expect_aggregate(client, requests, 73_086).await
}

/// The responses' payload sizes of a stream, in order.
pub(super) async fn sizes(
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

pub(super) async fn server_streaming(client: &Client) -> Outcome {
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

pub(super) async fn server_compressed_streaming(client: &Client) -> Outcome {
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
pub(super) async fn full_duplex(
    client: &Client,
    request: Request<ReceiverStream<StreamingOutputCallRequest>>,
) -> Result<tonic::Response<tonic::Streaming<StreamingOutputCallResponse>>, String> {
    client
        .test()
        .full_duplex_call(request)
        .await
        .map_err(failed("FullDuplexCall"))
}

pub(super) fn ping(size: i32, payload: usize) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: parameters(&[(size, None)]),
        payload: zeros(payload),
        ..StreamingOutputCallRequest::default()
    }
}

pub(super) async fn ping_pong(client: &Client) -> Outcome {
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

pub(super) async fn empty_stream(client: &Client) -> Outcome {
    let (tx, rx) = mpsc::channel(1);
    drop(tx);
    let stream = full_duplex(client, Request::new(ReceiverStream::new(rx)))
        .await?
        .into_inner();
    let count = stream.collect::<Vec<_>>().await.len();
    check(count == 0, || format!("{count} responses"))
}
