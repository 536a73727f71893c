//! The gRPC adapters: one module per service, each a thin layer that validates the
//! request, calls the domain module, and maps the domain's errors to a precise
//! [`tonic::Status`].

pub mod calculator;
pub mod compression;
pub mod echo;
pub mod feedback;
pub mod fraud_detection;
pub mod greeter;
pub mod health;
pub mod inference;
pub mod interop;
pub mod model;
pub mod seeds;
pub mod video;

use std::pin::Pin;

use crate::domain::budget::Caller;

use futures::Stream;
use tonic::{Code, Status};

/// The response stream of a streaming handler: any stream of messages or a status.
pub(crate) type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;
use tonic_types::{ErrorDetails, StatusExt};

/// The caller of `request`, or [`Caller::Local`] for a call with none (a test calling
/// a service directly).
pub(crate) fn caller<T>(request: &tonic::Request<T>) -> Caller {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller::Local)
}

/// INVALID_ARGUMENT with `message`, plus a `google.rpc.BadRequest` detail whose field
/// violation names `field`, so that clients can point at the field programmatically.
pub(crate) fn invalid_argument(field: &str, message: String) -> Status {
    let details = ErrorDetails::with_bad_request_violation(field, message.clone());
    Status::with_error_details(Code::InvalidArgument, message, details)
}
