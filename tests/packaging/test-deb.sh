#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The memqosd .deb in the VM guest booted with systemd (tests/vm/run --systemd): `dpkg -i` installs
# it, which enables and starts memqosd.service (and leaves memqosd-metrics.socket disabled), puts the
# journal catalog in place (systemd's file trigger runs journalctl --update-catalog); a profile in
# /etc/memqosd/tenants.d and `systemctl reload memqosd` put a cgroup under management; the metrics
# socket, enabled, serves /metrics (promtool accepts it) and socket-activates a stopped service;
# `dpkg --purge` stops the service (memory.high restored), and leaves behind only what Debian policy
# keeps: the profile the administrator wrote (dpkg does not remove files it did not install).
#
#   tests/packaging/test-deb.sh PATH/TO/memqosd_VERSION_ARCH.deb
#
# Runs only where MEMQOSD_VM=1 and PID 1 is systemd (it installs into the guest's throw-away root);
# elsewhere it exits 77 loudly.
set -u

DEB=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd.deb}")
. "$(dirname "$0")/../integration/lib.sh"
[ -f "$DEB" ] || abort "$DEB does not exist (tests/packaging/build-deb builds it)"

it_require_systemd_guest "the package test"
it_require_tools dpkg curl promtool journalctl

not() { ! "$@"; }
CG=/sys/fs/cgroup/memqosd-pkg
START_ID=72519ce48a234f73ab4657d1d36b0595   # MEMQOSD_MESSAGE_START (src/journal-ids.h)
WATCHED="/etc /lib/systemd/system /usr/lib/systemd /usr/share/dbus-1 /usr/bin /usr/share/doc /usr/share/man
/usr/share/bash-completion /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked"

on_failure() {
	if [ "$FAILED" -ne 0 ]; then
		echo "--- journalctl -u memqosd ---"
		journalctl -u memqosd.service -u memqosd-metrics.socket --no-pager 2>&1 | tail -n 40
	fi
	rmdir "$CG" 2>/dev/null
}
CLEANUP_HOOK=on_failure

snapshot() {
	# shellcheck disable=SC2086
	find $WATCHED /run/memqosd 2>/dev/null | sort
}

check "memqosd is not installed yet" not dpkg -s memqosd
check "the catalog has no memqosd entry yet" not sh -c "journalctl --list-catalog $START_ID 2>/dev/null | grep -q $START_ID"
snapshot >"$T/before"
# man-db's trigger rebuilds the whole index (minutes under TCG): nothing here reads it.
rm -f /var/lib/man-db/auto-update
# The host image is a container image whose policy-rc.d forbids maintainer scripts to start services
# (exit 101); a Debian host has none. The guest's root is a throw-away overlay.
rm -f /usr/sbin/policy-rc.d

# --- install ---------------------------------------------------------------------------------------
t0=$(date +%s)
dpkg -i "$DEB" >"$T/dpkg.log" 2>&1
rc=$?
echo "dpkg -i took $(( $(date +%s) - t0 )) s"
sed 's/^/  dpkg: /' "$T/dpkg.log"
check "dpkg -i succeeds" [ "$rc" -eq 0 ] || cat "$T/dpkg.log"
check "the package is installed" sh -c "dpkg -s memqosd | grep -q '^Status: install ok installed'"
check "memqosd.service is enabled" systemctl is-enabled --quiet memqosd.service
check "memqosd.service was started by the postinst" systemctl is-active --quiet memqosd.service
check "memqosd-metrics.socket is shipped disabled" not systemctl is-enabled --quiet memqosd-metrics.socket
check "the journal catalog was updated on install" sh -c "journalctl --list-catalog $START_ID | grep -q $START_ID"
check "/etc/memqosd/memqosd.conf is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' memqosd | grep -q /etc/memqosd/memqosd.conf"
check "man memqosd is installed" test -f /usr/share/man/man8/memqosd.8.gz
memqosd status >"$T/status" 2>&1
check "memqosd status answers over the bus" [ $? -eq 0 ]
check "it runs in struct_ops mode on the patched kernel" grep -q 'struct_ops' "$T/status"
cat "$T/status"

# --- a tenant, reload ---------------------------------------------------------------------------
mkdir "$CG" || abort "cannot create $CG"
printf '[Tenant]\nCgroup=memqosd-pkg\nPriority=50\nMemoryHighMin=64M\nMemoryHighMax=256M\n' \
	>/etc/memqosd/tenants.d/pkg.conf
check "systemctl reload memqosd succeeds" systemctl reload memqosd.service
check "the tenant is managed" sh -c "memqosd status pkg | grep -q active"
check "memory.high clamped into the profile (256M)" file_is "$CG/memory.high" 268435456

# --- metrics by socket activation ---------------------------------------------------------------
# systemd refuses to start a socket unit whose service already runs: stop, enable, start.
check "stop memqosd" systemctl stop memqosd.service
check "enable --now memqosd-metrics.socket" systemctl enable --now memqosd-metrics.socket
check "start memqosd: it takes the socket" systemctl start memqosd.service
check "reload once more" systemctl reload memqosd.service
code=$(curl -s -m 20 -o "$T/metrics" -w '%{http_code}' http://127.0.0.1:9262/metrics)
check "GET /metrics on 127.0.0.1:9262: 200 (got $code)" [ "$code" = 200 ]
check "metrics: struct_ops mode" grep -qxF 'memqosd_mode{mode="struct_ops"} 1' "$T/metrics"
check "metrics: the tenant's memory.high" grep -qxF 'memqosd_tenant_memory_high_bytes{tenant="pkg",cgroup="memqosd-pkg"} 268435456' "$T/metrics"
check "metrics: the tenant's policy counters" grep -q '^memqosd_tenant_policy_events_total{tenant="pkg",cgroup="memqosd-pkg",kind="charge"} ' "$T/metrics"
check "metrics: BPF events delivered" grep -q '^memqosd_bpf_events_delivered_total ' "$T/metrics"
check "metrics: the reload counted" grep -qxF 'memqosd_reloads_total{result="ok"} 1' "$T/metrics"
check "promtool check metrics accepts the scrape" sh -c "promtool check metrics <'$T/metrics'"
check "stop memqosd (the socket stays)" systemctl stop memqosd.service
check "memory.high restored on stop" file_is "$CG/memory.high" max
code=$(curl -s -m 60 -o "$T/metrics" -w '%{http_code}' http://127.0.0.1:9262/metrics)
check "a scrape socket-activates the stopped service (got $code)" [ "$code" = 200 ]
check "memqosd is active again" systemctl is-active --quiet memqosd.service

# --- purge ---------------------------------------------------------------------------------------
t0=$(date +%s)
dpkg --purge memqosd >"$T/dpkg.log" 2>&1
rc=$?
echo "dpkg --purge took $(( $(date +%s) - t0 )) s"
check "dpkg --purge succeeds" [ "$rc" -eq 0 ] || cat "$T/dpkg.log"
check "memqosd.service is gone" not systemctl is-active --quiet memqosd.service
check "memqosd-metrics.socket no longer listens" not curl -s -m 5 -o /dev/null http://127.0.0.1:9262/metrics
check "memory.high restored by the stop in prerm" file_is "$CG/memory.high" max
check "the catalog entries are gone" not sh -c "journalctl --list-catalog $START_ID 2>/dev/null | grep -q $START_ID"
check "dpkg forgot the package" not sh -c "dpkg -s memqosd 2>/dev/null | grep -q '^Status: install'"
snapshot >"$T/after"
# What Debian policy lets stay: the administrator's own profile (and the directories holding it).
printf '/etc/memqosd\n/etc/memqosd/tenants.d\n/etc/memqosd/tenants.d/pkg.conf\n' >"$T/allowed"
comm -13 "$T/before" "$T/after" >"$T/left"
check "nothing else is left behind" cmp -s "$T/left" "$T/allowed"
echo "left behind after purge:"; sed 's/^/  /' "$T/left"
comm -23 "$T/before" "$T/after" >"$T/lost"
check "nothing that was there before is missing" [ ! -s "$T/lost" ]
sed 's/^/  missing: /' "$T/lost"
check "dpkg said it left the directory with the administrator's file" grep -q "while removing memqosd, directory '/etc/memqosd/tenants.d' not empty" "$T/dpkg.log"

it_finish
