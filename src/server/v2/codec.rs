//! The Open Inference Protocol's REST bodies: a JSON inference request into the gRPC
//! `ModelInferRequest`, and the `ModelInferResponse` back into JSON, with Triton's
//! binary tensor data extension (`Inference-Header-Content-Length`: the JSON header, then
//! the tensors' little-endian bytes), which `tritonclient.http` uses by default.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::proto::inference::{
    InferTensorContents, ModelInferRequest, ModelInferResponse,
    model_infer_request::{InferInputTensor, InferRequestedOutputTensor},
};

/// A REST body that is not a valid inference request, with the message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub String);

/// A JSON value's numbers, flattened row by row (`data` may be flat or nested).
fn flatten(value: &Value, out: &mut Vec<f64>) -> Result<(), String> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|item| flatten(item, out)),
        Value::Number(number) => {
            out.push(number.as_f64().ok_or("a number out of range")?);
            Ok(())
        }
        other => Err(format!("data holds {other}, not numbers")),
    }
}

fn parameter<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object.get("parameters").and_then(|p| p.get(name))
}

/// The gRPC request of a REST inference request for `model` (`version` may be empty):
/// `json` is the JSON (the whole body, or its header with the binary extension) and
/// `binary` the bytes after it. Also whether the response should carry its outputs
/// as binary data, and the names of those to send so.
///
/// # Errors
/// [`BodyError`] naming what is wrong: not JSON, no `inputs`, an input without `name`,
/// `datatype` or `shape`, `data` that is not numbers, binary sizes that do not add up.
pub fn request(
    model: &str,
    version: &str,
    json: &[u8],
    binary: &[u8],
) -> Result<(ModelInferRequest, BinaryOutputs), BodyError> {
    let body: Value = serde_json::from_slice(json)
        .map_err(|err| BodyError(format!("the body is not JSON: {err}")))?;
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| BodyError("the body has no \"inputs\" list".to_owned()))?;
    let mut at: usize = 0;
    let mut tensors = Vec::with_capacity(inputs.len());
    let mut raw = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let field = |name: &str| BodyError(format!("inputs[{index}] has no \"{name}\""));
        let name = input
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| field("name"))?;
        let datatype = input
            .get("datatype")
            .and_then(Value::as_str)
            .ok_or_else(|| field("datatype"))?;
        let shape = input
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|dims| dims.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
            .ok_or_else(|| field("shape"))?;
        let mut contents = None;
        if let Some(size) = parameter(input, "binary_data_size").and_then(Value::as_u64) {
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            let end = at.checked_add(size).filter(|end| *end <= binary.len()).ok_or_else(|| {
                BodyError(format!(
                    "inputs[{index}] ({name:?}) announces {size} bytes of binary data; the body \
                     has {} after the JSON from byte {at}",
                    binary.len()
                ))
            })?;
            raw.push(binary[at..end].to_vec());
            at = end;
        } else {
            let mut values = Vec::new();
            flatten(input.get("data").ok_or_else(|| field("data"))?, &mut values)
                .map_err(|err| BodyError(format!("inputs[{index}] ({name:?}): {err}")))?;
            contents = Some(match datatype {
                "FP64" => InferTensorContents {
                    fp64_contents: values,
                    ..InferTensorContents::default()
                },
                _ => InferTensorContents {
                    fp32_contents: values.iter().map(|&v| v as f32).collect(),
                    ..InferTensorContents::default()
                },
            });
        }
        tensors.push(InferInputTensor {
            name: name.to_owned(),
            datatype: datatype.to_owned(),
            shape,
            contents,
            ..InferInputTensor::default()
        });
    }
    if !raw.is_empty() && raw.len() != tensors.len() {
        return Err(BodyError(
            "give every input as binary data or none: this server takes raw inputs for all \
             tensors of a request or for none"
                .to_owned(),
        ));
    }
    let all_binary = parameter(&body, "binary_data_output").and_then(Value::as_bool) == Some(true);
    let requested = body
        .get("outputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let binary_outputs = BinaryOutputs {
        all: all_binary,
        names: requested
            .iter()
            .filter(|o| parameter(o, "binary_data").and_then(Value::as_bool) == Some(true))
            .filter_map(|o| o.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect(),
    };
    let outputs = requested
        .iter()
        .map(|o| InferRequestedOutputTensor {
            name: text(o.get("name")),
            ..InferRequestedOutputTensor::default()
        })
        .collect();
    let request = ModelInferRequest {
        model_name: model.to_owned(),
        model_version: version.to_owned(),
        id: text(body.get("id")),
        inputs: tensors,
        outputs,
        raw_input_contents: raw,
        ..ModelInferRequest::default()
    };
    Ok((request, binary_outputs))
}

/// Which outputs the REST response carries as binary data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryOutputs {
    /// The request's `binary_data_output` parameter: every output.
    pub all: bool,
    /// Outputs asked for with `binary_data: true`.
    pub names: Vec<String>,
}

/// The REST body of `response`: the JSON, and the binary data to follow it (empty
/// when no output is binary).
pub fn response(response: &ModelInferResponse, binary: &BinaryOutputs) -> (Bytes, Vec<u8>) {
    let mut data = Vec::new();
    let outputs: Vec<Value> = response
        .outputs
        .iter()
        .enumerate()
        .map(|(at, output)| {
            let values: Vec<f32> = match (&output.contents, response.raw_output_contents.get(at)) {
                (_, Some(raw)) => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                (Some(contents), None) => contents.fp32_contents.clone(),
                (None, None) => Vec::new(),
            };
            let mut tensor = Map::new();
            tensor.insert("name".into(), json!(output.name));
            tensor.insert("datatype".into(), json!(output.datatype));
            tensor.insert("shape".into(), json!(output.shape));
            if binary.all || binary.names.contains(&output.name) {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                tensor.insert(
                    "parameters".into(),
                    json!({"binary_data_size": bytes.len()}),
                );
                data.extend(bytes);
            } else {
                tensor.insert("data".into(), json!(values));
            }
            Value::Object(tensor)
        })
        .collect();
    let body = json!({
        "model_name": response.model_name,
        "model_version": response.model_version,
        "id": response.id,
        "outputs": outputs,
    });
    (Bytes::from(body.to_string()), data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::inference::model_infer_response::InferOutputTensor;

    #[test]
    fn json_and_binary_inputs_make_the_same_tensor() {
        let json = br#"{"id": "7", "inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 2], "data": [[1, 2], [3, 4.5]]}]}"#;
        let (typed, binary) = request("iris", "", json, &[]).unwrap();
        assert_eq!(typed.id, "7");
        assert_eq!(
            typed.inputs[0].contents.as_ref().unwrap().fp32_contents,
            [1.0, 2.0, 3.0, 4.5]
        );
        assert_eq!(binary, BinaryOutputs::default());
        let bytes: Vec<u8> = [1.0f32, 2.0, 3.0, 4.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let header = br#"{"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 2], "parameters": {"binary_data_size": 16}}], "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}]}"#;
        let (raw, binary) = request("iris", "1", header, &bytes).unwrap();
        assert_eq!(raw.raw_input_contents, [bytes]);
        assert!(raw.inputs[0].contents.is_none());
        assert_eq!(binary.names, ["probabilities"]);
        let short = request("iris", "", header, &[0; 8]).unwrap_err();
        assert!(short.0.contains("announces 16 bytes"), "{short:?}");
        let bad = request("iris", "", br#"{"inputs": [{"name": "input"}]}"#, &[]).unwrap_err();
        assert_eq!(bad.0, "inputs[0] has no \"datatype\"");
        assert!(
            request("iris", "", b"nope", &[])
                .unwrap_err()
                .0
                .contains("not JSON")
        );
    }

    #[test]
    fn outputs_go_as_json_data_or_binary() {
        let reply = ModelInferResponse {
            model_name: "iris".into(),
            model_version: "1".into(),
            id: "7".into(),
            outputs: vec![InferOutputTensor {
                name: "probabilities".into(),
                datatype: "FP32".into(),
                shape: vec![1, 2],
                contents: Some(InferTensorContents {
                    fp32_contents: vec![0.25, 0.75],
                    ..InferTensorContents::default()
                }),
                ..InferOutputTensor::default()
            }],
            ..ModelInferResponse::default()
        };
        let (json, data) = response(&reply, &BinaryOutputs::default());
        let json: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(json["outputs"][0]["data"], json!([0.25, 0.75]));
        assert!(data.is_empty());
        let all = BinaryOutputs {
            all: true,
            names: Vec::new(),
        };
        let (json, data) = response(&reply, &all);
        let json: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(json["outputs"][0]["parameters"]["binary_data_size"], 8);
        assert_eq!(
            data,
            [0.25f32.to_le_bytes(), 0.75f32.to_le_bytes()].concat()
        );
    }
}
