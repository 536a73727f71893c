//! Connect's errors: a gRPC status as the Connect protocol writes it
//! (connectrpc.com/docs/protocol, "Error Codes" and "Error Details"):
//!
//! ```json
//! {"code": "invalid_argument", "message": "field \"b\": division by zero",
//!  "details": [{"type": "google.rpc.BadRequest", "value": "<base64>", "debug": {...}}]}
//! ```
//!
//! `value` is the detail's protobuf bytes (base64, unpadded); `debug` is the same
//! detail as JSON, for people, when the server knows its type.

use base64::{Engine, engine::general_purpose::STANDARD_NO_PAD};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header::CONTENT_TYPE};
use http_body_util::Full;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{Value, json};
use tonic::{Code, Status, body::Body};

use crate::codes;

/// One error detail: its message type and its protobuf bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    /// The fully qualified message name, such as `google.rpc.BadRequest`.
    pub type_name: String,
    /// The encoded message.
    pub value: Vec<u8>,
}

/// An error as Connect sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The gRPC status code.
    pub code: Code,
    /// What went wrong.
    pub message: String,
    /// Typed details (google.rpc.BadRequest ...).
    pub details: Vec<Detail>,
}

impl ConnectError {
    /// An error with no details.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// The error of a gRPC `status`, with the details of its `grpc-status-details-bin`.
    pub fn from_status(status: &Status) -> Self {
        let details = tonic_types::pb::Status::decode(status.details())
            .map(|rich| {
                rich.details
                    .into_iter()
                    .map(|any| Detail {
                        type_name: any
                            .type_url
                            .rsplit('/')
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                        value: any.value,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            code: status.code(),
            message: status.message().to_owned(),
            details,
        }
    }

    /// Connect's name of the code, such as `invalid_argument`.
    pub fn code_name(&self) -> &'static str {
        codes::code_name(self.code as i32).map_or("unknown", |names| names.connect)
    }

    /// The HTTP status of a unary response with this error.
    pub fn http_status(&self) -> StatusCode {
        codes::code_name(self.code as i32)
            .and_then(|names| StatusCode::from_u16(names.connect_http).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The error as Connect's JSON; `pool` decodes the details it knows for `debug`.
    pub fn to_json(&self, pool: &DescriptorPool) -> Value {
        let mut error = json!({ "code": self.code_name(), "message": self.message });
        if !self.details.is_empty() {
            let details: Vec<Value> = self
                .details
                .iter()
                .map(|detail| {
                    let mut value = json!({
                        "type": detail.type_name,
                        "value": STANDARD_NO_PAD.encode(&detail.value),
                    });
                    let debug = pool
                        .get_message_by_name(&detail.type_name)
                        .and_then(|desc| DynamicMessage::decode(desc, detail.value.as_slice()).ok())
                        .and_then(|message| serde_json::to_value(&message).ok());
                    if let Some(debug) = debug {
                        value["debug"] = debug;
                    }
                    value
                })
                .collect();
            error["details"] = Value::Array(details);
        }
        error
    }

    /// A unary response with this error: its HTTP status, the JSON body.
    pub fn into_response(self, pool: &DescriptorPool) -> Response<Body> {
        let body = self.to_json(pool).to_string();
        Response::builder()
            .status(self.http_status())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Body::new(Full::new(Bytes::from(body))))
            .expect("a valid response")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_the_connect_table() {
        let error = ConnectError::new(Code::InvalidArgument, "bad");
        assert_eq!(error.code_name(), "invalid_argument");
        assert_eq!(error.http_status(), StatusCode::BAD_REQUEST);
        let error = ConnectError::new(Code::Cancelled, "gone");
        assert_eq!(
            (error.code_name(), error.http_status().as_u16()),
            ("canceled", 499)
        );
        let error = ConnectError::new(Code::Unimplemented, "no");
        assert_eq!(error.http_status(), StatusCode::NOT_IMPLEMENTED);
    }

    #[test]
    fn details_travel_as_base64_with_a_readable_copy() {
        use tonic_types::{ErrorDetails, StatusExt};
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "division by zero",
            ErrorDetails::with_bad_request_violation("b", "must not be zero"),
        );
        let error = ConnectError::from_status(&status);
        assert_eq!(error.details.len(), 1);
        assert_eq!(error.details[0].type_name, "google.rpc.BadRequest");
        let mut pool = DescriptorPool::new();
        pool.decode_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .unwrap();
        let json = error.to_json(&pool);
        assert_eq!(json["code"], "invalid_argument");
        let detail = &json["details"][0];
        assert_eq!(detail["type"], "google.rpc.BadRequest");
        assert!(!detail["value"].as_str().unwrap().ends_with('='));
        assert_eq!(detail["debug"]["fieldViolations"][0]["field"], "b");
    }
}
