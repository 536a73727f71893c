//! The REST/JSON gateway, called over HTTP/1.1 as curl calls it.

mod common;

use std::time::Duration;

use common::{TRANSACTION_JSON, TestServer, http1};
use grpc_showcase::{
    proto::fraud_detection::{
        PredictionRequest, PredictionResponse,
        fraud_detection_service_client::FraudDetectionServiceClient,
        fraud_detection_service_server::{FraudDetectionService, FraudDetectionServiceServer},
    },
    server::Settings,
};
use tonic::{Request, Response, Status};

/// POSTs `body` to /api/FraudActivity as `curl -d` does (form content type).
async fn post(server: &TestServer, body: &str) -> common::HttpReply {
    http1(
        server.addr,
        "POST",
        "/api/FraudActivity",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .await
}

#[tokio::test]
async fn answers_the_same_prediction_as_the_grpc_service() {
    let server = TestServer::start().await;
    let reply = post(&server, TRANSACTION_JSON).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let json = reply.json();

    let mut grpc = FraudDetectionServiceClient::new(server.channel().await);
    let direct = grpc
        .predict_fraud(PredictionRequest {
            transaction_id: 42,
            amount: 950.0,
            time: 1_700_003_600,
            age_of_account: 3,
            number_of_transactions: 12,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(json["transaction_id"], 42);
    assert_eq!(json["predicted_label"], direct.predicted_label);
    assert_eq!(json["fraud_probability"], direct.fraud_probability);
    assert_eq!(json["threshold"], direct.threshold);
    assert_eq!(json["model_version"], direct.model_version.as_str());
    assert!(direct.fraud_probability > 0.0 && direct.fraud_probability < 1.0);
}

#[tokio::test]
async fn bad_bodies_get_400_naming_the_field() {
    let server = TestServer::start().await;
    let cases = [
        (
            TRANSACTION_JSON.replace(r#""amount": 950.0, "#, ""),
            Some("amount"),
            "missing",
        ),
        (
            TRANSACTION_JSON.replace("950.0", r#""a lot""#),
            Some("amount"),
            "must be a number",
        ),
        (
            TRANSACTION_JSON.replace(r#""age_of_account": 3"#, r#""age_of_account": 2.5"#),
            Some("age_of_account"),
            "integer",
        ),
        (
            TRANSACTION_JSON.replace("transaction_id", "transactionId"),
            Some("transactionId"),
            "unknown field",
        ),
        // Valid JSON, refused by the fraud service itself (INVALID_ARGUMENT with a
        // BadRequest detail): the gateway passes the field on.
        (
            TRANSACTION_JSON.replace("950.0", "-5"),
            Some("amount"),
            "amount",
        ),
        (
            "{\"transaction_id\": 42,".to_owned(),
            None,
            "not valid JSON",
        ),
        ("[]".to_owned(), None, "JSON object"),
    ];
    for (body, field, message) in cases {
        let reply = post(&server, &body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        let error = &reply.json()["error"];
        assert_eq!(error["code"], 400, "{body}");
        assert_eq!(error["status"], "INVALID_ARGUMENT", "{body}");
        assert_eq!(error["field"].as_str(), field, "{body}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(message),
            "{body}: {error}"
        );
    }
}

#[tokio::test]
async fn wrong_method_path_or_size_get_their_http_status() {
    let server = TestServer::start().await;
    let get = http1(server.addr, "GET", "/api/FraudActivity", &[], b"").await;
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("POST"));
    assert_eq!(get.json()["error"]["code"], 405);

    let other = http1(server.addr, "POST", "/api/Nothing", &[], b"{}").await;
    assert_eq!(other.status, 404);
    assert!(
        other.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/api/FraudActivity")
    );

    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(100_000));
    let too_large = post(&server, &huge).await;
    assert_eq!(too_large.status, 413);
}

#[tokio::test]
async fn a_fraud_model_that_is_not_loaded_is_503() {
    let empty = tempfile::tempdir().unwrap();
    let server = TestServer::with_settings(Settings {
        models_dir: Some(empty.path().to_owned()),
        ..Settings::default()
    })
    .await;
    let reply = post(&server, TRANSACTION_JSON).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.json()["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn calls_another_server_when_given_an_upstream() {
    // Two processes' worth: a model server, and a gateway whose own models directory
    // is empty, so only the upstream can answer.
    let upstream = TestServer::start().await;
    let empty = tempfile::tempdir().unwrap();
    let gateway = TestServer::with_settings(Settings {
        models_dir: Some(empty.path().to_owned()),
        gateway_upstream: Some(format!("http://{}", upstream.addr)),
        ..Settings::default()
    })
    .await;
    let reply = post(&gateway, TRANSACTION_JSON).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["transaction_id"], 42);
}

#[tokio::test]
async fn an_unreachable_upstream_is_503() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gateway = TestServer::with_settings(Settings {
        gateway_upstream: Some(format!("http://{closed}")),
        ..Settings::default()
    })
    .await;
    let reply = post(&gateway, TRANSACTION_JSON).await;
    assert_eq!(reply.status, 503, "{reply:?}");
}

#[tokio::test]
async fn a_silent_upstream_is_504_at_the_gateway_timeout() {
    // Accepts connections and never answers: the gateway must not hang.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let gateway = TestServer::with_settings(Settings {
        gateway_upstream: Some(format!("http://{silent_addr}")),
        gateway_timeout: Duration::from_millis(300),
        ..Settings::default()
    })
    .await;
    let reply = post(&gateway, TRANSACTION_JSON).await;
    assert_eq!(reply.status, 504, "{reply:?}");
    assert_eq!(reply.json()["error"]["status"], "DEADLINE_EXCEEDED");
    held.abort();
}

/// A fraud service that always fails, as a broken upstream would.
struct Broken;

#[tonic::async_trait]
impl FraudDetectionService for Broken {
    async fn predict_fraud(
        &self,
        _: Request<PredictionRequest>,
    ) -> Result<Response<PredictionResponse>, Status> {
        Err(Status::internal("model file corrupted"))
    }
}

#[tokio::test]
async fn a_failing_upstream_is_502() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broken_addr = listener.local_addr().unwrap();
    let broken = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(FraudDetectionServiceServer::new(Broken))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let gateway = TestServer::with_settings(Settings {
        gateway_upstream: Some(format!("http://{broken_addr}")),
        ..Settings::default()
    })
    .await;
    let reply = post(&gateway, TRANSACTION_JSON).await;
    assert_eq!(reply.status, 502, "{reply:?}");
    let error = &reply.json()["error"];
    assert_eq!(error["status"], "INTERNAL");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("model file corrupted")
    );
    broken.abort();
}

#[tokio::test]
async fn duplicate_keys_and_broken_chunks_get_a_clean_400() {
    let server = TestServer::start().await;
    let duplicate = r#"{"transaction_id": 1, "amount": 10, "amount": 1e9, "time": 1,
        "age_of_account": 3, "number_of_transactions": 1}"#;
    let reply = post(&server, duplicate).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let error = &reply.json()["error"];
    assert_eq!(error["field"], "amount", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("more than once")
    );

    // A chunk size that is not hexadecimal.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(
            b"POST /api/FraudActivity HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("chunked encoding is malformed"), "{answer}");
    assert!(
        !answer.contains("error reading"),
        "no internal text: {answer}"
    );
}
