#!/usr/bin/env bash
# bench/dns/run.sh — the DNS router's queries per second on one core, and
# the time it adds per query, measured with dnsperf.
#
#   bench/dns/run.sh            # 3 rounds of 10 s at full load, then 5 s at 2,000 q/s
#   DURATION=3 ROUNDS=1 bench/dns/run.sh
#
# Builds tern and a small City database into $WORK, starts `tern router`
# on SERVER_CPU (default 0) answering 3 POPs, and runs dnsperf on
# CLIENT_CPU (default 1): once with plain queries (the resolver's address,
# 127.0.0.1, is not in the database: the default POP), once with an EDNS
# Client Subnet of a Berlin network (a geo lookup and a distance ranking
# per query), then a low fixed rate for the latency one query sees.
# Installs dnsperf with apt-get when missing. Only 127.0.0.1 is used; only
# the router this script started is stopped, by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-28053}
WORK=${WORK:-$(mktemp -d -t tern-dnsbench.XXXXXX)}

command -v dnsperf >/dev/null || { apt-get update -qq && apt-get install -y -qq dnsperf >/dev/null; }
command -v taskset >/dev/null || { apt-get update -qq && apt-get install -y -qq util-linux >/dev/null; }

cd "$ROOT"
go build -o "$WORK/tern" ./cmd/tern
go run ./bench/dns/mkgeo "$WORK/city.mmdb"
cat >"$WORK/router.yaml" <<YAML
admin: {listen: "off"}
geo: {database: "$WORK/city.mmdb"}
router:
  listen: "127.0.0.1:$PORT"
  zone: cdn.example
  pops:
    - {name: fra, latitude: 50.11, longitude: 8.68, addresses: [127.0.0.2, "2001:db8::2"]}
    - {name: iad, latitude: 38.95, longitude: -77.45, addresses: [127.0.0.3, "2001:db8::3"]}
    - {name: nrt, latitude: 35.77, longitude: 140.39, addresses: [127.0.0.4, "2001:db8::4"]}
distributions:
  - id: site
    aliases: [www.cdn.example]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: 9}]
    default_cache_behavior: {target_origin_id: o}
YAML
printf 'www.cdn.example A\nwww.cdn.example AAAA\nnope.cdn.example A\n' >"$WORK/queries.txt"

taskset -c "$SERVER_CPU" "$WORK/tern" router --config "$WORK/router.yaml" >"$WORK/router.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "DNS on" "$WORK/router.log" && break; sleep 0.1; done
grep -q "DNS on" "$WORK/router.log" || { cat "$WORK/router.log"; exit 1; }

perf() { taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries.txt" "$@" 2>&1; }
report() { awk -v what="$1" '/Queries per second/ {q=$4} /Queries lost/ {l=$3} /Average Latency/ {a=$4*1e6} /Latency StdDev/ {s=$4*1e6}
  END {printf "%-26s %10.0f q/s  lost %s  mean %7.0f µs  sd %7.0f µs\n", what, q, l, a, s}'; }
for r in $(seq "$ROUNDS"); do
  perf -l "$DURATION" -c 4 -Q 500000 | tee -a "$WORK/raw.txt" | report "full load, resolver addr"
  perf -l "$DURATION" -c 4 -Q 500000 -E 8:00011800510245 | tee -a "$WORK/raw.txt" | report "full load, ECS 81.2.69.0/24"
done
perf -l 5 -c 1 -Q 2000 -E 8:00011800510245 | tee -a "$WORK/raw.txt" | report "2,000 q/s, ECS"
echo "raw output: $WORK/raw.txt"
