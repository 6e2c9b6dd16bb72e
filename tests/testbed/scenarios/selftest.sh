# SPDX-License-Identifier: GPL-2.0-or-later
# selftest: nvme-vf-migrate's engine and conformance suite against the
# kernel's real VFIO core (legacy group interface on Debian's 6.12) and the
# test variant driver: vf state, selftest, and a save -> load round trip
# that must leave the VF holding exactly the saved state.
TB_HOSTS="a"
TB_TIMEOUT=300

host_a() {
	local vf before after
	command -v nvme-vf-migrate >/dev/null || tb_fail "nvme-vf-migrate is not in the payload (NVFM_CLI unset)"
	tb_tvf_load seed=1 state_size=$((4 << 20))
	vf=$(tb_vf_provision 0) || exit 1
	tb_vf_bind "$vf" nvfm_tvf
	nvme-vf-migrate vf state "vfio:$vf" || tb_fail "vf state vfio:$vf failed"
	# the same VF by its sysfs path (the kernel's own name for it)
	nvme-vf-migrate vf state "vfio:/sys/bus/pci/devices/$vf" ||
		tb_fail "vf state vfio:/sys/bus/pci/devices/$vf failed"
	tb_selftest "vfio:$vf" nvfm_tvf
	before=$(tb_tvf_digest "$vf")
	nvme-vf-migrate save "vfio:$vf" -o /tmp/vf.nvfm || tb_fail "save failed"
	nvme-vf-migrate load "vfio:$vf" -i /tmp/vf.nvfm --run || tb_fail "load failed"
	after=$(tb_tvf_digest "$vf")
	[ "$before" = "$after" ] || tb_fail "digest $after after load, expected $before"
	tb_metric tvf_restores "$(tb_tvf_info "$vf" restores)"
}
