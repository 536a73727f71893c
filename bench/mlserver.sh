#!/usr/bin/env bash
# The Open Inference Protocol against Seldon MLServer (bench/mlserver.py), in one
# command: builds the server and the load tool (the `release` profile unless PROFILE
# names another), installs MLServer and onnxruntime from PyPI into a virtual
# environment, then runs both servers alternately and prints the table.
#
#   bench/mlserver.sh                       # 3 rounds of 3 s per row, about 2 minutes
#   bench/mlserver.sh --rounds 1 --duration 2s
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
profile="${PROFILE:-release}"
cargo build --profile "$profile" --locked --quiet --bin grpc-showcase --bin load

venv="$CARGO_TARGET_DIR/mlserver-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/mlserver/requirements.txt

exec python3 bench/mlserver.py --target-dir "$CARGO_TARGET_DIR" --profile "$profile" \
  --mlserver "$venv/bin/mlserver" "$@"
