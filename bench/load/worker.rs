//! The workers: each keeps one call (or one stream's window of messages) in flight until
//! the schedule ends, and tallies what came back.

use std::{sync::Arc, time::Instant};

use tonic::codec::CompressionEncoding;

use crate::{
    gateway::GatewayClient,
    payload::Payload,
    proto::{
        calculator::{Operands, calculator_client::CalculatorClient},
        feedback::{
            FeedbackRequest, FeedbackResponse, feedback_service_client::FeedbackServiceClient,
        },
        fraud_detection::fraud_detection_service_client::FraudDetectionServiceClient,
        helloworld::{HelloReply, HelloRequest, greeter_client::GreeterClient},
        inference::grpc_inference_service_client::GrpcInferenceServiceClient,
        model::model_inference_client::ModelInferenceClient,
        video::{
            ProcessFramesRequest, ProcessFramesResponse, process_frames_request::Message,
            video_processing_client::VideoProcessingClient,
        },
    },
    schedule::{Schedule, Tally},
    transport::{Connection, reply_encoding},
};

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct BearerToken(pub Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Authorized = tonic::service::interceptor::InterceptedService<Connection, BearerToken>;

/// A generated client over `$channel` that decodes replies compressed with any of
/// `$decodes` (the encodings the call's grpc-accept-encoding lists; none: it decodes
/// uncompressed replies only, as tonic's clients do by default).
macro_rules! client {
    ($client:ident, $channel:expr, $decodes:expr) => {{
        let mut client = $client::new($channel);
        for &encoding in $decodes {
            client = client.accept_compressed(encoding);
        }
        client
    }};
}

/// Runs calls of `payload` (request `offset` first, then the next ones, cycled) as
/// `schedule` allows; `decodes`: the reply encodings the clients decode.
pub async fn worker(
    channel: Authorized,
    decodes: Arc<[CompressionEncoding]>,
    gateway: GatewayClient,
    payload: Arc<Payload>,
    offset: usize,
    schedule: Arc<Schedule>,
) -> Tally {
    let mut tally = Tally::new();
    match payload.as_ref() {
        Payload::HelloStream { window } => {
            let mut client = client!(GreeterClient, channel.clone(), decodes.iter());
            windowed_stream(
                |requests| client.say_hello_bidi_stream(requests),
                None,
                |_| HelloRequest {
                    name: "load".into(),
                },
                |_: &HelloReply| None,
                *window,
                &schedule,
                &mut tally,
            )
            .await;
            return tally;
        }
        Payload::Feedback { window } => {
            let mut client = client!(FeedbackServiceClient, channel.clone(), decodes.iter());
            windowed_stream(
                |requests| client.send_feedback(requests),
                None,
                |n| FeedbackRequest {
                    consumer_id: format!("load-{offset}"),
                    feedback: format!("feedback {n} from the load tool: good service"),
                    ..FeedbackRequest::default()
                },
                |ack: &FeedbackResponse| ack.error.as_ref().map(|e| format!("code {}", e.code)),
                *window,
                &schedule,
                &mut tally,
            )
            .await;
            return tally;
        }
        Payload::Video {
            window,
            config,
            frame,
        } => {
            let mut client = client!(VideoProcessingClient, channel.clone(), decodes.iter())
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            windowed_stream(
                |requests| client.process_frames(requests),
                Some(config.clone()),
                |n| {
                    let mut frame = frame.clone();
                    frame.sequence_number = n;
                    ProcessFramesRequest {
                        message: Some(Message::Frame(frame)),
                    }
                },
                |_: &ProcessFramesResponse| None,
                *window,
                &schedule,
                &mut tally,
            )
            .await;
            return tally;
        }
        _ => {}
    }
    let mut fraud = client!(FraudDetectionServiceClient, channel.clone(), decodes.iter());
    let mut models = client!(ModelInferenceClient, channel.clone(), decodes.iter());
    let mut inference = client!(GrpcInferenceServiceClient, channel.clone(), decodes.iter());
    let mut calculator = client!(CalculatorClient, channel.clone(), decodes.iter());
    let mut greeter = client!(GreeterClient, channel, decodes.iter());
    // A reply's encoding, from its headers (grpc-encoding).
    fn encoding<T>(reply: tonic::Response<T>) -> Option<&'static str> {
        reply_encoding(reply.metadata())
    }
    let mut i = offset;
    loop {
        let Some(started) = schedule.start() else {
            return tally;
        };
        // The reply's encoding (None: uncompressed, or the gateway's JSON).
        let result: Result<Option<&'static str>, tonic::Status> = match payload.as_ref() {
            Payload::Fraud(requests) => fraud
                .predict_fraud(requests[i % requests.len()])
                .await
                .map(encoding),
            Payload::Predict(requests) => models
                .predict(requests[i % requests.len()].clone())
                .await
                .map(encoding),
            Payload::Infer(requests) => inference
                .model_infer(requests[i % requests.len()].clone())
                .await
                .map(encoding),
            Payload::HelloStream { .. } | Payload::Feedback { .. } | Payload::Video { .. } => {
                unreachable!("handled by windowed_stream")
            }
            Payload::Hello => greeter
                .say_hello(HelloRequest {
                    name: "load".into(),
                })
                .await
                .map(encoding),
            Payload::Calculator => calculator
                .add(Operands {
                    a: i as f64,
                    b: 0.5,
                })
                .await
                .map(encoding),
            Payload::Gateway(bodies) => gateway
                .post(bodies[i % bodies.len()].clone())
                .await
                .map(|()| None),
        };
        i += 1;
        if !schedule.measured(started) {
            continue;
        }
        match result {
            Ok(encoding) => tally.reply(started, encoding),
            Err(status) => tally.error(format!("{:?}", status.code())),
        }
    }
}

/// One bidirectional stream with up to `window` requests in flight until `end`; records
/// each reply's time since its request (both services answer in order). `first` is
/// sent before the measured requests (a config message); `next(n)` makes request `n`;
/// `check` gives an error label for a reply that reports one in band. Every reply of the
/// stream came in the encoding its response headers name.
#[allow(clippy::too_many_arguments)]
async fn windowed_stream<Req, Resp, Open, Fut>(
    open: Open,
    first: Option<Req>,
    mut next: impl FnMut(u64) -> Req,
    check: impl Fn(&Resp) -> Option<String>,
    window: usize,
    schedule: &Schedule,
    tally: &mut Tally,
) where
    Open: FnOnce(tokio_stream::wrappers::ReceiverStream<Req>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<tonic::Streaming<Resp>>, tonic::Status>>,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Req>(window + 1);
    if let Some(first) = first {
        tx.send(first).await.expect("the receiver is alive");
    }
    // Fill the window before waiting for the response's headers: a server may send
    // them only with its first reply (Python grpcio does), which needs a request.
    let mut in_flight = std::collections::VecDeque::new();
    let mut sent = 0u64;
    while in_flight.len() < window {
        let Some(started) = schedule.start() else {
            break;
        };
        tx.send(next(sent)).await.expect("the receiver is alive");
        sent += 1;
        in_flight.push_back(started);
    }
    let (mut responses, encoding) =
        match open(tokio_stream::wrappers::ReceiverStream::new(rx)).await {
            Ok(response) => {
                let encoding = reply_encoding(response.metadata());
                (response.into_inner(), encoding)
            }
            Err(status) => {
                tally.error(format!("{:?}", status.code()));
                return;
            }
        };
    let mut tx = Some(tx);
    loop {
        let sending = schedule.open();
        if !sending {
            // Close our side: the server answers what is pending, then ends the stream.
            tx = None;
            if in_flight.is_empty() {
                break;
            }
        }
        let room = sending && in_flight.len() < window;
        tokio::select! {
            permit = async { tx.as_ref().expect("open while sending").reserve().await }, if room => {
                let Ok(permit) = permit else { break };
                // The last message of a fixed count may have gone: then stop sending.
                if schedule.start().is_none() {
                    continue;
                }
                permit.send(next(sent));
                sent += 1;
                in_flight.push_back(Instant::now());
            }
            response = responses.message() => match response {
                Ok(Some(reply)) => {
                    let Some(started) = in_flight.pop_front() else { break };
                    if !schedule.measured(started) {
                        continue;
                    }
                    match check(&reply) {
                        None => tally.reply(started, encoding),
                        Some(error) => tally.error(error),
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    tally.error(format!("{:?}", status.code()));
                    break;
                }
            },
            // Wake up at the end of the run even when nothing else happens.
            () = tokio::time::sleep_until(schedule.end.into()), if sending => {}
        }
    }
}
