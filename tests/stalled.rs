//! Clients that stall cannot hold connections: a connection that sends nothing is closed
//! after `--handshake-timeout`, and a gateway or Connect request whose body does not
//! arrive in full within `--request-body-timeout` is ended (408; `deadline_exceeded`).

mod common;

use std::time::Duration;

use common::TestServer;
use grpc_showcase::server::Settings;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn server() -> TestServer {
    TestServer::with_settings(Settings {
        handshake_timeout: Duration::from_secs(1),
        request_body_timeout: Duration::from_secs(1),
        ..Settings::default()
    })
    .await
}

/// Everything the server sends until it closes the connection (bounded by 20 s, far
/// over the 1 s timeouts: a server that never closes fails the test).
async fn read_until_closed(socket: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let server = server().await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(read_until_closed(&mut silent).await, "");
}

#[tokio::test]
async fn a_body_that_stalls_ends_the_request() {
    let server = server().await;
    // Content-Length 200, 10 bytes sent, then nothing.
    for (path, expected) in [
        ("/api/FraudActivity", "HTTP/1.1 408"),
        ("/helloworld.Greeter/SayHello", "deadline_exceeded"),
    ] {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 200\r\n\r\n{{\"name\": 1"
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut socket).await;
        assert!(answer.contains(expected), "{path}: {answer}");
    }
    // A chunked body that never ends.
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(
            b"POST /api/FraudActivity HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\n5\r\n{\"amo\r\n",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("did not arrive in full within 1s"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_http2_connection_with_no_call_gets_goaway_after_the_idle_timeout() {
    let server = TestServer::with_settings(Settings {
        idle_timeout: Duration::from_secs(1),
        ..Settings::default()
    })
    .await;
    let socket = TcpStream::connect(server.addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(socket).await.unwrap();
    let connection = tokio::spawn(connection);
    // One call, answered; then nothing.
    let request = http::Request::post(format!(
        "http://{}/grpc.health.v1.Health/Check",
        server.addr
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(())
    .unwrap();
    let (response, mut body) = client.send_request(request, false).unwrap();
    body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .unwrap();
    let mut response = response.await.unwrap().into_body();
    while response.data().await.is_some() {}
    let status = response.trailers().await.unwrap().unwrap();
    assert_eq!(status["grpc-status"], "0");
    // The server ends the idle connection (GOAWAY, then close): the client's connection
    // task completes.
    tokio::time::timeout(Duration::from_secs(20), connection)
        .await
        .expect("the idle connection was closed")
        .unwrap()
        .ok();
}
