//! Error messages repeat at most a short, escaped prefix of what the caller sent: a huge
//! model id, service name, filter name, sentiment, JSON field or URL comes back cut to
//! 64 characters with its length, never as a multi-megabyte `grpc-message` (which some
//! clients refuse as oversized metadata). And a body announced over its limit is refused
//! from its `Content-Length`, before it is read.

mod common;

use common::{TestServer, http1, video::*};
use grpc_showcase::proto::{
    feedback::{ListFeedbackRequest, feedback_service_client::FeedbackServiceClient},
    model::{PredictRequest, model_inference_client::ModelInferenceClient},
    video::Encoding,
};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// The longest message any of these may give: the prefix, its length, and the fixed text
/// (with the server's own lists, such as the registered services).
const SHORT: usize = 1024;

fn assert_short(what: &str, message: &str, chars: usize) {
    assert!(message.len() < SHORT, "{what}: {} bytes", message.len());
    assert!(
        message.contains(&format!("({chars} characters)")),
        "{what}: {message}"
    );
}

#[tokio::test]
async fn huge_names_in_grpc_calls_come_back_cut() {
    let server = TestServer::start().await;
    let channel = server.channel().await;

    let huge = "m".repeat(1 << 20);
    let status = ModelInferenceClient::new(channel.clone())
        .predict(PredictRequest {
            model_id: huge.clone(),
            inputs: vec![1.0],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_short("model_id", status.message(), 1 << 20);
    assert!(status.message().contains("the models are: "), "{status:?}");

    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "s".repeat(16_000),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_short("health service", status.message(), 16_000);

    let status = FeedbackServiceClient::new(channel.clone())
        .list_feedback(ListFeedbackRequest {
            sentiment: "\n".repeat(100_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_short("sentiment", status.message(), 100_000);
    assert!(!status.message().contains('\n'), "escaped");

    let mut video = client(channel);
    let (_, status) = process(
        &mut video,
        vec![config(&"f".repeat(200_000), &[], Encoding::Png)],
    )
    .await;
    let status = status.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_short("filter", status.message(), 200_000);
}

#[tokio::test]
async fn huge_names_over_http_come_back_cut() {
    let server = TestServer::start().await;
    // Connect: an unknown service named by a long path.
    let path = format!("/{}/Method", "p".repeat(6_000));
    let reply = http1(
        server.addr,
        "POST",
        &path,
        &[("content-type", "application/json")],
        b"{}",
    )
    .await;
    let error = reply.json();
    assert_eq!(error["code"], "unimplemented", "{error}");
    assert_short("service", error["message"].as_str().unwrap(), 6_000);

    // The REST gateway: an unknown field with a long name.
    let body = format!(r#"{{"{}": 1}}"#, "k".repeat(60_000));
    let reply = http1(
        server.addr,
        "POST",
        "/api/FraudActivity",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.body.len() < 2 * SHORT, "{} bytes", reply.body.len());
    assert!(String::from_utf8_lossy(&reply.body).contains("(60000 characters)"));
}

/// Sends only the head of a request that announces a 10 MB body, and reads the answer:
/// the server must answer from the head alone (the body never comes).
async fn answer_to_a_head(server: &TestServer, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 10000000\r\n\r\n",
        server.addr
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), socket.read(&mut answer))
        .await
        .expect("an answer without the body")
        .unwrap();
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[tokio::test]
async fn a_body_announced_over_the_limit_is_refused_before_it_is_read() {
    let server = TestServer::start().await;
    let gateway = answer_to_a_head(&server, "/api/FraudActivity").await;
    assert!(gateway.starts_with("HTTP/1.1 413"), "{gateway}");
    assert!(gateway.contains("over 65536 bytes"), "{gateway}");
    let connect = answer_to_a_head(&server, "/helloworld.Greeter/SayHello").await;
    assert!(connect.starts_with("HTTP/1.1 429"), "{connect}");
    assert!(connect.contains("resource_exhausted"), "{connect}");
}
