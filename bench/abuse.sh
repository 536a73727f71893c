#!/usr/bin/env bash
# The hostile-client probe at full size (bench/abuse.rs) against each server binary
# given, one after the other, each started fresh with its default flags:
#
#   bench/abuse.sh [SERVER_BINARY ...]
#
# With no argument, the release build of this checkout (built if missing). Give an
# older build too to compare before and after. Takes about 2 minutes per binary.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
    cargo build --release --bin grpc-showcase
    set -- target/release/grpc-showcase
fi
cargo build --release -p grpc-showcase-bench --bin abuse
probe=target/release/abuse
port=50093

for server in "$@"; do
    echo "== $server"
    for attack in memory slots stalled; do
        data=$(mktemp -d)
        "$server" --listen "127.0.0.1:$port" --data-dir "$data" --log-level warn &
        pid=$!
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.1
        done
        "$probe" --addr "127.0.0.1:$port" --pid "$pid" --attack "$attack" || true
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -rf "$data"
    done
done
