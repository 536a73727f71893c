//! The Open Inference Protocol's tensors (KServe v2, as Triton speaks it) over this
//! server's models: checks a request's input tensor against a model's card and turns it
//! into the rows [`LoadedModel::predict`](super::models::LoadedModel::predict) takes, and
//! the prediction back into output values.
//!
//! A model here has one input and one output, shape `[N, width]` (`[-1, width]` in its
//! card). The input may be FP32 or FP64, its values given either typed (the contents
//! field of its datatype) or raw (little-endian bytes, as tritonclient sends by default),
//! never both. Every error names the tensor and what was expected.

use std::{
    collections::HashMap,
    fmt,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::models::ModelCard;

/// The datatypes an input may have.
pub const INPUT_DATATYPES: [&str; 2] = ["FP32", "FP64"];

/// An input tensor's values, as the request gives them.
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    /// Typed: the FP32 and FP64 contents fields, and whether any other contents field
    /// (ints, bools, bytes) has values.
    Typed {
        /// `fp32_contents`.
        fp32: &'a [f32],
        /// `fp64_contents`.
        fp64: &'a [f64],
        /// The name of another contents field with values, if any.
        other: Option<&'static str>,
    },
    /// Raw little-endian bytes (`raw_input_contents`).
    Raw(&'a [u8]),
    /// Typed values and raw bytes both: refused.
    Both,
}

/// One input tensor of a request.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its datatype, such as "FP32".
    pub datatype: &'a str,
    /// Its shape.
    pub shape: &'a [i64],
    /// Its values.
    pub values: Values<'a>,
}

/// Why a request cannot run, with the message the caller gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InferError {
    /// No such model version (NOT_FOUND).
    NotFound(String),
    /// A tensor that does not fit the model (INVALID_ARGUMENT).
    Invalid(String),
}

impl fmt::Display for InferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(message) | Self::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for InferError {}

fn invalid(message: String) -> InferError {
    InferError::Invalid(message)
}

/// NotFound unless `version` is empty or the card's version.
///
/// # Errors
/// [`InferError::NotFound`] naming the versions there are.
pub fn check_version(card: &ModelCard, version: &str) -> Result<(), InferError> {
    if version.is_empty() || version == card.version {
        return Ok(());
    }
    Err(InferError::NotFound(format!(
        "model {:?} has no version {}; its version is {:?}",
        card.id,
        super::quote::quote(version),
        card.version
    )))
}

/// The rows of `inputs` for a model whose card is `card` and whose rows are `width`
/// values: N x width values, row by row, and N.
///
/// # Errors
/// [`InferError::Invalid`] naming the tensor: not exactly one input, a wrong name,
/// datatype or shape, values in the wrong field or of the wrong count or byte length,
/// both typed and raw values, or a value that is NaN or infinite.
pub fn rows(
    card: &ModelCard,
    width: usize,
    inputs: &[Input],
) -> Result<(Vec<f64>, usize), InferError> {
    let expected = card
        .inputs
        .first()
        .map_or("input", |spec| spec.name.as_str());
    let [input] = inputs else {
        return Err(invalid(format!(
            "model {:?} takes 1 input tensor, {expected:?}; the request has {}",
            card.id,
            inputs.len()
        )));
    };
    let name = super::quote::quote(input.name);
    if input.name != expected {
        return Err(invalid(format!(
            "input tensor {name}: model {:?} has no input of that name; its input is {expected:?}",
            card.id
        )));
    }
    if !INPUT_DATATYPES.contains(&input.datatype) {
        return Err(invalid(format!(
            "input tensor {name}: datatype {}; it must be FP32 or FP64",
            super::quote::quote(input.datatype)
        )));
    }
    let n = match *input.shape {
        [n, w] if n > 0 && usize::try_from(w) == Ok(width) => n as usize,
        _ => {
            return Err(invalid(format!(
                "input tensor {name}: shape {:?}; the model takes [N, {width}] with N >= 1",
                input.shape
            )));
        }
    };
    let count = n.checked_mul(width).ok_or_else(|| {
        invalid(format!(
            "input tensor {name}: shape {:?} is too large",
            input.shape
        ))
    })?;
    let values: Vec<f64> = match input.values {
        Values::Both => {
            return Err(invalid(format!(
                "input tensor {name}: values given both in contents and in raw_input_contents; \
                 give one"
            )));
        }
        Values::Raw(bytes) => {
            let size = if input.datatype == "FP32" { 4 } else { 8 };
            if bytes.len() != count * size {
                return Err(invalid(format!(
                    "input tensor {name}: raw_input_contents has {} bytes; shape {:?} of {} \
                     needs {}",
                    bytes.len(),
                    input.shape,
                    input.datatype,
                    count * size
                )));
            }
            if size == 4 {
                bytes
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect()
            } else {
                bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect()
            }
        }
        Values::Typed { fp32, fp64, other } => {
            let (field, values): (&str, Vec<f64>) = if input.datatype == "FP32" {
                (
                    "fp32_contents",
                    fp32.iter().map(|&v| f64::from(v)).collect(),
                )
            } else {
                ("fp64_contents", fp64.to_vec())
            };
            let misplaced = other.or(match input.datatype {
                "FP32" if !fp64.is_empty() => Some("fp64_contents"),
                "FP64" if !fp32.is_empty() => Some("fp32_contents"),
                _ => None,
            });
            if let Some(wrong) = misplaced {
                return Err(invalid(format!(
                    "input tensor {name}: values in {wrong}, but its datatype is {}; put them \
                     in {field}",
                    input.datatype
                )));
            }
            if values.len() != count {
                return Err(invalid(format!(
                    "input tensor {name}: {field} has {} values; shape {:?} needs {count}",
                    values.len(),
                    input.shape
                )));
            }
            values
        }
    };
    if let Some(at) = values.iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!(
            "input tensor {name}: value {at} (row {}, column {}) is {}; the model takes finite \
             numbers",
            at / width,
            at % width,
            values[at]
        )));
    }
    Ok((values, n))
}

/// The outputs to send: every output of the card when `requested` is empty, else the
/// requested ones, in the card's order.
///
/// # Errors
/// [`InferError::Invalid`] for a requested name the model has no output of.
pub fn outputs<'c>(card: &'c ModelCard, requested: &[&str]) -> Result<Vec<&'c str>, InferError> {
    if let Some(unknown) = requested
        .iter()
        .find(|name| !card.outputs.iter().any(|spec| spec.name == **name))
    {
        let names: Vec<&str> = card.outputs.iter().map(|spec| spec.name.as_str()).collect();
        return Err(invalid(format!(
            "output tensor {}: model {:?} has no output of that name; its outputs are {names:?}",
            super::quote::quote(unknown),
            card.id
        )));
    }
    Ok(card
        .outputs
        .iter()
        .map(|spec| spec.name.as_str())
        .filter(|name| requested.is_empty() || requested.contains(name))
        .collect())
}

/// `values` as FP32 little-endian bytes, as `raw_output_contents` carries them.
pub fn fp32_bytes(values: &[f64]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| (v as f32).to_le_bytes())
        .collect()
}

/// A count and the time it took in all.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// Their total time, nanoseconds.
    pub ns: u64,
}

impl Tally {
    fn add(&mut self, took: Duration) {
        self.count += 1;
        self.ns = self
            .ns
            .saturating_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }
}

/// One model's inferences since the server started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ModelStatistics {
    /// When it last ran, milliseconds since the Unix epoch; 0 if never.
    pub last_inference_ms: u64,
    /// Rows inferred: a batch of N rows counts N.
    pub inference_count: u64,
    /// Model runs: a batch counts 1.
    pub execution_count: u64,
    /// Requests that succeeded, and their time from arrival to response.
    pub success: Tally,
    /// Requests that failed, and their time.
    pub fail: Tally,
    /// Model runs, and the time in the model itself.
    pub compute_infer: Tally,
}

/// The [`ModelStatistics`] of every model that has been asked for, by name. Callers
/// record only models that exist, so the map is as small as the registry.
#[derive(Debug, Default)]
pub struct Statistics {
    models: Mutex<HashMap<String, ModelStatistics>>,
}

impl Statistics {
    fn update(&self, model: &str, change: impl FnOnce(&mut ModelStatistics)) {
        let mut models = self
            .models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(models.entry(model.to_owned()).or_default());
    }

    /// A request to `model` of `rows` rows that succeeded after `took`, `compute` of it
    /// in the model.
    pub fn success(&self, model: &str, rows: usize, took: Duration, compute: Duration) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        self.update(model, |stats| {
            stats.last_inference_ms = now;
            stats.inference_count += rows as u64;
            stats.execution_count += 1;
            stats.success.add(took);
            stats.compute_infer.add(compute);
        });
    }

    /// A request to `model` that failed after `took`.
    pub fn failure(&self, model: &str, took: Duration) {
        self.update(model, |stats| stats.fail.add(took));
    }

    /// `model`'s statistics (all zero if it has not been asked for).
    pub fn of(&self, model: &str) -> ModelStatistics {
        self.models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(model)
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
