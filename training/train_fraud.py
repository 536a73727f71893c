"""fraud: a multilayer perceptron on seeded synthetic card transactions.

No real fraud data ships with scikit-learn, so the transactions are generated here, with
fields exactly those of fraud_detection.PredictionRequest. The generator's assumptions:

  time                    uniform over 2025 (Unix seconds, UTC)
  amount                  log-normal, median 40 USD (mu = ln 40, sigma = 1.0), rounded to cents
  age_of_account          log-normal, median 400 days (mu = ln 400, sigma = 1.2), whole days,
                          at most 7300 (20 years)
  number_of_transactions  Poisson(2): the account's transactions in the 24 hours before this one

  fraud                   Bernoulli(sigmoid(logit)), with
      logit = -4.6
              + 0.8 * (ln(1 + amount) - ln(41))      larger amounts are riskier
              + 1.2 * [hour of day (UTC) < 6]         night-time transactions
              + 1.6 * [age_of_account < 30 days]      new accounts
              + 0.45 * max(0, number_of_transactions - 3)   bursts of activity

  which gives a base rate of about 2% (the exact rate is in model.json).

Features (the server computes exactly these, in src/fraud.rs):
  log_amount            ln(1 + amount)
  hour_sin, hour_cos    sin and cos of 2*pi*hour/24, hour = (time mod 86400) / 3600 (UTC)
  log_account_age       ln(1 + age_of_account)
  log_transactions      ln(1 + number_of_transactions)

Split: 60% train, 20% validation (to choose the decision threshold that maximizes F1),
20% test (the metrics in model.json).

Why an MLP and not trees: gradient-boosted trees (100 x depth 3) scored about as well on
this data (test ROC AUC 0.760 against the MLP's 0.767), but tract-onnx-opl 0.23.9 runs
TreeEnsembleClassifier in about 1 ms per row for such a model: its eval_unchecked
(src/ml/tree.rs) reaches each tree's leaf through outer_iter().skip(start_id), a linear walk
over every earlier leaf. The MLP runs in microseconds.
"""

import common  # noqa: F401 (first: it pins BLAS to one thread before numpy loads)
import numpy as np
from sklearn.metrics import (
    average_precision_score, f1_score, log_loss, precision_recall_curve, precision_score,
    recall_score, roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 2024
ROWS = 60_000
START_2025 = 1_735_689_600  # 2025-01-01T00:00:00Z
START_2026 = 1_767_225_600  # 2026-01-01T00:00:00Z

FEATURES = [
    {"name": "log_amount", "unit": "ln(USD)", "description": "ln(1 + amount)"},
    {"name": "hour_sin", "unit": "-1 to 1", "description": "sin(2*pi*hour/24), hour = (time mod 86400) / 3600, UTC"},
    {"name": "hour_cos", "unit": "-1 to 1", "description": "cos(2*pi*hour/24)"},
    {"name": "log_account_age", "unit": "ln(days)", "description": "ln(1 + age_of_account)"},
    {"name": "log_transactions", "unit": "ln(count)", "description": "ln(1 + number_of_transactions)"},
]


def extract_features(amount, time, age_of_account, number_of_transactions):
    """The model's input rows (float64, before the cast to float32) for arrays of requests."""
    amount = np.asarray(amount, dtype=np.float64)
    time = np.asarray(time, dtype=np.int64)
    hour = np.mod(time, 86_400).astype(np.float64) / 3600.0
    angle = 2.0 * np.pi * hour / 24.0
    return np.column_stack([
        np.log1p(amount),
        np.sin(angle),
        np.cos(angle),
        np.log1p(np.asarray(age_of_account, dtype=np.float64)),
        np.log1p(np.asarray(number_of_transactions, dtype=np.float64)),
    ])


def generate(rng, rows):
    time = rng.integers(START_2025, START_2026, size=rows)
    amount = np.round(rng.lognormal(mean=np.log(40.0), sigma=1.0, size=rows), 2)
    age = np.minimum(np.floor(rng.lognormal(mean=np.log(400.0), sigma=1.2, size=rows)), 7300).astype(np.int64)
    transactions = rng.poisson(2.0, size=rows)
    hour = np.mod(time, 86_400) / 3600.0
    logit = (
        -4.6
        + 0.8 * (np.log1p(amount) - np.log(41.0))
        + 1.2 * (hour < 6)
        + 1.6 * (age < 30)
        + 0.45 * np.maximum(0, transactions - 3)
    )
    fraud = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))
    return amount, time, age, transactions, fraud.astype(np.int64)


def main():
    rng = np.random.default_rng(SEED)
    amount, time, age, transactions, fraud = generate(rng, ROWS)
    x = extract_features(amount, time, age, transactions)
    index = np.arange(ROWS)
    train, rest = train_test_split(index, test_size=0.4, stratify=fraud, random_state=SEED)
    validation, test = train_test_split(rest, test_size=0.5, stratify=fraud[rest], random_state=SEED)

    clf = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(32, 16), alpha=1e-2, batch_size=256, max_iter=300, random_state=SEED
        ),
    ).fit(x[train], fraud[train])

    # The threshold that maximizes F1 on the validation split.
    precision, recall, thresholds = precision_recall_curve(fraud[validation], clf.predict_proba(x[validation])[:, 1])
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    threshold = round(float(thresholds[np.argmax(f1)]), 4)

    p_test = clf.predict_proba(x[test])[:, 1]
    predicted = p_test >= threshold
    metrics = {
        "base_rate": round(float(fraud.mean()), 6),
        "test_roc_auc": round(float(roc_auc_score(fraud[test], p_test)), 6),
        "test_average_precision": round(float(average_precision_score(fraud[test], p_test)), 6),
        "test_log_loss": round(float(log_loss(fraud[test], p_test)), 6),
        "test_precision_at_threshold": round(float(precision_score(fraud[test], predicted)), 6),
        "test_recall_at_threshold": round(float(recall_score(fraud[test], predicted)), 6),
        "test_f1_at_threshold": round(float(f1_score(fraud[test], predicted)), 6),
    }

    model = common.export(clf, len(FEATURES), "probabilities", "probabilities")
    metadata = {
        "id": "fraud",
        "version": "1",
        "description": "Probability that a card transaction is fraudulent: standardization + MLP (32 and 16 ReLU units) on five features.",
        "inputs": [common.tensor(
            "input", len(FEATURES),
            "one row per transaction: the features fraud_detection.FraudDetectionService extracts",
            features=FEATURES,
        )],
        "outputs": [common.tensor(
            "probabilities", 2,
            "the probability of legitimate (column 0) and fraudulent (column 1); each row sums to 1",
            labels=["legitimate", "fraudulent"],
        )],
        "threshold": threshold,
        "threshold_rule": "predicted_label = fraud probability >= threshold; the threshold maximizes F1 on the validation split",
        "training": {
            "estimator": f"make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32, 16), alpha=1e-2, batch_size=256, max_iter=300, random_state={SEED}))",
            "data": f"{ROWS} synthetic transactions (see generator)",
            "source": "generated by training/train_fraud.py, numpy.random.default_rng(2024)",
            "generator": {
                "time": "uniform over 2025, Unix seconds UTC",
                "amount": "log-normal USD, median 40 (mu = ln 40, sigma = 1.0), rounded to cents",
                "age_of_account": "log-normal days, median 400 (mu = ln 400, sigma = 1.2), whole days, at most 7300",
                "number_of_transactions": "Poisson(2), transactions in the 24 hours before this one",
                "fraud": "Bernoulli(sigmoid(-4.6 + 0.8*(ln(1+amount) - ln 41) + 1.2*[hour < 6] + 1.6*[age_of_account < 30] + 0.45*max(0, number_of_transactions - 3)))",
            },
            "split": "60% train / 20% validation (threshold) / 20% test, stratified, random_state=2024",
            "rows_train": len(train),
            "rows_validation": len(validation),
            "rows_test": len(test),
            "script": "training/train_fraud.py",
        },
        "metrics": metrics,
    }

    # Reference requests: test transactions, plus edges of the valid input range.
    chosen = test[:40]
    requests = [
        {"transaction_id": int(1000 + i), "amount": float(amount[j]), "time": int(time[j]),
         "age_of_account": int(age[j]), "number_of_transactions": int(transactions[j])}
        for i, j in enumerate(chosen)
    ]
    requests += [
        {"transaction_id": 1, "amount": 0.0, "time": 0, "age_of_account": 0, "number_of_transactions": 0},
        {"transaction_id": 2, "amount": 1_000_000.0, "time": START_2026 - 1, "age_of_account": 7300, "number_of_transactions": 50},
        {"transaction_id": 3, "amount": 2500.0, "time": START_2025 + 3 * 3600, "age_of_account": 2, "number_of_transactions": 12},
        {"transaction_id": 4, "amount": 12.5, "time": -3600, "age_of_account": 3650, "number_of_transactions": 1},
    ]
    features = extract_features(
        [r["amount"] for r in requests], [r["time"] for r in requests],
        [r["age_of_account"] for r in requests], [r["number_of_transactions"] for r in requests],
    )
    outputs = common.write_model(
        "fraud", model, metadata, features,
        extra_reference={
            "requests": requests,
            "features_float64": [[float(v) for v in row] for row in features],
            "threshold": threshold,
        },
    )
    assert np.allclose(outputs[:, 1], clf.predict_proba(features)[:, 1], atol=1e-5), "ONNX disagrees with scikit-learn"
    print("fraud", {"threshold": threshold, **metrics})


if __name__ == "__main__":
    main()
