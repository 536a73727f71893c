"""Lesson: graceful shutdown. A server that is asked to stop (SIGTERM, Ctrl-C) first
says so: health goes NOT_SERVING, each connection gets an HTTP/2 GOAWAY (no new calls
on it), and the calls already in flight get time to finish. Then it exits.

    cargo build --release --bin grpc-showcase   # this lesson starts, and stops, a server
    .venv/bin/python examples/python/patterns/graceful_shutdown.py \\
        --server-bin target/release/grpc-showcase

It runs the server binary that ``--server-bin`` names (default: ``$GRPC_SHOWCASE_BIN``,
else ``grpc-showcase`` on the PATH, else the workspace's target/release or target/debug
build) on a free port of 127.0.0.1, and sends it SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common import echo_pb2, echo_pb2_grpc, metric, notice, step

REPOSITORY = Path(__file__).resolve().parents[3]


def default_server_bin() -> str | None:
    if os.environ.get("GRPC_SHOWCASE_BIN"):
        return os.environ["GRPC_SHOWCASE_BIN"]
    if found := shutil.which("grpc-showcase"):
        return found
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPOSITORY / "target"))
    for profile in ("release", "debug"):
        if (target / profile / "grpc-showcase").is_file():
            return str(target / profile / "grpc-showcase")
    return None


def status_name(reply: health_pb2.HealthCheckResponse) -> str:
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def outcome(call, request) -> str:
    try:
        call(request, timeout=10)
        return "OK"
    except grpc.RpcError as error:
        return f"{error.code().name}: {error.details()}"


def run(server_bin: str) -> None:
    """Stops a server mid-call and shows what its clients see."""
    step("start a server")
    data = tempfile.mkdtemp(prefix="graceful-shutdown-lesson-")
    server = subprocess.Popen(
        [
            server_bin,
            "--listen",
            "127.0.0.1:0",
            "--shutdown-grace",
            "10s",
            "--data-dir",
            data,
            "--models-dir",
            str(REPOSITORY / "models"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        address = None
        for line in server.stderr:  # its logs: wait for "listening on"
            if "listening on " in line:
                address = line.split("listening on ", 1)[1].split()[0]
                break
        if address is None:
            raise SystemExit("the server exited before listening")
        # Keep reading its logs, or the server would block once the pipe is full.
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        print(f"   listening on {address}")

        with grpc.insecure_channel(address) as channel:
            echo = echo_pb2_grpc.EchoStub(channel)
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            print(f"   health: {status_name(next(watch))}")

            step("a call that takes 1.5 s is in flight; the server gets SIGTERM")
            started = time.monotonic()
            in_flight = echo.UnaryEcho.future(
                echo_pb2.EchoRequest(message="almost done"), metadata=[("x-echo-delay-ms", "1500")]
            )
            # Wait until the server has the call (its metrics count it in flight).
            for _ in range(200):
                if metric(address, "grpc_server_in_flight", "UnaryEcho") > 0:
                    break
                time.sleep(0.05)
            server.send_signal(signal.SIGTERM)
            print(f"   health: {status_name(next(watch))}")
            notice(
                "the watcher heard NOT_SERVING first: time for a load balancer to look elsewhere"
            )

            time.sleep(0.2)
            print(f"   a new call: {outcome(echo.UnaryEcho, echo_pb2.EchoRequest(message='new'))}")
            notice("the connection got a GOAWAY: no new call on it; grpcio tried to connect again,")
            notice(
                "found the port closed, and failed the call with UNAVAILABLE: safe to send "
                "elsewhere"
            )
            with grpc.insecure_channel(address) as fresh:
                again = outcome(
                    echo_pb2_grpc.EchoStub(fresh).UnaryEcho, echo_pb2.EchoRequest(message="again")
                )
            print(f"   on a new connection: {again}")
            notice("the port is closed: UNAVAILABLE, the code clients retry on another instance")

            try:
                reply = in_flight.result(timeout=30)
                result = f'OK, "{reply.message}"'
            except grpc.RpcError as error:
                result = error.code().name
            print(f"   the call in flight: {result} after {time.monotonic() - started:.1f} s")
            notice("the call already running was allowed to finish (--shutdown-grace)")
            watch.cancel()

        print(f"   the server exited with status {server.wait(timeout=30)}")
    finally:
        if server.poll() is None:  # never leave it running, whatever happened
            server.kill()
            server.wait()
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--server-bin", default=default_server_bin(), help="the server binary")
    args = arguments.parse_args()
    if not args.server_bin:
        raise SystemExit("no grpc-showcase binary found: build it, or give --server-bin")
    run(args.server_bin)


if __name__ == "__main__":
    main()
