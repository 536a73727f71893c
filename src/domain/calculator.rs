//! Arithmetic: the domain behind `calculator.Calculator`.
//!
//! Every function takes and returns IEEE 754 doubles and refuses what a calculator
//! user would call a mistake: non-finite operands, the square root of a negative
//! number, division by zero, a result that overflows. Each refusal is a
//! [`CalcError`] naming the request field at fault, which the gRPC adapter turns into
//! INVALID_ARGUMENT (or OUT_OF_RANGE) with a `google.rpc.BadRequest` detail.

use std::{cmp::Ordering, fmt};

/// What was wrong with a calculator request.
#[derive(Debug, Clone, PartialEq)]
pub enum CalcError {
    /// An operand was NaN or infinite.
    NotFinite {
        /// The request field that held it: `"value"`, `"a"` or `"b"`.
        field: &'static str,
        /// The offending value.
        value: f64,
        /// Its position in a stream of numbers, counting from 0; `None` for unary calls.
        index: Option<u64>,
    },
    /// The square root of a negative number was asked for.
    NegativeSquareRoot(f64),
    /// The divisor was zero (either sign).
    DivisionByZero {
        /// The request field that held it: `"b"`, or `"value2"` in seed 003's form.
        field: &'static str,
    },
    /// The operands were finite but the result overflowed to infinity.
    Overflow {
        /// The operation, for the message: `"addition"`, `"multiplication"` ...
        operation: &'static str,
    },
    /// The result is finite as a double but beyond the largest float (seed 003's
    /// `Calculator` answers in single precision).
    FloatOverflow(f64),
    /// 0 and 1 have no prime factorization.
    NoPrimeFactorization(u64),
    /// A client stream ended without sending a single number.
    EmptyStream,
}

impl CalcError {
    /// The request field at fault, as named in `calculator.proto`.
    pub fn field(&self) -> &'static str {
        match self {
            CalcError::NotFinite { field, .. } => field,
            CalcError::NegativeSquareRoot(_) => "value",
            CalcError::DivisionByZero { field } => field,
            CalcError::Overflow { .. } | CalcError::FloatOverflow(_) => "result",
            CalcError::NoPrimeFactorization(_) => "number",
            CalcError::EmptyStream => "stream",
        }
    }

    /// True when the request itself was malformed (INVALID_ARGUMENT); false when the
    /// operands were valid but the result falls outside what a double can hold
    /// (OUT_OF_RANGE).
    pub fn is_invalid_argument(&self) -> bool {
        !matches!(
            self,
            CalcError::Overflow { .. } | CalcError::FloatOverflow(_)
        )
    }
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalcError::NotFinite {
                field,
                value,
                index: None,
            } => write!(f, "{field} is {value}; only finite numbers are allowed"),
            CalcError::NotFinite {
                field,
                value,
                index: Some(i),
            } => write!(
                f,
                "{field} of message {i} (counting from 0) is {value}; only finite numbers are allowed"
            ),
            CalcError::NegativeSquareRoot(v) => write!(
                f,
                "cannot take the square root of the negative number {v}; value must be >= 0"
            ),
            CalcError::DivisionByZero { field } => {
                write!(f, "division by zero; {field} must not be 0")
            }
            CalcError::FloatOverflow(v) => write!(
                f,
                "the result {v:e} does not fit a float: it is beyond +/-{:e}",
                f32::MAX
            ),
            CalcError::Overflow { operation } => write!(
                f,
                "the {operation} overflows: the result is beyond +/-1.7976931348623157e308"
            ),
            CalcError::NoPrimeFactorization(n) => write!(
                f,
                "{n} has no prime factorization; number must be at least 2"
            ),
            CalcError::EmptyStream => write!(f, "the stream held no number; send at least one"),
        }
    }
}

impl std::error::Error for CalcError {}

/// Checks that `value`, from request field `field`, is finite.
pub fn finite(field: &'static str, value: f64) -> Result<f64, CalcError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(CalcError::NotFinite {
            field,
            value,
            index: None,
        })
    }
}

/// The square root of `value`.
///
/// # Errors
/// [`CalcError::NotFinite`] or [`CalcError::NegativeSquareRoot`]. -0.0 is allowed
/// and gives -0.0, as IEEE 754 says.
pub fn square_root(value: f64) -> Result<f64, CalcError> {
    let value = finite("value", value)?;
    if value < 0.0 {
        return Err(CalcError::NegativeSquareRoot(value));
    }
    Ok(value.sqrt())
}

/// The four binary operations of `calculator.Calculator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// a + b
    Add,
    /// a - b
    Subtract,
    /// a * b
    Multiply,
    /// a / b
    Divide,
}

impl BinaryOp {
    fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "addition",
            BinaryOp::Subtract => "subtraction",
            BinaryOp::Multiply => "multiplication",
            BinaryOp::Divide => "division",
        }
    }
}

/// `a op b`.
///
/// # Errors
/// [`CalcError::NotFinite`] for a non-finite operand, [`CalcError::DivisionByZero`],
/// [`CalcError::Overflow`] when finite operands give an infinite result.
pub fn apply(op: BinaryOp, a: f64, b: f64) -> Result<f64, CalcError> {
    apply_named(op, ("a", a), ("b", b))
}

/// `a (op) b` as [`apply`] computes it, with the operands' fields named as the
/// request names them (`("value1", a)`, `("value2", b)` in seed 003's form), for the
/// errors.
///
/// # Errors
/// As [`apply`], naming the given fields.
pub fn apply_named(
    op: BinaryOp,
    (a_field, a): (&'static str, f64),
    (b_field, b): (&'static str, f64),
) -> Result<f64, CalcError> {
    let a = finite(a_field, a)?;
    let b = finite(b_field, b)?;
    let result = match op {
        BinaryOp::Add => a + b,
        BinaryOp::Subtract => a - b,
        BinaryOp::Multiply => a * b,
        BinaryOp::Divide if b == 0.0 => return Err(CalcError::DivisionByZero { field: b_field }),
        BinaryOp::Divide => a / b,
    };
    if result.is_finite() {
        Ok(result)
    } else {
        Err(CalcError::Overflow {
            operation: op.name(),
        })
    }
}

/// `result` rounded to the nearest float (IEEE 754 round-to-nearest, as Rust's `as`
/// does), for seed 003's `Calculator`, whose numbers are floats.
///
/// # Errors
/// [`CalcError::FloatOverflow`] when `result` is beyond +/-[`f32::MAX`]: rounding
/// would make it infinite.
pub fn to_float(result: f64) -> Result<f32, CalcError> {
    let single = result as f32;
    if single.is_finite() || !result.is_finite() {
        Ok(single)
    } else {
        Err(CalcError::FloatOverflow(result))
    }
}

/// The prime factors of `number` in increasing order, each repeated as often as it
/// divides (`12` gives `[2, 2, 3]`).
///
/// Factoring is done by the `num-prime` crate (trial division, then Pollard's rho and
/// SQUFOF), which handles any `u64` in milliseconds.
///
/// # Errors
/// [`CalcError::NoPrimeFactorization`] for 0 and 1.
pub fn prime_factors(number: u64) -> Result<Vec<u64>, CalcError> {
    if number < 2 {
        return Err(CalcError::NoPrimeFactorization(number));
    }
    // factorize64 returns a BTreeMap, so the primes come out in increasing order.
    Ok(num_prime::nt_funcs::factorize64(number)
        .into_iter()
        .flat_map(|(prime, exponent)| std::iter::repeat_n(prime, exponent))
        .collect())
}

/// Count, mean, minimum and maximum of a stream of numbers, built one number at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    count: u64,
    mean: f64,
    min: f64,
    max: f64,
}

/// The finished statistics of a non-empty stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// How many numbers were seen (at least 1).
    pub count: u64,
    /// Their arithmetic mean.
    pub mean: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one number.
    ///
    /// The mean is updated with Welford's recurrence, `mean += (x - mean) / n`
    /// (B. P. Welford, Technometrics 4(3), 1962), with the difference taken on halves,
    /// `((x/2 - mean/2) / n) * 2`: halving a double is exact (but for subnormals), and
    /// every intermediate stays within +/-f64::MAX, so unlike a running sum it cannot
    /// overflow, whatever the values and the count.
    ///
    /// # Errors
    /// [`CalcError::NotFinite`] (field `"value"`, with the number's position); the
    /// summary is unchanged.
    pub fn push(&mut self, value: f64) -> Result<(), CalcError> {
        if !value.is_finite() {
            return Err(CalcError::NotFinite {
                field: "value",
                value,
                index: Some(self.count),
            });
        }
        self.count += 1;
        if self.count == 1 {
            self.mean = value;
            self.min = value;
            self.max = value;
        } else {
            let n = self.count as f64;
            let half_delta = value / 2.0 - self.mean / 2.0;
            self.mean += (half_delta / n) * 2.0;
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        Ok(())
    }

    /// The statistics of the numbers pushed so far.
    ///
    /// # Errors
    /// [`CalcError::EmptyStream`] when no number was pushed.
    pub fn finish(&self) -> Result<Stats, CalcError> {
        if self.count == 0 {
            return Err(CalcError::EmptyStream);
        }
        Ok(Stats {
            count: self.count,
            mean: self.mean,
            min: self.min,
            max: self.max,
        })
    }
}

/// The maximum of a stream of numbers so far.
#[derive(Debug, Clone, Default)]
pub struct RunningMax {
    max: Option<f64>,
    seen: u64,
}

impl RunningMax {
    /// A running maximum that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` and returns the maximum of everything added so far.
    ///
    /// # Errors
    /// [`CalcError::NotFinite`] (field `"value"`, with the number's position); the
    /// maximum is unchanged.
    pub fn push(&mut self, value: f64) -> Result<f64, CalcError> {
        if !value.is_finite() {
            return Err(CalcError::NotFinite {
                field: "value",
                value,
                index: Some(self.seen),
            });
        }
        self.seen += 1;
        let max = match self.max {
            // total_cmp orders -0.0 below +0.0, so the maximum of the two is +0.0.
            Some(current) if current.total_cmp(&value) != Ordering::Less => current,
            _ => value,
        };
        self.max = Some(max);
        Ok(max)
    }
}

#[cfg(test)]
mod tests;
