//! Consumer feedback: the domain behind `feedback.FeedbackService`.
//!
//! [`validate`] checks a feedback, [`analyze`] gives its sentiment with VADER
//! (Hutto & Gilbert, 2014, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis
//! of Social Media Text", ICWSM-14), [`reply`] words the answer, and [`FeedbackStore`]
//! stores feedback durably, in SQLite or PostgreSQL, and tells watchers about it.

pub mod store;

use std::fmt;

pub use store::{FeedbackStore, ListQuery, Page, StoreError, StoreLocation, WatchEvent};

/// The longest consumer id, in bytes.
pub const MAX_CONSUMER_ID_BYTES: usize = 128;
/// The longest feedback text, in bytes.
pub const MAX_FEEDBACK_BYTES: usize = 4096;

/// A feedback's sentiment, from VADER's compound score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sentiment {
    /// Compound score 0.05 or more.
    Positive,
    /// Between -0.05 and 0.05.
    Neutral,
    /// Compound score -0.05 or less.
    Negative,
}

impl Sentiment {
    /// The label used in the proto and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Positive => "positive",
            Sentiment::Neutral => "neutral",
            Sentiment::Negative => "negative",
        }
    }

    /// The sentiment of a label; `None` for anything else.
    pub fn parse(label: &str) -> Option<Self> {
        match label {
            "positive" => Some(Sentiment::Positive),
            "neutral" => Some(Sentiment::Neutral),
            "negative" => Some(Sentiment::Negative),
            _ => None,
        }
    }

    /// The label of a VADER compound score, with the thresholds of the VADER paper.
    pub fn from_score(compound: f64) -> Self {
        if compound >= 0.05 {
            Sentiment::Positive
        } else if compound <= -0.05 {
            Sentiment::Negative
        } else {
            Sentiment::Neutral
        }
    }
}

/// Why a feedback was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFeedback {
    /// The field at fault: `"consumer_id"` or `"feedback"`.
    pub field: &'static str,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for InvalidFeedback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidFeedback {}

/// Checks a feedback: both fields non-blank and within their limits in bytes.
///
/// # Errors
/// [`InvalidFeedback`] naming the field.
pub fn validate(consumer_id: &str, feedback: &str) -> Result<(), InvalidFeedback> {
    for (field, value, max) in [
        ("consumer_id", consumer_id, MAX_CONSUMER_ID_BYTES),
        ("feedback", feedback, MAX_FEEDBACK_BYTES),
    ] {
        if value.trim().is_empty() {
            return Err(InvalidFeedback {
                field,
                message: format!("{field} is empty; it must hold some text"),
            });
        }
        if value.len() > max {
            return Err(InvalidFeedback {
                field,
                message: format!(
                    "{field} is {} bytes; at most {max} are allowed",
                    value.len()
                ),
            });
        }
    }
    Ok(())
}

/// The sentiment of a text and VADER's compound score, in [-1, 1].
pub fn analyze(text: &str) -> (Sentiment, f64) {
    // The VADER port (vader-sentimental 0.1.3) indexes tokens; any panic in it must not
    // take a call down with it: such a text counts as neutral.
    let compound = std::panic::catch_unwind(|| {
        vader_sentimental::SentimentIntensityAnalyzer::new()
            .polarity_scores(text)
            .compound
    })
    .unwrap_or_else(|_| {
        tracing::warn!("sentiment analysis failed on a text; scored as neutral");
        0.0
    });
    let compound = if compound.is_finite() {
        compound.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    (Sentiment::from_score(compound), compound)
}

/// The reply to a stored feedback, worded after its sentiment.
pub fn reply(consumer_id: &str, id: i64, sentiment: Sentiment) -> String {
    match sentiment {
        Sentiment::Positive => {
            format!("Thank you for the kind words, {consumer_id}! (feedback #{id})")
        }
        Sentiment::Neutral => {
            format!("Thank you for your feedback, {consumer_id}. (feedback #{id})")
        }
        Sentiment::Negative => format!(
            "We are sorry to hear that, {consumer_id}; your feedback #{id} goes to our team."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        assert!(validate("alice", "Great service").is_ok());
        assert_eq!(validate("", "x").unwrap_err().field, "consumer_id");
        assert_eq!(validate("alice", "  \n").unwrap_err().field, "feedback");
        let long = "x".repeat(MAX_FEEDBACK_BYTES + 1);
        let err = validate("alice", &long).unwrap_err();
        assert_eq!(err.field, "feedback");
        assert!(err.message.contains("4097 bytes"), "{err}");
        assert!(validate("alice", &long[1..]).is_ok());
        assert_eq!(
            validate(&"c".repeat(129), "x").unwrap_err().field,
            "consumer_id"
        );
    }

    #[test]
    fn sentiment_follows_vader() {
        let (label, score) = analyze("The delivery was fast and the staff were wonderful!");
        assert_eq!(label, Sentiment::Positive, "{score}");
        let (label, score) = analyze("Terrible. The package arrived broken and support was rude.");
        assert_eq!(label, Sentiment::Negative, "{score}");
        let (label, _) = analyze("The parcel arrived on Tuesday.");
        assert_eq!(label, Sentiment::Neutral);
        // Texts without words, or odd ones, still get a score.
        for odd in [
            "!!!", "😀😀", "🙁", "   x", "but", "kind of", "\u{0}", "not",
        ] {
            let (_, score) = analyze(odd);
            assert!((-1.0..=1.0).contains(&score), "{odd:?}: {score}");
        }
    }

    #[test]
    fn labels_round_trip() {
        for s in [Sentiment::Positive, Sentiment::Neutral, Sentiment::Negative] {
            assert_eq!(Sentiment::parse(s.as_str()), Some(s));
        }
        assert_eq!(Sentiment::parse("happy"), None);
        assert_eq!(Sentiment::from_score(0.05), Sentiment::Positive);
        assert_eq!(Sentiment::from_score(-0.049), Sentiment::Neutral);
    }
}
