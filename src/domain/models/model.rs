//! One loaded model: its plan (tract's optimized graph, shared by every call), its
//! metadata, and a small pool of run states; [`LoadedModel::predict`] checks a request's
//! shape and values and runs it.

use std::{fmt, path::Path, sync::Mutex};

use tract_onnx::prelude::*;

use super::{ModelCard, TensorSpec};
use crate::domain::quote::quote;

/// The most run states a model keeps between calls: more than the calls that run at
/// once on a machine of this size (one per runtime worker), few enough that idle
/// states (each holds its ops' small scratch buffers between runs) cost little memory.
const MAX_IDLE_STATES: usize = 64;

/// Why a prediction could not be made.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    /// No model has this id.
    NotFound {
        /// The id asked for.
        id: String,
        /// The ids that exist.
        available: Vec<String>,
    },
    /// The model exists but did not load.
    NotReady {
        /// Its id.
        id: String,
        /// Why it did not load.
        reason: String,
    },
    /// No input value was given.
    EmptyInput {
        /// The model's input width.
        width: usize,
    },
    /// The number of values is not a multiple of the model's input width.
    ShapeMismatch {
        /// How many values were given.
        len: usize,
        /// The model's input width.
        width: usize,
    },
    /// A value is NaN, infinite, or beyond float32's range.
    InvalidValue {
        /// Its position in the flattened input, from 0.
        index: usize,
        /// The value.
        value: f64,
    },
    /// tract failed while running a model that loaded (not expected).
    Inference(String),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::NotFound { id, available } => write!(
                f,
                "no model {}; the models are: {}",
                quote(id),
                available.join(", ")
            ),
            ModelError::NotReady { id, reason } => {
                write!(f, "model {} is not ready: {reason}", quote(id))
            }
            ModelError::EmptyInput { width } => write!(
                f,
                "inputs is empty; give N rows of {width} values (shape [N, {width}], N >= 1)"
            ),
            ModelError::ShapeMismatch { len, width } => write!(
                f,
                "inputs has {len} values, not a multiple of the model's input width {width}; \
                 expected shape [N, {width}]: N * {width} values"
            ),
            ModelError::InvalidValue { index, value } => write!(
                f,
                "inputs[{index}] is {value}; values must be finite and within float32 range \
                 (+/-3.4028235e38)"
            ),
            ModelError::Inference(reason) => write!(f, "inference failed: {reason}"),
        }
    }
}

impl std::error::Error for ModelError {}

/// The result of running a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The output tensor, flattened row by row.
    pub outputs: Vec<f64>,
    /// How many rows (N).
    pub rows: usize,
    /// The output width.
    pub width: usize,
}

/// A model ready to run.
#[derive(Debug)]
pub struct LoadedModel {
    /// Its metadata.
    card: ModelCard,
    /// The optimized tract plan, shared by every request.
    plan: Arc<TypedRunnableModel>,
    /// Run states of `plan` not in use. tract-core 0.23.9's `SimplePlan::run` makes a
    /// new `SimpleState` for every call and drops it after (src/plan.rs): one op state
    /// per node, allocated and freed, about 15% of a one-row fraud prediction
    /// (callgrind). A state is reset by a successful run (`reset_turn`), so it is
    /// reused; one whose run failed is dropped.
    states: Mutex<Vec<TypedSimpleState>>,
    /// Values per input row.
    input_width: usize,
    /// Values per output row.
    output_width: usize,
}

impl LoadedModel {
    /// Loads the model described by `card` from `onnx`, the bytes of its ONNX file.
    /// `origin` names that file in the reasons (a path, or `built-in iris/model.onnx`);
    /// `external_data` is the directory of the tensors an ONNX file may keep in files of
    /// their own (`None`: the file must hold them all).
    ///
    /// # Errors
    /// A reason, for the model's not-ready status: a shape the server does not support,
    /// an ONNX file tract cannot read or optimize, or metadata that disagrees with it.
    pub fn load(
        onnx: &[u8],
        card: ModelCard,
        origin: &str,
        external_data: Option<&Path>,
    ) -> Result<Self, String> {
        let [input] = card.inputs.as_slice() else {
            return Err(format!(
                "{} inputs in model.json; exactly 1 is supported",
                card.inputs.len()
            ));
        };
        let [output] = card.outputs.as_slice() else {
            return Err(format!(
                "{} outputs in model.json; exactly 1 is supported",
                card.outputs.len()
            ));
        };
        let input_width = input
            .row_width()
            .ok_or_else(|| format!("input shape {:?} is not [-1, width]", input.shape))?;
        let output_width = output
            .row_width()
            .ok_or_else(|| format!("output shape {:?} is not [-1, width]", output.shape))?;
        for tensor in [input, output] {
            if tensor.datatype != "FP32" {
                return Err(format!(
                    "tensor {:?} is {}; only FP32 is supported",
                    tensor.name, tensor.datatype
                ));
            }
        }

        let model = parse_onnx(onnx, external_data)
            .map_err(|err| format!("cannot read {origin}: {err:#}"))?;
        check_names(&model, input, output)?;
        let batch = model.sym("N");
        let plan = model
            .with_input_fact(0, f32::fact([batch.to_dim(), input_width.to_dim()]).into())
            .and_then(|model| model.into_optimized())
            .and_then(|model| model.into_runnable())
            .map_err(|err| format!("cannot prepare {origin}: {err:#}"))?;
        let output_fact = plan
            .model()
            .output_fact(0)
            .map_err(|err| format!("no output: {err:#}"))?;
        let actual_width = output_fact
            .shape
            .get(1)
            .and_then(|dim| dim.to_i64().ok())
            .and_then(|width| usize::try_from(width).ok());
        if actual_width != Some(output_width) {
            return Err(format!(
                "model.json says output width {output_width}, the ONNX graph gives shape {:?}",
                output_fact.shape
            ));
        }
        Ok(Self {
            card,
            plan,
            states: Mutex::new(Vec::new()),
            input_width,
            output_width,
        })
    }

    /// The pool of idle run states. A panic while it was held cannot leave a state
    /// half-pushed, so a poisoned lock is still usable.
    fn idle_states(&self) -> std::sync::MutexGuard<'_, Vec<TypedSimpleState>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Its metadata.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// Values per input row.
    pub fn input_width(&self) -> usize {
        self.input_width
    }

    /// Values per output row.
    pub fn output_width(&self) -> usize {
        self.output_width
    }

    /// Runs the model on `inputs`: N rows of [`Self::input_width`] values, flattened.
    /// Values are converted to float32, the model's type; outputs back to float64.
    ///
    /// # Errors
    /// [`ModelError::EmptyInput`], [`ModelError::ShapeMismatch`],
    /// [`ModelError::InvalidValue`]; [`ModelError::Inference`] if tract fails.
    pub fn predict(&self, inputs: &[f64]) -> Result<Prediction, ModelError> {
        let width = self.input_width;
        if inputs.is_empty() {
            return Err(ModelError::EmptyInput { width });
        }
        if !inputs.len().is_multiple_of(width) {
            return Err(ModelError::ShapeMismatch {
                len: inputs.len(),
                width,
            });
        }
        let values = inputs
            .iter()
            .enumerate()
            .map(|(index, &value)| to_f32(index, value))
            .collect::<Result<Vec<f32>, _>>()?;
        let rows = inputs.len() / width;
        let tensor = Tensor::from_shape(&[rows, width], &values)
            .map_err(|err| ModelError::Inference(format!("{err:#}")))?;
        let mut state = match self.idle_states().pop() {
            Some(state) => state,
            None => self
                .plan
                .spawn()
                .map_err(|err| ModelError::Inference(format!("{err:#}")))?,
        };
        let outputs = state
            .run(tvec!(tensor.into()))
            .map_err(|err| ModelError::Inference(format!("{err:#}")))?;
        {
            let mut idle = self.idle_states();
            if idle.len() < MAX_IDLE_STATES {
                idle.push(state);
            }
        }
        // iter() walks the view in logical (row-major) order, whatever the layout.
        let output = outputs[0]
            .to_plain_array_view::<f32>()
            .map_err(|err| ModelError::Inference(format!("{err:#}")))?;
        if output.len() != rows * self.output_width {
            return Err(ModelError::Inference(format!(
                "expected {} output values, got {}",
                rows * self.output_width,
                output.len()
            )));
        }
        Ok(Prediction {
            outputs: output.iter().map(|&v| f64::from(v)).collect(),
            rows,
            width: self.output_width,
        })
    }
}

/// `value`, at `index` of the inputs, as the float32 the models take.
///
/// # Errors
/// [`ModelError::InvalidValue`] for NaN, an infinity, or a value beyond float32's range.
pub(super) fn to_f32(index: usize, value: f64) -> Result<f32, ModelError> {
    if value.is_finite() && value.abs() <= f64::from(f32::MAX) {
        Ok(value as f32)
    } else {
        Err(ModelError::InvalidValue { index, value })
    }
}

/// The graph of the ONNX file `onnx`, as tract's `model_for_path` reads a file (which
/// gives the file's directory for external data), from bytes.
fn parse_onnx(onnx: &[u8], external_data: Option<&Path>) -> TractResult<InferenceModel> {
    let framework = tract_onnx::onnx();
    let proto = framework.proto_model_for_read(&mut &onnx[..])?;
    // As model_for_path: a directory whose path is not UTF-8 is not given.
    let parsed = framework.parse(&proto, external_data.and_then(Path::to_str))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(TractError::msg(format!(
            "could not resolve inputs at top level: {:?}",
            parsed.unresolved_inputs
        )));
    }
    Ok(parsed.model)
}

/// Checks that the ONNX graph's input and output names are those of the metadata.
fn check_names(
    model: &InferenceModel,
    input: &TensorSpec,
    output: &TensorSpec,
) -> Result<(), String> {
    let names = |outlets: &[OutletId], label: &dyn Fn(OutletId) -> String| -> Vec<String> {
        outlets.iter().map(|&o| label(o)).collect()
    };
    let inputs = names(model.input_outlets().map_err(|e| e.to_string())?, &|o| {
        model.node(o.node).name.clone()
    });
    let outputs = names(model.output_outlets().map_err(|e| e.to_string())?, &|o| {
        model
            .outlet_label(o)
            .map(str::to_owned)
            .unwrap_or_else(|| model.node(o.node).name.clone())
    });
    if inputs != [input.name.clone()] {
        return Err(format!(
            "model.json names input {:?}, the ONNX graph has {inputs:?}",
            input.name
        ));
    }
    if outputs != [output.name.clone()] {
        return Err(format!(
            "model.json names output {:?}, the ONNX graph has {outputs:?}",
            output.name
        ));
    }
    Ok(())
}
