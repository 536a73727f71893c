//! Lesson: flow control. HTTP/2 gives every stream a window of bytes the receiver is
//! ready to take; a sender that has used its window waits. So a slow reader slows the
//! writer down, through the network, and nobody buffers without bound: memory stays
//! flat however fast one side is.
//!
//! ```text
//! cargo run --release                 # the server, in one terminal
//! cargo run --bin flow_control        # this lesson, in another
//! ```
//!
//! The echo service's bidirectional call answers each message as it arrives; it reads
//! the next message only once its reply to the last one could go out.

#[path = "common.rs"]
mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use clap::Parser;
use common::{EchoClient, EchoRequest, notice, step};
use tokio_stream::wrappers::ReceiverStream;

/// Sends much more than the windows hold without reading, then reads.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: common::Server,
    /// Messages to send.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut client = EchoClient::new(args.server.connect().await?);
    let total = args.messages;
    let body = "x".repeat(64 * 1024);

    step(&format!(
        "send {total} messages of 64 KiB, {} MB in all, and read no reply",
        total * 64 / 1000
    ));
    // A channel of one message: a send finishes only when the call has taken the one
    // before, so `sent` counts what the call really took.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    tokio::spawn(async move {
        for _ in 0..total {
            if tx
                .send(EchoRequest {
                    message: body.clone(),
                })
                .await
                .is_err()
            {
                return;
            }
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let mut replies = client
        .bidirectional_streaming_echo(ReceiverStream::new(rx))
        .await?
        .into_inner();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled = sent.load(Ordering::SeqCst);
    println!(
        "   after 2 s without reading: {stalled} of {total} messages sent, then the sender waited"
    );
    notice("the server stopped reading once its replies filled our window, and our sends stopped");
    notice("once our messages filled its window: about a few MB in flight, not all of them");

    step("now read every reply");
    let mut read = 0;
    while replies.message().await?.is_some() {
        read += 1;
        if read == total {
            break;
        }
    }
    println!(
        "   read all {read} replies; {} messages sent",
        sent.load(Ordering::SeqCst)
    );
    notice("reading opened the windows again, and the sender went on where it had stopped");
    Ok(())
}
