//! The bytes of Connect bodies: messages as proto3 JSON or protobuf, and the envelopes
//! of streams (connectrpc.com/docs/protocol, "Streaming-RPC"), which share their
//! 5-byte prefix with gRPC's length-prefixed messages: a flags byte, then the length
//! as a 32-bit big-endian integer.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor};
use tonic::Code;

use super::error::ConnectError;

/// An envelope's flag: its payload is compressed, in the stream's
/// `Connect-Content-Encoding`.
pub const COMPRESSED: u8 = 0b01;
/// An envelope's flag: the end of a response stream, carrying the status.
pub const END_STREAM: u8 = 0b10;
/// The length of an envelope's (or a gRPC message's) prefix.
const PREFIX_LEN: usize = 5;

/// How a body writes its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// proto3's canonical JSON mapping.
    Json,
    /// Protobuf's binary encoding.
    Proto,
}

impl Codec {
    /// The codec's name in content types: `json` or `proto`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Proto => "proto",
        }
    }
}

/// A message of type `desc` written in `codec`, as protobuf bytes.
///
/// # Errors
/// INVALID_ARGUMENT, saying what is wrong: not JSON, an unknown field, a value of the
/// wrong type, or bytes that are not a message of that type.
pub fn to_proto(
    codec: Codec,
    desc: &MessageDescriptor,
    bytes: &[u8],
) -> Result<Vec<u8>, ConnectError> {
    let invalid = |err: &dyn std::fmt::Display| {
        ConnectError::new(
            Code::InvalidArgument,
            format!(
                "the request is not a valid {} in {}: {err}",
                desc.full_name(),
                codec.name()
            ),
        )
    };
    let message = match codec {
        Codec::Json => {
            let mut json = serde_json::Deserializer::from_slice(bytes);
            let message = DynamicMessage::deserialize_with_options(
                desc.clone(),
                &mut json,
                &DeserializeOptions::new(),
            )
            .map_err(|err| invalid(&err))?;
            json.end().map_err(|err| invalid(&err))?;
            message
        }
        Codec::Proto => DynamicMessage::decode(desc.clone(), bytes).map_err(|err| invalid(&err))?,
    };
    Ok(message.encode_to_vec())
}

/// A protobuf message of type `desc` written in `codec`.
///
/// # Errors
/// INTERNAL when the bytes are not a message of that type (the service sent something
/// its descriptor does not describe).
pub fn from_proto(
    codec: Codec,
    desc: &MessageDescriptor,
    bytes: &[u8],
) -> Result<Vec<u8>, ConnectError> {
    match codec {
        Codec::Proto => Ok(bytes.to_vec()),
        Codec::Json => {
            let message = DynamicMessage::decode(desc.clone(), bytes).map_err(|err| {
                ConnectError::new(
                    Code::Internal,
                    format!("a reply that is not a {}: {err}", desc.full_name()),
                )
            })?;
            serde_json::to_vec(&message).map_err(|err| {
                ConnectError::new(Code::Internal, format!("the reply as JSON: {err}"))
            })
        }
    }
}

/// `payload` with a prefix of `flags` and its length.
pub fn envelope(flags: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(PREFIX_LEN + payload.len());
    out.put_u8(flags);
    out.put_u32(payload.len() as u32);
    out.extend_from_slice(payload);
    out.freeze()
}

/// Length-prefixed frames (Connect envelopes or gRPC messages) taken out of bytes that
/// arrive in chunks of any size.
#[derive(Debug, Default)]
pub struct Envelopes {
    pending: BytesMut,
}

impl Envelopes {
    /// Adds the next chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
    }

    /// The next whole frame's flags and payload; `None` until one has fully arrived.
    pub fn next_frame(&mut self) -> Option<(u8, Bytes)> {
        let header = self.pending.get(..PREFIX_LEN)?;
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if self.pending.len() < PREFIX_LEN + len {
            return None;
        }
        let flags = self.pending[0];
        self.pending.advance(PREFIX_LEN);
        Some((flags, self.pending.split_to(len).freeze()))
    }

    /// The payload length the next frame's prefix announces, once its prefix arrived.
    pub fn announced_len(&self) -> Option<usize> {
        let header = self.pending.get(..PREFIX_LEN)?;
        Some(u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize)
    }

    /// Bytes of a frame that has not fully arrived.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_whole_whatever_the_chunks() {
        let bytes = [envelope(0, b"abc"), envelope(END_STREAM, b"{}")].concat();
        for chunk in 1..=bytes.len() {
            let mut frames = Envelopes::default();
            let mut found = Vec::new();
            for part in bytes.chunks(chunk) {
                frames.push(part);
                while let Some(frame) = frames.next_frame() {
                    found.push(frame);
                }
            }
            assert_eq!(
                found,
                [(0, Bytes::from("abc")), (END_STREAM, Bytes::from("{}"))]
            );
            assert!(frames.is_empty());
        }
    }
}
