//! The in-process cost of the edge's per-request work: checking a bearer token (SHA-256
//! and constant-time comparison with every known token) and parsing the REST gateway's
//! JSON body.
//!
//! `cargo bench --bench edge`. Numbers are in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use grpc_showcase::{domain::auth::Tokens, server::gateway::json};

fn tokens(n: usize) -> Tokens {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            format!(r#"{{"name": "client-{i}", "token": "{:064x}", "allow": ["fraud_detection.FraudDetectionService"]}}"#, i + 1)
        })
        .collect();
    Tokens::parse(&format!("[{}]", entries.join(","))).unwrap()
}

fn edge(c: &mut Criterion) {
    let mut group = c.benchmark_group("edge");
    let method = "fraud_detection.FraudDetectionService/PredictFraud";
    for n in [1, 10, 100] {
        let tokens = tokens(n);
        // The last token: every entry is compared anyway.
        let header = format!("Bearer {n:064x}");
        group.bench_function(format!("authorize/{n}_tokens"), |b| {
            b.iter(|| {
                tokens
                    .authorize(Some(black_box(header.as_bytes())), method)
                    .unwrap()
            })
        });
    }
    let body = br#"{"transaction_id": 42, "amount": 1899, "time": 1749956400, "age_of_account": 3, "number_of_transactions": 1}"#;
    group.bench_function("gateway/parse_transaction", |b| {
        b.iter(|| json::parse_transaction(black_box(body)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, edge);
criterion_main!(benches);
