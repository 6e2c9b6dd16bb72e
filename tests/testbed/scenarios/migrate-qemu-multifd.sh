# SPDX-License-Identifier: GPL-2.0-or-later
# migrate-qemu-multifd: migrate-qemu with QEMU's stream, the VF's state among it, over 2 multifd channels.
# As migrate-qemu.sh, with `--multifd 2`: both nested QEMUs get the multifd
# capability and two channels, and QEMU 10 (vfio-pci's
# x-migration-multifd-transfer is "auto") sends the VF's state over them
# too. Passes on migrate-qemu.sh's checks, and when B's QEMU says it ran
# with multifd on and 2 channels. benchmarks/multifd.sh compares its
# figures with migrate-qemu's.
TB_HOSTS="a b"
TB_TIMEOUT=900

MQ_MIGRATE_ARGS="--multifd 2"

# mq_b_more: B's QEMU ran the incoming migration with multifd
mq_b_more() {
	local caps n
	caps=$(tb_qmp '{"execute":"query-migrate-capabilities"}' |
		jq -r '.return[] | select(.capability == "multifd") | .state')
	n=$(tb_qmp '{"execute":"query-migrate-parameters"}' | jq -r '.return["multifd-channels"]')
	tb_log "B's QEMU: multifd $caps, $n channels"
	[ "$caps" = true ] && [ "$n" = 2 ] ||
		mq_fail_pub b_checked "B's QEMU migrated with multifd $caps and $n channels, not true and 2"
	tb_metric multifd_channels "$n"
}

. /tb/scenarios/migrate-qemu.sh
