//! `inference.GRPCInferenceService`: the Open Inference Protocol (KServe v2) over the
//! [`ModelRegistry`], so that tritonclient and KServe's clients work unchanged. The
//! tensor checks are [`crate::domain::inference`]'s; this adapter maps the messages and
//! the errors (NOT_FOUND for an unknown model or version, INVALID_ARGUMENT for a tensor
//! that does not fit, naming it).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::model::model_status;
use crate::{
    domain::{
        inference::{self, InferError, Input, Values},
        models::{LoadedModel, ModelCard, ModelEntry, ModelRegistry, TensorSpec},
        quote::quote,
    },
    proto::inference::{
        InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataRequest,
        ModelMetadataResponse, ModelReadyRequest, ModelReadyResponse, ServerLiveRequest,
        ServerLiveResponse, ServerMetadataRequest, ServerMetadataResponse, ServerReadyRequest,
        ServerReadyResponse, grpc_inference_service_server::GrpcInferenceService,
        model_infer_request::InferInputTensor, model_infer_response::InferOutputTensor,
        model_metadata_response::TensorMetadata,
    },
};

/// Inputs up to this many values run on the async worker that received them; larger
/// batches on tokio's blocking pool (as `model.ModelInference` does).
const INLINE_VALUES: usize = 4096;

/// The platform name Triton gives ONNX models.
const PLATFORM: &str = "onnx_onnxv1";

/// The Open Inference Protocol service.
#[derive(Debug, Clone)]
pub struct InferenceService {
    registry: Arc<ModelRegistry>,
}

impl InferenceService {
    /// The service over the models of `registry`.
    pub fn new(registry: Arc<ModelRegistry>) -> Self {
        Self { registry }
    }

    /// The ready model `name` at `version` (empty: the one served).
    fn model(&self, name: &str, version: &str) -> Result<&Arc<LoadedModel>, Status> {
        let model = self.registry.get(name).map_err(model_status)?;
        inference::check_version(model.card(), version).map_err(infer_status)?;
        Ok(model)
    }
}

fn infer_status(err: InferError) -> Status {
    match err {
        InferError::NotFound(message) => Status::not_found(message),
        InferError::Invalid(message) => Status::invalid_argument(message),
    }
}

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

/// The response to `request` from `model`, on the blocking pool when the batch is large.
async fn infer(
    model: Arc<LoadedModel>,
    request: ModelInferRequest,
) -> Result<ModelInferResponse, Status> {
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
    let (rows, _) = inference::rows(card, model.input_width(), &inputs).map_err(infer_status)?;
    let requested: Vec<&str> = request.outputs.iter().map(|o| o.name.as_str()).collect();
    let names: Vec<String> = inference::outputs(card, &requested)
        .map_err(infer_status)?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let prediction = if rows.len() <= INLINE_VALUES {
        model.predict(&rows)
    } else {
        let model = Arc::clone(&model);
        tokio::task::spawn_blocking(move || model.predict(&rows))
            .await
            .map_err(|err| Status::internal(format!("inference task failed: {err}")))?
    }
    .map_err(model_status)?;
    let shape = vec![prediction.rows as i64, prediction.width as i64];
    let (outputs, raw_output_contents) = names
        .into_iter()
        .map(|name| {
            let tensor = InferOutputTensor {
                name,
                datatype: "FP32".to_owned(),
                shape: shape.clone(),
                parameters: Default::default(),
                contents: (!raw).then(|| InferTensorContents {
                    fp32_contents: prediction.outputs.iter().map(|&v| v as f32).collect(),
                    ..InferTensorContents::default()
                }),
            };
            (tensor, inference::fp32_bytes(&prediction.outputs))
        })
        .unzip::<_, _, Vec<_>, Vec<_>>();
    Ok(ModelInferResponse {
        model_name: card.id.clone(),
        model_version: card.version.clone(),
        id: request.id,
        parameters: Default::default(),
        outputs,
        raw_output_contents: if raw { raw_output_contents } else { Vec::new() },
    })
}

fn metadata(card: &ModelCard) -> ModelMetadataResponse {
    ModelMetadataResponse {
        name: card.id.clone(),
        versions: vec![card.version.clone()],
        platform: PLATFORM.to_owned(),
        inputs: card.inputs.iter().map(tensor_metadata).collect(),
        outputs: card.outputs.iter().map(tensor_metadata).collect(),
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for InferenceService {
    async fn server_live(
        &self,
        _request: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _request: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        let ready = self
            .registry
            .entries()
            .all(|(_, entry)| matches!(entry, ModelEntry::Ready(_)));
        Ok(Response::new(ServerReadyResponse { ready }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let ModelReadyRequest { name, version } = request.into_inner();
        let ready = match self.registry.entry(&name) {
            None => return Err(Status::not_found(format!("no model {}", quote(&name)))),
            Some(ModelEntry::Ready(model)) => {
                inference::check_version(model.card(), &version).map_err(infer_status)?;
                true
            }
            Some(ModelEntry::Failed { .. }) => false,
        };
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _request: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            extensions: Vec::new(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let ModelMetadataRequest { name, version } = request.into_inner();
        let model = self.model(&name, &version)?;
        Ok(Response::new(metadata(model.card())))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let request = request.into_inner();
        let model = Arc::clone(self.model(&request.model_name, &request.model_version)?);
        Ok(Response::new(infer(model, request).await?))
    }
}
