# SPDX-License-Identifier: GPL-2.0-or-later
# qemu-migrate: QEMU's own VFIO migration code drives nvfm_tvf end to end.
# Host A runs a nested guest with its VF assigned (vfio-pci,
# enable-migration=on) and live-migrates it over QMP to a nested QEMU started
# with -incoming on host B, whose VF is bound to nvfm_tvf too. Passes when
# the guest keeps counting on B and B's VF holds exactly A's state (digest).
TB_HOSTS="a b"
TB_TIMEOUT=900
MIG_PORT=4444

# Both hosts: a VF bound to the test driver, each generated from its own seed
# so the digests differ until the state has moved.
tb_prepare_vf() {
	tb_tvf_load "seed=$1" state_size=$((4 << 20))
	TB_VF=$(tb_vf_provision 0) || exit 1
	tb_vf_bind "$TB_VF" nvfm_tvf
	tb_log "VF $TB_VF on nvfm_tvf, digest $(tb_tvf_digest "$TB_VF")"
}

# switchover-ack: QEMU's VFIO code holds the switchover until B has loaded
# the VF's PRE_COPY data.
tb_caps='{"execute":"migrate-set-capabilities","arguments":{"capabilities":['
tb_caps+='{"capability":"events","state":true},'
tb_caps+='{"capability":"return-path","state":true},'
tb_caps+='{"capability":"switchover-ack","state":true}]}}'

host_a() {
	local digest reply status c t0 last end
	tb_prepare_vf 1
	digest=$(tb_tvf_digest "$TB_VF")
	tb_pub digest "$digest"

	tb_nested_qemu "$TB_VF"
	tb_qmp_open /run/tb/nested.sock
	# ~9 s on a quiet machine; nested TCG slows tenfold when the build
	# machine is overloaded
	c=$(tb_guest_counting 300) || tb_fail "the nested guest does not run on A"
	tb_log "nested guest runs on A (counter ${c/ / -> })"
	tb_qmp "$tb_caps" | grep -q '"return"' || tb_fail "capabilities refused on A"
	# Without device dirty tracking QEMU counts all guest memory as dirty at
	# every pass, so the switchover has to fit the whole (16 MiB) guest over
	# the slow nested link: allow it, and report the downtime measured.
	tb_qmp '{"execute":"migrate-set-parameters","arguments":{"downtime-limit":8000}}' >/dev/null

	tb_peer_get ready 240 >/dev/null || tb_fail "host B never became ready"
	tb_log "B is listening; migrating"
	t0=$(date +%s%N)
	reply=$(tb_qmp "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:10.77.0.2:$MIG_PORT\"}}")
	echo "$reply" | grep -q '"return"' || tb_fail "migrate refused: $reply"
	status=
	last=0
	end=$(($(cut -d. -f1 /proc/uptime) + 400))
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		reply=$(tb_qmp '{"execute":"query-migrate"}')
		status=$(echo "$reply" | jq -r '.return.status')
		case "$status" in
		completed | failed | cancelled) break ;;
		esac
		if [ $(($(cut -d. -f1 /proc/uptime) - last)) -ge 10 ]; then
			last=$(cut -d. -f1 /proc/uptime)
			tb_log "migration $status: $(echo "$reply" | jq -c '{ram: .return.ram | {transferred, remaining, "dirty-sync-count", mbps}, vfio: .return.vfio}')"
		fi
		sleep 0.5
	done
	tb_log "migration $status: $reply"
	tb_pub migrated "$status"
	[ "$status" = completed ] || tb_fail "migration ended $status"
	tb_metric migration_wall_ms $((($(date +%s%N) - t0) / 1000000))
	tb_metric downtime_ms "$(echo "$reply" | jq -r '.return.downtime')"
	tb_metric total_time_ms "$(echo "$reply" | jq -r '.return."total-time"')"
	tb_metric vfio_transferred "$(echo "$reply" | jq -r '.return.vfio.transferred // "n/a"')"
	status=$(tb_qmp '{"execute":"query-status"}' | jq -r '.return.status')
	[ "$status" = postmigrate ] || tb_fail "source VM is $status after migration, not postmigrate"
	[ "$(tb_tvf_info "$TB_VF" saves)" -ge 1 ] || tb_fail "A's VF saw no completed save"
	tb_qmp '{"execute":"quit"}' >/dev/null
	tb_qmp_close
	tb_nested_stop
}

host_b() {
	local before digest_a digest status c reply end
	tb_prepare_vf 2
	before=$(tb_tvf_digest "$TB_VF")

	tb_nested_qemu "$TB_VF" -incoming defer
	tb_qmp_open /run/tb/nested.sock
	tb_qmp "$tb_caps" | grep -q '"return"' || tb_fail "capabilities refused on B"
	reply=$(tb_qmp "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"tcp:0.0.0.0:$MIG_PORT\"}}")
	echo "$reply" | grep -q '"return"' || tb_fail "migrate-incoming refused: $reply"
	digest_a=$(tb_peer_get digest 240) || tb_fail "no digest from A"
	[ "$before" != "$digest_a" ] || tb_fail "B's VF already held A's state"
	tb_pub ready yes

	status=$(tb_peer_get migrated 700) || tb_fail "A never finished migrating"
	[ "$status" = completed ] || tb_fail "A reports migration $status"
	end=$(($(cut -d. -f1 /proc/uptime) + 120))
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		status=$(tb_qmp '{"execute":"query-status"}' | jq -r '.return.status')
		[ "$status" = running ] && break
		sleep 0.2
	done
	[ "$status" = running ] || tb_fail "the VM is $status on B, not running"
	c=$(tb_guest_counting 120) || tb_fail "the guest does not run on B"
	tb_log "guest keeps running on B (counter ${c/ / -> })"

	digest=$(tb_tvf_digest "$TB_VF")
	tb_log "B's VF: $(tb_tvf_info "$TB_VF" origin), digest $digest"
	cat "/sys/bus/pci/devices/$TB_VF/nvfm_tvf_info"
	[ "$digest" = "$digest_a" ] || tb_fail "B's VF digest $digest differs from A's $digest_a"
	[ "$(tb_tvf_info "$TB_VF" restores)" = 1 ] || tb_fail "B's VF did not commit one restore"
	tb_qmp '{"execute":"quit"}' >/dev/null
	tb_qmp_close
	tb_nested_stop
}
