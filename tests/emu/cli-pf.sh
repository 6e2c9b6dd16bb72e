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

# pf_has PF LINE...: each LINE is a line of that PF's record in the last
# "vf list" (its "pf: PF" line up to the blank line before the next PF)
pf_has() {
	pf=$1
	shift
	awk -v pf="$pf" '$0 == "pf: " pf { on = 1 } on && $0 == "" { exit } on' "$WORK/out" \
		>"$WORK/pf"
	for line; do
		grep -qxF -- "$line" "$WORK/pf" || fail "PF $pf lacks '$line': $(cat "$WORK/out")"
	done
}

# vf_cell VF COLUMN: the VF's cell in the column headed COLUMN (the JSON
# key, upper-cased) of the last "vf list"'s VF table
vf_cell() {
	awk -v vf="$1" -v col="$2" '
		$1 == "ADDRESS" { c = 0; for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		c && $1 == vf { print $c; exit }' "$WORK/out"
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
	# the JSON's field names, a VF table headed by the VFs' keys
	pf_has emu:pf0 "num_vfs: 0" "total_vfs: 2" "vq.free: 8" "vq.total: 8" "vq.max_per_vf: 4" \
		"vi.free: 4" "vi.total: 4" "vi.max_per_vf: 2" "vfs:"
	[ "$(vf_cell emu:pf0-vf1 ENABLED)" = false ] && [ "$(vf_cell emu:pf0-vf1 STATE)" = offline ] ||
		fail "emu:pf0-vf1 not a disabled, offline VF: $(cat "$WORK/out")"
	ok "$TOOL" vf list --pf emu:pf0 --json
	[ "$(grep -c '"state": "offline"' "$WORK/out")" -eq 2 ] || fail "not 2 offline: $(cat "$WORK/out")"
	expect 4 "unknown PF emu:nope" "$TOOL" vf list --pf emu:nope
	expect 2 "invalid emulated PF name" "$TOOL" emu pf-create bad-name
	;;
provision-release)
	ok "$TOOL" emu pf-create pf0 --numa 2
	ok "$TOOL" vf provision emu:pf0
	# numa_node beside nvq/nvi: what the domain's metadata records
	for kv in "address: emu:pf0-vf0" "pf: emu:pf0" "scid: 1" "state: online" "nvq: 4" "nvi: 2" \
		"driver: emu-vfio-pci" "numa_node: 2"; do
		out_has "^$kv\$"
	done
	# the provisioned VF is a device the engine opens
	ok "$TOOL" vf state emu:pf0-vf0
	out_has "RUNNING"
	ok "$TOOL" --json vf provision emu:pf0 --vq 6 --vi 3
	[ "$(jval address)" = emu:pf0-vf1 ] && [ "$(jval nvq)" = 6 ] && [ "$(jval nvi)" = 3 ] &&
		[ "$(jval numa_node)" = 2 ] ||
		fail "unexpected VF: $(cat "$WORK/out")"
	ok "$TOOL" vf list --pf emu:pf0
	pf_has emu:pf0 "vq.free: 6" "vq.assigned: 10"
	[ "$(vf_cell emu:pf0-vf1 NVQ)" = 6 ] && [ "$(vf_cell emu:pf0-vf1 DRIVER)" = emu-vfio-pci ] ||
		fail "emu:pf0-vf1 not 6 VQ on emu-vfio-pci: $(cat "$WORK/out")"
	expect 5 "in use\|online" "$TOOL" emu pf-destroy pf0
	ok "$TOOL" vf release emu:pf0-vf0
	ok "$TOOL" vf release emu:pf0-vf1
	ok "$TOOL" vf list --pf emu:pf0
	pf_has emu:pf0 "num_vfs: 0" "total_vfs: 4" "autoprobe: false" "vq.free: 16"
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
	# each PF's record has its own live_migration fields
	pf_has emu:pfa "live_migration.supported: true" "live_migration.versions: [0]" \
		"live_migration.uuids: [\"$V\"]" "live_migration.reason: null"
	pf_has emu:pfb "live_migration.supported: true" "live_migration.versions: [1,7]" \
		"live_migration.uuids: [\"0ab1c2d3-0000-4000-8000-000000000002\",\"$V\"]"
	pf_has emu:pfc "live_migration.supported: false" "live_migration.versions: []" \
		"live_migration.reason: Identify Controller OACS bit 11 (HMLMS) is clear"
	pf_has emu:pfd "live_migration.supported: false" \
		"live_migration.reason: Identify CNS 20h lists no NVMe Controller State version"
	[ "$(grep -c "^live_migration.supported:" "$WORK/out")" -eq 4 ] ||
		fail "not one live_migration per PF: $(cat "$WORK/out")"
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
	pf_has emu:pfb "live_migration.versions: [1,7]"
	ok "$TOOL" vf release emu:pfb-vf0
	;;
*)
	fail "unknown case"
	;;
esac
exit 0
