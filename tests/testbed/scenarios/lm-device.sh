# SPDX-License-Identifier: GPL-2.0-or-later
# lm-device: the patched outer QEMU's NVMe 2.1 live migration commands, driven with nvme admin-passthru on the PF.
# One host provisions two VFs, binds VF 0 to the kernel's nvme driver and
# checks, against docs/nvme-lm.md: OACS.HMLMS, CNS 20h, the effects log,
# Get Controller State running (CSUP 0) and suspended (CSUP 1), whole and
# in pieces, Suspend holding back I/O until Resume, refused Set Controller
# States (enabled target, not suspended, truncated, bad version, bad CRC,
# out of sequence) leaving the VF usable, and a good state taken by VF 1.
TB_HOSTS="a"
TB_TIMEOUT=300

LM_W=/run/tb/lm
LM_UUID="6e 76 66 6d 6c 6d 4e 56 8d 51 45 4d 55 00 00 01"

# lm_pt OUT ARGS...: nvme admin-passthru on the PF; data (if read) in OUT:
# the last --data-len bytes of nvme-cli's stdout (whichever stream its
# "Success" line takes). Sets LM_STATUS (0x0 or the NVMe status nvme-cli
# reports, e.g. 0x4002) and LM_RESULT (completion Dword 0).
lm_pt() {
	local out=$1 msg len=0 a
	shift
	for a in "$@"; do
		case "$a" in --data-len=*) len=${a#--data-len=} ;; esac
	done
	nvme admin-passthru "$LM_PF" "$@" >"$LM_W/pt.out" 2>"$LM_W/pt.err"
	tail -c "$len" "$LM_W/pt.out" >"$out"
	msg=$(cat "$LM_W/pt.err"; head -c 4096 "$LM_W/pt.out" | tr -c '[:print:]\n' '.')
	LM_RESULT=$(echo "$msg" | sed -n 's/.*is Success and result: \(0x[0-9a-fA-F]*\).*/\1/p' | head -n 1)
	if [ -n "$LM_RESULT" ]; then
		LM_STATUS=0x0
	else
		LM_STATUS=$(echo "$msg" | sed -n 's/.*NVMe status:.*(\(0x[0-9a-fA-F]*\)).*/\1/p' | head -n 1)
		LM_STATUS=${LM_STATUS:-unknown}
		LM_RESULT=
		tb_log "admin-passthru $*: $(cat "$LM_W/pt.err")"
	fi
}

# u8/u16/u32/u64 FILE OFFSET: little-endian fields of a state file
u8() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }
u16() { od -An -tu2 -j "$2" -N 2 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' '; }
u64() { od -An -tu8 -j "$2" -N 8 "$1" | tr -d ' '; }

lm_suspend() { lm_pt "$LM_W/none" --opcode=0x41 --cdw10=0 --cdw11=$(($1 | (1 << 16))); }
lm_resume() { lm_pt "$LM_W/none" --opcode=0x41 --cdw10=1 --cdw11="$1"; }

# lm_get CNTLID OFFSET LEN OUT: Get Controller State (CSUUIDI 1)
lm_get() {
	lm_pt "$4" --opcode=0x42 --cdw10=0 --cdw11=$(($1 | (1 << 16))) --cdw12="$2" \
		--cdw15=$(($3 / 4 - 1)) --data-len="$3" -r -b
}

# lm_set CNTLID SEQIND OFFSET FILE: one Set Controller State piece (all of FILE)
lm_set() {
	local len
	len=$(stat -c %s "$4")
	lm_pt "$LM_W/none" --opcode=0x41 --cdw10=$((2 | ($2 << 16))) \
		--cdw11=$(($1 | (1 << 24))) --cdw12="$3" --cdw15=$((len / 4)) \
		--data-len="$len" -w -i "$4"
}

# lm_state_size FILE: the whole size the header announces
lm_state_size() { echo $((48 + 4 * ($(u64 "$1" 16) + $(u64 "$1" 32)))); }

# lm_io TAG: a write and a read back of one block through the VF's own
# controller (the multipath block device could take the PF's path).
lm_io() {
	local tag=$1
	head -c 512 /dev/urandom >"$LM_W/io-$tag.w"
	nvme io-passthru "$LM_NG" --opcode=0x01 --namespace-id=1 --cdw10=8 --cdw12=0 \
		--data-len=512 -w -i "$LM_W/io-$tag.w" >/dev/null 2>"$LM_W/io.err" ||
		tb_fail "VF write ($tag) failed: $(cat "$LM_W/io.err")"
	nvme io-passthru "$LM_NG" --opcode=0x02 --namespace-id=1 --cdw10=8 --cdw12=0 \
		--data-len=512 -r -b >"$LM_W/io-$tag.r" 2>"$LM_W/io.err" ||
		tb_fail "VF read ($tag) failed: $(cat "$LM_W/io.err")"
	cmp -s "$LM_W/io-$tag.w" "$LM_W/io-$tag.r" || tb_fail "VF read back other data ($tag)"
}

# expect_refused WHAT: the last command must have failed with Invalid Field (DNR)
expect_refused() {
	[ "$LM_STATUS" = 0x4002 ] || tb_fail "$1: status $LM_STATUS, expected 0x4002"
	tb_log "refused as expected: $1"
}
expect_ok() {
	[ "$LM_STATUS" = 0x0 ] || tb_fail "$1: status $LM_STATUS"
}

host_a() {
	local pf scid0 scid1 vf0 vf1 c i size ncs nsq ncq p t0 bg
	mkdir -p "$LM_W"
	pf=$(tb_pf_addr) || tb_fail "no NVMe PF with SR-IOV"
	LM_PF=$(tb_pf_wait_ctrl "$pf") || tb_fail "the PF $pf has no controller"

	# Both VFs' resources before enabling them (tb_vf_provision's steps).
	scid0=$(nvme list-secondary "$LM_PF" | awk '$1 == "SCID" { print $NF }' | sed -n 1p)
	scid1=$(nvme list-secondary "$LM_PF" | awk '$1 == "SCID" { print $NF }' | sed -n 2p)
	scid0=$((scid0))
	scid1=$((scid1))
	[ "$scid0" -gt 0 ] && [ "$scid1" -gt 0 ] || tb_fail "no secondary controllers on $LM_PF"
	echo 0 >"/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe"
	for c in $scid0 $scid1; do
		nvme virt-mgmt "$LM_PF" --cntlid=$c --act=7 >/dev/null 2>&1
		nvme virt-mgmt "$LM_PF" --cntlid=$c --rt=0 --act=8 --nr=2 >/dev/null ||
			tb_fail "assigning queues to $c failed"
		nvme virt-mgmt "$LM_PF" --cntlid=$c --rt=1 --act=8 --nr=1 >/dev/null ||
			tb_fail "assigning vectors to $c failed"
	done
	echo 2 >"/sys/bus/pci/devices/$pf/sriov_numvfs" || tb_fail "enabling 2 VFs failed"
	for c in $scid0 $scid1; do
		nvme virt-mgmt "$LM_PF" --cntlid=$c --act=9 >/dev/null || tb_fail "online $c failed"
	done
	vf0=$(basename "$(readlink -f "/sys/bus/pci/devices/$pf/virtfn0")")
	vf1=$(basename "$(readlink -f "/sys/bus/pci/devices/$pf/virtfn1")")
	tb_log "VFs $vf0 (cntlid $scid0) and $vf1 (cntlid $scid1)"
	tb_vf_bind "$vf0" nvme
	c=
	for i in $(seq 100); do
		c=$(basename "$(ls -d /sys/bus/pci/devices/"$vf0"/nvme/nvme* 2>/dev/null | head -n 1)" 2>/dev/null)
		[ -n "$c" ] && [ -c "/dev/$c" ] && [ -n "$(ls -d /sys/class/nvme/"$c"/nvme*n1 2>/dev/null)" ] && break
		sleep 0.1
	done
	# The PF and the VF share namespace 1 (one subsystem), so native
	# multipath joins them under one block device and the VF's path has no
	# node of its own: I/O goes to the VF's controller node (single-namespace
	# I/O passthrough, with the kernel's deprecation notice).
	LM_NG=/dev/$c
	[ -c "$LM_NG" ] || tb_fail "the VF has no controller node"
	tb_log "VF 0 is $c, I/O through $LM_NG"
	lm_io before

	# ---- capability ----
	[ $(($(nvme id-ctrl "$LM_PF" -o json | jq .oacs) & 0x800)) -ne 0 ] ||
		tb_fail "OACS bit 11 (HMLMS) is not set on the PF"
	lm_pt "$LM_W/cns20" --opcode=0x06 --cdw10=0x20 --data-len=4096 -r -b
	expect_ok "Identify CNS 20h"
	p=$(od -An -tx1 -N 20 "$LM_W/cns20" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
	[ "$p" = "01 01 00 00 $LM_UUID" ] || tb_fail "CNS 20h reads '$p'"
	tb_log "CNS 20h: NV 1, NUUID 1, version 0, UUID ok"
	nvme get-log "$LM_PF" --log-id=5 --log-len=4096 -b >"$LM_W/effects" 2>/dev/null ||
		tb_fail "no effects log"
	[ "$(u32 "$LM_W/effects" $((0x41 * 4)))" = 1 ] && [ "$(u32 "$LM_W/effects" $((0x42 * 4)))" = 1 ] ||
		tb_fail "the effects log does not list 0x41/0x42"

	# ---- Get Controller State on the running VF ----
	lm_get "$scid0" 0 48 "$LM_W/hdr-running"
	expect_ok "Get Controller State (running)"
	[ $((LM_RESULT & 1)) -eq 0 ] || tb_fail "CSUP set on a running controller ($LM_RESULT)"
	[ "$(u16 "$LM_W/hdr-running" 0)" = 0 ] && [ "$(u8 "$LM_W/hdr-running" 2)" = 0 ] &&
		[ "$(u64 "$LM_W/hdr-running" 16)" -ge 2 ] && [ "$(u64 "$LM_W/hdr-running" 32)" -ge 163 ] &&
		[ "$(u64 "$LM_W/hdr-running" 24)" = 0 ] && [ "$(u64 "$LM_W/hdr-running" 40)" = 0 ] ||
		tb_fail "malformed header: $(od -An -tx1 "$LM_W/hdr-running" | tr -s ' \n' ' ')"

	# ---- Suspend holds I/O back; Resume lets it through ----
	lm_suspend "$scid0"
	expect_ok Suspend
	lm_suspend "$scid0"
	expect_ok "Suspend (again)"
	nvme io-passthru "$LM_NG" --opcode=0x02 --namespace-id=1 --cdw10=8 --data-len=512 -r -b \
		>"$LM_W/held.r" 2>/dev/null &
	bg=$!
	sleep 2
	kill -0 $bg 2>/dev/null || tb_fail "a read on the suspended VF completed"
	tb_log "a read on the suspended VF waits"

	# ---- the state, whole and in pieces ----
	lm_get "$scid0" 0 48 "$LM_W/hdr"
	expect_ok "Get Controller State (header)"
	[ $((LM_RESULT & 1)) -eq 1 ] || tb_fail "CSUP clear on a suspended controller ($LM_RESULT)"
	[ "$(u8 "$LM_W/hdr" 2)" = 1 ] || tb_fail "CSATTR does not say suspended"
	size=$(lm_state_size "$LM_W/hdr")
	lm_get "$scid0" 0 "$size" "$LM_W/whole"
	expect_ok "Get Controller State (whole)"
	: >"$LM_W/pieces"
	p=0
	for i in 48 100 64 4096; do
		[ $p -ge "$size" ] && break
		lm_get "$scid0" $p $i "$LM_W/piece"
		expect_ok "Get Controller State (piece at $p)"
		head -c $((size - p < i ? size - p : i)) "$LM_W/piece" >>"$LM_W/pieces"
		p=$((p + i))
	done
	cmp -s "$LM_W/whole" "$LM_W/pieces" ||
		tb_fail "the state read in pieces differs from one whole read: $(cmp -l "$LM_W/whole" "$LM_W/pieces" | head -n 5 | tr '\n' ' ')"
	lm_get "$scid0" $((size + 64)) 16 "$LM_W/past"
	[ "$(od -An -tx1 "$LM_W/past" | tr -d ' \n')" = "00000000000000000000000000000000" ] ||
		tb_fail "a read past the end is not zeros"
	ncs=$(u64 "$LM_W/whole" 16)
	nsq=$(u16 "$LM_W/whole" 50)
	ncq=$(u16 "$LM_W/whole" 52)
	[ "$nsq" -ge 1 ] && [ "$ncq" -ge 1 ] && [ "$ncs" -eq $(((8 + 24 * (nsq + ncq)) / 4)) ] ||
		tb_fail "NVMe controller state: $nsq SQs, $ncq CQs, $ncs dwords"
	[ "$(u32 "$LM_W/whole" $((48 + ncs * 4)))" = $((0x4d4c564e)) ] || tb_fail "no NVLM vendor state"
	tb_log "state: $size bytes, $nsq I/O SQs, $ncq I/O CQs, read whole and in 4 pieces"
	tb_metric lm_state_bytes "$size"

	# ---- Set Controller State refused ----
	lm_set "$scid0" 3 0 "$LM_W/whole"
	expect_refused "Set on an enabled controller"
	lm_set "$scid1" 3 0 "$LM_W/whole"
	expect_refused "Set on a controller that is not suspended"
	lm_suspend "$scid1"
	expect_ok "Suspend VF 1"
	head -c $((size - 4)) "$LM_W/whole" >"$LM_W/truncated"
	lm_set "$scid1" 3 0 "$LM_W/truncated"
	expect_refused "a truncated state"
	cp "$LM_W/whole" "$LM_W/badver"
	printf '\001' | dd of="$LM_W/badver" bs=1 seek=48 conv=notrunc 2>/dev/null
	lm_set "$scid1" 3 0 "$LM_W/badver"
	expect_refused "a state of another version"
	cp "$LM_W/whole" "$LM_W/badcrc"
	printf '\125' | dd of="$LM_W/badcrc" bs=1 seek=$((size - 2)) conv=notrunc 2>/dev/null
	lm_set "$scid1" 3 0 "$LM_W/badcrc"
	expect_refused "a state with a bad CRC"
	head -c 48 "$LM_W/whole" >"$LM_W/part1"
	tail -c +49 "$LM_W/whole" >"$LM_W/part2"
	lm_set "$scid1" 2 48 "$LM_W/part2"
	expect_refused "a last piece without a first"
	lm_get "$scid1" 0 48 "$LM_W/hdr1"
	[ "$(u64 "$LM_W/hdr1" 16)" = 2 ] || tb_fail "a refused state changed VF 1 ($(u64 "$LM_W/hdr1" 16) dwords)"

	# ---- a good state, in two pieces, on the fresh VF 1 ----
	lm_set "$scid1" 1 0 "$LM_W/part1"
	expect_ok "Set Controller State (first piece)"
	lm_set "$scid1" 2 48 "$LM_W/part2"
	expect_ok "Set Controller State (last piece)"
	lm_get "$scid1" 0 48 "$LM_W/hdr1"
	lm_get "$scid1" 0 "$(lm_state_size "$LM_W/hdr1")" "$LM_W/whole1"
	tail -c +49 "$LM_W/whole" | head -c $((ncs * 4 + 40)) >"$LM_W/given"
	tail -c +49 "$LM_W/whole1" | head -c $((ncs * 4 + 40)) >"$LM_W/taken"
	cmp -s "$LM_W/given" "$LM_W/taken" ||
		tb_fail "VF 1 does not hold the queues and registers it was given: $(cmp -l "$LM_W/given" "$LM_W/taken" | head -n 8 | tr '\n' ' ')"
	tb_log "VF 1 took the state: same queues and registers"
	# never resumed: a function reset drops it again
	echo 1 >"/sys/bus/pci/devices/$vf1/reset" || tb_fail "cannot reset VF 1"
	lm_get "$scid1" 0 48 "$LM_W/hdr1"
	[ "$(u64 "$LM_W/hdr1" 16)" = 2 ] || tb_fail "VF 1 keeps queues after its reset"

	# ---- Resume ----
	t0=$(date +%s%N)
	lm_resume "$scid0"
	expect_ok Resume
	for i in $(seq 100); do
		kill -0 $bg 2>/dev/null || break
		sleep 0.1
	done
	kill -0 $bg 2>/dev/null && tb_fail "the held read did not complete after Resume"
	wait $bg || tb_fail "the held read failed"
	tb_log "the held read completed $((($(date +%s%N) - t0) / 1000000)) ms after Resume"
	lm_resume "$scid0"
	expect_ok "Resume (again)"
	lm_io after
	nvme id-ctrl "/dev/$c" >/dev/null || tb_fail "the VF's admin queue does not answer"
	lm_get "$scid0" 0 48 "$LM_W/hdr"
	[ $((LM_RESULT & 1)) -eq 0 ] || tb_fail "CSUP still set after Resume"
	tb_log "VF 0 works after the refused states and Resume"
}
