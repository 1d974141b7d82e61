#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of the OOM forecast's outputs (issue 9) with the real memqosd binary on a fake
# cgroup tree (--cgroup-root) and a private dbus-daemon: a simulator rewrites the tenant's
# memory.stat/memory.current as a steady leak toward its memory.max, then "OOM-kills" (memory.events
# oom_kill). Checks:
#  - `memqosd watch --json`: a snapshot line per tenant first, then watch -> warning -> critical ->
#    oom for the leaking tenant, every line with the contract's fields; the warning comes early
#    enough and its ETA is within +-25 % of the time that really remained; a TENANT filter;
#  - `memqosd watch` (readable) prints the same changes;
#  - GetRisk/ListRisks over D-Bus (busctl), also for an unprivileged caller; an unknown tenant is
#    org.memqosd1.NoSuchTenant, and `memqosd watch nope` fails clearly;
#  - the daemon's structured record (MEMQOSD_MESSAGE_OOM_RISK) for each change;
#  - Hook=: run with the event in its environment; one that hangs is killed at HookTimeoutSec= and
#    that is logged;
#  - watch ends with status 0 on SIGINT and on a closed stdout, and with 3 and a clear message when
#    the daemon goes away.
# Runs as root (the unprivileged D-Bus caller is run as nobody); exits 77 (skip) loudly otherwise.
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd}")
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_root "the OOM forecast integration test (it calls the bus as nobody)"
it_require_tools dbus-daemon setpriv python3 busctl

CG=$T/cg
CONF=$T/conf
MAX=1073741824
mkdir -p "$CG/tenants" "$CONF/tenants.d"
for t in leaky idle; do
	make_fake_cgroup "$CG/tenants/$t" max
	echo $MAX >"$CG/tenants/$t/memory.max"
	printf 'anon 104857600\nfile 0\nkernel 4194304\nshmem 0\nslab_reclaimable 0\nworkingset_refault_file 0\n' \
		>"$CG/tenants/$t/memory.stat"
done

# The hook records its environment; at the warning it hangs (killed at HookTimeoutSec=).
cat >"$T/hook.sh" <<EOF
#!/bin/sh
env | grep '^MEMQOSD_' | sort | tr '\n' ' ' >>"$T/hook.log"
echo >>"$T/hook.log"
[ "\$MEMQOSD_LEVEL" = warning ] && exec sleep 60
exit 0
EOF
chmod 755 "$T/hook.sh"

# Fast settings, so the whole leak takes about 15 s.
printf '[Daemon]\nLogLevel=debug\n[Control]\nHousekeepingSec=1h\n[Forecast]\nSampleSec=250ms\nMinDurationSec=2s\nWarningSec=20s\nCriticalSec=4s\nWatchSec=60s\nCriticalDurationSec=500ms\n' \
	>"$CONF/memqosd.conf"
profile leaky "[Tenant]\nCgroup=tenants/leaky\nPriority=50\n[Forecast]\nHook=$T/hook.sh\nHookTimeoutSec=2s\nHookMinIntervalSec=0\n"
profile idle '[Tenant]\nCgroup=tenants/idle\nPriority=10\n'

# check-time error: a hook that does not exist
mkdir -p "$T/bad/tenants.d"
printf '[Tenant]\nCgroup=x\nPriority=1\n[Forecast]\nHook=/nonexistent/hook\n' >"$T/bad/tenants.d/x.conf"
"$MEMQOSD" check --config-dir "$T/bad" >"$T/out" 2>"$T/err"
rc=$?
check "check: a missing hook is an error" [ "$rc" -eq 1 ]
check "check: it names file, line and key" contains "$T/err" "$T/bad/tenants.d/x.conf:5: Hook=: /nonexistent/hook: No such file or directory"

start_private_bus
"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$T/state" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon is on the bus" wait_for 10 busctl --system status org.memqosd1

# --- D-Bus methods ----------------------------------------------------------------------------
busctl --system call org.memqosd1 /org/memqosd1 org.memqosd1.Manager GetRisk s leaky >"$T/out" 2>&1
check "GetRisk answers for a tenant" grep -q '^(ssssttttsa{sv}) "leaky" "tenants/leaky" "ok" "ok"' "$T/out"
setpriv --reuid=nobody --regid=nogroup --clear-groups busctl --system call org.memqosd1 /org/memqosd1 \
	org.memqosd1.Manager ListRisks >"$T/out" 2>&1
check "ListRisks answers an unprivileged caller, every tenant" grep -q '"idle".*"leaky"' "$T/out"
busctl --system call org.memqosd1 /org/memqosd1 org.memqosd1.Manager GetRisk s nope >"$T/out" 2>&1
check "GetRisk of an unknown tenant: NoSuchTenant" contains "$T/out" "No tenant 'nope' is configured"
"$MEMQOSD" watch nope >"$T/out" 2>"$T/err"
rc=$?
check "watch of an unknown tenant exits 1" [ "$rc" -eq 1 ]
check "watch of an unknown tenant says which" contains "$T/err" "No tenant 'nope' is configured"

# --- the stream -------------------------------------------------------------------------------
"$MEMQOSD" watch --json >"$T/watch.json" 2>"$T/watch.err" &
W_JSON=$!
"$MEMQOSD" watch >"$T/watch.txt" 2>&1 &
W_TEXT=$!
"$MEMQOSD" watch --json idle >"$T/watch-idle.json" 2>&1 &
W_IDLE=$!
check "watch prints the snapshot" wait_for 10 bash -c "[ \$(wc -l <'$T/watch.json') -ge 2 ]"

# The leak: 64 MiB/s from 100 MiB; at memory.max the kernel would kill: oom_kill, memory drops.
# Nothing polls a tenant that is not sampled, and a tree of plain files has no BPF policy to send
# the WATCH record a real kernel would: the leak starts with a memory.events max (its first brush
# with memory.max, as under a tight limit) to start the sampling.
python3 - "$CG/tenants/leaky" "$T/oom.time" <<'EOF'
import sys, time
d, out = sys.argv[1], sys.argv[2]
MAX, MIB = 1073741824, 1048576
def write(name, text):
    with open(f"{d}/{name}.tmp", "w") as f:
        f.write(text)
    import os
    os.rename(f"{d}/{name}.tmp", f"{d}/{name}")
with open(f"{d}/memory.events", "w") as f:
    f.write("low 0\nhigh 0\nmax 1\noom 0\noom_kill 0\noom_group_kill 0\n")
start = time.time()
while True:
    anon = 100 * MIB + int(64 * MIB * (time.time() - start))
    if anon >= MAX - 8 * MIB:
        break
    write("memory.stat", f"anon {anon}\nfile 0\nkernel 4194304\nshmem 0\nslab_reclaimable 0\nworkingset_refault_file 0\n")
    write("memory.current", f"{anon + 4194304}\n")
    time.sleep(0.1)
with open(out, "w") as f:
    f.write(f"{time.time()}\n")
write("memory.stat", f"anon {16 * MIB}\nfile 0\nkernel 4194304\nshmem 0\nslab_reclaimable 0\nworkingset_refault_file 0\n")
write("memory.current", f"{20 * MIB}\n")
with open(f"{d}/memory.events", "w") as f:
    f.write("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n")
EOF
check "the oom level reaches watch" wait_for 10 grep -q '"level":"oom"' "$T/watch.json"

python3 - "$T/watch.json" "$T/oom.time" >"$T/verdict" 2>&1 <<'EOF'
import json, sys, datetime
lines = [json.loads(l) for l in open(sys.argv[1])]
oom = float(open(sys.argv[2]).read())
def t(line):
    return datetime.datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
keys = {"event", "time", "tenant", "cgroup", "level", "previous", "eta_seconds", "usage_bytes", "limit_bytes", "reason"}
bad = [l for l in lines if not keys <= set(l) or l["event"] != "risk"]
print("lines", len(lines), "missing fields", len(bad))
snap = [l for l in lines if l["snapshot"]]
print("snapshot", sorted(l["tenant"] for l in snap), "first", all(l["snapshot"] for l in lines[:len(snap)]))
seq = [l for l in lines if not l["snapshot"] and l["tenant"] == "leaky"]
print("sequence", " ".join(l["previous"] + ">" + l["level"] for l in seq))
w = next(l for l in seq if l["level"] == "warning")
c = next(l for l in seq if l["level"] == "critical")
remaining = oom - t(w)
print("warning lead %.1f s, eta %.1f s, error %.0f %%" % (remaining, w["eta_seconds"], 100 * abs(w["eta_seconds"] - remaining) / remaining))
print("critical lead %.1f s" % (oom - t(c)))
print("limit", w["limit_bytes"], "usage", w["usage_bytes"], "cgroup", w["cgroup"])
ok = (not bad and sorted(l["tenant"] for l in snap) == ["idle", "leaky"]
      and [l["level"] for l in seq][:4] == ["watch", "warning", "critical", "oom"]
      and remaining >= 5 and abs(w["eta_seconds"] - remaining) <= 0.25 * remaining and oom - t(c) > 0
      and w["limit_bytes"] == 1073741824 and w["cgroup"] == "tenants/leaky")
print("VERDICT", "ok" if ok else "bad")
EOF
cat "$T/verdict"
check "watch --json: snapshot first, then watch>warning>critical>oom with every field, ETA within 25 %" \
	grep -q "VERDICT ok" "$T/verdict"
check "watch (readable) shows the warning" grep -Eq '^[0-9T:.-]+Z leaky \(tenants/leaky\): warning \(was watch\), OOM in ~[0-9]+ s' "$T/watch.txt"
check "watch TENANT shows only that tenant" bash -c "grep -q '\"tenant\":\"idle\"' '$T/watch-idle.json' && ! grep -q '\"tenant\":\"leaky\"' '$T/watch-idle.json'"
check "a structured record per change (MESSAGE_ID, level, ETA)" \
	grep -q 'Tenant leaky: OOM risk warning (was watch): OOM forecast in' "$LOG"
check "the hook ran with the event in its environment" \
	grep -q 'MEMQOSD_CGROUP=tenants/leaky MEMQOSD_ETA_SECONDS=.* MEMQOSD_EVENT=risk MEMQOSD_LEVEL=watch MEMQOSD_LIMIT_BYTES=1073741824 MEMQOSD_PREVIOUS=ok' "$T/hook.log"
check "a hanging hook is killed at HookTimeoutSec= and logged" wait_for 10 contains "$LOG" "hook for level warning killed after"

# --- ending -------------------------------------------------------------------------------------
kill -INT "$W_TEXT"
wait "$W_TEXT"
check "watch exits 0 on SIGINT" [ $? -eq 0 ]
"$MEMQOSD" watch --json | true
check "watch exits 0 when its reader is gone (SIGPIPE)" [ "${PIPESTATUS[0]}" -eq 0 ]
stop_daemon
wait "$W_JSON"
rc=$?
check "watch exits 3 when the daemon goes away" [ "$rc" -eq 3 ]
check "and says so" contains "$T/watch.err" "the daemon went away"
kill "$W_IDLE" 2>/dev/null
wait "$W_IDLE" 2>/dev/null

it_finish
