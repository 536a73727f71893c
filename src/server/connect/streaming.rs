//! Connect streams over HTTP: envelopes in, the call's replies as envelopes out, the
//! status and trailers in the last envelope.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response, header::CONTENT_TYPE, request::Parts};
use http_body_util::{BodyExt, Full, StreamBody};
use prost_reflect::{DescriptorPool, MethodDescriptor};
use serde_json::{Value, json};
use tonic::{Code, Status, body::Body};
use tower::ServiceExt;

use super::{
    COMPRESSED, Codec, Connect, END_STREAM, Envelopes, GRPC_STATUS, compression, envelope,
    error::ConnectError, from_proto, grpc_request, metadata_headers, metadata_json,
    status_trailers, to_proto,
};

impl Connect {
    /// Answers a streaming call of any kind: each request envelope becomes a gRPC
    /// message as the call asks for it, each reply an envelope as it comes, and the
    /// status with the trailers the last envelope (flags `END_STREAM`).
    pub(super) async fn streaming(
        &self,
        parts: Parts,
        body: Body,
        codec: Codec,
        method: MethodDescriptor,
    ) -> Response<Body> {
        let input = method.input();
        let max_body = self.shared.max_body;
        let compression = match self.negotiate(&parts.headers, &method, true) {
            Ok(compression) => compression,
            Err(err) => {
                let headers = HeaderMap::from_iter([compression::unsupported_headers(true)]);
                return stream_response(codec, headers, end_only(err, &self.shared.pool));
            }
        };
        let inbound = compression.clone();
        // Envelopes in, gRPC messages out, one by one: the call reads the next request
        // only when it wants it, so a slow service slows the client down.
        let requests = async_stream::stream! {
            let mut body = body;
            let mut frames = Envelopes::default();
            while let Some(frame) = body.frame().await {
                let data = match frame {
                    Err(status) => { yield Err(status); return; }
                    Ok(frame) => match frame.into_data() { Ok(data) => data, Err(_) => continue },
                };
                frames.push(&data);
                while let Some((flags, payload)) = frames.next_frame() {
                    let payload = if flags & COMPRESSED == 0 {
                        payload
                    } else if inbound.request.is_none() {
                        yield Err(Status::invalid_argument(
                            "a compressed envelope, but no Connect-Content-Encoding says how it was compressed",
                        ));
                        return;
                    } else {
                        match inbound.decompress(payload, max_body) {
                            Ok(payload) => payload,
                            Err(err) => { yield Err(Status::new(err.code, err.message)); return; }
                        }
                    };
                    match to_proto(codec, &input, &payload) {
                        Ok(message) => yield Ok(http_body::Frame::data(envelope(0, &message))),
                        Err(err) => { yield Err(Status::new(err.code, err.message)); return; }
                    }
                }
                // Not buffered up to what a prefix announces: a wrong prefix (say, text
                // where the 5 bytes belong) would hold gigabytes.
                if let Some(len) = frames.announced_len().filter(|len| *len > max_body) {
                    yield Err(Status::resource_exhausted(format!(
                        "an envelope announces {len} bytes, over the limit of {max_body}"
                    )));
                    return;
                }
            }
            if !frames.is_empty() {
                yield Err(Status::invalid_argument(
                    "the request body ended inside an envelope: each message needs a 5-byte \
                     prefix (flags, then its length as 32-bit big-endian) and all its bytes",
                ));
            }
        };
        let mut request = match grpc_request(&parts, Body::new(StreamBody::new(requests))) {
            Ok(request) => request,
            Err(err) => {
                return stream_response(codec, HeaderMap::new(), end_only(err, &self.shared.pool));
            }
        };
        if let Some(hints) = &compression.hints {
            request.extensions_mut().insert(hints.clone());
        }
        let Ok(response) = self.shared.grpc.clone().oneshot(request).await;
        let (head, body) = response.into_parts();
        let shared = Arc::clone(&self.shared);
        let output = method.output();
        let mut headers = metadata_headers(&head.headers);
        headers.extend(compression.response_header(true));
        let replies = async_stream::stream! {
            let pool = &shared.pool;
            if head.headers.contains_key(GRPC_STATUS) {
                yield Ok::<_, Status>(end_stream(&head.headers, pool));
                return;
            }
            let mut body = body;
            let mut frames = Envelopes::default();
            loop {
                let frame = match body.frame().await {
                    None => {
                        yield Ok(end_stream(&status_trailers(&Status::internal("the call ended without a status")), pool));
                        return;
                    }
                    Some(Err(status)) => { yield Ok(end_stream(&status_trailers(&status), pool)); return; }
                    Some(Ok(frame)) => frame,
                };
                match frame.into_data() {
                    Ok(data) => {
                        frames.push(&data);
                        while let Some((_, message)) = frames.next_frame() {
                            let reply = from_proto(codec, &output, &message)
                                .and_then(|reply| compression.reply(reply));
                            match reply {
                                Ok((reply, compressed)) => {
                                    let flags = if compressed { COMPRESSED } else { 0 };
                                    yield Ok(http_body::Frame::data(envelope(flags, &reply)));
                                }
                                Err(err) => { yield Ok(end_stream_error(&err, &HeaderMap::new(), pool)); return; }
                            }
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            yield Ok(end_stream(&trailers, pool));
                            return;
                        }
                    }
                }
            }
        };
        stream_response(codec, headers, Body::new(StreamBody::new(replies)))
    }
}

/// The last envelope of a stream that ended with `trailers`: its status, and its
/// metadata.
fn end_stream(trailers: &HeaderMap, pool: &DescriptorPool) -> http_body::Frame<Bytes> {
    let status = Status::from_header_map(trailers)
        .unwrap_or_else(|| Status::internal("the call ended without a status"));
    if status.code() == Code::Ok {
        return end_frame(json!({ "metadata": metadata_json(trailers) }));
    }
    end_stream_error(&ConnectError::from_status(&status), trailers, pool)
}

fn end_stream_error(
    error: &ConnectError,
    trailers: &HeaderMap,
    pool: &DescriptorPool,
) -> http_body::Frame<Bytes> {
    end_frame(json!({ "error": error.to_json(pool), "metadata": metadata_json(trailers) }))
}

fn end_frame(json: Value) -> http_body::Frame<Bytes> {
    http_body::Frame::data(envelope(END_STREAM, json.to_string().as_bytes()))
}

/// A stream's response whose body is only its end, with `error`.
fn end_only(error: ConnectError, pool: &DescriptorPool) -> Body {
    let frame = end_stream_error(&error, &HeaderMap::new(), pool);
    let bytes = frame.into_data().unwrap_or_default();
    Body::new(Full::new(bytes))
}

fn stream_response(codec: Codec, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut response = Response::builder()
        .header(
            CONTENT_TYPE,
            format!("application/connect+{}", codec.name()),
        )
        .body(body)
        .expect("a valid response");
    response.headers_mut().extend(headers);
    response
}
