#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Restarts and upgrades without dropping the kernel policies (issue 15), in the VM guest booted
# with systemd (tests/vm/run --systemd) on the patched kernel (struct_ops mode). Two tenants, a
# workload charging memory in one of them, and an independent sampler (handover-sampler.c: bpf()
# by id, not memqosd) of the struct_ops links and of the charge hook's counter throughout:
#   0. baseline, the unit without a store (FileDescriptorStoreMax=0, i.e. as before issue 15): the
#      time the tenants spend without a policy across `systemctl restart`;
#   1. `systemctl restart`: the same link ids stay attached, the counter never stops, memory.high is
#      not written (no change or restore records), the next memqosd adopts both links;
#   2. SIGKILL: Restart=on-failure, the links were kept by the store and are adopted, the originals
#      recovered from /run/memqosd;
#   3. a profile edit across a restart: the changed tenant's parameter entry is updated (one map
#      update, issue 12), its link and program stay;
#   4. an upgrade to memqosd-next (another build of the policy program): loaded once, both links
#      moved to its one struct_ops map atomically, the same links, no gap;
#   5. `systemctl stop`: nothing stays attached, the fd store is empty, memory.high restored.
# Prints the figures (HANDOVER_* lines) for the README.
#
#   tests/integration/test-handover.sh PATH/TO/BUILD/src/memqosd [BASELINE_MEMQOSD]
#
# BASELINE_MEMQOSD (optional): run the baseline with that binary instead (e.g. a build of main
# before issue 15), to measure it rather than this build without a store.
set -u
BASELINE=${2:+$(readlink -f "$2")}

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/BUILD/src/memqosd}")
BUILD=$(dirname "$(dirname "$MEMQOSD")")
NEXT=$BUILD/src/memqosd-next
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
if [ "${MEMQOSD_VM:-0}" != 1 ] || [ ! -d /run/systemd/system ]; then
	echo "!!! SKIPPED: the handover test installs memqosd system-wide; it runs only in the VM" \
		"guest booted with systemd (tests/vm/run --systemd) !!!"
	exit 77
fi
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
[ -x "$BUILD/tests/integration/handover-sampler" ] || abort "the sampler is missing (build first)"
[ -x "$NEXT" ] || abort "$NEXT is missing (built with -Dtests=true on a vmlinux.h with memcg_ops)"
it_require_root "the handover test"
export BPFTOOL=${MEMQOSD_CACHE:-/var/cache/memqosd}/tools/sbin/bpftool
[ -x "$BPFTOOL" ] || abort "bpftool missing at $BPFTOOL"
grep -qw memory /sys/fs/cgroup/cgroup.controllers || abort "no cgroup v2 memory controller"

SCRATCH=memqosd-ho-$$
CGR=/sys/fs/cgroup/$SCRATCH
CONF=/etc/memqosd
SRC=$(cd "$HERE/../.." && pwd)
DROPIN=/etc/systemd/system/memqosd.service.d
SAMPLER=$BUILD/tests/integration/handover-sampler
REPORT="python3 $HERE/handover-report.py"
LOAD_PID=

remove_scratch() {
	if [ "$FAILED" -ne 0 ]; then
		echo "--- journalctl -u memqosd ---"
		journalctl -u memqosd.service --no-pager -o short-monotonic 2>&1 | tail -n 80
	fi
	[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
	systemctl stop memqosd.service 2>/dev/null
	rm -rf "$DROPIN"
	for c in "$CGR/web" "$CGR/batch"; do
		[ -d "$c" ] && cat "$c/cgroup.procs" 2>/dev/null | xargs -r kill -9 2>/dev/null
	done
	sleep 0.5
	rmdir "$CGR/web" "$CGR/batch" "$CGR" 2>/dev/null
}
CLEANUP_HOOK=remove_scratch

install_system_wide "$MEMQOSD" "$BUILD" "$SRC"
BINDIR=$(sed -n 's|^ExecStart=\(.*\)/memqosd$|\1|p' /etc/systemd/system/memqosd.service)
# Replace the installed binary the way a package manager does (rename over the running one).
install_binary() {
	cp "$1" "$BINDIR/.memqosd.new" && chmod 0755 "$BINDIR/.memqosd.new" && mv -f "$BINDIR/.memqosd.new" "$BINDIR/memqosd"
}

mkdir "$CGR" && echo +memory >"$CGR/cgroup.subtree_control" && mkdir "$CGR/web" "$CGR/batch" ||
	abort "cannot create $CGR"
mkdir -p "$CONF/tenants.d"
printf '[Daemon]\nLogLevel=debug\n' >"$CONF/memqosd.conf"
profile web "[Tenant]\nCgroup=$SCRATCH/web\nPriority=80\nMemoryHighMin=64M\nMemoryHighMax=128M\n"
profile batch "[Tenant]\nCgroup=$SCRATCH/batch\nPriority=20\nMemoryHighMin=64M\nMemoryHighMax=96M\n"
WEB_ID=$(stat -c %i "$CGR/web")

# A workload that keeps charging web: 16 MiB mapped, touched, unmapped, again (each round faults
# new pages; malloc would reuse its heap and charge nothing after the first round).
sh -c "echo \$\$ > $CGR/web/cgroup.procs && exec python3 -c '
import mmap
while True:
    m = mmap.mmap(-1, 16 << 20)
    for i in range(0, 16 << 20, 4096):
        m[i] = 1
    m.close()
'" &
LOAD_PID=$!
check "the workload charges web" wait_for 60 bash -c "[ \$(cat $CGR/web/memory.current) -gt 8000000 ]"

links() { "$BPFTOOL" -j link show 2>/dev/null | python3 -c '
import json, sys
print(" ".join(str(l["id"]) for l in sorted(json.load(sys.stdin), key=lambda l: l["id"]) if l.get("type") == "struct_ops"))'; }
link_maps() { "$BPFTOOL" -j link show 2>/dev/null | python3 -c '
import json, sys
print(" ".join(str(l.get("map_id")) for l in sorted(json.load(sys.stdin), key=lambda l: l["id"]) if l.get("type") == "struct_ops"))'; }
nlinks() { links | wc -w; }
# one_new_map "OLD MAP IDS": every link points at one struct_ops map, and not at one of those
one_new_map() { local m; m=$(link_maps | tr ' ' '\n' | sort -u); [ "$(echo "$m" | wc -l)" = 1 ] && ! echo " $1 " | grep -q " $m "; }
# params_priority CGROUP-DIR: the priority in that cgroup's parameter entry (memqosd_params), or "none"
params_priority() { python3 "$HERE/../vm/policy/params-priority.py" "$BPFTOOL" "$1"; }
jcount() { journalctl -u memqosd.service --no-pager -o cat "$@" 2>/dev/null | wc -l; }
store() { systemctl show -p NFileDescriptorStore --value memqosd.service; }
highs() { echo "$(cat "$CGR/web/memory.high") $(cat "$CGR/batch/memory.high")"; }
writes() { echo $(( $(jcount MESSAGE_ID=9965b7b149e641bf809380a448bfbd3f) + $(jcount MESSAGE_ID=580986d16ae8415ca1b49cfd2256b5c2) )); }
main_pid() { systemctl show -p MainPID --value memqosd.service; }
# since CURSOR-FILE PATTERN: a journal line of memqosd after the cursor matches
since() { journalctl -u memqosd.service --no-pager -o cat --after-cursor="$(cat "$1")" 2>/dev/null | grep -qE -- "$2"; }
cursor() { journalctl -u memqosd.service -n 0 --show-cursor --no-pager 2>/dev/null | sed -n 's/^-- cursor: //p' >"$1"; }

# sampled NAME COMMAND...: run COMMAND with the sampler going from 3 s before to 3 s after; the
# report goes to $T/NAME.report (KEY=VALUE) and is printed.
sampled() {
	local name=$1
	shift
	rm -f "$T/stop"
	"$SAMPLER" "$T/$name.samples" "$T/stop" 20 &
	local sp=$!
	sleep 3
	"$@"
	local rc=$?
	sleep 3
	touch "$T/stop"
	wait "$sp"
	$REPORT report "$T/$name.samples" 2 >"$T/$name.report"
	sed "s/^/# $name: /" "$T/$name.report"
	return "$rc"
}
fig() { sed -n "s/^$2=//p" "$T/$1.report"; }
ready() { systemctl is-active --quiet memqosd.service && [ "$(nlinks)" = 2 ]; }

# --- 0. baseline: no fd store (memqosd before issue 15 behaves the same) -------------------------
mkdir -p "$DROPIN" && printf '[Service]\nFileDescriptorStoreMax=0\n' >"$DROPIN/nostore.conf"
systemctl daemon-reload
if [ -n "$BASELINE" ]; then
	echo "# baseline binary: $BASELINE"
	install_binary "$BASELINE"
fi
check "baseline: memqosd starts without a store" systemctl start memqosd.service
check "baseline: two struct_ops links" wait_for 30 ready
sampled baseline systemctl restart memqosd.service
check "baseline: restarted" wait_for 30 ready
check "baseline: without a store the links were replaced (new ids)" [ "$(fig baseline LINK_SETS)" -ge 2 ]
check "baseline: without a store the tenants had no policy for a while" \
	python3 -c "import sys; sys.exit(not float('$(fig baseline GAP_LINKS_S)') > 0)"
systemctl stop memqosd.service
rm -rf "$DROPIN"
systemctl daemon-reload
install_binary "$MEMQOSD"

# --- 1. systemctl restart ------------------------------------------------------------------------
check "memqosd starts with the fd store" systemctl start memqosd.service
check "two struct_ops links" wait_for 30 ready
wait_for 10 bash -c "[ \"\$(systemctl show -p NFileDescriptorStore --value memqosd.service)\" = 7 ]"
check "the fd store holds the 5 shared maps and the 2 links ($(store))" [ "$(store)" = 7 ]
check "both links share one struct_ops map ($(link_maps))" [ "$(link_maps | tr ' ' '\n' | sort -u | wc -l)" = 1 ]
if [ "$(store)" != 7 ]; then
	echo "# NFileDescriptorStore=$(store); what PID 1 said:"
	journalctl -b _PID=1 --no-pager -o cat | grep -i -e memqosd -e fdstore -e "file descriptor" | tail -n 20
fi
sleep 2
L1=$(links)
H1=$(highs)
W1=$(writes)
P1=$(main_pid)
cursor "$T/c1"
sampled restart systemctl restart memqosd.service
check "restart: active again, a new process" bash -c "systemctl is-active --quiet memqosd.service && [ \"\$(systemctl show -p MainPID --value memqosd.service)\" != $P1 ]"
check "restart: the same link ids stayed attached ($L1 -> $(links))" [ "$(links)" = "$L1" ]
check "restart: never fewer than two links in $(fig restart SAMPLES) samples" [ "$(fig restart GAP_LINKS_S)" = 0.00 ]
check "restart: one set of link ids throughout" [ "$(fig restart LINK_SETS)" = 1 ]
check "restart: the charge counter never went back (same maps)" [ "$(fig restart WENT_BACK)" = 0 ]
check "restart: the charge counter advanced ($(fig restart CHARGES_FIRST) -> $(fig restart CHARGES_LAST))" \
	[ "$(fig restart CHARGES_LAST)" -gt "$(fig restart CHARGES_FIRST)" ]
check "restart: memory.high untouched ($H1 -> $(highs))" [ "$(highs)" = "$H1" ]
check "restart: no memory.high change or restore was written ($W1 -> $(writes) records)" [ "$(writes)" = "$W1" ]
check "restart: the old memqosd handed over instead of restoring" since "$T/c1" "stopped for a restart: 2 tenant"
check "restart: web adopted its link" since "$T/c1" "web: adopted its policy link"
check "restart: batch adopted its link" since "$T/c1" "batch: adopted its policy link"
check "restart: the shared maps were adopted" since "$T/c1" "Adopted the shared BPF maps"
check "restart: the store still holds 7 objects" [ "$(store)" = 7 ]

# --- 2. SIGKILL -----------------------------------------------------------------------------------
P2=$(main_pid)
L2=$(links)
cursor "$T/c2"
H2=$(highs)
sampled kill bash -c "systemctl kill -s KILL memqosd.service; for _ in \$(seq 1 300); do p=\$(systemctl show -p MainPID --value memqosd.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $P2 ] && systemctl is-active --quiet memqosd.service && exit 0; sleep 0.1; done; exit 1"
check "SIGKILL: Restart=on-failure brought memqosd back" [ "$(main_pid)" != "$P2" ]
check "SIGKILL: the same link ids stayed attached ($L2 -> $(links))" [ "$(links)" = "$L2" ]
check "SIGKILL: never fewer than two links" [ "$(fig kill GAP_LINKS_S)" = 0.00 ]
check "SIGKILL: the charge counter never went back" [ "$(fig kill WENT_BACK)" = 0 ]
check "SIGKILL: web adopted its link" since "$T/c2" "web: adopted its policy link"
check "SIGKILL: batch adopted its link" since "$T/c2" "batch: adopted its policy link"
check "SIGKILL: the originals were recovered from /run/memqosd" since "$T/c2" "web: originals recovered"
check "SIGKILL: memory.high untouched" [ "$(highs)" = "$H2" ]

# --- 3. a profile edit across a restart ------------------------------------------------------------
M3=$(link_maps)
L3=$(links)
cursor "$T/c3"
profile batch "[Tenant]\nCgroup=$SCRATCH/batch\nPriority=30\nMemoryHighMin=64M\nMemoryHighMax=96M\n"
sampled params systemctl restart memqosd.service
check "profile edit: the same link ids" [ "$(links)" = "$L3" ]
check "profile edit: batch's parameters replaced (one map update)" since "$T/c3" "batch: replaced the policy .* atomically \(replace-params"
check "profile edit: web adopted as it was" since "$T/c3" "web: adopted its policy link"
check "profile edit: no link points at another map, no program swapped ($M3 -> $(link_maps))" [ "$(link_maps)" = "$M3" ]
check "profile edit: batch's parameter entry says priority 30 ($(params_priority "$CGR/batch"))" \
	[ "$(params_priority "$CGR/batch")" = 30 ]
check "profile edit: never fewer than two links" [ "$(fig params GAP_LINKS_S)" = 0.00 ]

# --- 4. an upgrade that changes the program ------------------------------------------------------------
M4=$(link_maps)
L4=$(links)
cursor "$T/c4"
install_binary "$NEXT"
sampled upgrade systemctl restart memqosd.service
check "upgrade: memqosd-next runs" bash -c "systemctl is-active --quiet memqosd.service && grep -q memqosd_prio_n /proc/\$(systemctl show -p MainPID --value memqosd.service)/exe"
check "upgrade: the same link ids" [ "$(links)" = "$L4" ]
check "upgrade: both links point at one new struct_ops map ($M4 -> $(link_maps))" one_new_map "$M4"
check "upgrade: web's program replaced atomically (another program)" since "$T/c4" "web: replaced the policy .* atomically \(replace-program"
check "upgrade: batch's program replaced atomically (another program)" since "$T/c4" "batch: replaced the policy .* atomically \(replace-program"
check "upgrade: never fewer than two links in $(fig upgrade SAMPLES) samples" [ "$(fig upgrade GAP_LINKS_S)" = 0.00 ]
check "upgrade: the charge counter never went back (maps adopted)" [ "$(fig upgrade WENT_BACK)" = 0 ]
check "upgrade: the charge counter advanced" [ "$(fig upgrade CHARGES_LAST)" -gt "$(fig upgrade CHARGES_FIRST)" ]

# --- 5. systemctl stop -----------------------------------------------------------------------------------
cursor "$T/c5"
check "stop: systemctl stop succeeds" systemctl stop memqosd.service
check "stop: no struct_ops link stays attached" [ "$(nlinks)" = 0 ]
check "stop: the fd store is empty" wait_for 10 bash -c "[ \"\$(systemctl show -p NFileDescriptorStore --value memqosd.service)\" = 0 ]"
check "stop: memory.high restored (web, batch: max max)" [ "$(highs)" = "max max" ]
check "stop: the records are removed" [ ! -e "/run/memqosd/$WEB_ID" ]
check "stop: it restored instead of handing over" since "$T/c5" "every changed memory.high/low restored"
check "stop: the service ended cleanly" bash -c "! systemctl is-failed --quiet memqosd.service"

echo "HANDOVER_WITHOUT_STORE_GAP_S=$(fig baseline GAP_LINKS_S) (longest time without both policies across systemctl restart, ${BASELINE:-this build} without fd store; counter stall $(fig baseline STALL_S) s)"
echo "HANDOVER_RESTART_GAP_S=$(fig restart GAP_LINKS_S) (with the fd store; counter stall $(fig restart STALL_S) s, $(fig restart SAMPLES) samples over $(fig restart SPAN_S) s)"
echo "HANDOVER_SIGKILL_GAP_S=$(fig kill GAP_LINKS_S) (counter stall $(fig kill STALL_S) s)"
echo "HANDOVER_UPGRADE_GAP_S=$(fig upgrade GAP_LINKS_S) (counter stall $(fig upgrade STALL_S) s)"
it_finish
