# Sourced by scripts/test and tests/vm/all (POSIX sh): start the guest kernels' background build
# (tests/vm/prebuild) once per test command, and stop it when the caller exits.
#
#   prebuild_start TOP   start it unless a caller already did (MEMQOSD_PREBUILD_LOG is set);
#                        sets prebuild_pgid ("-" when this caller started nothing) and exports
#                        MEMQOSD_PREBUILD_LOG, the log tests/vm/all prints at its end
#   prebuild_stop        kill the job's process group and remove its log (only if this caller
#                        started it); call it from the caller's EXIT trap

prebuild_start() {
	prebuild_pgid=-
	[ -z "${MEMQOSD_PREBUILD_LOG:-}" ] || return 0
	read -r prebuild_pgid MEMQOSD_PREBUILD_LOG <<PREBUILD_EOF
$("$1/tests/vm/prebuild" default nobpf debug)
PREBUILD_EOF
	if [ "$prebuild_pgid" = - ]; then
		MEMQOSD_PREBUILD_LOG=
		return 0
	fi
	export MEMQOSD_PREBUILD_LOG
	echo "kernels building in the background (process group $prebuild_pgid, log $MEMQOSD_PREBUILD_LOG)"
}

prebuild_stop() {
	[ "${prebuild_pgid:--}" != - ] || return 0
	kill -TERM -"$prebuild_pgid" 2>/dev/null || :
	rm -f "$MEMQOSD_PREBUILD_LOG"
}
