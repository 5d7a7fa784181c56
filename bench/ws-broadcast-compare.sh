#!/usr/bin/env bash
# Broadcast over WebSocket, side by side: `parley echo --transport ws --mode broadcast` and a
# minimal ASP.NET Core SignalR hub (bench/SignalRHub), both started here, driven alternately by
# `parley bench broadcast --target … --server-pid …` with the same clients, size and rate.
# Usage: bench/ws-broadcast-compare.sh [ROUNDS] [SECONDS] [CLIENTS]
# Environment: PARLEY (the parley binary; default: the Release build).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
seconds=${2:-20}
clients=${3:-1000}
parley=${PARLEY:-src/Parley.Cli/bin/Release/net10.0/parley}
dotnet build -c Release src/Parley.Cli -v quiet -nologo >/dev/null
dotnet build -c Release bench/SignalRHub -v quiet -nologo >/dev/null

"$parley" echo --transport ws --mode broadcast --port 19700 --max-connections $((clients + 100)) \
  --max-connections-per-address $((clients + 100)) --log-level Warning --summary-interval 3600 >/tmp/ws-echo.log 2>&1 &
echo_pid=$!
bench/SignalRHub/bin/Release/net10.0/SignalRHub 19701 >/tmp/ws-hub.log 2>&1 &
hub_pid=$!
trap 'kill $echo_pid $hub_pid 2>/dev/null || true' EXIT
sleep 2

run() { # name transport port pid
  "$parley" bench broadcast --clients "$clients" --size 100 --interval-ms 1000 --duration "$seconds" \
    --transport "$2" --target "127.0.0.1:$3" --server-pid "$4" --json 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin); s=d.get('server') or {}; l=d['latency_ms']
print('$1', 'delivered', d['delivered'], '/', d['expected'], 'p50', l['p50'], 'p99', l['p99'],
      'server_rss_peak_mb', s.get('peak_rss_mb'), 'server_cpu', s.get('avg_cpu_pct'), 'bench_cpu', d['bench_cpu_pct'])"
}
for r in $(seq 1 "$rounds"); do
  run "parley-ws r$r" ws 19700 $echo_pid
  run "signalr r$r" signalr 19701 $hub_pid
done
