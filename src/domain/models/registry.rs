//! The registry: every model of a models directory, by id, loaded at startup; a model
//! that fails to load is kept, not ready, with the reason.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{LoadedModel, ModelCard, ModelError};

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
