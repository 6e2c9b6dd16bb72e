# SPDX-License-Identifier: GPL-2.0-or-later
# lm-cycle: nvfm_nvme_lm (NVMe 2.1 live migration through the PF's admin queue).
# One host provisions two VFs by hand and binds both to nvfm_nvme_lm; the
# driver must find the PF and each VF's CNTLID and report STOP_COPY|P2P.
# With the patched outer QEMU (the PF offers HMLMS), lm-check brings VF0's
# controller up with an I/O queue pair, saves it, sees bad states refused on
# VF1 (flipped byte, truncated, tamper_version) and resumes the good one into
# VF1, which must then complete the next admin and I/O commands in the next
# queue slots. On a stock QEMU it checks the clean failure and then fails:
# the migration itself needs the patched device.
TB_HOSTS="a"
TB_TIMEOUT=300

# lm_provision2: secondary controllers 0 and 1 get 2 queues and 1 vector
# each, two VFs are enabled, both come online. Prints the VFs' addresses.
lm_provision2() {
	local pf ctrl scid i
	pf=$(tb_pf_addr) || tb_fail "no NVMe PF with SR-IOV"
	ctrl=$(tb_pf_wait_ctrl "$pf") || tb_fail "the PF $pf has no NVMe controller device"
	echo 0 >"/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe"
	for i in 0 1; do
		scid=$(nvme list-secondary "$ctrl" 2>/dev/null |
			awk '$1 == "SCID" { print $NF }' | sed -n "$((i + 1))p")
		[ -n "$scid" ] || tb_fail "no secondary controller $i on $ctrl"
		nvme virt-mgmt "$ctrl" --cntlid="$scid" --act=7 >/dev/null 2>&1
		nvme virt-mgmt "$ctrl" --cntlid="$scid" --rt=0 --act=8 --nr=2 >/dev/null ||
			tb_fail "assigning queues to controller $scid failed"
		nvme virt-mgmt "$ctrl" --cntlid="$scid" --rt=1 --act=8 --nr=1 >/dev/null ||
			tb_fail "assigning vectors to controller $scid failed"
		echo "$scid" >"/run/tb/scid$i"
	done
	echo 2 >"/sys/bus/pci/devices/$pf/sriov_numvfs" || tb_fail "enabling 2 VFs on $pf failed"
	for i in 0 1; do
		nvme virt-mgmt "$ctrl" --cntlid="$(cat "/run/tb/scid$i")" --act=9 >/dev/null ||
			tb_fail "bringing controller $(cat "/run/tb/scid$i") online failed"
		basename "$(readlink -f "/sys/bus/pci/devices/$pf/virtfn$i")"
	done
}

lm_attr() { cat "/sys/bus/pci/devices/$1/nvfm_lm/$2"; }

host_a() {
	local vfs vf0 vf1 i vf flags hm
	modprobe vfio_pci_core || tb_fail "no vfio_pci_core"
	insmod /tb/kmod/nvfm_nvme_lm.ko chunk=256 || tb_fail "cannot load nvfm_nvme_lm.ko"
	vfs=$(lm_provision2) || exit 1
	vf0=$(echo "$vfs" | sed -n 1p)
	vf1=$(echo "$vfs" | sed -n 2p)
	tb_log "VFs $vf0 $vf1 provisioned"
	for i in 0 1; do
		[ $i = 0 ] && vf=$vf0 || vf=$vf1
		tb_vf_bind "$vf" nvfm_nvme_lm
		tb_log "$vf: pf '$(lm_attr "$vf" pf)' vf_id $(lm_attr "$vf" vf_id) cntlid $(lm_attr "$vf" cntlid) hmlms $(lm_attr "$vf" hmlms)"
		[ "$(lm_attr "$vf" cntlid)" = "$(($(cat "/run/tb/scid$i")))" ] ||
			tb_fail "$vf: driver's CNTLID $(lm_attr "$vf" cntlid), secondary list says $(cat "/run/tb/scid$i")"
		[ "$(lm_attr "$vf" vf_id)" = "$i" ] || tb_fail "$vf: vf_id $(lm_attr "$vf" vf_id), expected $i"
		lm-check info "$vf" || tb_fail "$vf: nvfm_nvme_lm does not report STOP_COPY|P2P"
	done
	hm=$(lm_attr "$vf0" hmlms)
	if [ "$hm" != 1 ]; then
		tb_log "the PF does not offer host-managed live migration (stock QEMU): checking the clean failure"
		lm-check stock "$vf0" || { dmesg | tail -n 20; tb_fail "lm-check stock failed"; }
		tb_fail "the PF does not offer HMLMS (stock QEMU): binding, CNTLID lookup and the clean failure passed; the migration cycle needs the patched QEMU"
	fi
	tb_log "PF state formats: $(lm_attr "$vf0" versions)"
	lm-check cycle "$vf0" "$vf1" || { dmesg | grep -i nvfm | tail -n 30; tb_fail "lm-check cycle failed"; }
	dmesg | grep -i 'nvfm_nvme_lm\|saved CNTLID\|restored CNTLID' | tail -n 8
	tb_metric lm_state_size "$(lm_attr "$vf1" state_size)"
	tb_metric lm_pieces "$(lm_attr "$vf1" pieces)"
	tb_metric lm_save_us "$(lm_attr "$vf0" save_us)"
	tb_metric lm_restore_us "$(lm_attr "$vf1" restore_us)"
	tb_metric lm_refusals "$(lm_attr "$vf1" refusals)"
}
