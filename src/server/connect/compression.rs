//! Compression on Connect calls, with the server's one policy
//! ([`crate::server::compression`]): the whole body of a unary call (HTTP's
//! `Content-Encoding` and `Accept-Encoding`), each envelope of a stream (the flag
//! `0b01`, named by `Connect-Content-Encoding` and accepted by
//! `Connect-Accept-Encoding`), as connectrpc.com/docs/protocol has them.
//!
//! Every browser sends `Accept-Encoding: gzip, deflate, br, zstd` on every request,
//! whatever the page wants: under the default policy (`mirror`) a reply is compressed
//! only when its request was.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use tonic::Code;

use super::error::ConnectError;
use crate::{
    domain::quote::quote,
    server::compression::{Accepted, Decompress, Encoding, Plan, ResponseCompression, SUPPORTED},
    services::compression::{ReplyHint, ReplyHints},
};

/// A stream's request envelopes' encoding.
pub const CONNECT_CONTENT_ENCODING: HeaderName =
    HeaderName::from_static("connect-content-encoding");
/// The encodings a stream's client accepts for the reply envelopes.
pub const CONNECT_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("connect-accept-encoding");

/// How one Connect call's messages are compressed, both ways.
#[derive(Debug, Clone)]
pub struct CallCompression {
    /// The encoding of the request's body (unary) or compressed envelopes (streams).
    pub request: Option<Encoding>,
    /// How the replies are compressed; `None`: never.
    pub plan: Option<Plan>,
    /// The handler's hints for each reply, when the replies may be compressed (given
    /// to the gRPC call in its extensions).
    pub hints: Option<ReplyHints>,
}

impl CallCompression {
    /// Reads a call's encoding headers (those of a stream when `streaming`) and plans
    /// its replies by `policy`; `on_request`: the method's requests may ask for
    /// compressed replies (the interop service).
    ///
    /// # Errors
    /// UNIMPLEMENTED when the request is compressed in an encoding this server lacks;
    /// [`unsupported_headers`] gives the headers that go with it.
    pub fn negotiate(
        headers: &HeaderMap,
        streaming: bool,
        policy: ResponseCompression,
        on_request: bool,
    ) -> Result<Self, ConnectError> {
        let (content, accept) = if streaming {
            (CONNECT_CONTENT_ENCODING, CONNECT_ACCEPT_ENCODING)
        } else {
            (header::CONTENT_ENCODING, header::ACCEPT_ENCODING)
        };
        let request = match headers.get(&content) {
            None => None,
            Some(value) => {
                let name = value.to_str().unwrap_or_default().trim();
                match Encoding::from_name(name) {
                    Some(encoding) => Some(encoding),
                    None if name.eq_ignore_ascii_case("identity") => None,
                    None => {
                        return Err(ConnectError::new(
                            Code::Unimplemented,
                            format!(
                                "{content} {}: this server decompresses {SUPPORTED} (or identity)",
                                quote(&String::from_utf8_lossy(value.as_bytes()))
                            ),
                        ));
                    }
                }
            }
        };
        let accepted = Accepted::from_headers(headers.get_all(&accept));
        let plan = policy.plan(request, accepted, on_request);
        Ok(Self {
            request,
            plan,
            hints: plan.map(|_| ReplyHints::default()),
        })
    }

    /// `data` as it came (compressed or not), decompressed, within `limit` bytes.
    ///
    /// # Errors
    /// RESOURCE_EXHAUSTED past `limit`; INVALID_ARGUMENT when it is not valid in the
    /// request's encoding.
    pub fn decompress(&self, data: Bytes, limit: usize) -> Result<Bytes, ConnectError> {
        let Some(encoding) = self.request else {
            return Ok(data);
        };
        match encoding.decompress(&data, limit) {
            Ok(plain) => Ok(Bytes::from(plain)),
            Err(Decompress::TooLarge) => Err(ConnectError::new(
                Code::ResourceExhausted,
                format!("the request is over {limit} bytes once decompressed (--max-message-size)"),
            )),
            Err(Decompress::Invalid(err)) => Err(ConnectError::new(
                Code::InvalidArgument,
                format!("the request is not valid {}: {err}", encoding.name()),
            )),
        }
    }

    /// The next reply message (`data`, in the call's codec) and whether it went out
    /// compressed: compressed when the plan and the handler's next hint say so.
    ///
    /// # Errors
    /// INTERNAL when compressing fails (not seen in practice).
    pub fn reply(&self, data: Vec<u8>) -> Result<(Vec<u8>, bool), ConnectError> {
        let hint = self
            .hints
            .as_ref()
            .map_or(ReplyHint::Policy, ReplyHints::next);
        match self.plan {
            Some(plan) if plan.compresses(hint, data.len()) => plan
                .encoding
                .compress(&data)
                .map(|compressed| (compressed, true))
                .map_err(|err| ConnectError::new(Code::Internal, format!("compressing: {err}"))),
            _ => Ok((data, false)),
        }
    }

    /// The response header that names the replies' encoding (of a stream when
    /// `streaming`), when a reply may be compressed.
    pub fn response_header(&self, streaming: bool) -> Option<(HeaderName, HeaderValue)> {
        let name = if streaming {
            CONNECT_CONTENT_ENCODING
        } else {
            header::CONTENT_ENCODING
        };
        self.plan.map(|plan| (name, plan.encoding.header_value()))
    }
}

/// The headers of the UNIMPLEMENTED answer to a request in an unsupported encoding:
/// what the server does support.
pub fn unsupported_headers(streaming: bool) -> (HeaderName, HeaderValue) {
    let name = if streaming {
        CONNECT_ACCEPT_ENCODING
    } else {
        header::ACCEPT_ENCODING
    };
    (name, HeaderValue::from_static(SUPPORTED))
}
