//! The tower layers every gRPC call goes through, outermost first: [`metrics`], [`limit`],
//! [`auth`] (when auth is on), [`deadline`], [`message_limit`]; then tonic's routes.
//! ([`crate::server`] builds the stack.)
//!
//! Each layer watches a call from its start to the end of its response, and most of them
//! may also end it. They share one shape for that ([`guard`]): a [`guard::CallGuard`]
//! that the layer creates when the call starts, a [`guard::CallFuture`] that answers at
//! once or runs the call under the guard, and a [`guard::GuardedBody`] that keeps the
//! guard on the response body until the call is over.
//!
//! Why hand-written layers and not tower's: each one needs to hold on to the call until
//! its response body ends (a stream is a call in progress for as long as it streams),
//! while tower's middleware (`ConcurrencyLimit`, `Timeout`) lets go at the response's
//! headers; and each answers with a gRPC status, not an HTTP error.

pub mod auth;
pub mod deadline;
pub mod guard;
pub mod limit;
pub mod message_limit;
pub mod methods;
pub mod metrics;
pub mod quota;
