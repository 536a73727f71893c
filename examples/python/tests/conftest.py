"""Fixtures of the Python lessons' tests: servers started for a test, or shared by the
lessons that leave no state behind (see harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness import Server


@pytest.fixture
def start_server(tmp_path_factory) -> Iterator[Callable[..., Server]]:
    """Starts servers for one test (`start_server(*flags)`), all killed at its end.

    Without ``--listen`` in the flags, the server listens on a free port of 127.0.0.1;
    `start_server` returns once it answers health checks there (for other listen
    addresses, the test waits itself, with `wait_ready=False`).
    """
    servers: list[Server] = []

    def start(*flags: str, wait_ready: bool = True, credentials=None) -> Server:
        args = list(flags)
        if "--listen" not in args:
            args = ["--listen", "127.0.0.1:0", *args]
        server = Server(tmp_path_factory.mktemp("server-data"), args)
        servers.append(server)
        server.address = server.wait_listening()
        if wait_ready:
            target = (
                server.address
                if credentials is None
                else f"localhost:{server.address.rsplit(':', 1)[1]}"
            )
            server.wait_serving(target, credentials)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory) -> Iterator[Server]:
    """One default server for the lessons that leave no state another lesson reads."""
    server = Server(tmp_path_factory.mktemp("shared-server-data"), ["--listen", "127.0.0.1:0"])
    try:
        server.address = server.wait_listening()
        server.wait_serving(server.address)
        yield server
    finally:
        server.stop()
