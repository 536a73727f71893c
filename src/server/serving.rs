//! The health statuses the server sets: every service SERVING once it serves (the fraud
//! service only with its model ready), and the feedback service following its
//! database's reachability.

use tokio::sync::watch;
use tonic::server::NamedService;
use tracing::warn;

use super::Settings;
use crate::{
    domain::{
        health::{HealthRegistry, OVERALL, ServingStatus},
        models::{ModelEntry, ModelRegistry},
    },
    proto::{
        feedback::feedback_service_server::FeedbackServiceServer,
        fraud_detection::fraud_detection_service_server::FraudDetectionServiceServer,
    },
    services::{feedback::FeedbackService, fraud_detection::FraudService},
};

/// Keeps the feedback service's health status on the store's: NOT_SERVING while its
/// database cannot be reached (the other services are not affected), SERVING again when
/// it returns. Ends when the store does.
pub(super) async fn follow_feedback_store(
    health: HealthRegistry,
    mut available: watch::Receiver<bool>,
) {
    let name = <FeedbackServiceServer<FeedbackService> as NamedService>::NAME;
    loop {
        let status = if *available.borrow_and_update() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        health.set(name, status);
        if available.changed().await.is_err() {
            return;
        }
    }
}

/// Every service in `names` SERVING, and the whole server; the fraud service only with
/// its model loaded and a decision threshold.
pub(super) fn set_serving(
    health: &HealthRegistry,
    names: &[String],
    settings: &Settings,
    models: &ModelRegistry,
) {
    for name in names {
        health.set(name, ServingStatus::Serving);
    }
    let fraud_ready = matches!(
        models.entry(&settings.fraud_model),
        Some(ModelEntry::Ready(model)) if model.card().threshold.is_some()
    );
    if !fraud_ready {
        warn!(model = %settings.fraud_model, "fraud model not ready: FraudDetectionService is NOT_SERVING");
        health.set(
            <FraudDetectionServiceServer<FraudService> as NamedService>::NAME,
            ServingStatus::NotServing,
        );
    }
    health.set(OVERALL, ServingStatus::Serving);
}
