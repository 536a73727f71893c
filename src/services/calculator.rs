//! `calculator.Calculator`: arithmetic in all four RPC styles.

use tonic::{Code, Request, Response, Status, Streaming};

use super::ResponseStream;
use crate::{
    domain::calculator::{self, BinaryOp, CalcError, RunningMax, Summary},
    domain::streams::ActiveStreams,
    proto::calculator::{
        AverageResponse, Number, Operands, PrimeFactor, PrimeFactorsRequest,
        calculator_server::Calculator,
    },
};

/// The Calculator service.
#[derive(Debug, Clone)]
pub struct CalculatorService {
    /// Counts the streams this service is working on.
    streams: ActiveStreams,
}

impl CalculatorService {
    /// A Calculator counting its streams in `streams`.
    pub fn new(streams: ActiveStreams) -> Self {
        Self { streams }
    }
}

/// INVALID_ARGUMENT with a BadRequest naming the field, or OUT_OF_RANGE for a result
/// beyond a double's or (seed 003's Calculator, `super::seeds`) a float's range: valid
/// operands, so no field is at fault.
pub(super) fn calc_status(err: CalcError) -> Status {
    if err.is_invalid_argument() {
        super::invalid_argument(err.field(), err.to_string())
    } else {
        Status::new(Code::OutOfRange, err.to_string())
    }
}

fn binary(op: BinaryOp, request: Request<Operands>) -> Result<Response<Number>, Status> {
    let Operands { a, b } = request.into_inner();
    let value = calculator::apply(op, a, b).map_err(calc_status)?;
    Ok(Response::new(Number { value }))
}

#[tonic::async_trait]
impl Calculator for CalculatorService {
    async fn square_root(&self, request: Request<Number>) -> Result<Response<Number>, Status> {
        let value = calculator::square_root(request.get_ref().value).map_err(calc_status)?;
        Ok(Response::new(Number { value }))
    }

    async fn add(&self, request: Request<Operands>) -> Result<Response<Number>, Status> {
        binary(BinaryOp::Add, request)
    }

    async fn subtract(&self, request: Request<Operands>) -> Result<Response<Number>, Status> {
        binary(BinaryOp::Subtract, request)
    }

    async fn multiply(&self, request: Request<Operands>) -> Result<Response<Number>, Status> {
        binary(BinaryOp::Multiply, request)
    }

    async fn divide(&self, request: Request<Operands>) -> Result<Response<Number>, Status> {
        binary(BinaryOp::Divide, request)
    }

    type PrimeFactorsStream = ResponseStream<PrimeFactor>;

    async fn prime_factors(
        &self,
        request: Request<PrimeFactorsRequest>,
    ) -> Result<Response<Self::PrimeFactorsStream>, Status> {
        let number = request.get_ref().number;
        // Factoring a u64 takes at most milliseconds; it runs before the stream starts so
        // that an invalid number is a plain error status rather than a failed stream.
        let factors = calculator::prime_factors(number).map_err(calc_status)?;
        let stream =
            tokio_stream::iter(factors.into_iter().map(|factor| Ok(PrimeFactor { factor })));
        Ok(Response::new(Box::pin(self.streams.track(stream))))
    }

    async fn average(
        &self,
        request: Request<Streaming<Number>>,
    ) -> Result<Response<AverageResponse>, Status> {
        let mut numbers = request.into_inner();
        let mut summary = Summary::new();
        // Client streaming: read until the client closes its side, then answer once.
        while let Some(Number { value }) = numbers.message().await? {
            summary.push(value).map_err(calc_status)?;
        }
        let stats = summary.finish().map_err(calc_status)?;
        Ok(Response::new(AverageResponse {
            count: stats.count,
            mean: stats.mean,
            min: stats.min,
            max: stats.max,
        }))
    }

    type RunningMaxStream = ResponseStream<Number>;

    async fn running_max(
        &self,
        request: Request<Streaming<Number>>,
    ) -> Result<Response<Self::RunningMaxStream>, Status> {
        let mut numbers = request.into_inner();
        let guard = self.streams.open();
        let maxima = async_stream::try_stream! {
            let _guard = guard;
            let mut running = RunningMax::new();
            while let Some(Number { value }) = numbers.message().await? {
                let max = running.push(value).map_err(calc_status)?;
                yield Number { value: max };
            }
        };
        Ok(Response::new(Box::pin(maxima)))
    }
}
