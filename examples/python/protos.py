"""The Python code of the showcase's protos, generated on first import.

Importing this module runs grpcio-tools' protoc (``python -m grpc_tools.protoc``,
in-process) on the ``.proto`` files of the repository's ``proto/`` folder, once, into
``examples/python/generated/`` (git ignores it), and puts that folder on ``sys.path``.
After it, a lesson imports the generated modules by their usual names::

    import protos  # noqa: F401  (makes and finds the generated code)
    import helloworld_pb2
    import helloworld_pb2_grpc

The code is made again when a ``.proto`` file or the grpcio-tools version changes
(a stamp file records what it was made from). To make it by hand instead::

    python -m grpc_tools.protoc -I proto --python_out=examples/python/generated \\
        --pyi_out=examples/python/generated --grpc_python_out=examples/python/generated \\
        proto/helloworld.proto ...
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_DIR = HERE.parent.parent / "proto"
GENERATED = HERE / "generated"
# The protos the lessons use; health and reflection come with their grpcio packages.
PROTOS = [
    "helloworld.proto",
    "calculator.proto",
    "model.proto",
    "fraud_detection.proto",
    "feedback.proto",
    "video.proto",
    "echo.proto",
]


def _fingerprint() -> str:
    """What the generated code depends on: the protos' bytes and grpcio-tools' version."""
    digest = hashlib.sha256(metadata.version("grpcio-tools").encode())
    for name in PROTOS:
        digest.update(name.encode())
        digest.update((PROTO_DIR / name).read_bytes())
    return digest.hexdigest()


def generate(force: bool = False) -> Path:
    """Generates the code into GENERATED unless it is already there and up to date."""
    stamp = GENERATED / "STAMP"
    wanted = _fingerprint()
    if not force and stamp.is_file() and stamp.read_text() == wanted:
        return GENERATED
    from grpc_tools import protoc  # only needed when generating

    # Generate into a fresh folder, then move it into place, so that two lessons started
    # at once never see half-written code.
    scratch = Path(tempfile.mkdtemp(prefix=".generated-", dir=HERE))
    try:
        include = Path(protoc.__file__).resolve().parent / "_proto"  # google/protobuf/*.proto
        status = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{PROTO_DIR}",
                f"-I{include}",
                f"--python_out={scratch}",
                f"--pyi_out={scratch}",
                f"--grpc_python_out={scratch}",
                *(str(PROTO_DIR / name) for name in PROTOS),
            ]
        )
        if status != 0:
            raise RuntimeError(f"grpc_tools.protoc failed (exit status {status})")
        (scratch / "STAMP").write_text(wanted)
        old = None
        if GENERATED.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-", dir=HERE))
            try:
                os.replace(GENERATED, old / "generated")
            except OSError:
                pass  # another process moved it first
        try:
            os.replace(scratch, GENERATED)
        except OSError:
            # Another process put its (identical) copy in place first: use that one.
            shutil.rmtree(scratch, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return GENERATED


generate()
if str(GENERATED) not in sys.path:
    sys.path.insert(0, str(GENERATED))

if __name__ == "__main__":
    print(f"generated {', '.join(PROTOS)} into {generate(force=True)}")
