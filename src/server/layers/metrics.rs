//! Prometheus metrics: per-method call counts by status code, latency histograms, calls
//! in flight and open streams, served as text at `GET /metrics` on the gRPC port.
//!
//! Names and labels follow go-grpc-prometheus, the convention Grafana dashboards for gRPC
//! expect: `grpc_server_started_total`, `grpc_server_handled_total` (with `grpc_code`,
//! the status code's canonical name such as `OK` or `InvalidArgument`) and the histogram
//! `grpc_server_handling_seconds`, each labelled `grpc_type` (unary, client_stream,
//! server_stream, bidi_stream, from the services' descriptors), `grpc_service` and
//! `grpc_method`. A call is handled when its response ends: the status comes from the
//! `grpc-status` trailer (or header, for a trailers-only response); a response dropped
//! before its trailers (the client cancelled or went away) counts as `Canceled`.
//!
//! Each server has its own recorder (metrics-exporter-prometheus's `PrometheusRecorder`,
//! not installed globally), so that servers in one process (the tests) count apart.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header::CONTENT_TYPE};
use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use tonic::body::Body;
use tower::{Layer, Service};

use super::guard::{CallFuture, CallGuard, Item};
use super::methods::{RpcType, is_grpc};
use crate::{codes::CODE_NAMES, domain::streams::ActiveStreams};

/// The path the metrics are served on.
pub const METRICS_PATH: &str = "/metrics";

/// Latency buckets, seconds: 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The trailer (or, trailers-only, header) that carries a call's status code.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// A server's metrics: the recorder, and what it needs to label calls.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// `/package.Service/Method` -> its labels and handles, for every method of the
    /// descriptor sets. The handles are registered on the method's first call (so that
    /// only methods called are rendered) and reused after: no allocation or registry
    /// lookup per call.
    /// foldhash: a lookup on every call, into a map fixed at startup.
    methods: Arc<HashMap<String, Arc<MethodMetrics>, foldhash::fast::RandomState>>,
    /// Calls to paths no descriptor names.
    unknown: Arc<MethodMetrics>,
    open_streams: Gauge,
    streams: ActiveStreams,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("methods", &self.methods.len())
            .finish_non_exhaustive()
    }
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
}

impl Metrics {
    /// Metrics for `methods` (paths and styles, from [`super::methods::methods`]);
    /// `streams` is read for the open-streams gauge at each scrape.
    pub fn new(methods: &[(String, RpcType)], streams: ActiveStreams) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let describe = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            recorder.describe_counter(name.into(), unit, help.into());
        };
        describe(
            "grpc_server_started_total",
            None,
            "RPCs started on the server.",
        );
        describe(
            "grpc_server_handled_total",
            None,
            "RPCs completed on the server, by status code.",
        );
        recorder.describe_histogram(
            "grpc_server_handling_seconds".into(),
            Some(Unit::Seconds),
            "Time from the request's arrival to the end of the response, seconds.".into(),
        );
        recorder.describe_gauge(
            "grpc_server_in_flight".into(),
            None,
            "RPCs started and not yet completed.".into(),
        );
        recorder.describe_counter(
            "http_requests_total".into(),
            None,
            "HTTP requests to the REST gateway, by handler, method and status code.".into(),
        );
        recorder.describe_histogram(
            "http_request_duration_seconds".into(),
            Some(Unit::Seconds),
            "Time from an HTTP request's arrival to its response's headers, seconds.".into(),
        );
        recorder.describe_gauge(
            "grpc_server_open_streams".into(),
            None,
            "Streaming RPCs in progress (client, server or bidirectional).".into(),
        );
        let methods: HashMap<_, _, _> = methods
            .iter()
            .map(|(path, rpc_type)| {
                let metrics = MethodMetrics::new(rpc_type.label(), path);
                (path.clone(), Arc::new(metrics))
            })
            .collect();
        let open_streams =
            recorder.register_gauge(&Key::from_name("grpc_server_open_streams"), &metadata());
        Self {
            handle: recorder.handle(),
            recorder: Arc::new(recorder),
            methods: Arc::new(methods),
            unknown: Arc::new(MethodMetrics::new("unknown", "/unknown/unknown")),
            open_streams,
            streams,
        }
    }

    /// The metrics in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        self.open_streams.set(self.streams.count() as f64);
        self.handle.render()
    }

    /// The answer to `GET /metrics`: [`Metrics::render`] as `text/plain`.
    pub fn response(&self) -> Response<Body> {
        Response::builder()
            .header(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
            .body(Body::new(http_body_util::Full::new(Bytes::from(
                self.render(),
            ))))
            .expect("a valid response")
    }

    /// Counts one plain HTTP request (the REST gateway's) in `http_requests_total`,
    /// labelled `handler` (the route, such as `/api/FraudActivity`, or `unknown`: pass
    /// only fixed strings, so that the label stays bounded), `method` (GET, POST ... or
    /// `other`) and `code` (the HTTP status), and its duration in the histogram
    /// `http_request_duration_seconds` (by handler).
    pub fn record_http(
        &self,
        handler: &'static str,
        method: &Method,
        code: StatusCode,
        elapsed: Duration,
    ) {
        let method = match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::PATCH => "PATCH",
            Method::HEAD => "HEAD",
            Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        let code = Label::new("code", code.as_str().to_owned());
        let labels = vec![
            Label::new("handler", handler),
            Label::new("method", method),
            code,
        ];
        self.recorder
            .register_counter(&Key::from_parts("http_requests_total", labels), &metadata())
            .increment(1);
        self.recorder
            .register_histogram(
                &Key::from_parts(
                    "http_request_duration_seconds",
                    vec![Label::new("handler", handler)],
                ),
                &metadata(),
            )
            .record(elapsed.as_secs_f64());
    }

    /// The counters of a call to `path`, and the call counted as started and in flight.
    fn start(&self, path: &str) -> CallRecord {
        // A path no descriptor names (tonic answers UNIMPLEMENTED) counts under one
        // set of "unknown" labels, so that made-up paths cannot grow the metrics.
        let method = Arc::clone(self.methods.get(path).unwrap_or(&self.unknown));
        let handles = method.handles(&self.recorder);
        handles.started.increment(1);
        handles.in_flight.increment(1.0);
        CallRecord {
            recorder: Arc::clone(&self.recorder),
            method,
            started: Instant::now(),
            done: false,
        }
    }
}

/// One method's labels and metric handles.
struct MethodMetrics {
    /// grpc_type, grpc_service, grpc_method.
    labels: Vec<Label>,
    handles: OnceLock<Handles>,
    /// Registered at the first call's end, so that it appears with its first sample.
    seconds: OnceLock<Histogram>,
    /// grpc_server_handled_total by status code (0 to 16), each registered on first use.
    handled: [OnceLock<Counter>; 17],
}

struct Handles {
    started: Counter,
    in_flight: Gauge,
}

impl MethodMetrics {
    fn new(grpc_type: &'static str, path: &str) -> Self {
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or(("", path));
        Self {
            labels: vec![
                Label::new("grpc_type", grpc_type),
                Label::new("grpc_service", service.to_owned()),
                Label::new("grpc_method", method.to_owned()),
            ],
            handles: OnceLock::new(),
            seconds: OnceLock::new(),
            handled: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    fn handles(&self, recorder: &PrometheusRecorder) -> &Handles {
        self.handles.get_or_init(|| {
            let key = |name: &'static str| Key::from_parts(name, self.labels.clone());
            Handles {
                started: recorder.register_counter(&key("grpc_server_started_total"), &metadata()),
                in_flight: recorder.register_gauge(&key("grpc_server_in_flight"), &metadata()),
            }
        })
    }

    fn seconds(&self, recorder: &PrometheusRecorder) -> &Histogram {
        self.seconds.get_or_init(|| {
            recorder.register_histogram(
                &Key::from_parts("grpc_server_handling_seconds", self.labels.clone()),
                &metadata(),
            )
        })
    }

    fn handled(&self, recorder: &PrometheusRecorder, code: usize) -> &Counter {
        self.handled[code].get_or_init(|| {
            let mut labels = self.labels.clone();
            labels.push(Label::new("grpc_code", CODE_NAMES[code].go));
            recorder.register_counter(
                &Key::from_parts("grpc_server_handled_total", labels),
                &metadata(),
            )
        })
    }
}

/// One call being counted; counted as handled once, when its status is known or it is
/// dropped.
pub struct CallRecord {
    recorder: Arc<PrometheusRecorder>,
    method: Arc<MethodMetrics>,
    started: Instant,
    done: bool,
}

/// The index of "Canceled" and "Unknown" in [`CODE_NAMES`].
const CANCELED: usize = 1;
const UNKNOWN: usize = 2;

impl CallRecord {
    /// Counts the call as handled with status `code` (0 to 16).
    fn finish(&mut self, code: usize) {
        if self.done {
            return;
        }
        self.done = true;
        self.method.handles(&self.recorder).in_flight.decrement(1.0);
        self.method.handled(&self.recorder, code).increment(1);
        self.method
            .seconds(&self.recorder)
            .record(self.started.elapsed().as_secs_f64());
    }

    /// Finishes with the `grpc-status` in `headers`, if there is one.
    fn finish_from(&mut self, headers: &HeaderMap) -> bool {
        let Some(status) = headers.get(GRPC_STATUS) else {
            return false;
        };
        let code = status
            .to_str()
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n < CODE_NAMES.len())
            .unwrap_or(UNKNOWN);
        self.finish(code);
        true
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        // The response was dropped before its status: the client cancelled or left.
        self.finish(CANCELED);
    }
}

/// A [`Layer`] that counts gRPC calls into [`Metrics`]. (`GET /metrics` is answered in
/// front of it, by [`crate::server`], with [`Metrics::response`].)
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Metrics,
}

impl MetricsLayer {
    /// Counts into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> MetricsService<S> {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B> Service<Request<B>> for MetricsService<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = CallFuture<S::Future, CallRecord>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let record = is_grpc(request.headers()).then(|| self.metrics.start(request.uri().path()));
        CallFuture::new(self.inner.call(request), record)
    }
}

/// Counts the call when its status is known: from the headers of a trailers-only
/// response (an error before any message), else from the trailers; an end without a
/// status is UNKNOWN, a response dropped before its end CANCELLED (see [`Drop`]).
impl CallGuard for CallRecord {
    fn on_response(mut self, headers: &HeaderMap) -> Option<Self> {
        (!self.finish_from(headers)).then_some(self)
    }

    fn on_item(&mut self, item: Item) -> Item {
        match &item {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    self.finish_from(trailers);
                }
            }
            // An error, or the end without a status trailer: not a valid gRPC response.
            Some(Err(_)) | None => self.finish(UNKNOWN),
        }
        item
    }
}
