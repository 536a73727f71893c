//! The Connect protocol on the gRPC port: JSON over plain HTTP for every method, through
//! a real socket, with curl's HTTP/1.1 (tests/common's `http1`), an HTTP/2 client for
//! client and bidirectional streams, and `buf curl`, a Connect client no one here wrote.

mod common;

use std::{process::Command, sync::Arc};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{HttpReply, TestServer, eventually, http1};
use grpc_showcase::{domain::auth::Tokens, server::Settings};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");
const STREAM: (&str, &str) = ("content-type", "application/connect+json");

async fn post(server: &TestServer, path: &str, headers: &[(&str, &str)], body: &str) -> HttpReply {
    http1(server.addr, "POST", path, headers, body.as_bytes()).await
}

/// Envelopes: one flags byte, a 32-bit big-endian length, the payload.
fn envelopes(messages: &[Value]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for message in messages {
        let payload = message.to_string();
        out.put_u8(0);
        out.put_u32(payload.len() as u32);
        out.extend_from_slice(payload.as_bytes());
    }
    out.to_vec()
}

/// The envelopes of a stream's body: (flags, JSON).
fn parse_envelopes(mut body: &[u8]) -> Vec<(u8, Value)> {
    let mut found = Vec::new();
    while body.len() >= 5 {
        let flags = body[0];
        let len = (&body[1..5]).get_u32() as usize;
        found.push((flags, serde_json::from_slice(&body[5..5 + len]).unwrap()));
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "a partial envelope");
    found
}

#[tokio::test]
async fn every_unary_method_answers_json_with_its_metadata() {
    let server = TestServer::start().await;
    let reply = post(
        &server,
        "/helloworld.Greeter/SayHello",
        &[JSON],
        r#"{"name": "Ada"}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json(), json!({"message": "Hello, Ada!"}));

    let reply = post(
        &server,
        "/grpc.examples.echo.Echo/UnaryEcho",
        &[JSON, ("x-echo-id", "7")],
        r#"{"message": "hi"}"#,
    )
    .await;
    assert_eq!(reply.json(), json!({"message": "hi"}));
    assert_eq!(reply.header("x-echo-id"), Some("7"));
    // Trailers travel as headers named trailer-*.
    assert_eq!(reply.header("trailer-x-echo-trailer-id"), Some("7"));

    let reply = post(
        &server,
        "/calculator.Calculator/Add",
        &[JSON],
        r#"{"a": 1.5, "b": 2}"#,
    )
    .await;
    assert_eq!(reply.json()["value"], 3.5);
}

#[tokio::test]
async fn errors_carry_the_connect_code_http_status_and_details() {
    let server = TestServer::start().await;
    let reply = post(
        &server,
        "/calculator.Calculator/Divide",
        &[JSON],
        r#"{"a": 1, "b": 0}"#,
    )
    .await;
    assert_eq!(reply.status, 400);
    let error = reply.json();
    assert_eq!(error["code"], "invalid_argument");
    let detail = &error["details"][0];
    assert_eq!(detail["type"], "google.rpc.BadRequest");
    assert!(detail["value"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(detail["debug"]["fieldViolations"][0]["field"], "b");

    let reply = post(
        &server,
        "/grpc.examples.echo.Echo/UnaryEcho",
        &[JSON, ("x-echo-status", "NOT_FOUND")],
        "{}",
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (404, json!("not_found"))
    );
}

#[tokio::test]
async fn bad_requests_name_the_problem() {
    let server = TestServer::with_settings(Settings {
        max_message_size: 1024,
        ..Settings::default()
    })
    .await;
    let hello = "/helloworld.Greeter/SayHello";
    for (path, body, status, code, says) in [
        (hello, "{", 400, "invalid_argument", "EOF while parsing"),
        (hello, r#"{"nme": "Ada"}"#, 400, "invalid_argument", "'nme'"),
        (
            hello,
            r#"{"name": 5}"#,
            400,
            "invalid_argument",
            "expected a string",
        ),
        (
            hello,
            r#"{"name": "Ada"} x"#,
            400,
            "invalid_argument",
            "trailing characters",
        ),
        (
            "/helloworld.Greeter/Nope",
            "{}",
            501,
            "unimplemented",
            "SayHelloAgain",
        ),
        (
            "/no.Such/Method",
            "{}",
            501,
            "unimplemented",
            "unknown service no.Such; the services are Calculator, ",
        ),
    ] {
        let reply = post(&server, path, &[JSON], body).await;
        let error = reply.json();
        assert_eq!(reply.status, status, "{body}: {error}");
        assert_eq!(error["code"], code, "{body}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{body}: {error}"
        );
    }
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(2000));
    let reply = post(&server, hello, &[JSON], &big).await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (429, json!("resource_exhausted"))
    );
    // A stream's method with a unary content type.
    let reply = post(
        &server,
        "/helloworld.Greeter/SayHelloStreamReply",
        &[JSON],
        "{}",
    )
    .await;
    assert_eq!(reply.status, 415);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("application/connect+json")
    );
}

#[tokio::test]
async fn the_call_goes_through_the_layers() {
    let tokens = r#"[{"name": "t", "token": "connect-token-0123456789", "allow": ["*"]}]"#;
    let server = TestServer::with_settings(Settings {
        auth: Some(Arc::new(Tokens::parse(tokens).unwrap())),
        ..Settings::default()
    })
    .await;
    let echo = "/grpc.examples.echo.Echo/UnaryEcho";
    let reply = post(&server, echo, &[JSON], "{}").await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (401, json!("unauthenticated"))
    );
    let auth = ("authorization", "Bearer connect-token-0123456789");
    // Connect-Timeout-Ms is the call's deadline.
    let reply = post(
        &server,
        echo,
        &[
            JSON,
            auth,
            ("connect-timeout-ms", "100"),
            ("x-echo-delay-ms", "5000"),
        ],
        "{}",
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (504, json!("deadline_exceeded"))
    );
    let reply = post(&server, echo, &[JSON, auth], r#"{"message": "ok"}"#).await;
    assert_eq!(reply.status, 200);
    // Counted like a gRPC call (with auth on, the metrics need a token too).
    let metrics = http1(server.addr, "GET", "/metrics", &[auth], b"").await;
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("grpc_server_handled_total")
                && l.contains("grpc_method=\"UnaryEcho\"")
                && l.contains("grpc_code=\"DeadlineExceeded\"")),
        "{text}"
    );
}

#[tokio::test]
async fn a_server_stream_comes_as_envelopes_over_http1() {
    let server = TestServer::start().await;
    let body = envelopes(&[json!({"message": "tick"})]);
    let headers = [STREAM, ("x-echo-count", "3"), ("x-echo-id", "9")];
    let reply = http1(
        server.addr,
        "POST",
        "/grpc.examples.echo.Echo/ServerStreamingEcho",
        &headers,
        &body,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/connect+json")
    );
    let frames = parse_envelopes(&reply.body);
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert!(
        frames[..3]
            .iter()
            .all(|(flags, m)| *flags == 0 && m == &json!({"message": "tick"}))
    );
    let (flags, end) = &frames[3];
    assert_eq!(*flags, 2);
    assert_eq!(end["metadata"]["x-echo-trailer-id"], json!(["9"]));
    assert!(end.get("error").is_none(), "{end}");

    // An error ends the stream in its last envelope, after the replies, with HTTP 200.
    let headers = [STREAM, ("x-echo-count", "2"), ("x-echo-status", "ABORTED")];
    let reply = http1(
        server.addr,
        "POST",
        "/grpc.examples.echo.Echo/ServerStreamingEcho",
        &headers,
        &body,
    )
    .await;
    assert_eq!(reply.status, 200);
    let frames = parse_envelopes(&reply.body);
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[2].1["error"]["code"], "aborted");
}

#[tokio::test]
async fn client_and_bidirectional_streams_work_over_http2() {
    let server = TestServer::start().await;
    let (client, origin) = server.plain_client();
    let call = |path: &str, messages: &[Value]| {
        let request = http::Request::post(format!("{origin}{}", path.trim_start_matches('/')))
            .header("content-type", "application/connect+json")
            .body(tonic::body::Body::new(Full::new(Bytes::from(envelopes(
                messages,
            )))))
            .unwrap();
        client.request(request)
    };
    let numbers = [3, 1, 4].map(|n| json!({"value": n}));
    let response = call("/calculator.Calculator/RunningMax", &numbers)
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let maxima: Vec<Value> = parse_envelopes(&body)
        .into_iter()
        .filter(|(flags, _)| *flags == 0)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(maxima.len(), 3, "{maxima:?}");
    let response = call("/calculator.Calculator/Average", &numbers)
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let frames = parse_envelopes(&body);
    assert_eq!(frames[0].1["count"], json!("3"), "{frames:?}");
    assert_eq!(frames.last().unwrap().0, 2);
}

#[tokio::test]
async fn a_stream_body_that_is_not_whole_envelopes_is_refused() {
    let server = TestServer::start().await;
    let path = "/calculator.Calculator/Average";
    let end_error = |reply: &HttpReply| {
        let frames = parse_envelopes(&reply.body);
        let (flags, end) = frames.last().unwrap().clone();
        assert_eq!(flags, 2, "{frames:?}");
        end["error"].clone()
    };
    // One whole message, then a cut one: the call fails rather than answer for half.
    let mut body = envelopes(&[json!({"value": 3}), json!({"value": 5})]);
    body.truncate(body.len() - 3);
    let reply = http1(server.addr, "POST", path, &[STREAM], &body).await;
    let error = end_error(&reply);
    assert_eq!(error["code"], "invalid_argument", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("5-byte prefix"),
        "{error}"
    );

    // Text where the prefix belongs announces gigabytes: refused at once, not buffered.
    let reply = http1(server.addr, "POST", path, &[STREAM], br#"\x00{"value": 1}"#).await;
    let error = end_error(&reply);
    assert_eq!(error["code"], "resource_exhausted", "{error}");
}

/// `buf curl` (npm's @bufbuild/buf), where installed: `.ci/run` installs it and sets
/// GRPC_SHOWCASE_BUF to its path.
fn buf() -> Option<String> {
    match std::env::var("GRPC_SHOWCASE_BUF") {
        Ok(path) => Some(path),
        Err(_) => {
            let found = Command::new("buf").arg("--version").output().is_ok();
            assert!(
                found || std::env::var_os("GRPC_SHOWCASE_REQUIRE_BUF").is_none(),
                "buf is required here but not installed"
            );
            found.then(|| "buf".to_owned())
        }
    }
}

/// A request for the unary methods where `{}` would only test the error path.
fn example(method: &str) -> &'static str {
    match method {
        "helloworld.Greeter/SayHello" | "helloworld.Greeter/SayHelloAgain" | "Greeter/SayHello" => {
            r#"{"name": "Ada"}"#
        }
        "Calculator/SquareRoot" => r#"{"value": 16}"#,
        "Calculator/Divide" => r#"{"value1": 7.5, "value2": 2.5}"#,
        "calculator.Calculator/SquareRoot" => r#"{"value": 2}"#,
        "calculator.Calculator/Divide" => r#"{"a": 7.5, "b": 2.5}"#,
        "model.ModelInference/Predict" => r#"{"modelId": "iris", "inputs": [5.1, 3.5, 1.4, 0.2]}"#,
        "model.ModelInference/GetModelMetadata" => r#"{"modelId": "iris"}"#,
        "inference.GRPCInferenceService/ModelReady"
        | "inference.GRPCInferenceService/ModelMetadata" => r#"{"name": "iris"}"#,
        "inference.GRPCInferenceService/ModelInfer" => {
            r#"{"modelName": "iris", "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "contents": {"fp32Contents": [5.1, 3.5, 1.4, 0.2]}}]}"#
        }
        "fraud_detection.FraudDetectionService/PredictFraud" => {
            r#"{"transactionId": 1, "amount": 10, "time": 1700000000, "ageOfAccount": 300, "numberOfTransactions": 2}"#
        }
        _ => "{}",
    }
}

#[tokio::test]
async fn buf_curl_calls_every_unary_method_and_a_server_stream() {
    let Some(buf) = buf() else { return };
    let server = TestServer::start().await;
    let base = format!("http://{}", server.addr);
    let mut pool = prost_reflect::DescriptorPool::new();
    for set in [
        grpc_showcase::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
    ] {
        pool.decode_file_descriptor_set(set).unwrap();
    }
    let mut called = 0;
    for service in pool.services() {
        for method in service.methods() {
            if method.is_client_streaming() || method.is_server_streaming() {
                continue;
            }
            let path = format!("{}/{}", service.full_name(), method.name());
            let buf = buf.clone();
            let url = format!("{base}/{path}");
            let data = example(&path).to_owned();
            let output = tokio::task::spawn_blocking(move || {
                Command::new(buf)
                    .args([
                        "curl",
                        "--protocol",
                        "connect",
                        "--http2-prior-knowledge",
                        "-d",
                        &data,
                        &url,
                    ])
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            let out = String::from_utf8_lossy(&output.stdout);
            let err = String::from_utf8_lossy(&output.stderr);
            // Success prints the reply; an error, Connect's error JSON. Either way a
            // well-formed Connect exchange, with no transport or encoding failure.
            let reply: Value =
                serde_json::from_str(if out.trim().is_empty() { &err } else { &out })
                    .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {out}{err}"));
            if !output.status.success() {
                let code = reply["code"].as_str().unwrap_or_default();
                assert!(
                    !matches!(code, "unknown" | "internal" | ""),
                    "{path}: {reply}"
                );
            } else if example(&path) != "{}" {
                assert!(
                    reply.as_object().is_some_and(|o| !o.is_empty()),
                    "{path}: {reply}"
                );
            }
            called += 1;
        }
    }
    // Every service's: 27 of our packaged services' (8 of them the Open Inference
    // Protocol's), 6 of the seeds' package-less ones, and health's Check.
    assert_eq!(called, 34);
    let buf2 = buf.clone();
    let url = format!("{base}/grpc.examples.echo.Echo/ServerStreamingEcho");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(buf2)
            .args([
                "curl",
                "--protocol",
                "connect",
                "--http2-prior-knowledge",
                "-H",
                "x-echo-count: 3",
                "-d",
                r#"{"message": "tick"}"#,
                &url,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success());
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(out.matches("\"tick\"").count(), 3, "{out}");
    eventually("nothing left open", || server.streams.count() == 0).await;
}
