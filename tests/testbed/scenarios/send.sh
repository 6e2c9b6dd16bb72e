# SPDX-License-Identifier: GPL-2.0-or-later
# send: direct mode: `nvme-vf-migrate send` from A's VF into a VF B's agent provisions.
# Host B runs `nvme-vf-migrate agent`. Host A provisions a VF on its PF
# bound to nvfm_tvf, has B's agent provision one bound to nvfm_tvf too
# (`agent request provision`), and sends its VF's state into that
# reservation: once stop-copy only (destination left in STOP), once with
# PRE_COPY rounds and --run. Passes when, each time, B's fresh VF holds
# exactly A's state (digest, one committed restore), both VFs are released
# and neither PF leaked anything (numvfs, secondary controllers offline,
# resources back). The agent speaks TLS when the runner could make
# certificates (certtool on the build machine), plain TCP otherwise.
TB_HOSTS="a b"
TB_TIMEOUT=900

AGENT_ADDR=10.77.0.2:16590
# big enough that the transfer's figures mean something on this link
STATE_SIZE=$((16 << 20))
ROUNDS="1 2"

# Both hosts pick the same transport: the payload is the same.
if [ -d /tb/pki/server ] && [ -d /tb/pki/client ]; then
	TB_TLS=tls
	TB_AGENT_TLS=(--tls-dir /tb/pki/server --allow host-a)
	TB_CLIENT_TLS=(--tls-dir /tb/pki/client)
else
	TB_TLS=insecure
	TB_AGENT_TLS=(--insecure)
	TB_CLIENT_TLS=(--insecure)
fi

# Round N: A's VF is generated from seed 2N-1, B's from 2N, so the digests
# differ until the state has moved.
tb_seed() { echo "$1" >/sys/module/nvfm_tvf/parameters/seed; }

tb_send_prepare() {
	command -v nvme-vf-migrate >/dev/null ||
		tb_fail "nvme-vf-migrate is not in the payload (NVFM_CLI unset)"
	tb_tvf_load seed=1 "state_size=$STATE_SIZE"
	TB_PF=$(tb_pf_addr) || tb_fail "no NVMe PF with SR-IOV"
	TB_PF_BEFORE=$(tb_pf_snapshot "$TB_PF") || tb_fail "cannot read PF $TB_PF: $TB_PF_BEFORE"
	tb_log "PF $TB_PF before:"
	echo "$TB_PF_BEFORE"
	tb_pf_idle "$TB_PF_BEFORE" || tb_fail "PF $TB_PF is not idle at boot"
}

# tb_send_pf_changes: what differs from the PF's snapshot at boot (nothing
# when it is as it was). Files, not <(...): these hosts have no /dev/fd.
tb_send_pf_changes() {
	echo "$TB_PF_BEFORE" >/run/tb/pf-before
	tb_pf_snapshot "$TB_PF" >/run/tb/pf-now
	diff /run/tb/pf-before /run/tb/pf-now | grep '^[<>]' | tr '\n' ' '
}

host_a() {
	local b_pf r vf digest res resv bvf bdrv b_before out rc t0 wall v args
	tb_send_prepare
	tb_metric transport "$TB_TLS"
	b_pf=$(tb_peer_get b_pf 300) || tb_fail "host B's agent never became ready"
	nvme-vf-migrate --json agent request status --to "$AGENT_ADDR" "${TB_CLIENT_TLS[@]}" ||
		tb_fail "B's agent does not answer a status request"

	for r in $ROUNDS; do
		tb_log "---- round $r ----"
		tb_seed $((2 * r - 1))
		out=$(nvme-vf-migrate --json vf provision "$TB_PF" --driver nvfm_tvf --require-migration) ||
			tb_fail "provisioning A's VF failed: $out"
		vf=$(echo "$out" | jq -r .address)
		[ "$(echo "$out" | jq -r .driver)" = nvfm_tvf ] || tb_fail "A's VF is not on nvfm_tvf: $out"
		digest=$(tb_tvf_digest "$vf")
		tb_log "A's VF $vf on nvfm_tvf, digest $digest"

		tb_peer_get "b_ready_$r" 300 >/dev/null || tb_fail "B is not ready for round $r"
		res=$(nvme-vf-migrate --json agent request provision --to "$AGENT_ADDR" "${TB_CLIENT_TLS[@]}" \
			"pf=$b_pf" driver=nvfm_tvf require_migration=true) ||
			tb_fail "B's agent refused to provision: $res"
		echo "$res"
		resv=$(echo "$res" | jq -r '.reservation // empty')
		bvf=$(echo "$res" | jq -r '.vf // empty')
		bdrv=$(echo "$res" | jq -r '.driver // empty')
		[ -n "$resv" ] && [ -n "$bvf" ] || tb_fail "no reservation or VF in B's answer: $res"
		[ "$bdrv" = nvfm_tvf ] || tb_fail "B's agent bound its VF to '$bdrv', not nvfm_tvf"
		tb_pub "provisioned_$r" "$bvf"
		b_before=$(tb_peer_get "b_before_$r" 300) || tb_fail "B did not look at its VF"
		case "$b_before" in
		fail:*) tb_fail "B: ${b_before#fail: }" ;;
		"$digest") tb_fail "B's fresh VF already holds A's state" ;;
		esac

		args=(--reservation "$resv")
		[ "$r" = 2 ] && args+=(--precopy-rounds 4 --run)
		tb_log "send vfio:$vf --to $AGENT_ADDR ${args[*]} ($TB_TLS)"
		t0=$(date +%s%N)
		out=$(nvme-vf-migrate --json send "vfio:$vf" --to "$AGENT_ADDR" "${TB_CLIENT_TLS[@]}" \
			--timeout 120 "${args[@]}")
		rc=$?
		wall=$((($(date +%s%N) - t0) / 1000000))
		echo "$out"
		[ $rc -eq 0 ] && [ "$(echo "$out" | jq -r .ok)" = true ] ||
			tb_fail "send failed (exit $rc): $(echo "$out" | jq -r '.error // empty')"
		v=$(echo "$out" | jq -r .source_state)
		[ "$v" = STOP ] || tb_fail "A's VF is $v after send, not STOP"
		v=$(echo "$out" | jq -r .remote.state)
		if [ "$r" = 2 ]; then
			[ "$v" = RUNNING ] || tb_fail "B's VF is $v after send --run, not RUNNING"
		else
			[ "$v" = STOP ] || tb_fail "B's VF is $v after send, not STOP"
		fi
		[ "$(tb_tvf_info "$vf" saves)" -ge 1 ] || tb_fail "A's VF saw no completed save"
		[ "$(tb_tvf_digest "$vf")" = "$digest" ] || tb_fail "saving changed A's state"
		tb_metric "send${r}_wall_ms" "$wall"
		tb_metric "send${r}_total_bytes" "$(echo "$out" | jq -r .stats.total_bytes)"
		tb_metric "send${r}_precopy_rounds" "$(echo "$out" | jq -r .stats.precopy_rounds)"
		tb_metric "send${r}_precopy_bytes" "$(echo "$out" | jq -r .stats.precopy_bytes)"
		tb_metric "send${r}_stop_copy_bytes" "$(echo "$out" | jq -r .stats.stop_copy_bytes)"
		tb_metric "send${r}_stop_copy_ms" "$(echo "$out" | jq -r '.stats.stop_copy_seconds * 1000 | round')"
		tb_metric "send${r}_total_ms" "$(echo "$out" | jq -r '.stats.total_seconds * 1000 | round')"
		tb_metric "send${r}_commit_ms" "$(echo "$out" | jq -r '.remote.commit_seconds * 1000 | round')"
		tb_metric "send${r}_mib_s" "$(echo "$out" |
			jq -r 'if .stats.total_seconds > 0 then .stats.total_bytes / .stats.total_seconds / 1048576 * 10 | round / 10 else 0 end')"
		tb_pub "sent_$r" "$digest"

		v=$(tb_peer_get "b_checked_$r" 300) || tb_fail "B did not check its VF"
		[ "$v" = ok ] || tb_fail "B: ${v#fail: }"
		res=$(nvme-vf-migrate --json agent request release --to "$AGENT_ADDR" "${TB_CLIENT_TLS[@]}" \
			"reservation=$resv") || tb_fail "B's agent did not release $resv: $res"
		nvme-vf-migrate vf release "$vf" || tb_fail "releasing A's VF $vf failed"
		v=$(tb_send_pf_changes)
		[ -z "$v" ] || tb_fail "PF $TB_PF after round $r differs from before (leak): $v"
		tb_pub "released_$r" yes
		v=$(tb_peer_get "b_clean_$r" 300) || tb_fail "B did not check its PF"
		[ "$v" = ok ] || tb_fail "B: ${v#fail: }"
		tb_log "round $r: B's VF held A's state; both PFs as before"
	done
}

# Failures are published before they are raised, so A stops waiting.
tb_b_fail() {
	tb_pub "$1" "fail: $2"
	tb_fail "$2"
}

host_b() {
	local r vf before digest_a i n v
	tb_send_prepare
	nvme-vf-migrate -v agent --listen "$AGENT_ADDR" "${TB_AGENT_TLS[@]}" --log stderr --driver nvfm_tvf \
		--timeout 120 >/run/tb/agent.log 2>&1 &
	TB_AGENT_PID=$!
	tb_wait_listen "${AGENT_ADDR##*:}" $TB_AGENT_PID /run/tb/agent.log
	tb_log "agent (pid $TB_AGENT_PID, $TB_TLS) listens on $AGENT_ADDR"
	tb_pub b_pf "$TB_PF"

	for r in $ROUNDS; do
		tb_seed $((2 * r))
		tb_pub "b_ready_$r" yes
		vf=$(tb_peer_get "provisioned_$r" 300) || tb_fail "A never had a VF provisioned here"
		n=$(basename "$(readlink -f "/sys/bus/pci/devices/$vf/driver" 2>/dev/null)")
		[ "$n" = nvfm_tvf ] || tb_b_fail "b_before_$r" "the agent's VF $vf is on '$n', not nvfm_tvf"
		[ "$(tb_tvf_info "$vf" origin)" = generated ] ||
			tb_b_fail "b_before_$r" "the agent's VF $vf is not fresh: $(tb_tvf_info "$vf" origin)"
		before=$(tb_tvf_digest "$vf")
		tb_log "round $r: the agent provisioned $vf on nvfm_tvf, digest $before"
		tb_pub "b_before_$r" "$before"

		digest_a=$(tb_peer_get "sent_$r" 300) || tb_fail "A never sent"
		cat "/sys/bus/pci/devices/$vf/nvfm_tvf_info"
		[ "$(tb_tvf_digest "$vf")" = "$digest_a" ] ||
			tb_b_fail "b_checked_$r" "B's VF digest $(tb_tvf_digest "$vf") differs from A's $digest_a"
		[ "$(tb_tvf_info "$vf" origin)" = restored ] ||
			tb_b_fail "b_checked_$r" "B's VF state is $(tb_tvf_info "$vf" origin), not restored"
		[ "$(tb_tvf_info "$vf" restores)" = 1 ] ||
			tb_b_fail "b_checked_$r" "B's VF committed $(tb_tvf_info "$vf" restores) restores, not 1"
		tb_log "round $r: B's VF holds A's state ($digest_a)"
		tb_pub "b_checked_$r" ok

		tb_peer_get "released_$r" 300 >/dev/null || tb_fail "A never released"
		[ -e "/sys/bus/pci/devices/$vf/driver" ] &&
			tb_b_fail "b_clean_$r" "B's VF $vf is still bound after release"
		v=$(tb_send_pf_changes)
		[ -z "$v" ] || tb_b_fail "b_clean_$r" "PF $TB_PF after round $r differs from before (leak): $v"
		tb_pub "b_clean_$r" ok
	done

	kill -TERM $TB_AGENT_PID
	for i in $(seq 100); do
		kill -0 $TB_AGENT_PID 2>/dev/null || break
		sleep 0.1
	done
	kill -0 $TB_AGENT_PID 2>/dev/null && { kill -9 $TB_AGENT_PID; tb_fail "the agent ignored SIGTERM"; }
	wait $TB_AGENT_PID
	n=$?
	echo "---- agent log (without debug lines) ----"
	grep -v -- '-DEBUG: ' /run/tb/agent.log
	[ $n -eq 0 ] || tb_fail "the agent exited $n on SIGTERM"
	[ -z "$(ls -A /run/nvme-vf-migrate/agent/reservations 2>/dev/null)" ] ||
		tb_fail "the agent kept reservations: $(ls /run/nvme-vf-migrate/agent/reservations)"
}
