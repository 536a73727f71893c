"""The seeds' clients (examples/python/seeds/), unchanged, against a real server on
localhost:50051, where they dial: each prints what its article says it prints."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

from harness import EXAMPLES, REPOSITORY, LESSON_TIMEOUT, _environment

SEEDS = EXAMPLES / "seeds"


@pytest.fixture
def seed_server(start_server):
    """The server on 127.0.0.1:50051, the address the articles' clients dial."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 50051)) == 0:
            pytest.fail("port 50051 is in use: the seeds' clients dial localhost:50051")
    return start_server("--listen", "127.0.0.1:50051")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The code grpc_tools.protoc generates from the protos, as the articles run it."""
    out = tmp_path_factory.mktemp("seeds-generated")
    for include, files in [
        (REPOSITORY / "proto" / "seeds", ["helloworld.proto", "feedback.proto", "calculator.proto"]),
        (REPOSITORY / "proto", ["model.proto"]),
    ]:
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{include}",
             f"--python_out={out}", f"--grpc_python_out={out}", *files],
            check=True,
        )
    return out


def run_client(generated, name: str) -> subprocess.CompletedProcess:
    env = _environment()
    env["PYTHONPATH"] = str(generated)
    return subprocess.run(
        [sys.executable, str(SEEDS / name)],
        cwd=generated, env=env, capture_output=True, text=True, timeout=LESSON_TIMEOUT,
    )


def test_seed_004_greeter(seed_server, generated):
    done = run_client(generated, "greeter_client.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Greeter client received: Hello, World!\n"


def test_seed_004_feedback_is_stored_and_answered(seed_server, generated):
    done = run_client(generated, "feedback_client.py")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    # Each answer comes once its feedback is stored, worded after its sentiment, in order.
    assert re.fullmatch(r"Server Response: .*consumer1.*\(feedback #1\)", lines[0]), lines
    assert re.fullmatch(r"Server Response: .*consumer2.*\(feedback #2\)", lines[1]), lines


def test_seed_003_calculator_prints_the_float_root(seed_server, generated):
    done = run_client(generated, "calculator_client.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "4.0\n"


def test_seed_001_model_client_gets_not_found_with_the_models(seed_server, generated):
    done = run_client(generated, "model_client.py")
    assert done.returncode != 0, done.stdout
    assert "StatusCode.NOT_FOUND" in done.stderr, done.stderr
    assert 'no model "example_model"; the models are: diabetes, digits, fraud, iris' in done.stderr
