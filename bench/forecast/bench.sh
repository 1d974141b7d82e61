#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Guest side of bench/forecast/run. Per trial: a leak of 16 MiB/s under memory.max=768M without swap
# (until the kernel OOM-kills it); then, together for 35 s, a reader re-reading a 384M file in
# memory.max=192M and a 300M sawtooth in memory.max=512M (neither ever OOMs). memqosd runs with its
# default [Forecast] settings on a private system bus; `memqosd watch --json` records the levels.
# Prints per trial the warning's and the critical level's lead before the OOM kill, the ETA given
# with the warning against the time that really remained, and the warnings on the no-OOM workloads.
set -u
BIG=${1:?usage: $0 BIGFILE}
top=$(cd "$(dirname "$0")/../.." && pwd)
MEMQOSD=${MEMQOSD_BIN:-${MEMQOSD_VM_BUILD:-$top/build}/src/memqosd}
TRIALS=${MEMQOSD_BENCH_TRIALS:-3}
W=$(mktemp -d /tmp/forecast-bench.XXXXXX)
CG=/sys/fs/cgroup/forecast-bench
cc -O2 -o "$W/leak" "$top/tests/vm/forecast/leak.c" || exit 1

cat >"$W/bus.conf" <<EOB
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=$W/bus.sock</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy>
</busconfig>
EOB
dbus-daemon --config-file="$W/bus.conf" --nofork --print-address=3 3>"$W/bus.address" 2>/dev/null &
BUS=$!
for _ in $(seq 50); do [ -s "$W/bus.address" ] && break; sleep 0.1; done
export DBUS_SYSTEM_BUS_ADDRESS=$(head -n1 "$W/bus.address")

mkdir -p "$CG" && echo +memory >"$CG/cgroup.subtree_control"
mkdir -p "$W/conf/tenants.d"
printf '[Daemon]\nCgroupRoot=%s\n' "$CG" >"$W/conf/memqosd.conf"
for t in leak reader saw; do
	mkdir -p "$CG/$t"
	echo 0 >"$CG/$t/memory.swap.max"
	printf '[Tenant]\nCgroup=%s\nPriority=10\n' "$t" >"$W/conf/tenants.d/$t.conf"
done
echo 768M >"$CG/leak/memory.max"
echo 192M >"$CG/reader/memory.max"
echo 512M >"$CG/saw/memory.max"
"$MEMQOSD" --config-dir "$W/conf" --state-dir "$W/state" >"$W/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do grep -q "memqosd started" "$W/daemon.log" && break; sleep 0.1; done
mode=$(sed -n 's/.*mode \([a-z_-]*\).*/\1/p' "$W/daemon.log" | head -n1)
"$MEMQOSD" watch --json >"$W/watch.log" 2>&1 &
WATCH=$!

run_in() { # run_in CGROUP OUTFILE CMD...
	local cg=$1 out=$2
	shift 2
	( sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG/$cg" "$@"; date +%s.%N >"$out" ) &
}

for i in $(seq "$TRIALS"); do
	rm -f "$W"/*.end
	: >"$W/trial.start"
	date +%s.%N >"$W/start.$i"
	run_in leak "$W/leak.end" "$W/leak" leak 16
	for _ in $(seq 1800); do [ -s "$W/leak.end" ] && break; sleep 0.1; done
	cp "$W/leak.end" "$W/oom.$i"
	run_in saw "$W/saw.end" "$W/leak" sawtooth 300 8 4 35 >/dev/null
	run_in reader "$W/reader.end" nice -n 19 sh -c 'end=$(($(date +%s) + 35)); while [ $(date +%s) -lt $end ]; do cat "$0" >/dev/null; done' "$BIG"
	for _ in $(seq 1800); do [ -s "$W/saw.end" ] && [ -s "$W/reader.end" ] && break; sleep 0.1; done
	date +%s.%N >"$W/end.$i"
	sleep 35   # past HoldSec=: every tenant back to its resting level before the next trial
done
kill "$WATCH" "$DAEMON" "$BUS" 2>/dev/null
wait 2>/dev/null

python3 - "$W" "$TRIALS" "$mode" <<'EOF2'
import json, sys, datetime, statistics
w, trials, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def t(l):
    return datetime.datetime.strptime(l["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
lines = [json.loads(x) for x in open(w + "/watch.log") if x.startswith("{")]
changes = [l for l in lines if not l["snapshot"] and not l["repeat"]]
print("memqosd OOM forecast benchmark (qemu TCG guest, mode %s, default [Forecast] settings)\n" % mode)
print("trial  warning lead s  critical lead s  ETA at warning s  remained s  ETA error  false warnings (reader, sawtooth)")
leads, falses = [], 0
for i in range(1, trials + 1):
    start, oom = float(open("%s/start.%d" % (w, i)).read()), float(open("%s/oom.%d" % (w, i)).read())
    end = float(open("%s/end.%d" % (w, i)).read())
    mine = [l for l in changes if start <= t(l) <= end + 30]
    warn = next((l for l in mine if l["tenant"] == "leak" and l["level"] == "warning"), None)
    crit = next((l for l in mine if l["tenant"] == "leak" and l["level"] == "critical"), None)
    false = [l for l in mine if l["tenant"] in ("reader", "saw") and l["level"] in ("warning", "critical", "oom")]
    falses += len(false)
    lead = oom - t(warn) if warn else float("nan")
    leads.append(lead)
    eta = warn["eta_seconds"] if warn else None
    print("%5d  %14.1f  %15.1f  %16s  %10.1f  %8s  %d %s" % (i, lead, oom - t(crit) if crit else float("nan"),
          eta, lead, "%.0f %%" % (100 * abs(eta - lead) / lead) if warn and eta else "-", len(false),
          [l["tenant"] + ":" + l["level"] for l in false]))
ok = [x for x in leads if x == x]
print("\nwarning lead time, median over %d trials: %.1f s (min %.1f, max %.1f; %d trials without a warning)" %
      (trials, statistics.median(ok) if ok else float("nan"), min(ok or [float("nan")]), max(ok or [float("nan")]), trials - len(ok)))
print("false warnings on the no-OOM workloads (page-cache reader, sawtooth): %d in %d trials" % (falses, trials))
EOF2
