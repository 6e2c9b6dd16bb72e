# SPDX-License-Identifier: GPL-2.0-or-later
# migrate-qemu-two-vfs: `nvme-vf-migrate migrate VF1 VF2 --device-state qemu` moves a nested VM with two VFs as one unit.
# As migrate-qemu.sh, with both of A's PF's VFs on nvfm_tvf in the nested
# VM (vf0 behind rp0, vf1 behind rp1; each its own state, seeded apart).
# B's nested QEMU has both root ports; B's agent provisions two fresh VFs
# and the orchestrator plugs each into B's QEMU with its source device's id
# and bus. Passes when the guest keeps counting on B, B's vf0 and vf1 are
# the two VFs the agent provisioned (in the source VFs' order), each holds
# exactly its own source VF's state (digest, one committed restore,
# RUNNING), A's VFs are released and both PFs end as at boot.
TB_HOSTS="a b"
TB_TIMEOUT=900

# B's QEMU: the second root port, where the orchestrator plugs vf1
MQ_DEST_EXTRA="-device pcie-root-port,id=rp1,chassis=2,bus=pcie.0,addr=0x4"

. /tb/scenarios/migrate-qemu.sh

# tv_source_vm: both VFs of A's PF on nvfm_tvf in the running nested guest.
# Sets MQ_VF (the first), MQ_VFS and MQ_DIGEST ("d1 d2").
tv_source_vm() {
	local out vf d c vfs=() digests=()
	for _ in 1 2; do
		out=$(nvme-vf-migrate --json vf provision "$MQ_PF" --driver nvfm_tvf --require-migration) ||
			tb_fail "provisioning a VF on A failed: $out"
		vf=$(echo "$out" | jq -r .address)
		[ "$(echo "$out" | jq -r .driver)" = nvfm_tvf ] || tb_fail "A's VF is not on nvfm_tvf: $out"
		vfs+=("$vf")
		digests+=("$(tb_tvf_digest "$vf")")
	done
	MQ_VF=${vfs[0]}
	MQ_VFS="${vfs[*]}"
	MQ_DIGEST="${digests[*]}"
	[ "${digests[0]}" != "${digests[1]}" ] || tb_fail "A's two VFs hold the same state (${digests[0]})"
	tb_log "A's VFs $MQ_VFS on nvfm_tvf, digests $MQ_DIGEST"
	tb_nested_qemu "$MQ_VF" -qmp unix:/run/tb/vm.qmp,server=on,wait=off \
		-device pcie-root-port,id=rp1,chassis=2,bus=pcie.0,addr=0x4 \
		-device "vfio-pci,host=${vfs[1]},id=vf1,bus=rp1,enable-migration=on,x-msix-relocation=bar2"
	tb_qmp_open /run/tb/nested.sock
	c=$(tb_guest_counting 300) || tb_fail "the nested guest does not run on A"
	tb_log "nested guest runs on A with two VFs (counter ${c/ / -> })"
}
MQ_SOURCE_VM=tv_source_vm

host_a() {
	mq_source_ready
	mq_migrate "$MQ_B_PF"
	mq_report_vfs 2
	mq_migrated_a
}

# tv_b_vf HOST INDEX: B's vfINDEX holds A's (INDEX+1)-th VF's state,
# committed once, RUNNING
tv_b_vf() {
	local host=$1 i=$2 want
	want=$(echo "$MQ_A_DIGEST" | cut -d' ' -f$((i + 1)))
	[ "$(tb_tvf_digest "$host")" = "$want" ] ||
		mq_fail_pub b_checked "B's vf$i ($host) digest $(tb_tvf_digest "$host") differs from A's VF $((i + 1)) ($want)"
	[ "$(tb_tvf_info "$host" restores)" = 1 ] && [ "$(tb_tvf_info "$host" mig_state)" = RUNNING ] ||
		mq_fail_pub b_checked "B's vf$i ($host): restores $(tb_tvf_info "$host" restores), $(tb_tvf_info "$host" mig_state)"
	tb_log "B's vf$i $host holds A's VF $((i + 1)) state ($want)"
}

host_b() {
	local c
	mq_b_ready
	mq_b_running
	mq_b_vfs 2 tv_b_vf
	c=$(tb_guest_counting 120) || mq_fail_pub b_checked "the guest does not count on B"
	tb_log "guest keeps running on B with both VFs (counter ${c/ / -> })"
	mq_b_release
}
