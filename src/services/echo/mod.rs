//! `grpc.examples.echo.Echo`: grpc-go's echo service, whose behaviours the client
//! chooses in request metadata (`proto/echo.proto` documents them; the domain module
//! [`crate::domain::echo`] parses them). The handlers here do the status, delay, flaky
//! and stream-shape behaviours, and the messages of grpc-go's deadline example
//! (`delay`; `[propagate me]`, in [`propagate`]); [`metadata::EchoMetadata`] echoes the
//! headers into the response headers and trailers, with those of grpc-go's metadata
//! example.

pub mod metadata;
pub mod propagate;

use std::{sync::Arc, time::Instant};

use tokio_stream::StreamExt;
use tonic::{Code, Request, Response, Status, Streaming, metadata::MetadataMap};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::info;

use super::ResponseStream;
use crate::domain::quote::quote;
use crate::{
    domain::{
        echo::{
            Attempt, Behaviour, ChosenStatus, Detail, RetryKeys,
            grpc_go::{RETRY_MESSAGE, RETRY_MODULO, RetryExample, message_delay, propagated},
        },
        streams::ActiveStreams,
    },
    proto::echo::{EchoRequest, EchoResponse, echo_server::Echo},
};

/// Replies of ServerStreamingEcho without `x-echo-count`.
const SERVER_STREAM_COUNT: u32 = 3;
/// Replies per request of BidirectionalStreamingEcho without `x-echo-count`.
const BIDI_COUNT: u32 = 1;

/// The echo service.
#[derive(Debug, Clone, Default)]
pub struct EchoService {
    /// How many calls each `x-echo-retry-key` has made, shared by every call.
    keys: Arc<RetryKeys>,
    /// How many UnaryEcho calls of grpc-go's retry example message there have been.
    retry_example: Arc<RetryExample>,
    /// Counts the streams this service is working on.
    streams: ActiveStreams,
}

impl EchoService {
    /// An echo service counting its streams in `streams`.
    pub fn new(streams: ActiveStreams) -> Self {
        Self {
            keys: Arc::new(RetryKeys::default()),
            retry_example: Arc::default(),
            streams,
        }
    }

    /// The behaviour `metadata` asks for, after the flaky check: UNAVAILABLE with a
    /// RetryInfo while the retry key's first calls fail.
    fn start(&self, metadata: &MetadataMap) -> Result<Behaviour, Status> {
        let behaviour = Behaviour::parse(|name| metadata.get(name).and_then(|v| v.to_str().ok()))
            .map_err(|err| super::invalid_argument(err.header, err.to_string()))?;
        if let Some(flaky) = &behaviour.flaky
            && let Attempt::Fail { attempt, of } = self.keys.attempt(flaky, Instant::now())
        {
            let details = ErrorDetails::with_retry_info(Some(flaky.retry_delay));
            return Err(Status::with_error_details(
                Code::Unavailable,
                format!(
                    "attempt {attempt} of key {} fails, as x-echo-fail-first asked ({of} \
                     fail); retry after {:?}",
                    quote(&flaky.key),
                    flaky.retry_delay
                ),
                details,
            ));
        }
        Ok(behaviour)
    }

    /// The reply's message for `message` in a call with one reply (UnaryEcho; the last
    /// request of ClientStreamingEcho), after grpc-go's deadline example: for
    /// `[propagate me]REST`, the nested call's reply ([`propagate`]); otherwise
    /// `message`, after its wait ([`message_delay`]).
    async fn answer(&self, message: String, deadline: Option<Instant>) -> Result<String, Status> {
        if let Some(rest) = propagated(&message) {
            return Ok(self.propagate(rest, deadline).await?.message);
        }
        tokio::time::sleep(message_delay(&message)).await;
        Ok(message)
    }
}

/// The status a client chose, with the details it asked for (sample values that say
/// where they came from).
fn chosen_status(chosen: &ChosenStatus) -> Status {
    let mut details = ErrorDetails::new();
    for detail in &chosen.details {
        match detail {
            Detail::RetryInfo => {
                details.set_retry_info(Some(std::time::Duration::from_millis(100)));
            }
            Detail::QuotaFailure => {
                details.add_quota_failure_violation(
                    "echo-demo-quota",
                    "x-echo-detail asked for a quota failure",
                );
            }
            Detail::ErrorInfo => {
                details.set_error_info(
                    "ECHO_DETAIL_REQUESTED",
                    "grpc-showcase.echo",
                    [("header".to_owned(), "x-echo-detail".to_owned())],
                );
            }
            Detail::BadRequest => {
                details
                    .add_bad_request_violation("message", "x-echo-detail asked for a bad request");
            }
            Detail::DebugInfo => {
                details.set_debug_info(
                    vec!["grpc_showcase::services::echo::chosen_status".to_owned()],
                    "x-echo-detail asked for debug info",
                );
            }
        }
    }
    Status::with_error_details(Code::from_i32(chosen.code), chosen.message.clone(), details)
}

/// Logs a call whose handler was dropped before it finished: the client cancelled, or
/// its deadline passed. Lessons look for this line.
struct Watch {
    method: &'static str,
    replies: u32,
    finished: bool,
}

impl Watch {
    fn new(method: &'static str) -> Self {
        Self {
            method,
            replies: 0,
            finished: false,
        }
    }

    /// Ends the call with `status`: the handler finished, with an error.
    fn fail(&mut self, status: Status) -> Status {
        self.finished = true;
        status
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.finished {
            info!(
                method = self.method,
                replies = self.replies,
                "echo: the call ended before its handler finished (cancelled by the client \
                 or past its deadline); the handler stopped"
            );
        }
    }
}

/// Ends the call as `behaviour` asks, once its replies are sent.
fn end(behaviour: &Behaviour, watch: &mut Watch) -> Result<(), Status> {
    watch.finished = true;
    match &behaviour.status {
        Some(chosen) => Err(chosen_status(chosen)),
        None => Ok(()),
    }
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Status> {
        let behaviour = self.start(request.metadata())?;
        if request.get_ref().message == RETRY_MESSAGE && !self.retry_example.succeeds() {
            // grpc-go's retry example server's answer, word for word.
            return Err(Status::unavailable(format!(
                "maybeFailRequest: failing it ({RETRY_MESSAGE:?} fails {} calls in \
                 {RETRY_MODULO}, as in grpc-go's retry example: retry it)",
                RETRY_MODULO - 1
            )));
        }
        let deadline = propagate::deadline(request.metadata());
        let mut watch = Watch::new("UnaryEcho");
        tokio::time::sleep(behaviour.delay).await;
        let message = self
            .answer(request.into_inner().message, deadline)
            .await
            .map_err(|status| watch.fail(status))?;
        end(&behaviour, &mut watch)?;
        Ok(Response::new(EchoResponse { message }))
    }

    type ServerStreamingEchoStream = ResponseStream<EchoResponse>;

    async fn server_streaming_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<Self::ServerStreamingEchoStream>, Status> {
        let behaviour = self.start(request.metadata())?;
        let deadline = propagate::deadline(request.metadata());
        let mut message = request.into_inner().message;
        let guard = self.streams.open();
        let service = self.clone();
        let replies = async_stream::try_stream! {
            let _guard = guard;
            let mut watch = Watch::new("ServerStreamingEcho");
            // grpc-go's deadline example: the nested call's reply first, then the rest.
            if let Some(rest) = propagated(&message) {
                let reply = service
                    .propagate(rest, deadline)
                    .await
                    .map_err(|status| watch.fail(status))?;
                watch.replies += 1;
                yield reply;
                message = rest.to_owned();
            }
            let mut wait = message_delay(&message);
            for i in 0..behaviour.count.unwrap_or(SERVER_STREAM_COUNT) {
                if i > 0 {
                    tokio::time::sleep(behaviour.interval).await;
                }
                tokio::time::sleep(behaviour.delay + std::mem::take(&mut wait)).await;
                watch.replies += 1;
                yield EchoResponse { message: message.clone() };
            }
            end(&behaviour, &mut watch)?;
        };
        Ok(Response::new(Box::pin(replies)))
    }

    async fn client_streaming_echo(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let behaviour = self.start(request.metadata())?;
        let deadline = propagate::deadline(request.metadata());
        let mut watch = Watch::new("ClientStreamingEcho");
        let _guard = self.streams.open();
        let mut requests = request.into_inner();
        let mut last = String::new();
        while let Some(request) = requests.next().await {
            last = request?.message;
        }
        tokio::time::sleep(behaviour.delay).await;
        let message = self
            .answer(last, deadline)
            .await
            .map_err(|status| watch.fail(status))?;
        end(&behaviour, &mut watch)?;
        Ok(Response::new(EchoResponse { message }))
    }

    type BidirectionalStreamingEchoStream = ResponseStream<EchoResponse>;

    async fn bidirectional_streaming_echo(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Self::BidirectionalStreamingEchoStream>, Status> {
        let behaviour = self.start(request.metadata())?;
        let deadline = propagate::deadline(request.metadata());
        let mut requests = request.into_inner();
        let guard = self.streams.open();
        let service = self.clone();
        // One loop reads a request and writes its replies; dropping the stream (the
        // client cancelled) drops the loop.
        let replies = async_stream::try_stream! {
            let _guard = guard;
            let mut watch = Watch::new("BidirectionalStreamingEcho");
            while let Some(EchoRequest { mut message }) = requests.message().await? {
                // grpc-go's deadline example: the nested call's reply, then the rest.
                if let Some(rest) = propagated(&message) {
                    let reply = service
                        .propagate(rest, deadline)
                        .await
                        .map_err(|status| watch.fail(status))?;
                    watch.replies += 1;
                    yield reply;
                    message = rest.to_owned();
                }
                let mut wait = message_delay(&message);
                for i in 0..behaviour.count.unwrap_or(BIDI_COUNT) {
                    if i > 0 {
                        tokio::time::sleep(behaviour.interval).await;
                    }
                    tokio::time::sleep(behaviour.delay + std::mem::take(&mut wait)).await;
                    watch.replies += 1;
                    yield EchoResponse { message: message.clone() };
                }
            }
            end(&behaviour, &mut watch)?;
        };
        Ok(Response::new(Box::pin(replies)))
    }
}
