#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# memqosd as a systemd service, in the VM guest booted with systemd (tests/vm/run --systemd):
# the shipped unit (Type=notify, watchdog, hardening), bus policy and catalog, on the real system bus
# and a real cgroup v2 memory controller. Checks: the service starts and becomes active; `memqosd
# status` over the system bus; `systemctl reload` applies a valid edit and fails on a broken one
# while the service stays active on its old configuration; `journalctl MEMQOSD_TENANT=web` finds the
# tenant's structured records (MESSAGE_ID, MEMQOSD_OLD/NEW/REASON); the catalog explains them;
# after SIGKILL, Restart=on-failure brings memqosd back and it recovers the original memory.high
# from its record in RuntimeDirectory=/run/memqosd (preserved); `systemctl stop` restores memory.high.
#
#   tests/integration/test-systemd.sh PATH/TO/BUILD/src/memqosd
#
# It installs into the guest's (throw-away) root, so it runs only where MEMQOSD_VM=1 and PID 1 is
# systemd; elsewhere it exits 77 loudly.
set -u

. "$(dirname "$0")/lib.sh"
it_memqosd_arg "${1:-}"
it_require_systemd_guest "the systemd service test"

SCRATCH=memqosd-sd-$$
CGR=/sys/fs/cgroup/$SCRATCH
CONF=/etc/memqosd
SRC=$(cd "$(dirname "$0")/../.." && pwd)

remove_scratch() {
	if [ "$FAILED" -ne 0 ]; then
		echo "--- journalctl -u memqosd ---"
		journalctl -u memqosd.service --no-pager -o short-monotonic 2>&1 | tail -n 60
	fi
	systemctl stop memqosd.service 2>/dev/null
	rmdir "$CGR/web" "$CGR" 2>/dev/null
}
CLEANUP_HOOK=remove_scratch

# --- install what `meson install` would, into the guest's throw-away root ---------------------------
install_system_wide "$MEMQOSD" "$BUILD" "$SRC"

mkdir "$CGR" && echo +memory >"$CGR/cgroup.subtree_control" && mkdir "$CGR/web" || abort "cannot create $CGR"
mkdir -p "$CONF/tenants.d"
printf '[Daemon]\nLogLevel=debug\n' >"$CONF/memqosd.conf"
profile web "[Tenant]\nCgroup=$SCRATCH/web\nPriority=80\nMemoryHighMin=64M\nMemoryHighMax=128M\n"

# --- start ----------------------------------------------------------------------------------------
check "systemctl start memqosd succeeds (Type=notify: returns after READY=1)" systemctl start memqosd.service
check "service is active" systemctl is-active --quiet memqosd.service
check "the watchdog is armed (WatchdogSec=30s)" [ "$(systemctl show -p WatchdogUSec --value memqosd.service)" = 30s ]
check "the hardened service could write memory.high (clamp at start)" file_is "$CGR/web/memory.high" 134217728
systemctl show -p StatusText --value memqosd.service >"$T/statustext"
check "STATUS= reached systemd" grep -Eq '^1 tenants \(1 active, 0 waiting\), mode (psi-only|tracing|struct_ops)$' "$T/statustext"
"$MEMQOSD" status >"$T/status" 2>&1
check "memqosd status over the real system bus" grep -Eq "^web +$SCRATCH/web +80 +128M \(64M\.\.128M\) .* active$" "$T/status"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$MEMQOSD" status >"$T/out" 2>&1
check "the bus policy lets unprivileged users read status" grep -q '^web ' "$T/out"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$MEMQOSD" reload >"$T/out" 2>&1
check "an unprivileged reload is refused by the daemon" contains "$T/out" "Only root may reload memqosd"

# --- systemctl reload --------------------------------------------------------------------------------
profile web "[Tenant]\nCgroup=$SCRATCH/web\nPriority=80\nMemoryHighMin=64M\nMemoryHighMax=96M\n"
check "systemctl reload with a valid edit succeeds" systemctl reload memqosd.service
check "the valid edit is applied" file_is "$CGR/web/memory.high" 100663296
profile web "[Tenant]\nCgroup=$SCRATCH/web\nPriority=eighty\nMemoryHighMin=64M\nMemoryHighMax=96M\n"
systemctl reload memqosd.service >"$T/out" 2>&1
rc=$?
check "systemctl reload with a broken edit fails" [ "$rc" -ne 0 ]
check "the service stays active after a refused reload" systemctl is-active --quiet memqosd.service
"$MEMQOSD" status web >"$T/status" 2>&1
check "the daemon keeps the old configuration" grep -Eq '^web .* 96M \(64M\.\.96M\) .* active$' "$T/status"

# --- the journal ----------------------------------------------------------------------------------
jv() { journalctl -u memqosd.service -o verbose --no-pager "$@" >"$T/journal" 2>&1; }
check "journalctl -u memqosd MEMQOSD_TENANT=web finds the memory.high changes" \
	wait_for 10 bash -c "journalctl -u memqosd.service MEMQOSD_TENANT=web -o verbose --no-pager | grep -q 'MESSAGE_ID=9965b7b149e641bf809380a448bfbd3f'"
jv MEMQOSD_TENANT=web MESSAGE_ID=9965b7b149e641bf809380a448bfbd3f
check "the start-up clamp record carries old, new and reason" \
	bash -c "grep -q 'MEMQOSD_OLD=max' '$T/journal' && grep -q 'MEMQOSD_NEW=128M' '$T/journal' && grep -q 'MEMQOSD_REASON=clamp' '$T/journal'"
check "the reload's change is in the tenant's history" contains "$T/journal" "MEMQOSD_NEW=96M"
jv MESSAGE_ID=664935235cf24cf6b7a976cd77c04792
check "the refused reload has its own MESSAGE_ID" contains "$T/journal" "Reload refused: 1 error(s)"
jv PRIORITY=3
check "the refusal's FILE:LINE error is in the journal" contains "$T/journal" "$CONF/tenants.d/web.conf:3: Priority=:"
journalctl -x -u memqosd.service MESSAGE_ID=9965b7b149e641bf809380a448bfbd3f --no-pager >"$T/journal" 2>&1
check "journalctl -x explains the record from the installed catalog" contains "$T/journal" "Subject: memqosd changed memory.high"

# --- SIGKILL: systemd restarts memqosd, which recovers the originals from its RuntimeDirectory= ------
profile web "[Tenant]\nCgroup=$SCRATCH/web\nPriority=80\nMemoryHighMin=64M\nMemoryHighMax=96M\n"
WEB_ID=$(stat -c %i "$CGR/web")
check "the originals are recorded in /run/memqosd (writable under ProtectSystem=strict)" \
	grep -qx 'MemoryHigh=max' "/run/memqosd/$WEB_ID"
pid1=$(systemctl show -p MainPID --value memqosd.service)
systemctl kill -s KILL memqosd.service
check "Restart=on-failure brings memqosd back after SIGKILL" wait_for 30 bash -c \
	"p=\$(systemctl show -p MainPID --value memqosd.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid1 ] && systemctl is-active --quiet memqosd.service"
check "RuntimeDirectoryPreserve=yes: the record survived the restart" grep -qx 'MemoryHigh=max' "/run/memqosd/$WEB_ID"
check "the restarted memqosd journals the recovered originals" wait_for 10 bash -c \
	"journalctl -u memqosd.service MESSAGE_ID=f909ae316d3f49429bbec851c6ea571f -o verbose --no-pager | grep -q 'MEMQOSD_REASON=recovered after unclean exit'"

# --- stop ---------------------------------------------------------------------------------------------
check "systemctl stop memqosd succeeds" systemctl stop memqosd.service
check "stop restored memory.high (the original, also after the SIGKILL and restart)" file_is "$CGR/web/memory.high" max
check "stop removed the record" [ ! -e "/run/memqosd/$WEB_ID" ]
jv MESSAGE_ID=580986d16ae8415ca1b49cfd2256b5c2
check "the restore is journaled" contains "$T/journal" "MEMQOSD_REASON=daemon stopping"
check "the service ended cleanly (not failed)" bash -c "! systemctl is-failed --quiet memqosd.service"

it_finish
