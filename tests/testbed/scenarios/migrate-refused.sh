# migrate-refused: B's VF refuses the state at RESUMING -> STOP; the VM stays on A and nothing leaks.
# As migrate-qemu.sh, but host B loads nvfm_tvf with refuse_resume=1, so
# every commit of a restored state fails (EINVAL, the device keeps its own
# state until reset). Passes when `nvme-vf-migrate migrate` fails with one
# error line naming the phase, the guest still counts on A (and B's QEMU
# runs no VM), A's VF is still assigned and provisioned, B's VF was released
# and B's PF is as at boot; then A's PF is as at boot once A lets go of its
# VF.
TB_HOSTS="a b"
TB_TIMEOUT=900

. /tb/scenarios/migrate-qemu.sh

host_a() {
	local v phase status c
	mq_source_ready
	mq_migrate "$MQ_B_PF"
	tb_metric migrate_wall_ms "$MQ_WALL_MS"
	if [ $MQ_RC -eq 0 ] || [ "$(mq_report .ok)" = true ]; then
		tb_pub migrated "fail: migrate succeeded"
		tb_fail "migrate succeeded (exit $MQ_RC, committed $(mq_report .committed)) although B's VF refuses every state"
	fi
	phase=$(mq_report '.failed_phase // empty')
	tb_log "migrate failed as it should: exit $MQ_RC, phase $phase, committed $(mq_report .committed)"
	tb_log "rollback: $(mq_report '.rollback // empty')"
	tb_metric failed_phase "$phase"
	tb_metric exit_status "$MQ_RC"
	[ "$(mq_report .committed)" = false ] || tb_fail "the failure came after the commit point"
	[ "$(grep -c '^nvme-vf-migrate: ' /run/tb/migrate.log)" -eq 1 ] ||
		tb_fail "not one error line: $(grep '^nvme-vf-migrate: ' /run/tb/migrate.log)"
	[ -n "$phase" ] && grep -q "^nvme-vf-migrate: .*$phase" /run/tb/migrate.log ||
		tb_fail "the error does not name the phase '$phase': $(grep '^nvme-vf-migrate: ' /run/tb/migrate.log)"
	tb_pub migrated "refused: $phase"

	# the VM runs on A, with its VF
	kill -0 "$TB_NESTED_PID" 2>/dev/null || tb_fail "A's nested QEMU is gone"
	for _ in $(seq 150); do
		status=$(tb_qmp '{"execute":"query-status"}' | jq -r .return.status)
		[ "$status" = running ] && break
		sleep 0.2
	done
	[ "$status" = running ] || tb_fail "the VM is $status on A after the rollback, not running"
	c=$(tb_guest_counting 120) || tb_fail "the guest does not count on A after the rollback"
	tb_log "guest keeps running on A (counter ${c/ / -> })"
	[ "$(basename "$(readlink -f "/sys/bus/pci/devices/$MQ_VF/driver")")" = nvfm_tvf ] ||
		tb_fail "A's VF $MQ_VF is no longer on nvfm_tvf"
	[ "$(tb_tvf_digest "$MQ_VF")" = "$MQ_DIGEST" ] || tb_fail "A's VF lost its state"
	[ "$(mq_online_count)" = 1 ] || tb_fail "A's PF has $(mq_online_count) VFs online, not its one"
	v=$(tb_peer_get b_checked 600) || tb_fail "B did not check its side"
	[ "$v" = ok ] || tb_fail "B: ${v#fail: }"

	# A lets go of its VM and VF: then nothing is left on A either
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
	mq_prepare 2 "${MR_B_PARAMS[@]:-refuse_resume=1}"
	mq_start_agent
	mq_dest_qemu
	tb_qmp_open /run/tb/nested.sock
	status=$(tb_qmp '{"execute":"query-status"}' | jq -r .return.status)
	[ "$status" = inmigrate ] || mq_fail_pub b_ready "B's QEMU is $status, not inmigrate"
	tb_peer_get digest 400 >/dev/null || tb_fail "no digest from A"
	tb_pub b_ready "$MQ_PF"

	v=$(tb_peer_get migrated 800) || tb_fail "A never finished migrating"
	tb_log "A: $v"
	dmesg | grep nvfm_tvf | tail -n 20
	for v in /sys/bus/pci/devices/*/nvfm_tvf_info; do
		[ -e "$v" ] && { echo "---- $v"; cat "$v"; }
	done
	v=$(tb_peer_get migrated 5)
	case "$v" in refused:*) ;; *) tb_fail "A: ${v#fail: }" ;; esac
	# B's QEMU runs no VM: the orchestrator made it quit
	if ! mq_nested_gone 60; then
		status=$(tb_qmp '{"execute":"query-status"}' | jq -r .return.status)
		mq_fail_pub b_checked "B's nested QEMU is still there ($status) after the rollback"
	fi
	tb_qmp_close
	TB_NESTED_PID=
	tb_log "B's nested QEMU is gone; its log:"
	cat /run/tb/nested.log
	v=$(mq_pf_changes)
	[ -z "$v" ] || mq_fail_pub b_checked "B's PF $MQ_PF differs from boot after the rollback: $v"
	tb_log "B's VF was released; B's PF as at boot"
	tb_pub b_checked ok
	mq_stop_agent
}
