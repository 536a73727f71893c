//! `model.ModelInference`: Predict, PredictStream, ListModels and GetModelMetadata over
//! the [`ModelRegistry`].

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use super::ResponseStream;
use crate::{
    domain::models::{
        LoadedModel, ModelCard, ModelEntry, ModelError, ModelRegistry, Prediction, TensorSpec,
    },
    domain::streams::ActiveStreams,
    proto::model::{
        Feature, ListModelsRequest, ListModelsResponse, ModelMetadataRequest,
        ModelMetadataResponse, ModelSummary, PredictError, PredictRequest, PredictResponse,
        PredictStreamResponse, TensorMetadata, model_inference_server::ModelInference,
        predict_stream_response,
    },
};

/// Inputs up to this many values run on the async worker that received them (a few
/// microseconds of work); larger batches run on tokio's blocking pool, so that one big
/// batch cannot stall the other calls sharing that worker.
const INLINE_VALUES: usize = 4096;

/// The ModelInference service.
#[derive(Debug, Clone)]
pub struct ModelService {
    /// The models loaded at startup.
    registry: Arc<ModelRegistry>,
    /// Counts the PredictStream calls in progress.
    streams: ActiveStreams,
}

impl ModelService {
    /// A service over the models of `registry`.
    pub fn new(registry: Arc<ModelRegistry>, streams: ActiveStreams) -> Self {
        Self { registry, streams }
    }
}

/// The precise status for each [`ModelError`].
pub(crate) fn model_status(err: ModelError) -> Status {
    let message = err.to_string();
    match err {
        ModelError::NotFound { .. } => Status::not_found(message),
        ModelError::NotReady { .. } => Status::unavailable(message),
        ModelError::EmptyInput { .. }
        | ModelError::ShapeMismatch { .. }
        | ModelError::InvalidValue { .. } => super::invalid_argument("inputs", message),
        ModelError::Inference(_) => Status::internal(message),
    }
}

/// Runs `model` on `inputs` (rows flattened), on the blocking pool when they are many.
pub(crate) async fn run(model: &Arc<LoadedModel>, inputs: Vec<f64>) -> Result<Prediction, Status> {
    if inputs.len() <= INLINE_VALUES {
        return model.predict(&inputs).map_err(model_status);
    }
    let model = Arc::clone(model);
    tokio::task::spawn_blocking(move || model.predict(&inputs))
        .await
        .map_err(|err| Status::internal(format!("inference task failed: {err}")))?
        .map_err(model_status)
}

/// Runs one request.
async fn predict(
    registry: &ModelRegistry,
    request: PredictRequest,
) -> Result<PredictResponse, Status> {
    let PredictRequest { model_id, inputs } = request;
    let model = Arc::clone(registry.get(&model_id).map_err(model_status)?);
    let prediction = run(&model, inputs).await?;
    Ok(response(&model, prediction))
}

fn response(model: &LoadedModel, prediction: Prediction) -> PredictResponse {
    let card = model.card();
    PredictResponse {
        outputs: prediction.outputs,
        output_shape: vec![prediction.rows as i64, prediction.width as i64],
        model_id: card.id.clone(),
        model_version: card.version.clone(),
    }
}

fn tensor(spec: &TensorSpec) -> TensorMetadata {
    TensorMetadata {
        name: spec.name.clone(),
        datatype: spec.datatype.clone(),
        shape: spec.shape.clone(),
        description: spec.description.clone(),
        features: spec
            .features
            .iter()
            .map(|f| Feature {
                name: f.name.clone(),
                unit: f.unit.clone(),
                description: f.description.clone(),
            })
            .collect(),
        labels: spec.labels.clone(),
    }
}

fn training(card: &ModelCard) -> std::collections::HashMap<String, String> {
    let Some(fields) = card.training.as_object() else {
        return Default::default();
    };
    fields
        .iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

fn metadata(id: &str, entry: &ModelEntry) -> ModelMetadataResponse {
    let (card, ready, reason) = match entry {
        ModelEntry::Ready(model) => (Some(model.card()), true, String::new()),
        ModelEntry::Failed { card, reason } => (card.as_deref(), false, reason.clone()),
    };
    let mut response = ModelMetadataResponse {
        id: id.to_owned(),
        platform: "onnx (tract)".to_owned(),
        ready,
        reason,
        ..Default::default()
    };
    if let Some(card) = card {
        response.version = card.version.clone();
        response.description = card.description.clone();
        response.inputs = card.inputs.iter().map(tensor).collect();
        response.outputs = card.outputs.iter().map(tensor).collect();
        response.training = training(card);
        response.metrics = card.metrics.iter().map(|(k, v)| (k.clone(), *v)).collect();
    }
    response
}

#[tonic::async_trait]
impl ModelInference for ModelService {
    async fn predict(
        &self,
        request: Request<PredictRequest>,
    ) -> Result<Response<PredictResponse>, Status> {
        Ok(Response::new(
            predict(&self.registry, request.into_inner()).await?,
        ))
    }

    type PredictStreamStream = ResponseStream<PredictStreamResponse>;

    async fn predict_stream(
        &self,
        request: Request<Streaming<PredictRequest>>,
    ) -> Result<Response<Self::PredictStreamStream>, Status> {
        let mut requests = request.into_inner();
        let registry = Arc::clone(&self.registry);
        let guard = self.streams.open();
        // One request at a time, so responses keep the requests' order. A bad request
        // gets an error in its response and the stream goes on; only a failure of the
        // stream itself (a message over the size limit, a reset) ends it.
        let responses = async_stream::try_stream! {
            let _guard = guard;
            let mut index = 0u64;
            while let Some(request) = requests.message().await? {
                let result = match predict(&registry, request).await {
                    Ok(response) => predict_stream_response::Result::Response(response),
                    Err(status) => predict_stream_response::Result::Error(PredictError {
                        code: status.code() as i32,
                        message: status.message().to_owned(),
                    }),
                };
                yield PredictStreamResponse { index, result: Some(result) };
                index += 1;
            }
        };
        Ok(Response::new(Box::pin(responses)))
    }

    async fn list_models(
        &self,
        _: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        let models = self
            .registry
            .entries()
            .map(|(id, entry)| {
                let metadata = metadata(id, entry);
                ModelSummary {
                    id: metadata.id,
                    version: metadata.version,
                    ready: metadata.ready,
                    reason: metadata.reason,
                    description: metadata.description,
                }
            })
            .collect();
        Ok(Response::new(ListModelsResponse { models }))
    }

    async fn get_model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let id = &request.get_ref().model_id;
        let entry = self.registry.entry(id).ok_or_else(|| {
            model_status(ModelError::NotFound {
                id: id.clone(),
                available: self.registry.ids(),
            })
        })?;
        Ok(Response::new(metadata(id, entry)))
    }
}
