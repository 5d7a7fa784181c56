#!/usr/bin/env bash
# The chat server on one node beside three nodes sharing rooms through NATS JetStream, the same
# load alternated: rust-readme (48 users, 2 per room) against `parley serve` (its journal) and
# spread over three `parley serve --cluster` nodes (`parley bench chat --targets`, which checks
# one order per room and one id per message across nodes). All on this machine: nats-server,
# the nodes and the bench share its cores.
# Usage: bench/cluster-compare.sh [ROUNDS] [SECONDS] [RATE]
# Environment: PARLEY (the parley binary; default: the Release build), NATS (nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-15}
rate=${3:-200}
parley=${PARLEY:-src/Parley.Cli/bin/Release/net10.0/parley}
nats=${NATS:-nats-server}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT

"$nats" -js -a 127.0.0.1 -p 19800 -sd "$work/js" >"$work/nats.log" 2>&1 & pids+=($!)
sleep 1
"$parley" serve --port 19810 --web-port 0 --data "$work/single" --log-level Warning --summary-interval 3600 >"$work/single.log" 2>&1 & single=$!; pids+=($single)
for n in 1 2 3; do
  "$parley" serve --port $((19810 + n)) --web-port 0 --data "$work/n$n" --cluster nats://127.0.0.1:19800 --node-name "n$n" \
    --log-level Warning --summary-interval 3600 >"$work/n$n.log" 2>&1 & pids+=($!)
done
sleep 4

report() { # name
  python3 -c "
import json,sys; d=json.load(sys.stdin); l=d['latency_ms']
print('$1', 'in/s', d['msgs_in_per_s'], 'delivered', d['delivered'], '/', d['expected'], 'lost', d['lost'], 'dup', d['duplicated'],
      'reordered', d['reordered'], 'order_violations', d.get('order_violations'), 'id_mismatches', d.get('id_mismatches'),
      'p50', l['p50'], 'p99', l['p99'], 'max', l['max'], 'errors', d['errors'])"
}
for r in $(seq 1 "$rounds"); do
  "$parley" bench chat --rate "$rate" --duration "$seconds" --target 127.0.0.1:19810 --server-pid $single --json 2>"$work/bench-single.err" | report "single r$r" || { tail -5 "$work/bench-single.err"; exit 1; }
  "$parley" bench chat --rate "$rate" --duration "$seconds" --targets 127.0.0.1:19811,127.0.0.1:19812,127.0.0.1:19813 --json 2>"$work/bench-cluster.err" | report "3-nodes r$r" || { tail -5 "$work/bench-cluster.err"; exit 1; }
done
"$parley" cluster status --cluster nats://127.0.0.1:19800 | head -3
