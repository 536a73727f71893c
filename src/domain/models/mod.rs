//! ONNX models: the domain behind `model.ModelInference` and the fraud service.
//!
//! A [`ModelRegistry`] loads every model of its [`ModelSource`] at startup: the models
//! built into the binary (the repository's `models/` at build time, compiled in by
//! build.rs), or a models directory. Either way a model is `<id>/model.json` (the
//! [`ModelCard`]) and the ONNX file it names, read as bytes and run with tract
//! (pure Rust). Each model takes a float32 tensor of shape `[N, input width]` and
//! gives one of shape `[N, output width]`; the batch size N is symbolic, so one
//! optimized plan serves any batch. A plan is immutable and shared: any number of
//! requests run it at once, each with its own state. States are kept between calls
//! (a small pool per model), since making one costs as much as running a small model.
//!
//! A model that fails to load (unreadable metadata, a file tract cannot read, metadata
//! that disagrees with the ONNX graph) does not stop the others: it is listed as not
//! ready, with the reason. A models directory that cannot be listed is an error
//! ([`ModelsDirError`]).

mod batch;
mod card;
mod model;
mod registry;
mod source;

pub use batch::{Batcher, MAX_BATCH_ROWS};
pub use card::{FeatureSpec, ModelCard, TensorSpec};
pub use model::{LoadedModel, ModelError, Prediction};
pub use registry::{ModelEntry, ModelRegistry};
pub use source::{ModelSource, ModelsDirError, built_in_ids};

#[cfg(test)]
mod tests;
