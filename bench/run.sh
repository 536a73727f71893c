#!/usr/bin/env bash
# The whole benchmark report in one command: builds the server, the load tool and the bare
# tonic reference with the fully optimized profile (`dist`: fat LTO, one codegen unit; see
# Cargo.toml), or the one PROFILE names; installs the Python grpcio references from PyPI into a virtual
# environment (with the grpcio client's grpcio-tools); makes sure valgrind is there; then
# bench/run.py starts everything, drives each server alternately with the load tool (grpcio's
# headers) and with grpcio itself (bench/clients.py), and writes a table per comparison
# (stdout and $CARGO_TARGET_DIR/bench/report.md).
#
#   bench/run.sh                                  # 5 rounds of 10 s per run, about 40 min
#   bench/run.sh --only sayhello,fraud --skip-callgrind       # the targets' rows, about 25 min
#   bench/run.sh --rounds 1 --duration 1s --pairs 0 --skip-callgrind    # a quick look, 1 min
#   bench/run.sh --server-binary /tmp/gs-before/grpc-showcase --clients load,bare,grpcio
#                                                 # another build, and the old headers too
#   PROFILE=release bench/run.sh                  # what `cargo run --release` builds
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
profile="${PROFILE:-dist}"
cargo build --profile "$profile" --locked --quiet \
  --bin grpc-showcase --bin load --bin bare_greeter --bin startup

venv="$CARGO_TARGET_DIR/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/python/requirements.txt

# valgrind for instruction counts, taskset for pinning, and Debian's mimalloc to preload
# into the bare tonic reference (the allocator grpc-showcase is built with).
if ! command -v valgrind >/dev/null || ! command -v taskset >/dev/null \
    || ! ldconfig -p | grep -q 'libmimalloc\.so\.2 '; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq valgrind util-linux libmimalloc2.0 >/dev/null
fi

exec "$venv/bin/python" bench/run.py --target-dir "$CARGO_TARGET_DIR" --profile "$profile" \
  --python "$venv/bin/python" "$@"
