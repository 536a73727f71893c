//! Caller-supplied text in error messages, bounded: a 4 MB `model_id` must not come back
//! as a 4 MB `grpc-message` (which some clients refuse as oversized metadata, reporting
//! RESOURCE_EXHAUSTED instead of the real error).

/// The most characters of a caller's value that an error message repeats.
pub const MAX_QUOTED_CHARS: usize = 64;

/// `value` quoted and escaped as Rust's `{:?}` writes it (`"abc"`, `"a\nb"`), cut to its
/// first [`MAX_QUOTED_CHARS`] characters with the full length said after it:
/// `"aaaa…" (4194304 characters)`.
pub fn quote(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => {
            let prefix = &value[..end];
            let quoted = format!("{prefix:?}");
            format!(
                "{}…\" ({} characters)",
                &quoted[..quoted.len() - 1],
                value.chars().count()
            )
        }
    }
}

/// The first [`MAX_QUOTED_CHARS`] characters of `value`, unquoted: for a field name
/// that goes into a `google.rpc.BadRequest` (itself metadata).
pub fn prefix(value: &str) -> &str {
    value
        .char_indices()
        .nth(MAX_QUOTED_CHARS)
        .map_or(value, |(end, _)| &value[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole_and_long_ones_cut() {
        assert_eq!(quote("iris"), "\"iris\"");
        assert_eq!(quote("a\nb\"c"), "\"a\\nb\\\"c\"");
        let long = "x".repeat(4 << 20);
        let quoted = quote(&long);
        assert_eq!(
            quoted,
            format!("\"{}…\" (4194304 characters)", "x".repeat(64))
        );
        // Cut on a character boundary, counted in characters.
        let accents = "é".repeat(100);
        assert_eq!(
            quote(&accents),
            format!("\"{}…\" (100 characters)", "é".repeat(64))
        );
        assert_eq!(prefix(&accents).chars().count(), 64);
        assert_eq!(prefix("b"), "b");
        // Control characters stay escaped, so a message cannot forge lines.
        assert!(!quote(&"\r\n".repeat(100)).contains('\n'));
    }
}
