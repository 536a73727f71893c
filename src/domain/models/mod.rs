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

use std::{
    collections::BTreeMap,
    fmt, fs,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

pub use batch::{Batcher, MAX_BATCH_ROWS};
pub use card::{FeatureSpec, ModelCard, TensorSpec};
use tract_onnx::prelude::*;

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
                "no model {id:?}; the models are: {}",
                available.join(", ")
            ),
            ModelError::NotReady { id, reason } => {
                write!(f, "model {id:?} is not ready: {reason}")
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
    /// Loads the model in `dir` described by `card`.
    ///
    /// # Errors
    /// A reason, for the model's not-ready status: a shape the server does not support,
    /// an ONNX file tract cannot read or optimize, or metadata that disagrees with it.
    pub fn load(dir: &Path, card: ModelCard) -> Result<Self, String> {
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

        let path = dir.join(&card.file);
        let model = tract_onnx::onnx()
            .model_for_path(&path)
            .map_err(|err| format!("cannot read {}: {err:#}", path.display()))?;
        check_names(&model, input, output)?;
        let batch = model.sym("N");
        let plan = model
            .with_input_fact(0, f32::fact([batch.to_dim(), input_width.to_dim()]).into())
            .and_then(|model| model.into_optimized())
            .and_then(|model| model.into_runnable())
            .map_err(|err| format!("cannot prepare {}: {err:#}", path.display()))?;
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
fn to_f32(index: usize, value: f64) -> Result<f32, ModelError> {
    if value.is_finite() && value.abs() <= f64::from(f32::MAX) {
        Ok(value as f32)
    } else {
        Err(ModelError::InvalidValue { index, value })
    }
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

/// A model of the registry: loaded, or not with the reason.
#[derive(Debug, Clone)]
pub enum ModelEntry {
    /// Ready to run.
    Ready(Arc<LoadedModel>),
    /// Listed, but not loaded.
    Failed {
        /// The metadata, when it could be read (boxed: most entries are ready).
        card: Option<Box<ModelCard>>,
        /// Why it did not load.
        reason: String,
    },
}

/// Every model of a models directory, by id. Immutable once loaded.
#[derive(Debug, Default, Clone)]
pub struct ModelRegistry {
    models: BTreeMap<String, ModelEntry>,
}

impl ModelRegistry {
    /// Loads every subdirectory of `dir` as a model whose id is the directory's name.
    /// Never fails: a model that does not load is kept as [`ModelEntry::Failed`], and a
    /// missing or unreadable `dir` gives an empty registry (both are logged).
    pub fn load_dir(dir: &Path) -> Self {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                tracing::warn!(
                    "models directory {} unreadable: {err}; serving no model",
                    dir.display()
                );
                return Self::default();
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .collect();
        dirs.sort();
        let mut models = BTreeMap::new();
        for model_dir in dirs {
            let Some(id) = model_dir
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let entry = Self::load_model(&id, &model_dir);
            match &entry {
                ModelEntry::Ready(model) => tracing::info!(
                    model = %id,
                    version = %model.card.version,
                    input_width = model.input_width,
                    output_width = model.output_width,
                    "model loaded"
                ),
                ModelEntry::Failed { reason, .. } => {
                    tracing::error!(model = %id, "model not loaded: {reason}")
                }
            }
            models.insert(id, entry);
        }
        Self { models }
    }

    fn load_model(id: &str, dir: &Path) -> ModelEntry {
        let card_path = dir.join("model.json");
        let card: ModelCard = match fs::read_to_string(&card_path)
            .map_err(|err| err.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|err| err.to_string()))
        {
            Ok(card) => card,
            Err(err) => {
                return ModelEntry::Failed {
                    card: None,
                    reason: format!("cannot read {}: {err}", card_path.display()),
                };
            }
        };
        if card.id != id {
            return ModelEntry::Failed {
                reason: format!("model.json says id {:?}, its directory is {id:?}", card.id),
                card: Some(Box::new(card)),
            };
        }
        match LoadedModel::load(dir, card.clone()) {
            Ok(model) => ModelEntry::Ready(Arc::new(model)),
            Err(reason) => ModelEntry::Failed {
                card: Some(Box::new(card)),
                reason,
            },
        }
    }

    /// The ready model `id`.
    ///
    /// # Errors
    /// [`ModelError::NotFound`] or [`ModelError::NotReady`].
    pub fn get(&self, id: &str) -> Result<&Arc<LoadedModel>, ModelError> {
        match self.models.get(id) {
            Some(ModelEntry::Ready(model)) => Ok(model),
            Some(ModelEntry::Failed { reason, .. }) => Err(ModelError::NotReady {
                id: id.to_owned(),
                reason: reason.clone(),
            }),
            None => Err(ModelError::NotFound {
                id: id.to_owned(),
                available: self.models.keys().cloned().collect(),
            }),
        }
    }

    /// The entry of `id`, ready or not; `None` when no model has this id.
    pub fn entry(&self, id: &str) -> Option<&ModelEntry> {
        self.models.get(id)
    }

    /// Every model, by id.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &ModelEntry)> {
        self.models.iter().map(|(id, entry)| (id.as_str(), entry))
    }

    /// The ids of every model, ready or not.
    pub fn ids(&self) -> Vec<String> {
        self.models.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    const SHIPPED: [&str; 4] = ["diabetes", "digits", "fraud", "iris"];

    fn shipped_dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))
    }

    #[derive(Deserialize)]
    struct Reference {
        inputs: Vec<Vec<f64>>,
        outputs: Vec<Vec<f64>>,
    }

    fn reference(id: &str) -> Reference {
        let text = fs::read_to_string(shipped_dir().join(id).join("reference.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-5, "{what}[{i}]: {g} vs onnxruntime {w}");
        }
    }

    #[test]
    fn every_shipped_model_loads_and_matches_onnxruntime() {
        let registry = ModelRegistry::load_dir(&shipped_dir());
        assert_eq!(registry.ids(), SHIPPED);
        for id in SHIPPED {
            let model = registry.get(id).unwrap_or_else(|e| panic!("{e}"));
            let reference = reference(id);
            // The whole reference set as one batch ...
            let batch: Vec<f64> = reference.inputs.concat();
            let prediction = model.predict(&batch).unwrap();
            assert_eq!(prediction.rows, reference.inputs.len());
            assert_close(&prediction.outputs, &reference.outputs.concat(), id);
            // ... and row by row.
            for (row, want) in reference.inputs.iter().zip(&reference.outputs).take(5) {
                assert_close(&model.predict(row).unwrap().outputs, want, id);
            }
        }
    }

    #[test]
    fn metadata_matches_the_onnx_files() {
        let registry = ModelRegistry::load_dir(&shipped_dir());
        let widths = [
            ("diabetes", 10, 1),
            ("digits", 64, 10),
            ("fraud", 5, 2),
            ("iris", 4, 3),
        ];
        for (id, input, output) in widths {
            let model = registry.get(id).unwrap();
            assert_eq!(
                (model.input_width(), model.output_width()),
                (input, output),
                "{id}"
            );
            let card = model.card();
            assert_eq!(
                card.inputs[0].features.len(),
                input,
                "{id}: one feature per column"
            );
            if !card.outputs[0].labels.is_empty() {
                assert_eq!(
                    card.outputs[0].labels.len(),
                    output,
                    "{id}: one label per column"
                );
            }
            assert!(!card.metrics.is_empty(), "{id} has held-out metrics");
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_the_expected_shape() {
        let registry = ModelRegistry::load_dir(&shipped_dir());
        let iris = registry.get("iris").unwrap();
        assert_eq!(iris.predict(&[]), Err(ModelError::EmptyInput { width: 4 }));
        let err = iris.predict(&[1.0; 6]).unwrap_err();
        assert_eq!(err, ModelError::ShapeMismatch { len: 6, width: 4 });
        assert!(err.to_string().contains("[N, 4]"), "{err}");
        let err = iris.predict(&[1.0, 2.0, f64::NAN, 4.0]).unwrap_err();
        assert!(
            matches!(err, ModelError::InvalidValue { index: 2, .. }),
            "{err:?}"
        );
        let err = iris.predict(&[1.0, 1e39, 3.0, 4.0]).unwrap_err();
        assert!(
            matches!(err, ModelError::InvalidValue { index: 1, .. }),
            "{err:?}"
        );
        match registry.get("nope") {
            Err(ModelError::NotFound { available, .. }) => assert_eq!(available, SHIPPED),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_models_are_listed_as_not_ready_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let copy = |from: &str, to: &str| {
            let target = dir.path().join(to);
            fs::create_dir(&target).unwrap();
            fs::copy(
                shipped_dir().join(from).join("model.onnx"),
                target.join("model.onnx"),
            )
            .unwrap();
            let card = fs::read_to_string(shipped_dir().join(from).join("model.json")).unwrap();
            let card = card.replacen(
                &format!("\"id\": \"{from}\""),
                &format!("\"id\": \"{to}\""),
                1,
            );
            fs::write(target.join("model.json"), card).unwrap();
            target
        };
        copy("iris", "iris");
        fs::create_dir(dir.path().join("no_metadata")).unwrap();
        let garbage = copy("iris", "garbage");
        fs::write(garbage.join("model.onnx"), b"not an onnx file").unwrap();
        let json = |target: &Path| fs::read_to_string(target.join("model.json")).unwrap();
        let renamed = copy("iris", "renamed");
        let text = json(&renamed).replacen("\"id\": \"renamed\"", "\"id\": \"other\"", 1);
        fs::write(renamed.join("model.json"), text).unwrap();
        let wide = copy("iris", "wide");
        let text = json(&wide).replacen("-1,\n        3", "-1,\n        7", 1);
        fs::write(wide.join("model.json"), text).unwrap();

        let registry = ModelRegistry::load_dir(dir.path());
        assert!(
            registry.get("iris").is_ok(),
            "a good model loads beside broken ones"
        );
        let reason = |id: &str| match registry.get(id) {
            Err(ModelError::NotReady { reason, .. }) => reason,
            other => panic!("{id}: {other:?}"),
        };
        assert!(
            reason("no_metadata").contains("model.json"),
            "{}",
            reason("no_metadata")
        );
        assert!(
            reason("garbage").contains("cannot read"),
            "{}",
            reason("garbage")
        );
        assert!(
            reason("renamed").contains("directory"),
            "{}",
            reason("renamed")
        );
        assert!(
            reason("wide").contains("output width 7"),
            "{}",
            reason("wide")
        );
    }

    #[test]
    fn a_missing_directory_is_an_empty_registry() {
        let registry = ModelRegistry::load_dir(Path::new("/nonexistent/models"));
        assert!(registry.ids().is_empty());
    }
}
