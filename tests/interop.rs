//! grpc.testing.TestService's features that the 18 standard interop cases do not reach
//! (tests/tools.rs runs those): HalfDuplexCall, CacheableUnaryCall, the server id,
//! interval_us, and bad parameters.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, bad_request_field};
use grpc_showcase::{
    proto::interop::{
        ResponseParameters, SimpleRequest, StreamingOutputCallRequest,
        test_service_client::TestServiceClient,
    },
    server::Settings,
};
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};

fn sizes(sizes: &[i32], interval_us: i32) -> Vec<ResponseParameters> {
    sizes
        .iter()
        .map(|&size| ResponseParameters {
            size,
            interval_us,
            compressed: None,
        })
        .collect()
}

async fn client(server: &TestServer) -> TestServiceClient<Channel> {
    TestServiceClient::new(server.channel().await)
}

#[tokio::test]
async fn half_duplex_answers_every_request_after_the_half_close() {
    let server = TestServer::start().await;
    let requests = [&[3, 1][..], &[2]].map(|s| StreamingOutputCallRequest {
        response_parameters: sizes(s, 0),
        ..StreamingOutputCallRequest::default()
    });
    let replies: Vec<usize> = client(&server)
        .await
        .half_duplex_call(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().payload.unwrap().body.len())
        .collect()
        .await;
    assert_eq!(replies, [3, 1, 2]);
}

#[tokio::test]
async fn intervals_space_the_responses() {
    let server = TestServer::start().await;
    let started = Instant::now();
    let replies = client(&server)
        .await
        .streaming_output_call(StreamingOutputCallRequest {
            response_parameters: sizes(&[1, 1, 1], 30_000),
            ..StreamingOutputCallRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(replies.len(), 3);
    // Three waits of 30 ms at least: a lower bound of the behaviour, not a speed.
    assert!(started.elapsed() >= Duration::from_millis(90));
}

#[tokio::test]
async fn cacheable_calls_are_marked_and_server_ids_filled() {
    let server = TestServer::with_settings(Settings {
        instance_name: Some("interop-a".into()),
        ..Settings::default()
    })
    .await;
    let mut client = client(&server).await;
    let first = client
        .cacheable_unary_call(SimpleRequest::default())
        .await
        .unwrap();
    assert_eq!(first.metadata().get("cache-control").unwrap(), "max-age=60");
    let second = client
        .cacheable_unary_call(SimpleRequest::default())
        .await
        .unwrap();
    assert_ne!(first.into_inner().payload, second.into_inner().payload);
    let response = client
        .unary_call(SimpleRequest {
            fill_server_id: true,
            ..SimpleRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.server_id, "interop-a");
    assert!(!response.hostname.is_empty());
}

#[tokio::test]
async fn bad_parameters_are_invalid_argument_naming_the_field() {
    let server = TestServer::start().await;
    let mut client = client(&server).await;
    for (request, field) in [
        (
            SimpleRequest {
                response_size: -1,
                ..SimpleRequest::default()
            },
            "response_size",
        ),
        (
            SimpleRequest {
                response_type: 7,
                ..SimpleRequest::default()
            },
            "response_type",
        ),
    ] {
        let status = client.unary_call(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(bad_request_field(&status), field);
    }
    let mut stream = client
        .streaming_output_call(StreamingOutputCallRequest {
            response_parameters: sizes(&[1], -5),
            ..StreamingOutputCallRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_request_field(&status),
        "response_parameters.interval_us"
    );
}
