//! The names of the gRPC status codes, in the two spellings people meet, in one table.
//!
//! Plain data, no tonic: the server's layers, the gateway, the services and the domain
//! modules that let a client name a status code all read it.

/// A status code's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeName {
    /// As google.rpc.Code, the gRPC status code guide and Google's JSON API errors
    /// (AIP-193) write it: `INVALID_ARGUMENT`.
    pub canonical: &'static str,
    /// As grpc-go prints it, and go-grpc-prometheus labels metrics with it:
    /// `InvalidArgument` (`Canceled` with one L).
    pub go: &'static str,
    /// As the Connect protocol writes it in its JSON errors: `invalid_argument`
    /// (`canceled` with one L; connectrpc.com/docs/protocol, "Error Codes").
    pub connect: &'static str,
    /// The HTTP status of a Connect unary response with this error (the same section).
    pub connect_http: u16,
}

/// The names of the codes 0 to 16, by number, and the HTTP status Connect maps each to
/// (<https://grpc.github.io/grpc/core/md_doc_statuscodes.html>).
pub const CODE_NAMES: [CodeName; 17] = [
    name("OK", "OK", "ok", 200),
    name("CANCELLED", "Canceled", "canceled", 499),
    name("UNKNOWN", "Unknown", "unknown", 500),
    name(
        "INVALID_ARGUMENT",
        "InvalidArgument",
        "invalid_argument",
        400,
    ),
    name(
        "DEADLINE_EXCEEDED",
        "DeadlineExceeded",
        "deadline_exceeded",
        504,
    ),
    name("NOT_FOUND", "NotFound", "not_found", 404),
    name("ALREADY_EXISTS", "AlreadyExists", "already_exists", 409),
    name(
        "PERMISSION_DENIED",
        "PermissionDenied",
        "permission_denied",
        403,
    ),
    name(
        "RESOURCE_EXHAUSTED",
        "ResourceExhausted",
        "resource_exhausted",
        429,
    ),
    name(
        "FAILED_PRECONDITION",
        "FailedPrecondition",
        "failed_precondition",
        400,
    ),
    name("ABORTED", "Aborted", "aborted", 409),
    name("OUT_OF_RANGE", "OutOfRange", "out_of_range", 400),
    name("UNIMPLEMENTED", "Unimplemented", "unimplemented", 501),
    name("INTERNAL", "Internal", "internal", 500),
    name("UNAVAILABLE", "Unavailable", "unavailable", 503),
    name("DATA_LOSS", "DataLoss", "data_loss", 500),
    name("UNAUTHENTICATED", "Unauthenticated", "unauthenticated", 401),
];

const fn name(
    canonical: &'static str,
    go: &'static str,
    connect: &'static str,
    connect_http: u16,
) -> CodeName {
    CodeName {
        canonical,
        go,
        connect,
        connect_http,
    }
}

/// The names of the code numbered `code`, 0 to 16; `None` for any other number.
pub fn code_name(code: i32) -> Option<CodeName> {
    usize::try_from(code)
        .ok()
        .and_then(|i| CODE_NAMES.get(i))
        .copied()
}

/// The number of the code named `name`: its canonical name or grpc-go's, in any case
/// (`UNAVAILABLE`, `Unavailable`, `unavailable`), or its number (`14`).
pub fn parse_code(name: &str) -> Option<i32> {
    let name = name.trim();
    if let Ok(number) = name.parse::<i32>() {
        return code_name(number).map(|_| number);
    }
    let position = CODE_NAMES.iter().position(|names| {
        names.canonical.eq_ignore_ascii_case(name) || names.go.eq_ignore_ascii_case(name)
    })?;
    i32::try_from(position).ok()
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn the_table_is_in_code_order() {
        for (number, names) in CODE_NAMES.iter().enumerate() {
            let code = Code::from_i32(number as i32);
            assert_eq!(code as usize, number);
            // tonic's Debug name is the code's name in CamelCase ("Cancelled", "Ok").
            let camel = format!("{code:?}");
            let canonical: String = camel
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let boundary = i > 0 && c.is_ascii_uppercase();
                    [boundary.then_some('_'), Some(c.to_ascii_uppercase())]
                })
                .flatten()
                .collect();
            assert_eq!(names.canonical, canonical);
            // grpc-go spells two of them its own way.
            let go = match camel.as_str() {
                "Ok" => "OK",
                "Cancelled" => "Canceled",
                other => other,
            };
            assert_eq!(names.go, go);
            // Connect's: the canonical name in lower case, but for canceled.
            let connect = names
                .canonical
                .to_lowercase()
                .replace("cancelled", "canceled");
            assert_eq!(names.connect, connect);
        }
        assert_eq!(
            code_name(Code::InvalidArgument as i32).unwrap().canonical,
            "INVALID_ARGUMENT"
        );
        assert_eq!(code_name(17), None);
        assert_eq!(code_name(-1), None);
    }

    #[test]
    fn codes_parse_from_either_spelling_or_their_number() {
        for name in ["UNAVAILABLE", "Unavailable", "unavailable", "14", " 14 "] {
            assert_eq!(parse_code(name), Some(14), "{name}");
        }
        assert_eq!(parse_code("canceled"), Some(1));
        assert_eq!(parse_code("CANCELLED"), Some(1));
        for bad in ["", "17", "-1", "SERVICE_UNKNOWN", "Unavailable!"] {
            assert_eq!(parse_code(bad), None, "{bad}");
        }
    }
}
