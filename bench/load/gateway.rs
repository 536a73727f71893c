//! The REST gateway's client: JSON over HTTP/1.1 keep-alive connections.

/// An HTTP/1.1 client of the REST gateway (keep-alive connections, pooled).
#[derive(Clone)]
pub struct GatewayClient {
    /// A pool of keep-alive connections.
    pub client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    /// `/api/FraudActivity` on the server.
    pub uri: http::Uri,
    /// `Bearer <token>`, when the server wants one.
    pub authorization: Option<String>,
}

impl GatewayClient {
    /// POSTs `body`; anything but a 200 with its whole body read is an error, labelled
    /// with a gRPC-like name for the table (`Unauthenticated` for 401 ...).
    pub async fn post(&self, body: bytes::Bytes) -> Result<(), tonic::Status> {
        use http_body_util::BodyExt;
        let mut request = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(value) = &self.authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let request = request
            .body(http_body_util::Full::new(body))
            .expect("a valid request");
        let response = self
            .client
            .request(request)
            .await
            .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
        let status = response.status();
        response
            .into_body()
            .collect()
            .await
            .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
        match status.as_u16() {
            200 => Ok(()),
            400 => Err(tonic::Status::invalid_argument("HTTP 400")),
            401 => Err(tonic::Status::unauthenticated("HTTP 401")),
            403 => Err(tonic::Status::permission_denied("HTTP 403")),
            503 => Err(tonic::Status::unavailable("HTTP 503")),
            504 => Err(tonic::Status::deadline_exceeded("HTTP 504")),
            other => Err(tonic::Status::unknown(format!("HTTP {other}"))),
        }
    }
}
