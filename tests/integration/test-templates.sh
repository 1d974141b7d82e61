#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Template tenants on a fake cgroup tree (plain files; MEMQOSD_TEST_FAKE_CGROUP_ROOT=1 via lib.sh),
# with a private dbus-daemon, and the JSON outputs and bash completion of the command line.
#
#   tests/integration/test-templates.sh PATH/TO/memqosd SOURCE_ROOT
#
# Checks: an existing matching cgroup gets an instance at start (name by the documented rule,
# memory.high clamped to the template's bounds); a cgroup named by a profile stays the profile's;
# cgroups appearing while memqosd runs get instances (inotify), also below an intermediate directory
# that appears later; TemplateInstancesMax= bounds them with a loud warning and a freed slot is
# taken by the next match; a vanished cgroup's instance goes away; a reload that changes the
# template's settings changes every instance, one that removes it restores every instance's
# memory.high; a matching cgroup without memory files waits and goes with its directory; after
# SIGKILL and a restart an instance recovers its originals from the state record, and SIGTERM
# restores them; `status --json` and `check --json` parse as JSON and
# carry the documented fields; bash completion offers verbs, options and tenant names.
set -u

MEMQOSD=$(readlink -f "${1:?usage: $0 PATH/TO/memqosd SOURCE_ROOT}")
SRC=$(readlink -f "${2:?usage: $0 PATH/TO/memqosd SOURCE_ROOT}")
. "$(dirname "$0")/lib.sh"
[ -x "$MEMQOSD" ] || abort "$MEMQOSD is not executable"
it_require_tools dbus-daemon python3 bash

CG=$T/cg
CONF=$T/conf
STATE=$T/state

# new_cgroup REL HIGH: a fake cgroup made aside and moved in at once (as a mkdir on cgroupfs is)
new_cgroup() {
	make_fake_cgroup "$T/staging" "$2"
	mv "$T/staging" "$CG/$1"
}
# json_get FILE PYTHON-EXPR: evaluate EXPR with d = the parsed JSON, print the result
json_get() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
# tenant_field NAME FIELD: FIELD of tenant NAME in a fresh `status --json`
tenant_field() {
	"$MEMQOSD" status --json >"$T/st.json" 2>/dev/null || return 1
	json_get "$T/st.json" "[t['$2'] for t in d['tenants'] if t['name'] == '$1'][0]" 2>/dev/null
}
has_tenant() { "$MEMQOSD" status "$1" >/dev/null 2>&1; }
field_is() { [ "$(tenant_field "$1" "$2")" = "$3" ]; }

mkdir -p "$CG/system.slice" "$CG/kubepods.slice" "$CONF/tenants.d"
make_fake_cgroup "$CG/system.slice/a.scope" max
make_fake_cgroup "$CG/system.slice/web.scope" max
make_fake_cgroup "$CG/system.slice/x.service" max
printf '[Daemon]\nLogLevel=debug\nTemplateInstancesMax=3\n[Control]\nHousekeepingSec=1h\n' >"$CONF/memqosd.conf"
profile scopes '[Tenant]\nCgroup=system.slice/*.scope\nPriority=30\nMemoryHighMin=128M\nMemoryHighMax=512M\n'
profile web '[Tenant]\nCgroup=system.slice/web.scope\nPriority=80\nMemoryHighMax=1G\n'
profile pods '[Tenant]\nCgroup=kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice\nPriority=10\nMemoryHighMin=64M\nMemoryHighMax=256M\n'

# --- check --------------------------------------------------------------------------------------
"$MEMQOSD" check --config-dir "$CONF" >"$T/out" 2>"$T/err"
check "check accepts the templates" [ $? -eq 0 ]
check "check lists a template as one" contains "$T/out" "scopes: template=system.slice/*.scope priority=30"
"$MEMQOSD" check --json --config-dir "$CONF" >"$T/check.json" 2>"$T/err"
check "check --json exits 0" [ $? -eq 0 ]
check "check --json is JSON (python3 -m json.tool)" python3 -m json.tool "$T/check.json" /dev/null
check "check --json: valid, three profiles, scopes is a template" \
	[ "$(json_get "$T/check.json" "(d['valid'], len(d['tenants']), [t['kind'] for t in d['tenants'] if t['name'] == 'scopes'])")" = "(True, 3, ['template'])" ]
mkdir -p "$T/badconf/tenants.d"
printf '[Tenant]\nPriority=1\nCgroup=system.slice/[ab.scope\n' >"$T/badconf/tenants.d/bad.conf"
"$MEMQOSD" check --config-dir "$T/badconf" >"$T/out" 2>"$T/err"
check "check refuses a broken pattern (exit 1)" [ $? -eq 1 ]
check "the error names file, line and key" contains "$T/err" "$T/badconf/tenants.d/bad.conf:3: Cgroup=: 'system.slice/[ab.scope' is not a valid cgroup pattern"
"$MEMQOSD" check --json --config-dir "$T/badconf" >"$T/bad.json" 2>"$T/err"
check "check --json of a broken pattern exits 1" [ $? -eq 1 ]
check "check --json of a broken pattern is JSON with the error" \
	[ "$(json_get "$T/bad.json" "(d['valid'], d['error_count'], d['errors'][0].split(': ')[1])")" = "(False, 1, 'Cgroup=')" ]

# --- start: existing matches ------------------------------------------------------------------------
start_private_bus
NOTIFY_SOCKET= "$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$STATE" >"$LOG" 2>&1 &
DAEMON_PID=$!
check "daemon comes up" wait_for 10 has_tenant web
check "existing match gets an instance named TEMPLATE@ESCAPED" wait_for 5 has_tenant scopes@a.scope
check "instance clamped to the template's MemoryHighMax" file_is "$CG/system.slice/a.scope/memory.high" 536870912
check "a cgroup a profile names stays the profile's" bash -c "! '$MEMQOSD' status scopes@web.scope >/dev/null 2>&1"
check "web keeps its own bounds" file_is "$CG/system.slice/web.scope/memory.high" 1073741824
check "a cgroup the pattern does not match gets none" bash -c "! '$MEMQOSD' status scopes@x.service >/dev/null 2>&1"
check "the start is logged with the template" contains "$LOG" "Tenant scopes@a.scope (instance of template scopes, cgroup system.slice/a.scope, priority 30) added"

"$MEMQOSD" status --json >"$T/status.json" 2>"$T/err"
check "status --json exits 0" [ $? -eq 0 ]
check "status --json is JSON (python3 -m json.tool)" python3 -m json.tool "$T/status.json" /dev/null
check "status --json has mode and tenants" \
	[ "$(json_get "$T/status.json" "(d['mode'] in ('psi-only', 'tracing', 'struct_ops'), type(d['tenants']).__name__)")" = "(True, 'list')" ]
check "status --json: the instance with template, state, priority, memory_high in bytes" \
	[ "$(json_get "$T/status.json" "[(t['cgroup'], t['template'], t['state'], t['priority'], t['memory_high']) for t in d['tenants'] if t['name'] == 'scopes@a.scope'][0]")" = "('system.slice/a.scope', 'scopes', 'active', 30, 536870912)" ]
check "status --json: a profile's tenant has template null" \
	[ "$(json_get "$T/status.json" "[t['template'] for t in d['tenants'] if t['name'] == 'web'][0]")" = "None" ]
"$MEMQOSD" status --json scopes@a.scope >"$T/one.json" 2>"$T/err"
check "status --json TENANT: that tenant only" [ "$(json_get "$T/one.json" "[t['name'] for t in d['tenants']]")" = "['scopes@a.scope']" ]
"$MEMQOSD" status --json nope >"$T/out" 2>"$T/err"
check "status --json of an unknown tenant exits 1" [ $? -eq 1 ]

# --- cgroups appearing while it runs ------------------------------------------------------------
new_cgroup system.slice/b.scope max
check "a new matching cgroup gets an instance (inotify)" wait_for 10 has_tenant scopes@b.scope
check "the new instance is clamped" wait_for 5 file_is "$CG/system.slice/b.scope/memory.high" 536870912
mkdir "$CG/kubepods.slice/kubepods-besteffort.slice"
new_cgroup kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0e1f_22.slice max
check "a match below an intermediate directory that appeared later gets an instance" \
	wait_for 10 has_tenant pods@kubepods-besteffort-pod0e1f_5f22.slice
check "pod instance gets the template's bounds" wait_for 5 file_is "$CG/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0e1f_22.slice/memory.high" 268435456

new_cgroup system.slice/y.service max
check "a directory the pattern does not match costs no rescan" \
	wait_for 10 grep -q "Template scopes: inotify mask 0x40000080 on system.slice/y.service, not matching: ignored" "$LOG"

mkdir "$CG/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod7.slice"
check "a matching cgroup without memory files yet: instance waiting" \
	wait_for 10 field_is pods@kubepods-besteffort-pod7.slice state waiting
rmdir "$CG/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod7.slice"
check "... and gone with its cgroup (not left waiting)" \
	wait_for 10 bash -c "! '$MEMQOSD' status pods@kubepods-besteffort-pod7.slice >/dev/null 2>&1"

# --- the bound ---------------------------------------------------------------------------------------
new_cgroup system.slice/c.scope max
check "third scope instance" wait_for 10 has_tenant scopes@c.scope
new_cgroup system.slice/d.scope 1234567
check "past TemplateInstancesMax=: a loud warning naming the profile" \
	wait_for 10 grep -q "scopes.conf:2: Cgroup=: template scopes matches 4 cgroups, more than TemplateInstancesMax=3: 1 of them get no tenant" "$LOG"
check "past the bound: no instance, memory.high untouched" \
	bash -c "! '$MEMQOSD' status scopes@d.scope >/dev/null 2>&1 && [ \$(cat '$CG/system.slice/d.scope/memory.high') = 1234567 ]"

# --- a cgroup goes ---------------------------------------------------------------------------------
rm -rf "$CG/system.slice/b.scope"
check "a vanished cgroup's instance goes away" wait_for 10 bash -c "! '$MEMQOSD' status scopes@b.scope >/dev/null 2>&1"
check "its removal is logged" contains "$LOG" "Tenant scopes@b.scope (instance of template scopes) removed: cgroup system.slice/b.scope vanished"
check "the freed slot goes to the next match" wait_for 10 has_tenant scopes@d.scope
check "... which is clamped then" wait_for 5 file_is "$CG/system.slice/d.scope/memory.high" 134217728

# --- reload ------------------------------------------------------------------------------------------
profile scopes '[Tenant]\nCgroup=system.slice/*.scope\nPriority=40\nMemoryHighMin=128M\nMemoryHighMax=256M\n'
"$MEMQOSD" reload >"$T/out" 2>"$T/err"
check "reload with changed template settings exits 0" [ $? -eq 0 ]
check "every instance gets the new priority" bash -c "[ \"\$(\"$MEMQOSD\" status --json | python3 -c 'import json,sys; print(sorted(t[\"priority\"] for t in json.load(sys.stdin)[\"tenants\"] if t[\"template\"] == \"scopes\"))')\" = '[40, 40, 40]' ]"
check "and the new bounds" file_is "$CG/system.slice/a.scope/memory.high" 268435456

# --- bash completion (against the running daemon) ------------------------------------------------------
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); PATH=$(dirname "'"$MEMQOSD"'"):$PATH _memqosd; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$SRC/shell-completion/bash/memqosd" "$@"
}
check "completion: verbs" [ "$(complete_words memqosd st | tr '\n' ' ')" = "status " ]
check "completion: options" [ "$(complete_words memqosd status --js | tr '\n' ' ')" = "--json " ]
check "completion: log levels" [ "$(complete_words memqosd --log-level w | tr '\n' ' ')" = "warning " ]
check "completion: tenant names after status, instances included" \
	[ "$(complete_words memqosd status --json scopes@ | sort | tr '\n' ' ')" = "scopes@a.scope scopes@c.scope scopes@d.scope " ]
check "completion: one tenant only after status" [ -z "$(complete_words memqosd status web "")" ]
check "completion: tenant names after watch" [ "$(complete_words memqosd watch web w | tr '\n' ' ')" = "web " ]

# --- the bound lowered by reload: the last instances by cgroup path go, restored ----------------------
printf '[Daemon]\nLogLevel=debug\nTemplateInstancesMax=2\n[Control]\nHousekeepingSec=1h\n' >"$CONF/memqosd.conf"
"$MEMQOSD" reload >"$T/out" 2>"$T/err"
check "reload lowering TemplateInstancesMax= exits 0" [ $? -eq 0 ]
check "the last instance by cgroup path is removed" bash -c "! '$MEMQOSD' status scopes@d.scope >/dev/null 2>&1 && '$MEMQOSD' status scopes@c.scope >/dev/null 2>&1"
check "... and its memory.high restored" wait_for 5 file_is "$CG/system.slice/d.scope/memory.high" 1234567
check "... and the excess is reported" wait_for 5 grep -q "template scopes matches 3 cgroups, more than TemplateInstancesMax=2" "$LOG"

# --- template removed: instances restored ------------------------------------------------------------
rm "$CONF/tenants.d/scopes.conf"
"$MEMQOSD" reload >"$T/out" 2>"$T/err"
check "reload removing the template exits 0" [ $? -eq 0 ]
check "its instances are gone" bash -c "! '$MEMQOSD' status scopes@a.scope >/dev/null 2>&1"
check "their memory.high is restored (a.scope: max)" wait_for 5 file_is "$CG/system.slice/a.scope/memory.high" max
check "their memory.high is restored (d.scope: as found)" wait_for 5 file_is "$CG/system.slice/d.scope/memory.high" 1234567
check "the profile's tenant stays" has_tenant web

# --- unclean exit: the originals of instances survive it ------------------------------------------------
POD=$CG/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0e1f_22.slice
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
check "after SIGKILL the pod keeps the value memqosd wrote" file_is "$POD/memory.high" 268435456
"$MEMQOSD" --config-dir "$CONF" --cgroup-root "$CG" --state-dir "$STATE" >>"$LOG" 2>&1 &
DAEMON_PID=$!
check "restarted: the pod's instance is back" wait_for 10 has_tenant pods@kubepods-besteffort-pod0e1f_5f22.slice
check "its originals came from the state record" wait_for 5 grep -q "Tenant pods@kubepods-besteffort-pod0e1f_5f22.slice: originals recovered after unclean exit" "$LOG"

# --- stop --------------------------------------------------------------------------------------------------
stop_daemon
check "SIGTERM exits 0" [ "$DAEMON_RC" -eq 0 ]
check "SIGTERM restores the pod instance" file_is "$CG/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0e1f_22.slice/memory.high" max

it_finish
