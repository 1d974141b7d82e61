#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The OOM forecast on a real kernel (issue 9), in the VM guest booted with systemd
# (tests/vm/forecast/run): memqosd runs as the installed service (journal, system bus), with the
# default [Forecast] settings. Phases, one after the other (PHASES: any of leak, noleak, zram):
#   leak     memory.max=768M, no swap (memory.swap.max=0), 16 MiB/s until the kernel OOM-kills:
#            warning >= 15 s before the oom_kill, critical before it, the ETA at the warning
#            within +-25 % of the time that really remained; seen in `memqosd watch --json`, on
#            D-Bus (dbus-monitor with the README's match rule) and in the journal; every watch
#            line out within 1.5 s of the level change it reports
#   noleak   for 35 s, at the same time as zram:
#            reader  memory.max=192M, re-reads a 384M file (niced): never warning
#            saw     memory.max=512M, a 300M sawtooth (8 s up, free, 4 s pause): never warning
#   zram     leak2: zram swap counted: memory.max=256M, memory.swap.max=256M, 16 MiB/s of incompressible
#            memory: the free swap is in the forecast's room, and the warning (or critical, when
#            both are due at the same sample) comes before the OOM kill. (With 192M + 192M the
#            whole climb took 27 s: too short for the fit and MinDurationSec=.)
#   relief   the forecast feeds the control loop: under rel (memory.max=900M) hi (Priority=90, no
#            limit of its own, no swap) leaks 16 MiB/s next to lo (Priority=50, above the other
#            phases' tenants, whose pressure must not squeeze it; MemoryHighMin=64M,
#            MemoryHighMax=512M) holding 300M. While hi is at warning or critical against the shared
#            limit, lo's memory.high is lowered (the squeeze names the forecast), never below 64M;
#            hi's leak is then stopped (cgroup.kill, as a control plane would), and once hi is no
#            longer at risk lo's memory.high goes back to 512M.
#   tests/vm/forecast/forecast.sh PATH/TO/memqosd BIGFILE [PHASES]     (default: leak noleak zram relief)
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd BIGFILE}")
BIGFILE=${2:?usage: $0 PATH/TO/memqosd BIGFILE}
PHASES=${3:-leak noleak zram relief}
has() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }
BUILD=$(dirname "$(dirname "$MEMQOSD")")
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
. "$SRC/tests/integration/lib.sh"

if [ "${MEMQOSD_VM:-0}" != 1 ] || [ ! -d /run/systemd/system ]; then
	echo "!!! SKIPPED: runs only in the VM guest booted with systemd (tests/vm/forecast/run) !!!"
	exit 77
fi
it_require_root "the forecast VM test"
[ -r "$BIGFILE" ] || abort "$BIGFILE (the re-read file, made by tests/vm/forecast/run) is missing"
swapon --show=NAME --noheadings | grep -q zram || abort "no zram swap in the guest (tests/vm/lib/guest-init sets it up)"

SCRATCH=forecast-$$
CGR=/sys/fs/cgroup/$SCRATCH
MID=ab619dcff73b42a28723c2177367464e
remove_scratch() {
	[ -n "${MON_PID:-}" ] && kill "$MON_PID" 2>/dev/null
	[ -n "${WATCH_PID:-}" ] && kill "$WATCH_PID" 2>/dev/null
	[ -n "${HIGH_PID:-}" ] && kill "$HIGH_PID" 2>/dev/null
	for d in "$CGR"/*/; do [ -f "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill"; done
	if [ "$FAILED" -ne 0 ]; then
		echo "--- journalctl -u memqosd (forecast samples and records) ---"
		journalctl -u memqosd.service --no-pager -o short-monotonic 2>&1 | grep -E 'forecast|OOM risk|sampling|squeeze|relax' | tail -n 150
		echo "--- watch ---"
		cat "$T/watch.log" 2>/dev/null
	fi
	systemctl stop memqosd.service 2>/dev/null
	sleep 1
	rmdir "$CGR"/*/* "$CGR"/* "$CGR" 2>/dev/null
}
CLEANUP_HOOK=remove_scratch

cc -O2 -o "$T/leak" "$HERE/leak.c" || abort "cannot build leak.c"
install_system_wide "$MEMQOSD" "$BUILD" "$SRC"

mkdir "$CGR" && echo +memory >"$CGR/cgroup.subtree_control" || abort "cannot create $CGR"
newcg() { # newcg NAME MAX SWAPMAX
	mkdir "$CGR/$1" && echo "$2" >"$CGR/$1/memory.max" && echo "$3" >"$CGR/$1/memory.swap.max" ||
		abort "cannot create $CGR/$1"
}
newcg leak 768M 0
newcg reader 192M 0
newcg saw 512M 0
newcg leak2 256M 256M
if has relief; then
	newcg rel 900M max
	echo +memory >"$CGR/rel/cgroup.subtree_control" || abort "cannot enable memory in $CGR/rel"
	newcg rel/hi max 0
	newcg rel/lo max max
fi
CONF=/etc/memqosd
mkdir -p "$CONF/tenants.d"
printf '[Daemon]\nLogLevel=debug\n' >"$CONF/memqosd.conf"
prio=10
for t in leak reader saw leak2; do
	profile "$t" "[Tenant]\nCgroup=$SCRATCH/$t\nPriority=$prio\n"
	prio=$((prio + 10))
done
if has relief; then
	profile hi "[Tenant]\nCgroup=$SCRATCH/rel/hi\nPriority=90\n[Forecast]\nHoldSec=5s\n"
	profile lo "[Tenant]\nCgroup=$SCRATCH/rel/lo\nPriority=50\nMemoryHighMin=64M\nMemoryHighMax=512M\n"
fi
check "memqosd starts as a service" systemctl start memqosd.service
echo "mode: $(busctl --system get-property org.memqosd1 /org/memqosd1 org.memqosd1.Manager Mode 2>&1)"

# The three ways a control plane listens: the stream (each line stamped on arrival), D-Bus, the journal.
nice -n -10 python3 -u -c '
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
for line in p.stdout:
    print("%.3f %s" % (time.time(), line.rstrip()), flush=True)
' "$MEMQOSD" watch --json >"$T/watch.log" 2>&1 &
WATCH_PID=$!
dbus-monitor --system "type='signal',sender='org.memqosd1',interface='org.memqosd1.Manager',member='OomRisk'" \
	>"$T/monitor.log" 2>&1 &
MON_PID=$!
check "watch prints a snapshot of every tenant" wait_for 30 bash -c "[ \$(grep -c '\"snapshot\":true' '$T/watch.log') -ge 4 ]"

# run_in CGROUP OUTFILE CMD...: run CMD in the cgroup; OUTFILE gets the wall time at which it ended.
run_in() {
	local cg=$1 out=$2
	shift 2
	( sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CGR/$cg" "$@"; date +%s.%N >"$out" ) &
}

# leak_phase TENANT ARGS...: run the leak until the kernel kills it; the oom level must follow.
leak_phase() {
	local t=$1 start
	shift
	start=$(date +%s.%N)
	run_in "$t" "$T/$t.end" "$T/leak" leak "$@"
	check "$t: the leak is OOM-killed (within 180 s)" wait_for 180 test -s "$T/$t.end"
	check "$t: the oom level is reported" wait_for 15 grep -q "\"tenant\":\"$t\".*\"level\":\"oom\"" "$T/watch.log"
	grep -q 'oom_kill [1-9]' "$CGR/$t/memory.events" && ok "$t: the kernel's oom_kill in memory.events" ||
		fail "$t: no oom_kill in $CGR/$t/memory.events"
	echo "$t: leaked for $(python3 -c "print(round($(cat "$T/$t.end") - $start, 1))") s"
	sleep 2
}
if has leak; then
	leak_phase leak 16
	# Nothing polls a tenant that is not sampled: the BPF policy's WATCH record started it.
	journalctl -u memqosd.service --no-pager -o cat | grep "Tenant leak: sampling for the OOM forecast" | head -n 1
	check "leak: sampling started by the BPF WATCH record (growing toward memory.max)" bash -c \
		"journalctl -u memqosd.service --no-pager -o cat | grep -m1 'Tenant leak: sampling for the OOM forecast' | grep -q 'BPF: growing toward its memory.max'"
fi
# noleak and zram run at the same time (one wait instead of two, about 35 s less): each tenant has
# its own memory.max (and leak2 its own swap.max) and the guest's 3G hold all three; the strict
# lead and ETA checks are leak's, which runs alone before them.
if has noleak; then
	run_in saw "$T/saw.end" "$T/leak" sawtooth 300 8 4 35
	run_in reader "$T/reader.end" nice -n 19 sh -c 'end=$(($(date +%s) + 35)); while [ $(date +%s) -lt $end ]; do cat "$0" >/dev/null; done' "$BIGFILE"
fi
has zram && leak_phase leak2 16 random
if has noleak; then
	wait_for 120 bash -c "test -s '$T/saw.end' && test -s '$T/reader.end'"
	echo "oom_kill of reader and sawtooth: $(grep oom_kill "$CGR/reader/memory.events" "$CGR/saw/memory.events" | tr '\n' ' ')"
fi

# relief_phase: the forecast's relief from a strictly lower-priority tenant, within its bounds.
lo_lowered() { local h; h=$(cat "$CGR/rel/lo/memory.high"); [ "$h" != max ] && [ "$h" -lt 536870912 ]; }
hi_calm() { grep '"tenant":"hi"' "$T/watch.log" | grep -v '"snapshot":true' | tail -n 1 | grep -q '"level":"\(ok\|watch\)"'; }
relief_phase() {
	local lowest
	run_in rel/lo "$T/lo.end" "$T/leak" hold 300 600
	check "relief: lo starts at its baseline, MemoryHighMax=512M" wait_for 30 grep -qx 536870912 "$CGR/rel/lo/memory.high"
	sleep 5
	# lo's memory.high, stamped, every half second
	( while :; do echo "$(date +%s.%N) $(cat "$CGR/rel/lo/memory.high")"; sleep 0.5; done ) >"$T/lo-high.log" 2>&1 &
	HIGH_PID=$!
	run_in rel/hi "$T/hi.end" "$T/leak" leak 16
	check "relief: hi reaches warning" wait_for 90 grep -q '"tenant":"hi".*"level":"warning"' "$T/watch.log"
	check "relief: lo's memory.high is lowered while hi is at risk" wait_for 30 lo_lowered
	grep -q "oom_kill [1-9]" "$CGR/rel/hi/memory.events" && fail "relief: hi was OOM-killed before the control plane stopped it"
	date +%s.%N >"$T/hi.stop"
	echo 1 >"$CGR/rel/hi/cgroup.kill"
	check "relief: hi leaves warning/critical once its leak is gone" wait_for 60 hi_calm
	check "relief: lo's memory.high is restored to 512M afterwards" wait_for 240 grep -qx 536870912 "$CGR/rel/lo/memory.high"
	kill "$HIGH_PID" 2>/dev/null
	HIGH_PID=
	echo 1 >"$CGR/rel/lo/cgroup.kill"
	lowest=$(awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print $2 }' "$T/lo-high.log" | sort -n | head -n 1)
	echo "relief: lo's memory.high went down to $lowest (MemoryHighMin=64M = 67108864; $(wc -l <"$T/lo-high.log") readings)"
	grep -v -E '^[0-9.]+ ([0-9]+|max)$' "$T/lo-high.log" | head -n 3
	check "relief: never below MemoryHighMin=64M (readings)" [ "${lowest:-0}" -ge 67108864 ]
	journalctl -u memqosd.service --no-pager -o cat >"$T/relief.journal" 2>&1
	# Every write memqosd made to lo's memory.high, from its journal lines ("A -> B (reason)").
	python3 - "$T/relief.journal" <<'PY' >"$T/relief.writes" 2>&1
import re, sys
units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
vals = []
for line in open(sys.argv[1]):
    m = re.search(r"Changed memory.high of lo \([^)]*\): \S+ -> (\d+)([KMGT]?) ", line)
    if m:
        vals.append(int(m.group(1)) * units[m.group(2)])
print("lo's memory.high writes: %d, lowest %s" % (len(vals), min(vals) if vals else None))
print("BOUNDS", "ok" if vals and min(vals) >= 64 << 20 and max(vals) <= 512 << 20 else "bad")
PY
	cat "$T/relief.writes"
	check "relief: every write to lo's memory.high within [64M, 512M] (journal)" grep -q "BOUNDS ok" "$T/relief.writes"
	grep -E "lo.*forecast to run out of memory|forecast to run out of memory.*lo" "$T/relief.journal" | head -n 3
	check "relief: the squeeze of lo names hi's forecast (journal)" \
		grep -q "higher-priority tenant hi is forecast to run out of memory" "$T/relief.journal"
	# In order: hi's warning, then lo lowered; hi back below warning, then lo at 512M again. The
	# times of lo's writes from the journal: a record's time less its MEMQOSD_WRITE_USEC (the record
	# is written when the write returns; the value was in the file from the write's start, and the
	# kernel's reclaim in a lowering write can take seconds on a loaded host); the levels' times from
	# the watch stream.
	journalctl -u memqosd.service --no-pager -o json >"$T/relief.journal-t" 2>&1
	python3 - "$T/watch.log" "$T/relief.journal-t" <<'PY' >"$T/relief.order" 2>&1
import json, re, sys, datetime
def t(l):
    return datetime.datetime.strptime(l["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
hi = [json.loads(x.partition(" ")[2]) for x in open(sys.argv[1]) if '"tenant":"hi"' in x and '"snapshot":false' in x]
hi = [l for l in hi if not l["repeat"]]
warn = next(t(l) for l in hi if l["level"] in ("warning", "critical"))
calm = next(t(l) for l in hi if t(l) > warn and l["level"] in ("ok", "watch"))
writes = []
for line in open(sys.argv[2]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    m = re.match(r"Changed memory.high of lo \([^)]*\): \S+ -> (\d+)([KMGT]?) ", str(r.get("MESSAGE", "")))
    if m:
        took = int(r["MEMQOSD_WRITE_USEC"])
        writes.append(((int(r["__REALTIME_TIMESTAMP"]) - took) / 1e6, int(m.group(1)) * units[m.group(2)]))
        if took >= 1000000:
            print("a write of %s took %.1f s" % (m.group(1) + m.group(2), took / 1e6))
low = next(a for a, b in writes if b < 512 << 20)
back = [a for a, b in writes if a > low and b == 512 << 20]
print("hi at risk 0.0..%.1f s, lo lowered at %.1f s, back at 512M at %s s (relative to hi's warning; %d writes)"
      % (calm - warn, low - warn, "%.1f" % (back[-1] - warn) if back else "never", len(writes)))
print("ORDER", "ok" if warn <= low + 0.5 and low < calm and back and back[-1] >= calm - 0.5 else "bad")
PY
	cat "$T/relief.order"
	check "relief: lowered after hi's warning, restored after hi's risk ended" grep -q "ORDER ok" "$T/relief.order"
}
has relief && relief_phase

python3 - "$T/watch.log" "$T" "$PHASES" >"$T/verdict" 2>&1 <<'EOF'
import json, os, sys, datetime
recv, lines = [], []
for raw in open(sys.argv[1]):
    stamp, _, text = raw.partition(" ")
    try:
        lines.append(json.loads(text)); recv.append(float(stamp))
    except ValueError:
        print("not JSON:", raw.strip())
def t(l):
    return datetime.datetime.strptime(l["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
oom = {t: float(open("%s/%s.end" % (sys.argv[2], t)).read()) for t in ("leak", "leak2") if os.path.exists("%s/%s.end" % (sys.argv[2], t))}
phases = sys.argv[3].split()
ok = True
def verdict(cond, what):
    global ok
    print(("ok   " if cond else "BAD  ") + what)
    ok = ok and cond
keys = {"event", "time", "tenant", "cgroup", "level", "previous", "eta_seconds", "usage_bytes", "limit_bytes", "reason"}
verdict(all(keys <= set(l) and l["event"] == "risk" for l in lines), "every line has the contract's fields")
changes = [(l, r) for l, r in zip(lines, recv) if not l["snapshot"] and not l["repeat"]]
for name in ["leak", "reader", "saw", "leak2"]:
    print(name + ":", " ".join("%s>%s@%.1f(eta %s)" % (l["previous"], l["level"], t(l) - oom.get(name, 0), l["eta_seconds"]) for l, r in changes if l["tenant"] == name))
late = [r - t(l) for l, r in changes]
verdict(late and max(late) <= 1.5, "every change line out within 1.5 s of the change (worst %.2f s)" % max(late or [99]))
if "leak" in phases:
    seq = [l for l, r in changes if l["tenant"] == "leak"]
    w = next((l for l in seq if l["level"] == "warning"), None)
    c = next((l for l in seq if l["level"] == "critical"), None)
    verdict(w is not None, "leak: a warning")
    if w:
        rem = oom["leak"] - t(w)
        verdict(rem >= 15, "leak: warning %.1f s before the OOM kill (>= 15)" % rem)
        verdict(w["eta_seconds"] is not None and abs(w["eta_seconds"] - rem) <= 0.25 * rem,
                "leak: ETA at the warning %s s vs %.1f s that remained (+-25 %%)" % (w["eta_seconds"], rem))
        verdict(w["limit_bytes"] == 768 << 20, "leak: the limit used is memory.max (%s)" % w["limit_bytes"])
    verdict(c is not None and t(c) < oom["leak"], "leak: critical before the OOM kill (%.1f s)" % (oom["leak"] - t(c) if c else -1))
if "noleak" in phases:
    for name in ["reader", "saw"]:
        levels = [l["level"] for l, r in changes if l["tenant"] == name]
        verdict(not set(levels) & {"warning", "critical", "oom"}, "%s: no warning (levels seen: %s)" % (name, levels or "none"))
if "zram" in phases:
    seq2 = [l for l, r in changes if l["tenant"] == "leak2"]
    w2 = next((l for l in seq2 if l["level"] in ("warning", "critical")), None)
    verdict(w2 is not None and t(w2) < oom["leak2"], "leak2 (zram): %s before the OOM kill (%.1f s)" % (w2["level"] if w2 else "warning", oom["leak2"] - t(w2) if w2 else -1))
    sw = [l.get("evidence", {}).get("swap_room_bytes", 0) for l in seq2 if l["level"] in ("watch", "warning")]
    verdict(sw and max(sw) > 0, "leak2 (zram): the free swap is counted in the room (swap_room_bytes %s)" % sw)
print("VERDICT", "ok" if ok else "bad")
EOF
cat "$T/verdict"
check "watch --json: levels, lead, ETA, latency, no false warning, swap counted" grep -q "VERDICT ok" "$T/verdict"
check "D-Bus: OomRisk signals, warning among them (dbus-monitor, README match rule)" \
	bash -c "grep -A4 'member=OomRisk' '$T/monitor.log' | grep -q '\"warning\"'"
if has leak; then
	journalctl -u memqosd.service --no-pager -o verbose MESSAGE_ID=$MID MEMQOSD_TENANT=leak >"$T/journal" 2>&1
	check "journal: a record per change, with level, ETA, usage and limit" \
		bash -c "grep -q 'MEMQOSD_RISK_LEVEL=warning' '$T/journal' && grep -q 'MEMQOSD_ETA_USEC=' '$T/journal' && grep -q 'MEMQOSD_LIMIT=805306368' '$T/journal' && grep -q 'MEMQOSD_RISK_LEVEL=oom' '$T/journal'"
	journalctl -u memqosd.service --no-pager -x MESSAGE_ID=$MID MEMQOSD_TENANT=leak MEMQOSD_RISK_LEVEL=warning >"$T/jx" 2>&1
	check "journalctl -x explains it (catalog)" contains "$T/jx" "What to do at warning or critical"
fi
"$MEMQOSD" watch nope >"$T/out" 2>&1
check "watch: an unknown tenant is a clear error" contains "$T/out" "No tenant 'nope' is configured"
setpriv --reuid=nobody --regid=nogroup --clear-groups busctl --system call org.memqosd1 /org/memqosd1 \
	org.memqosd1.Manager GetRisk s leak >"$T/out" 2>&1
check "GetRisk on the real bus, unprivileged (bus policy)" grep -q '"leak"' "$T/out"

it_finish
