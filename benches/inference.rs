//! The in-process cost of one prediction, without gRPC: feature extraction and tract.
//!
//! `cargo bench --bench inference`. Numbers are in BENCHMARKS.md.

use std::{hint::black_box, path::Path};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use grpc_showcase::{
    domain::fraud::{self, Transaction},
    domain::models::ModelRegistry,
};

fn inference(c: &mut Criterion) {
    let registry =
        ModelRegistry::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models")));
    let fraud_model = registry.get("fraud").expect("fraud model");
    let digits = registry.get("digits").expect("digits model");

    let transaction = Transaction {
        transaction_id: 1,
        amount: 1899.0,
        time: 1_749_956_400,
        age_of_account: 3,
        number_of_transactions: 1,
    };
    let mut group = c.benchmark_group("in_process");
    group.throughput(Throughput::Elements(1));
    group.bench_function("fraud/features_only", |b| {
        b.iter(|| fraud::features(black_box(&transaction)).unwrap())
    });
    group.bench_function("fraud/score_1_row", |b| {
        b.iter(|| fraud::score(fraud_model, black_box(&transaction)).unwrap())
    });
    let features = fraud::features(&transaction).unwrap();
    let fraud_batch: Vec<f64> = features.iter().copied().cycle().take(5 * 64).collect();
    let digit: Vec<f64> = (0..64).map(|i| f64::from(i % 17)).collect();
    let digits_batch: Vec<f64> = digit.iter().copied().cycle().take(64 * 64).collect();
    group.bench_function("digits/predict_1_row", |b| {
        b.iter(|| digits.predict(black_box(&digit)).unwrap())
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("fraud/predict_64_rows", |b| {
        b.iter(|| fraud_model.predict(black_box(&fraud_batch)).unwrap())
    });
    group.bench_function("digits/predict_64_rows", |b| {
        b.iter(|| digits.predict(black_box(&digits_batch)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, inference);
criterion_main!(benches);
