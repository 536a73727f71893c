"""digits: a small multilayer perceptron on scikit-learn's bundled 8x8 handwritten digits.

Data: the UCI "Optical Recognition of Handwritten Digits" test set (E. Alpaydin,
C. Kaynak, 1998), as bundled with scikit-learn (sklearn.datasets.load_digits): 1797 images
of 8x8 pixels, each pixel the count (0 to 16) of set pixels in a 4x4 block of a 32x32
bitmap. Split: 75% train / 25% test, stratified, random_state=42.

The pipeline standardizes each pixel, then runs an MLP with one hidden layer of 32 ReLU
units. skl2onnx exports the standardization as an ONNX-ML Scaler node, which common.py
rewrites as Sub + Mul for tract.
"""

import common  # noqa: F401 (first: it pins BLAS to one thread before numpy loads)
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main():
    data = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, stratify=data.target, random_state=42
    )
    pipeline = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(32,), max_iter=600, random_state=0),
    ).fit(x_train, y_train)
    probabilities = pipeline.predict_proba(x_test)

    model = common.export(pipeline, 64, "probabilities", "probabilities")
    features = [
        {"name": f"pixel_{r}_{c}", "unit": "count of set pixels, 0 to 16",
         "description": f"row {r}, column {c} of the 8x8 image"}
        for r in range(8) for c in range(8)
    ]
    metadata = {
        "id": "digits",
        "version": "1",
        "description": "Handwritten digit 0-9 from an 8x8 image: standardization + MLP (32 ReLU units).",
        "inputs": [common.tensor(
            "input", 64,
            "one row per image: its 64 pixels row by row, each 0 (white) to 16 (black)",
            features=features,
        )],
        "outputs": [common.tensor(
            "probabilities", 10,
            "the probability of each digit 0 to 9; each row sums to 1",
            labels=[str(d) for d in range(10)],
        )],
        "training": {
            "estimator": "make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=600, random_state=0))",
            "data": "Optical Recognition of Handwritten Digits (1797 images, 8x8, 10 classes)",
            "source": "E. Alpaydin, C. Kaynak (1998), UCI Machine Learning Repository, via sklearn.datasets.load_digits",
            "split": "75% train / 25% test, stratified, random_state=42",
            "rows_train": len(x_train),
            "rows_test": len(x_test),
            "script": "training/train_digits.py",
        },
        "metrics": {
            "test_accuracy": round(float(accuracy_score(y_test, probabilities.argmax(1))), 6),
            "test_log_loss": round(float(log_loss(y_test, probabilities)), 6),
        },
    }
    outputs = common.write_model("digits", model, metadata, x_test[:40])
    assert np.allclose(outputs, probabilities[:40], atol=1e-5), "ONNX disagrees with scikit-learn"
    print("digits", metadata["metrics"])


if __name__ == "__main__":
    main()
