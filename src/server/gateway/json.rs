//! The JSON of the REST gateway: a transaction in, a verdict out; no gRPC here.
//!
//! The request body is one JSON object with exactly the five fields of
//! `fraud_detection.PredictionRequest`, all required:
//!
//! | field | JSON type |
//! |---|---|
//! | `transaction_id` | integer (or a string of digits, as proto3's JSON mapping writes int64) |
//! | `amount` | number, US dollars |
//! | `time` | integer (or a string of digits): Unix time, seconds |
//! | `age_of_account` | integer, days, fitting a 32-bit signed integer |
//! | `number_of_transactions` | integer, fitting a 32-bit signed integer |
//!
//! Ranges (a negative amount, for instance) are the fraud service's to check: its
//! INVALID_ARGUMENT comes back to the client as a 400 naming the field.

use serde_json::{Map, Value};

use crate::domain::fraud::Transaction;
use crate::domain::quote::{prefix, quote};

/// The fields of a request body, in the proto's order.
pub const FIELDS: [&str; 5] = [
    "transaction_id",
    "amount",
    "time",
    "age_of_account",
    "number_of_transactions",
];

/// Why a request body was refused: a message and, when one field is at fault, its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    /// The field at fault, as named in the JSON.
    pub field: Option<String>,
    /// What was wrong and what is expected.
    pub message: String,
}

impl BodyError {
    fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

/// Parses a request body into a [`Transaction`].
///
/// # Errors
/// A [`BodyError`] for a body that is not JSON, not an object, lacks a field, has a
/// field of the wrong type or out of its integer range, or has a field not listed in
/// [`FIELDS`] (a misspelled field would otherwise be silently ignored).
pub fn parse_transaction(body: &[u8]) -> Result<Transaction, BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(|err| BodyError {
        field: None,
        message: format!("the body is not valid JSON: {err}"),
    })?;
    let Value::Object(object) = value else {
        return Err(BodyError {
            field: None,
            message: format!(
                "the body must be a JSON object with the fields {}",
                FIELDS.join(", ")
            ),
        });
    };
    // serde_json keeps the last of two equal keys without a word: which amount did
    // the caller mean? Refuse instead.
    if let Ok(FirstDuplicate(Some(key))) = serde_json::from_slice::<FirstDuplicate>(body) {
        return Err(BodyError::field(
            prefix(&key),
            format!("field {} appears more than once", quote(&key)),
        ));
    }
    if let Some(unknown) = object.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(BodyError::field(
            prefix(unknown),
            format!(
                "unknown field {}; the fields are {}",
                quote(unknown),
                FIELDS.join(", ")
            ),
        ));
    }
    Ok(Transaction {
        transaction_id: int64(&object, "transaction_id")?,
        amount: number(&object, "amount")?,
        time: int64(&object, "time")?,
        age_of_account: int32(&object, "age_of_account")?,
        number_of_transactions: int32(&object, "number_of_transactions")?,
    })
}

/// The first key of a JSON object that appears twice in it, if any.
struct FirstDuplicate(Option<String>);

impl<'de> serde::Deserialize<'de> for FirstDuplicate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = FirstDuplicate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut seen = std::collections::HashSet::new();
                let mut duplicate = None;
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if !seen.insert(key.clone()) && duplicate.is_none() {
                        duplicate = Some(key);
                    }
                }
                Ok(FirstDuplicate(duplicate))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a Value, BodyError> {
    object
        .get(name)
        .ok_or_else(|| BodyError::field(name, format!("missing field {name:?}")))
}

fn int64(object: &Map<String, Value>, name: &str) -> Result<i64, BodyError> {
    let value = field(object, name)?;
    let parsed = match value {
        Value::Number(number) => number.as_i64(),
        Value::String(digits) => digits.parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        BodyError::field(
            name,
            format!(
                "{name:?} must be an integer (64-bit signed), not {}",
                quote(&value.to_string())
            ),
        )
    })
}

fn int32(object: &Map<String, Value>, name: &str) -> Result<i32, BodyError> {
    let value = field(object, name)?;
    value
        .as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| {
            BodyError::field(
                name,
                format!(
                    "{name:?} must be an integer from -2147483648 to 2147483647, not {}",
                    quote(&value.to_string())
                ),
            )
        })
}

fn number(object: &Map<String, Value>, name: &str) -> Result<f64, BodyError> {
    let value = field(object, name)?;
    value.as_f64().ok_or_else(|| {
        BodyError::field(
            name,
            format!(
                "{name:?} must be a number, not {}",
                quote(&value.to_string())
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_field() {
        let body = br#"{"transaction_id": 7, "amount": 120.5, "time": "1700000000",
                        "age_of_account": 30, "number_of_transactions": 2}"#;
        assert_eq!(
            parse_transaction(body),
            Ok(Transaction {
                transaction_id: 7,
                amount: 120.5,
                time: 1_700_000_000,
                age_of_account: 30,
                number_of_transactions: 2,
            })
        );
    }

    #[test]
    fn names_the_field_at_fault() {
        let valid = r#""transaction_id": 7, "amount": 1, "time": 1, "age_of_account": 3"#;
        let cases = [
            (
                format!("{{{valid}}}"),
                Some("number_of_transactions"),
                "missing",
            ),
            (
                format!("{{{valid}, \"number_of_transactions\": 2, \"amount\": 1e9}}"),
                Some("amount"),
                "field \"amount\" appears more than once",
            ),
            (
                format!("{{{valid}, \"number_of_transactions\": \"two\"}}"),
                Some("number_of_transactions"),
                "integer",
            ),
            (
                format!("{{{valid}, \"number_of_transactions\": 1.5}}"),
                Some("number_of_transactions"),
                "integer",
            ),
            (
                format!("{{{valid}, \"number_of_transactions\": 3000000000}}"),
                Some("number_of_transactions"),
                "2147483647",
            ),
            (
                format!("{{{valid}, \"number_of_transactions\": 1, \"ammount\": 2}}"),
                Some("ammount"),
                "unknown field",
            ),
            ("[1, 2]".to_owned(), None, "JSON object"),
            ("{\"transaction_id\": 7,".to_owned(), None, "not valid JSON"),
        ];
        for (body, field, message) in cases {
            let err = parse_transaction(body.as_bytes()).unwrap_err();
            assert_eq!(err.field.as_deref(), field, "{body}: {err:?}");
            assert!(err.message.contains(message), "{body}: {err:?}");
        }
        let body = format!(
            "{{{}, \"number_of_transactions\": 1}}",
            valid.replace("\"amount\": 1", "\"amount\": \"1\"")
        );
        let err = parse_transaction(body.as_bytes()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("amount"));
        assert!(err.message.contains("must be a number"), "{err:?}");
    }
}
