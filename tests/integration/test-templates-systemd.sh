#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Template tenants following real cgroups, in the VM guest booted with systemd (tests/vm/run
# --systemd), memqosd installed as the service (unit, bus policy, catalog):
#  - transient units: `systemd-run --scope --slice=mqtt.slice` scopes started before and while
#    memqosd runs get instances of the template mqtt.slice/*.scope (memory.high clamped into its
#    bounds, and brought back into them when systemd or anyone else writes memory.high), a stopped
#    scope's instance goes away; `journalctl MEMQOSD_TEMPLATE=` and
#    `MEMQOSD_TENANT=` find their records; D-Bus GetTenant answers for an instance;
#  - a kubelet-style layout made by hand (kubepods.slice, kubepods-besteffort.slice,
#    kubepods-burstable.slice, kubepods-besteffort-pod<UID>.slice, ...), its directories appearing
#    level by level while memqosd runs, with the shipped conf/kubernetes templates: one instance per
#    pod, each with its QoS class's priority; `memqosd status --json` parsed with python3;
#  - the bound (TemplateInstancesMax=) warns in the journal with its MESSAGE_ID;
#  - `systemctl stop memqosd` restores the instances' memory.high.
#
#   tests/integration/test-templates-systemd.sh PATH/TO/BUILD/src/memqosd
#
# Only where MEMQOSD_VM=1 and PID 1 is systemd; elsewhere it exits 77 loudly.
set -u

. "$(dirname "$0")/lib.sh"
it_memqosd_arg "${1:-}"
it_require_systemd_guest "the template test with transient units"
it_require_tools systemd-run python3 busctl journalctl

SRC=$(cd "$(dirname "$0")/../.." && pwd)
CONF=/etc/memqosd
CG=/sys/fs/cgroup
KP=$CG/kubepods.slice
BE=$KP/kubepods-besteffort.slice
BU=$KP/kubepods-burstable.slice
POD1=kubepods-besteffort-pod0a1b2c3d_4e5f.slice
POD2=kubepods-burstable-pod99.slice
POD3=kubepods-pod77.slice

cleanup() {
	if [ "$FAILED" -ne 0 ]; then
		echo "--- journalctl -u memqosd ---"
		journalctl -u memqosd.service --no-pager -o short-monotonic 2>&1 | tail -n 80
	fi
	systemctl stop memqosd.service 2>/dev/null
	systemctl stop mqtt-1.scope mqtt-2.scope mqtt-3.scope mqtt-4.scope 2>/dev/null
	rmdir "$BE/$POD1" "$BU/$POD2" "$KP/$POD3" "$BE" "$BU" "$KP" 2>/dev/null
}
CLEANUP_HOOK=cleanup

has_tenant() { "$MEMQOSD" status "$1" >/dev/null 2>&1; }
no_tenant() { ! has_tenant "$1"; }
# status_json PYTHON-EXPR: evaluate EXPR with d = `memqosd status --json`
status_json() {
	"$MEMQOSD" status --json >"$T/st.json" 2>"$T/st.err" || return 1
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/st.json" "$1"
}
tenant_is() { [ "$(status_json "[(t['template'], t['state'], t['priority']) for t in d['tenants'] if t['name'] == '$1']")" = "$2" ]; }
# scope N: a transient scope in mqtt.slice running sleep, as a container runtime would start one
scope() {
	systemd-run --quiet --scope --slice=mqtt.slice --unit="mqtt-$1" -p MemoryAccounting=yes sleep 1000 \
		>/dev/null 2>&1 &
	wait_for 30 test -d "$CG/mqtt.slice/mqtt-$1.scope"
}

install_system_wide "$MEMQOSD" "$BUILD" "$SRC"

# The shipped Kubernetes example plus a template for the transient scopes.
mkdir -p "$CONF/tenants.d"
cp "$SRC"/conf/kubernetes/tenants.d/*.conf "$CONF/tenants.d/" || abort "cannot copy conf/kubernetes"
printf '[Daemon]\nLogLevel=debug\nTemplateInstancesMax=3\n' >"$CONF/memqosd.conf"
profile scopes '[Tenant]\nCgroup=mqtt.slice/*.scope\nPriority=30\nMemoryHighMin=32M\nMemoryHighMax=256M\n'
check "memqosd check accepts the templates" "$MEMQOSD" check

# --- transient units --------------------------------------------------------------------------------
check "a scope started before memqosd exists" scope 1
check "systemctl start memqosd" systemctl start memqosd.service
check "the existing scope has an instance" wait_for 30 has_tenant scopes@mqtt-1.scope
check "its memory.high is clamped to the template's MemoryHighMax" wait_for 30 file_is "$CG/mqtt.slice/mqtt-1.scope/memory.high" 268435456
check "status --json: template, state, priority of the instance" tenant_is scopes@mqtt-1.scope "[('scopes', 'active', 30)]"
t0=$(date +%s%6N)
check "a scope started while memqosd runs" scope 2
check "... gets an instance (inotify)" wait_for 30 has_tenant scopes@mqtt-2.scope
# Figure: from `systemd-run` to memqosd's "added" record (journal time stamps, realtime clock).
t1=$(journalctl -u memqosd.service MEMQOSD_TENANT=scopes@mqtt-2.scope MESSAGE_ID=5d38ee8871004f03b00a0de2ec172973 \
	-o export --no-pager 2>/dev/null | sed -n 's/^__REALTIME_TIMESTAMP=//p' | head -n1)
[ -n "$t1" ] && echo "# figure: systemd-run to instance added: $(( (t1 - t0) / 1000 )) ms (qemu TCG guest)"

check "... clamped too" wait_for 30 file_is "$CG/mqtt.slice/mqtt-2.scope/memory.high" 268435456
echo max >"$CG/mqtt.slice/mqtt-1.scope/memory.high"
check "memory.high set by another writer is brought back into the bounds (inotify on memory.high)" \
	wait_for 30 file_is "$CG/mqtt.slice/mqtt-1.scope/memory.high" 268435456
check "... and logged as such" \
	bash -c "journalctl -u memqosd.service -o cat --no-pager | grep -q 'Tenant scopes@mqtt-1.scope: memory.high of mqtt.slice/mqtt-1.scope set to max by another writer (memqosd had 256M)'"
busctl call org.memqosd1 /org/memqosd1 org.memqosd1.Manager GetTenant s scopes@mqtt-2.scope >"$T/bus" 2>&1
check "D-Bus GetTenant answers for an instance" grep -q '"scopes@mqtt-2.scope" "mqtt.slice/mqtt-2.scope" 30 268435456' "$T/bus"
check "systemctl stop of the scope" systemctl stop mqtt-2.scope
check "the stopped scope's instance goes away" wait_for 30 no_tenant scopes@mqtt-2.scope
check "the first instance stays" has_tenant scopes@mqtt-1.scope
check "journal: MEMQOSD_TEMPLATE=scopes finds both instances' records" \
	wait_for 20 bash -c "journalctl -u memqosd.service MEMQOSD_TEMPLATE=scopes -o verbose --no-pager | grep -q 'MEMQOSD_TENANT=scopes@mqtt-1.scope' &&
		journalctl -u memqosd.service MEMQOSD_TEMPLATE=scopes -o verbose --no-pager | grep -q 'MEMQOSD_TENANT=scopes@mqtt-2.scope'"
check "journal: MEMQOSD_TENANT= of the stopped one has its removal (TENANT_RELEASED id)" \
	wait_for 20 bash -c "journalctl -u memqosd.service MEMQOSD_TENANT=scopes@mqtt-2.scope MESSAGE_ID=94311618ce2b41a9925f6a1deaedd152 -o cat --no-pager | grep -q 'instance of template scopes) removed'"

# --- the bound ------------------------------------------------------------------------------------------
scope 2 && scope 3 && scope 4
check "three scopes have instances (TemplateInstancesMax=3)" \
	wait_for 30 bash -c "[ \"\$('$MEMQOSD' status | grep -c '^scopes@')\" = 3 ]"
check "the fourth is reported loudly in the journal (MESSAGE_ID, MEMQOSD_MATCHES=4)" \
	wait_for 20 bash -c "journalctl -u memqosd.service MESSAGE_ID=ef07990c8f644566a7517fc1be10412f -o verbose --no-pager | grep -q 'MEMQOSD_MATCHES=4'"
check "the catalog explains it" bash -c "journalctl -x -u memqosd.service MESSAGE_ID=ef07990c8f644566a7517fc1be10412f --no-pager | grep -q 'matches more cgroups than TemplateInstancesMax='"
systemctl stop mqtt-3.scope mqtt-4.scope

# --- kubelet-style layout, made by hand level by level ------------------------------------------------
grep -qw memory "$CG/cgroup.subtree_control" || echo +memory >"$CG/cgroup.subtree_control"
mkdir "$KP" && echo +memory >"$KP/cgroup.subtree_control" || abort "cannot create $KP"
mkdir "$BE" && echo +memory >"$BE/cgroup.subtree_control" || abort "cannot create $BE"
mkdir "$BU" && echo +memory >"$BU/cgroup.subtree_control" || abort "cannot create $BU"
mkdir "$BE/$POD1" "$BU/$POD2" "$KP/$POD3" || abort "cannot create the pod cgroups"
check "besteffort pod: instance of k8s-besteffort, priority 10 ('_' escaped in the name)" \
	wait_for 30 tenant_is "k8s-besteffort@kubepods-besteffort-pod0a1b2c3d_5f4e5f.slice" "[('k8s-besteffort', 'active', 10)]"
check "burstable pod: instance of k8s-burstable, priority 50" \
	wait_for 30 tenant_is "k8s-burstable@$POD2" "[('k8s-burstable', 'active', 50)]"
check "guaranteed pod: instance of k8s-guaranteed, priority 90" \
	wait_for 30 tenant_is "k8s-guaranteed@$POD3" "[('k8s-guaranteed', 'active', 90)]"
check "the QoS class slices themselves are no instances" \
	bash -c "! '$MEMQOSD' status | grep -q 'kubepods-besteffort.slice '"
check "status --json: memory_high of the besteffort pod in bytes or \"max\"" \
	[ "$(status_json "[t['memory_high'] for t in d['tenants'] if t['template'] == 'k8s-besteffort']")" = "['max']" ]
t0=$(date +%s%6N)
mkdir "$BE/kubepods-besteffort-pod5.slice"
check "a second besteffort pod appears" wait_for 30 has_tenant k8s-besteffort@kubepods-besteffort-pod5.slice
# Figure: from the mkdir of a pod cgroup to memqosd's "added" record: memqosd's own reaction.
t1=$(journalctl -u memqosd.service MEMQOSD_TENANT=k8s-besteffort@kubepods-besteffort-pod5.slice \
	MESSAGE_ID=5d38ee8871004f03b00a0de2ec172973 -o export --no-pager 2>/dev/null | sed -n 's/^__REALTIME_TIMESTAMP=//p' | head -n1)
[ -n "$t1" ] && echo "# figure: mkdir of a pod cgroup to instance added: $(( (t1 - t0) / 1000 )) ms (qemu TCG guest)"
rmdir "$BE/kubepods-besteffort-pod5.slice"
check "a deleted pod's instance goes away" wait_for 30 no_tenant k8s-besteffort@kubepods-besteffort-pod5.slice

# --- stop restores ----------------------------------------------------------------------------------------
check "systemctl stop memqosd" systemctl stop memqosd.service
check "the instance's memory.high is restored (max)" file_is "$CG/mqtt.slice/mqtt-1.scope/memory.high" max

it_finish
