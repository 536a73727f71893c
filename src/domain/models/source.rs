//! Where a registry's models come from: the set built into the binary, or a models
//! directory. Both give the same thing, a model's files by id and name, so the registry
//! reads either one the same way ([`super::ModelRegistry`]).

use std::{
    borrow::Cow,
    fmt, fs, io,
    path::{Path, PathBuf},
};

/// Every file of every model of the repository's `models/` directory, compiled into the
/// binary by build.rs: (model id, the file's path in the model's directory with `/`
/// between components, its bytes), sorted by id then path.
static BUILT_IN: &[(&str, &str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/built_in_models.rs"));

/// Where the models of a registry come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The models of the repository's `models/` directory at build time, compiled into
    /// the binary.
    BuiltIn,
    /// A models directory: one subdirectory per model, named by its id.
    Dir(PathBuf),
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BuiltIn => f.write_str("built in"),
            Self::Dir(dir) => dir.display().fmt(f),
        }
    }
}

/// A models directory that cannot be listed: missing, not a directory, not readable.
#[derive(Debug)]
pub struct ModelsDirError {
    /// The directory, as given.
    pub dir: PathBuf,
    /// Why it cannot be listed.
    pub source: io::Error,
}

impl fmt::Display for ModelsDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read the models directory {}: {}",
            self.dir.display(),
            self.source
        )
    }
}

impl std::error::Error for ModelsDirError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The ids of the built-in models, sorted.
pub fn built_in_ids() -> Vec<&'static str> {
    let mut ids: Vec<&str> = BUILT_IN.iter().map(|&(id, _, _)| id).collect();
    ids.dedup();
    ids
}

impl ModelSource {
    /// The ids of its models, sorted: for a directory, the names of its subdirectories
    /// (those that are not UTF-8 are skipped).
    ///
    /// # Errors
    /// [`ModelsDirError`] when the directory cannot be listed.
    pub(super) fn ids(&self) -> Result<Vec<String>, ModelsDirError> {
        let dir = match self {
            Self::BuiltIn => return Ok(built_in_ids().into_iter().map(str::to_owned).collect()),
            Self::Dir(dir) => dir,
        };
        let error = |source| ModelsDirError {
            dir: dir.clone(),
            source,
        };
        let mut ids: Vec<String> = fs::read_dir(dir)
            .map_err(error)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The file `name` (relative to the model's directory) of model `id`.
    ///
    /// # Errors
    /// Why it cannot be read, for the model's not-ready reason (the caller names the
    /// file with [`ModelSource::file_name`]).
    pub(super) fn read(&self, id: &str, name: &str) -> Result<Cow<'static, [u8]>, String> {
        match self {
            Self::BuiltIn => BUILT_IN
                .iter()
                .find(|&&(model, file, _)| model == id && file == name)
                .map(|&(_, _, bytes)| Cow::Borrowed(bytes))
                .ok_or_else(|| "no such built-in file".to_owned()),
            Self::Dir(dir) => fs::read(dir.join(id).join(name))
                .map(Cow::Owned)
                .map_err(|err| err.to_string()),
        }
    }

    /// How messages name the file `name` of model `id`: its path, or
    /// `built-in iris/model.json`.
    pub(super) fn file_name(&self, id: &str, name: &str) -> String {
        match self {
            Self::BuiltIn => format!("built-in {id}/{name}"),
            Self::Dir(dir) => dir.join(id).join(name).display().to_string(),
        }
    }

    /// The directory of the file `name` of model `id`, where the external data of an
    /// ONNX file would be (tensors kept in files of their own); `None` for a built-in
    /// model (the shipped ONNX files hold all their weights).
    pub(super) fn file_dir(&self, id: &str, name: &str) -> Option<PathBuf> {
        match self {
            Self::BuiltIn => None,
            Self::Dir(dir) => dir.join(id).join(name).parent().map(Path::to_path_buf),
        }
    }
}
