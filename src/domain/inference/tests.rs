//! The tensor checks on the iris card: every refusal names the tensor.

use super::*;
use crate::domain::models::TensorSpec;

fn card() -> ModelCard {
    let spec = |name: &str, width: i64| TensorSpec {
        name: name.to_owned(),
        datatype: "FP32".to_owned(),
        shape: vec![-1, width],
        description: String::new(),
        features: Vec::new(),
        labels: Vec::new(),
    };
    ModelCard {
        id: "iris".to_owned(),
        version: "1".to_owned(),
        description: String::new(),
        file: "model.onnx".to_owned(),
        inputs: vec![spec("input", 4)],
        outputs: vec![spec("probabilities", 3)],
        threshold: None,
        training: serde_json::Value::Null,
        metrics: Default::default(),
    }
}

fn typed<'a>(shape: &'a [i64], fp32: &'a [f32]) -> Input<'a> {
    Input {
        name: "input",
        datatype: "FP32",
        shape,
        values: Values::Typed {
            fp32,
            fp64: &[],
            other: None,
        },
    }
}

fn refusal(inputs: &[Input]) -> String {
    match rows(&card(), 4, inputs) {
        Err(InferError::Invalid(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn typed_and_raw_values_give_the_same_rows() {
    let values = [5.1f32, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];
    let (typed_rows, n) = rows(&card(), 4, &[typed(&[2, 4], &values)]).unwrap();
    assert_eq!(n, 2);
    let raw32: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let raw = Input {
        values: Values::Raw(&raw32),
        ..typed(&[2, 4], &[])
    };
    assert_eq!(rows(&card(), 4, &[raw]).unwrap(), (typed_rows.clone(), 2));
    let raw64: Vec<u8> = values
        .iter()
        .flat_map(|v| f64::from(*v).to_le_bytes())
        .collect();
    let raw = Input {
        datatype: "FP64",
        values: Values::Raw(&raw64),
        ..typed(&[2, 4], &[])
    };
    assert_eq!(rows(&card(), 4, &[raw]).unwrap(), (typed_rows, 2));
}

#[test]
fn every_bad_tensor_is_refused_naming_it() {
    let four = [1.0f32; 4];
    assert!(refusal(&[]).contains("takes 1 input tensor, \"input\"; the request has 0"));
    let wrong_name = Input {
        name: "x",
        ..typed(&[1, 4], &four)
    };
    assert!(refusal(&[wrong_name]).contains("input tensor \"x\": model \"iris\" has no input"));
    let int = Input {
        datatype: "INT64",
        ..typed(&[1, 4], &four)
    };
    assert!(refusal(&[int]).contains("datatype \"INT64\"; it must be FP32 or FP64"));
    assert!(refusal(&[typed(&[1, 5], &four)]).contains("shape [1, 5]; the model takes [N, 4]"));
    assert!(refusal(&[typed(&[0, 4], &[])]).contains("N >= 1"));
    assert!(refusal(&[typed(&[4], &four)]).contains("shape [4]"));
    assert!(
        refusal(&[typed(&[2, 4], &four)])
            .contains("fp32_contents has 4 values; shape [2, 4] needs 8")
    );
    let raw = Input {
        values: Values::Raw(&[0; 12]),
        ..typed(&[1, 4], &[])
    };
    assert!(
        refusal(&[raw]).contains("raw_input_contents has 12 bytes; shape [1, 4] of FP32 needs 16")
    );
    let both = Input {
        values: Values::Both,
        ..typed(&[1, 4], &[])
    };
    assert!(refusal(&[both]).contains("both in contents and in raw_input_contents"));
    let misplaced = Input {
        values: Values::Typed {
            fp32: &[],
            fp64: &[1.0; 4],
            other: None,
        },
        ..typed(&[1, 4], &[])
    };
    assert!(refusal(&[misplaced]).contains("values in fp64_contents, but its datatype is FP32"));
    let nan = [1.0, f32::NAN, 1.0, 1.0];
    assert!(refusal(&[typed(&[1, 4], &nan)]).contains("value 1 (row 0, column 1) is NaN"));
    let infinite = [1.0, 1.0, 1.0, f32::INFINITY];
    assert!(refusal(&[typed(&[1, 4], &infinite)]).contains("is inf"));
}

#[test]
fn versions_and_outputs_are_checked() {
    assert!(check_version(&card(), "").is_ok());
    assert!(check_version(&card(), "1").is_ok());
    assert!(matches!(
        check_version(&card(), "2"),
        Err(InferError::NotFound(message)) if message.contains("no version \"2\"; its version is \"1\"")
    ));
    assert_eq!(outputs(&card(), &[]).unwrap(), ["probabilities"]);
    assert_eq!(
        outputs(&card(), &["probabilities"]).unwrap(),
        ["probabilities"]
    );
    assert!(matches!(
        outputs(&card(), &["logits"]),
        Err(InferError::Invalid(message)) if message.contains("output tensor \"logits\"")
    ));
    assert_eq!(
        fp32_bytes(&[1.0, -2.5]),
        [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat()
    );
}

#[test]
fn statistics_count_rows_runs_and_times() {
    let statistics = Statistics::default();
    assert_eq!(statistics.of("iris"), ModelStatistics::default());
    let ms = Duration::from_millis;
    statistics.success("iris", 3, ms(2), ms(1));
    statistics.success("iris", 1, ms(4), ms(3));
    statistics.failure("iris", ms(1));
    let iris = statistics.of("iris");
    assert_eq!((iris.inference_count, iris.execution_count), (4, 2));
    assert_eq!(
        iris.success,
        Tally {
            count: 2,
            ns: 6_000_000
        }
    );
    assert_eq!(
        iris.compute_infer,
        Tally {
            count: 2,
            ns: 4_000_000
        }
    );
    assert_eq!(
        iris.fail,
        Tally {
            count: 1,
            ns: 1_000_000
        }
    );
    assert!(iris.last_inference_ms > 1_700_000_000_000);
    assert_eq!(statistics.of("digits"), ModelStatistics::default());
}
