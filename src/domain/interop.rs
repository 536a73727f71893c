//! The gRPC interop tests' server features, without gRPC: the domain of
//! `grpc.testing.TestService` (`src/services/interop/` is its adapter). The spec is
//! grpc/grpc's `doc/interop-test-descriptions.md`, "Server".
//!
//! A payload is `size` zero bytes ([`zeros`]), the only payload type the spec asks for
//! (COMPRESSABLE); a response's wait is its `interval_us` ([`interval`]); a client
//! stream's answer is the total size of the payloads received ([`aggregate`]).

use std::{fmt, time::Duration};

/// The largest payload a response may ask for, bytes: room for the spec's largest
/// (314,159) and more, within the server's 4 MiB message limit.
pub const MAX_PAYLOAD: usize = 4_000_000;
/// The longest `interval_us`: 10 s.
pub const MAX_INTERVAL: Duration = Duration::from_secs(10);

/// A request parameter the server does not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidParameter {
    /// The field at fault, as the proto names it (`response_size` ...).
    pub field: &'static str,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for InvalidParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for InvalidParameter {}

/// A payload body of `size` zero bytes.
///
/// # Errors
/// [`InvalidParameter`] on `field` for a negative size or one over [`MAX_PAYLOAD`].
pub fn zeros(field: &'static str, size: i32) -> Result<Vec<u8>, InvalidParameter> {
    usize::try_from(size)
        .ok()
        .filter(|size| *size <= MAX_PAYLOAD)
        .map(|size| vec![0; size])
        .ok_or_else(|| InvalidParameter {
            field,
            message: format!("{size} bytes; give 0 to {MAX_PAYLOAD}"),
        })
}

/// The wait of `interval_us` microseconds before a response.
///
/// # Errors
/// [`InvalidParameter`] for a negative interval or one over [`MAX_INTERVAL`].
pub fn interval(interval_us: i32) -> Result<Duration, InvalidParameter> {
    u64::try_from(interval_us)
        .ok()
        .map(Duration::from_micros)
        .filter(|wait| *wait <= MAX_INTERVAL)
        .ok_or_else(|| InvalidParameter {
            field: "response_parameters.interval_us",
            message: format!("{interval_us} µs; give 0 to {}", MAX_INTERVAL.as_micros()),
        })
}

/// The total size of payload bodies of `sizes` bytes, as StreamingInputCall answers it.
///
/// # Errors
/// [`InvalidParameter`] when the total does not fit the answer's 32-bit field.
pub fn aggregate(sizes: impl IntoIterator<Item = usize>) -> Result<i32, InvalidParameter> {
    let total: u64 = sizes.into_iter().map(|size| size as u64).sum();
    i32::try_from(total).map_err(|_| InvalidParameter {
        field: "payload",
        message: format!("{total} bytes in all; the total must fit 2^31 - 1"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_zeros_of_the_size_asked() {
        assert_eq!(zeros("response_size", 0).unwrap(), Vec::<u8>::new());
        assert_eq!(zeros("response_size", 314_159).unwrap().len(), 314_159);
        assert!(zeros("response_size", 3).unwrap().iter().all(|b| *b == 0));
        assert_eq!(
            zeros("response_size", -1).unwrap_err().field,
            "response_size"
        );
        assert!(zeros("size", 4_000_001).is_err());
    }

    #[test]
    fn intervals_and_totals_are_checked() {
        assert_eq!(interval(1500), Ok(Duration::from_micros(1500)));
        assert!(interval(-1).is_err());
        assert!(interval(10_000_001).is_err());
        assert_eq!(aggregate([27182, 8, 1828, 45904]), Ok(74922));
        assert!(aggregate([usize::MAX / 2, usize::MAX / 2]).is_err());
    }
}
