//! Unit tests of the calculator's arithmetic and errors.

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
fn results_round_to_float_or_are_out_of_range() {
    assert_eq!(to_float(4.0), Ok(4.0));
    assert_eq!(to_float(0.1), Ok(0.1_f32));
    assert_eq!(to_float(f64::from(f32::MAX)), Ok(f32::MAX));
    let err = to_float(1e39).unwrap_err();
    assert_eq!(err, CalcError::FloatOverflow(1e39));
    assert!(!err.is_invalid_argument());
    assert_eq!(err.field(), "result");
    assert_eq!(to_float(-1e39), Err(CalcError::FloatOverflow(-1e39)));
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
        Err(CalcError::DivisionByZero { field: "b" })
    );
    assert_eq!(
        apply(BinaryOp::Divide, 1.0, -0.0),
        Err(CalcError::DivisionByZero { field: "b" })
    );
    let seed = apply_named(BinaryOp::Divide, ("value1", 1.0), ("value2", 0.0)).unwrap_err();
    assert_eq!(seed.field(), "value2");
    assert_eq!(seed.to_string(), "division by zero; value2 must not be 0");
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
