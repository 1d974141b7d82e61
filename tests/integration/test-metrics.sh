#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Prometheus endpoint with the real memqosd binary on a fake cgroup tree and a private
# dbus-daemon, scraped with curl:
#  - off by default (nothing listens), `memqosd check` rejects a bad Listen= naming file, line, key;
#  - [Metrics] Listen=127.0.0.1:PORT: GET /metrics answers 200 with the Prometheus content type, the
#    daemon and tenant families, the values the daemon holds (memory.current, PSI, bounds, +Inf),
#    escaped label values; `promtool check metrics` accepts the text;
#  - reload counters move (ok, refused), a reload changing Listen= says it waits for a restart;
#  - no cgroup file is read per scrape: memory.current changed on disk does not show before the
#    daemon's own next read;
#  - / is 404, POST is 405;
#  - socket activation: systemd-socket-activate passes a socket named "metrics", which is served.
# Runs as root (like the other daemon tests); exits 77 (skip) loudly otherwise.
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_root "the metrics integration test"
it_require_tools dbus-daemon curl python3 busctl promtool systemd-socket-activate

not() { ! "$@"; }
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

CG=$T/cg
CONF=$T/conf
mkdir -p "$CG/tenants" "$CONF/tenants.d"
make_fake_cgroup "$CG/tenants/web" max
make_fake_cgroup "$CG/tenants/we\"b\\x" max
profile web '[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=256M\n'
profile odd '[Tenant]\nCgroup=tenants/we"b\\x\nPriority=10\nMemoryHighMin=64M\nMemoryHighMax=1G\n'
profile gone '[Tenant]\nCgroup=tenants/not-yet\nPriority=5\n'
PORT=$(free_port)
printf '[Control]\nHousekeepingSec=1h\n' >"$CONF/memqosd.conf"

# --- off by default; check validates Listen= ---------------------------------------------------
mkdir -p "$T/bad/tenants.d"
printf '[Metrics]\nListen=localhost:9262\n' >"$T/bad/memqosd.conf"
"$MEMQOSD" check --config-dir "$T/bad" >"$T/out" 2>"$T/err"
rc=$?
check "check: a host name in Listen= is an error (exit 1)" [ "$rc" -eq 1 ]
check "check: it names file, line and key" grep -q "^$T/bad/memqosd.conf:2: Listen=: 'localhost:9262' is not ADDRESS:PORT" "$T/err"

start_private_bus
"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon is on the bus" wait_for 10 sh -c "busctl --system status org.memqosd1 >/dev/null 2>&1"
check "without [Metrics] nothing is served" not grep -q "Metrics: serving" "$LOG"
stop_daemon

# --- served on Listen= -------------------------------------------------------------------------
printf '[Control]\nHousekeepingSec=1h\n[Metrics]\nListen=127.0.0.1:%s\n' "$PORT" >"$CONF/memqosd.conf"
"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon is on the bus" wait_for 10 sh -c "busctl --system status org.memqosd1 >/dev/null 2>&1"
check "it says where it serves" wait_for 10 grep -q "Metrics: serving Prometheus metrics at /metrics on 127.0.0.1:$PORT" "$LOG"
URL=http://127.0.0.1:$PORT/metrics
curl -sS -D "$T/headers" -o "$T/m1" "$URL"
cp "$T/m1" /tmp/i13b-m1
check "GET /metrics: 200" grep -q '^HTTP/1.1 200' "$T/headers"
check "content type is the Prometheus text format" grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/headers"
has() { grep -qxF -- "$1" "$T/m1" || { echo "  missing: $1"; return 1; }; }
check "build info" has 'memqosd_build_info{version="0.1.0"} 1'
check "mode psi-only (fake tree)" has 'memqosd_mode{mode="psi-only"} 1'
check "tenants by state" has 'memqosd_tenants{state="active"} 2'
check "waiting tenants" has 'memqosd_tenants{state="waiting"} 1'
check "memory.current as held" has 'memqosd_tenant_memory_current_bytes{tenant="web",cgroup="tenants/web"} 104857600'
check "memory.high now (max)" has 'memqosd_tenant_memory_high_bytes{tenant="web",cgroup="tenants/web"} +Inf'
check "bounds" has 'memqosd_tenant_memory_high_min_bytes{tenant="web",cgroup="tenants/web"} 268435456'
check "PSI avg10 as a ratio" has 'memqosd_tenant_memory_pressure_ratio{tenant="web",cgroup="tenants/web",type="some"} 0.0250'
check "escaped cgroup label" has 'memqosd_tenant_priority{tenant="odd",cgroup="tenants/we\"b\\x"} 10'
check "a clamp is counted by reason" has 'memqosd_tenant_adjustments_total{tenant="odd",cgroup="tenants/we\"b\\x",reason="clamp"} 1'
check "waiting tenant has bounds" has 'memqosd_tenant_memory_high_max_bytes{tenant="gone",cgroup="tenants/not-yet"} +Inf'
check "waiting tenant has no memory.high" not grep -q 'memqosd_tenant_memory_high_bytes{tenant="gone"' "$T/m1"
check "reloads" has 'memqosd_reloads_total{result="ok"} 0'
check "promtool check metrics accepts it" sh -c "promtool check metrics <'$T/m1' >'$T/promtool' 2>&1"
cat "$T/promtool"

# No cgroup file per scrape: the daemon's next own read is an hour away.
echo 209715200 >"$CG/tenants/web/memory.current"
curl -sS -o "$T/m1" "$URL"
check "memory.current on disk changed: the scrape still shows what the daemon holds" \
	has 'memqosd_tenant_memory_current_bytes{tenant="web",cgroup="tenants/web"} 104857600'

# --- reloads ---------------------------------------------------------------------------------------
"$MEMQOSD" reload >/dev/null 2>&1
profile broken '[Tenant]\nPriority=1000\n'
"$MEMQOSD" reload >/dev/null 2>&1
rm -f "$CONF/tenants.d/broken.conf"
printf '[Control]\nHousekeepingSec=1h\n[Metrics]\nListen=127.0.0.1:1\n' >"$CONF/memqosd.conf"
"$MEMQOSD" reload >/dev/null 2>&1
curl -sS -o "$T/m1" "$URL"
check "reloads ok counted" has 'memqosd_reloads_total{result="ok"} 2'
check "reloads refused counted" has 'memqosd_reloads_total{result="refused"} 1'
check "the daemon picked up memory.current on the reload's activation or not at all, never per scrape" \
	grep -Eq '^memqosd_tenant_memory_current_bytes\{tenant="web",cgroup="tenants/web"\} (104857600|209715200)$' "$T/m1"
check "a changed Listen= waits for a restart, and says so" grep -q 'Listen= changed; it takes effect when memqosd restarts' "$LOG"
check "and the endpoint stays where it was" curl -sf -o /dev/null "$URL"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")
check "/ is 404 (got $code)" [ "$code" = 404 ]
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL")
check "POST is 405 (got $code)" [ "$code" = 405 ]
stop_daemon
check "daemon exits 0" [ "$DAEMON_RC" -eq 0 ]

# --- socket activation ---------------------------------------------------------------------------
PORT2=$(free_port)
printf '[Control]\nHousekeepingSec=1h\n' >"$CONF/memqosd.conf"
systemd-socket-activate -l "127.0.0.1:$PORT2" --fdname=metrics -E MEMQOSD_TEST_FAKE_CGROUP_ROOT=1 -E DBUS_SYSTEM_BUS_ADDRESS \
	"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
# systemd-socket-activate starts memqosd on the first connection, as systemd would for a socket unit.
# It binds the port only once it runs: on a loaded host a connection made before that is refused
# (curl's 000), so wait for the listening socket first.
check "socket-activated: systemd-socket-activate listens on the port" \
	wait_for 20 sh -c "ss -Hltn 'sport = :$PORT2' | grep -q ."
code=$(curl -s -m 30 -o "$T/m1" -w '%{http_code}' "http://127.0.0.1:$PORT2/metrics")
check "socket-activated: the first scrape starts memqosd and is answered (got $code)" [ "$code" = 200 ]
check "socket-activated: it says so" grep -q "serving Prometheus metrics at /metrics on the socket systemd passed" "$LOG"
check "socket-activated: metrics" has 'memqosd_tenants{state="active"} 2'
stop_daemon
check "daemon exits 0" [ "$DAEMON_RC" -eq 0 ]

it_finish
