//! Fraud scoring: the domain behind `fraud_detection.FraudDetectionService`.
//!
//! A transaction becomes the five features the fraud model was trained on, computed
//! exactly as `training/train_fraud.py` computes them (same operations in the same
//! order, in float64, then cast to float32 by the model), and the model's probability
//! of fraud is compared with the threshold from its metadata.

use std::{f64::consts::PI, fmt};

use crate::domain::models::{LoadedModel, ModelError};

/// Seconds in a day, for the hour of day.
const SECONDS_PER_DAY: i64 = 86_400;

/// One card transaction, as `PredictionRequest` carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transaction {
    /// The caller's id for the transaction.
    pub transaction_id: i64,
    /// US dollars, 0 or more.
    pub amount: f64,
    /// Unix time, seconds.
    pub time: i64,
    /// Age of the paying account, whole days, 0 or more.
    pub age_of_account: i32,
    /// The account's transactions in the 24 hours before this one, 0 or more.
    pub number_of_transactions: i32,
}

/// A transaction's features, in the model's column order: `ln(1 + amount)`,
/// `sin(2*pi*hour/24)`, `cos(2*pi*hour/24)` with `hour = (time mod 86400) / 3600`
/// (UTC, fractional), `ln(1 + age_of_account)`, `ln(1 + number_of_transactions)`.
pub type Features = [f64; 5];

/// Why a transaction could not be scored.
#[derive(Debug, Clone, PartialEq)]
pub enum FraudError {
    /// A field is out of its range.
    InvalidField {
        /// The field, as named in `fraud_detection.proto`.
        field: &'static str,
        /// What was wrong and what is allowed.
        message: String,
    },
    /// The fraud model has no decision threshold in its metadata.
    NoThreshold,
    /// The model could not run.
    Model(ModelError),
}

impl fmt::Display for FraudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FraudError::InvalidField { message, .. } => f.write_str(message),
            FraudError::NoThreshold => {
                f.write_str("the fraud model's metadata has no decision threshold")
            }
            FraudError::Model(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for FraudError {}

/// The features of `transaction`.
///
/// # Errors
/// [`FraudError::InvalidField`] for an amount that is negative, NaN or infinite, or a
/// negative age_of_account or number_of_transactions.
pub fn features(transaction: &Transaction) -> Result<Features, FraudError> {
    let Transaction {
        amount,
        time,
        age_of_account,
        number_of_transactions,
        ..
    } = *transaction;
    if !amount.is_finite() || amount < 0.0 {
        return Err(FraudError::InvalidField {
            field: "amount",
            message: format!(
                "amount is {amount}; it must be a finite number of US dollars, 0 or more"
            ),
        });
    }
    if age_of_account < 0 {
        return Err(FraudError::InvalidField {
            field: "age_of_account",
            message: format!("age_of_account is {age_of_account}; it must be 0 or more days"),
        });
    }
    if number_of_transactions < 0 {
        return Err(FraudError::InvalidField {
            field: "number_of_transactions",
            message: format!(
                "number_of_transactions is {number_of_transactions}; it must be 0 or more"
            ),
        });
    }
    // numpy's np.mod on integers is a floored modulo, as rem_euclid is.
    let hour = time.rem_euclid(SECONDS_PER_DAY) as f64 / 3600.0;
    let angle = 2.0 * PI * hour / 24.0;
    Ok([
        amount.ln_1p(),
        angle.sin(),
        angle.cos(),
        f64::from(age_of_account).ln_1p(),
        f64::from(number_of_transactions).ln_1p(),
    ])
}

/// The fraud model's verdict on one transaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The probability of fraud, in [0, 1].
    pub probability: f64,
    /// `probability >= threshold`.
    pub fraudulent: bool,
    /// The threshold from the model's metadata.
    pub threshold: f64,
}

/// Scores `transaction` with `model`, whose output column 1 is the probability of fraud.
///
/// # Errors
/// [`FraudError`] for an invalid field, a model without a threshold, or a model failure.
pub fn score(model: &LoadedModel, transaction: &Transaction) -> Result<Verdict, FraudError> {
    let threshold = threshold(model)?;
    let features = features(transaction)?;
    let prediction = model.predict(&features).map_err(FraudError::Model)?;
    verdict(&prediction.outputs, threshold)
}

/// The decision threshold in `model`'s metadata.
///
/// # Errors
/// [`FraudError::NoThreshold`] when the metadata has none.
pub fn threshold(model: &LoadedModel) -> Result<f64, FraudError> {
    model.card().threshold.ok_or(FraudError::NoThreshold)
}

/// The verdict from the fraud model's output row for one transaction (column 1, the
/// probability of fraud), at `threshold`. [`score`] is [`features`], the model, then
/// this; the gRPC service runs the model through a [`crate::domain::models::Batcher`] between.
///
/// # Errors
/// [`FraudError::Model`] for an output row without a column 1.
pub fn verdict(output: &[f64], threshold: f64) -> Result<Verdict, FraudError> {
    let probability = output
        .get(1)
        .copied()
        .ok_or_else(|| FraudError::Model(ModelError::Inference("no fraud column".into())))?
        // Trees sum float32 leaf values: keep the probability inside [0, 1].
        .clamp(0.0, 1.0);
    Ok(Verdict {
        probability,
        fraudulent: probability >= threshold,
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde::Deserialize;

    use super::*;
    use crate::domain::models::ModelRegistry;

    #[derive(Deserialize)]
    struct Request {
        transaction_id: i64,
        amount: f64,
        time: i64,
        age_of_account: i32,
        number_of_transactions: i32,
    }

    #[derive(Deserialize)]
    struct Reference {
        requests: Vec<Request>,
        features_float64: Vec<Vec<f64>>,
        outputs: Vec<Vec<f64>>,
        threshold: f64,
    }

    fn reference() -> Reference {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/fraud/reference.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn transaction(r: &Request) -> Transaction {
        Transaction {
            transaction_id: r.transaction_id,
            amount: r.amount,
            time: r.time,
            age_of_account: r.age_of_account,
            number_of_transactions: r.number_of_transactions,
        }
    }

    #[test]
    fn features_match_the_training_script() {
        let reference = reference();
        for (request, expected) in reference.requests.iter().zip(&reference.features_float64) {
            let features = features(&transaction(request)).unwrap();
            for (got, want) in features.iter().zip(expected) {
                // Same operations as numpy; libm and numpy may differ in the last bit.
                assert!(
                    (got - want).abs() <= 1e-12,
                    "{got} vs {want} for {}",
                    request.transaction_id
                );
            }
        }
    }

    #[test]
    fn scores_match_onnxruntime_on_the_script_features() {
        let models =
            ModelRegistry::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models")));
        let model = models.get("fraud").unwrap();
        let reference = reference();
        for (request, expected) in reference.requests.iter().zip(&reference.outputs) {
            let verdict = score(model, &transaction(request)).unwrap();
            assert!(
                (verdict.probability - expected[1]).abs() <= 1e-5,
                "{verdict:?} vs {expected:?}"
            );
            assert_eq!(verdict.threshold, reference.threshold);
            assert_eq!(
                verdict.fraudulent,
                verdict.probability >= reference.threshold
            );
        }
    }

    #[test]
    fn invalid_fields_are_named() {
        let valid = Transaction {
            transaction_id: 1,
            amount: 10.0,
            time: 0,
            age_of_account: 1,
            number_of_transactions: 0,
        };
        assert!(features(&valid).is_ok());
        let field = |t: Transaction| match features(&t) {
            Err(FraudError::InvalidField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(Transaction {
                amount: -0.01,
                ..valid
            }),
            "amount"
        );
        assert_eq!(
            field(Transaction {
                amount: f64::NAN,
                ..valid
            }),
            "amount"
        );
        assert_eq!(
            field(Transaction {
                amount: f64::INFINITY,
                ..valid
            }),
            "amount"
        );
        assert_eq!(
            field(Transaction {
                age_of_account: -1,
                ..valid
            }),
            "age_of_account"
        );
        assert_eq!(
            field(Transaction {
                number_of_transactions: -5,
                ..valid
            }),
            "number_of_transactions"
        );
    }

    #[test]
    fn hour_of_day_wraps_like_numpy() {
        let at = |time| {
            features(&Transaction {
                transaction_id: 0,
                amount: 0.0,
                time,
                age_of_account: 0,
                number_of_transactions: 0,
            })
            .unwrap()
        };
        // One hour before the epoch is 23:00 UTC, as numpy's floored modulo says.
        assert_eq!(at(-3600), at(23 * 3600));
        assert_eq!(at(86_400 + 6 * 3600), at(6 * 3600));
        assert!((at(6 * 3600)[1] - 1.0).abs() < 1e-15, "06:00 is sin = 1");
    }
}
