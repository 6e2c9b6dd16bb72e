# SPDX-License-Identifier: GPL-2.0-or-later
# migrate-qemu: `nvme-vf-migrate migrate --device-state qemu` moves a nested VM and its VF from A to B.
# Host A runs a nested guest with a VF of its PF (nvfm_tvf) assigned through
# vfio-pci (enable-migration=on, behind a pcie-root-port); host B runs
# `nvme-vf-migrate agent` and a nested QEMU with the same machine minus the
# VF, waiting with -incoming defer. A runs the orchestrator with the qemu
# mover: B's agent provisions a fresh VF, the orchestrator device_adds it
# into B's QEMU, QEMU migrates the VM and the VF's state, A's QEMU quits and
# A's VF is released. Passes when the guest keeps counting on B, B's fresh
# VF holds exactly A's state (digest, one committed restore), A's PF is as at
# boot and B's PF differs from its boot state only by the VF in use (and is
# as at boot once that is released). migrate-refused.sh reuses the helpers.
TB_HOSTS="a b"
TB_TIMEOUT=900

# the VF's variant driver and the nested guest; the NVMe live-migration
# scenarios (lm-*.sh) set them before sourcing this file
MQ_DRIVER=${MQ_DRIVER:-nvfm_tvf}
MQ_GUEST=${MQ_GUEST:-/tb/guest/counter.elf}
TB_NESTED_KERNEL=$MQ_GUEST
MQ_AGENT=10.77.0.2:16590
# B's nested QEMU's monitor for A's orchestrator: a UNIX socket that B's
# agent relays over its (TLS) link (--qmp-dir), never QMP on TCP
MQ_QMP_DIR=/run/tb/qmp
MQ_DEST_QMP=$MQ_QMP_DIR/dest.qmp
MQ_URI=tcp:10.77.0.2:4444
# what the nested guest's state and the link allow (see qemu-migrate.sh):
# all 16 MiB of guest RAM count as dirty at every pass
MQ_DOWNTIME_LIMIT=8000

# A's orchestrator reserves B's VF; once the VM has moved, B itself
# releases it (mq_b_release). A reservation belongs to the identity that
# made it: with TLS both hosts carry the same client certificate (host-a),
# so B releases as that owner; on plain TCP the owner is A's address, and
# B's own address is made the agent's --admin, deliberately.
if [ -d /tb/pki/server ] && [ -d /tb/pki/client ]; then
	MQ_TLS=tls
	MQ_AGENT_TLS=(--tls-dir /tb/pki/server --allow host-a)
	MQ_CLIENT_TLS=(--tls-dir /tb/pki/client)
else
	MQ_TLS=insecure
	MQ_AGENT_TLS=(--insecure --admin "${MQ_AGENT%:*}")
	MQ_CLIENT_TLS=(--insecure)
fi

# mq_prepare SEED [PARAM=VALUE...]: the driver, the PF and its boot snapshot.
mq_prepare() {
	local seed=$1
	shift
	command -v nvme-vf-migrate >/dev/null ||
		tb_fail "nvme-vf-migrate is not in the payload (NVFM_CLI unset)"
	if [ "$MQ_DRIVER" = nvfm_tvf ]; then
		tb_tvf_load "seed=$seed" "state_size=${MQ_STATE_SIZE:-$((4 << 20))}" "$@"
	else
		tb_lm_load "$@"
	fi
	MQ_PF=$(tb_pf_addr) || tb_fail "no NVMe PF with SR-IOV"
	MQ_PF_BOOT=$(tb_pf_snapshot "$MQ_PF") || tb_fail "cannot read PF $MQ_PF: $MQ_PF_BOOT"
	tb_log "PF $MQ_PF at boot:"
	echo "$MQ_PF_BOOT"
	tb_pf_idle "$MQ_PF_BOOT" || tb_fail "PF $MQ_PF is not idle at boot"
}

# mq_pf_changes: how the PF differs from its boot snapshot (empty: not at
# all). Files, not <(...): these hosts have no /dev/fd.
mq_pf_changes() {
	echo "$MQ_PF_BOOT" >/run/tb/pf-boot
	tb_pf_snapshot "$MQ_PF" >/run/tb/pf-now
	diff /run/tb/pf-boot /run/tb/pf-now | grep '^[<>]' | tr '\n' ' '
}

# mq_online_count: the PF's secondary controllers that are online now.
mq_online_count() {
	tb_pf_snapshot "$MQ_PF" | grep -c '"online":[^0]'
}

mq_start_agent() {
	mkdir -p "$MQ_QMP_DIR"
	nvme-vf-migrate -v agent --listen "$MQ_AGENT" "${MQ_AGENT_TLS[@]}" --log stderr --driver "$MQ_DRIVER" \
		--qmp-dir "$MQ_QMP_DIR" --timeout 120 >/run/tb/agent.log 2>&1 &
	MQ_AGENT_PID=$!
	tb_wait_listen "${MQ_AGENT##*:}" $MQ_AGENT_PID /run/tb/agent.log
	tb_log "agent (pid $MQ_AGENT_PID, $MQ_TLS) listens on $MQ_AGENT"
}

# mq_stop_agent: SIGTERM; it must exit 0 and keep no reservation.
mq_stop_agent() {
	local rc
	kill -TERM $MQ_AGENT_PID
	for _ in $(seq 100); do
		kill -0 $MQ_AGENT_PID 2>/dev/null || break
		sleep 0.1
	done
	kill -0 $MQ_AGENT_PID 2>/dev/null && { kill -9 $MQ_AGENT_PID; tb_fail "the agent ignored SIGTERM"; }
	wait $MQ_AGENT_PID
	rc=$?
	echo "---- agent log (without debug lines) ----"
	grep -v -- '-DEBUG: ' /run/tb/agent.log
	[ $rc -eq 0 ] || tb_fail "the agent exited $rc on SIGTERM"
	[ -z "$(ls -A /run/nvme-vf-migrate/agent/reservations 2>/dev/null)" ] ||
		tb_fail "the agent kept reservations: $(ls /run/nvme-vf-migrate/agent/reservations)"
}

# mq_dest_qemu: B's nested QEMU: A's machine and devices minus the VF (the
# orchestrator plugs B's VF into rp0), waiting for the VM. QMP on a local
# socket for the checks here and on one under B's agent's --qmp-dir for A's
# orchestrator (--dest-vm agent:PATH).
mq_dest_qemu() {
	mkdir -p "$MQ_QMP_DIR"
	qemu-system-x86_64 -machine q35 -accel tcg,tb-size=64 -cpu qemu64 -smp 1 -m 16 \
		-nodefaults -no-user-config -display none -serial none -monitor none \
		-kernel "$MQ_GUEST" \
		-device pcie-root-port,id=rp0,chassis=1,bus=pcie.0,addr=0x3 \
		${MQ_DEST_EXTRA:-} \
		-qmp unix:/run/tb/nested.sock,server=on,wait=off \
		-qmp "unix:$MQ_DEST_QMP,server=on,wait=off" \
		-incoming defer >/run/tb/nested.log 2>&1 &
	TB_NESTED_PID=$!
	echo $TB_NESTED_PID >/run/tb/nested.pid
}

# mq_source_vm: A's VF on nvfm_tvf in a running nested guest; a second QMP
# socket is the orchestrator's. Sets MQ_VF and MQ_DIGEST.
mq_source_vm() {
	local out c
	out=$(nvme-vf-migrate --json vf provision "$MQ_PF" --driver nvfm_tvf --require-migration) ||
		tb_fail "provisioning A's VF failed: $out"
	MQ_VF=$(echo "$out" | jq -r .address)
	[ "$(echo "$out" | jq -r .driver)" = nvfm_tvf ] || tb_fail "A's VF is not on nvfm_tvf: $out"
	MQ_DIGEST=$(tb_tvf_digest "$MQ_VF")
	tb_log "A's VF $MQ_VF on nvfm_tvf, digest $MQ_DIGEST"
	tb_nested_qemu "$MQ_VF" -qmp unix:/run/tb/vm.qmp,server=on,wait=off
	tb_qmp_open /run/tb/nested.sock
	c=$(tb_guest_counting 300) || tb_fail "the nested guest does not run on A"
	tb_log "nested guest runs on A (counter ${c/ / -> })"
}

# mq_migrate: runs the orchestrator on $MQ_VFS (default: $MQ_VF, as the
# VM's vf0); its exit status in MQ_RC, the report in /run/tb/report.json,
# its stderr in /run/tb/migrate.log.
mq_migrate() {
	local b_pf=$1 t0 vfs=${MQ_VFS:-$MQ_VF} dev=(--vm-device vf0)
	# several VFs: each device is found by its host address
	[ "$vfs" = "$MQ_VF" ] || dev=()
	tb_log "migrate $vfs --device-state qemu --to $MQ_AGENT --dest-pf $b_pf ($MQ_TLS)"
	t0=$(date +%s%N)
	# shellcheck disable=SC2086
	nvme-vf-migrate -v migrate $vfs --device-state qemu --to "$MQ_AGENT" "${MQ_CLIENT_TLS[@]}" \
		--dest-pf "$b_pf" --dest-driver "$MQ_DRIVER" ${MQ_MIGRATE_ARGS:-} \
		--vm unix:/run/tb/vm.qmp --dest-vm "agent:$MQ_DEST_QMP" --migrate-uri "$MQ_URI" \
		"${dev[@]}" --downtime-limit "$MQ_DOWNTIME_LIMIT" \
		--phase-timeout preflight=120 --phase-timeout reserve=240 \
		--report /run/tb/report.json >/run/tb/migrate.out 2>/run/tb/migrate.log
	MQ_RC=$?
	MQ_WALL_MS=$((($(date +%s%N) - t0) / 1000000))
	tb_log "migrate exited $MQ_RC after $MQ_WALL_MS ms"
	cat /run/tb/migrate.out
	grep -v -- '-DEBUG: ' /run/tb/migrate.log
	[ -s /run/tb/report.json ] || tb_fail "migrate wrote no report (exit $MQ_RC)"
	jq -M -c . /run/tb/report.json
}

mq_report() { jq -r "$1" /run/tb/report.json; }

# mq_report_vfs N: the report lists N VFs (each pair logged)
mq_report_vfs() {
	tb_log "per VF: $(jq -c '[.vfs[] | {source_vf, destination_vf}]' /run/tb/report.json)"
	[ "$(mq_report '.vfs | length')" = "$1" ] || tb_fail "the report lists $(mq_report '.vfs | length') VFs, not $1"
}

# mq_nested_gone TIMEOUT: whether the nested QEMU has exited.
mq_nested_gone() {
	local end=$(($(cut -d. -f1 /proc/uptime) + $1))
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		kill -0 "$TB_NESTED_PID" 2>/dev/null || return 0
		sleep 0.2
	done
	return 1
}

# mq_source_ready: A's side up to the migration: the source VM with its
# VF, its digest published, B ready; B's PF address in MQ_B_PF.
mq_source_ready() {
	mq_prepare 1
	tb_metric transport "$MQ_TLS"
	${MQ_SOURCE_VM:-mq_source_vm}
	tb_pub digest "${MQ_DIGEST:-none}"
	MQ_B_PF=$(tb_peer_get b_ready 300) || tb_fail "host B never became ready"
	case "$MQ_B_PF" in fail:*) tb_fail "B: ${MQ_B_PF#fail: }" ;; esac
}

# mq_source_released VF [HOW]: after the migration, A's VF is unbound and
# A's PF is as at boot.
mq_source_released() {
	local v
	[ ! -e "/sys/bus/pci/devices/$1/driver" ] || tb_fail "A's VF $1 is still bound"
	v=$(mq_pf_changes)
	[ -z "$v" ] || tb_fail "A's PF $MQ_PF differs from boot after the migration: $v"
	tb_log "A's VF released${2:+ $2}; A's PF as at boot"
}

# Failures are published before they are raised, so the peer stops waiting.
mq_fail_pub() {
	tb_pub "$1" "fail: $2"
	tb_fail "$2"
}

# mq_migrated_a: A after a migrate that should have succeeded: its
# figures, B told which VF, A's QEMU gone and A's VF released, B's verdict.
mq_migrated_a() {
	local status v
	if [ $MQ_RC -ne 0 ] || [ "$(mq_report .ok)" != true ]; then
		tb_pub migrated "fail: migrate exited $MQ_RC: $(mq_report '.error // empty')"
		tb_fail "migrate failed (exit $MQ_RC) in $(mq_report '.failed_phase // "?"'): $(mq_report '.error // empty')"
	fi
	tb_metric migrate_wall_ms "$MQ_WALL_MS"
	tb_metric downtime_ms "$(mq_report '.downtime_ms | round')"
	tb_metric state_transfer_ms "$(mq_report '(.state_transfer_ms // 0) | round')"
	tb_metric migrate_total_ms "$(mq_report '.total_ms | round')"
	tb_metric vfio_bytes "$(mq_report .state_bytes)"
	[ "$(mq_report .committed)" = true ] || tb_fail "the report says not committed"
	# every destination VF, in the order of the source VFs
	tb_pub migrated "$(mq_report '[.vfs[].destination_vf] | join(" ")')"

	# the orchestrator made A's QEMU quit and released A's VF
	mq_nested_gone 60 || tb_fail "A's nested QEMU still runs after the migration"
	tb_qmp_close
	TB_NESTED_PID=
	for v in ${MQ_VFS:-$MQ_VF}; do
		mq_source_released "$v"
	done
	status=$(tb_peer_get b_checked 900) || tb_fail "B did not check the VM"
	[ "$status" = ok ] || tb_fail "B: ${status#fail: }"
}

# mq_b_ready [PARAM=VALUE...]: B up to the migration: the driver (with
# PARAMs), the agent, the nested QEMU waiting in -incoming, its PF idle;
# A's published digest in MQ_A_DIGEST.
mq_b_ready() {
	local status
	mq_prepare 2 "$@"
	mq_start_agent
	mq_dest_qemu
	tb_qmp_open /run/tb/nested.sock
	status=$(tb_qmp '{"execute":"query-status"}' | jq -r .return.status)
	[ "$status" = inmigrate ] || mq_fail_pub b_ready "B's QEMU is $status, not inmigrate"
	MQ_A_DIGEST=$(tb_peer_get digest 400) || tb_fail "no word from A's guest"
	[ "$(mq_online_count)" = 0 ] || mq_fail_pub b_ready "B's PF has a VF online before the migration"
	tb_pub b_ready "$MQ_PF"
}

# mq_b_vf_host INDEX: the host VF behind B's vfio-pci device vfINDEX
mq_b_vf_host() {
	tb_qmp "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/vf$1\",\"property\":\"host\"}}" |
		jq -r '.return // empty'
}

# mq_b_vfs N CHECK: B's vf0, vf1... are the N destination VFs A named, in
# the source VFs' order; CHECK HOST INDEX checks each; MQ_DVFS lists them.
mq_b_vfs() {
	local d i=0 host
	for d in $(tb_peer_get migrated 10); do
		host=$(mq_b_vf_host $i)
		[ -n "$host" ] && [ "${d#*"$host"}" != "$d" ] ||
			mq_fail_pub b_checked "B's vf$i is host=$host, not the provisioned VF $d"
		"$2" "$host" $i
		MQ_DVFS="${MQ_DVFS:-}${MQ_DVFS:+ }$host"
		i=$((i + 1))
	done
	[ "$i" = "$1" ] || mq_fail_pub b_checked "A migrated $i VFs, not $1"
}

# mq_b_running: after A's word, the VM runs on B with the VF the agent
# provisioned; sets MQ_DVF (its PCI address).
mq_b_running() {
	local dvf status v
	dvf=$(tb_peer_get migrated 900) || tb_fail "A never finished migrating"
	case "$dvf" in fail:*) tb_fail "A: ${dvf#fail: }" ;; esac
	for _ in $(seq 300); do
		status=$(tb_qmp '{"execute":"query-status"}' | jq -r .return.status)
		[ "$status" = running ] && break
		sleep 0.2
	done
	[ "$status" = running ] || mq_fail_pub b_checked "the VM is $status on B, not running"
	v=$(mq_b_vf_host 0)
	tb_log "B's vfio-pci vf0: host=$v; the agent provisioned $dvf"
	[ -n "$v" ] && [ "${dvf#*$v}" != "$dvf" ] ||
		mq_fail_pub b_checked "B's vf0 is host=$v, not the provisioned VF $dvf"
	MQ_DVF=$v
	v=$(basename "$(readlink -f "/sys/bus/pci/devices/$MQ_DVF/driver" 2>/dev/null)")
	[ "$v" = "$MQ_DRIVER" ] || mq_fail_pub b_checked "B's VF $MQ_DVF is on '$v', not $MQ_DRIVER"
}

# mq_b_release: B hands the VFs back ($MQ_DVFS, default $MQ_DVF): the VM
# quits, the agent releases them; then B's PF is as at boot and B's
# verdict is published.
mq_b_release() {
	local v d dvfs=${MQ_DVFS:-$MQ_DVF} n
	n=$(echo "$dvfs" | wc -w)
	[ "$(mq_online_count)" = "$n" ] ||
		mq_fail_pub b_checked "B's PF has $(mq_online_count) VFs online, not the $n in use"
	tb_qmp '{"execute":"quit"}' >/dev/null
	tb_qmp_close
	mq_nested_gone 30 || mq_fail_pub b_checked "B's nested QEMU does not quit"
	TB_NESTED_PID=
	for d in $dvfs; do
		v=$(nvme-vf-migrate --json agent request release --to "$MQ_AGENT" "${MQ_CLIENT_TLS[@]}" "vf=$d" 2>&1) ||
			mq_fail_pub b_checked "the agent did not release $d: $v"
	done
	v=$(mq_pf_changes)
	[ -z "$v" ] || mq_fail_pub b_checked "B's PF $MQ_PF differs from boot after the release: $v"
	tb_pub b_checked ok
	mq_stop_agent
}

host_a() {
	mq_source_ready
	mq_migrate "$MQ_B_PF"
	mq_migrated_a
}

# mq_b_more: a variant's own checks of B's running VM (none here)
command -v mq_b_more >/dev/null || mq_b_more() { :; }

host_b() {
	local dvf c
	mq_b_ready
	mq_b_running
	mq_b_more
	dvf=$MQ_DVF
	c=$(tb_guest_counting 120) || mq_fail_pub b_checked "the guest does not count on B"
	tb_log "guest keeps running on B (counter ${c/ / -> })"
	cat "/sys/bus/pci/devices/$dvf/nvfm_tvf_info"
	[ "$(tb_tvf_digest "$dvf")" = "$MQ_A_DIGEST" ] ||
		mq_fail_pub b_checked "B's VF digest $(tb_tvf_digest "$dvf") differs from A's $MQ_A_DIGEST"
	[ "$(tb_tvf_info "$dvf" origin)" = restored ] ||
		mq_fail_pub b_checked "B's VF state is $(tb_tvf_info "$dvf" origin), not restored"
	[ "$(tb_tvf_info "$dvf" restores)" = 1 ] ||
		mq_fail_pub b_checked "B's VF committed $(tb_tvf_info "$dvf" restores) restores, not 1"
	[ "$(tb_tvf_info "$dvf" mig_state)" = RUNNING ] ||
		mq_fail_pub b_checked "B's VF is $(tb_tvf_info "$dvf" mig_state), not RUNNING"
	tb_log "B's VF $dvf holds A's state ($MQ_A_DIGEST)"
	mq_b_release
}
