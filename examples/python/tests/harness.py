"""The Python lessons' test harness: real server processes, and the lessons run as a
learner runs them (``python examples/python/...``), with their output returned.
conftest.py makes the servers fixtures.

The server binary is ``$GRPC_SHOWCASE_BIN``, else ``$CARGO_TARGET_DIR/debug/grpc-showcase``
(``cargo test`` builds it), else ``target/debug/grpc-showcase`` in the repository. Every
server a test starts is killed when the test ends, pass or fail, and the kernel kills
it too if pytest itself dies: each process starts under ``setpriv --pdeathsig KILL``
(util-linux). Not with a ``preexec_fn``: that makes Python fork() rather than vfork(),
and grpcio, loaded here, restarts its poller thread in a forked child, which may then
abort (``ev_epoll1_linux.cc: Check failed: wakeup_fd_->Wakeup().ok()``) when the child
closes its file descriptors before exec (grpc/grpc#43157).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

EXAMPLES = Path(__file__).resolve().parent.parent  # examples/python
REPOSITORY = EXAMPLES.parent.parent
DATA = REPOSITORY / "examples" / "patterns" / "data"  # the demo certificates and tokens
FIXTURES = REPOSITORY / "tests" / "fixtures"
# Bounds for what must happen, generous for a loaded 2-core machine; nothing is timed.
START_TIMEOUT = 60
LESSON_TIMEOUT = 240

sys.path.insert(0, str(EXAMPLES))
import protos  # noqa: E402,F401  (generates the lessons' code once, before any lesson runs)

_SETPRIV = shutil.which("setpriv")


def _dying_with_us(command: list[str]) -> list[str]:
    """`command`, run so that the kernel sends it SIGKILL when this process ends."""
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *command] if _SETPRIV else command


def server_binary() -> Path:
    explicit = os.environ.get("GRPC_SHOWCASE_BIN")
    if explicit:
        path = Path(explicit)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPOSITORY / "target"))
        path = target / "debug" / "grpc-showcase"
    if not path.is_file():
        pytest.fail(
            f"no server binary at {path}: build it (cargo build) or set GRPC_SHOWCASE_BIN",
            pytrace=False,
        )
    return path


def free_ports(n: int) -> list[str]:
    """`n` addresses of 127.0.0.1 whose ports are free now (bound, then released)."""
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(n)]
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    return addresses


class Server:
    """The server binary, started with `args`, its logs collected; see `start`."""

    def __init__(self, data_dir: Path, args: list[str]) -> None:
        self.args = args
        self.logs: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        command = [
            str(server_binary()),
            "--data-dir",
            str(data_dir),
            "--models-dir",
            str(REPOSITORY / "models"),
            *args,
        ]
        self.process = subprocess.Popen(
            _dying_with_us(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read_logs, daemon=True).start()
        self.address = ""

    def _read_logs(self) -> None:
        for line in self.process.stderr:
            self.logs.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_listening(self) -> str:
        """Waits for the first "listening on" log line; returns its address."""
        deadline = time.monotonic() + START_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            if "listening on " in line:
                return line.split("listening on ", 1)[1].split()[0]
        raise AssertionError("the server did not say it is listening:\n" + "".join(self.logs))

    def wait_serving(
        self, target: str, credentials: grpc.ChannelCredentials | None = None, options=()
    ) -> None:
        """Waits until health Check on `target` answers SERVING."""
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("the server exited:\n" + "".join(self.logs))
            channel = (
                grpc.secure_channel(target, credentials, options=options)
                if credentials
                else grpc.insecure_channel(target, options=options)
            )
            with channel:
                try:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=5, wait_for_ready=True
                    )
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError as error:
                    last = error
            time.sleep(0.1)
        raise AssertionError(f"{target} never answered SERVING ({last}):\n" + "".join(self.logs))

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def logged(self, *texts: str, timeout: float = 10) -> bool:
        """Whether the server logs a line with every one of `texts` within `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(all(text in line for text in texts) for line in self.logs):
                return True
            time.sleep(0.05)
        return False


def _end_group(pid: int) -> None:
    """Kills what is left of a lesson's process group (whatever the lesson started)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _lesson_command(lesson: str, args: tuple[str, ...]) -> list[str]:
    path = EXAMPLES / lesson
    assert path.is_file(), path
    return [sys.executable, str(path.relative_to(REPOSITORY)), *args]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # each line as it is printed, for `interact`
    env.setdefault("GRPC_VERBOSITY", "ERROR")
    return env


def run_lesson(lesson: str, *args: str) -> str:
    """Runs `lesson` (a path under examples/python) from the repository's root, as a
    learner does; fails unless it exits 0; returns what it printed."""
    process = subprocess.Popen(
        _dying_with_us(_lesson_command(lesson, args)),
        cwd=REPOSITORY,
        env=_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killed whole on a timeout
    )
    try:
        out, err = process.communicate(timeout=LESSON_TIMEOUT)
    except subprocess.TimeoutExpired:
        _end_group(process.pid)
        out, err = process.communicate()
        raise AssertionError(f"{lesson} ran over {LESSON_TIMEOUT} s:\n{out}\n{err}") from None
    finally:
        _end_group(process.pid)
    assert process.returncode == 0, f"{lesson} failed ({process.returncode}):\n{out}\n{err}"
    return out


def interact(lesson: str, args: list[str], when: Callable[[str], bool]) -> str:
    """Runs `lesson`, calling `when(line)` on each line it prints until `when` returns
    True; then waits for its end. Returns everything it printed."""
    process = subprocess.Popen(
        _dying_with_us(_lesson_command(lesson, tuple(args))),
        cwd=REPOSITORY,
        env=_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []

    def read(stream, sink) -> None:
        for line in stream:
            sink(line)
        if stream is process.stdout:
            lines.put(None)

    threading.Thread(target=read, args=(process.stdout, lines.put), daemon=True).start()
    threading.Thread(target=read, args=(process.stderr, errors.append), daemon=True).start()
    out, fired = [], False
    deadline = time.monotonic() + LESSON_TIMEOUT
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(
                    f"{lesson} ran over {LESSON_TIMEOUT} s:\n{''.join(out)}"
                ) from None
            if line is None:
                break
            out.append(line)
            if not fired:
                fired = when(line)
        status = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        _end_group(process.pid)
        process.wait()
    printed = "".join(out)
    assert status == 0, f"{lesson} failed ({status}):\n{printed}\n{''.join(errors)}"
    return printed


def line(out: str, needle: str) -> str:
    """The first line of `out` that contains `needle`."""
    for text in out.splitlines():
        if needle in text:
            return text
    raise AssertionError(f"no line with {needle!r} in:\n{out}")


def assert_all(out: str, expected: list[str]) -> None:
    for text in expected:
        assert text in out, f"missing {text!r} in:\n{out}"
