//! Serving status per service: the domain behind `grpc.health.v1.Health`.
//!
//! A [`HealthRegistry`] holds the status of every hosted service by its full name
//! (`"helloworld.Greeter"`) plus the overall status under `""`, and lets any number
//! of watchers follow one service's status. It follows the semantics of
//! [grpc/health/v1/health.proto](https://github.com/grpc/grpc-proto/blob/master/grpc/health/v1/health.proto):
//! a watcher of a service that is not registered is told `SERVICE_UNKNOWN` and kept
//! on the stream, and told again when the service appears. (tonic-health 0.14's own
//! service ends such a Watch with NOT_FOUND instead, which is why this one exists.)
//!
//! At shutdown, [`HealthRegistry::shut_down`] sets every status to `NOT_SERVING`;
//! watchers receive that status and then their watch ends, so an open Watch does
//! not hold the server's graceful shutdown for its whole grace period.

use std::collections::BTreeMap;

use tokio::sync::watch;

/// The serving status of one service, as in health.proto's `ServingStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServingStatus {
    /// Registered, but not yet known to be ready.
    Unknown,
    /// Ready to take calls.
    Serving,
    /// Not taking calls: starting, failed, or shutting down.
    NotServing,
    /// Not registered on this server (Watch only; Check answers NOT_FOUND).
    ServiceUnknown,
}

/// The service name under which the server's overall status is kept.
pub const OVERALL: &str = "";

#[derive(Debug, Default)]
struct State {
    statuses: BTreeMap<String, ServingStatus>,
    shutting_down: bool,
}

/// The status of every registered service. Cheap to clone: clones share the state.
#[derive(Debug, Clone)]
pub struct HealthRegistry {
    state: watch::Sender<State>,
}

impl Default for HealthRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthRegistry {
    /// A registry with only the overall status `""`, `NOT_SERVING` until the server
    /// says it is ready.
    pub fn new() -> Self {
        let registry = Self {
            state: watch::Sender::new(State::default()),
        };
        registry.set(OVERALL, ServingStatus::NotServing);
        registry
    }

    /// Registers `service` (a full name such as `"calculator.Calculator"`, or
    /// [`OVERALL`]) with `status`, or changes its status. Watchers are told only
    /// when the status really changes. Ignored once shutdown has begun: a service
    /// cannot come back to `SERVING` on a server that is going away.
    pub fn set(&self, service: &str, status: ServingStatus) {
        self.state.send_if_modified(|state| {
            if state.shutting_down {
                return false;
            }
            let old = state.statuses.insert(service.to_owned(), status);
            old != Some(status)
        });
    }

    /// The status of `service`; `None` when it is not registered.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.state.borrow().statuses.get(service).copied()
    }

    /// The names of all registered services, in order, `""` first.
    pub fn services(&self) -> Vec<String> {
        self.state.borrow().statuses.keys().cloned().collect()
    }

    /// Sets every status to `NOT_SERVING` and ends every watch after it has seen that.
    pub fn shut_down(&self) {
        self.state.send_modify(|state| {
            state.shutting_down = true;
            for status in state.statuses.values_mut() {
                *status = ServingStatus::NotServing;
            }
        });
    }

    /// Follows the status of `service`: see [`HealthWatch::next`].
    pub fn watch(&self, service: &str) -> HealthWatch {
        HealthWatch {
            service: service.to_owned(),
            receiver: self.state.subscribe(),
            last: None,
            done: false,
        }
    }
}

/// One watcher of one service's status.
#[derive(Debug)]
pub struct HealthWatch {
    service: String,
    receiver: watch::Receiver<State>,
    /// The status this watcher last reported, so that repeats are not reported.
    last: Option<ServingStatus>,
    /// Set once the final `NOT_SERVING` of a shutdown has been reported.
    done: bool,
}

impl HealthWatch {
    /// The next status to report: at once the current status (`SERVICE_UNKNOWN` when
    /// the service is not registered), then each change, never the same status twice
    /// in a row. `None` once the registry has shut down and that was reported, or the
    /// registry is gone.
    pub async fn next(&mut self) -> Option<ServingStatus> {
        loop {
            if self.done {
                return None;
            }
            let (status, shutting_down) = {
                let state = self.receiver.borrow_and_update();
                let status = state
                    .statuses
                    .get(&self.service)
                    .copied()
                    .unwrap_or(ServingStatus::ServiceUnknown);
                (status, state.shutting_down)
            };
            if shutting_down {
                self.done = true;
                if self.last != Some(status) {
                    self.last = Some(status);
                    return Some(status);
                }
                return None;
            }
            if self.last != Some(status) {
                self.last = Some(status);
                return Some(status);
            }
            if self.receiver.changed().await.is_err() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watch_reports_current_then_changes_without_repeats() {
        let registry = HealthRegistry::new();
        registry.set("a.A", ServingStatus::NotServing);
        let mut watch = registry.watch("a.A");
        assert_eq!(watch.next().await, Some(ServingStatus::NotServing));
        registry.set("a.A", ServingStatus::NotServing);
        registry.set("a.A", ServingStatus::Serving);
        assert_eq!(watch.next().await, Some(ServingStatus::Serving));
    }

    #[tokio::test]
    async fn unknown_service_is_reported_then_followed_when_it_appears() {
        let registry = HealthRegistry::new();
        let mut watch = registry.watch("late.Service");
        assert_eq!(watch.next().await, Some(ServingStatus::ServiceUnknown));
        registry.set("late.Service", ServingStatus::Serving);
        assert_eq!(watch.next().await, Some(ServingStatus::Serving));
        assert_eq!(registry.status("nope.Nope"), None);
    }

    #[tokio::test]
    async fn shutdown_reports_not_serving_then_ends() {
        let registry = HealthRegistry::new();
        registry.set(OVERALL, ServingStatus::Serving);
        let mut watch = registry.watch(OVERALL);
        assert_eq!(watch.next().await, Some(ServingStatus::Serving));
        registry.shut_down();
        assert_eq!(watch.next().await, Some(ServingStatus::NotServing));
        assert_eq!(watch.next().await, None);
        // Nothing comes back to SERVING after shutdown.
        registry.set(OVERALL, ServingStatus::Serving);
        assert_eq!(registry.status(OVERALL), Some(ServingStatus::NotServing));
        // A watch begun during shutdown reports once, then ends.
        let mut late = registry.watch(OVERALL);
        assert_eq!(late.next().await, Some(ServingStatus::NotServing));
        assert_eq!(late.next().await, None);
    }
}
