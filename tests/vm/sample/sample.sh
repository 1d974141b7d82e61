#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Sampled allocation stacks on a real kernel (issue 10), in a plain VM guest (tests/vm/sample/run):
# memqosd (private system bus, real cgroup v2) samples tenant "app" ([Sampling] Enable=yes,
# SampleSize=256K), which runs tests/vm/sample/workload.c built -O2 -fomit-frame-pointer: a steady
# leak (leak_steady, 2 MiB/s), a churner (churn, 20 MiB/s allocated and freed), a file reader
# (read_file, a 32 MiB file through the page cache), short-lived forked children (short_lived,
# 4 MiB, exit after 40 ms) and kernel memory (make_files: 8,000 empty files on tmpfs, a dentry and
# an inode each, slab). Checks, 45 s in (within 60 s):
#   - `top app --sort growth --json`: the first stack is the leak's; the leak's growth within +-25 %
#     of what the workload really leaked;
#   - `top app --sort alloc --json`: the first stack is the churner's; its growth is near 0 (frees
#     attributed);
#   - the file read: a stack whose innermost frame is "[file] FILE", through read_file, +-25 % of
#     the file size;
#   - the short-lived children: their samples resolve to short_lived (>= 80 % of them);
#   - children that exec the workload again and exit within 50 ms (exec_lived): their samples
#     resolve to exec_lived (>= 80 %), through the files kept by build-id (the daemon's count of
#     processes rebuilt from build-ids is printed);
#   - frames resolved (not "[unknown]") over all stacks: printed, >= 90 % of the frames of the
#     workload's stacks;
#   - kernel memory (where the kernel has the kmem hooks: fentry flavour): stacks through make_files
#     whose leading frames are kernel frames (named), between 96 and 4,096 bytes per file;
#   - after the workload frees the leak, the leak's live bytes fall to <= 10 % within 10 s;
#   - the growth alert: a record names leak_steady; at most one per GrowthAlertSec= (rate limit);
#   - the table and --folded outputs are printed (README example).
#   tests/vm/sample/sample.sh PATH/TO/memqosd FILE
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd FILE}")
FILE=${2:?usage: $0 PATH/TO/memqosd FILE}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../integration/lib.sh"

if [ "${MEMQOSD_VM:-0}" != 1 ]; then
	echo "!!! SKIPPED: runs only in the VM guest (tests/vm/sample/run) !!!"
	exit 77
fi
it_require_root "the sampling VM test"
it_require_tools dbus-daemon python3 cc
[ -r "$FILE" ] || abort "$FILE (made by tests/vm/sample/run) is missing"

SCRATCH=sample-$$
CGR=/sys/fs/cgroup/$SCRATCH
CONF=$T/conf
WL_PID=
remove_scratch() {
	[ -n "$WL_PID" ] && kill "$WL_PID" 2>/dev/null
	[ -f "$CGR/app/cgroup.kill" ] && echo 1 >"$CGR/app/cgroup.kill"
	sleep 0.5
	rmdir "$CGR/app" "$CGR" 2>/dev/null
}
CLEANUP_HOOK=remove_scratch

cc -O2 -fomit-frame-pointer -o "$T/workload" "$HERE/workload.c" || abort "cannot build workload.c"
mkdir "$CGR" && echo +memory >"$CGR/cgroup.subtree_control" && mkdir "$CGR/app" || abort "cannot create $CGR"

mkdir -p "$CONF/tenants.d"
printf '[Daemon]\nLogLevel=debug\n[Control]\nHousekeepingSec=1h\n' >"$CONF/memqosd.conf"
profile app "[Tenant]\nCgroup=$SCRATCH/app\nPriority=50\n[Sampling]\nEnable=yes\nSampleSize=256K\nGrowthAlert=30M\nGrowthAlertSec=10s\n"
start_private_bus
"$MEMQOSD" --config-dir "$CONF" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon is on the bus" wait_for 30 sh -c 'busctl --system status org.memqosd1 >/dev/null 2>&1'
check "the sampler starts" wait_for 30 grep -q 'Allocation sampling started' "$LOG"
grep -o 'Allocation sampling started ([a-z]*)' "$LOG"
FLAVOUR=$(grep -o 'Allocation sampling started ([a-z]*)' "$LOG" | head -1 | sed 's/.*(\(.*\))/\1/')
echo "mode: $(busctl --system get-property org.memqosd1 /org/memqosd1 org.memqosd1.Manager Mode 2>&1)"

sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CGR/app" "$T/workload" 2 40 "$FILE" "$T/leaked" 8000 \
	>"$T/workload.log" 2>&1 &
WL_PID=$!
START=$(date +%s)
sleep 45
# The truth moves while the query runs (slow under emulation): what was leaked before and after it.
LEAKED0=$(cat "$T/leaked")
"$MEMQOSD" top app --sort growth --json -n 20 >"$T/growth.json" 2>"$T/err" || { cat "$T/err"; abort "top --sort growth failed"; }
LEAKED=$(cat "$T/leaked")
"$MEMQOSD" top app --sort alloc --json -n 50 >"$T/alloc.json" 2>"$T/err" || { cat "$T/err"; abort "top --sort alloc failed"; }
echo "queried $(($(date +%s) - START)) s after the workload started; it had leaked $LEAKED0..$LEAKED bytes"
grep -v '^exec-lived: lived' "$T/workload.log"
# The exec'd children's lifetimes, fork to exit (printed: under emulation they live longer than the
# 50 ms the issue names, which only gives memqosd more time to catch them alive).
LIVED=$(sed -n 's/^exec-lived: lived \([0-9.]*\) ms$/\1/p' "$T/workload.log" | sort -n)
echo "exec'd children: $(echo "$LIVED" | grep -c .) ran, lifetimes $(echo "$LIVED" | head -1)..$(echo "$LIVED" | tail -1) ms, median $(echo "$LIVED" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }') ms"
echo "--- memqosd top app ---"
"$MEMQOSD" top app -n 6
echo "--- memqosd top app --folded (leading 5) ---"
"$MEMQOSD" top app --folded -n 5 | cut -c1-300

python3 - "$T/growth.json" "$T/alloc.json" "$LEAKED0" "$LEAKED" "$FILE" "$FLAVOUR" >"$T/verdict" 2>&1 <<'PY'
import json, sys
growth = json.load(open(sys.argv[1]))
alloc = json.load(open(sys.argv[2]))
leaked0, leaked = int(sys.argv[3]), int(sys.argv[4])
path = sys.argv[5]
def has(stack, fn, depth=4):
    return any(f.split(" ")[0].split(".")[0] == fn for f in stack["frames"][:depth])
def report(name, ok, detail):
    print(("ok" if ok else "FAIL") + " - " + name + ": " + detail)
for o in (growth, alloc):
    assert set(o) == {"tenant", "window_seconds", "sample_bytes", "dropped", "stacks"}, o.keys()
    for s in o["stacks"]:
        assert set(s) == {"alloc_bytes", "freed_bytes", "growth_bytes", "live_bytes", "samples", "comm", "frames"}, s
print(f"# dropped {alloc['dropped']}, sample_bytes {alloc['sample_bytes']}, {len(alloc['stacks'])} stacks")
top = growth["stacks"][0]
report("growth: the leak ranks first", has(top, "leak_steady"), " <- ".join(top["frames"][:3]))
leak_growth = sum(s["growth_bytes"] for s in growth["stacks"] if has(s, "leak_steady"))
# Within +-25 % of the truth, which lies between what was leaked before and after the query.
lo, hi = 0.75 * leaked0, 1.25 * leaked
err = leak_growth / (leaked0 + leaked) * 2 - 1 if leaked else 1
report("growth: the leak's growth within +-25 % of the truth", leaked > 0 and lo <= leak_growth <= hi,
       f"sampled {leak_growth / 2**20:.1f} MiB, leaked {leaked0 / 2**20:.1f}..{leaked / 2**20:.1f} MiB "
       f"({err * 100:+.1f} % from the middle)")
top = alloc["stacks"][0]
report("alloc: the churner ranks first", has(top, "churn"), " <- ".join(top["frames"][:3]))
churn = [s for s in alloc["stacks"] if has(s, "churn")]
c_alloc = sum(s["alloc_bytes"] for s in churn)
c_growth = sum(s["growth_bytes"] for s in churn)
report("alloc: the churner's frees are attributed (growth <= 10 % of alloc)", c_alloc > 0 and c_growth <= 0.1 * c_alloc,
       f"alloc {c_alloc / 2**20:.1f} MiB, growth {c_growth / 2**20:.1f} MiB")
files = [s for s in alloc["stacks"] if s["frames"] and s["frames"][0] == "[file] " + path]
f_bytes = sum(s["alloc_bytes"] for s in files)
report("file: the read is attributed to its file, through read_file", bool(files) and all(has(s, "read_file", 6) for s in files),
       f"{len(files)} stacks: " + " | ".join(" <- ".join(s["frames"][:3]) for s in files[:2]))
report("file: its bytes within +-25 % of the file size", abs(f_bytes / (32 << 20) - 1) <= 0.25, f"{f_bytes / 2**20:.1f} MiB of 32 MiB")
short = [s for s in alloc["stacks"] if s["comm"] == "short-lived"]
n_short = sum(s["samples"] for s in short)
n_short_ok = sum(s["samples"] for s in short if has(s, "short_lived"))
report("short-lived: children that exit after 40 ms resolve (>= 80 %)", n_short > 0 and n_short_ok >= 0.8 * n_short,
       f"{n_short_ok} of {n_short} samples")
ex = [s for s in alloc["stacks"] if s["comm"] == "exec-lived"]
n_ex = sum(s["samples"] for s in ex)
n_ex_ok = sum(s["samples"] for s in ex if has(s, "exec_lived"))
report("exec'd children living < 50 ms resolve (>= 80 %)", n_ex > 0 and n_ex_ok >= 0.8 * n_ex,
       f"{n_ex_ok} of {n_ex} samples ({100 * n_ex_ok / max(1, n_ex):.1f} %): " +
       " | ".join(" <- ".join(s["frames"][:3]) for s in ex[:2]))
for s in [s for s in ex if not has(s, "exec_lived")][:3]:
    print(f"# exec'd, not resolved ({s['samples']} samples): " + " <- ".join(s["frames"][:6]))
ours = [s for s in alloc["stacks"] if s["comm"] in ("workload", "short-lived")]
frames = [f for s in ours for f in s["frames"]]
known = [f for f in frames if not f.startswith("[unknown]")]
depth = sum(len(s["frames"]) for s in ours) / max(1, len(ours))
kmem = [s for s in alloc["stacks"] if has(s, "make_files", 16) and s["frames"][0].split(" ")[-1].startswith("([")]
k_bytes = sum(s["alloc_bytes"] for s in kmem)
if sys.argv[6] == "fentry":
    report("kmem: slab charged by make_files sampled with named kernel frames (96..4096 bytes per file)",
           bool(kmem) and all(not s["frames"][0].startswith("[unknown]") for s in kmem) and 96 * 8000 <= k_bytes <= 4096 * 8000,
           f"{len(kmem)} stacks, {k_bytes / 2**20:.1f} MiB ({k_bytes / 8000:.0f} bytes per file): " +
           " | ".join(" <- ".join(s["frames"][:4]) for s in kmem[:2]))
else:
    print(f"# kmem: flavour {sys.argv[6]}: {len(kmem)} stacks, {k_bytes / 2**20:.1f} MiB (not checked: no kmem hooks)")
ours = [s for s in ours if not s["frames"][0].split(" ")[-1].startswith("([")]
frames = [f for s in ours for f in s["frames"]]
known = [f for f in frames if not f.startswith("[unknown]")]
depth = sum(len(s["frames"]) for s in ours) / max(1, len(ours))
for s in [s for s in ours if any(f.startswith("[unknown]") for f in s["frames"])][:5]:
    print(f"# with [unknown] frames ({s['comm']}, {s['samples']} samples): " + " <- ".join(s["frames"][:6]))
report("frames resolved (-O2, no frame pointers) >= 90 %", len(frames) > 0 and len(known) >= 0.9 * len(frames),
       f"{len(known)} of {len(frames)} frames ({100 * len(known) / max(1, len(frames)):.1f} %), {depth:.1f} frames per stack")
PY
while read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"FAIL - "*) fail "${line#FAIL - }" ;;
	"#"*) echo "$line" ;;
	*) fail "verdict: $line" ;;
	esac
done <"$T/verdict"

# The growth alert (plain guest: the record is a line on the daemon's stderr).
grep 'memory grows by' "$LOG" | head -3
n_alerts=$(grep -c 'memory grows by' "$LOG")
span=$(($(date +%s) - START))
check "growth alert: a record names the leak" grep -q 'memory grows by .*fastest-growing stack .*leak_steady' "$LOG"
check "growth alert: rate limited ($n_alerts records in $span s, at most one per 10 s)" [ "$n_alerts" -le $((span / 10 + 1)) ]

# The leak frees its memory: live falls.
leak_live() {
	"$MEMQOSD" top app --sort live --json -n 50 | python3 -c '
import json, sys
o = json.load(sys.stdin)
print(sum(s["live_bytes"] for s in o["stacks"] if any(f.startswith("leak_steady") for f in s["frames"][:4])))'
}
before=$(leak_live)
kill -USR1 "$WL_PID"
T0=$(date +%s.%N)
check_fallen() {
	[ "$(leak_live)" -le $((before / 10)) ] || return 1
	T1=$(date +%s.%N)
}
if wait_for 10 check_fallen; then
	ok "after the leak is freed, its live bytes fall to <= 10 % (from $before, seen $(python3 -c "print(f'{$T1 - $T0:.1f}')") s after SIGUSR1)"
else
	fail "after the leak is freed, its live bytes fall to <= 10 % within 10 s (from $before, now $(leak_live))"
fi
grep -q 'freed the leak' "$T/workload.log" || sleep 1
kill "$WL_PID"
WL_PID=
stop_daemon
check "daemon exits 0" [ "$DAEMON_RC" -eq 0 ]
grep 'Allocation sampling:' "$LOG"
it_finish
