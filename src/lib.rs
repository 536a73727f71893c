//! grpc-showcase: one async tonic server that hosts the classic gRPC demo services on
//! one port, each doing real work, for people learning gRPC with grpcurl and small
//! example clients.
//!
//! # The map
//!
//! The code is in layers, and the arrows between them go one way: `main` → [`server`]
//! → [`services`] → [`domain`]. A domain module never imports tonic or the generated
//! code; a service never imports the server (`tests/architecture.rs` checks both).
//!
//! | what the client calls | its gRPC adapter | the work behind it |
//! |---|---|---|
//! | `helloworld.Greeter` | [`services::greeter`] | [`domain::greeter`] |
//! | `calculator.Calculator` | [`services::calculator`] | [`domain::calculator`] |
//! | `model.ModelInference` | [`services::model`] | [`domain::models`] |
//! | `inference.GRPCInferenceService` (Open Inference Protocol) | [`services::inference`] | [`domain::inference`] on [`domain::models`] |
//! | `fraud_detection.FraudDetectionService` | [`services::fraud_detection`] | [`domain::fraud`] on [`domain::models`] |
//! | `feedback.FeedbackService` | [`services::feedback`] | [`domain::feedback`] |
//! | `video.VideoProcessing` | [`services::video`] | [`domain::video`] |
//! | `grpc.examples.echo.Echo` | [`services::echo`] | [`domain::echo`] |
//! | `grpc.testing.TestService` (interop) | [`services::interop`] | [`domain::interop`] |
//! | `Greeter`, `FeedbackService`, `Calculator` (the seeds', no package) | [`services::seeds`] | [`domain::greeter`], [`domain::feedback`], [`domain::calculator`] |
//! | `grpc.health.v1.Health` | [`services::health`] | [`domain::health`] |
//! | `grpc.reflection.v1` and `v1alpha` | tonic-reflection, set up in [`server::routes`] | [`proto::FILE_DESCRIPTOR_SET`] |
//! | `POST /api/FraudActivity` (REST) | [`server::gateway`] | a gRPC call to the fraud service |
//! | `/v2/...` (Open Inference Protocol, REST) | [`server::v2`] | a gRPC call to the inference service |
//! | `POST /package.Service/Method` as JSON (Connect) | [`server::connect`] | a gRPC call to the service |
//! | `GET /metrics` | [`server::edge`] | [`server::layers::metrics`] |
//!
//! From the outside in:
//! - `src/main.rs`: the binary; parses the command line ([`config`]), builds the Tokio
//!   [`runtime`], starts logging, runs the [`server`].
//! - [`server`]: [`server::settings`] (what the flags set, and their defaults);
//!   [`server::listener`] (the accept loop, TLS, graceful shutdown); [`server::edge`]
//!   (what a request meets first: `/metrics`, the REST [`server::gateway`], grpc-web,
//!   CORS); [`server::layers`] (metrics, the limit on calls in progress, auth, the
//!   per-caller quota, deadlines, message limits: the tower layers of every gRPC call);
//!   [`server::routes`] (every service and reflection on one router).
//! - [`services`]: one thin gRPC adapter per service: validate, call the domain, map
//!   errors to a precise `Status`.
//! - [`domain`]: the real work, testable without gRPC; besides the modules above,
//!   [`domain::auth`] (bearer tokens and their permissions), [`domain::budget`] (memory
//!   budgets per stream, caller and server) and [`domain::streams`] (the count of
//!   streams in progress).
//! - [`proto`]: the code generated from `proto/` and the descriptor set for reflection;
//!   [`codes`]: the names of the gRPC status codes (plain data, used at every layer).
//!
//! `ARCHITECTURE.md` follows one call through all of it.

#![warn(missing_docs)]

pub mod codes;
pub mod config;
pub mod domain;
pub mod proto;
pub mod runtime;
pub mod server;
pub mod services;
