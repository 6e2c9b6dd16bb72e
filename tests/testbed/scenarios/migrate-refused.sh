# SPDX-License-Identifier: GPL-2.0-or-later
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

# mr_refused_a: A after a migrate that must have failed: before the commit
# point, one error line naming the phase (in MR_PHASE), B told; the VM runs
# on A again.
mr_refused_a() {
	local status
	tb_metric migrate_wall_ms "$MQ_WALL_MS"
	if [ $MQ_RC -eq 0 ] || [ "$(mq_report .ok)" = true ]; then
		tb_pub migrated "fail: migrate succeeded"
		tb_fail "migrate succeeded (exit $MQ_RC, committed $(mq_report .committed)) although B's VF refuses every state"
	fi
	MR_PHASE=$(mq_report '.failed_phase // empty')
	tb_log "migrate failed as it should: exit $MQ_RC, phase $MR_PHASE, committed $(mq_report .committed)"
	tb_log "rollback: $(mq_report '.rollback // empty')"
	tb_metric failed_phase "$MR_PHASE"
	tb_metric exit_status "$MQ_RC"
	# how long B's guest ran before the rollback stopped it (0: never; a
	# QEMU that ended by itself leaves it unknown), docs/orchestrator.md
	tb_metric destination_ran_ms "$(mq_report '.destination_ran_ms // "unknown"')"
	[ "$(mq_report .committed)" = false ] || tb_fail "the failure came after the commit point"
	[ "$(grep -c '^nvme-vf-migrate: ' /run/tb/migrate.log)" -eq 1 ] ||
		tb_fail "not one error line: $(grep '^nvme-vf-migrate: ' /run/tb/migrate.log)"
	[ -n "$MR_PHASE" ] && grep -q "^nvme-vf-migrate: .*$MR_PHASE" /run/tb/migrate.log ||
		tb_fail "the error does not name the phase '$MR_PHASE': $(grep '^nvme-vf-migrate: ' /run/tb/migrate.log)"
	tb_pub migrated "refused: $MR_PHASE"

	# the VM runs on A, with its VF
	kill -0 "$TB_NESTED_PID" 2>/dev/null || tb_fail "A's nested QEMU is gone"
	for _ in $(seq 150); do
		status=$(tb_qmp '{"execute":"query-status"}' | jq -r .return.status)
		[ "$status" = running ] && break
		sleep 0.2
	done
	[ "$status" = running ] || tb_fail "the VM is $status on A after the rollback, not running"
}

# mr_release_a: A's VF still on its driver and A's only one; B's verdict;
# then A lets go of its VM and VF and nothing is left on A either.
mr_release_a() {
	local v
	[ "$(basename "$(readlink -f "/sys/bus/pci/devices/$MQ_VF/driver")")" = "$MQ_DRIVER" ] ||
		tb_fail "A's VF $MQ_VF is no longer on $MQ_DRIVER"
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

host_a() {
	local c
	mq_source_ready
	mq_migrate "$MQ_B_PF"
	mr_refused_a
	c=$(tb_guest_counting 120) || tb_fail "the guest does not count on A after the rollback"
	tb_log "guest keeps running on A (counter ${c/ / -> })"
	[ "$(tb_tvf_digest "$MQ_VF")" = "$MQ_DIGEST" ] || tb_fail "A's VF lost its state"
	mr_release_a
}

# mr_b_refused: B after A's word: its QEMU runs no VM, its PF is as at
# boot (its VF was released), its verdict published.
mr_b_refused() {
	local v status
	v=$(tb_peer_get migrated 900) || tb_fail "A never finished migrating"
	tb_log "A: $v"
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
	${MR_B_CHECK:-:}
	v=$(mq_pf_changes)
	[ -z "$v" ] || mq_fail_pub b_checked "B's PF $MQ_PF differs from boot after the rollback: $v"
	tb_log "B's VF was released; B's PF as at boot"
	tb_pub b_checked ok
	mq_stop_agent
}

mr_tvf_info() {
	local v
	dmesg | grep nvfm_tvf | tail -n 20
	for v in /sys/bus/pci/devices/*/nvfm_tvf_info; do
		[ -e "$v" ] && { echo "---- $v"; cat "$v"; }
	done
	return 0
}

host_b() {
	MR_B_CHECK=${MR_B_CHECK:-mr_tvf_info}
	mq_b_ready "${MR_B_PARAMS[@]:-refuse_resume=1}"
	mr_b_refused
}
