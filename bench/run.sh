#!/usr/bin/env bash
# bench/run.sh — Tern vs nginx proxy_cache, side by side, on one machine.
#
#   bench/run.sh                 # 3 rounds of 10 s runs, about 5 minutes
#   QUICK=1 bench/run.sh         # 1 round of 3 s runs, about 1 minute
#   TARGETS=nginx bench/run.sh   # one target only
#   DISK=1 bench/run.sh          # disk-tier hits (also: bench/run.sh disk)
#   TLS=1 bench/run.sh           # HTTPS hits and handshakes (also: bench/run.sh tls)
#   H2=1 bench/run.sh            # HTTP/2 hits with h2load (also: bench/run.sh h2)
#   H3=1 bench/run.sh            # tern alone: HTTP/3, HTTP/2, HTTP/1.1 (also: bench/run.sh h3)
#
# Starts an origin, nginx (proxy_cache) and tern, each in front of the
# origin, measures cache-hit throughput per object size with wrk and a
# 200-viewer miss storm, prints a table of medians and writes everything
# to $WORK/results.txt. See bench/README.md for the method.
#
# Disk mode instead gives tern a small memory tier and a disk tier beside
# nginx's cache, spreads the requests over an object set larger than the
# memory tier, and reports tern's hits per tier (no storm).
#
# TLS mode instead serves HTTPS from both (the same ECDSA P-256
# certificate, made here with openssl) and measures hits over keep-alive
# connections with wrk, and a new connection with a full TLS handshake per
# request with bench/handshake (no storm).
#
# H2 mode serves HTTPS as TLS mode does and measures HTTP/2 hits with
# h2load: a few connections, several streams in flight on each. H3 mode
# measures tern alone, with HTTP/3 on, over HTTP/3, HTTP/2 and HTTP/1.1
# with one client (bench/protoload), so its figures are ratios between
# the protocols (nginx 1.22 has no HTTP/3).
#
# Environment (defaults):
#   ROUNDS=3 DURATION=10 (seconds per wrk run)   QUICK=1: ROUNDS=1 DURATION=3
#   WARM_DURATION=2 CONNS=64 SIZES="1k 64k 1m" TARGETS="nginx tern"
#   SERVER_CPU=0 (nginx, tern)  CLIENT_CPU=1 (wrk, storm)  ORIGIN_CPU=1
#   ORIGIN_PORT=28180 NGINX_PORT=28110 TERN_PORT=28190
#   STORM_N=200 STORM_DELAY=200 (ms)
#   MAX_FOREIGN=0.10  cores used by other processes during a run above which
#                     the run is repeated once (RETRY=1); of the attempts, the
#                     least disturbed one counts.
#                     Before each run, wait up to QUIET_WAIT=30 seconds for
#                     other work to fall below it.
#   WORK=<mktemp -d -t tern-bench.XXXXXX>  configs, logs, raw output, results
#   TERN_BIN=<a tern binary to measure instead of building ./cmd/tern>
#   Disk mode (DISK=1): SIZES="64k 1m" OBJECTS="64k:512 1m:256" (objects per
#     size; other sizes: 32 MiB worth, at least 64) DISK_MEMORY=16MiB
#     DISK_MAX_OBJECT=256KiB (tern's memory tier) DISK_SIZE=2GiB
#     TERN_ADMIN_PORT=28191 (tern's /metrics) DISK_WAIT=60 (seconds to wait
#     for tern's disk tier to hold the whole set)
#   TLS mode (TLS=1): SIZES="1k 64k" (keep-alive hits) HS_SIZES="1k" (one
#     handshake per request, shown as "<size>+hs") HS_CURVES=x25519 (the key
#     exchanges bench/handshake offers; "default" for Go's, which puts
#     X25519MLKEM768 first, a hybrid Debian 12's OpenSSL 3.0 lacks)
#     NGINX_TLS_PORT=28111 TERN_TLS_PORT=28192 TERN_ADMIN_PORT=28191
#     PROFILE=1: a CPU profile of tern during each of round 1's runs, from
#     its admin listener, into $WORK/raw/tern-<size>.pprof
#   H2 mode (H2=1): TLS mode's servers and SIZES; h2load -t1 -c$H2_CONNS
#     -m$H2_STREAMS (H2_CONNS=16 H2_STREAMS=10); no handshake runs
#   H3 mode (H3=1): TARGETS="h1 h2 h3" (protocols, all against tern),
#     bench/protoload -c$H3_CONNS -m$H3_STREAMS (H3_CONNS=16 H3_STREAMS=10;
#     h1 gets c x m connections); tern has edge.tls.http3 on
#
# Only 127.0.0.1 is used. Only processes this script started are signalled,
# by PID, on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export PATH=$PATH:/usr/sbin:/sbin:/usr/local/go/bin

case ${1:-} in
'') ;;
disk) DISK=1 ;;
tls) TLS=1 ;;
h2) H2=1 ;;
h3) H3=1 ;;
*)
	echo "usage: [VAR=value ...] $0 [disk|tls|h2|h3]  (see the comment at the top)" >&2
	exit 2
	;;
esac
: "${DISK:=0}" "${TLS:=0}" "${H2:=0}" "${H3:=0}" "${PROFILE:=0}"
if [ $((DISK + TLS + H2 + H3)) -gt 1 ]; then
	echo "$0: DISK=1, TLS=1, H2=1 and H3=1 are separate modes; choose one" >&2
	exit 2
fi
# H2 and H3 modes serve HTTPS as TLS mode does (the same certificate and
# listeners); only the loads differ, and there are no handshake runs.
if [ "$H2" = 1 ] || [ "$H3" = 1 ]; then
	TLS=1
	HS_SIZES=${HS_SIZES-}
	: "${H2_CONNS:=16}" "${H2_STREAMS:=10}" "${H3_CONNS:=16}" "${H3_STREAMS:=10}"
fi
if [ "$H3" = 1 ]; then : "${TARGETS:=h1 h2 h3}"; fi
if [ "$TLS" = 1 ]; then
	: "${SIZES:=1k 64k}" "${HS_SIZES=1k}" "${HS_CURVES:=x25519}" "${PROFILE:=0}"
	: "${NGINX_TLS_PORT:=28111}" "${TERN_TLS_PORT:=28192}" "${TERN_ADMIN_PORT:=28191}"
fi
if [ "$DISK" = 1 ]; then
	: "${SIZES:=64k 1m}" "${OBJECTS:=64k:512 1m:256}"
	: "${DISK_MEMORY:=16MiB}" "${DISK_MAX_OBJECT:=256KiB}" "${DISK_SIZE:=2GiB}"
	: "${TERN_ADMIN_PORT:=28191}" "${DISK_WAIT:=60}"
fi
if [ "${QUICK:-0}" = 1 ]; then
	: "${ROUNDS:=1}" "${DURATION:=3}" "${WARM_DURATION:=1}"
fi
: "${ROUNDS:=3}" "${DURATION:=10}" "${WARM_DURATION:=2}" "${CONNS:=64}"
: "${SIZES:=1k 64k 1m}" "${TARGETS:=nginx tern}"
: "${SERVER_CPU:=0}" "${CLIENT_CPU:=1}" "${ORIGIN_CPU:=1}"
: "${ORIGIN_PORT:=28180}" "${NGINX_PORT:=28110}" "${TERN_PORT:=28190}"
: "${STORM_N:=200}" "${STORM_DELAY:=200}" "${MAX_FOREIGN:=0.10}" "${RETRY:=1}" "${QUIET_WAIT:=30}"
DURATION=${DURATION%s} WARM_DURATION=${WARM_DURATION%s} STORM_DELAY=${STORM_DELAY%ms}
ORIGIN=127.0.0.1:$ORIGIN_PORT

if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d -t tern-bench.XXXXXX); fi
mkdir -p "$WORK/bin" "$WORK/raw"
RESULTS=$WORK/results.txt
: >"$WORK/log.txt"

log() { echo "[bench $(date +%H:%M:%S)] $*" | tee -a "$WORK/log.txt" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# ------------------------------------------------------------------ cleanup
PIDS=()
cleanup() {
	local pid i
	for pid in "${PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "[bench] pid $pid did not stop on SIGTERM, sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ install
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
if [ "$TLS" = 1 ]; then command -v openssl >/dev/null || need+=(openssl); fi
if [ "$H2" = 1 ]; then command -v h2load >/dev/null || need+=(nghttp2-client); fi
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	$SUDO apt-get update
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}"
fi
if [ "$(nproc --all)" -lt 2 ]; then
	log "one CPU only: client and servers share CPU 0; numbers are not comparable with 2-CPU runs"
	SERVER_CPU=0 CLIENT_CPU=0 ORIGIN_CPU=0
fi

has_target() { case " $TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }
for t in $TARGETS; do
	if [ "$H3" = 1 ]; then
		case $t in h1 | h2 | h3) ;; *) die "unknown target $t (H3 mode: want protocols h1, h2 and/or h3)" ;; esac
		continue
	fi
	case $t in nginx | tern) ;; *) die "unknown target $t (want nginx and/or tern)" ;; esac
done
# SERVERS: the servers to start. In H3 mode the targets are protocols, all
# of them tern's.
SERVERS=$TARGETS
if [ "$H3" = 1 ]; then SERVERS=tern; fi
has_server() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------------ build
GO=$(command -v go) || die "go not found"
log "building into $WORK/bin"
(cd "$ROOT" && "$GO" build -o "$WORK/bin/origin" ./bench/origin && "$GO" build -o "$WORK/bin/storm" ./bench/storm &&
	"$GO" build -o "$WORK/bin/handshake" ./bench/handshake && "$GO" build -o "$WORK/bin/protoload" ./bench/protoload)
if has_server tern && [ -n "${TERN_BIN:-}" ]; then
	cp "$TERN_BIN" "$WORK/bin/tern" || die "TERN_BIN=$TERN_BIN: cannot copy it"
elif has_server tern; then
	(cd "$ROOT" && "$GO" build -o "$WORK/bin/tern" ./cmd/tern) || die "tern does not build (go build ./cmd/tern); run with TARGETS=nginx to measure nginx alone"
fi

# ------------------------------------------------------------------ helpers
size_bytes() {
	case $1 in
	*k) echo $((${1%k} * 1024)) ;;
	*m) echo $((${1%m} * 1048576)) ;;
	*) echo "$1" ;;
	esac
}

# port_of name: the port the runs measure (in TLS mode the HTTPS one).
port_of() {
	if [ "$TLS" = 1 ]; then
		case $1 in nginx) echo "$NGINX_TLS_PORT" ;; tern | h1 | h2 | h3) echo "$TERN_TLS_PORT" ;; esac
		return 0
	fi
	case $1 in nginx) echo "$NGINX_PORT" ;; tern) echo "$TERN_PORT" ;; esac
}

# base_of name: the URL base the runs measure, e.g. https://127.0.0.1:28192.
base_of() {
	if [ "$TLS" = 1 ]; then echo "https://127.0.0.1:$(port_of "$1")"; else echo "http://127.0.0.1:$(port_of "$1")"; fi
}

# CURL: curl, trusting the benchmark's certificate in TLS mode.
CURL=(curl)
if [ "$TLS" = 1 ]; then CURL=(curl --cacert "$WORK/tls/cert.pem"); fi

# size_of label: the object size of a run's label ("1k+hs" is 1k).
size_of() { echo "${1%+hs}"; }

# RUN_SIZES: the labels of the runs, in order: each size, then in TLS mode
# each handshake size as "<size>+hs".
RUN_SIZES=$SIZES
if [ "$TLS" = 1 ]; then
	for s in $HS_SIZES; do RUN_SIZES="$RUN_SIZES $s+hs"; done
fi

objects_of() { # disk mode: how many objects of a size the set holds
	local kv
	for kv in $OBJECTS; do
		if [ "${kv%%:*}" = "$1" ]; then
			echo "${kv#*:}"
			return 0
		fi
	done
	echo $(((32 * 1048576 / $(size_bytes "$1")) > 64 ? 32 * 1048576 / $(size_bytes "$1") : 64))
}

tern_metric() { # tern_metric name tier: one sample from tern's /metrics, as an integer
	curl -fs --max-time 5 "http://127.0.0.1:$TERN_ADMIN_PORT/metrics" |
		awk -v m="$1{" -v t="tier=\"$2\"" 'index($1, m) == 1 && index($1, t) {
			printf "%.0f\n", $2; found = 1; exit
		} END {if (!found) print 0}'
}

tier_summary() { # tier_summary metrics-file: objects and MiB per tern cache tier
	awk '/^tern_cache_(objects|bytes)\{/ {
			match($1, /tier="[^"]*"/); t = substr($1, RSTART + 6, RLENGTH - 7)
			if (!(t in seen)) { seen[t] = 1; order[++n] = t }
			if ($1 ~ /^tern_cache_objects/) o[t] = $2; else b[t] = $2
		}
		END {
			for (i = 1; i <= n; i++) printf "%s%s %.0f objects, %.1f MiB", (i > 1 ? "; " : ""), order[i], o[order[i]], b[order[i]] / 1048576
			print ""
		}' "$1"
}

port_free() {
	if ss -Hltn "sport = :$1" | grep -q .; then
		die "port $1 is in use (set ${2}_PORT to another)"
	fi
}

wait_http() { # wait_http host:port path: up to 30 s for any HTTP answer
	local i
	for i in $(seq 1 150); do
		if curl -s -o /dev/null --max-time 2 "http://$1$2"; then return 0; fi
		sleep 0.2
	done
	return 1
}

wait_https() { # wait_https name: up to 10 s for an HTTPS answer from a target
	local i
	for i in $(seq 1 50); do
		if "${CURL[@]}" -s -o /dev/null --max-time 2 "$(base_of "$1")/ready"; then return 0; fi
		sleep 0.2
	done
	return 1
}

origin_uri_count() { # requests the origin received for one request URI
	curl -fsG --max-time 5 --data-urlencode "path=$1" "http://$ORIGIN/stats"
}

origin_total() { # requests the origin received for any URI
	curl -fs --max-time 5 "http://$ORIGIN/stats" | grep -o '"total":[0-9]*' | cut -d: -f2
}

server_pids() { # PIDs holding the listening socket on a port (nginx: master and worker)
	ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | tr '\n' ' '
}

cpu_ticks() { # utime+stime ticks of whole processes
	local t=0 p f
	for p in "$@"; do
		if [ -r "/proc/$p/stat" ]; then
			f=$(sed 's/^.*) //' "/proc/$p/stat")
			# shellcheck disable=SC2086
			set -- $f
			t=$((t + ${12} + ${13}))
		fi
	done
	echo "$t"
}

proc_snapshot() { # "pid ticks" of every process on the machine
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } |
		awk '{pid=$1; sub(/^[0-9]+ \(.*\) /, ""); print pid, $12+$13}'
}

foreign_ticks() { # CPU ticks, between two snapshots, of processes not in $3
	awk -v skip=" $3 " 'FNR==NR {pre[$1]=$2; next}
		index(skip, " " $1 " ") == 0 {t += $2 - (($1 in pre) ? pre[$1] : 0)}
		END {print t+0}' "$1" "$2"
}

busy_ticks() { # machine-wide non-idle CPU ticks
	awk '/^cpu / {b = 0; for (i = 2; i <= NF; i++) b += $i; print b - $5 - $6}' /proc/stat
}

# wait_quiet: between runs the servers are idle, so any CPU in use is other
# work on the machine. Wait (up to QUIET_WAIT seconds) until it falls to
# MAX_FOREIGN cores, so runs start on a quiet machine when there is one.
wait_quiet() {
	local i b0 b1 used
	for i in $(seq 1 "$QUIET_WAIT"); do
		b0=$(busy_ticks)
		sleep 1
		b1=$(busy_ticks)
		used=$(awk -v t=$((b1 - b0)) -v k="$CLK" 'BEGIN {printf "%.2f", t / k}')
		awk -v u="$used" -v m="$MAX_FOREIGN" 'BEGIN {exit !(u <= m)}' && return 0
		if [ "$i" = 1 ]; then log "other work uses $used cores; waiting up to ${QUIET_WAIT}s for it to settle"; fi
	done
	log "machine still busy ($used cores) after ${QUIET_WAIT}s; measuring anyway"
}


CLK=$(getconf CLK_TCK)

# ------------------------------------------------------------------ configs
# make_cert: TLS mode, one self-signed ECDSA P-256 certificate for both
# servers, for bench.test and 127.0.0.1.
make_cert() {
	mkdir -p "$WORK/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" -days 30 -subj /CN=bench.test \
		-addext "subjectAltName=DNS:bench.test,IP:127.0.0.1" 2>"$WORK/tls/openssl.log" ||
		die "openssl could not make the certificate (see $WORK/tls/openssl.log)"
}

# tls_params name: what a default OpenSSL client (wrk's library) negotiates
# with a target, and the protocol it picks from ALPN h2,http/1.1.
tls_params() {
	local out
	out=$(openssl s_client -connect "127.0.0.1:$(port_of "$1")" -servername bench.test -alpn h2,http/1.1 </dev/null 2>/dev/null | tr -d '\000') || true
	printf '%s: %s\n' "$1" "$(grep -E '^(New,|Server Temp Key|Peer signature type|ALPN protocol|No ALPN)' <<<"$out" | tr '\n' ';' | sed 's/;$//')"
}

write_tern_config() {
	local cache admin
	mkdir -p "$WORK/tern"
	if [ "$DISK" = 1 ]; then
		mkdir -p "$WORK/tern/disk"
		# The disk directory is on the same filesystem as nginx's cache.
		cache="memory: $DISK_MEMORY
    max_object_size: $DISK_MAX_OBJECT
    disk: {path: $WORK/tern/disk, size: $DISK_SIZE}"
		admin=127.0.0.1:$TERN_ADMIN_PORT
	else
		cache="memory: 1GiB
    max_object_size: 64MiB"
		admin=off
	fi
	local tls=""
	if [ "$TLS" = 1 ]; then
		# HTTP/3 off: nginx 1.22 has none, and Alt-Svc would add a header
		# to every answer; H3 mode, tern alone, turns it on (and with it
		# Alt-Svc on every answer over TLS, whichever the protocol). The
		# admin listener is there for PROFILE=1.
		local h3=false
		if [ "$H3" = 1 ]; then h3=true; fi
		tls="  listen_tls: 127.0.0.1:$TERN_TLS_PORT
  tls:
    default_certificate:
      cert_file: $WORK/tls/cert.pem
      key_file: $WORK/tls/key.pem
    http3: $h3
"
		admin=127.0.0.1:$TERN_ADMIN_PORT
	fi
	cat >"$WORK/tern/tern.yaml" <<EOF
# Written by bench/run.sh: one distribution for any host, in front of the
# benchmark origin, no access log; the admin server (metrics) only in disk
# mode.
edge:
  listen: 127.0.0.1:$TERN_PORT
${tls}  node_id: bench
  cache:
    $cache
admin:
  listen: "$admin"
distributions:
  - id: bench
    aliases: ["*"]
    origins:
      - id: origin
        domain_name: 127.0.0.1
        http_port: $ORIGIN_PORT
    default_cache_behavior:
      target_origin_id: origin
      cache_policy: Managed-CachingOptimized
      # The storm's ?delay= must reach the origin; CachingOptimized keeps
      # query strings out of the cache key, so forward them here.
      origin_request_policy:
        query_strings: all
EOF
}

write_nginx_config() {
	local d=$WORK/nginx user=""
	mkdir -p "$d/cache" "$d/temp"
	# Workers run as the master's user when it is root, so they can write
	# the cache under $WORK (mode 700).
	if [ "$(id -u)" = 0 ]; then user="user root;"; fi
	local listen="listen 127.0.0.1:$NGINX_PORT reuseport backlog=4096;"
	if [ "$TLS" = 1 ]; then
		# TLS as Go's crypto/tls does it by default, as far as OpenSSL 3.0
		# goes: TLS 1.2 and 1.3, X25519 then P-256, P-384, P-521 (Go puts
		# the X25519MLKEM768 hybrid first; OpenSSL 3.0 has no ML-KEM), and
		# the server choosing AES-128-GCM first for TLS 1.3 as Go does on
		# CPUs with AES instructions (OpenSSL would follow the client's
		# order, AES-256-GCM first). No session tickets and no session
		# cache: every new connection is a full handshake.
		listen="$listen
        listen 127.0.0.1:$NGINX_TLS_PORT ssl http2 reuseport backlog=4096;
        ssl_certificate $WORK/tls/cert.pem;
        ssl_certificate_key $WORK/tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ecdh_curve X25519:prime256v1:secp384r1:secp521r1;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
        ssl_prefer_server_ciphers on;
        ssl_session_tickets off;
        ssl_session_cache off;"
	fi
	cat >"$d/nginx.conf" <<EOF
# Written by bench/run.sh: nginx as a caching reverse proxy (proxy_cache)
# with one worker, for the one CPU it is pinned to.
$user
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile 65536;
events {
    worker_connections 8192;
}
http {
    access_log off;
    sendfile on;
    # tcp_nopush on stalls 64 KiB hits by ~40 ms each on loopback.
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path $d/temp/body;
    proxy_temp_path $d/temp/proxy;
    fastcgi_temp_path $d/temp/fastcgi;
    uwsgi_temp_path $d/temp/uwsgi;
    scgi_temp_path $d/temp/scgi;

    # Cache files under the work directory, served from the page cache.
    proxy_cache_path $d/cache levels=1:2 keys_zone=edge:64m
                     max_size=4g inactive=1h use_temp_path=off;

    upstream origin {
        server $ORIGIN;
        keepalive 64;
    }
    server {
        $listen
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_lock on;        # collapse concurrent misses
            proxy_cache_lock_timeout 10s;
            proxy_cache_lock_age 10s;
            proxy_cache_revalidate on;
            proxy_cache_use_stale error timeout updating;
            proxy_cache_background_update on;
            proxy_buffer_size 16k;
            proxy_buffers 64 16k;
            add_header X-Cache-Status \$upstream_cache_status;
        }
    }
}
EOF
}

# ------------------------------------------------------------------ start
start_origin() {
	port_free "$ORIGIN_PORT" ORIGIN
	taskset -c "$ORIGIN_CPU" "$WORK/bin/origin" -listen "$ORIGIN" >"$WORK/origin.log" 2>&1 &
	PIDS+=($!)
	wait_http "$ORIGIN" /stats || die "origin did not start (see $WORK/origin.log)"
}

start_nginx() {
	port_free "$NGINX_PORT" NGINX
	if [ "$TLS" = 1 ]; then port_free "$NGINX_TLS_PORT" NGINX_TLS; fi
	write_nginx_config
	nginx -t -q -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" ||
		die "nginx rejects its config (see $WORK/nginx/error.log)"
	# daemon off: $! is nginx's master, which takes its worker down on TERM.
	taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
		-e "$WORK/nginx/error.log" >"$WORK/nginx/stdout.log" 2>&1 &
	PIDS=($! "${PIDS[@]}") # stop the proxies before the origin
	wait_http "127.0.0.1:$NGINX_PORT" /ready || die "nginx did not start (see $WORK/nginx/error.log)"
	if [ "$TLS" = 1 ]; then wait_https nginx || die "nginx does not answer HTTPS (see $WORK/nginx/error.log)"; fi
}

start_tern() {
	port_free "$TERN_PORT" TERN
	if [ "$DISK" = 1 ] || [ "$TLS" = 1 ]; then port_free "$TERN_ADMIN_PORT" TERN_ADMIN; fi
	if [ "$TLS" = 1 ]; then port_free "$TERN_TLS_PORT" TERN_TLS; fi
	write_tern_config
	taskset -c "$SERVER_CPU" "$WORK/bin/tern" serve --config "$WORK/tern/tern.yaml" \
		>"$WORK/tern/tern.log" 2>&1 &
	PIDS=($! "${PIDS[@]}")
	wait_http "127.0.0.1:$TERN_PORT" /ready || die "tern did not start (see $WORK/tern/tern.log)"
	if [ "$TLS" = 1 ]; then wait_https tern || die "tern does not answer HTTPS (see $WORK/tern/tern.log)"; fi
}

# check_target name size: the object is served whole, and a second GET is a
# hit. Prints the second answer's headers when it is not.
check_target() {
	local name=$1 s=$2 base code len o0 o1 h=$WORK/raw/check-$1-$2.txt
	base=$(base_of "$1")
	read -r code len < <("${CURL[@]}" -s -o /dev/null -w '%{http_code} %{size_download}\n' \
		--max-time 10 "$base/obj/$s/1")
	if [ "$code" != 200 ] || [ "$len" != "$(size_bytes "$s")" ]; then
		"${CURL[@]}" -s -D - -o /dev/null --max-time 10 "$base/obj/$s/1" >"$h" || true
		log "$name GET /obj/$s/1: status $code, $len bytes (want 200, $(size_bytes "$s")); headers:"
		sed 's/^/    /' "$h" >&2
		return 1
	fi
	o0=$(origin_total)
	"${CURL[@]}" -s -D "$h" -o /dev/null --max-time 10 "$base/obj/$s/1"
	o1=$(origin_total)
	if [ "$o0" != "$o1" ]; then
		log "WARNING: $name: a repeated GET /obj/$s/1 reached the origin (not a hit); headers:"
		sed 's/^/    /' "$h" >&2
	fi
	log "$name /obj/$s/1: $(tr -d '\r' <"$h" | grep -iE '^(x-cache|x-cache-status|via|age):' | tr '\n' ' ')"
}

# warm_set name size pass: disk mode, GET every object of the set once, in
# one curl on one connection. Fails unless every answer is 200 and whole;
# logs how many requests reached the origin.
warm_set() {
	local name=$1 s=$2 pass=$3 n hp i cfg out bad o0 o1
	n=$(objects_of "$s")
	hp=127.0.0.1:$(port_of "$name")
	cfg=$WORK/raw/warm-$name-$s.curl
	for i in $(seq 1 "$n"); do
		printf 'url = "http://%s/obj/%s/%d"\noutput = "/dev/null"\n' "$hp" "$s" "$i"
	done >"$cfg"
	o0=$(origin_total)
	out=$(taskset -c "$CLIENT_CPU" curl -s --max-time 30 -w '%{http_code} %{size_download}\n' -K "$cfg") || true
	o1=$(origin_total)
	bad=$(awk -v n="$n" -v w="$(size_bytes "$s")" '$1 != 200 || $2 != w {b++} END {print b + (n - NR > 0 ? n - NR : 0)}' <<<"$out")
	log "$name warm pass $pass: $n x $s, $bad not 200 and whole, $((o1 - o0)) origin requests"
	[ "$bad" = 0 ]
}

# wait_disk objects: disk mode, wait up to DISK_WAIT seconds for tern's disk
# tier to hold that many objects (its writes run behind the requests).
wait_disk() {
	local want=$1 got=0 i
	for i in $(seq 1 $((DISK_WAIT * 5))); do
		got=$(tern_metric tern_cache_objects disk0)
		if [ "$got" -ge "$want" ]; then
			log "tern disk0 holds $got objects (want $want) after $((i / 5)).$((i % 5 * 2))s"
			return 0
		fi
		sleep 0.2
	done
	log "WARNING: after ${DISK_WAIT}s tern's disk0 holds $got objects, not $want; tiers:"
	curl -fs --max-time 5 "http://127.0.0.1:$TERN_ADMIN_PORT/metrics" | grep '^tern_cache_' | sed 's/^/    /' >&2 || true
	return 1
}

# fetch_set host:port size dir: disk mode, every object of the set into
# dir/<n>, in one curl.
fetch_set() {
	local i n
	n=$(objects_of "$2")
	mkdir -p "$3"
	for i in $(seq 1 "$n"); do
		printf 'url = "http://%s/obj/%s/%d"\noutput = "%s/%d"\n' "$1" "$2" "$i" "$3" "$i"
	done >"$3.curl"
	taskset -c "$CLIENT_CPU" curl -s --max-time 30 -K "$3.curl" || true
}

# verify_bodies: disk mode, after the runs: is every object each target
# serves byte for byte the origin's? (Sizes alone do not show a cache
# answering one key with another key's object.) Appends to $WORK/verify.txt.
verify_bodies() {
	local s t i n bad ex d=$WORK/verify
	: >"$WORK/verify.txt"
	for s in $SIZES; do
		n=$(objects_of "$s")
		fetch_set "$ORIGIN" "$s" "$d/origin-$s"
		for t in $TARGETS; do
			fetch_set "127.0.0.1:$(port_of "$t")" "$s" "$d/$t-$s"
			bad=0 ex=""
			for i in $(seq 1 "$n"); do
				if ! cmp -s "$d/origin-$s/$i" "$d/$t-$s/$i"; then
					bad=$((bad + 1))
					if [ "$bad" -le 5 ]; then ex="$ex /obj/$s/$i"; fi
				fi
			done
			echo "$t $s: $bad of $n objects differ from the origin's${ex:+ (e.g.$ex)}" | tee -a "$WORK/verify.txt" >&2
			rm -rf "${d:?}/$t-$s"
		done
		rm -rf "${d:?}/origin-$s"
	done
}

# tern_hits: "memory disk0" hits so far (disk mode), "- -" otherwise.
tern_hits() {
	if [ "$DISK" = 1 ] && [ "$1" = tern ]; then
		echo "$(tern_metric tern_cache_hits_total memory) $(tern_metric tern_cache_hits_total disk0)"
	else
		echo "- -"
	fi
}

# ------------------------------------------------------------------ measure
RUNS=$WORK/runs.tsv
STORMS=$WORK/storms.tsv
printf 'round\tsize\ttarget\tattempt\tused\treq_s\tmb_s\tp50_ms\tp99_ms\terrors\torigin_reqs\tserver_cpu\twrk_cpu\tforeign_cpu\tmem_hits\tdisk_hits\n' >"$RUNS"
printf 'round\ttarget\tok\tfail\tbytes_bad\tall_ms\tp50_ms\tmax_ms\torigin_uri\torigin_all\tfollowup\tfollowup_cache\tcache_labels\n' >"$STORMS"
HANDSHAKES=$WORK/handshakes.tsv
printf 'round\tsize\ttarget\tattempt\thandshakes\n' >"$HANDSHAKES"

# h2load_result raw log: the RESULT line of an h2load run, from its
# summary (duration, bytes on the wire, failures) and its per-request log
# (status and microseconds of each request: answers, percentiles). An
# answer other than a 200 is an error; the log is removed afterwards.
h2load_result() {
	local raw=$1 lf=$2 dur bytes fails
	[ -s "$lf" ] || return 0
	dur=$(awk '/^finished in / {d = $3; sub(/s,$/, "", d); if (d ~ /ms$/) {sub(/ms$/, "", d); d /= 1000}; print int(d * 1e6)}' "$raw")
	bytes=$(awk '/^traffic: / {b = $3; gsub(/[()]/, "", b); print b}' "$raw")
	fails=$(awk '/^requests: / {print $10 + $12 + $14}' "$raw")
	sort -t"$(printf '\t')" -k3,3n "$lf" | awk -F'\t' -v d="$dur" -v b="$bytes" -v f="$fails" '
		$2 == 200 {lat[++n] = $3; next}
		{bad++}
		END {
			p50 = n ? lat[int(n * 0.50 + 0.999999)] : 0
			p99 = n ? lat[int(n * 0.99 + 0.999999)] : 0
			printf "RESULT requests=%d bytes=%.0f duration_us=%d p50_us=%d p99_us=%d max_us=%d errors=%d\n",
				n, b, d, p50, p99, (n ? lat[n] : 0), f + bad
		}'
	grep -E '^(TLS Protocol|Cipher|Server Temp Key|Application protocol):' "$raw" | tr '\n' ' ' |
		sed 's/^/NEGOTIATED /; s/ $/\n/'
	rm -f "$lf"
}

LAST_FOREIGN=0
run_wrk() { # run_wrk round size target attempt
	local r=$1 s=$2 name=$3 a=$4 port raw pids c0 c1 o0 o1 res wrkcpu ft hits prof=""
	local -a load h0 h1
	port=$(port_of "$name")
	raw=$WORK/raw/r$r-$s-$name-a$a.txt
	pids=$(server_pids "$port")
	if [ "$DISK" = 1 ]; then
		load=(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency
			-s "$HERE/spread.lua" "http://127.0.0.1:$port/" -- "/obj/$s/" "$(objects_of "$s")")
	elif [ "$s" != "$(size_of "$s")" ]; then
		# A new connection, and a full handshake, per request.
		load=("$WORK/bin/handshake" -addr "127.0.0.1:$port" -sni bench.test -path "/obj/$(size_of "$s")/1"
			-c "$CONNS" -d "${DURATION}s" -want-len "$(size_bytes "$(size_of "$s")")" -curves "$HS_CURVES")
	elif [ "$H2" = 1 ]; then
		# h2load prints no percentiles: each request's time goes to a
		# log file, which h2load_result turns into the RESULT line.
		load=(h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D "$DURATION" --log-file "$raw.log"
			"$(base_of "$name")/obj/$s/1")
	elif [ "$H3" = 1 ]; then
		load=("$WORK/bin/protoload" -proto "$name" -url "$(base_of "$name")/obj/$s/1" -sni bench.test
			-c "$H3_CONNS" -m "$H3_STREAMS" -d "${DURATION}s" -want-len "$(size_bytes "$s")")
	else
		load=(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$HERE/report.lua" "$(base_of "$name")/obj/$s/1")
	fi
	if [ "$PROFILE" = 1 ] && [ "$name" = tern ] && [ "$r" = 1 ] && [ "$a" = 0 ] && [ "$DURATION" -gt 3 ]; then
		# The profile covers the middle of the run: it starts a second in
		# and ends a second before the load does.
		(sleep 1 && curl -fs --max-time $((DURATION + 10)) -o "$WORK/raw/tern-$s.pprof" \
			"http://127.0.0.1:$TERN_ADMIN_PORT/debug/pprof/profile?seconds=$((DURATION - 2))") &
		prof=$!
	fi
	read -r -a h0 < <(tern_hits "$name")
	o0=$(origin_total)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	proc_snapshot >"$WORK/.pre"
	local TIMEFORMAT='%U %S' t0 t1
	t0=$(date +%s%N)
	{ time timeout $((DURATION + 30)) taskset -c "$CLIENT_CPU" "${load[@]}" >"$raw" 2>&1; } 2>"$raw.time" || true
	proc_snapshot >"$WORK/.post"
	t1=$(date +%s%N)
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	o1=$(origin_total)
	read -r -a h1 < <(tern_hits "$name")
	if [ "${h0[0]}" = - ]; then
		hits="-	-"
	else
		hits="$((h1[0] - h0[0]))	$((h1[1] - h0[1]))"
	fi
	if [ -n "$prof" ]; then wait "$prof" || log "no CPU profile from tern's admin listener"; fi
	if [ "$H2" = 1 ]; then h2load_result "$raw" "$raw.log" >>"$raw"; fi
	ft=$(foreign_ticks "$WORK/.pre" "$WORK/.post" "$pids")
	res=$(grep '^RESULT ' "$raw" | head -1) || true
	if grep -q '^HANDSHAKES ' "$raw"; then
		printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$name" "$a" "$(grep '^HANDSHAKES ' "$raw" | head -1 | cut -d' ' -f2-)" >>"$HANDSHAKES"
	fi
	if [ -z "$res" ]; then
		log "r$r $s $name: wrk failed (see $raw)"
		printf '%s\t%s\t%s\t%s\t1\t0\t0\t-\t-\t-\t%s\t-\t-\t0\t%s\n' "$r" "$s" "$name" "$a" "$((o1 - o0))" "$hits" >>"$RUNS"
		LAST_FOREIGN=0
		return 0
	fi
	wrkcpu=$(awk '{print $1 + $2}' "$raw.time")
	# RESULT requests= bytes= duration_us= p50_us= p99_us= max_us= errors=
	local line
	line=$(echo "${res#RESULT }" | awk -v r="$r" -v s="$s" -v n="$name" -v a="$a" -v o="$((o1 - o0))" \
		-v c="$((c1 - c0))" -v ft="$ft" -v k="$CLK" -v w="$wrkcpu" -v win="$(((t1 - t0) / 1000))" -v h="$hits" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		d = v["duration_us"] / 1e6
		printf "%s\t%s\t%s\t%s\t1\t%.0f\t%.1f\t%.2f\t%.2f\t%d\t%d\t%.2f\t%.2f\t%.2f\t%s\n",
			r, s, n, a, v["requests"] / d, v["bytes"] / d / 1e6, v["p50_us"] / 1000, v["p99_us"] / 1000,
			v["errors"], o, c / k / d, w / d, ft / k / (win / 1e6), h }')
	echo "$line" >>"$RUNS"
	LAST_FOREIGN=$(cut -f14 <<<"$line")
	log "r$r $s $name: $(cut -f6 <<<"$line") req/s $(cut -f7 <<<"$line") MB/s p99 $(cut -f9 <<<"$line") ms errors $(cut -f10 <<<"$line") origin $(cut -f11 <<<"$line") server_cpu $(cut -f12 <<<"$line") foreign_cpu $LAST_FOREIGN$([ "${h0[0]}" = - ] || echo " hits memory $(cut -f15 <<<"$line") disk0 $(cut -f16 <<<"$line")")"
}

# use_least_disturbed round size target: of the attempts at one run, only
# the one during which other processes used the least CPU counts.
use_least_disturbed() {
	awk -F'\t' -v OFS='\t' -v r="$1" -v s="$2" -v t="$3" '
		FNR == NR {
			if ($1 == r && $2 == s && $3 == t && (best == "" || $14 + 0 < min)) { best = $4; min = $14 + 0 }
			next
		}
		$1 == r && $2 == s && $3 == t {$5 = ($4 == best) ? 1 : 0}
		{print}' "$RUNS" "$RUNS" >"$RUNS.tmp"
	mv "$RUNS.tmp" "$RUNS"
}

run_storm() { # run_storm round target
	local r=$1 name=$2 port path out ou1 oa0 oa1 ou2 oa2 fu h
	port=$(port_of "$name")
	path="/obj/1k/storm-$name-r$r-$$-$RANDOM$RANDOM?delay=${STORM_DELAY}ms"
	oa0=$(origin_total)
	out=$(taskset -c "$CLIENT_CPU" "$WORK/bin/storm" -target "127.0.0.1:$port" -path "$path" \
		-n "$STORM_N" -want-len 1024 -timeout 30s -origin-delay "${STORM_DELAY}ms" 2>&1) || true
	ou1=$(origin_uri_count "$path")
	oa1=$(origin_total)
	oa1=$((oa1 - oa0))
	h=$WORK/raw/storm-r$r-$name-followup.txt
	curl -s -D "$h" -o /dev/null --max-time 10 "http://127.0.0.1:$port$path" || true
	ou2=$(origin_uri_count "$path")
	oa2=$(origin_total)
	if [ "$ou2" = "$ou1" ] && [ "$oa2" = "$((oa0 + oa1))" ]; then fu=hit; else fu=miss; fi
	local fc
	fc=$(tr -d '\r' <"$h" | awk -F': ' 'tolower($1) == "x-cache" || tolower($1) == "x-cache-status" {print $2; exit}' | cut -d' ' -f1)
	echo "$name r$r $path: $out origin_uri=$ou1 origin_all=$oa1 followup=$fu ($fc)" >>"$WORK/raw/storm.txt"
	kv() { grep -o "$1=[^ ]*" <<<"$out" | head -1 | cut -d= -f2-; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$name" \
		"$(kv ok)" "$(kv fail)" "$(kv bytes_bad)" "$(kv all_ms)" "$(kv p50_ms)" "$(kv max_ms)" \
		"$ou1" "$oa1" "$fu" "${fc:--}" "$(kv cache)" >>"$STORMS"
	log "storm r$r $name: $out origin_fetches=$ou1 (all uris: $oa1) followup=$fu ${fc:-}"
}

# ------------------------------------------------------------------ report
print_table() {
	if [ "$H2" = 1 ] || [ "$H3" = 1 ]; then
		echo "Hit throughput: medians of $ROUNDS round(s) of ${DURATION}s runs; client on CPU $CLIENT_CPU, server on CPU $SERVER_CPU"
	else
		echo "Hit throughput: medians of $ROUNDS round(s); wrk -t1 -c$CONNS -d${DURATION}s on CPU $CLIENT_CPU, server on CPU $SERVER_CPU"
	fi
	if [ "$DISK" = 1 ]; then
		local s set=""
		for s in $SIZES; do set="$set $(objects_of "$s") x $s,"; done
		echo "Disk mode: requests round robin over${set%,}; tern memory $DISK_MEMORY (max_object_size $DISK_MAX_OBJECT), disk0 $DISK_SIZE;"
		echo "hits mem/disk0: tern's tern_cache_hits_total per tier during the runs, summed"
	fi
	if [ "$H2" = 1 ]; then
		echo "H2 mode: HTTP/2 over TLS (ECDSA P-256 certificate), h2load -t1 -c$H2_CONNS -m$H2_STREAMS -D $DURATION on CPU $CLIENT_CPU"
		echo "(not wrk); MB/s counts h2load's traffic (frames, headers, data); p50/p99 from h2load's per-request log"
	elif [ "$H3" = 1 ]; then
		echo "H3 mode: tern alone, HTTP/3 on; bench/protoload -proto <target> -c$H3_CONNS -m$H3_STREAMS -d ${DURATION}s on CPU $CLIENT_CPU"
		echo "(not wrk; h1 gets $((H3_CONNS * H3_STREAMS)) connections, one request in flight each); MB/s counts bodies only"
	elif [ "$TLS" = 1 ]; then
		echo "TLS mode: HTTPS (ECDSA P-256 certificate). <size>: wrk over $CONNS keep-alive connections (HTTP/1.1, one handshake each);"
		echo "<size>+hs: bench/handshake, $CONNS at once, each request on a new connection with a full handshake (curves offered: $HS_CURVES): req/s is handshakes/s"
	fi
	awk -F'\t' -v sizes="$RUN_SIZES" -v targets="$TARGETS" -v disk="$DISK" '
		function median(key, f,    n, i, j, x, v) {
			n = cnt[key]
			if (n == 0) return ""
			for (i = 1; i <= n; i++) v[i] = val[key, f, i]
			for (i = 2; i <= n; i++) { # insertion sort: a handful of values
				x = v[i]
				for (j = i - 1; j > 0 && v[j] > x; j--) v[j + 1] = v[j]
				v[j + 1] = x
			}
			return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		}
		function ratio(a, b) { return (a != "" && b != "" && b > 0) ? sprintf("%.2f", a / b) : "-" }
		NR > 1 && $5 == 1 {
			k = $2 SUBSEP $3
			i = ++cnt[k]
			# 1 req/s, 2 MB/s, 3 p50, 4 p99, 5 server cpu, 6 req/s per server core
			val[k, 1, i] = $6; val[k, 2, i] = $7; val[k, 3, i] = $8; val[k, 4, i] = $9
			val[k, 5, i] = $12; val[k, 6, i] = ($12 > 0) ? $6 / $12 : 0
			errs[k] += $10; orig[k] += $11
			if ($15 != "" && $15 != "-") { mh[k] += $15; dh[k] += $16; hk[k] = 1 }
		}
		function hits(k) {
			if (!(k in hk)) return "-"
			return sprintf("%d/%d", mh[k], dh[k])
		}
		END {
			fmt = "%-6s %-11s %5s %10s %9s %8s %8s %8s %11s %6s %7s\n"
			if (disk == 1) fmt = "%-5s %-11s %5s %10s %9s %8s %8s %8s %11s %6s %7s %17s\n"
			printf fmt, "size", "target", "runs", "req/s", "MB/s", "p50 ms", "p99 ms", "srv cpu", "req/s/core", "errors", "origin", "hits mem/disk0"
			ns = split(sizes, S, " "); nt = split(targets, T, " ")
			for (i = 1; i <= ns; i++) {
				for (j = 1; j <= nt; j++) {
					k = S[i] SUBSEP T[j]
					for (f = 1; f <= 6; f++) m[T[j], f] = median(k, f)
					printf fmt, S[i], T[j], cnt[k] + 0, sprintf("%.0f", m[T[j], 1]), sprintf("%.1f", m[T[j], 2]),
						sprintf("%.2f", m[T[j], 3]), sprintf("%.2f", m[T[j], 4]), sprintf("%.2f", m[T[j], 5]),
						sprintf("%.0f", m[T[j], 6]), errs[k] + 0, orig[k] + 0, hits(k)
				}
				# Each later target over each earlier one: tern/nginx, or in
				# H3 mode h2/h1, h3/h1 and h3/h2.
				for (a = 1; a <= nt; a++) {
					for (b = a + 1; b <= nt; b++) {
						x = T[b]; y = T[a]
						if (x == "nginx" && y == "tern") { x = "tern"; y = "nginx" }
						printf fmt, S[i], x "/" y, "", ratio(m[x, 1], m[y, 1]), ratio(m[x, 2], m[y, 2]),
							ratio(m[x, 3], m[y, 3]), ratio(m[x, 4], m[y, 4]),
							ratio(m[x, 5], m[y, 5]), ratio(m[x, 6], m[y, 6]), "", "", ""
					}
				}
			}
		}' "$RUNS"
	if [ "$H2" = 1 ] || [ "$H3" = 1 ]; then
		echo
		echo "What the load client negotiated (round $ROUNDS, first attempt):"
		local s t
		for s in $RUN_SIZES; do
			for t in $TARGETS; do
				printf '  %s %s: %s\n' "$s" "$t" "$(grep -hE '^(NEGOTIATED|PROTOCOL) ' "$WORK/raw/r$ROUNDS-$s-$t-a0.txt" 2>/dev/null | cut -d' ' -f2-)"
			done
		done
		echo "What OpenSSL's default client negotiates:"
		sed 's/^/  /' "$WORK/tls/params.txt"
		return 0
	fi
	if [ "$TLS" = 1 ]; then
		echo
		echo "Handshakes (bench/handshake, every run summed; resumed must be 0):"
		awk -F'\t' 'NR > 1 {
				l = ""
				for (i = 1; i <= split($5, kv, " "); i++) {
					split(kv[i], p, "=")
					if (p[1] == "full" || p[1] == "resumed") sum[$3, $2, p[1]] += p[2]
					else l = l " " kv[i]
				}
				last[$3, $2] = l
				if (!(($3, $2) in seen)) { seen[$3, $2] = 1; order[++n] = $3 SUBSEP $2 }
			}
			END {
				for (i = 1; i <= n; i++) {
					split(order[i], k, SUBSEP)
					printf "  %s %s: full=%d resumed=%d; last run:%s\n", k[2], k[1], sum[k[1], k[2], "full"], sum[k[1], k[2], "resumed"], last[k[1], k[2]]
				}
			}' "$HANDSHAKES"
		echo "What OpenSSL's default client (as wrk) negotiates:"
		sed 's/^/  /' "$WORK/tls/params.txt"
		return 0
	fi
	if [ "$DISK" = 1 ]; then
		if has_target tern; then
			echo
			echo "tern's tiers after the runs: $(tier_summary "$WORK/raw/tern-metrics-end.txt")"
		fi
		echo "bodies after the runs, compared with the origin's:"
		sed 's/^/  /' "$WORK/verify.txt"
		return 0
	fi
	echo
	echo "Miss storm: $STORM_N connections, one GET each at once for a new /obj/1k/storm-<unique>?delay=${STORM_DELAY}ms (origin waits ${STORM_DELAY} ms)"
	printf '%-5s %-7s %9s %6s %14s %10s %8s %8s %-10s %s\n' round target answered failed 'origin fetches' 'all ms' 'p50 ms' 'max ms' follow-up 'answers by cache label'
	awk -F'\t' -v n="$STORM_N" 'NR > 1 {
		printf "%-5s %-7s %9s %6s %14s %10s %8s %8s %-10s %s\n", $1, $2, $3 "/" n, $4,
			$9 ($10 != $9 ? " (all " $10 ")" : ""), $6, $7, $8, $11 " " $12, $13 }' "$STORMS"
}

# ------------------------------------------------------------------ main
{
	echo "date: $(date -u +%FT%TZ)"
	echo "host: $(uname -srm), $(nproc --all) cpus"
	echo "targets: $TARGETS; rounds $ROUNDS; sizes $SIZES; wrk -t1 -c$CONNS -d${DURATION}s"
	echo "nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'); tern: $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)"
	echo "work: $WORK"
	if [ "$DISK" = 1 ]; then
		echo "mode: disk; objects: $(for s in $SIZES; do printf '%s x %s ' "$(objects_of "$s")" "$s"; done)"
		echo "disk: $(df -PT "$WORK" | awk 'NR == 2 {print $1, $2}') holds nginx's cache and tern's disk0 under $WORK"
	fi
	if [ "$H2" = 1 ]; then
		echo "mode: h2; sizes: $SIZES; $(h2load --version 2>&1 | head -1); $(openssl version)"
	elif [ "$H3" = 1 ]; then
		echo "mode: h3; sizes: $SIZES; protocols: $TARGETS; bench/protoload -c$H3_CONNS -m$H3_STREAMS"
	elif [ "$TLS" = 1 ]; then
		echo "mode: tls; keep-alive sizes: $SIZES; handshake sizes: $HS_SIZES (curves offered: $HS_CURVES); $(openssl version)"
	fi
} | tee "$WORK/meta.txt" >&2

if [ "$TLS" = 1 ]; then make_cert; fi

log "starting origin on $ORIGIN (CPU $ORIGIN_CPU)"
start_origin
for t in $SERVERS; do
	log "starting $t on 127.0.0.1:$(port_of "$t") (CPU $SERVER_CPU)"
	"start_$t"
done

if [ "$DISK" = 1 ]; then
	log "warming: every object of the set twice, then a ${WARM_DURATION}s wrk, per target and size"
	total=0
	for s in $SIZES; do total=$((total + $(objects_of "$s"))); done
	for t in $TARGETS; do
		for s in $SIZES; do
			warm_set "$t" "$s" 1 || die "$t does not serve every /obj/$s/<n> whole (see $WORK/raw/warm-$t-$s.curl)"
			warm_set "$t" "$s" 2 || die "$t does not serve every /obj/$s/<n> whole on the second pass"
		done
		case $t in
		tern) wait_disk "$total" || log "measuring anyway: some tern hits may come from memory or miss" ;;
		nginx) log "nginx cache holds $(find "$WORK/nginx/cache" -type f | wc -l) files (want $total)" ;;
		esac
		for s in $SIZES; do
			check_target "$t" "$s" || die "$t does not serve /obj/$s/1 correctly"
			timeout $((WARM_DURATION + 30)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARM_DURATION}s" \
				-s "$HERE/spread.lua" "http://127.0.0.1:$(port_of "$t")/" -- "/obj/$s/" "$(objects_of "$s")" >/dev/null 2>&1 || true
		done
	done
else
	log "warming: 3 GETs and a ${WARM_DURATION}s wrk per target and size"
	warm_sizes=$SIZES
	for s in ${HS_SIZES:-}; do
		case " $warm_sizes " in *" $s "*) ;; *) warm_sizes="$warm_sizes $s" ;; esac
	done
	for t in $SERVERS; do
		for s in $warm_sizes; do
			for i in 1 2 3; do "${CURL[@]}" -s -o /dev/null --max-time 10 "$(base_of "$t")/obj/$s/1" || true; done
			check_target "$t" "$s" || die "$t does not serve /obj/$s/1 correctly"
			timeout $((WARM_DURATION + 30)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARM_DURATION}s" \
				"$(base_of "$t")/obj/$s/1" >/dev/null 2>&1 || true
		done
	done
fi
if [ "$TLS" = 1 ]; then
	for t in $SERVERS; do tls_params "$t"; done >"$WORK/tls/params.txt"
	sed 's/^/  /' "$WORK/tls/params.txt" >&2
fi

for r in $(seq 1 "$ROUNDS"); do
	log "round $r/$ROUNDS; load: $(cut -d' ' -f1-3 /proc/loadavg)"
	for s in $RUN_SIZES; do
		for t in $TARGETS; do
			for a in $(seq 0 "$RETRY"); do
				wait_quiet
				run_wrk "$r" "$s" "$t" "$a"
				awk -v f="$LAST_FOREIGN" -v m="$MAX_FOREIGN" 'BEGIN {exit !(f > m)}' || break
				[ "$a" -lt "$RETRY" ] || break
				log "other processes used $LAST_FOREIGN cores during that run; repeating it"
			done
			use_least_disturbed "$r" "$s" "$t"
		done
	done
	# The storm measures collapsing, neither the disk nor TLS.
	[ "$DISK" = 1 ] || [ "$TLS" = 1 ] && continue
	for t in $TARGETS; do
		wait_quiet
		run_storm "$r" "$t"
	done
done
if [ "$DISK" = 1 ]; then
	if has_target tern; then
		curl -fs --max-time 5 "http://127.0.0.1:$TERN_ADMIN_PORT/metrics" >"$WORK/raw/tern-metrics-end.txt" || true
	fi
	log "checking every object's body against the origin's"
	verify_bodies
fi

TABLE=$(print_table)
{
	cat "$WORK/meta.txt"
	echo
	echo "== runs (used=0: a more disturbed attempt at the same run; cpu columns in cores)"
	cat "$RUNS"
	if [ "$DISK" = 1 ]; then
		echo
		echo "== tern's cache metrics after the runs"
		grep '^tern_cache_' "$WORK/raw/tern-metrics-end.txt" 2>/dev/null || echo "(none)"
	elif [ "$TLS" = 1 ]; then
		if [ -n "$HS_SIZES" ]; then
			echo
			echo "== handshake runs (bench/handshake's HANDSHAKES line)"
			cat "$HANDSHAKES"
		fi
	else
		echo
		echo "== storms"
		cat "$STORMS"
	fi
	echo
	echo "== summary"
	echo "$TABLE"
} >"$RESULTS"
echo
echo "$TABLE"
echo
echo "raw results: $RESULTS"
