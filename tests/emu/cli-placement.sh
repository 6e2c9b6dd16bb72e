#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The destination VF through the CLI: --dest-pf repeated, the source VF's
# resources and NUMA node, check's plan, and a migration that follows it
# (an agent on a UNIX socket in this emulated host).
set -u
CASE=${1:-plan}
NAME=cli-placement
. "$(dirname "$0")/cli-lib.sh"

ok "$TOOL" emu pf-create pa --vfs 2 --numa 1 --size 1M
ok "$TOOL" emu pf-create pb --vfs 2 --numa 0 --size 1M
ok "$TOOL" emu pf-create pc --vfs 2 --numa 1 --size 1M
ok "$TOOL" vf provision emu:pa --vq 3 --vi 1
start_agent --insecure
TO="--to unix:$WORK/agent.sock --insecure"

case "$CASE" in
plan)
	# shellcheck disable=SC2086
	ok "$TOOL" check emu:pa-vf0 $TO --dest-pf emu:pb --dest-pf emu:pc
	grep -qx '  pf: emu:pc' "$WORK/out" || fail "plan not on the source's NUMA node: $(cat "$WORK/out")"
	grep -qx '  nvq: 3' "$WORK/out" || fail "plan lacks the source's 3 VQ: $(cat "$WORK/out")"
	grep -qx '  from: the source VF' "$WORK/out" || fail "plan does not say why: $(cat "$WORK/out")"
	# too much for any PF: a blocker per PF, exit 3
	# shellcheck disable=SC2086
	"$TOOL" check emu:pa-vf0 $TO --dest-pf emu:pb --dest-pf emu:pc --nvq 9 >"$WORK/out" 2>&1
	[ $? -eq 3 ] || fail "check with --nvq 9 did not exit 3: $(cat "$WORK/out")"
	[ "$(grep -c 'blocker: resources: emu:p[bc]: ' "$WORK/out")" -eq 2 ] ||
		fail "not one resources blocker per PF: $(cat "$WORK/out")"
	;;
migrate)
	# shellcheck disable=SC2086
	ok "$TOOL" migrate emu:pa-vf0 $TO --dest-pf emu:pb --dest-pf emu:pc
	"$TOOL" --json vf list --pf emu:pc >"$WORK/pc.json" || fail "vf list"
	python3 - "$WORK/pc.json" <<'PY' || fail "the VF did not land on emu:pc with 3 VQ and 1 VI: $(cat "$WORK/pc.json")"
import json, sys
pf = json.load(open(sys.argv[1]))["pfs"][0]
vfs = [v for v in pf["vfs"] if v["state"] == "online"]
sys.exit(0 if pf["numa_node"] == 1 and len(vfs) == 1 and (vfs[0]["nvq"], vfs[0]["nvi"]) == (3, 1) else 1)
PY
	"$TOOL" --json vf list --pf emu:pb | grep -q '"state": "online"' && fail "emu:pb got a VF too"
	;;
*)
	fail "unknown case"
	;;
esac
echo "ok $CASE"
