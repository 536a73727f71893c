//! Bearer tokens with permissions, through real gRPC and HTTP clients.

mod common;

use std::sync::Arc;

use common::{TRANSACTION_JSON, TestServer, http1};
use grpc_showcase::{
    domain::auth::Tokens,
    proto::{
        calculator::{Operands, calculator_client::CalculatorClient},
        helloworld::{HelloRequest, greeter_client::GreeterClient},
    },
    server::Settings,
};
use tonic::{Code, Request, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest,
};

const WEB: &str = "web-token-1f0c6b2e9d8a7c5b";
const HELLO: &str = "hello-token-77a1c3e5f9b2d4a6";

const PROMETHEUS: &str = "prometheus-token-5e4d3c2b1a0f9e8d";

const TOKENS: &str = r#"[
    {"name": "prometheus", "token": "prometheus-token-5e4d3c2b1a0f9e8d", "allow": ["metrics"]},
    {"name": "web", "token": "web-token-1f0c6b2e9d8a7c5b", "allow": ["fraud_detection.FraudDetectionService"]},
    {"name": "hello", "token": "hello-token-77a1c3e5f9b2d4a6", "allow": ["helloworld.Greeter/SayHello", "calculator.Calculator"]}
]"#;

async fn server_with_auth() -> TestServer {
    TestServer::with_settings(Settings {
        auth: Some(Arc::new(Tokens::parse(TOKENS).unwrap())),
        ..Settings::default()
    })
    .await
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn say_hello(channel: Channel, token: Option<&str>) -> Result<String, tonic::Status> {
    let message = HelloRequest {
        name: "auth".into(),
    };
    let request = match token {
        Some(token) => with_token(message, token),
        None => Request::new(message),
    };
    GreeterClient::new(channel)
        .say_hello(request)
        .await
        .map(|reply| reply.into_inner().message)
}

#[tokio::test]
async fn grpc_calls_need_a_token_with_the_permission() {
    let server = server_with_auth().await;
    let channel = server.channel().await;

    let missing = say_hello(channel.clone(), None).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(missing.message().contains("Bearer"), "{missing:?}");

    let unknown = say_hello(channel.clone(), Some("not-a-token-0000000000"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);

    // A known token, but only for the fraud service.
    let denied = say_hello(channel.clone(), Some(WEB)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied.message().contains("helloworld.Greeter/SayHello"),
        "{denied:?}"
    );
    assert!(!denied.message().contains(WEB), "the token is not echoed");

    assert!(
        say_hello(channel.clone(), Some(HELLO))
            .await
            .unwrap()
            .contains("auth")
    );
    // A method permission allows that method only...
    let again = GreeterClient::new(channel.clone())
        .say_hello_again(with_token(HelloRequest { name: "x".into() }, HELLO))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::PermissionDenied);
    // ...a service permission, every method of the service.
    let sum = CalculatorClient::new(channel.clone())
        .add(with_token(Operands { a: 2.0, b: 3.0 }, HELLO))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sum.value, 5.0);
}

#[tokio::test]
async fn health_and_reflection_stay_open() {
    let server = server_with_auth().await;
    let channel = server.channel().await;
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(health.into_inner().status, 1); // SERVING

    let requests = tokio_stream::iter([ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    }]);
    let mut replies = ServerReflectionClient::new(channel)
        .server_reflection_info(requests)
        .await
        .unwrap()
        .into_inner();
    assert!(replies.message().await.unwrap().is_some());
}

#[tokio::test]
async fn the_rest_gateway_answers_401_and_403_in_json() {
    let server = server_with_auth().await;
    let post = |token: Option<&'static str>| {
        let addr = server.addr;
        async move {
            let header = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = header
                .as_deref()
                .map(|h| vec![("Authorization", h)])
                .unwrap_or_default();
            http1(
                addr,
                "POST",
                "/api/FraudActivity",
                &headers,
                TRANSACTION_JSON.as_bytes(),
            )
            .await
        }
    };

    let missing = post(None).await;
    assert_eq!(missing.status, 401, "{missing:?}");
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"grpc-showcase\"")
    );
    assert_eq!(missing.json()["error"]["status"], "UNAUTHENTICATED");

    let unknown = post(Some("not-a-token-0000000000")).await;
    assert_eq!(unknown.status, 401);

    let denied = post(Some(HELLO)).await;
    assert_eq!(denied.status, 403, "{denied:?}");
    assert_eq!(denied.json()["error"]["status"], "PERMISSION_DENIED");

    let allowed = post(Some(WEB)).await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(allowed.json()["transaction_id"], 42);
}

#[tokio::test]
async fn the_gateway_passes_the_token_to_a_remote_upstream() {
    // The model server requires tokens; the gateway process has auth off and forwards
    // whatever token its client sent.
    let upstream = server_with_auth().await;
    let gateway = TestServer::with_settings(Settings {
        gateway_upstream: Some(format!("http://{}", upstream.addr)),
        ..Settings::default()
    })
    .await;
    let without = http1(
        gateway.addr,
        "POST",
        "/api/FraudActivity",
        &[],
        TRANSACTION_JSON.as_bytes(),
    )
    .await;
    assert_eq!(without.status, 401, "{without:?}");
    let header = format!("Bearer {WEB}");
    let with = http1(
        gateway.addr,
        "POST",
        "/api/FraudActivity",
        &[("Authorization", &header)],
        TRANSACTION_JSON.as_bytes(),
    )
    .await;
    assert_eq!(with.status, 200, "{with:?}");
}

#[tokio::test]
async fn metrics_need_a_token_allowed_metrics() {
    let server = server_with_auth().await;
    let scrape = |token: Option<&'static str>| {
        let addr = server.addr;
        async move {
            let header = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = header
                .as_deref()
                .map(|h| vec![("authorization", h)])
                .unwrap_or_default();
            common::http1(addr, "GET", "/metrics", &headers, b"").await
        }
    };
    let anonymous = scrape(None).await;
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.header("www-authenticate").is_some());
    // A token for services, not for the metrics.
    assert_eq!(scrape(Some(WEB)).await.status, 403);
    let prometheus = scrape(Some(PROMETHEUS)).await;
    assert_eq!(prometheus.status, 200);
    assert!(String::from_utf8_lossy(&prometheus.body).contains("grpc_server_"));
    // And the metrics token calls nothing else.
    let denied = say_hello(server.channel().await, Some(PROMETHEUS))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}
