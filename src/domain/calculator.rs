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
    DivisionByZero,
    /// The operands were finite but the result overflowed to infinity.
    Overflow {
        /// The operation, for the message: `"addition"`, `"multiplication"` ...
        operation: &'static str,
    },
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
            CalcError::DivisionByZero => "b",
            CalcError::Overflow { .. } => "result",
            CalcError::NoPrimeFactorization(_) => "number",
            CalcError::EmptyStream => "stream",
        }
    }

    /// True when the request itself was malformed (INVALID_ARGUMENT); false when the
    /// operands were valid but the result falls outside what a double can hold
    /// (OUT_OF_RANGE).
    pub fn is_invalid_argument(&self) -> bool {
        !matches!(self, CalcError::Overflow { .. })
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
            CalcError::DivisionByZero => write!(f, "division by zero; b must not be 0"),
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
    let a = finite("a", a)?;
    let b = finite("b", b)?;
    let result = match op {
        BinaryOp::Add => a + b,
        BinaryOp::Subtract => a - b,
        BinaryOp::Multiply => a * b,
        BinaryOp::Divide if b == 0.0 => return Err(CalcError::DivisionByZero),
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
mod tests {
    use super::*;

    #[test]
    fn square_root_refuses_negative_and_non_finite() {
        assert_eq!(square_root(2.25), Ok(1.5));
        assert!(square_root(-0.0).unwrap().is_sign_negative());
        assert_eq!(square_root(-4.0), Err(CalcError::NegativeSquareRoot(-4.0)));
        let err = square_root(f64::NAN).unwrap_err();
        assert_eq!(err.field(), "value");
        assert!(err.to_string().contains("NaN"), "{err}");
        assert_eq!(square_root(f64::INFINITY).unwrap_err().field(), "value");
    }

    #[test]
    fn binary_operations() {
        assert_eq!(apply(BinaryOp::Add, 1.5, 2.0), Ok(3.5));
        assert_eq!(apply(BinaryOp::Subtract, 1.5, 2.0), Ok(-0.5));
        assert_eq!(apply(BinaryOp::Multiply, 1.5, 2.0), Ok(3.0));
        assert_eq!(apply(BinaryOp::Divide, 1.5, 2.0), Ok(0.75));
    }

    #[test]
    fn binary_operation_errors_name_the_field() {
        assert_eq!(
            apply(BinaryOp::Divide, 1.0, 0.0),
            Err(CalcError::DivisionByZero)
        );
        assert_eq!(
            apply(BinaryOp::Divide, 1.0, -0.0),
            Err(CalcError::DivisionByZero)
        );
        assert_eq!(CalcError::DivisionByZero.field(), "b");
        assert_eq!(
            apply(BinaryOp::Add, f64::NAN, 1.0).unwrap_err().field(),
            "a"
        );
        assert_eq!(
            apply(BinaryOp::Add, 1.0, f64::NEG_INFINITY)
                .unwrap_err()
                .field(),
            "b"
        );
        let overflow = apply(BinaryOp::Multiply, 1e200, 1e200).unwrap_err();
        assert!(!overflow.is_invalid_argument());
        assert!(overflow.to_string().contains("multiplication"));
    }

    #[test]
    fn prime_factors_in_increasing_order_with_repeats() {
        assert_eq!(prime_factors(12), Ok(vec![2, 2, 3]));
        assert_eq!(prime_factors(2), Ok(vec![2]));
        assert_eq!(prime_factors(1_000_000_007), Ok(vec![1_000_000_007]));
        // The largest u64: 3 * 5 * 17 * 257 * 641 * 65537 * 6700417.
        assert_eq!(
            prime_factors(u64::MAX),
            Ok(vec![3, 5, 17, 257, 641, 65537, 6_700_417])
        );
        // A semiprime of two 32-bit primes: trial division alone would take ~4e9 steps.
        assert_eq!(
            prime_factors(4_294_967_291 * 4_294_967_279),
            Ok(vec![4_294_967_279, 4_294_967_291])
        );
        assert_eq!(prime_factors(0), Err(CalcError::NoPrimeFactorization(0)));
        assert_eq!(prime_factors(1), Err(CalcError::NoPrimeFactorization(1)));
    }

    #[test]
    fn summary_of_a_stream() {
        let mut s = Summary::new();
        assert_eq!(s.finish(), Err(CalcError::EmptyStream));
        for v in [4.0, -2.0, 10.0, 0.0] {
            s.push(v).unwrap();
        }
        let stats = s.finish().unwrap();
        assert_eq!(stats.count, 4);
        assert_eq!(stats.mean, 3.0);
        assert_eq!(stats.min, -2.0);
        assert_eq!(stats.max, 10.0);
    }

    #[test]
    fn summary_mean_does_not_overflow() {
        let mut s = Summary::new();
        for _ in 0..1000 {
            s.push(f64::MAX).unwrap();
        }
        let stats = s.finish().unwrap();
        assert_eq!(stats.mean, f64::MAX);

        let mut s = Summary::new();
        for v in [f64::MAX, -f64::MAX, f64::MAX] {
            s.push(v).unwrap();
        }
        let mean = s.finish().unwrap().mean;
        assert!((mean - f64::MAX / 3.0).abs() / f64::MAX < 1e-12, "{mean}");
    }

    #[test]
    fn summary_refuses_non_finite_and_keeps_what_it_had() {
        let mut s = Summary::new();
        s.push(1.0).unwrap();
        let err = s.push(f64::NAN).unwrap_err();
        assert!(matches!(err, CalcError::NotFinite { index: Some(1), .. }));
        assert_eq!(s.finish().unwrap().count, 1);
    }

    #[test]
    fn running_max() {
        let mut m = RunningMax::new();
        let maxima: Vec<_> = [3.0, 1.0, 4.0, 1.0, 5.0, -9.0]
            .into_iter()
            .map(|v| m.push(v).unwrap())
            .collect();
        assert_eq!(maxima, [3.0, 3.0, 4.0, 4.0, 5.0, 5.0]);
        assert!(m.push(f64::INFINITY).is_err());
        assert_eq!(m.push(0.0), Ok(5.0));
    }
}
