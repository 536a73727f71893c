//! Every shipped model against onnxruntime's outputs, and the registry's failures.

use std::{
    fs,
    path::{Path, PathBuf},
};

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
    // The built-in set and the directory it was made from, through the same code.
    for registry in [
        ModelRegistry::built_in(),
        ModelRegistry::open_dir(&shipped_dir()).unwrap(),
    ] {
        assert_matches_onnxruntime(&registry);
    }
}

fn assert_matches_onnxruntime(registry: &ModelRegistry) {
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

#[test]
fn a_directory_that_cannot_be_read_is_an_error_naming_it() {
    let err = ModelRegistry::open_dir(Path::new("/nonexistent/models")).unwrap_err();
    assert_eq!(err.dir, Path::new("/nonexistent/models"));
    assert!(err.to_string().contains("/nonexistent/models"), "{err}");
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = ModelRegistry::open_dir(file.path()).unwrap_err();
    assert!(
        err.to_string().contains(&*file.path().to_string_lossy()),
        "{err}"
    );
    // A readable directory without models is an empty registry, not an error.
    let empty = tempfile::tempdir().unwrap();
    assert!(
        ModelRegistry::open_dir(empty.path())
            .unwrap()
            .ids()
            .is_empty()
    );
}

/// The built-in set is the models directory, file for file and byte for byte.
#[test]
fn the_built_in_models_are_the_shipped_directory() {
    assert_eq!(built_in_ids(), SHIPPED);
    let source = ModelSource::BuiltIn;
    for id in SHIPPED {
        for entry in fs::read_dir(shipped_dir().join(id)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            let built_in = source
                .read(id, name)
                .unwrap_or_else(|e| panic!("{id}/{name}: {e}"));
            assert!(
                *built_in == *fs::read(&path).unwrap(),
                "{id}/{name} differs"
            );
        }
    }
    assert!(source.read("iris", "nope.onnx").is_err());
    assert_eq!(
        source.file_name("iris", "model.json"),
        "built-in iris/model.json"
    );
    let card =
        |registry: &ModelRegistry, id: &str| format!("{:?}", registry.get(id).unwrap().card());
    let dir = ModelRegistry::open_dir(&shipped_dir()).unwrap();
    let built_in = ModelRegistry::built_in();
    for id in SHIPPED {
        assert_eq!(card(&built_in, id), card(&dir, id), "{id}");
    }
}
