//! `grpc.health.v1.Health`: Check and Watch over the [`HealthRegistry`].
//!
//! The messages and the service trait are tonic-health's generated ones; only the
//! behaviour is ours (see [`crate::domain::health`] for why).

use tonic::{Request, Response, Status};
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse, health_check_response, health_server::Health,
};

use super::ResponseStream;
use crate::domain::quote::quote;
use crate::{
    domain::health::{HealthRegistry, ServingStatus},
    domain::streams::ActiveStreams,
};

/// The health service.
#[derive(Debug, Clone)]
pub struct HealthService {
    /// The statuses it reports.
    registry: HealthRegistry,
    /// Counts the Watch streams in progress.
    streams: ActiveStreams,
}

impl HealthService {
    /// A health service reporting the statuses in `registry`.
    pub fn new(registry: HealthRegistry, streams: ActiveStreams) -> Self {
        Self { registry, streams }
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    use health_check_response::ServingStatus as Pb;
    let status = match status {
        ServingStatus::Unknown => Pb::Unknown,
        ServingStatus::Serving => Pb::Serving,
        ServingStatus::NotServing => Pb::NotServing,
        ServingStatus::ServiceUnknown => Pb::ServiceUnknown,
    };
    HealthCheckResponse {
        status: status.into(),
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        match self.registry.status(service) {
            Some(status) => Ok(Response::new(response(status))),
            None => Err(Status::not_found(format!(
                "service {} is not registered; registered: {:?}",
                quote(service),
                self.registry.services()
            ))),
        }
    }

    type WatchStream = ResponseStream<HealthCheckResponse>;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut watch = self.registry.watch(&request.get_ref().service);
        let guard = self.streams.open();
        let statuses = async_stream::stream! {
            let _guard = guard;
            while let Some(status) = watch.next().await {
                yield Ok(response(status));
            }
            // The watch ends only when the server shuts down; UNAVAILABLE tells a client
            // to reconnect (to this server once it is back, or to another).
            yield Err(Status::unavailable("the server is shutting down"));
        };
        Ok(Response::new(Box::pin(statuses)))
    }
}
