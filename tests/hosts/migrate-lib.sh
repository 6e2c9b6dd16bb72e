# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by tests/hosts/migrate*.sh (sourced after they set CASE, HERE,
# ML_NAME and FAIL_LOGS): the tool, the guest and the work directory from
# the environment, the checks a migrate test skips on, the two hosts with
# an emulated PF each and a VF on A, and the assertions every case makes
# about where the guest runs and what B's PF holds.

TOOL=${NVFM_CLI:?NVFM_CLI must name the nvme-vf-migrate binary}
GUEST=${NVFM_TINY_GUEST:-}
ROOT=${NVFM_SOURCE_ROOT:-$HERE/../..}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-$ML_NAME.XXXXXX")
# the emulated VFs' state size
SIZE=16M

skip() {
	echo "SKIP [$CASE]: $*"
	exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null 2>&1 || skip "needs iproute2"
command -v python3 >/dev/null 2>&1 || skip "needs python3"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "needs qemu-system-x86_64 (scripts/install-deps.sh qemu)"
[ -n "$GUEST" ] && [ -f "$GUEST" ] || skip "no tiny guest (NVFM_TINY_GUEST; needs binutils)"

. "$ROOT/scripts/twohosts.sh"

cleanup() {
	th_cleanup
	if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL [$CASE]: $*" >&2
	for f in $FAIL_LOGS; do
		[ -s "$WORK/$f" ] && { echo "--- $f" >&2; tail -n 25 "$WORK/$f" >&2; }
	done
	exit 1
}

jget() {
	python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else (str(v).lower() if isinstance(v, bool) else v))' "$1" "$2"
}

pf_b() { on_b "$TOOL" --json vf list --pf emu:pfb; }
# B's PF as "free-VQ free-VI num_vfs"
pf_b_now() {
	pf_b | python3 -c 'import json,sys; p=json.load(sys.stdin)["pfs"][0]; print(p["vq"]["free"], p["vi"]["free"], p["num_vfs"])'
}

# ml_setup: the hosts, an emulated PF on each ($SIZE of state per VF), a VF
# provisioned on A ($VF) and what B's PF looks like with nothing provisioned
ml_setup() {
	th_setup || fail "cannot build the two hosts"
	on_a "$TOOL" -q emu pf-create pfa --vfs 2 --size "$SIZE" || fail "emu pf-create pfa"
	# B's VFs do not dirty themselves: a test compares what a VF holds
	# once it ran after its commit (the agent's few hundred microseconds
	# between RUNNING and its close were a page of dirt, sometimes)
	on_b "$TOOL" -q emu pf-create pfb --vfs 2 --size "$SIZE" --dirty-rate 0 ||
		fail "emu pf-create pfb"
	on_a "$TOOL" --json vf provision emu:pfa >"$WORK/prov.json" || fail "provision on A"
	VF=$(jget "$WORK/prov.json" device)
	PFB0=$(pf_b_now)
}

# wait_migrate: the background migration ($MIGPID) ends (bounded); RC
wait_migrate() {
	th_wait_gone "$MIGPID" 180 || fail "the migration did not end"
	wait "$MIGPID"
	RC=$?
}

# the guest's counter moves on host $1
runs_on() {
	[ "$(th_status "$1")" = running ] || fail "the VM is not running on host $1 ($(th_status "$1"))"
	c1=$(th_counter "$1")
	n=50
	while [ "$(th_counter "$1")" = "$c1" ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "the guest's counter does not move on host $1"
		sleep 0.1
	done
}

# host $1's QEMU is gone or not running the guest
not_running_on() {
	st=$(th_status "$1")
	[ "$st" != running ] || fail "the VM runs on host $1 too"
}

# B's PF has every resource back, within $1 seconds (B's agent releases a
# reservation when the connection that made it is gone)
b_released() {
	n=$((${1:-1} * 10))
	while :; do
		now=$(pf_b_now)
		[ "$now" = "$PFB0" ] && ! pf_b | grep -q '"state": "online"' && return 0
		n=$((n - 1))
		[ $n -gt 0 ] || fail "B's VF was not released (PF emu:pfb: $now, was $PFB0)"
		sleep 0.1
	done
}
