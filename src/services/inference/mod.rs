//! `inference.GRPCInferenceService`: the Open Inference Protocol (KServe v2) over the
//! [`ModelRegistry`], with Triton's ModelStreamInfer, ModelStatistics and
//! RepositoryIndex, so that tritonclient and KServe's clients work unchanged. The tensor
//! checks are [`crate::domain::inference`]'s; this adapter maps the messages
//! (`tensors.rs`) and the errors (NOT_FOUND for an unknown model or version,
//! INVALID_ARGUMENT for a tensor that does not fit, naming it).

mod tensors;

use std::{sync::Arc, time::Instant};

use futures::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::{ResponseStream, model::model_status};
use crate::{
    domain::{
        inference::{self, InferError, ModelStatistics as Stats, Statistics, Tally},
        models::{LoadedModel, ModelEntry, ModelRegistry},
        quote::quote,
        streams::ActiveStreams,
    },
    proto::inference::{
        InferStatistics, ModelInferRequest, ModelInferResponse, ModelMetadataRequest,
        ModelMetadataResponse, ModelReadyRequest, ModelReadyResponse, ModelStatistics,
        ModelStatisticsRequest, ModelStatisticsResponse, ModelStreamInferResponse,
        RepositoryIndexRequest, RepositoryIndexResponse, ServerLiveRequest, ServerLiveResponse,
        ServerMetadataRequest, ServerMetadataResponse, ServerReadyRequest, ServerReadyResponse,
        StatisticDuration, grpc_inference_service_server::GrpcInferenceService,
        repository_index_response::ModelIndex,
    },
};

/// The Open Inference Protocol service.
#[derive(Debug, Clone)]
pub struct InferenceService {
    registry: Arc<ModelRegistry>,
    /// Each model's counts and times, for ModelStatistics.
    statistics: Arc<Statistics>,
    /// Counts the ModelStreamInfer streams in progress.
    streams: ActiveStreams,
}

impl InferenceService {
    /// The service over the models of `registry`.
    pub fn new(registry: Arc<ModelRegistry>, streams: ActiveStreams) -> Self {
        Self {
            registry,
            statistics: Arc::default(),
            streams,
        }
    }

    /// The ready model `name` at `version` (empty: the one served).
    fn model(&self, name: &str, version: &str) -> Result<&Arc<LoadedModel>, Status> {
        model(&self.registry, name, version)
    }
}

fn model<'r>(
    registry: &'r ModelRegistry,
    name: &str,
    version: &str,
) -> Result<&'r Arc<LoadedModel>, Status> {
    let model = registry.get(name).map_err(model_status)?;
    inference::check_version(model.card(), version).map_err(infer_status)?;
    Ok(model)
}

fn infer_status(err: InferError) -> Status {
    match err {
        InferError::NotFound(message) => Status::not_found(message),
        InferError::Invalid(message) => Status::invalid_argument(message),
    }
}

/// Runs one ModelInfer request and records it in `statistics` (when the model exists).
async fn infer_one(
    registry: &ModelRegistry,
    statistics: &Statistics,
    request: ModelInferRequest,
) -> Result<ModelInferResponse, Status> {
    let started = Instant::now();
    let model = Arc::clone(model(
        registry,
        &request.model_name,
        &request.model_version,
    )?);
    let name = model.card().id.clone();
    match tensors::infer(model, request).await {
        Ok(inferred) => {
            statistics.success(&name, inferred.rows, started.elapsed(), inferred.compute);
            Ok(inferred.response)
        }
        Err(status) => {
            statistics.failure(&name, started.elapsed());
            Err(status)
        }
    }
}

fn duration(tally: Tally) -> Option<StatisticDuration> {
    Some(StatisticDuration {
        count: tally.count,
        ns: tally.ns,
    })
}

fn model_statistics(name: &str, version: &str, stats: Stats) -> ModelStatistics {
    ModelStatistics {
        name: name.to_owned(),
        version: version.to_owned(),
        last_inference: stats.last_inference_ms,
        inference_count: stats.inference_count,
        execution_count: stats.execution_count,
        inference_stats: Some(InferStatistics {
            success: duration(stats.success),
            fail: duration(stats.fail),
            queue: duration(Tally::default()),
            compute_input: duration(Tally::default()),
            compute_infer: duration(stats.compute_infer),
            compute_output: duration(Tally::default()),
        }),
        batch_stats: Vec::new(),
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
        Ok(Response::new(tensors::metadata(model.card())))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let response = infer_one(&self.registry, &self.statistics, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    type ModelStreamInferStream = ResponseStream<ModelStreamInferResponse>;

    async fn model_stream_infer(
        &self,
        request: Request<Streaming<ModelInferRequest>>,
    ) -> Result<Response<Self::ModelStreamInferStream>, Status> {
        let registry = Arc::clone(&self.registry);
        let statistics = Arc::clone(&self.statistics);
        // One request at a time, so the responses keep the requests' order; a failed
        // request's error goes in-band and the stream goes on. A failure of the stream
        // itself (a message over the limit, a reset) ends it.
        let responses = request.into_inner().then(move |request| {
            let (registry, statistics) = (Arc::clone(&registry), Arc::clone(&statistics));
            async move {
                let request = request?;
                Ok(match infer_one(&registry, &statistics, request).await {
                    Ok(response) => ModelStreamInferResponse {
                        error_message: String::new(),
                        infer_response: Some(response),
                    },
                    Err(status) => ModelStreamInferResponse {
                        error_message: status.message().to_owned(),
                        infer_response: None,
                    },
                })
            }
        });
        Ok(Response::new(Box::pin(self.streams.track(responses))))
    }

    async fn model_statistics(
        &self,
        request: Request<ModelStatisticsRequest>,
    ) -> Result<Response<ModelStatisticsResponse>, Status> {
        let ModelStatisticsRequest { name, version } = request.into_inner();
        let model_stats = if name.is_empty() {
            self.registry
                .entries()
                .filter_map(|(_, entry)| match entry {
                    ModelEntry::Ready(model) => Some(model.card()),
                    ModelEntry::Failed { .. } => None,
                })
                .map(|card| model_statistics(&card.id, &card.version, self.statistics.of(&card.id)))
                .collect()
        } else {
            let card = self.model(&name, &version)?.card();
            vec![model_statistics(
                &card.id,
                &card.version,
                self.statistics.of(&card.id),
            )]
        };
        Ok(Response::new(ModelStatisticsResponse { model_stats }))
    }

    async fn repository_index(
        &self,
        request: Request<RepositoryIndexRequest>,
    ) -> Result<Response<RepositoryIndexResponse>, Status> {
        let ready_only = request.into_inner().ready;
        let models = self
            .registry
            .entries()
            .filter_map(|(name, entry)| {
                let (version, state, reason) = match entry {
                    ModelEntry::Ready(model) => (model.card().version.clone(), "READY", ""),
                    ModelEntry::Failed { .. } if ready_only => return None,
                    ModelEntry::Failed { card, reason } => (
                        card.as_ref().map(|c| c.version.clone()).unwrap_or_default(),
                        "UNAVAILABLE",
                        reason.as_str(),
                    ),
                };
                Some(ModelIndex {
                    name: name.to_owned(),
                    version,
                    state: state.to_owned(),
                    reason: reason.to_owned(),
                })
            })
            .collect();
        Ok(Response::new(RepositoryIndexResponse { models }))
    }
}
