"""A client of ``calculator.Calculator`` showing all four RPC styles and rich errors.

Start the server (``cargo run --release``), then in another terminal::

    .venv/bin/python examples/python/calculator.py
    .venv/bin/python examples/python/calculator.py --factor 600851475143 --numbers 3,1,4,1,5,9,2,6
"""

from __future__ import annotations

import argparse
import queue

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

import protos  # noqa: F401  (generates the code from proto/ on first use)
import calculator_pb2
import calculator_pb2_grpc


def print_error(call: str, error: grpc.RpcError) -> None:
    """Prints a failed call as a program would inspect it: the code, the message, and
    the google.rpc.BadRequest detail naming the field at fault."""
    print(f"{call} -> {error.code().name}: {error.details()}")
    # The details travel in the grpc-status-details-bin trailer as a google.rpc.Status;
    # from_call decodes it (None when the server sent none).
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            for violation in bad_request.field_violations:
                print(f'    field "{violation.field}": {violation.description}')


def number(value: float) -> calculator_pb2.Number:
    return calculator_pb2.Number(value=value)


def run(server: str, factor: int, numbers: list[float]) -> None:
    """Calls every Calculator RPC and prints what comes back."""
    with grpc.insecure_channel(server) as channel:
        calc = calculator_pb2_grpc.CalculatorStub(channel)

        print("== unary: one request, one reply")
        print(f"{'SquareRoot(2)':<18} = {calc.SquareRoot(number(2.0)).value}")
        a, b = 7.5, 2.5
        operands = calculator_pb2.Operands(a=a, b=b)
        for name, method in [
            ("Add", calc.Add),
            ("Subtract", calc.Subtract),
            ("Multiply", calc.Multiply),
            ("Divide", calc.Divide),
        ]:
            # %g prints 3.0 as 3, as the other languages' lessons do.
            print(f"{f'{name}({a}, {b})':<18} = {method(operands).value:g}")

        print("\n== errors: INVALID_ARGUMENT with the field at fault in the details")
        try:
            calc.Divide(calculator_pb2.Operands(a=1.0, b=0.0))
        except grpc.RpcError as error:
            print_error("Divide(1, 0)", error)
        try:
            calc.SquareRoot(number(-4.0))
        except grpc.RpcError as error:
            print_error("SquareRoot(-4)", error)

        print(f"\n== server streaming: the prime factors of {factor}")
        product = 1
        for reply in calc.PrimeFactors(calculator_pb2.PrimeFactorsRequest(number=factor)):
            product *= reply.factor
            print(f"factor {reply.factor:>20}   (product so far {product})")

        print(f"\n== client streaming: stream {len(numbers)} numbers, get one summary")
        # Any iterable of requests is a request stream; the reply comes once it ends.
        summary = calc.Average(number(value) for value in numbers)
        print(
            f"count {summary.count}, mean {summary.mean:g}, "
            f"min {summary.min:g}, max {summary.max:g}"
        )

        print("\n== bidirectional streaming: after each number, the maximum so far")
        # Sending and receiving interleave: the request stream is fed from a queue (grpcio
        # reads it on its own thread), and each maximum is read back before the next
        # number is sent. `None` in the queue ends the request stream.
        outbox: queue.Queue[calculator_pb2.Number | None] = queue.Queue()
        maxima = calc.RunningMax(iter(outbox.get, None))
        for value in numbers:
            outbox.put(number(value))
            print(f"sent {value:>6g}   max so far {next(maxima).value:>6g}")
        # Closing our side ends the stream; the server then ends its side with OK.
        outbox.put(None)
        for _ in maxima:
            pass


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--server", default="localhost:50051", help="host:port")
    arguments.add_argument(
        "--factor", type=int, default=600_851_475_143, help="the number PrimeFactors factors"
    )
    arguments.add_argument(
        "--numbers",
        type=lambda text: [float(n) for n in text.split(",")],
        default=[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0],
        help="comma-separated numbers for Average and RunningMax",
    )
    args = arguments.parse_args()
    run(args.server, args.factor, args.numbers)


if __name__ == "__main__":
    main()
