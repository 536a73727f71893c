//! What grpc-go's own feature-example servers do that their clients (run unchanged
//! against this server, tests/grpc_go.rs) check, where it conflicts with nothing else
//! the echo service promises:
//!
//! - the deadline example (examples/features/deadline/server): the message
//!   [`DELAY_MESSAGE`] waits [`DELAY_MESSAGE_WAIT`] before its reply, and a message
//!   that begins with [`PROPAGATE_PREFIX`] waits [`PROPAGATE_WAIT`], then calls
//!   UnaryEcho with the rest of the message under the call's remaining deadline
//!   ([`propagated`]);
//! - the metadata example (examples/features/metadata/server): every reply carries the
//!   response headers `location: MTV` ([`LOCATION`]) and `timestamp`, and the trailer
//!   `timestamp`, in Go's `time.StampNano` layout ([`stamp_nano`]);
//! - the retry example (examples/features/retry/server): UnaryEcho of the message
//!   [`RETRY_MESSAGE`] fails with UNAVAILABLE but on every [`RETRY_MODULO`]-th call
//!   ([`RetryExample`]), so that its client's retry policy is seen at work.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime},
};

/// The message that waits [`DELAY_MESSAGE_WAIT`] before its reply.
pub const DELAY_MESSAGE: &str = "delay";
/// How long [`DELAY_MESSAGE`] waits: 1.5 s, past the 1 s deadline of grpc-go's client.
pub const DELAY_MESSAGE_WAIT: Duration = Duration::from_millis(1500);
/// The prefix of a message whose rest is echoed through a nested UnaryEcho call.
pub const PROPAGATE_PREFIX: &str = "[propagate me]";
/// How long a [`PROPAGATE_PREFIX`] message waits before its nested call: 0.8 s, so that
/// one nested level fits in a 1 s deadline and two do not.
pub const PROPAGATE_WAIT: Duration = Duration::from_millis(800);

/// The message of grpc-go's retry example client.
pub const RETRY_MESSAGE: &str = "Try and Success";
/// grpc-go's retry example server answers every 4th call and fails the 3 before it:
/// its client's service config allows 4 attempts.
pub const RETRY_MODULO: u64 = 4;

/// The calls of [`RETRY_MESSAGE`] this server has seen, counted as grpc-go's retry
/// example server counts its requests: one count for every caller.
#[derive(Debug, Default)]
pub struct RetryExample {
    calls: AtomicU64,
}

impl RetryExample {
    /// Counts one more call of [`RETRY_MESSAGE`]: true when it is a [`RETRY_MODULO`]-th
    /// (the 4th, 8th ...), which succeeds; false for the others, which fail.
    pub fn succeeds(&self) -> bool {
        (self.calls.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(RETRY_MODULO)
    }
}

/// The `location` header's value, as grpc-go's metadata server sends it.
pub const LOCATION: &str = "MTV";
/// The name of the header and the trailer with the server's clock ([`stamp_nano`]).
pub const TIMESTAMP: &str = "timestamp";
/// The name of the header with [`LOCATION`].
pub const LOCATION_HEADER: &str = "location";

/// The rest of `message` after [`PROPAGATE_PREFIX`] (perhaps empty), or `None` when
/// `message` does not begin with it.
pub fn propagated(message: &str) -> Option<&str> {
    message.strip_prefix(PROPAGATE_PREFIX)
}

/// How long `message` waits before its reply: [`DELAY_MESSAGE_WAIT`] for exactly
/// [`DELAY_MESSAGE`], zero for any other.
pub fn message_delay(message: &str) -> Duration {
    if message == DELAY_MESSAGE {
        DELAY_MESSAGE_WAIT
    } else {
        Duration::ZERO
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `time` in Go's `time.StampNano` layout, `Jan _2 15:04:05.000000000` (the day padded
/// with a space, nanoseconds, no year), in UTC: what grpc-go's metadata example sends
/// (in its server's local time zone).
pub fn stamp_nano(time: SystemTime) -> String {
    // humantime's RFC 3339 (always UTC, nine fractional digits):
    // 2023-11-14T22:13:20.123456789Z.
    let rfc3339 = humantime::format_rfc3339_nanos(time).to_string();
    let month: usize = rfc3339[5..7].parse().unwrap_or(1);
    let day = rfc3339[8..10].trim_start_matches('0');
    let clock = &rfc3339[11..29];
    format!("{} {day:>2} {clock}", MONTHS[month.clamp(1, 12) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_example_succeeds_on_every_fourth_call() {
        let example = RetryExample::default();
        let calls: Vec<bool> = (0..8).map(|_| example.succeeds()).collect();
        assert_eq!(
            calls,
            [false, false, false, true, false, false, false, true]
        );
    }

    #[test]
    fn the_deadline_examples_messages() {
        assert_eq!(propagated("[propagate me]world"), Some("world"));
        assert_eq!(
            propagated("[propagate me][propagate me]world"),
            Some("[propagate me]world")
        );
        assert_eq!(propagated("[propagate me]"), Some(""));
        assert_eq!(propagated("world [propagate me]"), None);
        assert_eq!(message_delay("delay"), Duration::from_millis(1500));
        for other in ["Delay", "delay ", "delayed", ""] {
            assert_eq!(message_delay(other), Duration::ZERO, "{other:?}");
        }
    }

    #[test]
    fn timestamps_in_gos_stamp_nano_layout() {
        let at = |secs: u64, nanos: u32| SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        assert_eq!(stamp_nano(at(0, 0)), "Jan  1 00:00:00.000000000");
        // 2023-11-14T22:13:20.123456789Z
        assert_eq!(
            stamp_nano(at(1_700_000_000, 123_456_789)),
            "Nov 14 22:13:20.123456789"
        );
        // 2024-02-29T23:59:59.000000001Z, a leap day.
        assert_eq!(
            stamp_nano(at(1_709_251_199, 1)),
            "Feb 29 23:59:59.000000001"
        );
    }
}
