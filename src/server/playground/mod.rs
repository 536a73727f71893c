//! The playground: a web page served at `GET /` that lists every service and method
//! and calls them from the browser, with the Connect protocol for unary calls and a
//! WebSocket (see [`super::connect::websocket`]) for streams.
//!
//! The page is static HTML, CSS and JavaScript (ES modules, no library, no build step),
//! embedded in the binary from `src/server/playground/static/`. What it knows of the
//! server comes from `GET /playground/schema.json` ([`schema`]), built once at startup
//! from the descriptor sets, with the proto comments.
//!
//! Served when [`PlaygroundMode`](super::settings::PlaygroundMode) says so: by default
//! only when every address the server listens on is a loopback address or a Unix
//! socket, so that a server exposed to a network does not show a page that calls
//! everything unless asked to (`--playground on`).

pub mod schema;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;
use prost_reflect::DescriptorPool;
use tonic::body::Body;

/// The page's files: path, content type, contents.
const FILES: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("static/index.html"),
    ),
    (
        "/playground/style.css",
        "text/css; charset=utf-8",
        include_str!("static/style.css"),
    ),
    (
        "/playground/app.js",
        "text/javascript; charset=utf-8",
        include_str!("static/app.js"),
    ),
    (
        "/playground/editor.js",
        "text/javascript; charset=utf-8",
        include_str!("static/editor.js"),
    ),
    (
        "/playground/calls.js",
        "text/javascript; charset=utf-8",
        include_str!("static/calls.js"),
    ),
    (
        "/playground/views.js",
        "text/javascript; charset=utf-8",
        include_str!("static/views.js"),
    ),
];

/// Where the schema document is served.
pub const SCHEMA_PATH: &str = "/playground/schema.json";

/// What the page may load and connect to: only this server (`'self'` covers its
/// WebSockets too), and pictures made in the page (`data:` and `blob:` URLs).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self' ws: wss:; frame-ancestors 'none'";

/// The playground's files and schema, ready to serve.
#[derive(Debug, Clone)]
pub struct Playground {
    schema: Bytes,
}

impl Playground {
    /// The playground for the methods of `pool`; `auth` makes the page offer a token
    /// field.
    ///
    /// # Errors
    /// When a curated example does not fit its method (see [`schema::schema`]).
    pub fn new(pool: &DescriptorPool, auth: bool) -> Result<Self, String> {
        let schema = schema::schema(pool, auth)?;
        Ok(Self {
            schema: Bytes::from(schema.to_string()),
        })
    }

    /// Whether the playground answers `method` on `path`.
    pub fn serves(method: &Method, path: &str) -> bool {
        (method == Method::GET || method == Method::HEAD)
            && (path == SCHEMA_PATH || FILES.iter().any(|(file, _, _)| *file == path))
    }

    /// The answer to a `GET` of the page when the playground is off: 404, saying why.
    pub fn off_response() -> Response<Body> {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::new(Full::new(Bytes::from_static(
                b"The playground is off on this server: --playground on serves it \
                  (by default it is served only when every listen address is loopback).\n",
            ))))
            .expect("a valid response")
    }

    /// Answers a `GET` (or `HEAD`) of one of the page's files or the schema.
    pub fn response(&self, method: &Method, path: &str) -> Response<Body> {
        let (content_type, bytes) = if path == SCHEMA_PATH {
            ("application/json", self.schema.clone())
        } else if let Some((_, content_type, text)) =
            FILES.iter().find(|(file, _, _)| *file == path)
        {
            (*content_type, Bytes::from_static(text.as_bytes()))
        } else {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Body::empty())
                .expect("a valid response");
        };
        let length = bytes.len();
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::new(Full::new(bytes))
        };
        Response::builder()
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_LENGTH, length)
            // The files change only with the binary: revalidating is cheap on loopback
            // and never shows a page older than the server.
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            )
            .body(body)
            .expect("a valid response")
    }
}
