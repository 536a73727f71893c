//! model.ModelInference and fraud_detection.FraudDetectionService through a real client:
//! parity with the onnxruntime references, metadata, order, and every bad input.

mod common;

use std::{fs, path::PathBuf};

use common::{TestServer, bad_request_field};
use grpc_showcase::{
    proto::{
        fraud_detection::{
            PredictionRequest, fraud_detection_service_client::FraudDetectionServiceClient,
        },
        model::{
            ListModelsRequest, ModelMetadataRequest, PredictRequest,
            model_inference_client::ModelInferenceClient,
            predict_stream_response::Result as StreamResult,
        },
    },
    server::Settings,
};
use serde::Deserialize;
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};

const SHIPPED: [&str; 4] = ["diabetes", "digits", "fraud", "iris"];

fn models_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))
}

#[derive(Deserialize)]
struct Reference {
    inputs: Vec<Vec<f64>>,
    outputs: Vec<Vec<f64>>,
    #[serde(default)]
    requests: Vec<Transaction>,
    #[serde(default)]
    threshold: f64,
}

#[derive(Deserialize)]
struct Transaction {
    transaction_id: i64,
    amount: f64,
    time: i64,
    age_of_account: i32,
    number_of_transactions: i32,
}

fn reference(id: &str) -> Reference {
    let text = fs::read_to_string(models_dir().join(id).join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn predict(model_id: &str, inputs: Vec<f64>) -> PredictRequest {
    PredictRequest {
        model_id: model_id.to_owned(),
        inputs,
    }
}

async fn client(server: &TestServer) -> ModelInferenceClient<Channel> {
    ModelInferenceClient::new(server.channel().await)
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5,
            "{what}[{i}]: server {g} vs onnxruntime {w}"
        );
    }
}

#[tokio::test]
async fn every_shipped_model_matches_its_onnxruntime_reference() {
    let server = TestServer::start().await;
    let mut models = client(&server).await;
    for id in SHIPPED {
        let reference = reference(id);
        let width = reference.outputs[0].len() as i64;
        // Row by row ...
        for (row, expected) in reference.inputs.iter().zip(&reference.outputs) {
            let response = models
                .predict(predict(id, row.clone()))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(response.output_shape, [1, width], "{id}");
            assert_close(&response.outputs, expected, id);
        }
        // ... and as one batch.
        let response = models
            .predict(predict(id, reference.inputs.concat()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.output_shape,
            [reference.inputs.len() as i64, width]
        );
        assert_eq!(
            (response.model_id.as_str(), response.model_version.as_str()),
            (id, "1")
        );
        assert_close(&response.outputs, &reference.outputs.concat(), id);
    }
}

#[tokio::test]
async fn iris_probabilities_sum_to_one() {
    let server = TestServer::start().await;
    let response = client(&server)
        .await
        .predict(predict("iris", vec![5.1, 3.5, 1.4, 0.2]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.outputs.len(), 3);
    assert!((response.outputs.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    assert!(
        response.outputs[0] > 0.9,
        "a typical setosa: {:?}",
        response.outputs
    );
}

#[tokio::test]
async fn fraud_service_matches_the_model_on_the_training_script_features() {
    let server = TestServer::start().await;
    let mut fraud = FraudDetectionServiceClient::new(server.channel().await);
    let reference = reference("fraud");
    assert_eq!(reference.requests.len(), reference.outputs.len());
    for (t, expected) in reference.requests.iter().zip(&reference.outputs) {
        let response = fraud
            .predict_fraud(PredictionRequest {
                transaction_id: t.transaction_id,
                amount: t.amount,
                time: t.time,
                age_of_account: t.age_of_account,
                number_of_transactions: t.number_of_transactions,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.transaction_id, t.transaction_id);
        let p = response.fraud_probability;
        assert!(
            (p - expected[1]).abs() <= 1e-5,
            "{}: {p} vs {}",
            t.transaction_id,
            expected[1]
        );
        assert!((0.0..=1.0).contains(&p));
        assert_eq!(response.threshold, reference.threshold);
        assert_eq!(response.predicted_label, p >= reference.threshold);
    }
}

#[tokio::test]
async fn fraud_bad_fields_are_invalid_arguments_naming_the_field() {
    let server = TestServer::start().await;
    let mut fraud = FraudDetectionServiceClient::new(server.channel().await);
    let valid = PredictionRequest {
        transaction_id: 7,
        amount: 12.5,
        time: 1_735_700_000,
        age_of_account: 30,
        number_of_transactions: 1,
    };
    let cases = [
        (
            PredictionRequest {
                amount: -1.0,
                ..valid
            },
            "amount",
        ),
        (
            PredictionRequest {
                amount: f64::NAN,
                ..valid
            },
            "amount",
        ),
        (
            PredictionRequest {
                amount: f64::INFINITY,
                ..valid
            },
            "amount",
        ),
        (
            PredictionRequest {
                age_of_account: -3,
                ..valid
            },
            "age_of_account",
        ),
        (
            PredictionRequest {
                number_of_transactions: -1,
                ..valid
            },
            "number_of_transactions",
        ),
    ];
    for (request, field) in cases {
        let status = fraud.predict_fraud(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(bad_request_field(&status), field);
    }
    // A bad request harms no other call.
    assert!(fraud.predict_fraud(valid).await.is_ok());
}

#[tokio::test]
async fn bad_predict_inputs_get_precise_codes() {
    let server = TestServer::start().await;
    let mut models = client(&server).await;
    let status = models
        .predict(predict("nope", vec![1.0]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().contains("diabetes, digits, fraud, iris"),
        "{status:?}"
    );

    let status = models.predict(predict("iris", vec![])).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_request_field(&status), "inputs");

    let status = models
        .predict(predict("iris", vec![1.0; 5]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("[N, 4]"), "{status:?}");

    for bad in [f64::NAN, f64::INFINITY, 1e300] {
        let status = models
            .predict(predict("iris", vec![1.0, bad, 1.0, 1.0]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad}");
        assert!(status.message().contains("inputs[1]"), "{status:?}");
    }
    let status = models
        .get_model_metadata(ModelMetadataRequest {
            model_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn predict_stream_answers_in_order_and_survives_bad_requests() {
    let server = TestServer::start().await;
    let mut models = client(&server).await;
    let iris = reference("iris");
    let digits = reference("digits");
    // Interleave two models and bad requests; each response must match its request.
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for i in 0..20 {
        match i % 4 {
            0 | 1 => {
                requests.push(predict("iris", iris.inputs[i].clone()));
                expected.push(Ok(iris.outputs[i].clone()));
            }
            2 => {
                requests.push(predict("digits", digits.inputs[i].clone()));
                expected.push(Ok(digits.outputs[i].clone()));
            }
            _ => {
                requests.push(predict("iris", vec![1.0; 3]));
                expected.push(Err(Code::InvalidArgument as i32));
            }
        }
    }
    let responses: Vec<_> = models
        .predict_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(responses.len(), expected.len());
    for (i, (response, expected)) in responses.iter().zip(&expected).enumerate() {
        assert_eq!(response.index, i as u64);
        match (response.result.as_ref().unwrap(), expected) {
            (StreamResult::Response(r), Ok(want)) => assert_close(&r.outputs, want, "stream"),
            (StreamResult::Error(e), Err(code)) => assert_eq!(e.code, *code),
            (got, want) => panic!("response {i}: {got:?}, expected {want:?}"),
        }
    }
}

#[tokio::test]
async fn metadata_matches_the_model_files() {
    let server = TestServer::start().await;
    let mut models = client(&server).await;
    let list = models
        .list_models(ListModelsRequest {})
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = list.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, SHIPPED);
    assert!(list.models.iter().all(|m| m.ready && m.reason.is_empty()));
    for (id, input, output) in [
        ("diabetes", 10, 1),
        ("digits", 64, 10),
        ("fraud", 5, 2),
        ("iris", 4, 3),
    ] {
        let meta = models
            .get_model_metadata(ModelMetadataRequest {
                model_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let card: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(models_dir().join(id).join("model.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(meta.version, card["version"]);
        assert_eq!(meta.inputs[0].name, card["inputs"][0]["name"]);
        assert_eq!(meta.outputs[0].name, card["outputs"][0]["name"]);
        assert_eq!(meta.inputs[0].shape, [-1, input]);
        assert_eq!(meta.outputs[0].shape, [-1, output]);
        assert_eq!(meta.inputs[0].datatype, "FP32");
        assert_eq!(meta.inputs[0].features.len(), input as usize);
        assert!(meta.training.contains_key("source"), "{id}");
        let metric = card["metrics"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(meta.metrics[metric.0], metric.1.as_f64().unwrap());
    }
}

#[tokio::test]
async fn a_broken_model_is_unavailable_and_spares_the_others() {
    let dir = tempfile::tempdir().unwrap();
    for id in ["iris", "fraud"] {
        let target = dir.path().join(id);
        fs::create_dir(&target).unwrap();
        for file in ["model.json", "model.onnx"] {
            fs::copy(models_dir().join(id).join(file), target.join(file)).unwrap();
        }
    }
    fs::write(dir.path().join("fraud/model.onnx"), b"truncated").unwrap();
    let server = TestServer::with_settings(Settings {
        models_dir: Some(dir.path().to_owned()),
        ..Settings::default()
    })
    .await;
    let mut models = client(&server).await;
    let status = models
        .predict(predict("fraud", vec![0.0; 5]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("not ready"), "{status:?}");
    let list = models
        .list_models(ListModelsRequest {})
        .await
        .unwrap()
        .into_inner();
    let fraud = list.models.iter().find(|m| m.id == "fraud").unwrap();
    assert!(
        !fraud.ready && fraud.reason.contains("cannot read"),
        "{fraud:?}"
    );
    assert!(
        models
            .predict(predict("iris", vec![5.1, 3.5, 1.4, 0.2]))
            .await
            .is_ok()
    );

    // The fraud service depends on that model: unavailable, and NOT_SERVING in health.
    let mut fraud_client = FraudDetectionServiceClient::new(server.channel().await);
    let status = fraud_client
        .predict_fraud(PredictionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        server
            .health
            .status("fraud_detection.FraudDetectionService"),
        Some(grpc_showcase::domain::health::ServingStatus::NotServing)
    );
}

#[tokio::test]
async fn large_batches_run_and_stay_correct() {
    let server = TestServer::start().await;
    let mut models = client(&server).await;
    let digits = reference("digits");
    // 40 reference rows repeated 50 times: 128,000 values, past the inline limit.
    let rows = 2000;
    let inputs: Vec<f64> = digits
        .inputs
        .iter()
        .cycle()
        .take(rows)
        .flatten()
        .copied()
        .collect();
    let response = models
        .predict(predict("digits", inputs))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.output_shape, [rows as i64, 10]);
    let expected: Vec<f64> = digits
        .outputs
        .iter()
        .cycle()
        .take(rows)
        .flatten()
        .copied()
        .collect();
    assert_close(&response.outputs, &expected, "digits batch");
}
