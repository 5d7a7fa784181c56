#!/usr/bin/env bash
# bench/http-compare.sh ROUNDS SECONDS ROOT PATH... : wrk -t1 -c60 against parley http, nginx with
# one worker and with auto, and Kestrel (bench/KestrelStatic), all serving ROOT, alternated server
# by server in each round; one line per run. Needs wrk and nginx (apt-get install wrk nginx-light)
# and Release builds: dotnet build -c Release src/Parley.Cli bench/KestrelStatic.
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=$1; SECONDS_EACH=$2; ROOT=$(realpath "$3"); shift 3
PARLEY=${PARLEY:-src/Parley.Cli/bin/Release/net10.0/parley}
KESTREL=bench/KestrelStatic/bin/Release/net10.0/KestrelStatic
conf=$(mktemp -d)
trap 'rm -rf "$conf"' EXIT
for workers in 1 auto; do
  port=$([ $workers = 1 ] && echo 18082 || echo 18083)
  cat >"$conf/nginx-$workers.conf" <<CONF
worker_processes $workers;
daemon off;
pid $conf/nginx-$workers.pid;
error_log $conf/error.log warn;
events { worker_connections 20000; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000000;
  include /etc/nginx/mime.types;
  server { listen 127.0.0.1:$port; root $ROOT; }
}
CONF
done
for round in $(seq 1 "$ROUNDS"); do
  for server in ${SERVERS:-parley nginx1 nginxauto kestrel}; do
    case $server in
      parley) "$PARLEY" http --root "$ROOT" --port 18081 --log-level Warning >/dev/null 2>&1 & pid=$!; port=18081 ;;
      nginx1) nginx -c "$conf/nginx-1.conf" >/dev/null 2>&1 & pid=$!; port=18082 ;;
      nginxauto) nginx -c "$conf/nginx-auto.conf" >/dev/null 2>&1 & pid=$!; port=18083 ;;
      kestrel) "$KESTREL" "$ROOT" 18084 >/dev/null 2>&1 & pid=$!; port=18084 ;;
    esac
    sleep 1.5
    for path in "$@"; do
      wrk -t1 -c60 -d2 "http://127.0.0.1:$port$path" >/dev/null 2>&1 # warm-up
      out=$(wrk -t1 -c60 -d"$SECONDS_EACH" --latency "http://127.0.0.1:$port$path")
      echo "round $round $server $path" \
        "req/s $(echo "$out" | awk '/Requests\/sec/{print $2}')" \
        "p50 $(echo "$out" | awk '/ 50%/{print $2}') p99 $(echo "$out" | awk '/ 99%/{print $2}')" \
        "$(echo "$out" | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ')"
    done
    case $server in nginx*) kill -QUIT $pid ;; *) kill -TERM $pid ;; esac
    wait $pid 2>/dev/null
  done
done
