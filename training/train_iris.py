"""iris: multinomial logistic regression on scikit-learn's bundled Iris data.

Data: R. A. Fisher (1936), "The use of multiple measurements in taxonomic problems", as
bundled with scikit-learn (sklearn.datasets.load_iris): 150 flowers, 50 per species.
Split: 70% train / 30% test, stratified, random_state=42.
"""

import common  # noqa: F401 (first: it pins BLAS to one thread before numpy loads)
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

FEATURES = [
    {"name": "sepal_length", "unit": "cm", "description": "sepal length"},
    {"name": "sepal_width", "unit": "cm", "description": "sepal width"},
    {"name": "petal_length", "unit": "cm", "description": "petal length"},
    {"name": "petal_width", "unit": "cm", "description": "petal width"},
]


def main():
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.3, stratify=data.target, random_state=42
    )
    clf = LogisticRegression(max_iter=1000, random_state=0).fit(x_train, y_train)
    probabilities = clf.predict_proba(x_test)

    model = common.export(clf, 4, "probabilities", "probabilities")
    labels = [str(name) for name in data.target_names]
    metadata = {
        "id": "iris",
        "version": "1",
        "description": "Iris species from four flower measurements: multinomial logistic regression.",
        "inputs": [common.tensor("input", 4, "one row per flower: the four measurements in cm", features=FEATURES)],
        "outputs": [
            common.tensor(
                "probabilities", 3,
                "the probability of each species, in the order of labels; each row sums to 1",
                labels=labels,
            )
        ],
        "training": {
            "estimator": "sklearn.linear_model.LogisticRegression(max_iter=1000, random_state=0)",
            "data": "Iris (150 flowers, 3 species, 4 measurements)",
            "source": "R. A. Fisher (1936), via sklearn.datasets.load_iris",
            "split": "70% train / 30% test, stratified, random_state=42",
            "rows_train": len(x_train),
            "rows_test": len(x_test),
            "script": "training/train_iris.py",
        },
        "metrics": {
            "test_accuracy": round(float(accuracy_score(y_test, probabilities.argmax(1))), 6),
            "test_log_loss": round(float(log_loss(y_test, probabilities)), 6),
        },
    }
    outputs = common.write_model("iris", model, metadata, x_test)
    assert np.allclose(outputs, probabilities, atol=1e-5), "ONNX disagrees with scikit-learn"
    print("iris", metadata["metrics"])


if __name__ == "__main__":
    main()
