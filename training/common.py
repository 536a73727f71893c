"""Shared export steps for the models in ../models.

Every model directory gets:
  model.onnx      the ONNX graph, float32 input of shape [N, width], one float32 output;
  model.json      its metadata ("model card"): tensors, features and units, training data and
                  source, held-out metrics;
  reference.json  reference cases: input rows and the outputs onnxruntime gave at export time.

tract (the Rust runtime the server uses) lacks the ONNX-ML Scaler and ZipMap operators:
classifiers are exported with options={'zipmap': False} and Scaler nodes are rewritten as
Sub + Mul, which compute the same (X - offset) * scale.
"""

import os

# One thread for BLAS and OpenMP: multi-threaded reductions may sum in a different order
# from run to run, and the exported weights must be the same bytes every time.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import hashlib  # noqa: E402 (after the thread settings, before numpy)
import json
import pathlib
import platform

import numpy as np
import onnx
import onnxruntime
import sklearn
import skl2onnx
from onnx import helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

MODELS_DIR = pathlib.Path(__file__).resolve().parent.parent / "models"

# Opsets every operator we emit exists in, and that tract 0.23 reads.
TARGET_OPSET = {"": 15, "ai.onnx.ml": 1}

INPUT_NAME = "input"


def export(estimator, width, output_name, output_names_from):
    """Converts a fitted scikit-learn estimator to an ONNX model with one float32 input
    named "input" of shape [N, width] and one output, renamed to `output_name`.

    `output_names_from` is the skl2onnx output to keep ("probabilities" for classifiers,
    "variable" for regressors); the others (the predicted label) are dropped.
    """
    options = {}
    if hasattr(estimator, "predict_proba"):
        options = {id(estimator): {"zipmap": False}}
        # In a Pipeline the classifier is the last step.
        if hasattr(estimator, "steps"):
            options = {id(estimator.steps[-1][1]): {"zipmap": False}}
    model = convert_sklearn(
        estimator,
        initial_types=[(INPUT_NAME, FloatTensorType([None, width]))],
        options=options,
        target_opset=TARGET_OPSET,
    )
    model = _keep_output(model, output_names_from, output_name)
    model = _fold_scalers(model)
    model = _fold_tree_base_values(model)
    _sort_opset_imports(model)
    model.producer_name = "grpc-showcase training/" + output_name
    onnx.checker.check_model(model)
    return model


def _keep_output(model, keep, new_name):
    graph = model.graph
    outputs = [o for o in graph.output if o.name == keep]
    assert len(outputs) == 1, f"no output {keep!r} in {[o.name for o in graph.output]}"
    del graph.output[:]
    graph.output.extend(outputs)
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == keep:
                node.output[i] = new_name
    graph.output[0].name = new_name
    _prune_dead_nodes(graph)
    return model


def _prune_dead_nodes(graph):
    """Removes the nodes the kept output does not depend on (the dropped label's ArgMax,
    ArrayFeatureExtractor ...), so that a runtime need not support their operators."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    initializers = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _fold_scalers(model):
    """Rewrites each ai.onnx.ml Scaler node, y = (x - offset) * scale, as Sub then Mul."""
    graph = model.graph
    nodes = []
    for node in graph.node:
        if node.op_type != "Scaler":
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        offset = np.asarray(attrs.get("offset", [0.0]), dtype=np.float32)
        scale = np.asarray(attrs.get("scale", [1.0]), dtype=np.float32)
        offset_name = node.name + "_offset"
        scale_name = node.name + "_scale"
        centered = node.name + "_centered"
        graph.initializer.extend(
            [
                numpy_helper.from_array(offset, offset_name),
                numpy_helper.from_array(scale, scale_name),
            ]
        )
        nodes.append(
            helper.make_node("Sub", [node.input[0], offset_name], [centered], name=node.name + "_sub")
        )
        nodes.append(
            helper.make_node("Mul", [centered, scale_name], [node.output[0]], name=node.name + "_mul")
        )
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def _fold_tree_base_values(model):
    """Moves a binary TreeEnsembleClassifier's single base value into its first tree.

    tract-onnx 0.23.9 (src/ops/ml/tree_ensemble_classifier.rs, get_vec_attr_opt) wants one
    base value per class label, 2 for a binary classifier, and refuses the single value
    that skl2onnx writes for the binary layout (all class_ids 0) that the ONNX-ML spec
    allows. The score is base + sum of the trees' leaf weights, so adding the base value
    to every leaf weight of tree 0 and dropping the attribute gives the same score in any
    runtime (up to float32 rounding of each changed leaf, about 1e-7).
    """
    for node in model.graph.node:
        if node.op_type != "TreeEnsembleClassifier":
            continue
        attrs = {a.name: a for a in node.attribute}
        if "base_values" not in attrs:
            continue
        base = list(attrs["base_values"].floats)
        class_ids = list(attrs["class_ids"].ints)
        if len(base) != 1 or any(c != 0 for c in class_ids):
            continue
        tree_ids = list(attrs["class_treeids"].ints)
        weights = attrs["class_weights"].floats
        first_tree = min(tree_ids)
        for i, tree in enumerate(tree_ids):
            if tree == first_tree:
                weights[i] = float(np.float32(weights[i]) + np.float32(base[0]))
        node.attribute.remove(attrs["base_values"])
    return model


def _sort_opset_imports(model):
    """One opset import per domain, sorted: skl2onnx collects them in a set, whose order
    changes from run to run with Python's string hash seed (and repeats some)."""
    versions = {}
    for opset in model.opset_import:
        versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
    del model.opset_import[:]
    for domain in sorted(versions):
        model.opset_import.append(helper.make_opsetid(domain, versions[domain]))


def run_onnxruntime(model, rows):
    """The reference runtime's outputs for `rows` (float32), one list per row."""
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (outputs,) = session.run(None, {INPUT_NAME: np.asarray(rows, dtype=np.float32)})
    return np.asarray(outputs, dtype=np.float32).reshape(len(rows), -1)


def libraries():
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def write_model(model_id, model, metadata, reference_rows, extra_reference=None):
    """Writes models/<id>/{model.onnx, model.json, reference.json}.

    The reference rows are cast to float32 first (the model's input type) and stored as
    the exact float32 values, so any runtime reading them sees the same input bits.
    """
    directory = MODELS_DIR / model_id
    directory.mkdir(parents=True, exist_ok=True)
    # skl2onnx names the graph with a random UUID; a fixed name keeps the file reproducible.
    model.graph.name = model_id
    onnx_bytes = model.SerializeToString()
    (directory / "model.onnx").write_bytes(onnx_bytes)

    rows = np.asarray(reference_rows, dtype=np.float32)
    outputs = run_onnxruntime(model, rows)
    metadata = dict(metadata)
    metadata["file"] = "model.onnx"
    metadata["sha256"] = hashlib.sha256(onnx_bytes).hexdigest()
    metadata["training"]["libraries"] = libraries()
    _write_json(directory / "model.json", metadata)

    reference = {
        "runtime": f"onnxruntime {onnxruntime.__version__}",
        "inputs": [[float(v) for v in row] for row in rows],
        "outputs": [[float(v) for v in row] for row in outputs],
    }
    if extra_reference:
        reference.update(extra_reference)
    _write_json(directory / "reference.json", reference)
    print(f"wrote {directory}: {len(onnx_bytes)} bytes, {len(rows)} reference rows")
    return outputs


def _write_json(path, value):
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n")


def tensor(name, width, description, **extra):
    """The metadata of a float32 tensor of shape [N, width] (N: the batch size, -1)."""
    entry = {"name": name, "datatype": "FP32", "shape": [-1, width], "description": description}
    entry.update(extra)
    return entry
