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

host_a() {
	local v phase status c c0
	mq_prepare 1
	tb_metric transport "$MQ_TLS"
	lm_source_vm
	tb_pub digest none
	MQ_B_PF=$(tb_peer_get b_ready 300) || tb_fail "host B never became ready"
	case "$MQ_B_PF" in fail:*) tb_fail "B: ${MQ_B_PF#fail: }" ;; esac
	mq_migrate "$MQ_B_PF"
	tb_nvio_poll_stop
	tb_metric migrate_wall_ms "$MQ_WALL_MS"
	if [ $MQ_RC -eq 0 ] || [ "$(mq_report .ok)" = true ]; then
		tb_pub migrated "fail: migrate succeeded"
		tb_fail "migrate succeeded (exit $MQ_RC) although B's driver refuses every state"
	fi
	phase=$(mq_report '.failed_phase // empty')
	tb_log "migrate failed as it should: exit $MQ_RC, phase $phase, committed $(mq_report .committed)"
	tb_log "rollback: $(mq_report '.rollback // empty')"
	tb_metric failed_phase "$phase"
	tb_metric exit_status "$MQ_RC"
	[ "$(mq_report .committed)" = false ] || tb_fail "the failure came after the commit point"
	[ "$(grep -c '^nvme-vf-migrate: ' /run/tb/migrate.log)" -eq 1 ] ||
		tb_fail "not one error line: $(grep '^nvme-vf-migrate: ' /run/tb/migrate.log)"
	[ "$phase" = restore ] || tb_fail "migrate failed in $phase, not in restore"
	grep -q '^nvme-vf-migrate: restore: the destination VF refused its state' /run/tb/migrate.log ||
		tb_fail "the error does not say the destination VF refused its state: $(grep '^nvme-vf-migrate: ' /run/tb/migrate.log)"
	tb_pub migrated "refused: $phase"

	# the VM runs on A, with its VF, and its I/O goes on clean
	kill -0 "$TB_NESTED_PID" 2>/dev/null || tb_fail "A's nested QEMU is gone"
	for _ in $(seq 150); do
		status=$(tb_qmp '{"execute":"query-status"}' | jq -r .return.status)
		[ "$status" = running ] && break
		sleep 0.2
	done
	[ "$status" = running ] || tb_fail "the VM is $status on A after the rollback, not running"
	c0=$(tb_nvio tb_hmp)
	c=$(tb_nvio_running tb_hmp 120) || tb_fail "no I/O on A after the rollback: $(tb_nvio_short "$c")"
	sleep 5
	c=$(tb_nvio tb_hmp)
	tb_log "A after the rollback: $(tb_nvio_short "$c")"
	[ -z "$(tb_nvio_clean "$c")" ] || tb_fail "I/O on A is not clean after the rollback: $(tb_nvio_clean "$c")"
	[ "$(tb_nvio_get "$c" completions)" -gt "$(tb_nvio_get "$c0" completions)" ] ||
		tb_fail "the guest's I/O does not move on A after the rollback"
	tb_metric io_on_a "$(tb_nvio_get "$c" completions)"
	[ "$(basename "$(readlink -f "/sys/bus/pci/devices/$MQ_VF/driver")")" = nvfm_nvme_lm ] ||
		tb_fail "A's VF $MQ_VF is no longer on nvfm_nvme_lm"
	[ "$(mq_online_count)" = 1 ] || tb_fail "A's PF has $(mq_online_count) VFs online, not its one"
	v=$(tb_peer_get b_checked 600) || tb_fail "B did not check its side"
	[ "$v" = ok ] || tb_fail "B: ${v#fail: }"

	tb_qmp '{"execute":"quit"}' >/dev/null
	tb_qmp_close
	mq_nested_gone 30 || tb_fail "A's nested QEMU does not quit"
	TB_NESTED_PID=
	nvme-vf-migrate vf release "$MQ_VF" || tb_fail "releasing A's VF $MQ_VF failed"
	v=$(mq_pf_changes)
	[ -z "$v" ] || tb_fail "A's PF $MQ_PF differs from boot: $v"
}

host_b() {
	local v status
	mq_prepare 2 tamper_version=1
	mq_start_agent
	mq_dest_qemu
	tb_qmp_open /run/tb/nested.sock
	status=$(tb_qmp '{"execute":"query-status"}' | jq -r .return.status)
	[ "$status" = inmigrate ] || mq_fail_pub b_ready "B's QEMU is $status, not inmigrate"
	tb_peer_get digest 400 >/dev/null || tb_fail "A's guest never ran"
	tb_pub b_ready "$MQ_PF"

	v=$(tb_peer_get migrated 900) || tb_fail "A never finished migrating"
	tb_log "A: $v"
	dmesg | grep nvfm_nvme_lm | tail -n 10
	case "$v" in refused:*) ;; *) tb_fail "A: ${v#fail: }" ;; esac
	if ! mq_nested_gone 60; then
		status=$(tb_qmp '{"execute":"query-status"}' | jq -r .return.status)
		mq_fail_pub b_checked "B's nested QEMU is still there ($status) after the rollback"
	fi
	tb_qmp_close
	TB_NESTED_PID=
	dmesg | grep -q "refusing the incoming state" ||
		mq_fail_pub b_checked "B's driver never refused a state"
	v=$(mq_pf_changes)
	[ -z "$v" ] || mq_fail_pub b_checked "B's PF $MQ_PF differs from boot after the rollback: $v"
	tb_log "B's VF was released; B's PF as at boot"
	tb_pub b_checked ok
	mq_stop_agent
}
