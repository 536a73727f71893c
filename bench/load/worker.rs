//! The workers: each keeps one call (or one stream's window of messages) in flight until
//! the schedule ends, and tallies what came back.

use std::{sync::Arc, time::Instant};

use tonic::transport::Channel;

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

pub type Authorized = tonic::service::interceptor::InterceptedService<Channel, BearerToken>;

/// Runs calls of `payload` (request `offset` first, then the next ones, cycled) as
/// `schedule` allows.
pub async fn worker(
    channel: Authorized,
    gateway: GatewayClient,
    payload: Arc<Payload>,
    offset: usize,
    schedule: Arc<Schedule>,
) -> Tally {
    let mut tally = Tally::new();
    match payload.as_ref() {
        Payload::HelloStream { window } => {
            let mut client = GreeterClient::new(channel.clone());
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
            let mut client = FeedbackServiceClient::new(channel.clone());
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
            let mut client = VideoProcessingClient::new(channel.clone())
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
    let mut fraud = FraudDetectionServiceClient::new(channel.clone());
    let mut models = ModelInferenceClient::new(channel.clone());
    let mut inference = GrpcInferenceServiceClient::new(channel.clone());
    let mut calculator = CalculatorClient::new(channel.clone());
    let mut greeter = GreeterClient::new(channel);
    let mut i = offset;
    loop {
        let Some(started) = schedule.start() else {
            return tally;
        };
        let result: Result<(), tonic::Status> = match payload.as_ref() {
            Payload::Fraud(requests) => fraud
                .predict_fraud(requests[i % requests.len()])
                .await
                .map(drop),
            Payload::Predict(requests) => models
                .predict(requests[i % requests.len()].clone())
                .await
                .map(drop),
            Payload::Infer(requests) => inference
                .model_infer(requests[i % requests.len()].clone())
                .await
                .map(drop),
            Payload::HelloStream { .. } | Payload::Feedback { .. } | Payload::Video { .. } => {
                unreachable!("handled by windowed_stream")
            }
            Payload::Hello => greeter
                .say_hello(HelloRequest {
                    name: "load".into(),
                })
                .await
                .map(drop),
            Payload::Calculator => calculator
                .add(Operands {
                    a: i as f64,
                    b: 0.5,
                })
                .await
                .map(drop),
            Payload::Gateway(bodies) => gateway.post(bodies[i % bodies.len()].clone()).await,
        };
        i += 1;
        if !schedule.measured(started) {
            continue;
        }
        match result {
            Ok(()) => {
                let micros = started.elapsed().as_micros().max(1) as u64;
                tally.latency_us.saturating_record(micros);
            }
            Err(status) => tally.error(format!("{:?}", status.code())),
        }
    }
}

/// One bidirectional stream with up to `window` requests in flight until `end`; records
/// each reply's time since its request (both services answer in order). `first` is
/// sent before the measured requests (a config message); `next(n)` makes request `n`;
/// `check` gives an error label for a reply that reports one in band.
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
    let mut responses = match open(tokio_stream::wrappers::ReceiverStream::new(rx)).await {
        Ok(response) => response.into_inner(),
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
                        None => {
                            let micros = started.elapsed().as_micros().max(1) as u64;
                            tally.latency_us.saturating_record(micros);
                        }
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
