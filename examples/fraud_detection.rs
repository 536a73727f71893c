//! A client of `fraud_detection.FraudDetectionService`: score a few card transactions
//! and print the fraud probability and the label the server decided.
//!
//! Start the server (`cargo run --release`), then in another terminal:
//!
//! ```text
//! cargo run --bin fraud_detection
//! ```

/// The code that build.rs generates from `proto/fraud_detection.proto`: its messages and client.
pub mod fraud_detection {
    tonic::include_proto!("fraud_detection");
}

use clap::Parser;
use fraud_detection::{
    PredictionRequest, fraud_detection_service_client::FraudDetectionServiceClient,
};

/// Scores a few transactions.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut client = FraudDetectionServiceClient::connect(args.addr).await?;

    // (what it is, amount in USD, Unix time, account age in days, transactions in 24 h)
    let transactions = [
        (
            "coffee on a long-standing account",
            4.50,
            1_750_000_000,
            2400,
            1,
        ),
        ("groceries, late afternoon", 82.10, 1_750_006_800, 900, 2),
        (
            "electronics at 3 a.m. on a new account",
            1899.00,
            1_749_956_400,
            3,
            1,
        ),
        (
            "a burst of purchases on a week-old account",
            640.00,
            1_749_960_000,
            7,
            11,
        ),
    ];
    println!(
        "{:<44} {:>9} {:>11}  label",
        "transaction", "amount", "p(fraud)"
    );
    for (id, (what, amount, time, age, count)) in transactions.into_iter().enumerate() {
        let verdict = client
            .predict_fraud(PredictionRequest {
                transaction_id: id as i64 + 1,
                amount,
                time,
                age_of_account: age,
                number_of_transactions: count,
            })
            .await?
            .into_inner();
        let label = if verdict.predicted_label {
            "FRAUD"
        } else {
            "ok"
        };
        println!(
            "{what:<44} {amount:>9.2} {:>11.4}  {label}",
            verdict.fraud_probability
        );
    }

    // An invalid transaction: INVALID_ARGUMENT, with the field named in the details.
    let status = client
        .predict_fraud(PredictionRequest {
            transaction_id: 99,
            amount: -20.0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    println!(
        "\nnegative amount -> {:?}: {}",
        status.code(),
        status.message()
    );
    Ok(())
}
