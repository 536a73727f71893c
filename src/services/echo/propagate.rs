//! Deadline propagation, as grpc-go's deadline example server does it: a message that
//! begins with `[propagate me]` waits 800 ms, then calls UnaryEcho with the rest of the
//! message under what is left of the call's deadline
//! ([`crate::domain::echo::grpc_go::propagated`]).
//!
//! grpc-go's server dials itself over the network; this one calls its own UnaryEcho
//! handler in process, which keeps what the example shows: the nested call carries
//! the time left as its `grpc-timeout` (so a nested `[propagate me]` propagates it
//! again), and it ends with DEADLINE_EXCEEDED when that time runs out, as grpc-go's
//! client side of the nested call does; a cancelled outer call drops the nested one.
//! It needs no address of its own (port 0, a Unix socket, several listeners), no TLS
//! trust and no token for itself. The nested call gets no other request metadata, as
//! grpc-go does not forward incoming metadata, and its reply's metadata is not
//! forwarded either; it passes through none of the server's layers (auth, limits,
//! metrics, logs) since it never leaves the process.

use std::time::{Duration, Instant};

use tonic::{Request, Status, metadata::MetadataMap};

use super::EchoService;
use crate::{
    domain::echo::grpc_go::PROPAGATE_WAIT,
    proto::echo::{EchoRequest, EchoResponse, echo_server::Echo},
};

/// The header that carries a call's timeout.
const GRPC_TIMEOUT: &str = "grpc-timeout";
/// `grpc-timeout` takes at most 8 digits.
const MAX_DIGITS: u128 = 99_999_999;

/// When the call of `metadata` must end: now plus its `grpc-timeout` (the gRPC over
/// HTTP/2 format: at most 8 digits and a unit, `H`, `M`, `S`, `m`, `u` or `n`); `None`
/// without one. (The server's deadline layer has already refused a malformed one.)
pub fn deadline(metadata: &MetadataMap) -> Option<Instant> {
    let value = metadata.get(GRPC_TIMEOUT)?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    Instant::now().checked_add(timeout)
}

/// `remaining` as a `grpc-timeout` value: the finest unit whose count fits 8 digits,
/// rounded up, as grpc-go encodes it.
pub fn grpc_timeout(remaining: Duration) -> String {
    let nanos = remaining.as_nanos();
    for (unit_nanos, unit) in [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
    ] {
        let count = nanos.div_ceil(unit_nanos);
        if count <= MAX_DIGITS {
            return format!("{count}{unit}");
        }
    }
    format!("{}H", nanos.div_ceil(3_600_000_000_000).min(MAX_DIGITS))
}

impl EchoService {
    /// Waits [`PROPAGATE_WAIT`], then calls this service's UnaryEcho with `message`,
    /// in process, under `deadline` (see the module docs): its reply, or its error.
    ///
    /// # Errors
    /// DEADLINE_EXCEEDED when `deadline` passes first; the nested call's own error
    /// otherwise (a bad header cannot be one: the nested call has none).
    pub(super) async fn propagate(
        &self,
        message: &str,
        deadline: Option<Instant>,
    ) -> Result<EchoResponse, Status> {
        tokio::time::sleep(PROPAGATE_WAIT).await;
        let mut request = Request::new(EchoRequest {
            message: message.to_owned(),
        });
        let Some(deadline) = deadline else {
            return Ok(Echo::unary_echo(self, request).await?.into_inner());
        };
        let past = || {
            Status::deadline_exceeded(
                "the deadline passed before the nested UnaryEcho call of [propagate me] \
                 answered: it got what was left of the caller's deadline",
            )
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(past());
        }
        if let Ok(value) = grpc_timeout(remaining).parse() {
            request.metadata_mut().insert(GRPC_TIMEOUT, value);
        }
        let nested = Echo::unary_echo(self, request);
        match tokio::time::timeout_at(deadline.into(), nested).await {
            Ok(reply) => Ok(reply?.into_inner()),
            Err(_elapsed) => Err(past()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `message` under a deadline of `timeout` (a `grpc-timeout` value).
    fn within(timeout: &str, message: &str) -> Request<EchoRequest> {
        let mut request = Request::new(EchoRequest {
            message: message.to_owned(),
        });
        request
            .metadata_mut()
            .insert(GRPC_TIMEOUT, timeout.parse().unwrap());
        request
    }

    #[tokio::test]
    async fn the_nested_call_gets_what_is_left_of_the_deadline() {
        // In process, with no deadline layer around: this module alone keeps it.
        let service = EchoService::default();
        let (one, two) = tokio::join!(
            // One 800 ms wait, well within 3 s.
            Echo::unary_echo(&service, within("3S", "[propagate me]world")),
            Echo::unary_echo(
                &service,
                within("1200m", "[propagate me][propagate me]world")
            ),
        );
        assert_eq!(one.unwrap().into_inner().message, "world");
        let status = two.unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        // Two 800 ms waits cannot end within 1.2 s. Without the deadline passed on,
        // the nested calls would have answered "world" after 1.6 s: there is no
        // deadline layer here.
        assert!(status.message().contains("nested UnaryEcho"), "{status:?}");
    }

    #[test]
    fn timeouts_take_the_finest_unit_that_fits_rounded_up() {
        assert_eq!(grpc_timeout(Duration::from_nanos(1)), "1n");
        assert_eq!(grpc_timeout(Duration::from_millis(50)), "50000000n");
        assert_eq!(grpc_timeout(Duration::from_millis(200)), "200000u");
        assert_eq!(grpc_timeout(Duration::new(1, 1)), "1000001u");
        assert_eq!(grpc_timeout(Duration::from_secs(1000)), "1000000m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
        assert_eq!(grpc_timeout(Duration::MAX), "99999999H");
    }

    #[test]
    fn a_timeout_is_read_back_as_a_deadline() {
        let mut metadata = MetadataMap::new();
        assert_eq!(deadline(&metadata), None);
        for (value, timeout) in [
            ("200000u", Duration::from_millis(200)),
            ("3S", Duration::from_secs(3)),
            ("1H", Duration::from_secs(3600)),
        ] {
            metadata.insert(GRPC_TIMEOUT, value.parse().unwrap());
            let before = Instant::now();
            let at = deadline(&metadata).unwrap();
            assert!(
                at >= before + timeout && at <= Instant::now() + timeout,
                "{value}"
            );
        }
        for bad in ["", "S", "123456789S", "1x", "-1S", "1.5S"] {
            metadata.insert(GRPC_TIMEOUT, bad.parse().unwrap());
            assert_eq!(deadline(&metadata), None, "{bad:?}");
        }
    }
}
