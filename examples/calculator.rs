//! A client of `calculator.Calculator` showing all four RPC styles and rich errors.
//!
//! Start the server (`cargo run --release`), then in another terminal:
//!
//! ```text
//! cargo run --bin calculator
//! cargo run --bin calculator -- --factor 600851475143 --numbers 3,1,4,1,5,9,2,6
//! ```

/// The code that build.rs generates from `proto/calculator.proto`: its messages and client.
pub mod calculator {
    tonic::include_proto!("calculator");
}

use calculator::{Number, Operands, PrimeFactorsRequest, calculator_client::CalculatorClient};
use clap::Parser;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic_types::StatusExt;

/// Calls every Calculator RPC and prints what comes back.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,
    /// The number to factor with PrimeFactors (server streaming).
    #[arg(long, default_value_t = 600_851_475_143)]
    factor: u64,
    /// The numbers for Average (client streaming) and RunningMax (bidirectional).
    #[arg(long, value_delimiter = ',', default_values_t = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])]
    numbers: Vec<f64>,
}

/// Prints a status the way a program would inspect it: the code, the message, and the
/// google.rpc.BadRequest detail naming the field at fault.
fn print_error(call: &str, status: &Status) {
    println!("{call} -> {:?}: {}", status.code(), status.message());
    if let Some(bad_request) = status.get_details_bad_request() {
        for violation in &bad_request.field_violations {
            println!("    field {:?}: {}", violation.field, violation.description);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut calc = CalculatorClient::connect(args.addr.clone()).await?;

    println!("== unary: one request, one reply");
    let sqrt = calc.square_root(Number { value: 2.0 }).await?.into_inner();
    println!("{:<18} = {}", "SquareRoot(2)", sqrt.value);
    let (a, b) = (7.5, 2.5);
    let operands = Operands { a, b };
    let sum = calc.add(operands).await?.into_inner().value;
    println!("{:<18} = {sum}", format!("Add({a}, {b})"));
    let difference = calc.subtract(operands).await?.into_inner().value;
    println!("{:<18} = {difference}", format!("Subtract({a}, {b})"));
    let product = calc.multiply(operands).await?.into_inner().value;
    println!("{:<18} = {product}", format!("Multiply({a}, {b})"));
    let quotient = calc.divide(operands).await?.into_inner().value;
    println!("{:<18} = {quotient}", format!("Divide({a}, {b})"));

    println!("\n== errors: INVALID_ARGUMENT with the field at fault in the details");
    if let Err(status) = calc.divide(Operands { a: 1.0, b: 0.0 }).await {
        print_error("Divide(1, 0)", &status);
    }
    if let Err(status) = calc.square_root(Number { value: -4.0 }).await {
        print_error("SquareRoot(-4)", &status);
    }

    println!(
        "\n== server streaming: the prime factors of {}",
        args.factor
    );
    let mut factors = calc
        .prime_factors(PrimeFactorsRequest {
            number: args.factor,
        })
        .await?
        .into_inner();
    let mut product: u64 = 1;
    while let Some(factor) = factors.message().await? {
        product *= factor.factor;
        println!("factor {:>20}   (product so far {product})", factor.factor);
    }

    println!(
        "\n== client streaming: stream {} numbers, get one summary",
        args.numbers.len()
    );
    // A request stream must own its items (it is sent from another task).
    let numbers = args
        .numbers
        .clone()
        .into_iter()
        .map(|value| Number { value });
    let summary = calc
        .average(tokio_stream::iter(numbers))
        .await?
        .into_inner();
    println!(
        "count {}, mean {}, min {}, max {}",
        summary.count, summary.mean, summary.min, summary.max
    );

    println!("\n== bidirectional streaming: after each number, the maximum so far");
    // Sending and receiving interleave: each number goes out on the channel and its
    // maximum is read back before the next one is sent.
    let (sender, outbound) = mpsc::channel(1);
    let mut maxima = calc
        .running_max(ReceiverStream::new(outbound))
        .await?
        .into_inner();
    for &value in &args.numbers {
        sender.send(Number { value }).await?;
        if let Some(max) = maxima.message().await? {
            println!("sent {value:>6}   max so far {:>6}", max.value);
        }
    }
    // Closing our side ends the stream; the server then ends its side with OK.
    drop(sender);
    while maxima.message().await?.is_some() {}
    Ok(())
}
