//! The hostile-client probe, at full size against a running server: what tests/abuse.rs
//! and tests/stalled.rs check with small counts, with the figures the closing notes and
//! BENCHMARKS.md give (bench/abuse.sh runs it against each server binary it is given).
//!
//! - `memory`: 32 ProcessFrames streams on one connection ask for 4K raw output
//!   (3840 x 2160 RGB8, 24.9 MB a frame) from 40 frames of 2 x 2 pixels each (12 bytes)
//!   and never read; prints the server's RSS growth (from /proc/PID/status) at its peak
//!   over `--seconds`, whether a caller from 127.0.0.2 gets a frame processed meanwhile,
//!   and the RSS 10 s after the attacker disconnects.
//! - `slots`: 5 connections x 200 SayHello calls that send headers and never a message;
//!   prints how many the server refused, whether a caller from 127.0.0.2 gets SayHello,
//!   PredictFraud and a health check answered, and when the held calls end.
//! - `stalled`: a TCP connection that sends nothing, and an HTTP/1.1 request whose body
//!   stops after 10 of its 200 bytes; prints the seconds until the server closes each
//!   (at most 70).

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use proto::{
    fraud_detection::{
        PredictionRequest, fraud_detection_service_client::FraudDetectionServiceClient,
    },
    helloworld::{HelloRequest, greeter_client::GreeterClient},
    video::{
        Encoding, Frame, ProcessFramesRequest, StreamConfig, process_frames_request::Message,
        video_processing_client::VideoProcessingClient,
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::transport::{Channel, Endpoint};

mod proto {
    pub mod fraud_detection {
        tonic::include_proto!("fraud_detection");
    }
    pub mod helloworld {
        tonic::include_proto!("helloworld");
    }
    pub mod video {
        tonic::include_proto!("video");
    }
}

#[derive(Parser)]
#[command(about = "Runs one hostile-client attack against a running server and prints what it did")]
struct Args {
    /// The server, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// The server's process id, to read its memory.
    #[arg(long)]
    pid: Option<u32>,
    /// The attack.
    #[arg(long, value_enum)]
    attack: Attack,
    /// How long the memory attack holds its streams.
    #[arg(long, default_value = "10s")]
    seconds: humantime::Duration,
}

#[derive(Clone, Copy, ValueEnum)]
enum Attack {
    Memory,
    Slots,
    Stalled,
}

const MIB: u64 = 1024 * 1024;

/// The resident set size of `pid`, bytes (0 without a pid).
fn rss(pid: Option<u32>) -> u64 {
    let Some(pid) = pid else { return 0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .map_or(0, |kb: u64| kb * 1024)
}

async fn connect(addr: &str, local: Option<&str>) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .local_address(local.map(|ip| ip.parse().unwrap()))
        .connect()
        .await
        .expect("connect to the server")
}

fn config(filter: &str, params: &[(&str, f64)], output: Encoding) -> ProcessFramesRequest {
    ProcessFramesRequest {
        message: Some(Message::Config(StreamConfig {
            filter: filter.to_owned(),
            params: params.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            output_encoding: output.into(),
            jpeg_quality: 0,
        })),
    }
}

fn tiny_frame(sequence_number: u64) -> ProcessFramesRequest {
    ProcessFramesRequest {
        message: Some(Message::Frame(Frame {
            sequence_number,
            width: 2,
            height: 2,
            encoding: Encoding::Rgb8.into(),
            data: vec![9; 12],
            ..Frame::default()
        })),
    }
}

/// What another caller (from 127.0.0.2) gets: SayHello, PredictFraud, and for `video`
/// one 2 x 2 frame inverted, each within 10 s.
async fn bystander(addr: &str, video: bool) -> String {
    let channel = connect(addr, Some("127.0.0.2")).await;
    let within = Duration::from_secs(10);
    let mut seen = Vec::new();
    let hello = tokio::time::timeout(
        within,
        GreeterClient::new(channel.clone()).say_hello(HelloRequest { name: "b".into() }),
    )
    .await;
    seen.push(format!("SayHello {}", outcome(hello)));
    let fraud = tokio::time::timeout(
        within,
        FraudDetectionServiceClient::new(channel.clone()).predict_fraud(PredictionRequest {
            transaction_id: 1,
            amount: 950.0,
            time: 1_700_003_600,
            age_of_account: 3,
            number_of_transactions: 12,
        }),
    )
    .await;
    seen.push(format!("PredictFraud {}", outcome(fraud)));
    if video {
        let started = Instant::now();
        let frame = tokio::time::timeout(within, async {
            let mut replies = VideoProcessingClient::new(channel)
                .process_frames(tokio_stream::iter([
                    config("invert", &[], Encoding::Unspecified),
                    tiny_frame(0),
                ]))
                .await?
                .into_inner();
            replies.message().await
        })
        .await;
        seen.push(format!(
            "ProcessFrames {} in {} ms",
            outcome(frame),
            started.elapsed().as_millis()
        ));
    }
    seen.join(", ")
}

fn outcome<T>(result: Result<Result<T, tonic::Status>, tokio::time::error::Elapsed>) -> String {
    match result {
        Ok(Ok(_)) => "OK".to_owned(),
        Ok(Err(status)) => format!("{:?}", status.code()),
        Err(_) => "no answer in 10 s".to_owned(),
    }
}

async fn memory(args: &Args) {
    let before = rss(args.pid);
    let attacker = connect(&args.addr, None).await;
    let mut held = Vec::new();
    for _ in 0..32 {
        let mut messages = vec![config(
            "resize",
            &[("width", 3840.0), ("height", 2160.0)],
            Encoding::Rgb8,
        )];
        messages.extend((0..40).map(tiny_frame));
        let client = VideoProcessingClient::new(attacker.clone())
            .max_decoding_message_size(64 * 1024 * 1024);
        match client
            .clone()
            .process_frames(tokio_stream::iter(messages))
            .await
        {
            Ok(replies) => held.push(replies),
            Err(status) => {
                println!("memory: the attack's stream was refused: {status:?}");
                return;
            }
        }
    }
    let started = Instant::now();
    let mut peak = before;
    while started.elapsed() < *args.seconds {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss(args.pid));
    }
    let meanwhile = bystander(&args.addr, true).await;
    drop(held);
    drop(attacker);
    tokio::time::sleep(Duration::from_secs(10)).await;
    println!(
        "memory: RSS {} MiB before, {} MiB at the peak of {:.0} s (growth {} MiB), \
         {} MiB 10 s after the disconnect; meanwhile another caller: {meanwhile}",
        before / MIB,
        peak / MIB,
        args.seconds.as_secs_f64(),
        peak.saturating_sub(before) / MIB,
        rss(args.pid) / MIB,
    );
}

async fn slots(args: &Args) {
    let mut refused = 0;
    let mut held = Vec::new();
    let mut waiting = Vec::new();
    let mut clients = Vec::new();
    let mut connections = Vec::new();
    for _ in 0..5 {
        let tcp = TcpStream::connect(&args.addr).await.unwrap();
        let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
        connections.push(tokio::spawn(connection));
        let mut responses = Vec::new();
        for _ in 0..200 {
            client = client.ready().await.unwrap();
            let request =
                http::Request::post(format!("http://{}/helloworld.Greeter/SayHello", args.addr))
                    .header("content-type", "application/grpc")
                    .header("te", "trailers")
                    .body(())
                    .unwrap();
            let (response, body) = client.send_request(request, false).unwrap();
            responses.push(response);
            held.push(body);
        }
        clients.push(client);
        // Every call's answer, waited for at once: a refusal comes at once.
        let answers = futures::future::join_all(responses.into_iter().map(|mut response| async {
            let answer = tokio::time::timeout(Duration::from_millis(500), &mut response).await;
            (answer, response)
        }))
        .await;
        for (answer, response) in answers {
            match answer {
                Ok(Ok(head)) if head.headers().contains_key("grpc-status") => refused += 1,
                Ok(_) => {}
                Err(_) => waiting.push(response),
            }
        }
    }
    let started = Instant::now();
    let meanwhile = bystander(&args.addr, false).await;
    println!(
        "slots: 1000 calls without a message from one peer: {refused} answered at once, \
         {} held; meanwhile another caller: {meanwhile}",
        waiting.len(),
    );
    // When the held calls end, and how.
    let ends = futures::future::join_all(waiting.into_iter().map(|response| async move {
        let response = tokio::time::timeout(Duration::from_secs(70), response).await;
        let status = match response {
            Ok(Ok(response)) => {
                let (head, mut body) = response.into_parts();
                match head.headers.get("grpc-status") {
                    Some(status) => status.to_str().unwrap_or("?").to_owned(),
                    None => {
                        while body.data().await.is_some() {}
                        match body.trailers().await {
                            Ok(Some(trailers)) => trailers
                                .get("grpc-status")
                                .and_then(|s| s.to_str().ok())
                                .unwrap_or("?")
                                .to_owned(),
                            _ => "no trailers".to_owned(),
                        }
                    }
                }
            }
            Ok(Err(err)) => format!("reset ({err})"),
            Err(_) => "still open".to_owned(),
        };
        (started.elapsed(), status)
    }))
    .await;
    let last = ends.iter().map(|(at, _)| *at).max().unwrap_or_default();
    let mut statuses: Vec<&str> = ends.iter().map(|(_, status)| status.as_str()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    println!(
        "slots: the held calls ended within {:.1} s of the check (cap 70 s), with grpc-status {statuses:?}",
        last.as_secs_f64()
    );
    drop((held, clients));
    for connection in connections {
        connection.abort();
    }
}

/// Seconds until the server closes `socket` (at most 70).
async fn seconds_to_close(socket: &mut TcpStream) -> String {
    let started = Instant::now();
    let mut buf = [0; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(70), socket.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                return format!("closed after {:.1} s", started.elapsed().as_secs_f64());
            }
            Ok(Ok(_)) => {}
            Err(_) => return "still open after 70 s".to_owned(),
        }
    }
}

async fn stalled(args: &Args) {
    let mut silent = TcpStream::connect(&args.addr).await.unwrap();
    let mut partial = TcpStream::connect(&args.addr).await.unwrap();
    partial
        .write_all(
            b"POST /api/FraudActivity HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 200\r\n\r\n{\"amount\":",
        )
        .await
        .unwrap();
    let (silent, partial) = tokio::join!(
        seconds_to_close(&mut silent),
        seconds_to_close(&mut partial)
    );
    println!(
        "stalled: a connection that sends nothing: {silent}; a body stopped at 10 of 200 bytes: {partial}"
    );
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match args.attack {
        Attack::Memory => memory(&args).await,
        Attack::Slots => slots(&args).await,
        Attack::Stalled => stalled(&args).await,
    }
}
