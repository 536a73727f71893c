//! Streams over a WebSocket, as a browser opens them: one JSON message per text frame
//! each way, the status in the last frame, an empty text frame from the client as the
//! half-close.

mod common;

use std::sync::Arc;

use common::TestServer;
use futures::{SinkExt, StreamExt};
use grpc_showcase::{domain::auth::Tokens, server::Settings};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{self, Message, client::IntoClientRequest},
};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(server: &TestServer, path_and_query: &str) -> Socket {
    let url = format!("ws://{}{path_and_query}", server.addr);
    connect_async(url).await.expect("the upgrade succeeds").0
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next text frame, as JSON.
async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await.expect("a frame").unwrap() {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(_) => panic!("closed before the frame"),
            _ => continue,
        }
    }
}

/// The next reply or end frame, after the headers frame if one comes first.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = next_frame(socket).await;
        if frame.get("headers").is_none() {
            return frame;
        }
    }
}

#[tokio::test]
async fn a_bidirectional_stream_goes_message_by_message() {
    let server = TestServer::start().await;
    let mut socket = open(&server, "/calculator.Calculator/RunningMax").await;
    for (number, max) in [(3, 3.0), (1, 3.0), (4, 4.0)] {
        send(&mut socket, json!({ "value": number })).await;
        // Each reply arrives before the next message is sent: the stream is live.
        assert_eq!(next(&mut socket).await, json!({"message": {"value": max}}));
    }
    // The half-close: the end frame still comes.
    socket.send(Message::text("")).await.unwrap();
    let end = next(&mut socket).await;
    assert_eq!(end["end"]["code"], "ok", "{end}");
}

#[tokio::test]
async fn a_client_stream_answers_after_the_half_close() {
    let server = TestServer::start().await;
    let mut socket = open(&server, "/calculator.Calculator/Average").await;
    for number in [2, 4, 9] {
        send(&mut socket, json!({ "value": number })).await;
    }
    socket.send(Message::text("")).await.unwrap();
    let reply = next(&mut socket).await;
    assert_eq!(reply["message"]["count"], "3", "{reply}");
    assert_eq!(reply["message"]["mean"], 5.0, "{reply}");
    assert_eq!(next(&mut socket).await["end"]["code"], "ok");
}

#[tokio::test]
async fn errors_end_the_stream_with_code_message_and_details() {
    let server = TestServer::start().await;
    let mut socket = open(&server, "/calculator.Calculator/Divide").await;
    send(&mut socket, json!({"a": 1, "b": 0})).await;
    let end = next(&mut socket).await["end"].clone();
    assert_eq!(end["code"], "invalid_argument", "{end}");
    assert_eq!(
        end["details"][0]["debug"]["fieldViolations"][0]["field"],
        "b"
    );

    let mut socket = open(&server, "/calculator.Calculator/RunningMax").await;
    socket.send(Message::text("{not json")).await.unwrap();
    let end = next(&mut socket).await["end"].clone();
    assert_eq!(end["code"], "invalid_argument", "{end}");
    assert!(
        end["message"]
            .as_str()
            .unwrap()
            .contains("calculator.Number"),
        "{end}"
    );
}

#[tokio::test]
async fn the_query_stands_in_for_headers_a_browser_cannot_set() {
    let tokens = r#"[{"name": "page", "token": "websocket-token-0123456789", "allow": ["*"]}]"#;
    let server = TestServer::with_settings(Settings {
        auth: Some(Arc::new(Tokens::parse(tokens).unwrap())),
        ..Settings::default()
    })
    .await;
    let mut socket = open(
        &server,
        "/grpc.examples.echo.Echo/BidirectionalStreamingEcho",
    )
    .await;
    send(&mut socket, json!({"message": "hi"})).await;
    assert_eq!(next(&mut socket).await["end"]["code"], "unauthenticated");

    let path =
        "/grpc.examples.echo.Echo/BidirectionalStreamingEcho?token=websocket-token-0123456789";
    let mut socket = open(&server, path).await;
    send(&mut socket, json!({"message": "hi"})).await;
    assert_eq!(
        next(&mut socket).await,
        json!({"message": {"message": "hi"}})
    );

    // A deadline, and metadata, from the query.
    let mut socket = open(
        &server,
        &format!("{path}&timeout_ms=200&x-echo-delay-ms=5000"),
    )
    .await;
    send(&mut socket, json!({"message": "slow"})).await;
    assert_eq!(next(&mut socket).await["end"]["code"], "deadline_exceeded");

    let mut socket = open(&server, &format!("{path}&x-echo-note=from%20the%20query")).await;
    send(&mut socket, json!({"message": "hi"})).await;
    let headers = next_frame(&mut socket).await;
    assert_eq!(
        headers["headers"]["x-echo-note"],
        json!(["from the query"]),
        "{headers}"
    );

    // Only `x-` names become metadata; a bad one is refused before the upgrade.
    let bad = format!("ws://{}{path}&x-bad%20name=1", server.addr);
    match connect_async(bad).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("expected a refused upgrade, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_method_refuses_the_upgrade() {
    let server = TestServer::start().await;
    let url = format!("ws://{}/calculator.Calculator/Nope", server.addr);
    let err = connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("501"), "{err}");
}

#[tokio::test]
async fn a_close_from_the_client_ends_the_call() {
    let server = TestServer::start().await;
    let url = format!(
        "ws://{}/grpc.examples.echo.Echo/ServerStreamingEcho",
        server.addr
    );
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("x-echo-count", "1000".parse().unwrap());
    headers.insert("x-echo-interval-ms", "20".parse().unwrap());
    let (mut socket, _) = connect_async(request).await.unwrap();
    send(&mut socket, json!({"message": "tick"})).await;
    assert_eq!(
        next(&mut socket).await,
        json!({"message": {"message": "tick"}})
    );
    assert_eq!(server.streams.count(), 1);
    socket.close(None).await.unwrap();
    common::eventually("the stream's handler stops", || server.streams.count() == 0).await;
}

#[tokio::test]
async fn only_pages_of_allowed_origins_may_open_a_socket() {
    let server = TestServer::with_settings(Settings {
        cors_allowed_origins: vec!["https://lessons.example.com".into()],
        ..Settings::default()
    })
    .await;
    let path = "/helloworld.Greeter/SayHello";
    let with_origin = |origin: &str| {
        let mut request = format!("ws://{}{path}", server.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    // Another web site's page: refused before the upgrade.
    let err = connect_async(with_origin("https://evil.example.org"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    // The server's own pages, and an allowed origin, open it.
    let own = format!("http://{}", server.addr);
    for origin in [own.as_str(), "https://lessons.example.com"] {
        let (mut socket, _) = connect_async(with_origin(origin)).await.unwrap();
        send(&mut socket, json!({"name": "Ada"})).await;
        assert_eq!(
            next(&mut socket).await,
            json!({"message": {"message": "Hello, Ada!"}})
        );
    }
}

#[tokio::test]
async fn the_response_headers_come_first_and_the_trailers_last() {
    let server = TestServer::start().await;
    let mut request = format!(
        "ws://{}/grpc.examples.echo.Echo/BidirectionalStreamingEcho",
        server.addr
    )
    .into_client_request()
    .unwrap();
    request
        .headers_mut()
        .insert("x-echo-note", "done".parse().unwrap());
    let (mut socket, _) = connect_async(request).await.unwrap();
    send(&mut socket, json!({"message": "hi"})).await;
    let headers = next_frame(&mut socket).await;
    assert!(
        headers["headers"]["x-echo-instance"][0].is_string(),
        "{headers}"
    );
    assert_eq!(
        headers["headers"]["x-echo-note"],
        json!(["done"]),
        "{headers}"
    );
    assert_eq!(
        next_frame(&mut socket).await,
        json!({"message": {"message": "hi"}})
    );
    socket.send(Message::text("")).await.unwrap();
    let end = next_frame(&mut socket).await;
    assert_eq!(end["end"]["code"], "ok", "{end}");
    assert_eq!(
        end["end"]["metadata"]["x-echo-trailer-note"],
        json!(["done"]),
        "{end}"
    );
}
