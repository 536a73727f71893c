//! A call to a service or method this server does not host gets UNIMPLEMENTED naming
//! what was asked for and the closest names that are served, over gRPC, Connect and
//! grpc-web alike, through real clients over a real socket.

mod common;

use common::{TestServer, http1};
use grpc_showcase::proto::helloworld::{HelloReply, HelloRequest};
use http::uri::PathAndQuery;
use tonic::{Code, Status, client::Grpc};

const GRETER: &str = "unknown service helloworld.Greter; did you mean helloworld.Greeter?";
const SAYHELO: &str = "unknown method SayHelo of helloworld.Greeter; its methods are SayHello, \
                       SayHelloAgain, SayHelloStreamReply, SayHelloBidiStream";

/// A unary gRPC call of a HelloRequest to `path`, with tonic's client.
async fn call(server: &TestServer, path: &'static str) -> Result<HelloReply, Status> {
    let mut grpc = Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(HelloRequest { name: "Ada".into() }),
        PathAndQuery::from_static(path),
        tonic_prost::ProstCodec::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn grpc_names_the_closest_service_and_the_methods() {
    let server = TestServer::start().await;
    let status = call(&server, "/helloworld.Greter/SayHello")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(status.message(), GRETER);
    let status = call(&server, "/helloworld.Greeter/SayHelo")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(status.message(), SAYHELO);
    // A name with nothing close gets the list of services, the seeds' among them.
    let status = call(&server, "/zzz.Qqq/X").await.unwrap_err();
    assert!(
        status
            .message()
            .starts_with("unknown service zzz.Qqq; the services are Calculator, "),
        "{status:?}"
    );
    assert!(
        status.message().contains("helloworld.Greeter"),
        "{status:?}"
    );
    // The hosted methods still answer.
    let reply = call(&server, "/helloworld.Greeter/SayHello").await.unwrap();
    assert_eq!(reply.message, "Hello, Ada!");
}

#[tokio::test]
async fn what_the_caller_sent_comes_back_bounded_and_escaped() {
    let server = TestServer::start().await;
    let long: &'static str = Box::leak(format!("/{}/SayHello", "G".repeat(5_000)).into_boxed_str());
    let status = call(&server, long).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().len() < 1_000,
        "{} bytes",
        status.message().len()
    );
    assert!(status.message().contains("(5000 characters)"), "{status:?}");
    // A method name with a quote and a percent sign is quoted and escaped.
    let status = call(&server, "/helloworld.Greeter/Say%22Hi")
        .await
        .unwrap_err();
    assert!(
        status
            .message()
            .starts_with("unknown method \"Say%22Hi\" of helloworld.Greeter"),
        "{status:?}"
    );
}

#[tokio::test]
async fn connect_gives_the_same_message() {
    let server = TestServer::start().await;
    for (path, message) in [
        ("/helloworld.Greter/SayHello", GRETER),
        ("/helloworld.Greeter/SayHelo", SAYHELO),
    ] {
        let reply = http1(
            server.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            br#"{"name": "Ada"}"#,
        )
        .await;
        let body = reply.json();
        assert_eq!(body["code"], "unimplemented", "{body}");
        assert_eq!(body["message"], message, "{body}");
    }
}

/// `grpc-message` as the gRPC spec writes it: percent-encoded UTF-8.
fn percent_decoded(value: &str) -> String {
    let mut bytes = Vec::new();
    let mut rest = value.as_bytes();
    while let [first, tail @ ..] = rest {
        if let (b'%', [high, low, tail @ ..]) = (first, tail) {
            let hex = std::str::from_utf8(&[*high, *low]).unwrap().to_owned();
            bytes.push(u8::from_str_radix(&hex, 16).unwrap());
            rest = tail;
        } else {
            bytes.push(*first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn grpc_web_gives_the_same_message() {
    let server = TestServer::start().await;
    for (path, message) in [
        ("/helloworld.Greter/SayHello", GRETER),
        ("/helloworld.Greeter/SayHelo", SAYHELO),
    ] {
        // An empty HelloRequest as one grpc-web frame: flag 0, length 0.
        let reply = http1(
            server.addr,
            "POST",
            path,
            &[
                ("Content-Type", "application/grpc-web+proto"),
                ("X-Grpc-Web", "1"),
            ],
            &[0, 0, 0, 0, 0],
        )
        .await;
        // A trailers-only answer: grpc-web carries its status in the headers.
        assert_eq!(reply.header("grpc-status"), Some("12"), "{reply:?}");
        let sent = reply.header("grpc-message").expect("a grpc-message");
        assert_eq!(percent_decoded(sent), message, "{reply:?}");
    }
}
