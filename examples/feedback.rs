//! A client of `feedback.FeedbackService`, in four modes:
//!
//! ```text
//! cargo run --bin feedback -- send --consumer alice     # interactive: type lines, see replies
//! cargo run --bin feedback -- send --count 20            # scripted: send 20 feedbacks
//! cargo run --bin feedback -- watch                      # print feedback live (another terminal)
//! cargo run --bin feedback -- list                       # read stored feedback back, page by page
//! ```
//!
//! Start the server first (`cargo run --release`).

/// The code that build.rs generates from `proto/feedback.proto`: its messages and client.
pub mod feedback {
    tonic::include_proto!("feedback");
}

use std::io::BufRead;

use clap::{Parser, Subcommand};
use feedback::{
    FeedbackRequest, ListFeedbackRequest, WatchFeedbackRequest,
    feedback_service_client::FeedbackServiceClient, watch_feedback_event::Event,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Sends, watches or lists feedback.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Bidirectional streaming: send feedback and print each reply as it comes.
    Send {
        /// Who sends it.
        #[arg(long, default_value = "alice")]
        consumer: String,
        /// Send this many scripted feedbacks instead of reading lines from the terminal.
        #[arg(long)]
        count: Option<u32>,
    },
    /// Server streaming: print feedback as it is stored.
    Watch {
        /// Only this consumer's.
        #[arg(long, default_value = "")]
        consumer: String,
        /// Only this sentiment: positive, neutral or negative.
        #[arg(long, default_value = "")]
        sentiment: String,
        /// First replay the stored feedback after this id (0: all of it).
        #[arg(long)]
        replay_after: Option<i64>,
        /// Stop after this many feedbacks (default: watch until Ctrl-C).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Unary, paginated: print the stored feedback.
    List {
        /// Feedbacks per page.
        #[arg(long, default_value_t = 20)]
        page_size: u32,
    },
}

/// Scripted feedback, cycling through the three sentiments.
const SCRIPT: [&str; 6] = [
    "The delivery was fast and the courier was lovely!",
    "My order arrived on Tuesday.",
    "The box was crushed and two items were broken. Very disappointing.",
    "Great prices, I will order again :)",
    "I changed my address in the app.",
    "Support never answered my emails, terrible.",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut client = FeedbackServiceClient::connect(args.addr).await?;
    match args.mode {
        Mode::Send { consumer, count } => {
            // The request stream is fed by a channel: from the script, or from a thread
            // reading the terminal (stdin blocks, so it stays off the async runtime).
            let (tx, rx) = mpsc::channel::<FeedbackRequest>(16);
            // Fed from a task or a thread, so that the call starts while feedback is still
            // being produced (a loop here would wait forever once the channel is full).
            match count {
                Some(n) => {
                    tokio::spawn(async move {
                        for i in 0..n as usize {
                            let feedback = SCRIPT[i % SCRIPT.len()].to_owned();
                            let request = FeedbackRequest {
                                consumer_id: consumer.clone(),
                                feedback,
                                ..FeedbackRequest::default()
                            };
                            if tx.send(request).await.is_err() {
                                break;
                            }
                        }
                    });
                }
                None => {
                    eprintln!("type feedback, one per line; Ctrl-D to finish");
                    std::thread::spawn(move || {
                        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                            let request = FeedbackRequest {
                                consumer_id: consumer.clone(),
                                feedback: line,
                                ..FeedbackRequest::default()
                            };
                            if tx.blocking_send(request).is_err() {
                                break;
                            }
                        }
                    });
                }
            }
            let mut replies = client
                .send_feedback(ReceiverStream::new(rx))
                .await?
                .into_inner();
            // Each reply arrives once its feedback is on disk, in the order sent.
            while let Some(reply) = replies.message().await? {
                match reply.error {
                    Some(error) => println!(
                        "#{} refused ({}): {}",
                        reply.index, error.code, error.message
                    ),
                    None => println!(
                        "#{} stored as feedback {} [{} {:+.3}] {}",
                        reply.index,
                        reply.feedback_id,
                        reply.sentiment,
                        reply.sentiment_score,
                        reply.response_message
                    ),
                }
            }
        }
        Mode::Watch {
            consumer,
            sentiment,
            replay_after,
            limit,
        } => {
            let mut events = client
                .watch_feedback(WatchFeedbackRequest {
                    consumer_id: consumer,
                    sentiment,
                    replay_after_id: replay_after,
                })
                .await?
                .into_inner();
            let mut shown = 0;
            while let Some(event) = events.message().await? {
                match event.event {
                    Some(Event::Feedback(f)) => {
                        println!(
                            "{:>6} {:<12} {:<8} {:+.3}  {}",
                            f.id, f.consumer_id, f.sentiment, f.sentiment_score, f.feedback
                        );
                        shown += 1;
                        if limit.is_some_and(|limit| shown >= limit) {
                            break;
                        }
                    }
                    Some(Event::Lagged(lag)) => {
                        println!(
                            "fell behind by {} feedbacks; resume with --replay-after {}",
                            lag.missed, lag.resume_after_id
                        );
                    }
                    None => {}
                }
            }
        }
        Mode::List { page_size } => {
            let mut page_token = String::new();
            let mut page_number = 1;
            loop {
                let page = client
                    .list_feedback(ListFeedbackRequest {
                        page_size,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                println!("-- page {page_number}");
                for f in &page.feedback {
                    println!(
                        "{:>6} {:<12} {:<8} {}",
                        f.id, f.consumer_id, f.sentiment, f.feedback
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
                page_number += 1;
            }
        }
    }
    Ok(())
}
