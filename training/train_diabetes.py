"""diabetes: linear regression on scikit-learn's bundled diabetes data, in real units.

Data: B. Efron, T. Hastie, I. Johnstone, R. Tibshirani (2004), "Least Angle Regression",
Annals of Statistics 32(2): 442 patients, ten baseline measurements, and a quantitative
measure of disease progression one year later. Loaded unscaled
(sklearn.datasets.load_diabetes(scaled=False)) so that the model takes the measurements in
their own units. Split: 75% train / 25% test, random_state=42.
"""

import common  # noqa: F401 (first: it pins BLAS to one thread before numpy loads)
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

FEATURES = [
    {"name": "age", "unit": "years", "description": "age"},
    {"name": "sex", "unit": "code, 1 or 2", "description": "sex, as coded in the data set"},
    {"name": "bmi", "unit": "kg/m^2", "description": "body mass index"},
    {"name": "bp", "unit": "mm Hg", "description": "average blood pressure"},
    {"name": "s1", "unit": "mg/dL", "description": "tc: total serum cholesterol"},
    {"name": "s2", "unit": "mg/dL", "description": "ldl: low-density lipoproteins"},
    {"name": "s3", "unit": "mg/dL", "description": "hdl: high-density lipoproteins"},
    {"name": "s4", "unit": "ratio", "description": "tch: total cholesterol / HDL"},
    {"name": "s5", "unit": "log of mg/dL", "description": "ltg: natural log of serum triglycerides"},
    {"name": "s6", "unit": "mg/dL", "description": "glu: blood sugar level"},
]


def main():
    x, y = load_diabetes(return_X_y=True, scaled=False)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=42)
    regressor = LinearRegression().fit(x_train, y_train)
    predictions = regressor.predict(x_test)

    model = common.export(regressor, 10, "progression", "variable")
    metadata = {
        "id": "diabetes",
        "version": "1",
        "description": "Diabetes progression one year after baseline from ten measurements: linear regression.",
        "inputs": [common.tensor("input", 10, "one row per patient: the ten baseline measurements", features=FEATURES)],
        "outputs": [common.tensor(
            "progression", 1,
            "predicted disease progression one year after baseline (the data set's unitless score, 25 to 346 in the data)",
        )],
        "training": {
            "estimator": "sklearn.linear_model.LinearRegression()",
            "data": "Diabetes (442 patients, 10 baseline measurements, progression after one year)",
            "source": "Efron, Hastie, Johnstone, Tibshirani (2004), Least Angle Regression, via sklearn.datasets.load_diabetes(scaled=False)",
            "split": "75% train / 25% test, random_state=42",
            "rows_train": len(x_train),
            "rows_test": len(x_test),
            "script": "training/train_diabetes.py",
        },
        "metrics": {
            "test_r2": round(float(r2_score(y_test, predictions)), 6),
            "test_mae": round(float(mean_absolute_error(y_test, predictions)), 6),
            "test_rmse": round(float(np.sqrt(mean_squared_error(y_test, predictions))), 6),
        },
    }
    outputs = common.write_model("diabetes", model, metadata, x_test[:40])
    # float32 inputs in ONNX against float64 in scikit-learn: agree to a few 1e-4 on ~150.
    assert np.allclose(outputs[:, 0], predictions[:40], rtol=1e-4), "ONNX disagrees with scikit-learn"
    print("diabetes", metadata["metrics"])


if __name__ == "__main__":
    main()
