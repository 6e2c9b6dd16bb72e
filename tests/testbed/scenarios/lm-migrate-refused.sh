# SPDX-License-Identifier: GPL-2.0-or-later
# lm-migrate-refused: B's controller state refused (bad format version) while QEMU loads it; the VM keeps doing clean I/O on A.
# As lm-migrate-qemu.sh, but host B loads nvfm_nvme_lm with tamper_version=1:
# the driver rewrites the incoming NVMe Controller State version to one B's
# PF does not offer, so the write() that completes the state fails its
# check and B's QEMU fails to load before its switchover. Passes when
# `nvme-vf-migrate migrate` fails in restore with one error line saying the
# destination VF refused its state, the
# nested guest keeps doing I/O on A with no error, mismatch, lost, doubled
# or late completion (the Suspend on A was undone by a Resume), B's QEMU
# runs no VM, B's VF was released and both PFs end as at boot.
TB_HOSTS="a b"
TB_TIMEOUT=1200
TB_SHARED_NS=1

. /tb/scenarios/lm-migrate-qemu.sh

. /tb/scenarios/migrate-refused.sh

host_a() {
	local c c0
	mq_source_ready
	mq_migrate "$MQ_B_PF"
	tb_nvio_poll_stop
	mr_refused_a
	[ "$MR_PHASE" = restore ] || tb_fail "migrate failed in $MR_PHASE, not in restore"
	grep -q '^nvme-vf-migrate: restore: the destination VF refused its state' /run/tb/migrate.log ||
		tb_fail "the error does not say the destination VF refused its state: $(grep '^nvme-vf-migrate: ' /run/tb/migrate.log)"
	# its I/O goes on clean: A's VF was resumed
	c0=$(tb_nvio tb_hmp)
	c=$(tb_nvio_running tb_hmp 120) || tb_fail "no I/O on A after the rollback: $(tb_nvio_short "$c")"
	sleep 5
	c=$(tb_nvio tb_hmp)
	tb_log "A after the rollback: $(tb_nvio_short "$c")"
	[ -z "$(tb_nvio_clean "$c")" ] || tb_fail "I/O on A is not clean after the rollback: $(tb_nvio_clean "$c")"
	[ "$(tb_nvio_get "$c" completions)" -gt "$(tb_nvio_get "$c0" completions)" ] ||
		tb_fail "the guest's I/O does not move on A after the rollback"
	tb_metric io_on_a "$(tb_nvio_get "$c" completions)"
	mr_release_a
}

# B's driver refused a state, and said so
lm_b_refused() {
	dmesg | grep nvfm_nvme_lm | tail -n 10
	dmesg | grep -q "refusing the incoming state" ||
		mq_fail_pub b_checked "B's driver never refused a state"
}

host_b() {
	MR_B_CHECK=lm_b_refused
	mq_b_ready tamper_version=1
	mr_b_refused
}
