//! The seeds' package-less services, as the articles the project grew from print their
//! protos (`proto/seeds/`): `Greeter` (seed 004), `FeedbackService` (seed 004) and
//! `Calculator` (seed 003, on floats). Each is a thin adapter over the same domain code
//! as its packaged twin, so that the articles' clients run unchanged and get the same
//! answers.

use futures::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::{ResponseStream, calculator::calc_status};
use crate::{
    domain::{
        calculator::{self, BinaryOp},
        feedback::FeedbackStore,
        greeter,
        streams::ActiveStreams,
    },
    proto::{
        feedback,
        seeds::{
            FeedbackRequest, FeedbackResponse, HelloReply, HelloRequest, Number, NumberDouble,
            calculator_server, feedback_service_server, greeter_server,
        },
    },
};

/// Seed 004's `Greeter`: `SayHello` as `helloworld.Greeter` answers it.
#[derive(Debug, Clone, Default)]
pub struct SeedGreeter;

#[tonic::async_trait]
impl greeter_server::Greeter for SeedGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let message = greeter::hello(&request.get_ref().name)
            .map_err(|err| super::invalid_argument("name", err.to_string()))?;
        Ok(Response::new(HelloReply { message }))
    }
}

/// Seed 004's `FeedbackService`: `SendFeedback` stores and acknowledges feedback
/// through the same pipeline as `feedback.FeedbackService/SendFeedback`, so that
/// `WatchFeedback` and `ListFeedback` see it.
#[derive(Debug, Clone)]
pub struct SeedFeedback {
    /// Where feedback is stored: the packaged service's store.
    store: FeedbackStore,
    /// Counts the SendFeedback streams in progress.
    streams: ActiveStreams,
}

impl SeedFeedback {
    /// Seed 004's feedback service over `store`.
    pub fn new(store: FeedbackStore, streams: ActiveStreams) -> Self {
        Self { store, streams }
    }
}

/// The packaged form of the seed's request `index`, validated here: the seed's
/// FeedbackResponse has no error field, so a refused feedback is an INVALID_ARGUMENT
/// status naming its position, which ends the stream.
fn packaged(index: usize, request: FeedbackRequest) -> Result<feedback::FeedbackRequest, Status> {
    let FeedbackRequest {
        consumer_id,
        feedback,
    } = request;
    crate::domain::feedback::validate(&consumer_id, &feedback).map_err(|invalid| {
        let message = format!(
            "feedback {index} (counting from 0) was refused and not stored: {}",
            invalid.message
        );
        super::invalid_argument(invalid.field, message)
    })?;
    Ok(feedback::FeedbackRequest {
        consumer_id,
        feedback,
        idempotency_key: String::new(),
    })
}

#[tonic::async_trait]
impl feedback_service_server::FeedbackService for SeedFeedback {
    type SendFeedbackStream = ResponseStream<FeedbackResponse>;

    async fn send_feedback(
        &self,
        request: Request<Streaming<FeedbackRequest>>,
    ) -> Result<Response<Self::SendFeedbackStream>, Status> {
        // The request stream ends at its first error (a refusal, a bad read): nothing
        // after it is read or stored, and the pipeline answers everything before it,
        // in order, before passing the error on.
        let mut failed = false;
        let requests = request
            .into_inner()
            .enumerate()
            .map(|(index, request)| request.and_then(|request| packaged(index, request)))
            .take_while(move |request| {
                let go_on = !failed;
                failed |= request.is_err();
                std::future::ready(go_on)
            });
        let responses =
            super::feedback::acknowledgements(self.store.clone(), requests).map(|response| {
                response.map(|response| FeedbackResponse {
                    response_message: response.response_message,
                })
            });
        Ok(Response::new(Box::pin(self.streams.track(responses))))
    }
}

/// Seed 003's `Calculator`: the arithmetic of `calculator.Calculator` on floats.
#[derive(Debug, Clone, Default)]
pub struct SeedCalculator;

/// `value1 (op) value2`, computed in double precision and rounded to a float.
fn binary(op: BinaryOp, request: Request<NumberDouble>) -> Result<Response<Number>, Status> {
    let NumberDouble { value1, value2 } = request.into_inner();
    let result = calculator::apply_named(
        op,
        ("value1", f64::from(value1)),
        ("value2", f64::from(value2)),
    )
    .and_then(calculator::to_float)
    .map_err(calc_status)?;
    Ok(Response::new(Number { value: result }))
}

#[tonic::async_trait]
impl calculator_server::Calculator for SeedCalculator {
    async fn square_root(&self, request: Request<Number>) -> Result<Response<Number>, Status> {
        let value = calculator::square_root(f64::from(request.get_ref().value))
            .and_then(calculator::to_float)
            .map_err(calc_status)?;
        Ok(Response::new(Number { value }))
    }

    async fn add(&self, request: Request<NumberDouble>) -> Result<Response<Number>, Status> {
        binary(BinaryOp::Add, request)
    }

    async fn subtract(&self, request: Request<NumberDouble>) -> Result<Response<Number>, Status> {
        binary(BinaryOp::Subtract, request)
    }

    async fn multiply(&self, request: Request<NumberDouble>) -> Result<Response<Number>, Status> {
        binary(BinaryOp::Multiply, request)
    }

    async fn divide(&self, request: Request<NumberDouble>) -> Result<Response<Number>, Status> {
        binary(BinaryOp::Divide, request)
    }
}
