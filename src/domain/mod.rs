//! The real work behind every service, testable without gRPC: no module here imports
//! tonic or the generated code (tests/architecture.rs checks it).

pub mod auth;
pub mod budget;
pub mod calculator;
pub mod catalog;
pub mod echo;
pub mod feedback;
pub mod fraud;
pub mod greeter;
pub mod health;
pub mod inference;
pub mod interop;
pub mod models;
pub mod quote;
pub mod streams;
pub mod video;
