//! helloworld.Greeter through a real client over a real socket.

mod common;

use std::time::Duration;

use common::{TestServer, bad_request_field};
use grpc_showcase::{
    domain::greeter::GREETINGS,
    proto::helloworld::{HelloRequest, greeter_client::GreeterClient},
    server::Settings,
};
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::Code;

fn hello(name: &str) -> HelloRequest {
    HelloRequest {
        name: name.to_owned(),
    }
}

#[tokio::test]
async fn say_hello_answers_the_quickstart_greeting() {
    let server = TestServer::start().await;
    let mut client = GreeterClient::new(server.channel().await);
    let reply = client.say_hello(hello("World")).await.unwrap().into_inner();
    assert_eq!(reply.message, "Hello, World!");
    let reply = client.say_hello_again(hello("World")).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello again, World!");
}

#[tokio::test]
async fn empty_or_long_names_are_invalid_arguments_naming_the_field() {
    let server = TestServer::start().await;
    let mut client = GreeterClient::new(server.channel().await);
    for name in [String::new(), "x".repeat(257)] {
        let status = client.say_hello(hello(&name)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(bad_request_field(&status), "name");
        let status = client
            .say_hello_stream_reply(hello(&name))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
}

#[tokio::test]
async fn stream_reply_sends_every_greeting_in_order() {
    let server = TestServer::with_settings(Settings {
        greeting_interval: Duration::from_millis(1),
        ..Settings::default()
    })
    .await;
    let mut client = GreeterClient::new(server.channel().await);
    let replies: Vec<String> = client
        .say_hello_stream_reply(hello("Ada"))
        .await
        .unwrap()
        .into_inner()
        .map(|reply| reply.unwrap().message)
        .collect()
        .await;
    let expected: Vec<String> = GREETINGS.iter().map(|w| format!("{w}, Ada!")).collect();
    assert_eq!(replies, expected);
}

#[tokio::test]
async fn bidi_stream_answers_each_name_as_it_arrives() {
    let server = TestServer::start().await;
    let mut client = GreeterClient::new(server.channel().await);
    let (names, outbound) = mpsc::channel(1);
    let mut replies = client
        .say_hello_bidi_stream(ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    // Each reply is read before the next name is sent: a server that waited for the
    // end of the client's stream would never answer.
    for name in ["Ada", "Grace", "Barbara"] {
        names.send(hello(name)).await.unwrap();
        let reply = replies.message().await.unwrap().expect("a reply");
        assert_eq!(reply.message, format!("Hello, {name}!"));
    }
    drop(names);
    assert!(replies.message().await.unwrap().is_none(), "stream ends");
}

#[tokio::test]
async fn bidi_stream_keeps_replies_sent_before_a_bad_name() {
    let server = TestServer::start().await;
    let mut client = GreeterClient::new(server.channel().await);
    let requests = tokio_stream::iter([hello("Ada"), hello(""), hello("never read")]);
    let mut replies = client
        .say_hello_bidi_stream(requests)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        replies.message().await.unwrap().unwrap().message,
        "Hello, Ada!"
    );
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_request_field(&status), "name");
}
