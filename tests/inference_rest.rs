//! The Open Inference Protocol's REST paths (`/v2/...`) over HTTP/1.1 on the gRPC port,
//! as curl sends them: health, metadata, inference in JSON and with Triton's binary data
//! extension against the onnxruntime references, the errors' statuses and bodies, auth
//! and metrics.

mod common;

use std::{fs, path::Path, sync::Arc};

use common::{TestServer, http1};
use grpc_showcase::{domain::auth::Tokens, server::Settings};
use serde_json::{Value, json};

fn reference(id: &str) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(id)
        .join("reference.json");
    let reference: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let rows = |key: &str| serde_json::from_value(reference[key].clone()).unwrap();
    (rows("inputs"), rows("outputs"))
}

fn assert_close(got: &[f64], want: &[Vec<f64>], what: &str) {
    let want: Vec<f64> = want.iter().flatten().copied().collect();
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5, "{what}: {g} vs {w}");
    }
}

#[tokio::test]
async fn health_and_metadata_answer_as_the_protocol_says() {
    let server = TestServer::start().await;
    let get = |path: &'static str| http1(server.addr, "GET", path, &[], b"");
    assert_eq!(get("/v2/health/live").await.status, 200);
    assert_eq!(get("/v2/health/ready").await.status, 200);
    assert_eq!(get("/v2/models/iris/ready").await.status, 200);
    assert_eq!(get("/v2/models/iris/versions/1/ready").await.status, 200);
    assert_eq!(get("/v2").await.json()["name"], "grpc-showcase");
    let iris = get("/v2/models/iris").await;
    assert_eq!(iris.header("content-type"), Some("application/json"));
    assert_eq!(
        iris.json(),
        json!({"name": "iris", "versions": ["1"], "platform": "onnx_onnxv1",
               "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
               "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]})
    );
    for (path, status, words) in [
        ("/v2/models/tulip", 404, "no model \"tulip\""),
        ("/v2/models/iris/versions/2", 404, "no version \"2\""),
        ("/v2/models/tulip/ready", 404, "tulip"),
        ("/v2/nowhere", 404, "no such path"),
    ] {
        let reply = get(path).await;
        assert_eq!(reply.status, status, "{path}");
        let message = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains(words), "{path}: {message}");
    }
    let wrong = http1(server.addr, "POST", "/v2/models/iris", &[], b"").await;
    assert_eq!((wrong.status, wrong.header("allow")), (405, Some("GET")));
}

#[tokio::test]
async fn inference_in_json_and_binary_matches_the_references() {
    let server = TestServer::start().await;
    for model in ["iris", "digits"] {
        let (inputs, outputs) = reference(model);
        let width = inputs[0].len();
        let body = json!({"id": "r1", "inputs": [{"name": "input", "datatype": "FP32",
            "shape": [inputs.len(), width], "data": inputs}]});
        let path = format!("/v2/models/{model}/infer");
        let reply = http1(server.addr, "POST", &path, &[], body.to_string().as_bytes()).await;
        assert_eq!(
            reply.status,
            200,
            "{model}: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
        let json = reply.json();
        assert_eq!(
            (json["model_name"].as_str(), json["id"].as_str()),
            (Some(model), Some("r1"))
        );
        let data: Vec<f64> = serde_json::from_value(json["outputs"][0]["data"].clone()).unwrap();
        assert_close(&data, &outputs, model);

        // Triton's binary extension: a JSON header, then the rows as little-endian f32.
        let bytes: Vec<u8> = inputs
            .iter()
            .flatten()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect();
        let output = json["outputs"][0]["name"].as_str().unwrap().to_owned();
        let header = json!({"inputs": [{"name": "input", "datatype": "FP32",
            "shape": [inputs.len(), width], "parameters": {"binary_data_size": bytes.len()}}],
            "outputs": [{"name": output, "parameters": {"binary_data": true}}]})
        .to_string();
        let length = header.len().to_string();
        let body = [header.as_bytes(), &bytes].concat();
        let headers = [("inference-header-content-length", length.as_str())];
        let reply = http1(server.addr, "POST", &path, &headers, &body).await;
        assert_eq!(reply.status, 200, "{model} binary");
        assert_eq!(
            reply.header("content-type"),
            Some("application/octet-stream")
        );
        let json_length: usize = reply
            .header("inference-header-content-length")
            .unwrap()
            .parse()
            .unwrap();
        let json: Value = serde_json::from_slice(&reply.body[..json_length]).unwrap();
        let size = json["outputs"][0]["parameters"]["binary_data_size"]
            .as_u64()
            .unwrap() as usize;
        let data: Vec<f64> = reply.body[json_length..json_length + size]
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        assert_close(&data, &outputs, &format!("{model} binary"));
    }
}

#[tokio::test]
async fn bad_requests_get_the_protocols_statuses() {
    let server = TestServer::start().await;
    let infer = |path: &'static str, body: String| async move {
        http1(server.addr, "POST", path, &[], body.as_bytes()).await
    };
    let tensor = |shape: Value, data: Value| {
        json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": shape, "data": data}]})
            .to_string()
    };
    for (what, path, body, status, words) in [
        (
            "a wrong shape",
            "/v2/models/iris/infer",
            tensor(json!([1, 3]), json!([1, 2, 3])),
            400,
            "input tensor \"input\": shape [1, 3]",
        ),
        (
            "an unknown model",
            "/v2/models/tulip/infer",
            tensor(json!([1, 4]), json!([1, 2, 3, 4])),
            404,
            "tulip",
        ),
        (
            "not JSON",
            "/v2/models/iris/infer",
            "nope".to_owned(),
            400,
            "not JSON",
        ),
        (
            "no inputs",
            "/v2/models/iris/infer",
            "{}".to_owned(),
            400,
            "no \"inputs\"",
        ),
        (
            "data that is not numbers",
            "/v2/models/iris/infer",
            tensor(json!([1, 4]), json!(["a"])),
            400,
            "not numbers",
        ),
    ] {
        let reply = infer(path, body).await;
        assert_eq!(reply.status, status, "{what}");
        let message = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains(words), "{what}: {message}");
    }
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let reply = http1(server.addr, "POST", "/v2/models/iris/infer", &[], &huge).await;
    assert_eq!(reply.status, 413);
    let metrics =
        String::from_utf8(http1(server.addr, "GET", "/metrics", &[], b"").await.body).unwrap();
    assert!(
        metrics.contains("handler=\"/v2/models/{name}/infer\""),
        "REST requests are counted by route"
    );
}

#[tokio::test]
async fn rest_calls_need_a_token_allowed_the_service() {
    let tokens = r#"[{"name": "ml", "token": "ml-token-0123456789abcdef", "allow": ["inference.GRPCInferenceService"]},
                     {"name": "hello", "token": "hello-token-0123456789abcdef", "allow": ["helloworld.Greeter"]}]"#;
    let server = TestServer::with_settings(Settings {
        auth: Some(Arc::new(Tokens::parse(tokens).unwrap())),
        ..Settings::default()
    })
    .await;
    let ready = |token: Option<&'static str>| {
        let headers: Vec<(&str, String)> = token
            .map(|t| ("authorization", format!("Bearer {t}")))
            .into_iter()
            .collect();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            http1(server.addr, "GET", "/v2/models/iris/ready", &headers, b"")
                .await
                .status
        }
    };
    assert_eq!(ready(None).await, 401);
    assert_eq!(ready(Some("hello-token-0123456789abcdef")).await, 403);
    assert_eq!(ready(Some("ml-token-0123456789abcdef")).await, 200);
}
