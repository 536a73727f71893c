//! ONNX models: the domain behind `model.ModelInference` and the fraud service.
//!
//! A [`ModelRegistry`] loads every directory under the models directory at startup:
//! `<id>/model.json` (the [`ModelCard`]) and the ONNX file it names, run with tract
//! (pure Rust). Each model takes a float32 tensor of shape `[N, input width]` and
//! gives one of shape `[N, output width]`; the batch size N is symbolic, so one
//! optimized plan serves any batch. A plan is immutable and shared: any number of
//! requests run it at once, each with its own state. States are kept between calls
//! (a small pool per model), since making one costs as much as running a small model.
//!
//! A model that fails to load (unreadable metadata, a file tract cannot read, metadata
//! that disagrees with the ONNX graph) does not stop the others: it is listed as not
//! ready, with the reason.

mod batch;
mod card;
mod model;
mod registry;

pub use batch::{Batcher, MAX_BATCH_ROWS};
pub use card::{FeatureSpec, ModelCard, TensorSpec};
pub use model::{LoadedModel, ModelError, Prediction};
pub use registry::{ModelEntry, ModelRegistry};

#[cfg(test)]
mod tests;
