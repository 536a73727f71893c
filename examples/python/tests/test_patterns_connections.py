"""The pattern lessons about connections and servers (examples/python/patterns/):
authentication, TLS, keepalive, wait-for-ready, health, graceful shutdown, load
balancing, name resolving and Unix sockets. Each runs against real servers as a learner
runs it, and its output must show the thing it teaches."""

from __future__ import annotations

import signal

import grpc

from harness import DATA, assert_all, free_ports, interact, run_lesson, server_binary


def section(out: str, title: str) -> str:
    """The lines of `out` under the step whose title contains `title`."""
    rest = out.split(title, 1)[1]
    return rest.split("\n== ", 1)[0]


def test_authentication_tells_unauthenticated_from_permission_denied(start_server):
    server = start_server("--auth-tokens", str(DATA / "tokens.json"))
    out = run_lesson("patterns/authentication.py", "--server", server.address)
    assert "Greeter/SayHello: UNAUTHENTICATED" in section(out, "calls with no token"), out
    assert "Echo/UnaryEcho:   UNAUTHENTICATED" in section(out, "calls with a wrong token"), out
    greeter_only = section(out, "calls with the greeter-only token")
    assert "Greeter/SayHello: OK" in greeter_only, out
    assert "Echo/UnaryEcho:   PERMISSION_DENIED" in greeter_only, out
    admin = section(out, "calls with the admin token")
    assert "Greeter/SayHello: OK" in admin and "Echo/UnaryEcho:   OK" in admin, out
    assert "Echo/UnaryEcho:   OK" in section(out, "as plain metadata"), out


def test_tls_needs_the_ca_and_mutual_tls_the_client_certificate(start_server):
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(DATA / "ca.pem").read_bytes(),
        private_key=(DATA / "client.key").read_bytes(),
        certificate_chain=(DATA / "client.pem").read_bytes(),
    )
    server = start_server(
        "--tls-cert",
        str(DATA / "server.pem"),
        "--tls-key",
        str(DATA / "server.key"),
        "--tls-client-ca",
        str(DATA / "ca.pem"),
        credentials=credentials,
    )
    port = server.address.rsplit(":", 1)[1]
    out = run_lesson("patterns/tls.py", "--server", f"localhost:{port}", "--certs", str(DATA))
    assert "OK" not in section(out, "plaintext"), out
    assert "CERTIFICATE_VERIFY_FAILED" in section(out, "bundled root CAs"), out
    assert "OK" not in section(out, "without a client certificate"), out
    assert 'OK, "secret" came back' in section(out, "mutual TLS"), out


def test_keepalive_keeps_answering_connections_and_drops_silent_ones(start_server):
    server = start_server("--http2-keepalive-interval", "1s", "--http2-keepalive-timeout", "1s")
    out = run_lesson("patterns/keepalive.py", "--server", server.address)
    assert_all(
        out,
        ["the same connection: True", "still open = True", "the server closed the connection"],
    )


def test_wait_for_ready_fails_fast_then_waits_for_the_server(start_server):
    address = free_ports(1)[0]
    started = []

    def when(text: str) -> bool:
        if "waiting for a server" not in text:
            return False
        started.append(start_server("--listen", address, wait_ready=False))
        return True

    out = interact("patterns/wait_for_ready.py", ["--server", address, "--wait", "60"], when)
    assert started, out
    assert "failed fast after" in out and "UNAVAILABLE" in section(out, "fail fast"), out
    assert "connected after" in out, out
    assert 'the call: OK, "ready" came back' in out, out
    assert 'the call: OK, "configured" came back' in out, out


def test_health_watch_sees_not_serving_and_fails_over(start_server):
    primary = start_server("--instance-name", "primary")
    backup = start_server("--instance-name", "backup")

    def when(text: str) -> bool:
        if "watching the primary" not in text:
            return False
        primary.signal(signal.SIGTERM)
        return True

    out = interact(
        "patterns/health.py",
        ["--server", primary.address, "--backup", backup.address, "--wait", "60"],
        when,
    )
    assert_all(
        out,
        [
            '"": SERVING',
            '"no.such.Service": NOT_FOUND',
            "answered by primary",
            "watching the primary: SERVING",
            "the primary is NOT_SERVING: failing over",
            "the backup is SERVING",
            "answered by backup",
        ],
    )
    assert primary.wait() == 0


def test_graceful_shutdown_drains_then_refuses():
    out = run_lesson("patterns/graceful_shutdown.py", "--server-bin", str(server_binary()))
    assert_all(
        out,
        [
            "health: SERVING",
            "health: NOT_SERVING",
            "a new call: UNAVAILABLE",
            "on a new connection: UNAVAILABLE",
            'the call in flight: OK, "almost done"',
            "the server exited with status 0",
        ],
    )


def counts(out: str, title: str) -> dict[str, int]:
    """The calls each instance answered under step `title`."""
    found = {}
    for text in section(out, title).splitlines():
        text = text.strip()
        if text.endswith(" calls"):
            instance, n = text[: -len(" calls")].rsplit(": ", 1)
            found[instance] = int(n)
    return found


def test_load_balancing_spreads_calls_over_the_instances(start_server):
    addresses = free_ports(3)
    server = start_server(*[flag for a in addresses for flag in ("--listen", a)], wait_ready=False)
    for address in addresses:
        server.wait_serving(address)
    out = run_lesson("patterns/load_balancing.py", "--servers", ",".join(addresses))
    assert len(counts(out, "one channel to the first instance")) == 1, out
    by_hand = counts(out, "round robin by hand")
    assert sorted(by_hand.values()) == [10, 10, 10], out
    pick_first = counts(out, "default policy (pick_first)")
    assert list(pick_first.values()) == [30], out
    balanced = counts(out, "round_robin in the service config")
    assert len(balanced) >= 2 and sum(balanced.values()) == 30, out


def test_name_resolving_follows_the_instances_that_come_and_go(start_server):
    first, second = free_ports(2)
    server = start_server("--listen", first, "--listen", second, wait_ready=False)
    server.wait_serving(first)
    server.wait_serving(second)
    out = run_lesson("patterns/name_resolving.py", "--first", first, "--second", second)
    found = counts(out, "finds the first instance")
    assert len(found) == 1 and next(iter(found)).endswith(first.rsplit(":", 1)[1]), out
    assert len(counts(out, "the resolver adds it")) == 2, out
    removed = counts(out, "the resolver removes it")
    assert len(removed) == 1, out
    ((instance, calls),) = removed.items()
    assert instance.endswith(second.rsplit(":", 1)[1]) and calls == 20, out


def test_unix_socket_reaches_the_server_through_a_file(start_server, tmp_path):
    socket_path = tmp_path / "lesson.sock"
    server = start_server(
        "--listen", free_ports(1)[0], "--listen", f"unix:{socket_path}", wait_ready=False
    )
    server.wait_serving(f"unix:{socket_path}", options=[("grpc.default_authority", "localhost")])
    out = run_lesson("patterns/unix_socket.py", "--socket", str(socket_path))
    assert ":unix, peer unix socket, pid " in out, out
    assert '"over a socket file" came back' in out, out
    # The socket's file goes with the server.
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    assert not socket_path.exists()
