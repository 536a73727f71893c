#!/usr/bin/env bash
# The Open Inference Protocol against Seldon MLServer (bench/mlserver.py), in one
# command: builds the server and the load tool (the `release` profile unless PROFILE
# names another), installs MLServer and onnxruntime from PyPI into a virtual
# environment, and the grpcio client's grpcio and grpcio-tools into another (those of
# bench/run.sh: grpcio-tools needs protobuf 7, MLServer protobuf 6), then runs both
# servers alternately and prints the tables (and $CARGO_TARGET_DIR/bench/mlserver.md).
#
#   bench/mlserver.sh                       # 3 rounds of 3 s per row, both clients, about 5 minutes
#   bench/mlserver.sh --rounds 1 --duration 2s --clients load
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
profile="${PROFILE:-release}"
cargo build --profile "$profile" --locked --quiet --bin grpc-showcase --bin load

venv="$CARGO_TARGET_DIR/mlserver-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/mlserver/requirements.txt

clients_venv="$CARGO_TARGET_DIR/bench-venv"
[ -x "$clients_venv/bin/python" ] || python3 -m venv "$clients_venv"
"$clients_venv/bin/pip" install --quiet --disable-pip-version-check -r bench/python/requirements.txt

exec python3 bench/mlserver.py --target-dir "$CARGO_TARGET_DIR" --profile "$profile" \
  --mlserver "$venv/bin/mlserver" --python "$clients_venv/bin/python" "$@"
