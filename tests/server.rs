//! Server-wide behaviour through real clients: health, graceful shutdown, deadlines,
//! cancellation, message limits and reflection (v1 and v1alpha).

mod common;

use std::time::Duration;

use common::{TestServer, eventually};
use grpc_showcase::{
    domain::health::ServingStatus,
    proto::{
        calculator::{Number, calculator_client::CalculatorClient},
        helloworld::{HelloRequest, greeter_client::GreeterClient},
    },
    server::Settings,
};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Code, Request};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus as Pb, health_client::HealthClient,
};

/// Every hosted service, sorted: the seeds' package-less ones (upper case) first.
const SERVICES: [&str; 16] = [
    "Calculator",
    "FeedbackService",
    "Greeter",
    "calculator.Calculator",
    "feedback.FeedbackService",
    "fraud_detection.FraudDetectionService",
    "grpc.examples.echo.Echo",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.testing.TestService",
    "grpc.testing.UnimplementedService",
    "helloworld.Greeter",
    "inference.GRPCInferenceService",
    "model.ModelInference",
    "video.VideoProcessing",
];

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

fn hello(name: &str) -> HelloRequest {
    HelloRequest {
        name: name.to_owned(),
    }
}

#[tokio::test]
async fn health_check_reports_every_service_serving() {
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in SERVICES.iter().chain(&[""]) {
        let response = health.check(check(service)).await.unwrap().into_inner();
        assert_eq!(response.status(), Pb::Serving, "{service:?}");
    }
    let status = health.check(check("no.Such")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn health_watch_follows_changes_and_unknown_services() {
    let server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);

    let mut overall = health.watch(check("")).await.unwrap().into_inner();
    assert_eq!(
        overall.message().await.unwrap().unwrap().status(),
        Pb::Serving
    );
    server.health.set("", ServingStatus::NotServing);
    assert_eq!(
        overall.message().await.unwrap().unwrap().status(),
        Pb::NotServing
    );

    // health.proto: an unknown service gets SERVICE_UNKNOWN on an open stream, then
    // its status once it is registered.
    let mut late = health
        .watch(check("late.Service"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        late.message().await.unwrap().unwrap().status(),
        Pb::ServiceUnknown
    );
    server.health.set("late.Service", ServingStatus::Serving);
    assert_eq!(late.message().await.unwrap().unwrap().status(), Pb::Serving);
}

#[tokio::test]
async fn shutdown_flips_health_to_not_serving_and_ends_watches() {
    let mut server = TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health.watch(check("")).await.unwrap().into_inner();
    let mut greeter_watch = health
        .watch(check("helloworld.Greeter"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        Pb::Serving
    );
    assert_eq!(
        greeter_watch.message().await.unwrap().unwrap().status(),
        Pb::Serving
    );

    server.begin_shutdown();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        Pb::NotServing
    );
    assert_eq!(
        greeter_watch.message().await.unwrap().unwrap().status(),
        Pb::NotServing
    );
    assert_eq!(watch.message().await.unwrap_err().code(), Code::Unavailable);
    // No watch holds the shutdown back.
    server.shutdown_within(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn shutdown_lets_calls_in_flight_finish_and_refuses_new_ones() {
    let mut server = TestServer::with_settings(Settings {
        greeting_interval: Duration::from_millis(30),
        ..Settings::default()
    })
    .await;
    let channel = server.channel().await;
    let mut greeter = GreeterClient::new(channel.clone());
    let mut replies = greeter
        .say_hello_stream_reply(hello("Ada"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        replies.message().await.unwrap().unwrap().message,
        "Hello, Ada!"
    );

    server.begin_shutdown();
    let mut rest = 0;
    while let Some(reply) = replies.message().await.unwrap() {
        assert!(reply.message.ends_with(", Ada!"));
        rest += 1;
    }
    assert_eq!(rest, 9, "the stream in flight finished with all 10 replies");

    let addr = server.addr;
    server.shutdown_within(Duration::from_secs(10)).await;
    let refused = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    assert!(refused.is_err(), "no new connections after shutdown");
    let status = greeter.say_hello(hello("late")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn shutdown_grace_period_bounds_calls_that_never_end() {
    let server = TestServer::with_settings(Settings {
        shutdown_grace: Duration::from_millis(200),
        ..Settings::default()
    })
    .await;
    let mut greeter = GreeterClient::new(server.channel().await);
    // A bidirectional stream whose client never closes its side.
    let (names, outbound) = mpsc::channel(1);
    let mut replies = greeter
        .say_hello_bidi_stream(ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    names.send(hello("Ada")).await.unwrap();
    replies.message().await.unwrap().unwrap();
    let streams = server.streams.clone();

    // Without the bound, serve() would wait for this stream forever.
    server.shutdown_within(Duration::from_secs(10)).await;
    eventually("the open stream's work is dropped", || streams.count() == 0).await;
    drop(names);
}

#[tokio::test]
async fn deadline_before_the_answer_is_deadline_exceeded() {
    let server = TestServer::start().await;
    let (plain, origin) = server.plain_client();
    let mut calc = CalculatorClient::with_origin(plain, origin);
    // A client stream that stays open sending nothing: Average cannot answer.
    let (numbers, outbound) = mpsc::channel::<Number>(1);
    let mut request = Request::new(ReceiverStream::new(outbound));
    request.set_timeout(Duration::from_millis(200));
    let status = calc.average(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("deadline"), "{status:?}");
    drop(numbers);
}

#[tokio::test]
async fn deadline_mid_stream_ends_the_stream_and_its_work() {
    let server = TestServer::with_settings(Settings {
        // The second greeting would come an hour after the first.
        greeting_interval: Duration::from_secs(3600),
        ..Settings::default()
    })
    .await;
    let mut greeter = GreeterClient::new(server.channel().await);
    let mut request = Request::new(hello("Ada"));
    request.set_timeout(Duration::from_millis(300));
    let mut replies = greeter
        .say_hello_stream_reply(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        replies.message().await.unwrap().unwrap().message,
        "Hello, Ada!"
    );
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let streams = server.streams.clone();
    eventually("the stream's task stops", || streams.count() == 0).await;
}

#[tokio::test]
async fn malformed_grpc_timeout_is_refused() {
    let server = TestServer::start().await;
    let mut greeter = GreeterClient::new(server.channel().await);
    let mut request = Request::new(hello("Ada"));
    request
        .metadata_mut()
        .insert("grpc-timeout", "soon".parse().unwrap());
    let status = greeter.say_hello(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("grpc-timeout"));
}

#[tokio::test]
async fn cancelling_a_server_stream_stops_its_task() {
    let server = TestServer::with_settings(Settings {
        greeting_interval: Duration::from_secs(3600),
        ..Settings::default()
    })
    .await;
    let mut greeter = GreeterClient::new(server.channel().await);
    let mut replies = greeter
        .say_hello_stream_reply(hello("Ada"))
        .await
        .unwrap()
        .into_inner();
    replies.message().await.unwrap().unwrap();
    assert_eq!(server.streams.count(), 1);
    // Dropping the response stream cancels the call (HTTP/2 RST_STREAM). The task
    // would otherwise sleep for an hour before noticing.
    drop(replies);
    let streams = server.streams.clone();
    eventually("the cancelled stream's task stops", || streams.count() == 0).await;
}

#[tokio::test]
async fn a_client_that_disconnects_mid_bidi_stream_frees_it() {
    let server = TestServer::start().await;
    let connection = server.disconnectable_channel().await;
    let mut calc = CalculatorClient::new(connection.channel.clone());
    let (numbers, outbound) = mpsc::channel(1);
    let mut maxima = calc
        .running_max(ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    numbers.send(Number { value: 1.0 }).await.unwrap();
    maxima.message().await.unwrap().unwrap();
    assert_eq!(server.streams.count(), 1);
    // The client's connection goes away mid-stream, both sides still open: the
    // server's loop, waiting for the next number, must end anyway.
    connection.disconnect();
    let streams = server.streams.clone();
    eventually("the bidi stream's loop ends", || streams.count() == 0).await;
    drop(numbers);
}

#[tokio::test]
async fn messages_over_the_limit_are_resource_exhausted() {
    let server = TestServer::with_settings(Settings {
        max_message_size: 64,
        ..Settings::default()
    })
    .await;
    let mut greeter = GreeterClient::new(server.channel().await);
    assert!(greeter.say_hello(hello("Ada")).await.is_ok());
    let status = greeter
        .say_hello(hello(&"x".repeat(100)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("at most 64 bytes"), "{status:?}");

    // On a stream, what was answered before the oversized message stays answered.
    let names = tokio_stream::iter([hello("Ada"), hello(&"x".repeat(100))]);
    let mut replies = greeter
        .say_hello_bidi_stream(names)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        replies.message().await.unwrap().unwrap().message,
        "Hello, Ada!"
    );
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

/// Lists services and fetches the file declaring `calculator.Calculator` through one
/// reflection version's generated client; both versions have the same shapes.
macro_rules! reflection_round_trip {
    ($version:ident, $server:expr) => {{
        use tonic_reflection::pb::$version::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new($server.channel().await);
        let requests = [
            MessageRequest::ListServices(String::new()),
            MessageRequest::FileContainingSymbol("calculator.Calculator".into()),
            MessageRequest::FileContainingSymbol("grpc.health.v1.Health".into()),
            MessageRequest::FileContainingSymbol("google.rpc.BadRequest".into()),
        ]
        .map(|message_request| ServerReflectionRequest {
            host: String::new(),
            message_request: Some(message_request),
        });
        let responses: Vec<MessageResponse> = client
            .server_reflection_info(tokio_stream::iter(requests))
            .await
            .unwrap()
            .into_inner()
            .map(|response| response.unwrap().message_response.unwrap())
            .collect()
            .await;
        let mut responses = responses.into_iter();
        let Some(MessageResponse::ListServicesResponse(list)) = responses.next() else {
            panic!("expected a service list");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        let files: Vec<Vec<prost_types::FileDescriptorProto>> = responses
            .map(|response| {
                let MessageResponse::FileDescriptorResponse(found) = response else {
                    panic!("expected a file descriptor, got {response:?}");
                };
                found
                    .file_descriptor_proto
                    .iter()
                    .map(|bytes| prost_types::FileDescriptorProto::decode(&bytes[..]).unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(files.len(), 3);
        (names, files)
    }};
}

fn assert_reflection(names: Vec<String>, files: Vec<Vec<prost_types::FileDescriptorProto>>) {
    assert_eq!(names, SERVICES);
    let calculator = files[0]
        .iter()
        .find(|f| f.name() == "calculator.proto")
        .expect("calculator.proto");
    assert_eq!(calculator.service[0].name(), "Calculator");
    // Source info survives: this is what `grpcurl describe` prints as comments.
    let comments: Vec<&str> = calculator
        .source_code_info
        .as_ref()
        .expect("source info kept")
        .location
        .iter()
        .map(|l| l.leading_comments())
        .collect();
    assert!(
        comments
            .iter()
            .any(|c| c.contains("A client streaming RPC")),
        "{comments:?}"
    );
    assert!(
        files[1]
            .iter()
            .any(|f| f.service.iter().any(|s| s.name() == "Health"))
    );
    assert!(
        files[2]
            .iter()
            .any(|f| f.message_type.iter().any(|m| m.name() == "BadRequest"))
    );
}

#[tokio::test]
async fn reflection_v1_lists_and_describes() {
    let server = TestServer::start().await;
    let (names, files) = reflection_round_trip!(v1, server);
    assert_reflection(names, files);
}

#[tokio::test]
async fn reflection_v1alpha_lists_and_describes() {
    let server = TestServer::start().await;
    let (names, files) = reflection_round_trip!(v1alpha, server);
    assert_reflection(names, files);
}
