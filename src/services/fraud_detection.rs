//! `fraud_detection.FraudDetectionService`: PredictFraud over the fraud model.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::{
    domain::fraud::{self, FraudError, Transaction},
    domain::models::{Batcher, ModelError, ModelRegistry},
    proto::fraud_detection::{
        PredictionRequest, PredictionResponse,
        fraud_detection_service_server::FraudDetectionService,
    },
};

/// The fraud detection service.
#[derive(Debug, Clone)]
pub struct FraudService {
    /// Runs the fraud model on concurrent calls' rows in batches; or why the model is
    /// not available, for every call's UNAVAILABLE. The registry is fixed at startup,
    /// so this is looked up once, not per call.
    batcher: Result<Batcher, ModelError>,
}

impl FraudService {
    /// A service scoring with model `model_id` (`--fraud-model`) of `registry`.
    pub fn new(registry: Arc<ModelRegistry>, model_id: String) -> Self {
        Self {
            batcher: registry.get(&model_id).cloned().map(Batcher::new),
        }
    }
}

/// The request's fields are the transaction's, one for one (same names, same units).
impl From<PredictionRequest> for Transaction {
    fn from(request: PredictionRequest) -> Self {
        let PredictionRequest {
            transaction_id,
            amount,
            time,
            age_of_account,
            number_of_transactions,
        } = request;
        Self {
            transaction_id,
            amount,
            time,
            age_of_account,
            number_of_transactions,
        }
    }
}

/// The request a client (such as the REST gateway) sends for a transaction.
impl From<Transaction> for PredictionRequest {
    fn from(transaction: Transaction) -> Self {
        let Transaction {
            transaction_id,
            amount,
            time,
            age_of_account,
            number_of_transactions,
        } = transaction;
        Self {
            transaction_id,
            amount,
            time,
            age_of_account,
            number_of_transactions,
        }
    }
}

fn fraud_status(err: FraudError) -> Status {
    let message = err.to_string();
    match err {
        FraudError::InvalidField { field, .. } => super::invalid_argument(field, message),
        FraudError::NoThreshold => Status::unavailable(message),
        FraudError::Model(err) => super::model::model_status(err),
    }
}

#[tonic::async_trait]
impl FraudDetectionService for FraudService {
    async fn predict_fraud(
        &self,
        request: Request<PredictionRequest>,
    ) -> Result<Response<PredictionResponse>, Status> {
        let request = request.into_inner();
        let batcher = self.batcher.as_ref().map_err(|err| match err {
            // The client did not name the model: a missing one is the server's problem.
            ModelError::NotFound { .. } | ModelError::NotReady { .. } => {
                Status::unavailable(format!("the fraud model is not available: {err}"))
            }
            other => super::model::model_status(other.clone()),
        })?;
        let model = batcher.model();
        let transaction = Transaction::from(request);
        let threshold = fraud::threshold(model).map_err(fraud_status)?;
        let features = fraud::features(&transaction).map_err(fraud_status)?;
        // Five features through a small MLP: microseconds, mostly tract's fixed cost per
        // run, which the batcher shares among concurrent calls.
        let output = batcher
            .predict(features.to_vec())
            .await
            .map_err(|err| fraud_status(FraudError::Model(err)))?;
        let verdict = fraud::verdict(&output, threshold).map_err(fraud_status)?;
        Ok(Response::new(PredictionResponse {
            transaction_id: transaction.transaction_id,
            predicted_label: verdict.fraudulent,
            fraud_probability: verdict.probability,
            threshold: verdict.threshold,
            model_version: model.card().version.clone(),
        }))
    }
}
