#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Integration test: hostile input to the real daemon (fake cgroup tree, private dbus-daemon).
#   - a FIFO in tenants.d: `memqosd check` returns with a FILE: error, a reload is refused
#     promptly and the daemon keeps its running configuration;
#   - a profile of 128k bad lines: check and reload return with a bounded report (at most 100
#     errors plus a count of the rest), the daemon keeps running;
#   - `Cgroup=a /` is refused with FILE:LINE: Cgroup=:;
#   - a group-writable state directory is refused (the daemon runs without it, loudly);
#   - a cgroup root that is not cgroup2 is refused unless MEMQOSD_TEST_FAKE_CGROUP_ROOT=1.
# Usage: test-hostile.sh PATH-TO-MEMQOSD
MEMQOSD=${1:?usage: $0 PATH-TO-MEMQOSD}
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_tools dbus-daemon python3 timeout

CG=$T/cg
CONF=$T/conf
STATE=$T/state

mkdir -p "$CG/tenants" "$CONF/tenants.d"
make_fake_cgroup "$CG/tenants/web" max
printf '[Daemon]\nLogLevel=info\n[Control]\nHousekeepingSec=1h\n' >"$CONF/memqosd.conf"
profile web '[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=768M\nMemoryHighMax=1536M\n'

# --- a cgroup root that is not cgroup2 ---------------------------------------------------------------
env -u MEMQOSD_TEST_FAKE_CGROUP_ROOT timeout 20 "$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" \
	--state-dir "$STATE" >"$T/out" 2>&1
rc=$?
check "a non-cgroup2 root is refused (exit 1, not a hang)" [ "$rc" -eq 1 ]
check "the refusal says why" contains "$T/out" "is not a cgroup2 mount (statfs magic), refusing to manage it"
check "nothing was written before the refusal" file_is "$CG/tenants/web/memory.high" max

# --- Cgroup=a / ---------------------------------------------------------------------------------------
profile sp '[Tenant]\nCgroup=a /\nPriority=1\n'
timeout 20 "$MEMQOSD" check --config-dir "$CONF" >"$T/out" 2>"$T/err"
rc=$?
check "check refuses Cgroup=a /" [ "$rc" -eq 1 ]
check "... naming file, line and key" contains "$T/err" "$CONF/tenants.d/sp.conf:2: Cgroup=: 'a /': path component 'a ' begins or ends with a space"
rm "$CONF/tenants.d/sp.conf"

# --- start, with a group-writable state directory -----------------------------------------------------
mkdir -m 0770 "$STATE"
start_private_bus
start_notify_listener
NOTIFY_SOCKET=$T/notify.sock "$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$STATE" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon sends READY=1" wait_for 10 contains "$NOTIFY_LOG" "READY=1"
check "a group-writable state directory is refused, loudly" \
	contains "$LOG" "Refusing state directory $STATE: not owned by root (or uid $(id -u)), or writable by group or others"
check "... and no record is written into it" bash -c "[ -z \"\$(ls -A '$STATE')\" ]"

# --- a FIFO in tenants.d --------------------------------------------------------------------------------
mkfifo "$CONF/tenants.d/fifo.conf"
timeout 20 "$MEMQOSD" check --config-dir "$CONF" >"$T/out" 2>"$T/err"
rc=$?
check "check with a FIFO in tenants.d returns (no hang) with exit 1" [ "$rc" -eq 1 ]
check "... and a FILE: error" contains "$T/err" "$CONF/tenants.d/fifo.conf:0: not a regular file (a FIFO), refusing to read it"
profile web '[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=768M\nMemoryHighMax=1G\n'
timeout 20 "$MEMQOSD" reload >"$T/out" 2>"$T/err"
rc=$?
check "reload with a FIFO in tenants.d is refused (exit 1, no hang)" [ "$rc" -eq 1 ]
check "... with the FILE: error" contains "$T/err" "$CONF/tenants.d/fifo.conf:0: not a regular file (a FIFO)"
check "the daemon keeps running" kill -0 "$DAEMON_PID"
check "... on its previous configuration (web not re-clamped to the new 1G)" file_is "$CG/tenants/web/memory.high" 1610612736
timeout 20 "$MEMQOSD" status web >"$T/status" 2>&1
check "... and answers status" grep -Eq '^web +tenants/web +80 +1536M \(768M\.\.1536M\)' "$T/status"
rm "$CONF/tenants.d/fifo.conf"
profile web '[Tenant]\nCgroup=tenants/web\nPriority=80\nMemoryHighMin=768M\nMemoryHighMax=1536M\n'

# --- 128k bad lines -----------------------------------------------------------------------------------
{
	printf '[Tenant]\nCgroup=tenants/bad\nPriority=1\n'
	yes x | head -n 131072   # 256 KiB: under the 1 MiB cap, so every line is parsed
} >"$CONF/tenants.d/bad.conf"
timeout 60 "$MEMQOSD" check --config-dir "$CONF" >"$T/out" 2>"$T/err"
rc=$?
check "check with 128k bad lines returns with exit 1" [ "$rc" -eq 1 ]
check "... printing at most 101 lines" [ "$(wc -l <"$T/err")" -le 101 ]
check "... and the count of the rest" contains "$T/err" "... and 130972 more errors (only the first 100 are shown)"
timeout 60 "$MEMQOSD" reload >"$T/out" 2>"$T/err"
rc=$?
check "reload with 128k bad lines is refused (exit 1, no hang)" [ "$rc" -eq 1 ]
check "... the D-Bus error is bounded (< 64 KiB)" [ "$(wc -c <"$T/err")" -lt 65536 ]
check "... and counts the rest" contains "$T/err" "... and 130972 more errors"
check "the refusal is logged with the full count" contains "$LOG" "Reload refused: 131072 error(s)"
check "the daemon is still running and answers" bash -c "timeout 20 '$MEMQOSD' status web | grep -q '^web '"
rm "$CONF/tenants.d/bad.conf"

stop_daemon
check "daemon exits 0 on SIGTERM" [ "$DAEMON_RC" -eq 0 ]
it_finish
