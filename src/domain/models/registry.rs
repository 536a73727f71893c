//! The registry: every model of a [`ModelSource`] (built in, or a models directory), by
//! id, loaded at startup; a model that fails to load is kept, not ready, with the reason.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use super::{LoadedModel, ModelCard, ModelError, ModelSource, ModelsDirError};

/// The file of a model's metadata, in its directory.
const CARD_FILE: &str = "model.json";

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

/// Every model of a [`ModelSource`], by id. Immutable once loaded.
#[derive(Debug, Default, Clone)]
pub struct ModelRegistry {
    models: BTreeMap<String, ModelEntry>,
}

impl ModelRegistry {
    /// Loads the models of `source` (see [`ModelRegistry::built_in`] and
    /// [`ModelRegistry::open_dir`]). Blocking work (tract optimizes each graph): call it
    /// off the async workers.
    ///
    /// # Errors
    /// [`ModelsDirError`] when a directory cannot be listed; a model that does not load
    /// is not an error but a [`ModelEntry::Failed`].
    pub fn load(source: &ModelSource) -> Result<Self, ModelsDirError> {
        let ids = source.ids()?;
        let mut models = BTreeMap::new();
        for id in ids {
            let entry = Self::load_model(source, &id);
            match &entry {
                ModelEntry::Ready(model) => tracing::info!(
                    model = %id,
                    version = %model.card().version,
                    input_width = model.input_width(),
                    output_width = model.output_width(),
                    "model loaded"
                ),
                ModelEntry::Failed { reason, .. } => {
                    tracing::error!(model = %id, "model not loaded: {reason}")
                }
            }
            models.insert(id, entry);
        }
        let registry = Self { models };
        registry.log_summary(source);
        Ok(registry)
    }

    /// The models built into the binary: those of the repository's `models/` directory
    /// when it was built (`diabetes`, `digits`, `fraud`, `iris`).
    pub fn built_in() -> Self {
        Self::load(&ModelSource::BuiltIn).unwrap_or_default()
    }

    /// Loads every subdirectory of `dir` as a model whose id is the directory's name:
    /// its `model.json` (the [`ModelCard`]) and the ONNX file it names. A model that
    /// does not load is kept as [`ModelEntry::Failed`].
    ///
    /// # Errors
    /// [`ModelsDirError`] when `dir` is missing, not a directory, or not readable.
    pub fn open_dir(dir: &Path) -> Result<Self, ModelsDirError> {
        Self::load(&ModelSource::Dir(dir.to_owned()))
    }

    /// [`ModelRegistry::open_dir`], with a missing or unreadable `dir` logged and taken
    /// as an empty registry: for tests and tools, where an empty set is an answer.
    pub fn load_dir(dir: &Path) -> Self {
        Self::open_dir(dir).unwrap_or_else(|err| {
            tracing::warn!("{err}; serving no model");
            Self::default()
        })
    }

    /// Logs where the models came from and which they are:
    /// `models: 4 built in (diabetes, digits, fraud, iris)`, `models: DIR (1: iris)`.
    fn log_summary(&self, source: &ModelSource) {
        let ids = self.ids().join(", ");
        let failed = self
            .models
            .values()
            .filter(|entry| matches!(entry, ModelEntry::Failed { .. }))
            .count();
        let failed = match failed {
            0 => String::new(),
            n => format!(", {n} not loaded"),
        };
        match source {
            ModelSource::BuiltIn => {
                tracing::info!("models: {} built in ({ids}){failed}", self.models.len())
            }
            ModelSource::Dir(dir) if self.models.is_empty() => {
                tracing::warn!("models: {} (0): the directory has no model", dir.display())
            }
            ModelSource::Dir(dir) => tracing::info!(
                "models: {} ({}: {ids}){failed}",
                dir.display(),
                self.models.len()
            ),
        }
    }

    /// Model `id` of `source`: its metadata, checked against its id, then its ONNX file.
    fn load_model(source: &ModelSource, id: &str) -> ModelEntry {
        let card: ModelCard = match source
            .read(id, CARD_FILE)
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|err| err.to_string()))
        {
            Ok(card) => card,
            Err(err) => {
                return ModelEntry::Failed {
                    card: None,
                    reason: format!("cannot read {}: {err}", source.file_name(id, CARD_FILE)),
                };
            }
        };
        if card.id != id {
            return ModelEntry::Failed {
                reason: format!("model.json says id {:?}, its directory is {id:?}", card.id),
                card: Some(Box::new(card)),
            };
        }
        let origin = source.file_name(id, &card.file);
        let loaded = source
            .read(id, &card.file)
            .map_err(|err| format!("cannot read {origin}: {err}"))
            .and_then(|onnx| {
                let dir = source.file_dir(id, &card.file);
                LoadedModel::load(&onnx, card.clone(), &origin, dir.as_deref())
            });
        match loaded {
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
