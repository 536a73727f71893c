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
}

/// The names of the codes 0 to 16, by number
/// (<https://grpc.github.io/grpc/core/md_doc_statuscodes.html>).
pub const CODE_NAMES: [CodeName; 17] = [
    name("OK", "OK"),
    name("CANCELLED", "Canceled"),
    name("UNKNOWN", "Unknown"),
    name("INVALID_ARGUMENT", "InvalidArgument"),
    name("DEADLINE_EXCEEDED", "DeadlineExceeded"),
    name("NOT_FOUND", "NotFound"),
    name("ALREADY_EXISTS", "AlreadyExists"),
    name("PERMISSION_DENIED", "PermissionDenied"),
    name("RESOURCE_EXHAUSTED", "ResourceExhausted"),
    name("FAILED_PRECONDITION", "FailedPrecondition"),
    name("ABORTED", "Aborted"),
    name("OUT_OF_RANGE", "OutOfRange"),
    name("UNIMPLEMENTED", "Unimplemented"),
    name("INTERNAL", "Internal"),
    name("UNAVAILABLE", "Unavailable"),
    name("DATA_LOSS", "DataLoss"),
    name("UNAUTHENTICATED", "Unauthenticated"),
];

const fn name(canonical: &'static str, go: &'static str) -> CodeName {
    CodeName { canonical, go }
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
