//! Prometheus metrics at GET /metrics, scraped over a real socket after real calls.

mod common;

use std::collections::BTreeMap;

use common::{TestServer, eventually};
use grpc_showcase::proto::helloworld::{HelloRequest, greeter_client::GreeterClient};

/// GET /metrics over HTTP/1.1, as Prometheus scrapes: the response, and its body as text.
async fn scrape(server: &TestServer) -> (common::HttpReply, String) {
    let reply = common::http1(server.addr, "GET", "/metrics", &[], b"").await;
    let text = String::from_utf8(reply.body.clone()).unwrap();
    (reply, text)
}

/// The samples of `name` as (labels, value), labels as `k="v"` pairs sorted.
fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let labels = labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap();
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            Some((labels, value.parse().unwrap()))
        })
        .collect()
}

/// The value of `name` for the sample whose labels include all of `want`.
fn value(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples(text, name)
        .into_iter()
        .find(|(labels, _)| {
            want.iter()
                .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, value)| value)
}

#[tokio::test]
async fn counts_calls_by_method_and_status_code() {
    let server = TestServer::start().await;
    let mut greeter = GreeterClient::new(server.channel().await);
    for name in ["Ada", "Grace", "Barbara"] {
        greeter
            .say_hello(HelloRequest { name: name.into() })
            .await
            .unwrap();
    }
    let status = greeter
        .say_hello(HelloRequest { name: "".into() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    // A server stream, read to its end.
    let mut replies = greeter
        .say_hello_stream_reply(HelloRequest { name: "Ada".into() })
        .await
        .unwrap()
        .into_inner();
    while replies.message().await.unwrap().is_some() {}

    let (reply, text) = scrape(&server).await;
    assert_eq!(
        (reply.version.as_str(), reply.status),
        ("HTTP/1.1", 200),
        "{reply:?}"
    );
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.contains("text/plain; version=0.0.4"),
        "{reply:?}"
    );
    let say_hello = [
        ("grpc_service", "helloworld.Greeter"),
        ("grpc_method", "SayHello"),
        ("grpc_type", "unary"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut labels = say_hello.to_vec();
        labels.push(extra);
        labels
    };
    assert_eq!(
        value(&text, "grpc_server_started_total", &say_hello),
        Some(4.0)
    );
    assert_eq!(
        value(
            &text,
            "grpc_server_handled_total",
            &with(("grpc_code", "OK"))
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "grpc_server_handled_total",
            &with(("grpc_code", "InvalidArgument"))
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "grpc_server_handling_seconds_count", &say_hello),
        Some(4.0)
    );
    assert_eq!(
        value(
            &text,
            "grpc_server_handling_seconds_bucket",
            &with(("le", "+Inf"))
        ),
        Some(4.0)
    );
    assert_eq!(value(&text, "grpc_server_in_flight", &say_hello), Some(0.0));
    assert_eq!(
        value(
            &text,
            "grpc_server_handled_total",
            &[
                ("grpc_method", "SayHelloStreamReply"),
                ("grpc_type", "server_stream"),
                ("grpc_code", "OK"),
            ]
        ),
        Some(1.0)
    );
    assert!(text.contains("# HELP grpc_server_handled_total"), "{text}");
}

#[tokio::test]
async fn shows_calls_in_flight_and_open_streams() {
    let server = TestServer::start().await;
    let mut greeter = GreeterClient::new(server.channel().await);
    // A server stream (one greeting every 200 ms), left open.
    let mut replies = greeter
        .say_hello_stream_reply(HelloRequest { name: "Ada".into() })
        .await
        .unwrap()
        .into_inner();
    replies.message().await.unwrap().unwrap();
    let (_, text) = scrape(&server).await;
    let method = [("grpc_method", "SayHelloStreamReply")];
    assert_eq!(value(&text, "grpc_server_in_flight", &method), Some(1.0));
    assert_eq!(value(&text, "grpc_server_open_streams", &[]), Some(1.0));
    // The client cancels: the call is handled as Canceled.
    drop(replies);
    drop(greeter);
    eventually("the stream closes", || server.streams.count() == 0).await;
    let (_, text) = scrape(&server).await;
    assert_eq!(value(&text, "grpc_server_in_flight", &method), Some(0.0));
    assert_eq!(value(&text, "grpc_server_open_streams", &[]), Some(0.0));
    let mut canceled = method.to_vec();
    canceled.push(("grpc_code", "Canceled"));
    assert_eq!(
        value(&text, "grpc_server_handled_total", &canceled),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn counts_the_rest_gateways_requests_by_status() {
    let server = TestServer::start().await;
    let post = |body: &'static str| {
        common::http1(
            server.addr,
            "POST",
            "/api/FraudActivity",
            &[],
            body.as_bytes(),
        )
    };
    assert_eq!(post(common::TRANSACTION_JSON).await.status, 200);
    assert_eq!(post(common::TRANSACTION_JSON).await.status, 200);
    assert_eq!(post("{}").await.status, 400);
    assert_eq!(
        common::http1(server.addr, "GET", "/api/Other", &[], b"")
            .await
            .status,
        404
    );

    let (_, text) = scrape(&server).await;
    let fraud = ("handler", "/api/FraudActivity");
    let count = |code| {
        value(
            &text,
            "http_requests_total",
            &[fraud, ("method", "POST"), ("code", code)],
        )
    };
    assert_eq!(count("200"), Some(2.0), "{text}");
    assert_eq!(count("400"), Some(1.0));
    assert_eq!(
        value(
            &text,
            "http_requests_total",
            &[("handler", "unknown"), ("code", "404")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "http_request_duration_seconds_count", &[fraud]),
        Some(3.0)
    );
    // The gateway's two successful calls reached the fraud service as gRPC calls (the
    // one with a bad body never left the gateway).
    assert_eq!(
        value(
            &text,
            "grpc_server_handled_total",
            &[("grpc_method", "PredictFraud"), ("grpc_code", "OK")]
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn made_up_paths_share_one_unknown_label() {
    let server = TestServer::start().await;
    let (client, origin) = server.plain_client();
    for path in ["/no.Such/Method", "/another.Made/Up", "/x.Y/Z"] {
        let request = http::Request::post(format!("{origin}{}", &path[1..]))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(tonic::body::Body::empty())
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.headers()["grpc-status"], "12"); // UNIMPLEMENTED
    }
    let (_, text) = scrape(&server).await;
    let unknown = [("grpc_service", "unknown"), ("grpc_method", "unknown")];
    assert_eq!(
        value(&text, "grpc_server_started_total", &unknown),
        Some(3.0),
        "{text}"
    );
    assert!(!text.contains("no.Such"), "{text}");
}
