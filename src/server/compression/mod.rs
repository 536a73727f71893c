//! The server's response compression: one policy ([`ResponseCompression`]) for gRPC,
//! grpc-web and Connect, applied message by message.
//!
//! A client's `grpc-accept-encoding` (Connect: `connect-accept-encoding`, or HTTP's
//! `accept-encoding` for unary calls) says what it *can* decode, not what it wants:
//! grpcio sends `identity, deflate, gzip` on every call, grpc-go and grpc-js list every
//! compressor they have registered, and every browser lists gzip. A server that
//! compresses whenever the client can decode it gzips every reply for those clients
//! (measured here: SayHello cost 1.7 times the CPU, raw video frames 9 times). So, as
//! grpc-go's server and grpcio's do, this server compresses a reply only when something
//! chose to:
//! - the request's own encoding, by default ([`ResponseCompression::Mirror`]): a
//!   client that compresses its requests gets compressed replies, in the same encoding;
//! - the operator, with `--response-compression gzip` or `zstd`: every client that
//!   accepts that encoding;
//! - the handler, for one message: the interop tests' `response_compressed` asks for a
//!   compressed reply, and a JPEG or PNG frame is never compressed again
//!   ([`crate::services::compression::ReplyHint`]).
//!
//! Whatever the policy, a message under [`MIN_COMPRESSED_MESSAGE`] bytes stays plain.
//! Compressed and plain messages may alternate on one stream: each message's flag byte
//! (gRPC's and Connect's 5-byte prefix) says which it is.

pub mod grpc;

use std::io::{self, Read, Write};

use flate2::{
    Compression,
    read::{GzDecoder, ZlibDecoder},
    write::{GzEncoder, ZlibEncoder},
};
use http::HeaderValue;

use crate::services::compression::ReplyHint;

/// Messages smaller than this many bytes are never compressed. gzip's header and
/// trailer alone are 18 bytes (RFC 1952), and a small protobuf message has little
/// repetition to remove: a 15-byte HelloReply gzips to 35 bytes. Under 1 KiB the
/// saving is at most a few hundred bytes, less than an HTTP/2 frame's worth, and the
/// CPU is spent on both sides (grpc-go's and gRPC-Java's benchmarks compress nothing
/// this small by default either).
pub const MIN_COMPRESSED_MESSAGE: usize = 1024;

/// The encodings this server decompresses and compresses, as `grpc-accept-encoding`
/// (and Connect's accept headers) list them.
pub const SUPPORTED: &str = "gzip,zstd,deflate";

/// Which replies the server compresses (`--response-compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ResponseCompression {
    /// None, except a message whose request asks for it (the interop service's
    /// `response_compressed`).
    Off,
    /// A reply is compressed only with the encoding its request used, when the client
    /// accepts it; a request sent uncompressed gets uncompressed replies.
    #[default]
    Mirror,
    /// gzip for every client that accepts gzip; otherwise as `mirror`.
    Gzip,
    /// zstd for every client that accepts zstd; otherwise as `mirror`.
    Zstd,
}

/// A compression encoding, as gRPC (`grpc-encoding`) and HTTP (`content-encoding`)
/// name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// gzip (RFC 1952).
    Gzip,
    /// zstd (RFC 8878).
    Zstd,
    /// zlib (RFC 1950), which both gRPC and HTTP call `deflate`.
    Deflate,
}

impl Encoding {
    /// The encodings in the order the server prefers them when it may choose.
    pub const ALL: [Encoding; 3] = [Encoding::Gzip, Encoding::Zstd, Encoding::Deflate];

    /// The encoding's name in headers.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
            Encoding::Deflate => "deflate",
        }
    }

    /// The encoding named `name` (ASCII case ignored); `None` for `identity` and for
    /// what this server does not support.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|encoding| encoding.name().eq_ignore_ascii_case(name))
    }

    /// The encoding as a header value.
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.name())
    }

    /// `data` compressed (level 6 for gzip and deflate, 3 for zstd: each library's
    /// default, as tonic uses them).
    ///
    /// # Errors
    /// Only the library's own failures (not seen in practice: compressing to memory).
    pub fn compress(self, data: &[u8]) -> io::Result<Vec<u8>> {
        let out = Vec::with_capacity(data.len() / 2 + 64);
        match self {
            Encoding::Gzip => {
                let mut encoder = GzEncoder::new(out, Compression::default());
                encoder.write_all(data)?;
                encoder.finish()
            }
            Encoding::Deflate => {
                let mut encoder = ZlibEncoder::new(out, Compression::default());
                encoder.write_all(data)?;
                encoder.finish()
            }
            Encoding::Zstd => zstd::stream::encode_all(data, zstd::DEFAULT_COMPRESSION_LEVEL),
        }
    }

    /// `data` decompressed, refused once it passes `limit` bytes: a small message that
    /// inflates to gigabytes (a "zip bomb") is never held whole.
    ///
    /// # Errors
    /// [`Decompress::TooLarge`] past `limit`; [`Decompress::Invalid`] when `data` is not
    /// valid in this encoding.
    pub fn decompress(self, data: &[u8], limit: usize) -> Result<Vec<u8>, Decompress> {
        let reader: Box<dyn Read + '_> = match self {
            Encoding::Gzip => Box::new(GzDecoder::new(data)),
            Encoding::Deflate => Box::new(ZlibDecoder::new(data)),
            Encoding::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(data).map_err(Decompress::Invalid)?)
            }
        };
        let mut out = Vec::new();
        reader
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(Decompress::Invalid)?;
        if out.len() > limit {
            return Err(Decompress::TooLarge);
        }
        Ok(out)
    }
}

/// Why a message could not be decompressed.
#[derive(Debug)]
pub enum Decompress {
    /// It would be over the limit once decompressed.
    TooLarge,
    /// It is not valid in its encoding.
    Invalid(io::Error),
}

/// The encodings a client accepts, of those this server supports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted([bool; 3]);

impl Accepted {
    /// The encodings listed in `values` (headers of comma-separated names, such as
    /// grpcio's `identity, deflate, gzip`); a name with `;q=0` is refused, as HTTP's
    /// `accept-encoding` says, and other parameters are ignored.
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> Self {
        let mut accepted = Accepted::default();
        let names = values
            .into_iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        for item in names {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|param| {
                param
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if let (Some(encoding), false) = (Encoding::from_name(name), refused) {
                accepted.0[encoding as usize] = true;
            }
        }
        accepted
    }

    /// Whether the client accepts `encoding`.
    pub fn contains(self, encoding: Encoding) -> bool {
        self.0[encoding as usize]
    }

    /// The accepted encoding the server prefers ([`Encoding::ALL`]'s order).
    pub fn preferred(self) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| self.contains(*e))
    }
}

/// How one call's replies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The encoding of every reply message that is compressed (the response's
    /// `grpc-encoding`).
    pub encoding: Encoding,
    /// Whether the policy compresses messages ([`ReplyHint::Policy`]), or only those
    /// the handler asks for ([`ReplyHint::Always`]).
    pub by_policy: bool,
}

impl Plan {
    /// Whether a reply message of `len` bytes with `hint` is compressed.
    pub fn compresses(self, hint: ReplyHint, len: usize) -> bool {
        match hint {
            ReplyHint::Never => false,
            ReplyHint::Always => true,
            ReplyHint::Policy => self.by_policy && len >= MIN_COMPRESSED_MESSAGE,
        }
    }
}

impl ResponseCompression {
    /// What the policy does, for the startup log.
    pub fn describe(self) -> &'static str {
        match self {
            ResponseCompression::Off => "off: no reply is compressed unless its request asks",
            ResponseCompression::Mirror => {
                "mirror: a reply is compressed only as its request was \
                 (--response-compression gzip or zstd compresses for every client that accepts it)"
            }
            ResponseCompression::Gzip => {
                "gzip: replies of 1 KiB or more, for every client that accepts gzip"
            }
            ResponseCompression::Zstd => {
                "zstd: replies of 1 KiB or more, for every client that accepts zstd"
            }
        }
    }

    /// The plan for the replies of a call whose request came in `request`'s encoding
    /// (`None`: identity) from a client that accepts `accepted`; `None` when no reply
    /// is compressed. `on_request`: whether the handler may ask for compressed replies
    /// ([`ReplyHint::Always`]), which then come in the accepted encoding the server
    /// prefers when the policy chose none.
    pub fn plan(
        self,
        request: Option<Encoding>,
        accepted: Accepted,
        on_request: bool,
    ) -> Option<Plan> {
        let mirror = request.filter(|encoding| accepted.contains(*encoding));
        let chosen = match self {
            ResponseCompression::Off => None,
            ResponseCompression::Mirror => mirror,
            ResponseCompression::Gzip => Some(Encoding::Gzip)
                .filter(|e| accepted.contains(*e))
                .or(mirror),
            ResponseCompression::Zstd => Some(Encoding::Zstd)
                .filter(|e| accepted.contains(*e))
                .or(mirror),
        };
        match chosen {
            Some(encoding) => Some(Plan {
                encoding,
                by_policy: true,
            }),
            None if on_request => mirror.or(accepted.preferred()).map(|encoding| Plan {
                encoding,
                by_policy: false,
            }),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests;
