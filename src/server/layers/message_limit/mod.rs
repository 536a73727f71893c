//! Refuses a request message larger than the configured limit with RESOURCE_EXHAUSTED.
//!
//! The gRPC status code table (<https://grpc.github.io/grpc/core/md_doc_statuscodes.html>)
//! and grpc-go use RESOURCE_EXHAUSTED for a message over the limit, but tonic 0.14.9
//! answers OUT_OF_RANGE (src/codec/decode.rs, "decoded message length too large"). This
//! layer reads the 5-byte prefix of each length-prefixed message in a gRPC request body
//! (1 byte compressed flag, 4 bytes big-endian length) and ends the request with
//! RESOURCE_EXHAUSTED as soon as a prefix announces more than the limit, before the
//! message is buffered. tonic's decoder passes a `Status` from the body through
//! unchanged (`Status::from_error` finds it in the error chain). Requests that are not
//! gRPC (no `application/grpc` content type) pass untouched.
//!
//! It also counts the messages of unary and server-streaming calls, which take exactly
//! one: a second message, or a body that ends with none, ends the call with
//! UNIMPLEMENTED, as the status code table has it for a request cardinality violation.
//! (tonic 0.14.9 answers INTERNAL "Missing request message." for none.) Every client
//! sends that one message with the call, so a call whose message has not arrived in
//! full within the first-message timeout (`--first-message-timeout`) ends with
//! DEADLINE_EXCEEDED: a client cannot hold a call slot by sending headers alone.
//! (Client and bidirectional streams may wait for their first message as long as they
//! like: a chat opens before its first line is typed.)

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::Request;
use http_body::Body as HttpBody;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use super::guard::{CallGuard, GuardedBody, Item};
use super::methods::is_grpc;

/// The length of a gRPC message prefix: compressed flag and 32-bit length.
const PREFIX_LEN: usize = 5;

/// The largest request message accepted on a path, and the setting that sets it (named
/// in the error message so that the caller knows what to change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Bytes, as sent (compressed if the message is).
    pub bytes: usize,
    /// The server flag that sets it, for example `--max-message-size`.
    pub setting: &'static str,
}

/// A [`Layer`] that applies [`MessageLimit`]: one limit for every service, and other
/// limits for named services (the video service takes frames larger than other messages).
#[derive(Debug, Clone)]
pub struct MessageLimitLayer {
    default: Limit,
    /// (path prefix `/package.Service/`, limit), searched in order.
    services: Arc<[(String, Limit)]>,
    /// The paths (`/package.Service/Method`) of methods that take exactly one request.
    single_request: Arc<std::collections::HashSet<String>>,
    /// How long those methods wait for their request message.
    first_message_timeout: Duration,
}

impl MessageLimitLayer {
    /// `default` for every service without a limit of its own in `services`, given as
    /// (full service name such as `video.VideoProcessing`, limit).
    pub fn new(default: Limit, services: impl IntoIterator<Item = (String, Limit)>) -> Self {
        Self {
            default,
            services: services
                .into_iter()
                .map(|(name, limit)| (format!("/{name}/"), limit))
                .collect(),
            single_request: Arc::default(),
            first_message_timeout: Duration::MAX,
        }
    }

    /// The layer that also holds the calls to `paths` (`/package.Service/Method`) to
    /// exactly one request message, which must arrive within `timeout`.
    pub fn with_single_request(
        mut self,
        paths: impl IntoIterator<Item = String>,
        timeout: Duration,
    ) -> Self {
        self.single_request = Arc::new(paths.into_iter().collect());
        self.first_message_timeout = timeout;
        self
    }

    /// The limit on requests to `path` (`/package.Service/Method`).
    pub fn limit_for(&self, path: &str) -> Limit {
        self.services
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map_or(self.default, |(_, limit)| *limit)
    }
}

impl<S> Layer<S> for MessageLimitLayer {
    type Service = MessageLimit<S>;

    fn layer(&self, inner: S) -> MessageLimit<S> {
        MessageLimit {
            inner,
            limits: self.clone(),
        }
    }
}

/// Ends a request whose messages exceed its path's limit with RESOURCE_EXHAUSTED.
#[derive(Debug, Clone)]
pub struct MessageLimit<S> {
    inner: S,
    limits: MessageLimitLayer,
}

impl<S, B> Service<Request<B>> for MessageLimit<S>
where
    S: Service<Request<Body>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let is_grpc = is_grpc(request.headers());
        let path = request.uri().path();
        let limit = self.limits.limit_for(path);
        let single = self
            .limits
            .single_request
            .contains(path)
            .then(|| path.to_owned());
        let timeout = self.limits.first_message_timeout;
        let request = request.map(|body| {
            if is_grpc {
                let mut scanner = PrefixScanner::new(limit, single);
                if scanner.single.is_some() {
                    scanner.first_message = tokio::time::Instant::now()
                        .checked_add(timeout)
                        .map(|deadline| FirstMessage::Due(deadline, timeout));
                }
                Body::new(GuardedBody::new(body, scanner))
            } else {
                Body::new(body)
            }
        });
        self.inner.call(request)
    }
}

/// Follows the message boundaries of a gRPC request body, one chunk at a time, and ends
/// the body with RESOURCE_EXHAUSTED at a message over the limit.
#[derive(Debug)]
struct PrefixScanner {
    limit: Limit,
    prefix: [u8; PREFIX_LEN],
    /// How many bytes of the current prefix have been seen.
    prefix_len: usize,
    /// How many bytes of the current message are still to come.
    payload_left: usize,
    /// The error to end the body with once the messages before the oversized one are
    /// delivered.
    pending: Option<Status>,
    /// For a method that takes exactly one request: its path.
    single: Option<String>,
    /// Messages whose prefix has been seen.
    messages: usize,
    /// For a method that takes exactly one request: when it must have arrived by.
    first_message: Option<FirstMessage>,
}

/// The first-message timeout of a single-request call.
#[derive(Debug)]
enum FirstMessage {
    /// Due by this instant, after this timeout; no timer yet (made on the first poll).
    Due(tokio::time::Instant, Duration),
    /// The timer, and the timeout.
    Timer(Pin<Box<tokio::time::Sleep>>, Duration),
}

impl PrefixScanner {
    fn new(limit: Limit, single: Option<String>) -> Self {
        Self {
            limit,
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            payload_left: 0,
            pending: None,
            single,
            messages: 0,
            first_message: None,
        }
    }

    /// Whether the first message has arrived in full.
    fn has_first_message(&self) -> bool {
        self.messages >= 1 && self.payload_left == 0 && self.prefix_len == 0
    }

    /// UNIMPLEMENTED for a single-request method sent `what`.
    fn cardinality(&self, what: &str) -> Status {
        Status::unimplemented(format!(
            "{} takes exactly one request message; {what}",
            self.single
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
        ))
    }

    /// Scans one chunk. `Err(Oversized)` when a message announces more than the limit
    /// (or is a second one where one is allowed), with where its prefix starts in the
    /// chunk (0 when it began in an earlier chunk), so that the messages before it can
    /// still be delivered.
    fn scan(&mut self, chunk: &[u8]) -> Result<(), Oversized> {
        let mut at = 0;
        while at < chunk.len() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(chunk.len() - at);
                self.payload_left -= n;
                at += n;
                continue;
            }
            let n = (PREFIX_LEN - self.prefix_len).min(chunk.len() - at);
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&chunk[at..at + n]);
            self.prefix_len += n;
            at += n;
            if self.prefix_len == PREFIX_LEN {
                self.prefix_len = 0;
                let [_, a, b, c, d] = self.prefix;
                let length = u32::from_be_bytes([a, b, c, d]) as usize;
                self.messages += 1;
                if length > self.limit.bytes || (self.single.is_some() && self.messages > 1) {
                    return Err(Oversized {
                        length,
                        prefix_start: at.saturating_sub(PREFIX_LEN),
                    });
                }
                self.payload_left = length;
            }
        }
        Ok(())
    }
}

/// A message over the limit, found by [`PrefixScanner::scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Oversized {
    /// The length its prefix announced, in bytes.
    length: usize,
    /// Where its prefix starts in the scanned chunk.
    prefix_start: usize,
}

impl CallGuard for PrefixScanner {
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        if let Some(status) = self.pending.take() {
            return Poll::Ready(status);
        }
        if let Some(FirstMessage::Due(deadline, timeout)) = self.first_message {
            let timer = Box::pin(tokio::time::sleep_until(deadline));
            self.first_message = Some(FirstMessage::Timer(timer, timeout));
        }
        if let Some(FirstMessage::Timer(timer, timeout)) = &mut self.first_message
            && timer.as_mut().poll(cx).is_ready()
        {
            let status = Status::deadline_exceeded(format!(
                "{} takes one request message, sent with the call; none arrived in full \
                 within {timeout:?} (--first-message-timeout)",
                self.single
                    .as_deref()
                    .unwrap_or_default()
                    .trim_start_matches('/')
            ));
            self.first_message = None;
            return Poll::Ready(status);
        }
        Poll::Pending
    }

    /// A single-request call whose body ends before its message must reach
    /// [`CallGuard::on_item`] with the end, to be told.
    fn awaits_end(&self) -> bool {
        self.single.is_some() && self.messages == 0
    }

    fn on_item(&mut self, item: Item) -> Item {
        if item.is_none() && self.single.is_some() && self.messages == 0 {
            return Some(Err(self.cardinality("the request ended with none")));
        }
        let Some(Ok(frame)) = &item else {
            return item;
        };
        let Some(data) = frame.data_ref() else {
            return item;
        };
        let scanned = self.scan(data);
        if self.has_first_message() {
            self.first_message = None;
        }
        let Err(oversized) = scanned else {
            return item;
        };
        let status = if oversized.length > self.limit.bytes {
            Status::resource_exhausted(format!(
                "request message is {} bytes; this server accepts at most {} bytes per \
                 message here ({})",
                oversized.length, self.limit.bytes, self.limit.setting
            ))
        } else {
            self.cardinality("a second one came")
        };
        if oversized.prefix_start == 0 {
            return Some(Err(status));
        }
        // Deliver the whole messages before the oversized one: they were sent within
        // the limit and get answered; the error follows on the next poll.
        let before = data.slice(..oversized.prefix_start);
        self.pending = Some(status);
        Some(Ok(http_body::Frame::data(before)))
    }

    /// The handler's decoder reports the status as the request stream's error.
    fn end_item(status: &Status) -> Item {
        Some(Err(status.clone()))
    }
}

#[cfg(test)]
mod tests;
