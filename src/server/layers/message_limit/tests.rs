//! The prefix scanner on in-memory bodies, chunked every way.

use std::{collections::VecDeque, pin::Pin};

use http_body::Frame;

use super::*;

fn message(len: usize) -> Vec<u8> {
    let mut bytes = vec![0];
    bytes.extend_from_slice(&(len as u32).to_be_bytes());
    bytes.extend(std::iter::repeat_n(7, len));
    bytes
}

/// A request body that yields its chunks one by one.
struct Chunks(VecDeque<Bytes>);

impl HttpBody for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// Every byte the limited body delivers, and the error it ends with, if any.
fn deliver(body: &[u8], chunk_size: usize, limit: usize) -> (Vec<u8>, Option<Status>) {
    let chunks = body
        .chunks(chunk_size)
        .map(Bytes::copy_from_slice)
        .collect();
    let mut limited = Box::pin(GuardedBody::new(
        Chunks(chunks),
        PrefixScanner::new(
            Limit {
                bytes: limit,
                setting: "--test-limit",
            },
            None,
        ),
    ));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut delivered = Vec::new();
    loop {
        match limited.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => delivered.extend_from_slice(frame.data_ref().unwrap()),
            Poll::Ready(Some(Err(status))) => return (delivered, Some(status)),
            Poll::Ready(None) => return (delivered, None),
            Poll::Pending => unreachable!("in-memory chunks are always ready"),
        }
    }
}

#[test]
fn passes_messages_up_to_the_limit_across_any_chunking() {
    let body: Vec<u8> = [message(10), message(0), message(3)].concat();
    for chunk_size in 1..=body.len() {
        let (delivered, error) = deliver(&body, chunk_size, 10);
        assert_eq!(delivered, body, "chunks of {chunk_size}");
        assert!(error.is_none(), "chunks of {chunk_size}: {error:?}");
    }
}

#[test]
fn delivers_the_messages_before_an_oversized_one_then_refuses_it() {
    let first = message(3);
    let body: Vec<u8> = [first.clone(), message(11), message(2)].concat();
    for chunk_size in 1..=body.len() {
        let (delivered, error) = deliver(&body, chunk_size, 10);
        let status = error.expect("refused");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("11 bytes"), "{status:?}");
        // The first message is delivered whole; of the oversized one at most the
        // prefix bytes that shared a chunk with nothing else before it.
        assert!(delivered.starts_with(&first), "chunks of {chunk_size}");
        assert!(
            delivered.len() < first.len() + PREFIX_LEN,
            "chunks of {chunk_size}"
        );
    }
}

#[test]
fn refuses_on_the_prefix_before_the_payload_arrives() {
    let mut prefix = vec![0];
    prefix.extend_from_slice(&(1u32 << 30).to_be_bytes());
    let (delivered, error) = deliver(&prefix, PREFIX_LEN, 10);
    assert!(delivered.is_empty());
    assert!(error.unwrap().message().contains("1073741824 bytes"));
}

#[test]
fn a_service_may_have_its_own_limit() {
    let default = Limit {
        bytes: 10,
        setting: "--max-message-size",
    };
    let video = Limit {
        bytes: 1000,
        setting: "--max-frame-bytes",
    };
    let layer = MessageLimitLayer::new(default, [("video.VideoProcessing".to_owned(), video)]);
    assert_eq!(
        layer.limit_for("/video.VideoProcessing/ProcessFrames"),
        video
    );
    assert_eq!(
        layer.limit_for("/video.VideoProcessingX/ProcessFrames"),
        default
    );
    assert_eq!(layer.limit_for("/helloworld.Greeter/SayHello"), default);
}
