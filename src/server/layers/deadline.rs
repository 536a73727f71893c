//! Enforces the `grpc-timeout` deadline a client sends, ending the call with
//! DEADLINE_EXCEEDED.
//!
//! Why not tonic's own: in tonic 0.14.9, `transport::Server` wraps every service in
//! `GrpcTimeout` (src/transport/service/grpc_timeout.rs), whose expiry `Status::from_error`
//! maps to CANCELLED (src/status.rs, `TimeoutExpired`), and which covers only the wait for
//! the response headers, not a streaming body. We serve tonic's `Routes` from our own
//! accept loop (see [`crate::server`]) so that this layer is the only deadline, and it:
//! - answers DEADLINE_EXCEEDED (trailers-only) when the deadline passes before the
//!   handler has answered, dropping the handler's future;
//! - ends a response stream that is still going when the deadline passes with
//!   DEADLINE_EXCEEDED trailers, dropping the handler's stream, which stops its work.
//!
//! Optionally, unary calls sent without a `grpc-timeout` get the server's default
//! ([`DeadlineLayer::with_default_unary_timeout`], `--default-unary-timeout`), so that a
//! client that never finishes sending its request cannot hold a call open forever.
//! That default covers the call until its handler answers: a unary response is then
//! complete (one message and the trailers, ready to send), so its body is not watched,
//! which saves a wrapper per call on the most common path.
//!
//! The header format is that of the gRPC over HTTP/2 spec
//! (<https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>): at most 8 ASCII
//! digits and a unit, `H`, `M`, `S`, `m`, `u` or `n`. A malformed header gets INTERNAL,
//! as grpc-go's server answers it.

use std::{
    collections::HashSet,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderMap, Request, Response};
use tokio::time::Sleep;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use super::guard::{CallFuture, CallGuard};

/// The header that carries a call's timeout.
const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// Parses a `grpc-timeout` header value; `None` when it is malformed.
pub fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (digits, unit) = value.split_last().map(|(unit, digits)| (digits, *unit))?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // At most 8 digits: always fits in a u64.
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// A call's time limit and where it came from.
#[derive(Debug, Clone, Copy)]
struct Expiry {
    timeout: Duration,
    /// True when the client sent no `grpc-timeout` and the server's default for unary
    /// calls applies.
    by_default: bool,
}

impl Expiry {
    fn status(self) -> Status {
        let timeout = self.timeout;
        if self.by_default {
            Status::deadline_exceeded(format!(
                "the call ran longer than the server's limit for unary calls without a \
                 deadline ({timeout:?}, --default-unary-timeout); set a deadline \
                 (grpc-timeout) to choose your own"
            ))
        } else {
            Status::deadline_exceeded(format!(
                "the call's deadline ({timeout:?} after it started, from its grpc-timeout \
                 header) passed"
            ))
        }
    }
}

/// A [`Layer`] that applies [`Deadline`] to a service.
#[derive(Debug, Clone, Default)]
pub struct DeadlineLayer {
    default_unary: Option<(Duration, Arc<UnaryPaths>)>,
}

impl DeadlineLayer {
    /// Deadlines from `grpc-timeout` only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also limits unary calls sent without a deadline to `timeout`; `unary_paths` are
    /// the `/package.Service/Method` paths of the unary methods. A client that sends a
    /// `grpc-timeout` gets its own deadline, longer or shorter; streams are not limited
    /// (a watch or a video stream may rightly last hours).
    pub fn with_default_unary_timeout(timeout: Duration, unary_paths: Arc<UnaryPaths>) -> Self {
        Self {
            default_unary: Some((timeout, unary_paths)),
        }
    }
}

/// The paths of the unary methods. foldhash: a lookup on every call without a
/// `grpc-timeout`, into a set fixed at startup.
pub type UnaryPaths = HashSet<String, foldhash::fast::RandomState>;

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            default_unary: self.default_unary.clone(),
        }
    }
}

/// Ends calls whose `grpc-timeout` passes with DEADLINE_EXCEEDED; see the module docs.
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    default_unary: Option<(Duration, Arc<UnaryPaths>)>,
}

impl<S, B> Service<Request<B>> for Deadline<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = CallFuture<S::Future, Timer>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let expiry = match request.headers().get(GRPC_TIMEOUT) {
            None => self
                .default_unary
                .as_ref()
                .filter(|(_, unary)| unary.contains(request.uri().path()))
                .map(|&(timeout, _)| Expiry {
                    timeout,
                    by_default: true,
                }),
            Some(value) => match parse_grpc_timeout(value.as_bytes()) {
                Some(timeout) => Some(Expiry {
                    timeout,
                    by_default: false,
                }),
                None => {
                    return CallFuture::refuse(Status::internal(format!(
                        "malformed grpc-timeout header {value:?}: expected 1 to 8 digits \
                         and a unit (H, M, S, m, u or n)"
                    )));
                }
            },
        };
        // The timer starts before the handler is called: the deadline counts from the
        // moment the call reached the server.
        let timer = expiry.map(|expiry| Timer {
            sleep: Box::pin(tokio::time::sleep(expiry.timeout)),
            expiry,
        });
        CallFuture::new(self.inner.call(request), timer)
    }
}

/// A call's deadline: ends it with DEADLINE_EXCEEDED when its time is up, before the
/// handler answers or while its response stream goes on.
pub struct Timer {
    sleep: Pin<Box<Sleep>>,
    expiry: Expiry,
}

impl CallGuard for Timer {
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        self.sleep.as_mut().poll(cx).map(|()| self.expiry.status())
    }

    fn on_response(self, _headers: &HeaderMap) -> Option<Self> {
        // A unary call on the default deadline has answered: see the module docs.
        (!self.expiry.by_default).then_some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_of_the_spec() {
        assert_eq!(parse_grpc_timeout(b"2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout(b"3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout(b"4S"), Some(Duration::from_secs(4)));
        assert_eq!(
            parse_grpc_timeout(b"250m"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_grpc_timeout(b"99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        assert_eq!(parse_grpc_timeout(b"0n"), Some(Duration::ZERO));
    }

    #[test]
    fn refuses_malformed_values() {
        for bad in [
            &b""[..],
            b"S",
            b"10",
            b"123456789S",
            b"-1S",
            b"1.5S",
            b"10x",
            b" 1S",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
