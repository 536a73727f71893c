#!/usr/bin/env bash
# Video frames per core against the Python + OpenCV server, in one command: builds the
# server and the load tool (the `dist` profile unless PROFILE names another), installs
# the Python reference (grpcio, OpenCV) from PyPI into a virtual environment, then
# bench/video.py runs both servers alternately and writes the table (stdout and
# $CARGO_TARGET_DIR/bench/video.md).
#
#   bench/video.sh                                     # 3 rounds of 4 s per row, 2 clients, about 30 min
#   bench/video.sh --clients grpcio                    # grpcio's rows only, about 15 min
#   bench/video.sh --rounds 1 --duration 2s --sizes 640x480    # a quick look
#   PROFILE=release bench/video.sh                     # what `cargo run --release` builds
#   bench/video.sh --scaling                           # one stream on one core against two
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
profile="${PROFILE:-dist}"
cargo build --profile "$profile" --locked --quiet --bin grpc-showcase --bin load

venv="$CARGO_TARGET_DIR/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/python/requirements.txt

if ! command -v taskset >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq util-linux >/dev/null
fi

exec "$venv/bin/python" bench/video.py --target-dir "$CARGO_TARGET_DIR" --profile "$profile" \
  --python "$venv/bin/python" "$@"
