//! inference.GRPCInferenceService (the Open Inference Protocol, KServe v2) through a
//! client generated from its proto, over a real socket: health, metadata, inference on
//! the shipped models against their onnxruntime references (typed and raw tensors), and
//! every bad request's status.

mod common;

use std::{fs, path::Path};

use common::TestServer;
use grpc_showcase::proto::inference::{
    InferTensorContents, ModelInferRequest, ModelMetadataRequest, ModelReadyRequest,
    ModelStatisticsRequest, RepositoryIndexRequest, ServerLiveRequest, ServerMetadataRequest,
    ServerReadyRequest,
    grpc_inference_service_client::GrpcInferenceServiceClient,
    model_infer_request::{InferInputTensor, InferRequestedOutputTensor},
};
use serde::Deserialize;
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};

#[derive(Deserialize)]
struct Reference {
    inputs: Vec<Vec<f64>>,
    outputs: Vec<Vec<f64>>,
}

fn reference(id: &str) -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(id)
        .join("reference.json");
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

async fn client(server: &TestServer) -> GrpcInferenceServiceClient<Channel> {
    GrpcInferenceServiceClient::new(server.channel().await)
}

/// A request for `model` with one FP32 input of `rows`, typed.
fn typed(model: &str, rows: &[Vec<f64>]) -> ModelInferRequest {
    let width = rows[0].len() as i64;
    ModelInferRequest {
        model_name: model.to_owned(),
        id: "req-7".to_owned(),
        inputs: vec![InferInputTensor {
            name: "input".to_owned(),
            datatype: "FP32".to_owned(),
            shape: vec![rows.len() as i64, width],
            contents: Some(InferTensorContents {
                fp32_contents: rows.iter().flatten().map(|&v| v as f32).collect(),
                ..InferTensorContents::default()
            }),
            ..InferInputTensor::default()
        }],
        ..ModelInferRequest::default()
    }
}

/// The same request with its values as raw little-endian bytes of `datatype`.
fn raw(model: &str, rows: &[Vec<f64>], datatype: &str) -> ModelInferRequest {
    let mut request = typed(model, rows);
    request.inputs[0].contents = None;
    request.inputs[0].datatype = datatype.to_owned();
    let bytes = rows
        .iter()
        .flatten()
        .flat_map(|&v| match datatype {
            "FP32" => (v as f32).to_le_bytes().to_vec(),
            _ => v.to_le_bytes().to_vec(),
        })
        .collect();
    request.raw_input_contents = vec![bytes];
    request
}

fn assert_close(got: &[f32], want: &[Vec<f64>], what: &str) {
    let want: Vec<f64> = want.iter().flatten().copied().collect();
    assert_eq!(got.len(), want.len(), "{what}");
    for (at, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-5,
            "{what}: value {at}: {g} vs {w}"
        );
    }
}

#[tokio::test]
async fn health_and_metadata_follow_the_protocol() {
    let server = TestServer::start().await;
    let mut client = client(&server).await;
    assert!(
        client
            .server_live(ServerLiveRequest {})
            .await
            .unwrap()
            .into_inner()
            .live
    );
    assert!(
        client
            .server_ready(ServerReadyRequest {})
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    let metadata = client
        .server_metadata(ServerMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(metadata.name, "grpc-showcase");
    let ready = |name: &str, version: &str| ModelReadyRequest {
        name: name.to_owned(),
        version: version.to_owned(),
    };
    assert!(
        client
            .model_ready(ready("iris", ""))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    assert!(
        client
            .model_ready(ready("iris", "1"))
            .await
            .unwrap()
            .into_inner()
            .ready
    );
    for (name, version) in [("tulip", ""), ("iris", "9")] {
        let status = client.model_ready(ready(name, version)).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::NotFound,
            "{name} {version}: {status:?}"
        );
    }
    let iris = client
        .model_metadata(ModelMetadataRequest {
            name: "iris".to_owned(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (iris.name.as_str(), iris.versions.as_slice()),
        ("iris", &["1".to_owned()][..])
    );
    assert_eq!(iris.platform, "onnx_onnxv1");
    let input = &iris.inputs[0];
    assert_eq!(
        (input.name.as_str(), input.datatype.as_str()),
        ("input", "FP32")
    );
    assert_eq!(input.shape, [-1, 4]);
    assert_eq!(iris.outputs[0].name, "probabilities");
    assert_eq!(iris.outputs[0].shape, [-1, 3]);
}

/// Typed FP32, raw FP32 and raw FP64 inputs give the onnxruntime references to 1e-5;
/// raw inputs get raw outputs; the id comes back; a requested output is honoured.
#[tokio::test]
async fn inference_matches_the_onnxruntime_references() {
    let server = TestServer::start().await;
    let mut client = client(&server).await;
    for model in ["iris", "digits"] {
        let reference = reference(model);
        let reply = client
            .model_infer(typed(model, &reference.inputs))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (reply.model_name.as_str(), reply.id.as_str()),
            (model, "req-7")
        );
        let output = &reply.outputs[0];
        assert_eq!(output.datatype, "FP32");
        let width = reference.outputs[0].len() as i64;
        assert_eq!(output.shape, [reference.outputs.len() as i64, width]);
        assert!(reply.raw_output_contents.is_empty());
        let values = &output.contents.as_ref().unwrap().fp32_contents;
        assert_close(values, &reference.outputs, model);

        for datatype in ["FP32", "FP64"] {
            let mut request = raw(model, &reference.inputs, datatype);
            request.outputs = vec![InferRequestedOutputTensor {
                name: output.name.clone(),
                ..InferRequestedOutputTensor::default()
            }];
            let reply = client.model_infer(request).await.unwrap().into_inner();
            assert!(reply.outputs[0].contents.is_none(), "raw in, raw out");
            let values: Vec<f32> = reply.raw_output_contents[0]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            assert_close(
                &values,
                &reference.outputs,
                &format!("{model} raw {datatype}"),
            );
        }
    }
}

#[tokio::test]
async fn every_bad_request_gets_its_status_naming_the_tensor() {
    let server = TestServer::start().await;
    let mut client = client(&server).await;
    let row = vec![vec![5.1, 3.5, 1.4, 0.2]];
    let good = || typed("iris", &row);
    let mut cases: Vec<(&str, ModelInferRequest, Code, &str)> = Vec::new();
    let mut unknown = good();
    unknown.model_name = "tulip".to_owned();
    cases.push(("an unknown model", unknown, Code::NotFound, "tulip"));
    let mut version = good();
    version.model_version = "2".to_owned();
    cases.push((
        "an unknown version",
        version,
        Code::NotFound,
        "no version \"2\"",
    ));
    let mut name = good();
    name.inputs[0].name = "x".to_owned();
    cases.push((
        "a wrong input name",
        name,
        Code::InvalidArgument,
        "input tensor \"x\"",
    ));
    let mut datatype = good();
    datatype.inputs[0].datatype = "INT64".to_owned();
    cases.push((
        "a wrong datatype",
        datatype,
        Code::InvalidArgument,
        "must be FP32 or FP64",
    ));
    let mut shape = good();
    shape.inputs[0].shape = vec![1, 5];
    cases.push((
        "a wrong shape",
        shape,
        Code::InvalidArgument,
        "the model takes [N, 4]",
    ));
    let mut short = raw("iris", &row, "FP32");
    short.raw_input_contents[0].pop();
    cases.push((
        "raw bytes of the wrong length",
        short,
        Code::InvalidArgument,
        "has 15 bytes",
    ));
    let mut both = raw("iris", &row, "FP32");
    both.inputs[0].contents = good().inputs[0].contents.clone();
    cases.push((
        "raw and typed values",
        both,
        Code::InvalidArgument,
        "both in contents",
    ));
    let mut nan = good();
    nan.inputs[0].contents.as_mut().unwrap().fp32_contents[2] = f32::NAN;
    cases.push((
        "a NaN",
        nan,
        Code::InvalidArgument,
        "value 2 (row 0, column 2) is NaN",
    ));
    let mut output = good();
    output.outputs = vec![InferRequestedOutputTensor {
        name: "logits".to_owned(),
        ..InferRequestedOutputTensor::default()
    }];
    cases.push((
        "an unknown output",
        output,
        Code::InvalidArgument,
        "output tensor \"logits\"",
    ));
    for (what, request, code, words) in cases {
        let status = client.model_infer(request).await.unwrap_err();
        assert_eq!(status.code(), code, "{what}: {status:?}");
        assert!(status.message().contains(words), "{what}: {status:?}");
    }
    // A batch over the message limit: RESOURCE_EXHAUSTED before it is read.
    let big = vec![vec![1.0; 4]; 300_000];
    let status = client.model_infer(typed("iris", &big)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

/// Triton's ModelStreamInfer answers in the order of the requests, a bad one in-band
/// without ending the stream; ModelStatistics counts what ran; RepositoryIndex lists
/// every model as READY.
#[tokio::test]
async fn streams_statistics_and_the_repository_follow_triton() {
    let server = TestServer::start().await;
    let mut client = client(&server).await;
    let reference = reference("iris");
    let mut bad = typed("iris", &[vec![1.0, 2.0, 3.0]]);
    bad.id = "bad".to_owned();
    let mut second = typed("iris", &reference.inputs[..2]);
    second.id = "second".to_owned();
    let requests = vec![typed("iris", &reference.inputs[..1]), bad, second];
    let replies: Vec<_> = client
        .model_stream_infer(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(replies.len(), 3);
    let first = replies[0].infer_response.as_ref().unwrap();
    assert_close(
        &first.outputs[0].contents.as_ref().unwrap().fp32_contents,
        &reference.outputs[..1],
        "first",
    );
    assert!(replies[1].infer_response.is_none());
    assert!(
        replies[1].error_message.contains("shape [1, 3]"),
        "{:?}",
        replies[1]
    );
    assert_eq!(replies[2].infer_response.as_ref().unwrap().id, "second");

    let stats = client
        .model_statistics(ModelStatisticsRequest {
            name: "iris".to_owned(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .model_stats;
    let iris = &stats[0];
    assert_eq!((iris.name.as_str(), iris.version.as_str()), ("iris", "1"));
    assert_eq!(
        (iris.inference_count, iris.execution_count),
        (3, 2),
        "rows, runs"
    );
    let counts = iris.inference_stats.as_ref().unwrap();
    assert_eq!(counts.success.as_ref().unwrap().count, 2);
    assert_eq!(counts.fail.as_ref().unwrap().count, 1);
    assert!(counts.compute_infer.as_ref().unwrap().ns > 0);
    assert!(iris.last_inference > 0);
    let every = client
        .model_statistics(ModelStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .model_stats;
    assert_eq!(every.len(), 4, "every model");

    let index = client
        .repository_index(RepositoryIndexRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models;
    let names: Vec<_> = index
        .iter()
        .map(|m| (m.name.as_str(), m.state.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("diabetes", "READY"),
            ("digits", "READY"),
            ("fraud", "READY"),
            ("iris", "READY")
        ]
    );
}
