//! calculator.Calculator through a real client over a real socket: every RPC style and
//! every error with its status code and BadRequest field.

mod common;

use common::{TestServer, bad_request_field};
use grpc_showcase::proto::calculator::{
    Number, Operands, PrimeFactorsRequest, calculator_client::CalculatorClient,
};
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Code, Status, transport::Channel};

async fn client(server: &TestServer) -> CalculatorClient<Channel> {
    CalculatorClient::new(server.channel().await)
}

fn number(value: f64) -> Number {
    Number { value }
}

fn operands(a: f64, b: f64) -> Operands {
    Operands { a, b }
}

fn assert_invalid(status: &Status, field: &str, message_part: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_request_field(status), field, "{status:?}");
    assert!(
        status.message().contains(message_part),
        "{:?} should mention {message_part:?}",
        status.message()
    );
}

#[tokio::test]
async fn unary_operations() {
    let server = TestServer::start().await;
    let mut calc = client(&server).await;
    let value = |r: Result<tonic::Response<Number>, Status>| r.unwrap().into_inner().value;
    assert_eq!(value(calc.square_root(number(2.25)).await), 1.5);
    assert_eq!(value(calc.add(operands(1.5, 2.25)).await), 3.75);
    assert_eq!(value(calc.subtract(operands(1.5, 2.25)).await), -0.75);
    assert_eq!(value(calc.multiply(operands(1.5, -2.0)).await), -3.0);
    assert_eq!(value(calc.divide(operands(1.0, 8.0)).await), 0.125);
}

#[tokio::test]
async fn unary_errors_name_the_field() {
    let server = TestServer::start().await;
    let mut calc = client(&server).await;
    let status = calc.square_root(number(-4.0)).await.unwrap_err();
    assert_invalid(&status, "value", "negative");
    let status = calc.square_root(number(f64::NAN)).await.unwrap_err();
    assert_invalid(&status, "value", "NaN");
    let status = calc.divide(operands(1.0, 0.0)).await.unwrap_err();
    assert_invalid(&status, "b", "division by zero");
    let status = calc.add(operands(f64::NAN, 1.0)).await.unwrap_err();
    assert_invalid(&status, "a", "finite");
    let status = calc
        .multiply(operands(2.0, f64::INFINITY))
        .await
        .unwrap_err();
    assert_invalid(&status, "b", "inf");
    let status = calc
        .subtract(operands(f64::NEG_INFINITY, 0.0))
        .await
        .unwrap_err();
    assert_invalid(&status, "a", "-inf");
}

#[tokio::test]
async fn overflow_is_out_of_range() {
    let server = TestServer::start().await;
    let mut calc = client(&server).await;
    let status = calc.multiply(operands(1e200, 1e200)).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("overflows"));
}

#[tokio::test]
async fn prime_factors_stream_in_increasing_order() {
    let server = TestServer::start().await;
    let mut calc = client(&server).await;
    for (number, expected) in [
        (360, vec![2, 2, 2, 3, 3, 5]),
        (97, vec![97]),
        (u64::MAX, vec![3, 5, 17, 257, 641, 65537, 6_700_417]),
    ] {
        let factors: Vec<u64> = calc
            .prime_factors(PrimeFactorsRequest { number })
            .await
            .unwrap()
            .into_inner()
            .map(|f| f.unwrap().factor)
            .collect()
            .await;
        assert_eq!(factors, expected, "factors of {number}");
    }
}

#[tokio::test]
async fn prime_factors_of_zero_and_one_are_invalid() {
    let server = TestServer::start().await;
    let mut calc = client(&server).await;
    for number in [0, 1] {
        let status = calc
            .prime_factors(PrimeFactorsRequest { number })
            .await
            .unwrap_err();
        assert_invalid(&status, "number", "no prime factorization");
    }
}

#[tokio::test]
async fn average_of_a_client_stream() {
    let server = TestServer::start().await;
    let mut calc = client(&server).await;
    let numbers = tokio_stream::iter([4.0, -2.0, 10.0, 0.0].map(number));
    let stats = calc.average(numbers).await.unwrap().into_inner();
    assert_eq!(stats.count, 4);
    assert_eq!(stats.mean, 3.0);
    assert_eq!(stats.min, -2.0);
    assert_eq!(stats.max, 10.0);
}

#[tokio::test]
async fn average_errors() {
    let server = TestServer::start().await;
    let mut calc = client(&server).await;
    let status = calc
        .average(tokio_stream::iter(Vec::<Number>::new()))
        .await
        .unwrap_err();
    assert_invalid(&status, "stream", "no number");
    let numbers = tokio_stream::iter([1.0, 2.0, f64::NAN].map(number));
    let status = calc.average(numbers).await.unwrap_err();
    assert_invalid(&status, "value", "message 2");
}

#[tokio::test]
async fn running_max_answers_each_number_as_it_arrives() {
    let server = TestServer::start().await;
    let mut calc = client(&server).await;
    let (numbers, outbound) = mpsc::channel(1);
    let mut maxima = calc
        .running_max(ReceiverStream::new(outbound))
        .await
        .unwrap()
        .into_inner();
    for (value, expected) in [(3.0, 3.0), (1.0, 3.0), (4.0, 4.0), (-7.0, 4.0), (9.5, 9.5)] {
        numbers.send(number(value)).await.unwrap();
        let max = maxima.message().await.unwrap().expect("a maximum");
        assert_eq!(max.value, expected, "after {value}");
    }
    drop(numbers);
    assert!(maxima.message().await.unwrap().is_none());
}

#[tokio::test]
async fn running_max_keeps_maxima_sent_before_a_non_finite_number() {
    let server = TestServer::start().await;
    let mut calc = client(&server).await;
    let numbers = tokio_stream::iter([2.0, f64::INFINITY, 5.0].map(number));
    let mut maxima = calc.running_max(numbers).await.unwrap().into_inner();
    assert_eq!(maxima.message().await.unwrap().unwrap().value, 2.0);
    let status = maxima.message().await.unwrap_err();
    assert_invalid(&status, "value", "message 1");
}
