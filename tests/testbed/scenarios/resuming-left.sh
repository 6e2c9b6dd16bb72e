# SPDX-License-Identifier: GPL-2.0-or-later
# resuming-left: a device one process left in RESUMING is reset, never
# committed, by the next. nvfm_regs keeps its state across close, so the
# next open finds RESUMING; for both mdev address forms. (nvfm_tvf resets on
# open: a PCI VF cannot be found in RESUMING, hence no PCI case here.)
TB_HOSTS="a"
TB_TIMEOUT=240

# left_resuming UUID ADDRESS: set-state RESUMING, exit; vf state (which
# only reads) shows the session and leaves it; the next command that
# changes the state resets it and never commits it.
left_resuming() {
	local m=$1 addr=$2 resets commits
	nvme-vf-migrate vf set-state "$addr" RESUMING || tb_fail "vf set-state $addr RESUMING failed"
	[ "$(tb_regs_info "$m" state)" = RESUMING ] ||
		tb_fail "nvfm_regs reports $(tb_regs_info "$m" state) after set-state RESUMING, expected RESUMING"
	resets=$(tb_regs_info "$m" resets)
	commits=$(tb_regs_info "$m" commits)
	nvme-vf-migrate vf state "$addr" >/tmp/state || tb_fail "vf state $addr failed"
	grep -q '^state: RESUMING' /tmp/state || tb_fail "vf state $addr: $(cat /tmp/state)"
	[ "$(tb_regs_info "$m" resets)" -eq "$resets" ] || tb_fail "vf state reset the device"
	nvme-vf-migrate vf set-state "$addr" RUNNING 2>/tmp/note ||
		{ cat /tmp/note; tb_fail "vf set-state $addr RUNNING failed"; }
	cat /tmp/note
	grep -q 'found in RESUMING' /tmp/note && grep -q 'never committed' /tmp/note ||
		tb_fail "set-state $addr did not say it reset a RESUMING session"
	[ "$(tb_regs_info "$m" resets)" -eq $((resets + 1)) ] ||
		tb_fail "resets $(tb_regs_info "$m" resets), expected $((resets + 1))"
	[ "$(tb_regs_info "$m" commits)" -eq "$commits" ] ||
		tb_fail "commits went from $commits to $(tb_regs_info "$m" commits): RESUMING was committed"
	[ "$(tb_regs_info "$m" state)" = RUNNING ] ||
		tb_fail "nvfm_regs reports $(tb_regs_info "$m" state), expected RUNNING"
}

host_a() {
	local m=6e5f0a1c-0000-4000-8000-000000000003
	command -v nvme-vf-migrate >/dev/null || tb_fail "nvme-vf-migrate is not in the payload (NVFM_CLI unset)"
	tb_regs_load
	tb_regs_create "$m"
	left_resuming "$m" "vfio:$m"
	left_resuming "$m" "vfio:/sys/bus/mdev/devices/$m"
	tb_metric regs_resets "$(tb_regs_info "$m" resets)"
}
