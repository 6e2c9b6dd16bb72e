# SPDX-License-Identifier: GPL-2.0-or-later
# lm-migrate-qemu: `nvme-vf-migrate migrate --device-state qemu` of a nested VM doing verified NVMe I/O on its VF (nvfm_nvme_lm).
# As migrate-qemu.sh, with the NVMe 2.1 live-migration driver and a nested
# guest (guest/nvme-io) that drives its VF with a real NVMe driver: I/O on
# every queue it is granted, self-describing blocks written and read back,
# completions, errors and mismatches counted in guest RAM. Both hosts' PFs
# share one namespace backing file. The VF's controller state moves through
# the PF (Migration Send Suspend, Migration Receive Get Controller State on
# A; Set Controller State and Resume on B) inside QEMU's own migration
# stream. Passes when on B the I/O continues on at least two queues with no
# error, mismatch, lost, doubled or late completion, B completes full sweeps
# that read back every block (those written on A included), B's VF took
# exactly one state, A's VF was released and both PFs end as at boot.
TB_HOSTS="a b"
TB_TIMEOUT=1200
TB_SHARED_NS=1

MQ_DRIVER=nvfm_nvme_lm
MQ_GUEST=/tb/guest/nvme-io.elf
# four queue resources: the admin queue and three I/O queue pairs
LM_NVQ=4
LM_NVI=1
MQ_MIGRATE_ARGS="--nvq $LM_NVQ --nvi $LM_NVI"

. /tb/scenarios/migrate-qemu.sh

# lm_provision: one more VF of A's PF on nvfm_nvme_lm, with LM_NVQ/LM_NVI;
# sets LM_NEW_VF.
lm_provision() {
	local out
	out=$(nvme-vf-migrate --json vf provision "$MQ_PF" --vq $LM_NVQ --vi $LM_NVI \
		--driver nvfm_nvme_lm --require-migration) ||
		tb_fail "provisioning a VF on A failed: $out"
	LM_NEW_VF=$(echo "$out" | jq -r .address)
	[ "$(echo "$out" | jq -r .driver)" = nvfm_nvme_lm ] || tb_fail "A's VF is not on nvfm_nvme_lm: $out"
	tb_log "A's VF $LM_NEW_VF on nvfm_nvme_lm: cntlid $(tb_lm_attr "$LM_NEW_VF" cntlid), formats $(tb_lm_attr "$LM_NEW_VF" versions)"
}

# lm_pf_supported: the library reads the PF's capability through libnvme
lm_pf_supported() {
	local out
	out=$(nvme-vf-migrate --json vf list --pf "$MQ_PF" | jq -c '.pfs[0].live_migration')
	tb_log "vf list: live migration $out"
	[ "$(echo "$out" | jq -r '.supported')" = true ] && [ "$(echo "$out" | jq -c '.versions')" = '[0]' ] ||
		tb_fail "vf list does not report the PF's NVMe live migration (version 0): $out"
}

# lm_io_on_a SOCKET [INDEX]: the nested guest's controller INDEX (default
# 0) does clean I/O on at least two queues on A; then a poller keeps its
# counters in /run/tb/a-ioINDEX through the guest's QMP socket SOCKET.
lm_io_on_a() {
	local c
	c=$(tb_nvio_running tb_hmp 300 ${2:+"$2"}) ||
		tb_fail "the nested guest does no I/O on A${2:+ (controller $2)}: $(tb_nvio_short "$c")"
	tb_log "nested guest does I/O on A${2:+ (controller $2)}: $(tb_nvio_short "$c")"
	[ "$(tb_nvio_get "$c" queues)" -ge 2 ] ||
		tb_fail "the guest got $(tb_nvio_get "$c" queues) I/O queue(s), not at least 2"
	[ -z "$(tb_nvio_clean "$c")" ] || tb_fail "I/O on A is not clean: $(tb_nvio_clean "$c")"
	tb_nvio_poll_start "$1" "/run/tb/a-io${2:-}" ${2:+"$2"}
}

# lm_source_vm: A's VF on nvfm_nvme_lm, the nested guest doing I/O on it,
# a poller keeping its counters (own QMP socket). Sets MQ_VF.
lm_source_vm() {
	lm_provision
	MQ_VF=$LM_NEW_VF
	lm_pf_supported
	tb_nested_qemu "$MQ_VF" -qmp unix:/run/tb/vm.qmp,server=on,wait=off \
		-qmp unix:/run/tb/poll.qmp,server=on,wait=off
	tb_qmp_open /run/tb/nested.sock
	lm_io_on_a /run/tb/poll.qmp
}

# lm_publish_a_io [INDEX...]: A's last counters before its QEMU stopped,
# published as a_io (a_ioINDEX for each INDEX given)
lm_publish_a_io() {
	local c i
	tb_nvio_poll_stop
	for i in "${@:-}"; do
		c=$(cat "/run/tb/a-io$i" 2>/dev/null)
		tb_log "A's last reading${i:+ (controller $i)}: $(tb_nvio_short "$c")"
		tb_pub "a_io$i" "$(tb_nvio_get "$c" completions) $(tb_nvio_get "$c" sweeps)"
		tb_metric "io_on_a${i:+_$i}" "$(tb_nvio_get "$c" completions)"
	done
}

MQ_SOURCE_VM=lm_source_vm

host_a() {
	mq_source_ready
	mq_migrate "$MQ_B_PF"
	lm_publish_a_io
	mq_migrated_a
}

# lm_check_b DVF A_IO [INDEX]: on B, the guest's I/O on its controller
# INDEX (default 0, behind B's VF DVF) continues clean and B reads back
# every block in full sweeps; DVF took one state. With INDEX the metrics
# carry it as a suffix.
lm_check_b() {
	local dvf=$1 a_done=${2% *} a_sweeps=${2#* } i=${3:-} sfx=${3:+_$3} c end n
	c=$(tb_nvio_running tb_hmp 120 ${i:+"$i"}) || mq_fail_pub b_checked "no I/O on B${i:+ (controller $i)}: $(tb_nvio_short "$c")"
	tb_log "I/O continues on B${i:+ (controller $i)}: $(tb_nvio_short "$c")"
	# two whole sweeps after the move: every block, A's included, read back
	end=$(($(cut -d. -f1 /proc/uptime) + 300))
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		c=$(tb_nvio tb_hmp ${i:+"$i"})
		[ -n "$(tb_nvio_clean "$c")" ] && break
		[ "$(tb_nvio_get "$c" sweeps)" -ge $((a_sweeps + 2)) ] &&
			[ "$(tb_nvio_get "$c" completions)" -ge $((a_done + 1000)) ] && break
		sleep 2
	done
	tb_log "B after the move${i:+ (controller $i)}: $(tb_nvio_short "$c")"
	[ -z "$(tb_nvio_clean "$c")" ] || mq_fail_pub b_checked "I/O on B is not clean${i:+ (controller $i)}: $(tb_nvio_clean "$c")"
	[ "$(tb_nvio_get "$c" sweeps)" -ge $((a_sweeps + 2)) ] ||
		mq_fail_pub b_checked "B completed $(( $(tb_nvio_get "$c" sweeps) - a_sweeps )) full sweeps${i:+ on controller $i}, not 2"
	[ "$(tb_nvio_get "$c" queues)" -ge 2 ] ||
		mq_fail_pub b_checked "the guest uses $(tb_nvio_get "$c" queues) I/O queue(s) on B${i:+ (controller $i)}"
	n=$(($(tb_nvio_get "$c" completions) - a_done))
	tb_metric "io_on_b$sfx" "$n"
	tb_metric "io_queues$sfx" "$(tb_nvio_get "$c" queues)"
	tb_metric "io_sweeps_on_b$sfx" "$(( $(tb_nvio_get "$c" sweeps) - a_sweeps ))"
	tb_metric "lm_state_size$sfx" "$(tb_lm_attr "$dvf" state_size)"
	tb_metric "lm_io_sqs$sfx" "$(tb_lm_attr "$dvf" niosq)"
	tb_metric "lm_io_cqs$sfx" "$(tb_lm_attr "$dvf" niocq)"
	[ "$(tb_lm_attr "$dvf" restores)" = 1 ] ||
		mq_fail_pub b_checked "B's VF $dvf took $(tb_lm_attr "$dvf" restores) states, not 1"
	[ "$(tb_lm_attr "$dvf" niosq)" -ge 2 ] ||
		mq_fail_pub b_checked "the state of $dvf moved $(tb_lm_attr "$dvf" niosq) I/O SQs, not the guest's"
}

host_b() {
	local a_io
	mq_b_ready
	mq_b_running
	a_io=$(tb_peer_get a_io 60) || tb_fail "no counters from A"
	lm_check_b "$MQ_DVF" "$a_io"
	mq_b_release
}
