"""What every pattern lesson shares: the echo service's generated code, the
``--server`` flag, the server's metrics, and how a lesson prints its steps.

The echo service is grpc-go's feature-examples echo (``proto/echo.proto``); a client
chooses the server's behaviour with ``x-echo-*`` request metadata: a status to end with
(``x-echo-status``), error details (``x-echo-detail``), a delay (``x-echo-delay-ms``),
a stream's length (``x-echo-count``), failures to retry (``x-echo-fail-first``)...
"""

from __future__ import annotations

import argparse
import http.client
import sys
from pathlib import Path

# The generated code lives beside the lessons (examples/python/protos.py makes it).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import protos  # noqa: E402,F401  (generates the code on first use, puts it on sys.path)

import echo_pb2  # noqa: E402
import echo_pb2_grpc  # noqa: E402

__all__ = ["echo_pb2", "echo_pb2_grpc", "parser", "step", "notice", "header", "metric", "handled"]

DEFAULT_SERVER = "localhost:50051"


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the ``--server`` flag every lesson takes."""
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument(
        "--server", default=DEFAULT_SERVER, help="the server, host:port (default %(default)s)"
    )
    return arguments


def step(title: str) -> None:
    """Prints a step's title."""
    print(f"\n== {title}")


def notice(text: str) -> None:
    """Prints what to notice."""
    print(f"   notice: {text}")


def header(metadata, name: str, default: str = "?") -> str:
    """The value of ``name`` in ``metadata`` (a sequence of key-value pairs)."""
    for key, value in metadata or ():
        if key == name:
            return value
    return default


def metric(server: str, name: str, method: str, **labels: str) -> int:
    """The sum of the server's metric `name` for `method` (and `labels`), from its
    Prometheus text at ``GET /metrics``, which the server answers on its gRPC port."""
    host, _, port = server.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    wanted = [f'grpc_method="{method}"'] + [f'{key}="{value}"' for key, value in labels.items()]
    total = 0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(label in line for label in wanted):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def handled(server: str, method: str, code: str) -> int:
    """How many `method` calls the server has ended with `code`: its counter
    ``grpc_server_handled_total`` counts every call once it ends, by method and status
    code (``OK``, ``Canceled``, ``Unavailable``...)."""
    return metric(server, "grpc_server_handled_total", method, grpc_code=code)
