//! grpc-showcase: one async tonic server that hosts the classic gRPC demo services on
//! one port, each doing real work, for people learning gRPC with grpcurl and small
//! example clients.
//!
//! The map, from the outside in (arrows go one way: `main` → [`server`] → [`services`]
//! → domain modules; a domain module never imports tonic):
//!
//! - `src/main.rs`: the binary; parses the command line ([`config`]), builds the Tokio
//!   [`runtime`], starts logging, runs the [`server`].
//! - [`server`]: binds the port, builds the router (every service, health, reflection
//!   v1 and v1alpha), applies the deadline layer, shuts down gracefully.
//! - [`services`]: one thin gRPC adapter per service: validate, call the domain, map
//!   errors to a precise `Status`.
//! - [`gateway`]: the REST/JSON gateway (`POST /api/FraudActivity`), a gRPC client of
//!   the fraud service.
//! - [`proto`]: the code generated from `proto/` and the descriptor set for reflection.
//! - Domain modules, testable without gRPC: [`greeter`] (greetings), [`calculator`]
//!   (arithmetic with typed errors, streaming statistics, prime factors), [`models`]
//!   (the ONNX model registry, run with tract), [`fraud`] (fraud features and scoring),
//!   [`feedback`] (feedback validation, VADER sentiment, the SQLite store and its watchers),
//!   [`auth`] (bearer tokens and their permissions), [`video`] (frames, size limits checked before decoding, image filters),
//!   [`health`] (serving statuses and their watchers), [`streams`] (a count of streams
//!   in progress).

#![warn(missing_docs)]

pub mod auth;
pub mod calculator;
pub mod config;
pub mod feedback;
pub mod fraud;
pub mod gateway;
pub mod greeter;
pub mod health;
pub mod models;
pub mod proto;
pub mod runtime;
pub mod server;
pub mod services;
pub mod streams;
pub mod video;
