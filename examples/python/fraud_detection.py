"""A client of ``fraud_detection.FraudDetectionService``: score a few card transactions
and print the fraud probability and the label the server decided.

Start the server (``cargo run --release``), then in another terminal::

    .venv/bin/python examples/python/fraud_detection.py
"""

from __future__ import annotations

import argparse

import grpc

import protos  # noqa: F401  (generates the code from proto/ on first use)
import fraud_detection_pb2
import fraud_detection_pb2_grpc

# (what it is, amount in USD, Unix time, account age in days, transactions in 24 h)
TRANSACTIONS = [
    ("coffee on a long-standing account", 4.50, 1_750_000_000, 2400, 1),
    ("groceries, late afternoon", 82.10, 1_750_006_800, 900, 2),
    ("electronics at 3 a.m. on a new account", 1899.00, 1_749_956_400, 3, 1),
    ("a burst of purchases on a week-old account", 640.00, 1_749_960_000, 7, 11),
]


def run(server: str) -> None:
    """Scores a few transactions, then an invalid one."""
    with grpc.insecure_channel(server) as channel:
        stub = fraud_detection_pb2_grpc.FraudDetectionServiceStub(channel)
        print(f"{'transaction':<44} {'amount':>9} {'p(fraud)':>11}  label")
        for number, (what, amount, time, age, count) in enumerate(TRANSACTIONS, start=1):
            verdict = stub.PredictFraud(
                fraud_detection_pb2.PredictionRequest(
                    transaction_id=number,
                    amount=amount,
                    time=time,
                    age_of_account=age,
                    number_of_transactions=count,
                )
            )
            label = "FRAUD" if verdict.predicted_label else "ok"
            print(f"{what:<44} {amount:>9.2f} {verdict.fraud_probability:>11.4f}  {label}")

        # An invalid transaction: INVALID_ARGUMENT, with a message that says why.
        try:
            stub.PredictFraud(
                fraud_detection_pb2.PredictionRequest(transaction_id=99, amount=-20.0)
            )
            print("\nnegative amount -> accepted?!")
        except grpc.RpcError as error:
            print(f"\nnegative amount -> {error.code().name}: {error.details()}")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--server", default="localhost:50051", help="host:port")
    run(arguments.parse_args().server)


if __name__ == "__main__":
    main()
