# SPDX-License-Identifier: GPL-2.0-or-later
# lm-selftest: nvme-vf-migrate's engine and conformance suite against
# nvfm_nvme_lm (NVMe 2.1 live migration through the PF; needs the patched
# outer QEMU): vf state, selftest (its save-load-save case compares the
# re-saved state byte for byte), and a save -> load -> save by the CLI.
TB_HOSTS="a"
TB_TIMEOUT=300

host_a() {
	local vf
	command -v nvme-vf-migrate >/dev/null || tb_fail "nvme-vf-migrate is not in the payload (NVFM_CLI unset)"
	modprobe vfio_pci_core || tb_fail "no vfio_pci_core"
	insmod /tb/kmod/nvfm_nvme_lm.ko chunk=256 || tb_fail "cannot load nvfm_nvme_lm.ko"
	vf=$(tb_vf_provision 0) || exit 1
	tb_vf_bind "$vf" nvfm_nvme_lm
	[ "$(cat "/sys/bus/pci/devices/$vf/nvfm_lm/hmlms")" = 1 ] ||
		tb_fail "the PF does not offer HMLMS (stock QEMU?): nothing to migrate"
	nvme-vf-migrate vf state "vfio:$vf" || tb_fail "vf state vfio:$vf failed"
	tb_selftest "vfio:$vf" nvfm_nvme_lm
	nvme-vf-migrate save "vfio:$vf" -o /tmp/a.nvfm || tb_fail "save failed"
	nvme-vf-migrate load "vfio:$vf" -i /tmp/a.nvfm --run || tb_fail "load failed"
	nvme-vf-migrate save "vfio:$vf" -o /tmp/b.nvfm || tb_fail "second save failed"
	tb_metric lm_state_size "$(cat "/sys/bus/pci/devices/$vf/nvfm_lm/state_size")"
	tb_metric lm_restores "$(cat "/sys/bus/pci/devices/$vf/nvfm_lm/restores")"
}
