# SPDX-License-Identifier: GPL-2.0-or-later
# tvf-cycle: the test variant driver against the kernel's real VFIO core.
# One host provisions a VF by hand, binds it to nvfm_tvf and runs tvf-check:
# migration flags, PRE_COPY/STOP_COPY saving, PRECOPY_INFO, MIG_DATA_SIZE,
# refused streams and an exact restore (digest, registers, re-save).
TB_HOSTS="a"
TB_TIMEOUT=300

host_a() {
	local vf
	tb_tvf_load seed=1 state_size=$((4 << 20))
	vf=$(tb_vf_provision 0) || exit 1
	tb_log "VF $vf provisioned"
	tb_vf_bind "$vf" nvfm_tvf
	tb_log "bound to nvfm_tvf, digest $(tb_tvf_digest "$vf")"
	tvf-check info "$vf" || tb_fail "nvfm_tvf does not report migration support"
	tvf-check cycle "$vf" || tb_fail "tvf-check cycle failed"
	tb_metric tvf_restores "$(tb_tvf_info "$vf" restores)"
}
