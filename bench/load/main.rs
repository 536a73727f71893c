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
//! Every gRPC call carries the headers of a real client, grpcio's (Python):
//! `grpc-accept-encoding: identity, deflate, gzip` and grpcio's user-agent, as tritonclient
//! sends them too (transport.rs says why and how); a reply that comes compressed is
//! decoded and counted (`compressed replies` in the report). `--bare-headers` sends no
//! grpc-accept-encoding and tonic's own user-agent, as the tool did before;
//! `--user-agent` and `--accept-encoding` send other values.
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
    // The protocol names InferParameter's oneof members bool_param, int64_param ...:
    // generated as ParameterChoice::BoolParam ..., which clippy flags in a private module.
    #[allow(clippy::enum_variant_names)]
    pub mod inference {
        tonic::include_proto!("inference");
    }
    pub mod model {
        tonic::include_proto!("model");
    }
    pub mod video {
        tonic::include_proto!("video");
    }
}

mod gateway;
mod payload;
mod proc;
mod schedule;
mod transport;
mod worker;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, atomic::AtomicU64},
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use gateway::GatewayClient;
use hdrhistogram::Histogram;
use proc::cpu_seconds;
use schedule::Schedule;
use transport::{ClientHeaders, GRPCIO_ACCEPT_ENCODING, GRPCIO_USER_AGENT, TONIC_USER_AGENT};
use worker::{BearerToken, worker};

/// Drives one RPC and reports throughput and latency.
#[derive(Parser)]
pub struct Args {
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
    /// Send no grpc-accept-encoding and tonic's own user-agent, as before (by default
    /// every gRPC call carries grpcio's headers, --user-agent and --accept-encoding).
    #[arg(long, conflicts_with_all = ["user_agent", "accept_encoding"])]
    bare_headers: bool,
    /// The user-agent of every gRPC call (grpcio 1.85.4's by default).
    #[arg(long, default_value = GRPCIO_USER_AGENT)]
    user_agent: String,
    /// The grpc-accept-encoding of every gRPC call (grpcio's by default); the tool
    /// decodes the replies in gzip and zstd that it lists, and counts them.
    #[arg(long, default_value = GRPCIO_ACCEPT_ENCODING)]
    accept_encoding: String,
    /// For `video`: write the frame's bytes (Frame.data, as every request sends them) to
    /// this file and exit, for another client to send the same frame.
    #[arg(long)]
    dump_frame: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Wire {
    /// Raw RGB8 frames (raw GRAY8 replies for gray filters).
    Rgb8,
    /// JPEG frames, quality 90 (JPEG replies).
    Jpeg,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Rpc {
    /// fraud_detection.FraudDetectionService/PredictFraud
    Fraud,
    /// model.ModelInference/Predict
    Predict,
    /// inference.GRPCInferenceService/ModelInfer (the Open Inference Protocol), the same
    /// rows as Predict sent as raw FP32 bytes, as tritonclient sends them
    Infer,
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
    let payload = Arc::new(payload::payload(&args)?);
    if let Some(path) = &args.dump_frame {
        let payload::Payload::Video { frame, .. } = &*payload else {
            return Err("--dump-frame is for --rpc video".into());
        };
        std::fs::write(path, &frame.data)?;
        return Ok(());
    }
    let token = match &args.token {
        Some(token) => Some(format!("Bearer {token}").parse()?),
        None => None,
    };
    let headers = Arc::new(if args.bare_headers {
        ClientHeaders {
            user_agent: TONIC_USER_AGENT.parse()?,
            accept_encoding: None,
        }
    } else {
        ClientHeaders {
            user_agent: args.user_agent.parse()?,
            accept_encoding: Some(args.accept_encoding.parse()?),
        }
    });
    let decodes: Arc<[_]> = headers.decodes().into();
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        let connection = transport::connect(&args.addr, Arc::clone(&headers)).await?;
        channels.push(tonic::service::interceptor::InterceptedService::new(
            connection,
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
                Arc::clone(&decodes),
                gateway.clone(),
                Arc::clone(&payload),
                w,
                Arc::clone(&schedule),
            ))
        })
        .collect();
    // The server's CPU time, and the tool's own, over the measured part only.
    tokio::time::sleep_until(warmup_end.into()).await;
    let own_start = cpu_seconds(std::process::id())?;
    let cpu_start = args.server_pid.map(cpu_seconds).transpose()?;
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut compressed: BTreeMap<&str, u64> = BTreeMap::new();
    for worker in workers {
        let tally = worker.await?;
        latency.add(&tally.latency_us)?;
        for (code, n) in tally.errors {
            *errors.entry(code).or_insert(0) += n;
        }
        for (encoding, n) in tally.compressed {
            *compressed.entry(encoding).or_insert(0) += n;
        }
    }
    let finished = Instant::now();
    let own = cpu_seconds(std::process::id())? - own_start;
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
        Rpc::Infer => format!("ModelInfer {} x{} rows (raw FP32)", args.model, args.rows),
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
    match args.rpc {
        Rpc::Gateway => println!("headers: HTTP/1.1 JSON requests (the gRPC headers do not apply)"),
        _ => println!("headers: {}", headers.describe()),
    }
    // Replies, not calls: a stream's messages each count.
    println!(
        "compressed replies {} of {ok} {compressed:?}",
        compressed.values().sum::<u64>()
    );
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
    // Near one core busy on its CPU, the tool measures itself as much as the server.
    println!("load tool CPU {own:.2} s, {:.2} cores busy", own / seconds);
    // A run with errors is not a measurement: say so in the exit status.
    if errors.values().sum::<u64>() > 0 {
        std::process::exit(1);
    }
    Ok(())
}
