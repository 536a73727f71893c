#!/usr/bin/env bash
# The cost of the REST gateway and of auth, measured with the load tool against the
# server built with the fully optimized profile (`dist`, or PROFILE) on this machine. The gateway's clients use one HTTP/1.1 keep-alive
# connection per caller; gRPC's share one HTTP/2 connection unless --connections says
# otherwise, so both are shown. Runs each configuration alternately, REPS times, so
# that a noisy neighbour affects them all alike, and prints one line per run.
#
#   bench/edge_overhead.sh            # 2 rounds of 10 s per configuration
#   REPS=3 DURATION=20s CONCURRENCY=16 bench/edge_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPS="${REPS:-2}"
DURATION="${DURATION:-10s}"
CONCURRENCY="${CONCURRENCY:-16}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
profile="${PROFILE:-dist}"
cargo build --profile "$profile" --locked --quiet --bin grpc-showcase --bin load
server="$CARGO_TARGET_DIR/$profile/grpc-showcase"
load="$CARGO_TARGET_DIR/$profile/load"

work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
token="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '[{"name": "bench", "token": "%s", "allow": ["*"]}]\n' "$token" > "$work/tokens.json"

# Three servers: auth off on 50061; auth on on 50062; on 50063 a gateway whose
# upstream is 50061, the two-process setup (its own fraud model is not used).
"$server" --listen 127.0.0.1:50061 --data-dir "$work/a" --log-level warn &
"$server" --listen 127.0.0.1:50062 --data-dir "$work/b" --log-level warn --auth-tokens "$work/tokens.json" &
"$server" --listen 127.0.0.1:50063 --data-dir "$work/c" --log-level warn --gateway-upstream http://127.0.0.1:50061 &
for port in 50061 50062 50063; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done

run() { # name, port, load arguments...
  local name="$1" port="$2"
  shift 2
  local out
  out="$("$load" --addr "http://127.0.0.1:$port" --concurrency "$CONCURRENCY" --duration "$DURATION" "$@")"
  local rps p50 p99
  rps="$(awk '/^requests\/s/ {print $2}' <<<"$out")"
  p50="$(awk '/^latency ms/ {print $4}' <<<"$out")"
  p99="$(awk '/^latency ms/ {print $8}' <<<"$out")"
  printf '| %-34s | %8s | %7s | %7s |\n' "$name" "$rps" "$p50" "$p99"
}

echo "concurrency $CONCURRENCY, $DURATION per run, $REPS rounds, $(nproc) CPUs, $(date -u +%F)"
printf '| %-34s | %8s | %7s | %7s |\n' "configuration" "req/s" "p50 ms" "p99 ms"
echo "|---|---|---|---|"
for _ in $(seq "$REPS"); do
  run "gRPC PredictFraud, auth off" 50061 --rpc fraud
  run "gRPC, one connection per caller" 50061 --rpc fraud --connections "$CONCURRENCY"
  run "REST gateway, auth off" 50061 --rpc gateway
  run "REST gateway to a 2nd process" 50063 --rpc gateway
  run "gRPC PredictFraud, auth on" 50062 --rpc fraud --token "$token"
  run "REST gateway, auth on" 50062 --rpc gateway --token "$token"
done
