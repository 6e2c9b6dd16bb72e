# SPDX-License-Identifier: GPL-2.0-or-later
# lm-migrate-qemu-two-vfs: `nvme-vf-migrate migrate VF1 VF2 --device-state qemu` of a nested VM doing verified NVMe I/O on two VFs (nvfm_nvme_lm).
# As lm-migrate-qemu.sh, with both of A's PF's VFs in the nested VM (vf0
# behind rp0, vf1 behind rp1) and the nested guest driving both
# controllers at once, each on its own LBA range of the shared namespace.
# The two VFs' controller states move through the PF inside QEMU's one
# migration stream; B's agent provisions two VFs and the orchestrator plugs
# each into B's QEMU under its source device's id and bus. Passes when on B
# each controller's I/O continues on at least two queues with no error,
# mismatch, lost, doubled or late completion and full sweeps read back
# every block (those written on A included), B's vf0 and vf1 are the
# provisioned VFs in the source order and each took exactly one state, A's
# VFs were released and both PFs end as at boot.
TB_HOSTS="a b"
TB_TIMEOUT=1500
TB_SHARED_NS=1

# B's QEMU: the second root port, where the orchestrator plugs vf1
MQ_DEST_EXTRA="-device pcie-root-port,id=rp1,chassis=2,bus=pcie.0,addr=0x4"

. /tb/scenarios/lm-migrate-qemu.sh

# lm2_source_vm: both VFs of A's PF on nvfm_nvme_lm in the nested guest,
# each controller doing clean I/O, a poller per controller (own QMP
# sockets). Sets MQ_VF (the first) and MQ_VFS.
lm2_source_vm() {
	local vfs=()
	lm_provision
	vfs+=("$LM_NEW_VF")
	lm_provision
	vfs+=("$LM_NEW_VF")
	MQ_VF=${vfs[0]}
	MQ_VFS="${vfs[*]}"
	lm_pf_supported
	tb_nested_qemu "$MQ_VF" -qmp unix:/run/tb/vm.qmp,server=on,wait=off \
		-qmp unix:/run/tb/poll0.qmp,server=on,wait=off \
		-qmp unix:/run/tb/poll1.qmp,server=on,wait=off \
		-device pcie-root-port,id=rp1,chassis=2,bus=pcie.0,addr=0x4 \
		-device "vfio-pci,host=${vfs[1]},id=vf1,bus=rp1,enable-migration=on,x-msix-relocation=bar2"
	tb_qmp_open /run/tb/nested.sock
	lm_io_on_a /run/tb/poll0.qmp 0
	lm_io_on_a /run/tb/poll1.qmp 1
}
MQ_SOURCE_VM=lm2_source_vm

host_a() {
	mq_source_ready
	mq_migrate "$MQ_B_PF"
	lm_publish_a_io 0 1
	mq_report_vfs 2
	mq_migrated_a
}

# lm2_b_vf HOST INDEX: the guest's controller INDEX goes on with its I/O
# through B's vfINDEX
lm2_b_vf() {
	local a_io
	a_io=$(tb_peer_get "a_io$2" 60) || mq_fail_pub b_checked "no counters from A for controller $2"
	lm_check_b "$1" "$a_io" "$2"
	tb_log "B's vf$2 $1: controller $2 clean after the move"
}

host_b() {
	mq_b_ready
	mq_b_running
	mq_b_vfs 2 lm2_b_vf
	mq_b_release
}
