//! The gRPC methods the server knows, read from the descriptor sets: each one's path and
//! RPC style, for the layers that treat styles differently (metrics labels, the default
//! unary timeout).

use http::{HeaderMap, header::CONTENT_TYPE};
use prost::Message;

/// Whether a request with `headers` is a gRPC call: its content type is
/// `application/grpc` or one of its `+proto`, `+json` or grpc-web variants (the gRPC
/// over HTTP/2 spec's `Content-Type` rule). Layers that only apply to gRPC (metrics,
/// message limits) let anything else, such as the REST gateway, pass untouched.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// An RPC style, named as go-grpc-prometheus names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcType {
    /// One request, one response.
    Unary,
    /// A stream of requests, one response.
    ClientStream,
    /// One request, a stream of responses.
    ServerStream,
    /// Streams both ways.
    BidiStream,
}

impl RpcType {
    /// The `grpc_type` label: `unary`, `client_stream`, `server_stream`, `bidi_stream`.
    pub fn label(self) -> &'static str {
        match self {
            RpcType::Unary => "unary",
            RpcType::ClientStream => "client_stream",
            RpcType::ServerStream => "server_stream",
            RpcType::BidiStream => "bidi_stream",
        }
    }
}

/// Every method of `descriptor_sets` (encoded `FileDescriptorSet`s) as its HTTP/2 path
/// (`/package.Service/Method`) and style. A set that does not decode is skipped.
pub fn methods(descriptor_sets: &[&[u8]]) -> Vec<(String, RpcType)> {
    let mut methods = Vec::new();
    for set in descriptor_sets {
        let Ok(set) = prost_types::FileDescriptorSet::decode(*set) else {
            continue;
        };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let service_name = match package.as_str() {
                    "" => service.name().to_owned(),
                    package => format!("{package}.{}", service.name()),
                };
                for method in service.method {
                    let rpc_type = match (
                        method.client_streaming.unwrap_or(false),
                        method.server_streaming.unwrap_or(false),
                    ) {
                        (false, false) => RpcType::Unary,
                        (true, false) => RpcType::ClientStream,
                        (false, true) => RpcType::ServerStream,
                        (true, true) => RpcType::BidiStream,
                    };
                    methods.push((format!("/{service_name}/{}", method.name()), rpc_type));
                }
            }
        }
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paths_and_styles_from_our_descriptors() {
        let methods = methods(&[crate::proto::FILE_DESCRIPTOR_SET]);
        let style = |path: &str| methods.iter().find(|(p, _)| p == path).map(|(_, t)| *t);
        assert_eq!(style("/helloworld.Greeter/SayHello"), Some(RpcType::Unary));
        assert_eq!(
            style("/calculator.Calculator/Average"),
            Some(RpcType::ClientStream)
        );
        assert_eq!(
            style("/calculator.Calculator/PrimeFactors"),
            Some(RpcType::ServerStream)
        );
        assert_eq!(
            style("/video.VideoProcessing/ProcessFrames"),
            Some(RpcType::BidiStream)
        );
    }
}
