//! The seeds' package-less services (proto/seeds/) through a real client over a real
//! socket: the same answers as their packaged twins, on floats for seed 003's
//! Calculator, feedback stored where `feedback.FeedbackService` reads it; and listed in
//! reflection and health.

mod common;

use common::{TestServer, bad_request_field, list_all};
use grpc_showcase::proto::{
    feedback::feedback_service_client::FeedbackServiceClient as PackagedFeedbackClient,
    seeds::{
        FeedbackRequest, HelloRequest, Number, NumberDouble, calculator_client::CalculatorClient,
        feedback_service_client::FeedbackServiceClient, greeter_client::GreeterClient,
    },
};
use tokio_stream::StreamExt;
use tonic::{Code, Status};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

#[tokio::test]
async fn greeter_says_hello_at_its_package_less_path() {
    let server = TestServer::start().await;
    let mut greeter = GreeterClient::new(server.channel().await);
    let reply = greeter
        .say_hello(HelloRequest {
            name: "World".into(),
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "Hello, World!");
    let status = greeter
        .say_hello(HelloRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_request_field(&status), "name");
}

fn invalid(status: &Status, field: &str, part: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_request_field(status), field, "{status:?}");
    assert!(status.message().contains(part), "{status:?}");
}

#[tokio::test]
async fn calculator_computes_on_floats() {
    let server = TestServer::start().await;
    let mut calc = CalculatorClient::new(server.channel().await);
    let value = |r: Result<tonic::Response<Number>, Status>| r.unwrap().into_inner().value;
    // Seed 003's client asks for the square root of 16 and prints 4.0.
    assert_eq!(value(calc.square_root(Number { value: 16.0 }).await), 4.0);
    assert_eq!(
        value(calc.square_root(Number { value: 2.0 }).await),
        2f32.sqrt()
    );
    let operands = |value1, value2| NumberDouble { value1, value2 };
    assert_eq!(value(calc.add(operands(1.5, 2.25)).await), 3.75);
    assert_eq!(value(calc.subtract(operands(1.5, 2.25)).await), -0.75);
    assert_eq!(value(calc.multiply(operands(1.5, -2.0)).await), -3.0);
    // Computed in double precision, then rounded once to the nearest float.
    assert_eq!(value(calc.divide(operands(1.0, 3.0)).await), 1.0 / 3.0);

    let status = calc.square_root(Number { value: -4.0 }).await.unwrap_err();
    invalid(&status, "value", "negative");
    let status = calc.divide(operands(1.0, 0.0)).await.unwrap_err();
    invalid(&status, "value2", "value2 must not be 0");
    let status = calc.add(operands(f32::NAN, 1.0)).await.unwrap_err();
    invalid(&status, "value1", "finite");
    let status = calc
        .multiply(operands(1.0, f32::INFINITY))
        .await
        .unwrap_err();
    invalid(&status, "value2", "finite");
    // Finite as a double, beyond the largest float.
    let status = calc.multiply(operands(f32::MAX, 10.0)).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().contains("does not fit a float"),
        "{status:?}"
    );
}

fn feedback(consumer_id: &str, text: &str) -> FeedbackRequest {
    FeedbackRequest {
        consumer_id: consumer_id.into(),
        feedback: text.into(),
    }
}

#[tokio::test]
async fn feedback_is_stored_where_the_packaged_service_reads_it() {
    let server = TestServer::start().await;
    let mut seed = FeedbackServiceClient::new(server.channel().await);
    let requests = vec![
        feedback("alice", "I love this product, it works great!"),
        feedback("bob", "The delivery was late and the box was damaged."),
    ];
    let replies: Vec<String> = seed
        .send_feedback(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .map(|reply| reply.unwrap().response_message)
        .collect()
        .await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(
        replies[0].contains("alice") && replies[0].contains("#1"),
        "{replies:?}"
    );
    assert!(
        replies[1].contains("bob") && replies[1].contains("#2"),
        "{replies:?}"
    );

    let mut packaged = PackagedFeedbackClient::new(server.channel().await);
    let stored = list_all(&mut packaged, 10).await;
    assert_eq!(
        stored,
        vec![
            (
                1,
                "alice".into(),
                "I love this product, it works great!".into()
            ),
            (
                2,
                "bob".into(),
                "The delivery was late and the box was damaged.".into()
            ),
        ]
    );
}

#[tokio::test]
async fn refused_feedback_ends_the_stream_and_keeps_what_came_before() {
    let server = TestServer::start().await;
    let mut seed = FeedbackServiceClient::new(server.channel().await);
    let requests = vec![
        feedback("alice", "Great service"),
        feedback("bob", "   "),
        feedback("carol", "Never read: the stream ended before it"),
    ];
    let mut replies = seed
        .send_feedback(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let first = replies.next().await.unwrap().unwrap();
    assert!(first.response_message.contains("alice"), "{first:?}");
    let status = replies.next().await.unwrap().unwrap_err();
    invalid(
        &status,
        "feedback",
        "feedback 1 (counting from 0) was refused",
    );
    assert!(replies.next().await.is_none());

    let mut packaged = PackagedFeedbackClient::new(server.channel().await);
    let stored = list_all(&mut packaged, 10).await;
    assert_eq!(stored, vec![(1, "alice".into(), "Great service".into())]);
}

#[tokio::test]
async fn the_seed_services_are_in_health_and_reflection() {
    let server = TestServer::start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    for service in ["Greeter", "FeedbackService", "Calculator"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }

    // grpcurl's `list`, over reflection v1.
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("not a list of services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "Greeter",
        "FeedbackService",
        "Calculator",
        "helloworld.Greeter",
    ] {
        assert!(
            names.iter().any(|n| n == service),
            "{service} not in {names:?}"
        );
    }
}
