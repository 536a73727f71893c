//! The playground's files and schema over a real socket: what the page is made of and
//! when it is served. tests/browser.rs drives the page itself in Chromium.

mod common;

use std::sync::Arc;

use common::{TestServer, http1};
use grpc_showcase::{
    domain::auth::Tokens,
    server::{PlaygroundMode, Settings},
};
use serde_json::Value;

async fn get(server: &TestServer, path: &str) -> common::HttpReply {
    http1(server.addr, "GET", path, &[], b"").await
}

#[tokio::test]
async fn the_page_and_every_file_it_loads_are_served_with_a_strict_policy() {
    let server = TestServer::start().await;
    let page = get(&server, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let html = String::from_utf8(page.body).unwrap();

    // Every file the page and its modules name is there, with its type.
    let mut files: Vec<String> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/playground/"))
        .map(str::to_owned)
        .collect();
    let app = get(&server, "/playground/app.js").await;
    let app = String::from_utf8(app.body).unwrap();
    files.extend(
        app.split('"')
            .filter(|s| s.starts_with("./") && s.ends_with(".js"))
            .map(|s| s.replacen("./", "/playground/", 1)),
    );
    assert!(files.len() >= 5, "{files:?}");
    for file in &files {
        let reply = get(&server, file).await;
        assert_eq!(reply.status, 200, "{file}");
        let expected = if file.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(reply.header("content-type"), Some(expected), "{file}");
        assert!(!reply.body.is_empty(), "{file} is empty");
    }

    // HEAD gives the length and no body.
    let head = http1(server.addr, "HEAD", "/", &[], b"").await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(html.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn the_schema_has_every_service_with_comments_and_examples() {
    let server = TestServer::start().await;
    let schema = get(&server, "/playground/schema.json").await.json();
    assert_eq!(schema["auth"], false);
    let services: Vec<&str> = schema["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in [
        "helloworld.Greeter",
        "calculator.Calculator",
        "grpc.examples.echo.Echo",
        "model.ModelInference",
        "fraud_detection.FraudDetectionService",
        "feedback.FeedbackService",
        "video.VideoProcessing",
        "grpc.testing.TestService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(services.contains(&name), "{name} missing from {services:?}");
    }
    let divide = schema["services"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["methods"].as_array().unwrap())
        .find(|m| m["path"] == "/calculator.Calculator/Divide")
        .unwrap();
    assert_eq!(divide["kind"], "unary");
    assert!(
        divide["comment"].as_str().unwrap().contains("a / b"),
        "{divide}"
    );
    let fields = &schema["messages"]["calculator.Operands"]["fields"];
    assert_eq!(fields[1]["name"], "b");
    assert!(!fields[1]["comment"].as_str().unwrap().is_empty());
    let encoding = &schema["enums"]["video.Encoding"]["values"];
    assert_eq!(encoding[1]["name"], "ENCODING_JPEG");
    assert_eq!(encoding[1]["number"], 1);
}

/// Every unary method's example, sent as the page sends it, is a valid request: the
/// server parses it, and the methods with curated examples answer OK.
#[tokio::test]
async fn every_unary_example_is_a_request_the_server_accepts() {
    let server = TestServer::start().await;
    let schema = get(&server, "/playground/schema.json").await.json();
    let mut called = 0;
    for method in schema["services"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["methods"].as_array().unwrap())
        .filter(|m| m["kind"] == "unary")
    {
        let path = method["path"].as_str().unwrap();
        let example = method["example"].as_str().unwrap();
        let _: Value = serde_json::from_str(example).unwrap();
        let headers = [("content-type", "application/json")];
        let reply = http1(server.addr, "POST", path, &headers, example.as_bytes()).await;
        called += 1;
        if path.contains("Unimplemented") {
            assert_eq!(reply.json()["code"], "unimplemented", "{path}");
            continue;
        }
        assert_eq!(
            reply.status,
            200,
            "{path} {example}: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    assert!(called >= 20, "{called}");
}

#[tokio::test]
async fn off_serves_no_page_and_auth_offers_a_token_field() {
    let server = TestServer::with_settings(Settings {
        playground: PlaygroundMode::Off,
        ..Settings::default()
    })
    .await;
    assert_eq!(get(&server, "/").await.status, 404);
    assert_eq!(get(&server, "/playground/schema.json").await.status, 404);

    let tokens = r#"[{"name": "page", "token": "playground-token-0123456789", "allow": ["*"]}]"#;
    let server = TestServer::with_settings(Settings {
        auth: Some(Arc::new(Tokens::parse(tokens).unwrap())),
        ..Settings::default()
    })
    .await;
    // The page itself needs no token: it is where the token is typed.
    assert_eq!(get(&server, "/").await.status, 200);
    let schema = get(&server, "/playground/schema.json").await.json();
    assert_eq!(schema["auth"], true);
}
