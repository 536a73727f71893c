//! The echo service's behaviours, chosen by the client in request metadata: the domain of
//! `grpc.examples.echo.Echo` (`src/services/echo/` is its gRPC adapter). `proto/echo.proto`
//! documents each header for clients.
//!
//! [`Behaviour::parse`] reads the headers into what the call should do (a status to end
//! with, a delay, a stream's shape, a flaky failure), checking every value against its
//! cap; [`RetryKeys`] (in [`retry`]) remembers how many times each `x-echo-retry-key`
//! has been tried, in bounded memory; [`trailer_name`] is the name under which a header
//! comes back in the trailers. [`grpc_go`] holds what grpc-go's own feature-example
//! servers do that their clients check: the messages of the deadline example and the
//! headers of the metadata example.

pub mod grpc_go;
pub mod retry;

pub use retry::{Attempt, RetryKeys};

use std::{fmt, time::Duration};

use super::quote::quote;
use crate::codes;

/// The prefix of the headers the echo service echoes and reads.
pub const PREFIX: &str = "x-echo-";
/// The prefix of an echoed header's name in the trailers.
pub const TRAILER_PREFIX: &str = "x-echo-trailer-";

/// The longest `x-echo-delay-ms`, `x-echo-interval-ms` and `x-echo-retry-delay-ms`.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// The most replies `x-echo-count` may ask for.
pub const MAX_COUNT: u32 = 1000;
/// The most failures `x-echo-fail-first` may ask for.
pub const MAX_FAIL_FIRST: u32 = 100;
/// The longest `x-echo-retry-key`, bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// The RetryInfo delay when `x-echo-retry-delay-ms` is not given.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// A google.rpc error detail the client may ask for (`x-echo-detail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// `retry-info`: when to retry.
    RetryInfo,
    /// `quota-failure`: which quota ran out.
    QuotaFailure,
    /// `error-info`: a machine-readable reason, its domain and metadata.
    ErrorInfo,
    /// `bad-request`: which field was wrong.
    BadRequest,
    /// `debug-info`: a stack trace and detail, for developers.
    DebugInfo,
}

impl Detail {
    /// Every detail, with the name `x-echo-detail` takes.
    pub const ALL: [(&'static str, Detail); 5] = [
        ("retry-info", Detail::RetryInfo),
        ("quota-failure", Detail::QuotaFailure),
        ("error-info", Detail::ErrorInfo),
        ("bad-request", Detail::BadRequest),
        ("debug-info", Detail::DebugInfo),
    ];
}

/// The status a client asked the call to end with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenStatus {
    /// The gRPC status code, 1 to 16.
    pub code: i32,
    /// The status message.
    pub message: String,
    /// The details to attach, in the order asked.
    pub details: Vec<Detail>,
}

/// Fail the first calls of a retry key (`x-echo-fail-first`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flaky {
    /// How many calls with the key fail before one succeeds.
    pub fail_first: u32,
    /// The key that ties a client's retries together.
    pub key: String,
    /// The delay the failures' RetryInfo asks for.
    pub retry_delay: Duration,
}

/// What one call should do, from its `x-echo-*` headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// End with this status (after a stream's replies) instead of OK.
    pub status: Option<ChosenStatus>,
    /// Wait this long before each reply.
    pub delay: Duration,
    /// Replies per request of a stream; `None`: the method's default.
    pub count: Option<u32>,
    /// The pause between a stream's replies.
    pub interval: Duration,
    /// Fail the first calls of a key.
    pub flaky: Option<Flaky>,
}

/// A header whose value the service does not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHeader {
    /// The header's name, such as `x-echo-delay-ms`.
    pub header: &'static str,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for BadHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.header, self.message)
    }
}

impl std::error::Error for BadHeader {}

impl Behaviour {
    /// The behaviour that the headers `get` gives (by name; `None` for a header not
    /// sent, or one whose value is not ASCII) ask for.
    ///
    /// # Errors
    /// [`BadHeader`] for an unknown status or detail name, a number that does not parse
    /// or is over its cap, `x-echo-fail-first` without `x-echo-retry-key` (or with one
    /// over [`MAX_KEY_BYTES`]), or `x-echo-detail` without an error status.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, BadHeader> {
        let status = match get("x-echo-status") {
            None => None,
            Some(name) => {
                let code = codes::parse_code(name).ok_or_else(|| BadHeader {
                    header: "x-echo-status",
                    message: format!(
                        "{} is not a status code; give a name such as UNAVAILABLE or \
                         Unavailable, or a number from 0 to 16",
                        quote(name)
                    ),
                })?;
                let message = get("x-echo-message").map_or_else(
                    || format!("x-echo-status asked for {}", name.trim()),
                    str::to_owned,
                );
                Some((code, message))
            }
        };
        let details = match get("x-echo-detail") {
            None => Vec::new(),
            Some(list) => parse_details(list)?,
        };
        let status = match status {
            Some((code, message)) if code != 0 => Some(ChosenStatus {
                code,
                message,
                details,
            }),
            _ if !details.is_empty() => {
                return Err(BadHeader {
                    header: "x-echo-detail",
                    message: "error details need an error status: send x-echo-status too, \
                              with a code other than OK"
                        .to_owned(),
                });
            }
            _ => None,
        };
        let flaky = match (get("x-echo-fail-first"), get("x-echo-retry-key")) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(BadHeader {
                    header: "x-echo-retry-key",
                    message: "x-echo-fail-first needs a key that ties the retries of one \
                              call together, for example a random id"
                        .to_owned(),
                });
            }
            (Some(n), Some(key)) => {
                if key.is_empty() || key.len() > MAX_KEY_BYTES {
                    return Err(BadHeader {
                        header: "x-echo-retry-key",
                        message: format!("give 1 to {MAX_KEY_BYTES} bytes, not {}", key.len()),
                    });
                }
                Some(Flaky {
                    fail_first: number("x-echo-fail-first", n, MAX_FAIL_FIRST)?,
                    key: key.to_owned(),
                    retry_delay: millis("x-echo-retry-delay-ms", get("x-echo-retry-delay-ms"))?
                        .unwrap_or(DEFAULT_RETRY_DELAY),
                })
            }
        };
        Ok(Self {
            status,
            delay: millis("x-echo-delay-ms", get("x-echo-delay-ms"))?.unwrap_or_default(),
            count: get("x-echo-count")
                .map(|n| number("x-echo-count", n, MAX_COUNT))
                .transpose()?,
            interval: millis("x-echo-interval-ms", get("x-echo-interval-ms"))?.unwrap_or_default(),
            flaky,
        })
    }
}

fn parse_details(list: &str) -> Result<Vec<Detail>, BadHeader> {
    list.split(',')
        .map(|name| {
            let name = name.trim();
            Detail::ALL
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(name))
                .map(|&(_, detail)| detail)
                .ok_or_else(|| BadHeader {
                    header: "x-echo-detail",
                    message: format!(
                        "{} is not a detail; the details are {}",
                        quote(name),
                        Detail::ALL.map(|(known, _)| known).join(", ")
                    ),
                })
        })
        .collect()
}

/// A whole number from 0 to `max`.
fn number(header: &'static str, value: &str, max: u32) -> Result<u32, BadHeader> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| BadHeader {
            header,
            message: format!("{} is not a whole number from 0 to {max}", quote(value)),
        })
}

/// Milliseconds, 0 to [`MAX_DELAY`].
fn millis(header: &'static str, value: Option<&str>) -> Result<Option<Duration>, BadHeader> {
    let max = MAX_DELAY.as_millis() as u32;
    value
        .map(|value| number(header, value, max).map(|ms| Duration::from_millis(u64::from(ms))))
        .transpose()
}

/// The name under which the echoed header `name` comes back in the trailers:
/// `x-echo-id` as `x-echo-trailer-id`, `x-echo-id-bin` as `x-echo-trailer-id-bin`.
/// `None` for a header the service does not echo.
pub fn trailer_name(name: &str) -> Option<String> {
    name.strip_prefix(PREFIX)
        .map(|rest| format!("{TRAILER_PREFIX}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(headers: &[(&str, &str)]) -> Result<Behaviour, BadHeader> {
        Behaviour::parse(|name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| *value)
        })
    }

    #[test]
    fn no_header_is_a_plain_echo() {
        assert_eq!(parse(&[]), Ok(Behaviour::default()));
    }

    #[test]
    fn every_header_is_read() {
        let behaviour = parse(&[
            ("x-echo-status", "Unavailable"),
            ("x-echo-message", "try again"),
            ("x-echo-detail", "retry-info, DEBUG-INFO"),
            ("x-echo-delay-ms", "250"),
            ("x-echo-count", "5"),
            ("x-echo-interval-ms", "10"),
            ("x-echo-fail-first", "2"),
            ("x-echo-retry-key", "abc"),
            ("x-echo-retry-delay-ms", "40"),
        ])
        .unwrap();
        assert_eq!(
            behaviour,
            Behaviour {
                status: Some(ChosenStatus {
                    code: 14,
                    message: "try again".into(),
                    details: vec![Detail::RetryInfo, Detail::DebugInfo],
                }),
                delay: Duration::from_millis(250),
                count: Some(5),
                interval: Duration::from_millis(10),
                flaky: Some(Flaky {
                    fail_first: 2,
                    key: "abc".into(),
                    retry_delay: Duration::from_millis(40),
                }),
            }
        );
        // OK is no error: the call succeeds.
        assert_eq!(parse(&[("x-echo-status", "OK")]).unwrap().status, None);
        let default_message = parse(&[("x-echo-status", "5")]).unwrap().status.unwrap();
        assert_eq!(default_message.message, "x-echo-status asked for 5");
    }

    #[test]
    fn bad_values_name_their_header() {
        for (headers, header) in [
            (&[("x-echo-status", "SOMETIMES")][..], "x-echo-status"),
            (&[("x-echo-status", "17")], "x-echo-status"),
            (&[("x-echo-delay-ms", "30001")], "x-echo-delay-ms"),
            (&[("x-echo-delay-ms", "-1")], "x-echo-delay-ms"),
            (&[("x-echo-count", "1001")], "x-echo-count"),
            (&[("x-echo-interval-ms", "1.5")], "x-echo-interval-ms"),
            (&[("x-echo-fail-first", "3")], "x-echo-retry-key"),
            (
                &[("x-echo-fail-first", "101"), ("x-echo-retry-key", "k")],
                "x-echo-fail-first",
            ),
            (&[("x-echo-detail", "retry-info")], "x-echo-detail"),
            (
                &[("x-echo-status", "INTERNAL"), ("x-echo-detail", "stack")],
                "x-echo-detail",
            ),
        ] {
            let err = parse(headers).unwrap_err();
            assert_eq!(err.header, header, "{headers:?}: {err}");
        }
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        let err = parse(&[("x-echo-fail-first", "1"), ("x-echo-retry-key", &long_key)]);
        assert_eq!(err.unwrap_err().header, "x-echo-retry-key");
    }

    #[test]
    fn trailer_names_keep_the_binary_suffix() {
        assert_eq!(
            trailer_name("x-echo-id").as_deref(),
            Some("x-echo-trailer-id")
        );
        assert_eq!(
            trailer_name("x-echo-id-bin").as_deref(),
            Some("x-echo-trailer-id-bin")
        );
        assert_eq!(trailer_name("authorization"), None);
    }
}
