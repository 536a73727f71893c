//! The metadata of a model: `models/<id>/model.json`, written by `training/common.py`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A model's metadata ("model card").
#[derive(Debug, Clone, Deserialize)]
pub struct ModelCard {
    /// The model's id; equal to its directory's name.
    pub id: String,
    /// Its version, for example `"1"`.
    pub version: String,
    /// What it predicts, in one sentence.
    pub description: String,
    /// The ONNX file, relative to the model's directory.
    #[serde(default = "default_file")]
    pub file: String,
    /// The input tensors; the server supports models with exactly one, of shape
    /// `[-1, width]`.
    pub inputs: Vec<TensorSpec>,
    /// The output tensors; the server supports models with exactly one, of shape
    /// `[-1, width]`.
    pub outputs: Vec<TensorSpec>,
    /// For a binary classifier: the fraud probability at or above which the label is
    /// positive.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// How it was trained: estimator, data, source, split, script, library versions.
    #[serde(default)]
    pub training: serde_json::Value,
    /// Held-out metrics by name.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

fn default_file() -> String {
    "model.onnx".to_owned()
}

/// One tensor of a model.
#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    /// Its name in the ONNX graph.
    pub name: String,
    /// Its element type, as KServe names it: `"FP32"`.
    pub datatype: String,
    /// Its shape; -1 is the batch dimension.
    pub shape: Vec<i64>,
    /// What it holds.
    #[serde(default)]
    pub description: String,
    /// For an input: what each column is, in order.
    #[serde(default)]
    pub features: Vec<FeatureSpec>,
    /// For a classifier's output: the class of each column, in order.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// One input column.
#[derive(Debug, Clone, Deserialize)]
pub struct FeatureSpec {
    /// Its name.
    pub name: String,
    /// Its unit.
    #[serde(default)]
    pub unit: String,
    /// What it is.
    #[serde(default)]
    pub description: String,
}

impl TensorSpec {
    /// The width of a `[-1, width]` tensor; `None` for any other shape.
    pub fn row_width(&self) -> Option<usize> {
        match self.shape.as_slice() {
            [-1, width] if *width > 0 => usize::try_from(*width).ok(),
            _ => None,
        }
    }
}
