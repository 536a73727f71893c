//! `grpc.testing.TestService` and `grpc.testing.UnimplementedService`: the gRPC interop
//! tests' server (grpc/grpc, `doc/interop-test-descriptions.md`, "Server"), so that the
//! interop client of any gRPC implementation can test this server. The handlers are
//! here; [`wire::InteropWire`] does what they cannot see on the wire (each request
//! message's compressed flag, the echoed metadata), and the server's response
//! compression compresses the replies a request asks to be compressed.
//!
//! A request of a few bytes may ask for replies of up to 4 MB each: the streaming
//! methods reserve each reply's payload from the server's memory budget (the caller's
//! half and the server's, [`crate::domain::budget`]) before making it, and keep it until
//! the reply has left, so a client that asks and never reads holds a bounded amount.
//! HalfDuplexCall keeps at most [`MAX_HELD_PARAMETERS`] reply descriptions until the
//! half-close, not the requests themselves.

pub mod wire;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use tonic::{Code, Request, Response, Status, Streaming, metadata::MetadataValue};
use wire::MessageFlags;

use super::ResponseStream;
use crate::{
    domain::{
        budget::{self, MemoryBudget, Reservation, StreamBudget},
        interop::{self, InvalidParameter},
        streams::ActiveStreams,
    },
    proto::interop::{
        BoolValue, EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
        SimpleResponse, StreamingInputCallRequest, StreamingInputCallResponse,
        StreamingOutputCallRequest, StreamingOutputCallResponse, test_service_server::TestService,
        unimplemented_service_server::UnimplementedService,
    },
};

/// The interop test service.
#[derive(Debug, Clone)]
pub struct InteropService {
    /// This server instance's name, for `fill_server_id`.
    instance: String,
    /// This machine's host name, for `fill_server_id`.
    hostname: String,
    /// Counts the streams this service is working on.
    streams: ActiveStreams,
    /// The memory the streams' replies may hold until sent.
    budget: MemoryBudget,
}

/// The most response parameters HalfDuplexCall holds until the client half-closes.
pub const MAX_HELD_PARAMETERS: usize = 100_000;

impl InteropService {
    /// The service of the server instance `instance` on the machine `hostname`, whose
    /// streaming replies are held within `budget`.
    pub fn new(
        instance: String,
        hostname: String,
        streams: ActiveStreams,
        budget: MemoryBudget,
    ) -> Self {
        Self {
            instance,
            hostname,
            streams,
            budget,
        }
    }

    /// The budget of a new stream of `request`'s caller.
    fn stream_budget<T>(&self, request: &Request<T>) -> Arc<StreamBudget> {
        Arc::new(self.budget.stream(&super::caller(request)))
    }
}

fn invalid(err: InvalidParameter) -> Status {
    super::invalid_argument(err.field, err.to_string())
}

/// The flags [`wire::InteropWire`] put in the request (none outside it).
fn flags<T>(request: &Request<T>) -> MessageFlags {
    request
        .extensions()
        .get::<MessageFlags>()
        .cloned()
        .unwrap_or_default()
}

/// CompressedRequest: INVALID_ARGUMENT when `expect` asks for a compressed message and
/// this one (`compressed`, from the wire) was not.
fn check_compressed(
    field: &'static str,
    expect: Option<&BoolValue>,
    compressed: Option<bool>,
) -> Result<(), Status> {
    if expect.is_some_and(|e| e.value) && compressed != Some(true) {
        return Err(super::invalid_argument(
            field,
            format!("{field} is true, but the request message was not compressed"),
        ));
    }
    Ok(())
}

/// Only COMPRESSABLE payloads exist; another type gets INVALID_ARGUMENT.
fn check_type(response_type: i32) -> Result<(), Status> {
    if response_type != PayloadType::Compressable as i32 {
        return Err(super::invalid_argument(
            "response_type",
            format!("payload type {response_type} is not served; only COMPRESSABLE (0) is"),
        ));
    }
    Ok(())
}

/// Echo Status: the status a request asks for, unless it is OK.
fn echo_status(status: Option<&EchoStatus>) -> Result<(), Status> {
    match status {
        Some(EchoStatus { code, message }) if *code != 0 => {
            Err(Status::new(Code::from_i32(*code), message.clone()))
        }
        _ => Ok(()),
    }
}

fn payload(field: &'static str, size: i32) -> Result<Payload, Status> {
    Ok(Payload {
        r#type: PayloadType::Compressable.into(),
        body: interop::zeros(field, size).map_err(invalid)?,
    })
}

/// Echo Status and the payload type of one streaming request, before its responses.
fn check_streaming(request: &StreamingOutputCallRequest) -> Result<(), Status> {
    echo_status(request.response_status.as_ref())?;
    check_type(request.response_type)
}

/// One response as `parameters` asks: after its interval, compressed if it asks
/// (through `flags`), with its payload reserved from `budget` (waiting while it is full).
async fn one_response(
    parameters: &ResponseParameters,
    flags: &MessageFlags,
    budget: &StreamBudget,
) -> Result<(StreamingOutputCallResponse, Reservation), Status> {
    tokio::time::sleep(interop::interval(parameters.interval_us).map_err(invalid)?).await;
    // A negative size is refused by `payload` below; reserve nothing for it.
    let bytes = usize::try_from(parameters.size).unwrap_or(0);
    let reservation = budget
        .reserve(bytes.min(interop::MAX_PAYLOAD))
        .await
        .map_err(|err| Status::resource_exhausted(format!("a reply {err} (--stream-memory)")))?;
    let payload = payload("response_parameters.size", parameters.size)?;
    flags.send_next(parameters.compressed.as_ref().map(|c| c.value));
    let response = StreamingOutputCallResponse {
        payload: Some(payload),
    };
    Ok((response, reservation))
}

#[tonic::async_trait]
impl TestService for InteropService {
    async fn empty_call(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        Ok(Response::new(Empty {}))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let flags = flags(&request);
        let request = request.into_inner();
        check_compressed(
            "expect_compressed",
            request.expect_compressed.as_ref(),
            flags.next_received(),
        )?;
        echo_status(request.response_status.as_ref())?;
        check_type(request.response_type)?;
        let payload = payload("response_size", request.response_size)?;
        flags.send_next(request.response_compressed.as_ref().map(|c| c.value));
        let (server_id, hostname) = if request.fill_server_id {
            (self.instance.clone(), self.hostname.clone())
        } else {
            Default::default()
        };
        Ok(Response::new(SimpleResponse {
            payload: Some(payload),
            server_id,
            hostname,
            ..SimpleResponse::default()
        }))
    }

    async fn cacheable_unary_call(
        &self,
        _request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut response = Response::new(SimpleResponse {
            payload: Some(Payload {
                r#type: PayloadType::Compressable.into(),
                body: nanos.to_string().into_bytes(),
            }),
            ..SimpleResponse::default()
        });
        response
            .metadata_mut()
            .insert("cache-control", MetadataValue::from_static("max-age=60"));
        Ok(response)
    }

    type StreamingOutputCallStream = ResponseStream<StreamingOutputCallResponse>;

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<Self::StreamingOutputCallStream>, Status> {
        let flags = flags(&request);
        let budget = self.stream_budget(&request);
        let request = request.into_inner();
        check_streaming(&request)?;
        let guard = self.streams.open();
        let responses = async_stream::try_stream! {
            let _guard = guard;
            for parameters in &request.response_parameters {
                yield one_response(parameters, &flags, &budget).await?;
            }
        };
        Ok(Response::new(Box::pin(budget::held_until_sent(responses))))
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let flags = flags(&request);
        let _guard = self.streams.open();
        let mut requests = request.into_inner();
        // A running total, not a list: any number of messages takes no more memory.
        let mut total = 0u64;
        while let Some(message) = requests.message().await? {
            check_compressed(
                "expect_compressed",
                message.expect_compressed.as_ref(),
                flags.next_received(),
            )?;
            total += message.payload.map_or(0, |p| p.body.len()) as u64;
        }
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        Ok(Response::new(StreamingInputCallResponse {
            aggregated_payload_size: interop::aggregate([total]).map_err(invalid)?,
        }))
    }

    type FullDuplexCallStream = ResponseStream<StreamingOutputCallResponse>;

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<Self::FullDuplexCallStream>, Status> {
        let flags = flags(&request);
        let budget = self.stream_budget(&request);
        let mut requests = request.into_inner();
        let guard = self.streams.open();
        let responses = async_stream::try_stream! {
            let _guard = guard;
            while let Some(request) = requests.message().await? {
                check_streaming(&request)?;
                for parameters in &request.response_parameters {
                    yield one_response(parameters, &flags, &budget).await?;
                }
            }
        };
        Ok(Response::new(Box::pin(budget::held_until_sent(responses))))
    }

    type HalfDuplexCallStream = ResponseStream<StreamingOutputCallResponse>;

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<Self::HalfDuplexCallStream>, Status> {
        let flags = flags(&request);
        let budget = self.stream_budget(&request);
        let mut requests = request.into_inner();
        let guard = self.streams.open();
        let responses = async_stream::try_stream! {
            let _guard = guard;
            // What each request asks of the replies, without its payload.
            let mut all = Vec::new();
            let mut held = 0;
            while let Some(request) = requests.message().await? {
                held += request.response_parameters.len();
                if held > MAX_HELD_PARAMETERS {
                    Err(Status::resource_exhausted(format!(
                        "HalfDuplexCall holds at most {MAX_HELD_PARAMETERS} response parameters \
                         until the client half-closes"
                    )))?;
                }
                all.push(StreamingOutputCallRequest {
                    payload: None,
                    ..request
                });
            }
            for request in &all {
                check_streaming(request)?;
                for parameters in &request.response_parameters {
                    yield one_response(parameters, &flags, &budget).await?;
                }
            }
        };
        Ok(Response::new(Box::pin(budget::held_until_sent(responses))))
    }

    async fn unimplemented_call(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "grpc.testing.TestService/UnimplementedCall is not implemented, by design",
        ))
    }
}

/// `grpc.testing.UnimplementedService`: every call gets UNIMPLEMENTED.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unimplemented;

#[tonic::async_trait]
impl UnimplementedService for Unimplemented {
    async fn unimplemented_call(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "grpc.testing.UnimplementedService is not implemented, by design",
        ))
    }
}
