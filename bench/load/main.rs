//! A load tool: drives one RPC at a fixed concurrency for a fixed time and reports
//! requests per second, latency percentiles (HDR histogram) and errors by status code.
//! Every reply's status is checked: an error is never counted as a success.
//!
//! ```text
//! cargo run --release --bin load -- --rpc fraud --concurrency 16 --duration 10s
//! cargo run --release --bin load -- --rpc predict --model digits --rows 64
//! ```
//!
//! Requests are the model's reference inputs (`models/<id>/reference.json`), cycled.
//!
//! `--rpc feedback` opens one SendFeedback stream per `--concurrency`, keeps up to
//! `--window` feedbacks in flight on each, and measures the time from sending a
//! feedback to its acknowledgement (which the server sends once it is on disk):
//!
//! ```text
//! cargo run --release --bin load -- --rpc feedback --concurrency 16 --window 32
//! ```
//!
//! `--server-pid PID` adds the server's CPU time per request, read from /proc (the same
//! machine only): `--server-pid $(pgrep -f grpc-showcase)`. `--rpc calculator` calls
//! Calculator.Add.
//!
//! `--rpc gateway` POSTs the fraud reference transactions as JSON to the REST gateway
//! (`/api/FraudActivity`) over HTTP/1.1 keep-alive connections, one per
//! `--concurrency`; any answer but 200 is an error. `--token` sends
//! `authorization: Bearer <token>` with every call or request, for a server started
//! with `--auth-tokens`:
//!
//! ```text
//! cargo run --release --bin load -- --rpc gateway --concurrency 16 --token "$TOKEN"
//! ```
//!
//! `--rpc hello-stream` does the same with SayHelloBidiStream (a name in, a greeting
//! out): messages per second over one stream (`--concurrency 1`) or many.
//!
//! `--rpc video` does the same with ProcessFrames: one stream per `--concurrency`, a
//! config, then one real photo scaled to `--width` x `--height`, `--window` frames in
//! flight; the rate is processed frames per second, end to end:
//!
//! ```text
//! cargo run --release --bin load -- --rpc video --filter edges --width 1280 --height 720 --concurrency 1 --window 4
//! ```

/// The code that build.rs generates from the server's `proto/` files.
mod proto {
    pub mod calculator {
        tonic::include_proto!("calculator");
    }
    pub mod feedback {
        tonic::include_proto!("feedback");
    }
    pub mod fraud_detection {
        tonic::include_proto!("fraud_detection");
    }
    pub mod helloworld {
        tonic::include_proto!("helloworld");
    }
    pub mod model {
        tonic::include_proto!("model");
    }
    pub mod video {
        tonic::include_proto!("video");
    }
}

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use proto::{
    calculator::{Operands, calculator_client::CalculatorClient},
    feedback::{FeedbackRequest, FeedbackResponse, feedback_service_client::FeedbackServiceClient},
    fraud_detection::{
        PredictionRequest, fraud_detection_service_client::FraudDetectionServiceClient,
    },
    helloworld::{HelloReply, HelloRequest, greeter_client::GreeterClient},
    model::{PredictRequest, model_inference_client::ModelInferenceClient},
    video::{
        Encoding, Frame, ProcessFramesRequest, ProcessFramesResponse, StreamConfig,
        process_frames_request::Message, video_processing_client::VideoProcessingClient,
    },
};
use tonic::transport::Channel;

/// Drives one RPC and reports throughput and latency.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,
    /// Which RPC to call.
    #[arg(long, value_enum, default_value_t = Rpc::Fraud)]
    rpc: Rpc,
    /// For `predict`: the model.
    #[arg(long, default_value = "fraud")]
    model: String,
    /// For `predict`: rows per request (a batch).
    #[arg(long, default_value_t = 1)]
    rows: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// For `feedback`, `video` and `hello-stream`: messages in flight on each stream.
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// HTTP/2 connections the calls are spread over.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// How long to measure, after the warm-up.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Measure this many calls (or stream messages) after the warm-up instead of
    /// running for --duration.
    #[arg(long, conflicts_with = "duration")]
    requests: Option<u64>,
    /// How long to run before measuring.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Where the models' reference inputs are.
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
    /// For `video`: the filter.
    #[arg(long, default_value = "edges")]
    filter: String,
    /// For `video`: a filter parameter as name=value (repeatable).
    #[arg(long = "param")]
    params: Vec<String>,
    /// For `video`: frame width, pixels.
    #[arg(long, default_value_t = 640)]
    width: u32,
    /// For `video`: frame height, pixels.
    #[arg(long, default_value_t = 480)]
    height: u32,
    /// For `video`: how frames travel (replies come back the same way).
    #[arg(long, value_enum, default_value_t = Wire::Rgb8)]
    wire: Wire,
    /// For `video`: the picture sent, scaled to --width x --height.
    #[arg(long, default_value = "tests/fixtures/rocket.jpg")]
    frame: PathBuf,
    /// The server's process id: reports the server's CPU time (user + system, from
    /// /proc/PID/stat) per successful request over the measured time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A bearer token sent with every call (for a server with --auth-tokens).
    #[arg(long, env = "GRPC_SHOWCASE_TOKEN")]
    token: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Wire {
    /// Raw RGB8 frames (raw GRAY8 replies for gray filters).
    Rgb8,
    /// JPEG frames, quality 90 (JPEG replies).
    Jpeg,
}

#[derive(Clone, Copy, ValueEnum)]
enum Rpc {
    /// fraud_detection.FraudDetectionService/PredictFraud
    Fraud,
    /// model.ModelInference/Predict
    Predict,
    /// helloworld.Greeter/SayHello
    Hello,
    /// helloworld.Greeter/SayHelloBidiStream: greetings over streams
    HelloStream,
    /// calculator.Calculator/Add
    Calculator,
    /// feedback.FeedbackService/SendFeedback: acknowledgements over streams
    Feedback,
    /// video.VideoProcessing/ProcessFrames: processed frames over streams
    Video,
    /// POST /api/FraudActivity, the REST gateway, JSON over HTTP/1.1
    Gateway,
}

/// Adds the bearer token to every call.
#[derive(Clone)]
struct BearerToken(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

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

type Authorized = tonic::service::interceptor::InterceptedService<Channel, BearerToken>;

/// What one request sends.
enum Payload {
    Fraud(Vec<PredictionRequest>),
    /// JSON bodies for the gateway.
    Gateway(Vec<bytes::Bytes>),
    Predict(Vec<PredictRequest>),
    Hello,
    HelloStream {
        window: usize,
    },
    Calculator,
    Feedback {
        window: usize,
    },
    Video {
        window: usize,
        config: ProcessFramesRequest,
        frame: Frame,
    },
}

fn payload(args: &Args) -> Result<Payload, Box<dyn std::error::Error>> {
    let model = match args.rpc {
        Rpc::Hello => return Ok(Payload::Hello),
        Rpc::Calculator => return Ok(Payload::Calculator),
        Rpc::HelloStream => {
            return Ok(Payload::HelloStream {
                window: args.window.max(1),
            });
        }
        Rpc::Feedback => {
            return Ok(Payload::Feedback {
                window: args.window.max(1),
            });
        }
        Rpc::Video => return video_payload(args),
        Rpc::Fraud | Rpc::Gateway => "fraud",
        Rpc::Predict => args.model.as_str(),
    };
    let path = args.models_dir.join(model).join("reference.json");
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    Ok(match args.rpc {
        Rpc::Gateway => Payload::Gateway(
            reference["requests"]
                .as_array()
                .ok_or("no requests in the fraud reference")?
                .iter()
                .map(|r| {
                    let fields = [
                        "transaction_id",
                        "amount",
                        "time",
                        "age_of_account",
                        "number_of_transactions",
                    ];
                    let body: serde_json::Map<_, _> = fields
                        .iter()
                        .map(|f| (f.to_string(), r[f].clone()))
                        .collect();
                    bytes::Bytes::from(serde_json::Value::Object(body).to_string())
                })
                .collect(),
        ),
        Rpc::Fraud => Payload::Fraud(
            reference["requests"]
                .as_array()
                .ok_or("no requests in the fraud reference")?
                .iter()
                .map(|r| PredictionRequest {
                    transaction_id: r["transaction_id"].as_i64().unwrap_or(0),
                    amount: r["amount"].as_f64().unwrap_or(0.0),
                    time: r["time"].as_i64().unwrap_or(0),
                    age_of_account: r["age_of_account"].as_i64().unwrap_or(0) as i32,
                    number_of_transactions: r["number_of_transactions"].as_i64().unwrap_or(0)
                        as i32,
                })
                .collect(),
        ),
        _ => {
            let rows: Vec<Vec<f64>> = serde_json::from_value(reference["inputs"].clone())?;
            let requests = (0..rows.len())
                .map(|start| PredictRequest {
                    model_id: model.to_owned(),
                    inputs: rows
                        .iter()
                        .cycle()
                        .skip(start)
                        .take(args.rows)
                        .flatten()
                        .copied()
                        .collect(),
                })
                .collect();
            Payload::Predict(requests)
        }
    })
}

/// A real photo (tests/fixtures/rocket.jpg, 160 x 120, scaled to --width x --height
/// with a bilinear filter) as the frame every request sends, and the config.
fn video_payload(args: &Args) -> Result<Payload, Box<dyn std::error::Error>> {
    let photo = image::open(&args.frame)?.resize_exact(
        args.width,
        args.height,
        image::imageops::FilterType::Triangle,
    );
    let (encoding, data) = match args.wire {
        Wire::Rgb8 => (Encoding::Rgb8, photo.to_rgb8().into_raw()),
        Wire::Jpeg => {
            let mut jpeg = Vec::new();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90);
            photo.to_rgb8().write_with_encoder(encoder)?;
            (Encoding::Jpeg, jpeg)
        }
    };
    let params = args
        .params
        .iter()
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or("--param takes name=value")?;
            Ok((k.to_owned(), v.parse::<f64>()?))
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    Ok(Payload::Video {
        window: args.window.max(1),
        config: ProcessFramesRequest {
            message: Some(Message::Config(StreamConfig {
                filter: args.filter.clone(),
                params,
                output_encoding: Encoding::Unspecified.into(),
                jpeg_quality: 0,
            })),
        },
        frame: Frame {
            width: args.width,
            height: args.height,
            encoding: encoding.into(),
            data,
            ..Frame::default()
        },
    })
}

/// When calls may start: a warm-up whose calls are not counted, then the measured
/// part, which ends at `end` or, with `--requests`, once that many calls have started.
struct Schedule {
    warmup_end: Instant,
    end: Instant,
    /// Measured calls not yet started, for a fixed count.
    remaining: Option<AtomicU64>,
}

impl Schedule {
    /// The time now if a call may start now (in the measured part of a fixed count,
    /// this takes one of the remaining calls), `None` once the run is over.
    fn start(&self) -> Option<Instant> {
        let now = Instant::now();
        if now >= self.end {
            return None;
        }
        if now < self.warmup_end {
            return Some(now);
        }
        match &self.remaining {
            None => Some(now),
            Some(remaining) => remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .ok()
                .map(|_| now),
        }
    }

    /// Whether calls may still start (without taking one).
    fn open(&self) -> bool {
        Instant::now() < self.end
            && self
                .remaining
                .as_ref()
                .is_none_or(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// Whether a call started at `started` is measured (not warm-up).
    fn measured(&self, started: Instant) -> bool {
        started >= self.warmup_end
    }
}

/// One worker's tally.
struct Tally {
    latency_us: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

async fn worker(
    channel: Authorized,
    gateway: GatewayClient,
    payload: Arc<Payload>,
    offset: usize,
    schedule: Arc<Schedule>,
) -> Tally {
    let mut tally = Tally {
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
        errors: BTreeMap::new(),
    };
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
            Err(status) => {
                *tally
                    .errors
                    .entry(format!("{:?}", status.code()))
                    .or_insert(0) += 1
            }
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
            *tally
                .errors
                .entry(format!("{:?}", status.code()))
                .or_insert(0) += 1;
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
                        Some(error) => *tally.errors.entry(error).or_insert(0) += 1,
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    *tally.errors.entry(format!("{:?}", status.code())).or_insert(0) += 1;
                    break;
                }
            },
            // Wake up at the end of the run even when nothing else happens.
            () = tokio::time::sleep_until(schedule.end.into()), if sending => {}
        }
    }
}

/// The CPU time, user plus system, seconds, that process `pid` has used so far (fields
/// 14 and 15 of /proc/PID/stat, proc(5), in clock ticks).
fn cpu_seconds(pid: u32) -> Result<f64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Field 2, the command, is in parentheses and may hold spaces: count after it.
    let after_command = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or("unexpected /proc/PID/stat format")?;
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let ticks: u64 = fields.get(11).ok_or("no utime")?.parse::<u64>()?
        + fields.get(12).ok_or("no stime")?.parse::<u64>()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(ticks as f64 / per_second as f64)
}

/// An HTTP/1.1 client of the REST gateway (keep-alive connections, pooled).
#[derive(Clone)]
struct GatewayClient {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    uri: http::Uri,
    authorization: Option<String>,
}

impl GatewayClient {
    /// POSTs `body`; anything but a 200 with its whole body read is an error, labelled
    /// with a gRPC-like name for the table (`Unauthenticated` for 401 ...).
    async fn post(&self, body: bytes::Bytes) -> Result<(), tonic::Status> {
        use http_body_util::BodyExt;
        let mut request = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(value) = &self.authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let request = request
            .body(http_body_util::Full::new(body))
            .expect("a valid request");
        let response = self
            .client
            .request(request)
            .await
            .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
        let status = response.status();
        response
            .into_body()
            .collect()
            .await
            .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
        match status.as_u16() {
            200 => Ok(()),
            400 => Err(tonic::Status::invalid_argument("HTTP 400")),
            401 => Err(tonic::Status::unauthenticated("HTTP 401")),
            403 => Err(tonic::Status::permission_denied("HTTP 403")),
            503 => Err(tonic::Status::unavailable("HTTP 503")),
            504 => Err(tonic::Status::deadline_exceeded("HTTP 504")),
            other => Err(tonic::Status::unknown(format!("HTTP {other}"))),
        }
    }
}

/// The server's allocator (src/main.rs). The tool costs about as much per call as the
/// server, and a tool that costs more measures itself: with glibc's malloc, malloc and
/// free were 8.5% of its CPU time (perf, PredictFraud at 16 in flight), and it ran 52,043
/// instructions per call against 45,842 with mimalloc (callgrind).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tokio's multi-thread scheduler, even on one CPU (bench/run.py pins the tool to one).
/// The current-thread scheduler, which suits the server there, makes this tool's calls
/// leave in lock-step: 16 requests in one write, then nothing until their 16 replies
/// are all read, so the server idles while the tool works. Measured with the server
/// pinned to CPU 0 and the tool to CPU 1, PredictFraud at 16 in flight, 6 alternating
/// runs of 20,000 calls: 36,096 calls/s with the multi-thread scheduler, 23,579 with
/// the current-thread one.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let payload = Arc::new(payload(&args)?);
    let token = match &args.token {
        Some(token) => Some(format!("Bearer {token}").parse()?),
        None => None,
    };
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        let channel = Channel::from_shared(args.addr.clone())?.connect().await?;
        channels.push(tonic::service::interceptor::InterceptedService::new(
            channel,
            BearerToken(token.clone()),
        ));
    }
    let gateway = GatewayClient {
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(args.concurrency.max(1))
            .build_http(),
        uri: format!("{}/api/FraudActivity", args.addr.trim_end_matches('/')).parse()?,
        authorization: args.token.as_ref().map(|t| format!("Bearer {t}")),
    };
    let warmup_end = Instant::now() + args.warmup;
    let schedule = Arc::new(Schedule {
        warmup_end,
        end: match args.requests {
            // Long enough for any fixed count.
            Some(_) => warmup_end + Duration::from_secs(365 * 86_400),
            None => warmup_end + args.duration,
        },
        remaining: args.requests.map(AtomicU64::new),
    });
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|w| {
            let channel = channels[w % channels.len()].clone();
            tokio::spawn(worker(
                channel,
                gateway.clone(),
                Arc::clone(&payload),
                w,
                Arc::clone(&schedule),
            ))
        })
        .collect();
    // The server's CPU time over the measured part only.
    let cpu_start = match args.server_pid {
        Some(pid) => {
            tokio::time::sleep_until(warmup_end.into()).await;
            Some(cpu_seconds(pid)?)
        }
        None => None,
    };
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for worker in workers {
        let tally = worker.await?;
        latency.add(&tally.latency_us)?;
        for (code, n) in tally.errors {
            *errors.entry(code).or_insert(0) += n;
        }
    }
    let finished = Instant::now();
    let cpu = match (args.server_pid, cpu_start) {
        (Some(pid), Some(start)) => Some(cpu_seconds(pid)? - start),
        _ => None,
    };
    let ok = latency.len();
    let seconds = match args.requests {
        Some(_) => (finished - warmup_end).as_secs_f64(),
        None => args.duration.as_secs_f64(),
    };
    let rpc = match args.rpc {
        Rpc::Fraud => "PredictFraud".to_owned(),
        Rpc::Gateway => "POST /api/FraudActivity (REST gateway)".to_owned(),
        Rpc::Predict => format!("Predict {} x{} rows", args.model, args.rows),
        Rpc::Hello => "SayHello".to_owned(),
        Rpc::HelloStream => format!(
            "SayHelloBidiStream greetings, {} in flight per stream",
            args.window
        ),
        Rpc::Calculator => "Calculator.Add".to_owned(),
        Rpc::Feedback => format!(
            "SendFeedback acknowledgements, {} in flight per stream",
            args.window
        ),
        Rpc::Video => format!(
            "ProcessFrames {} {}x{} {}, frames per second, {} in flight per stream",
            args.filter,
            args.width,
            args.height,
            match args.wire {
                Wire::Rgb8 => "raw RGB8",
                Wire::Jpeg => "JPEG",
            },
            args.window
        ),
    };
    println!(
        "{rpc}: concurrency {}, connections {}, {:.1} s measured",
        args.concurrency, args.connections, seconds
    );
    println!("ok {ok}, errors {errors:?}");
    println!("requests/s {:.0}", ok as f64 / seconds);
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        latency.max() as f64 / 1000.0
    );
    if let Some(cpu) = cpu {
        println!(
            "server CPU {:.2} s, {:.1} us per request, {:.2} cores busy",
            cpu,
            cpu * 1e6 / ok.max(1) as f64,
            cpu / seconds
        );
    }
    // A run with errors is not a measurement: say so in the exit status.
    if errors.values().sum::<u64>() > 0 {
        std::process::exit(1);
    }
    Ok(())
}
