#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# CLI tests of PF provisioning against emulated PFs: "vf list/provision/
# release/bind" and "emu pf-create/pf-destroy". One case per invocation,
# named by $1, each in its own emulated host (NVFM_EMU_DIR).
set -u
CASE=$1
NAME=cli-pf
. "$(dirname "$0")/cli-lib.sh"

# out_has PATTERN: the last command's stdout matches
out_has() {
	grep -q -- "$1" "$WORK/out" || fail "output lacks '$1': $(cat "$WORK/out")"
}

# the value of "KEY" in the JSON of the last command (first one)
jval() {
	sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$WORK/out" | head -n 1
}

"$TOOL" emu pf-create --help >/dev/null 2>&1 || {
	echo "SKIP: this nvme-vf-migrate has no 'emu pf-create'"
	exit 77
}

case "$CASE" in
list)
	ok "$TOOL" vf list
	# a remark, not data: on stderr, stdout empty
	grep -q "no NVMe PF" "$WORK/err" || fail "vf list says nothing on stderr: $(cat "$WORK/err")"
	[ ! -s "$WORK/out" ] || fail "vf list printed a remark as data: $(cat "$WORK/out")"
	ok "$TOOL" emu pf-create pf0 --vfs 2 --vq 8 --vi 4
	ok "$TOOL" vf list
	out_has "PF emu:pf0: 0 of 2 VFs enabled; VQ 8 of 8 free (max 4 per VF); VI 4 of 4 free (max 2 per VF)"
	out_has "emu:pf0-vf1\*"
	ok "$TOOL" vf list --pf emu:pf0 --json
	[ "$(grep -c '"state": "offline"' "$WORK/out")" -eq 2 ] || fail "not 2 offline: $(cat "$WORK/out")"
	expect 4 "unknown PF emu:nope" "$TOOL" vf list --pf emu:nope
	expect 2 "invalid emulated PF name" "$TOOL" emu pf-create bad-name
	;;
provision-release)
	ok "$TOOL" emu pf-create pf0
	ok "$TOOL" vf provision emu:pf0
	for kv in "address: emu:pf0-vf0" "pf: emu:pf0" "scid: 1" "state: online" "nvq: 4" "nvi: 2" \
		"driver: emu-vfio-pci"; do
		out_has "^$kv\$"
	done
	# the provisioned VF is a device the engine opens
	ok "$TOOL" vf state emu:pf0-vf0
	out_has "RUNNING"
	ok "$TOOL" --json vf provision emu:pf0 --vq 6 --vi 3
	[ "$(jval address)" = emu:pf0-vf1 ] && [ "$(jval nvq)" = 6 ] && [ "$(jval nvi)" = 3 ] ||
		fail "unexpected VF: $(cat "$WORK/out")"
	ok "$TOOL" vf list --pf emu:pf0
	out_has "VQ 6 of 16 free"
	expect 5 "in use\|online" "$TOOL" emu pf-destroy pf0
	ok "$TOOL" vf release emu:pf0-vf0
	ok "$TOOL" vf release emu:pf0-vf1
	ok "$TOOL" vf list --pf emu:pf0
	out_has "PF emu:pf0: 0 of 4 VFs enabled, autoprobe off; VQ 16 of 16 free"
	# the VFs' emulated devices went with the variant driver
	ok "$TOOL" emu list
	! grep -q "pf0-vf" "$WORK/out" || fail "emulated VF devices left: $(cat "$WORK/out")"
	ok "$TOOL" emu pf-destroy pf0
	;;
errors)
	ok "$TOOL" emu pf-create pf0 --vfs 2 --vq 8 --vi 4
	expect 2 "at most 4 per secondary controller" "$TOOL" vf provision emu:pf0 --vq 5
	expect 2 "at least 2 VQ" "$TOOL" vf provision emu:pf0 --vq 1
	expect 4 "unknown PF emu:nope" "$TOOL" vf provision emu:nope
	expect 4 "unknown PF 0000:7f:1f.7" "$TOOL" vf provision 0000:7f:1f.7
	expect 2 "invalid PF address" "$TOOL" vf provision nonsense
	expect 2 "is not the VF of an emulated PF" "$TOOL" vf release emu:pf0
	expect 3 "no migration support" "$TOOL" vf provision emu:pf0 --driver vfio-pci --require-migration
	ok "$TOOL" vf provision emu:pf0 --vq 4 --vi 2
	ok "$TOOL" vf provision emu:pf0 --vq 3 --vi 1
	expect 5 "no free VF" "$TOOL" vf provision emu:pf0
	ok "$TOOL" vf release emu:pf0-vf1
	ok "$TOOL" vf release emu:pf0-vf0
	expect 2 "expected" "$TOOL" vf provision
	# an empty pool while VFs are free
	ok "$TOOL" emu pf-create pf1
	ok "$TOOL" vf provision emu:pf1 --vq 8 --vi 4
	ok "$TOOL" vf provision emu:pf1 --vq 8 --vi 4
	expect 5 "only 0 of 16 are free on PF emu:pf1" "$TOOL" vf provision emu:pf1 --vq 2 --vi 1
	ok "$TOOL" vf release emu:pf1-vf0
	ok "$TOOL" vf release emu:pf1-vf1
	ok "$TOOL" emu pf-destroy pf1
	;;
bind-like)
	ok "$TOOL" emu pf-create pf0
	ok "$TOOL" vf provision emu:pf0 --vq 5 --vi 3 --driver vfio-pci
	ok "$TOOL" --json vf list --pf emu:pf0
	[ "$(jval driver)" = vfio-pci ] && [ "$(jval device)" = null ] ||
		fail "plain vfio-pci should offer no device: $(cat "$WORK/out")"
	ok "$TOOL" vf bind emu:pf0-vf0 emu-vfio-pci
	out_has "^address: emu:pf0-vf0\$"
	out_has "^driver: emu-vfio-pci\$"
	ok "$TOOL" vf state emu:pf0-vf0
	expect 4 "no PCI driver 'bogus'" "$TOOL" vf bind emu:pf0-vf0 bogus
	expect 1 "secondary controller is offline" "$TOOL" vf bind emu:pf0-vf3 nvme
	ok "$TOOL" --json vf provision emu:pf0 --like emu:pf0-vf0
	[ "$(jval nvq)" = 5 ] && [ "$(jval nvi)" = 3 ] || fail "--like did not copy: $(cat "$WORK/out")"
	ok "$TOOL" vf release emu:pf0-vf0
	ok "$TOOL" vf release emu:pf0-vf1
	;;
lm)
	# NVMe live migration as each PF offers it: the default is the
	# testbed's PF (version 0, its vendor format)
	V=6e76666d-6c6d-4e56-8d51-454d55000001
	ok "$TOOL" emu pf-create pfa --vfs 1
	expect 2 "lm-versions" "$TOOL" emu pf-create pfb --lm-versions 1,0x --lm-uuid "$V"
	expect 2 "lm-versions" "$TOOL" emu pf-create pfb --lm-versions 65536
	expect 2 "lm-versions" "$TOOL" emu pf-create pfb --lm-versions ""
	expect 2 "lm-uuid" "$TOOL" emu pf-create pfb --lm-uuid 6e76666d
	ok "$TOOL" emu pf-create pfb --vfs 1 --lm-versions 1,7 --lm-uuid 0AB1C2D3-0000-4000-8000-000000000002 --lm-uuid "$V"
	ok "$TOOL" emu pf-create pfc --vfs 1 --no-lm
	ok "$TOOL" emu pf-create pfd --vfs 1 --lm-versions none --lm-uuid none
	ok "$TOOL" vf list
	out_has "^  live migration: NVMe host-managed, controller state version 0; vendor format $V\$"
	out_has "^  live migration: NVMe host-managed, controller state versions 1, 7; vendor formats 0ab1c2d3-0000-4000-8000-000000000002, $V\$"
	out_has "^  live migration: not supported (Identify Controller OACS bit 11 (HMLMS) is clear)\$"
	out_has "^  live migration: not supported (Identify CNS 20h lists no NVMe Controller State version)\$"
	[ "$(grep -c "live migration:" "$WORK/out")" -eq 4 ] || fail "not one line per PF: $(cat "$WORK/out")"
	# each line under its own PF
	grep -A1 "^PF emu:pfb:" "$WORK/out" | grep -q "versions 1, 7" || fail "pfb: $(cat "$WORK/out")"
	grep -A1 "^PF emu:pfc:" "$WORK/out" | grep -q "not supported" || fail "pfc: $(cat "$WORK/out")"
	ok "$TOOL" --json vf list
	python3 - "$WORK/out" "$V" <<'PY' || fail "vf list --json: $(cat "$WORK/out")"
import json, sys
pfs = {p["pf"]: p["live_migration"] for p in json.load(open(sys.argv[1]))["pfs"]}
v = sys.argv[2]
assert pfs["emu:pfa"] == {"supported": True, "versions": [0], "uuids": [v], "reason": None}, pfs["emu:pfa"]
assert pfs["emu:pfb"] == {"supported": True, "versions": [1, 7],
                          "uuids": ["0ab1c2d3-0000-4000-8000-000000000002", v], "reason": None}, pfs["emu:pfb"]
assert pfs["emu:pfc"]["supported"] is False and "OACS bit 11" in pfs["emu:pfc"]["reason"]
assert pfs["emu:pfc"]["versions"] == [] and pfs["emu:pfc"]["uuids"] == []
assert pfs["emu:pfd"]["supported"] is False and "no NVMe Controller State version" in pfs["emu:pfd"]["reason"]
PY
	# a PF's capability stays what it was made with (it is the device's)
	ok "$TOOL" vf provision emu:pfb
	ok "$TOOL" vf list --pf emu:pfb
	out_has "versions 1, 7"
	ok "$TOOL" vf release emu:pfb-vf0
	;;
*)
	fail "unknown case"
	;;
esac
exit 0
