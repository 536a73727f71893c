//! The tensors of ModelInfer: the request's values as the domain checks them, and the
//! response built from a prediction.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tonic::Status;

use super::infer_status;
use crate::{
    domain::{
        inference::{self, Input, Values},
        models::{LoadedModel, ModelCard, TensorSpec},
    },
    proto::inference::{
        InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataResponse,
        model_infer_request::InferInputTensor, model_infer_response::InferOutputTensor,
        model_metadata_response::TensorMetadata,
    },
    services::model,
};

/// The platform name Triton gives ONNX models.
pub(super) const PLATFORM: &str = "onnx_onnxv1";

fn tensor_metadata(spec: &TensorSpec) -> TensorMetadata {
    TensorMetadata {
        name: spec.name.clone(),
        datatype: spec.datatype.clone(),
        shape: spec.shape.clone(),
    }
}

/// The values of one input tensor as the request gives them: typed contents, the raw
/// bytes at the same position, or both.
fn values<'a>(input: &'a InferInputTensor, raw: Option<&'a [u8]>) -> Values<'a> {
    let contents = input.contents.as_ref();
    let typed = contents.is_some_and(|c| {
        !(c.fp32_contents.is_empty() && c.fp64_contents.is_empty() && other_field(c).is_none())
    });
    match (typed, raw) {
        (true, Some(_)) => Values::Both,
        (false, Some(bytes)) => Values::Raw(bytes),
        _ => Values::Typed {
            fp32: contents.map_or(&[], |c| &c.fp32_contents),
            fp64: contents.map_or(&[], |c| &c.fp64_contents),
            other: contents.and_then(other_field),
        },
    }
}

/// The name of a contents field other than FP32 and FP64 that has values.
fn other_field(contents: &InferTensorContents) -> Option<&'static str> {
    [
        ("bool_contents", contents.bool_contents.is_empty()),
        ("int_contents", contents.int_contents.is_empty()),
        ("int64_contents", contents.int64_contents.is_empty()),
        ("uint_contents", contents.uint_contents.is_empty()),
        ("uint64_contents", contents.uint64_contents.is_empty()),
        ("bytes_contents", contents.bytes_contents.is_empty()),
    ]
    .into_iter()
    .find_map(|(name, empty)| (!empty).then_some(name))
}

/// What a ModelInfer request came to.
pub(super) struct Inferred {
    /// The response.
    pub response: ModelInferResponse,
    /// Rows inferred.
    pub rows: usize,
    /// The time in the model itself.
    pub compute: Duration,
}

/// The response to `request` from `model`, on the blocking pool when the batch is large.
pub(super) async fn infer(
    model: Arc<LoadedModel>,
    request: ModelInferRequest,
) -> Result<Inferred, Status> {
    let card = model.card();
    if !request.raw_input_contents.is_empty()
        && request.raw_input_contents.len() != request.inputs.len()
    {
        return Err(Status::invalid_argument(format!(
            "raw_input_contents has {} entries; there must be one per input tensor ({})",
            request.raw_input_contents.len(),
            request.inputs.len()
        )));
    }
    let raw = !request.raw_input_contents.is_empty();
    let inputs: Vec<Input> = request
        .inputs
        .iter()
        .enumerate()
        .map(|(at, input)| Input {
            name: &input.name,
            datatype: &input.datatype,
            shape: &input.shape,
            values: values(input, request.raw_input_contents.get(at).map(Vec::as_slice)),
        })
        .collect();
    let (rows, n) = inference::rows(card, model.input_width(), &inputs).map_err(infer_status)?;
    let requested: Vec<&str> = request.outputs.iter().map(|o| o.name.as_str()).collect();
    let names: Vec<String> = inference::outputs(card, &requested)
        .map_err(infer_status)?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let started = Instant::now();
    let prediction = model::run(&model, rows).await?;
    let compute = started.elapsed();
    let shape = vec![prediction.rows as i64, prediction.width as i64];
    // The values go either raw or typed, as the request's did: made once, in one form.
    let outputs: Vec<InferOutputTensor> = names
        .into_iter()
        .map(|name| InferOutputTensor {
            name,
            datatype: "FP32".to_owned(),
            shape: shape.clone(),
            parameters: Default::default(),
            contents: (!raw).then(|| InferTensorContents {
                fp32_contents: prediction.outputs.iter().map(|&v| v as f32).collect(),
                ..InferTensorContents::default()
            }),
        })
        .collect();
    let raw_output_contents = if raw {
        vec![inference::fp32_bytes(&prediction.outputs); outputs.len()]
    } else {
        Vec::new()
    };
    let response = ModelInferResponse {
        model_name: card.id.clone(),
        model_version: card.version.clone(),
        id: request.id,
        parameters: Default::default(),
        outputs,
        raw_output_contents,
    };
    Ok(Inferred {
        response,
        rows: n,
        compute,
    })
}

pub(super) fn metadata(card: &ModelCard) -> ModelMetadataResponse {
    ModelMetadataResponse {
        name: card.id.clone(),
        versions: vec![card.version.clone()],
        platform: PLATFORM.to_owned(),
        inputs: card.inputs.iter().map(tensor_metadata).collect(),
        outputs: card.outputs.iter().map(tensor_metadata).collect(),
    }
}
