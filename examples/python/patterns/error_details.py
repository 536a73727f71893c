"""Lesson: error details. A failed call ends with a status code and a message, and may
carry details: typed google.rpc messages that a program can act on (when to retry, which
field was wrong, which quota ran out), in the ``grpc-status-details-bin`` trailer.

    cargo run --release                                          # the server
    .venv/bin/python examples/python/patterns/error_details.py   # this lesson

grpcio's ways: ``error.code()`` and ``error.details()`` on the ``grpc.RpcError``, and
grpcio-status's ``rpc_status.from_call(error)``, which decodes the trailer into a
``google.rpc.Status`` whose ``details`` are ``Any`` messages, unpacked into the types
of ``google.rpc.error_details_pb2`` (from googleapis-common-protos). The echo service
ends a call with the status ``x-echo-status`` names, with the details ``x-echo-detail``
lists.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from common import echo_pb2, echo_pb2_grpc, notice, parser, step

DETAIL_TYPES = [
    error_details_pb2.RetryInfo,
    error_details_pb2.QuotaFailure,
    error_details_pb2.ErrorInfo,
    error_details_pb2.BadRequest,
    error_details_pb2.DebugInfo,
]


def failure(stub: echo_pb2_grpc.EchoStub, metadata: list[tuple[str, str]]) -> grpc.RpcError:
    """The error of one echo call with `metadata` (they all fail)."""
    try:
        stub.UnaryEcho(echo_pb2.EchoRequest(message="x"), metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        return error
    raise SystemExit("the call succeeded: this server does not read x-echo-* headers")


def details(error: grpc.RpcError) -> list:
    """The error's google.rpc details, each unpacked into its own type."""
    status = rpc_status.from_call(error)  # None when the server sent no details
    unpacked = []
    for any_detail in status.details if status else []:
        for kind in DETAIL_TYPES:
            if any_detail.Is(kind.DESCRIPTOR):
                detail = kind()
                any_detail.Unpack(detail)
                unpacked.append(detail)
    return unpacked


def describe(detail) -> list[str]:
    """What a program would read in each kind of detail."""
    if isinstance(detail, error_details_pb2.RetryInfo):
        return [f"RetryInfo: retry after {detail.retry_delay.ToMilliseconds()}ms"]
    if isinstance(detail, error_details_pb2.QuotaFailure):
        return [f"QuotaFailure: {v.subject} ({v.description})" for v in detail.violations]
    if isinstance(detail, error_details_pb2.ErrorInfo):
        return [
            f"ErrorInfo: reason {detail.reason} in domain {detail.domain}, {dict(detail.metadata)}"
        ]
    if isinstance(detail, error_details_pb2.BadRequest):
        return [f"BadRequest: field {v.field} ({v.description})" for v in detail.field_violations]
    if isinstance(detail, error_details_pb2.DebugInfo):
        return [f"DebugInfo: {detail.detail} {list(detail.stack_entries)}"]
    return [f"{type(detail).__name__}"]


def run(server: str) -> None:
    """Asks for failures and prints their details."""
    with grpc.insecure_channel(server) as channel:
        stub = echo_pb2_grpc.EchoStub(channel)

        step("status codes: the code says what kind of failure it was")
        for code in ["NOT_FOUND", "PERMISSION_DENIED", "UNAVAILABLE", "INTERNAL"]:
            error = failure(stub, [("x-echo-status", code)])
            print(f"   asked {code:<18} got {error.code().name}: {error.details()}")
        notice(
            "a client decides from the code: retry UNAVAILABLE, fix the request on "
            "INVALID_ARGUMENT ..."
        )

        step("rich error details: typed messages beside the code")
        error = failure(
            stub,
            [
                ("x-echo-status", "RESOURCE_EXHAUSTED"),
                ("x-echo-message", "out of echoes"),
                ("x-echo-detail", "retry-info,quota-failure,error-info,bad-request,debug-info"),
            ],
        )
        print(f"   {error.code().name}: {error.details()}")
        for detail in details(error):
            for line in describe(detail):
                print(f"   {line}")
        notice("the details travel in the grpc-status-details-bin trailer as a google.rpc.Status")

        step("bad input: a header out of range names itself")
        error = failure(stub, [("x-echo-delay-ms", "99999")])
        print(f"   {error.code().name}: {error.details()}")
        for detail in details(error):
            if isinstance(detail, error_details_pb2.BadRequest):
                print(f"   BadRequest: field {detail.field_violations[0].field}")
        notice("a header out of range is INVALID_ARGUMENT, and the BadRequest names the header")


def main() -> None:
    run(parser(__doc__.splitlines()[0]).parse_args().server)


if __name__ == "__main__":
    main()
