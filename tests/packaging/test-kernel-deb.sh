#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The patched-kernel package after its "reboot", in the VM guest booted with systemd from the kernel
# image the package holds (tests/packaging/run extracts /boot/vmlinuz-* with dpkg-deb -x and gives it
# to tests/vm/run --kernel: the -kernel boot stands for the boot loader). `dpkg -i` installs the
# linux-image and linux-headers packages and the memqosd package; then:
#  - the running kernel is the one the package installed: `uname -r` is the package's release, which
#    ends in -memqosd, and /boot/vmlinuz-$(uname -r) is byte for byte the booted image;
#  - the packages are named for memqosd (linux-image-*-memqosd, source linux-memqosd), the installed
#    config has CONFIG_MEMCG_BPF=y, the headers are where module builds look;
#  - memqosd.service, started by its package, runs in struct_ops mode (`memqosd status`, --json).
#
#   tests/packaging/test-kernel-deb.sh IMAGE.deb HEADERS.deb MEMQOSD.deb BOOTED_VMLINUZ
#
# Only in the VM guest booted with systemd; elsewhere it exits 77 loudly.
set -u

usage="usage: $0 linux-image-*.deb linux-headers-*.deb memqosd_*.deb BOOTED_VMLINUZ"
IMAGE=$(readlink -f "${1:?$usage}")
HEADERS=$(readlink -f "${2:?$usage}")
DEB=$(readlink -f "${3:?$usage}")
BOOTED=$(readlink -f "${4:?$usage}")
. "$(dirname "$0")/../integration/lib.sh"
for f in "$IMAGE" "$HEADERS" "$DEB" "$BOOTED"; do
	[ -f "$f" ] || abort "$f does not exist (tests/packaging/run makes it)"
done
it_require_systemd_guest "the kernel package test"
it_require_tools dpkg dpkg-deb python3

dump_journal() {
	if [ "$FAILED" -ne 0 ]; then
		echo "--- journalctl -u memqosd ---"
		journalctl -u memqosd.service --no-pager 2>&1 | tail -n 40
	fi
}
CLEANUP_HOOK=dump_journal

release=$(uname -r)
pkg=$(dpkg-deb -f "$IMAGE" Package)
hpkg=$(dpkg-deb -f "$HEADERS" Package)
echo "running kernel $release; packages $pkg $(dpkg-deb -f "$IMAGE" Version), $hpkg"
check "uname -r ends in -memqosd ($release)" sh -c "case '$release' in *-memqosd) true ;; *) false ;; esac"
check "the image package is linux-image-\$(uname -r) ($pkg)" [ "$pkg" = "linux-image-$release" ]
check "the headers package is linux-headers-\$(uname -r) ($hpkg)" [ "$hpkg" = "linux-headers-$release" ]
check "their source package is linux-memqosd" sh -c \
	"[ \"\$(dpkg-deb -f '$IMAGE' Source)\" = linux-memqosd ] && [ \"\$(dpkg-deb -f '$HEADERS' Source)\" = linux-memqosd ]"
check "no package of these names was installed before (a new install, not an upgrade of one)" sh -c \
	"! dpkg -s '$pkg' >/dev/null 2>&1 && ! dpkg -s '$hpkg' >/dev/null 2>&1"
check "the kernel has BTF and memcg_ops (struct_ops mode's needs)" sh -c \
	"[ -s /sys/kernel/btf/vmlinux ] && grep -q memcg_ops /proc/kallsyms"

# Same guest preparation as test-deb.sh: no man-db index rebuild (minutes under TCG), and no
# container policy-rc.d forbidding the postinst to start memqosd.service.
rm -f /var/lib/man-db/auto-update /usr/sbin/policy-rc.d

t0=$(date +%s)
dpkg -i "$IMAGE" "$HEADERS" "$DEB" >"$T/dpkg.log" 2>&1
rc=$?
echo "dpkg -i (three packages) took $(( $(date +%s) - t0 )) s"
sed 's/^/  dpkg: /' "$T/dpkg.log"
check "dpkg -i of the kernel packages and memqosd succeeds" [ "$rc" -eq 0 ]
for p in "$pkg" "$hpkg" memqosd; do
	check "$p is installed" sh -c "dpkg -s '$p' | grep -q '^Status: install ok installed'"
done
check "/boot/vmlinuz-$release is the booted kernel, byte for byte" cmp -s "/boot/vmlinuz-$release" "$BOOTED"
check "/boot/config-$release has CONFIG_MEMCG_BPF=y" grep -qx CONFIG_MEMCG_BPF=y "/boot/config-$release"
check "/boot/config-$release has CONFIG_LOCALVERSION=\"-memqosd\"" grep -qx 'CONFIG_LOCALVERSION="-memqosd"' "/boot/config-$release"
check "/boot/System.map-$release is installed" test -s "/boot/System.map-$release"
check "/lib/modules/$release exists (modules.order, depmod's files)" test -f "/lib/modules/$release/modules.order"
check "module builds find the headers (/lib/modules/$release/build)" test -f "/lib/modules/$release/build/Makefile"
check "the headers hold the series' memcg_ops declarations" sh -c \
	"grep -rqs memcg_ops /usr/src/linux-headers-$release/include/linux/memcontrol.h /usr/src/linux-headers-$release/include/linux/"

check "memqosd.service was started by its postinst" systemctl is-active --quiet memqosd.service
memqosd status >"$T/status" 2>&1
check "memqosd status answers" [ $? -eq 0 ]
sed 's/^/  status: /' "$T/status"
check "memqosd status shows struct_ops mode" grep -qw struct_ops "$T/status"
memqosd status --json >"$T/status.json" 2>&1
check "memqosd status --json: \"mode\" is \"struct_ops\"" python3 -c '
import json, sys
sys.exit(json.load(open(sys.argv[1]))["mode"] != "struct_ops")' "$T/status.json"

it_finish
