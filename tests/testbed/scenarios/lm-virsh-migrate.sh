# SPDX-License-Identifier: GPL-2.0-or-later
# lm-virsh-migrate: `virsh migrate --live --p2p` with the hook of a domain doing verified NVMe I/O on its VF (nvfm_nvme_lm).
# As virsh-migrate.sh, with the NVMe 2.1 live-migration driver, the nested
# NVMe guest (guest/nvme-io) and one namespace backing file shared by both
# hosts' PFs. B's hook provisions a fresh VF with A's queue resources (from
# the domain's metadata) and rewrites the hostdev's source; QEMU moves the
# VF's controller state through the PFs. Passes when on B the I/O continues
# on at least two queues with no error, mismatch, lost, doubled or late
# completion, B completes full sweeps that read back every block (those
# written on A included), B's VF took exactly one state, the hook calls ran
# on both hosts and A's VF was released.
TB_HOSTS="a b"
TB_TIMEOUT=1200
TB_SHARED_NS=1

MQ_DRIVER=nvfm_nvme_lm
MQ_GUEST=/tb/guest/nvme-io.elf
LM_NVQ=4
LM_NVI=1

. /tb/scenarios/virsh-migrate.sh
. /tb/scenarios/lm-migrate-qemu.sh

# lm_vm_poll_start FILE: A's domain's counters every 0.5 s through libvirt,
# the last good reading in FILE, until the domain leaves (bounded).
lm_vm_poll_start() {
	(
		local end=$(($(cut -d. -f1 /proc/uptime) + 1800)) out
		while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
			out=$(tb_nvio vm_hmp) && echo "$out" >"$1.new" && mv "$1.new" "$1"
			vsh domstate "$VM" 2>/dev/null | grep -q running || break
			sleep 0.5
		done
	) &
	TB_NVIO_POLL_PID=$!
}

host_a() {
	local out vf c v
	mq_prepare 1
	vm_setup
	out=$(nvme-vf-migrate --json vf provision "$MQ_PF" --vq $LM_NVQ --vi $LM_NVI \
		--driver nvfm_nvme_lm --require-migration) || tb_fail "provisioning A's VF failed: $out"
	vf=$(echo "$out" | jq -r .address)
	tb_log "A's VF $vf on nvfm_nvme_lm: cntlid $(tb_lm_attr "$vf" cntlid)"
	vm_xml "$vf" $LM_NVQ $LM_NVI >/run/tb/vm.xml
	vsh define /run/tb/vm.xml || tb_fail "virsh define failed"
	vsh start "$VM" || { vm_logs; tb_fail "virsh start failed"; }
	c=$(tb_nvio_running vm_hmp 300) || { vm_logs; tb_fail "the domain does no I/O on A: $(tb_nvio_short "$c")"; }
	tb_log "domain does I/O on A: $(tb_nvio_short "$c")"
	[ "$(tb_nvio_get "$c" queues)" -ge 2 ] ||
		tb_fail "the guest got $(tb_nvio_get "$c" queues) I/O queue(s), not at least 2"
	tb_pub digest none
	tb_pub a_vf "$vf"
	v=$(tb_peer_get b_ready 400) || tb_fail "host B never became ready"
	case "$v" in fail:*) tb_fail "B: ${v#fail: }" ;; esac

	lm_vm_poll_start /run/tb/a-io
	vm_migrate
	lm_publish_a_io
	vm_migrated_a
	mq_source_released "$vf" "by the hook"
	v=$(tb_peer_get b_checked 900) || tb_fail "B did not check the domain"
	[ "$v" = ok ] || tb_fail "B: ${v#fail: }"
}

host_b() {
	local a_vf a_io v src dvf n call
	mq_prepare 2
	vm_setup
	tb_peer_get digest 600 >/dev/null || tb_fail "A's domain never ran"
	a_vf=$(tb_peer_get a_vf 60) || tb_fail "no VF address from A"
	[ "$(mq_online_count)" = 0 ] || mq_fail_pub b_ready "B's PF has a VF online before the migration"
	tb_pub b_ready "$MQ_PF"

	v=$(tb_peer_get migrated 900) || tb_fail "A never finished migrating"
	[ "$v" = ok ] || { vm_logs; tb_fail "A: ${v#fail: }"; }
	a_io=$(tb_peer_get a_io 60) || tb_fail "no counters from A"
	vm_logs
	for call in 'migrate begin' 'prepare begin' 'start begin' 'started begin'; do
		grep -q "^$call .* rc=0" /run/tb/hook-calls.log ||
			mq_fail_pub b_checked "B's hook saw no successful '$call'"
	done
	vsh domstate "$VM" | grep -q running || mq_fail_pub b_checked "the domain is not running on B"
	vsh dumpxml "$VM" >/run/tb/vm-b.xml
	src=$(sed -n '/<hostdev/,/<\/hostdev>/p' /run/tb/vm-b.xml | sed -n '/<source>/,/<\/source>/p' |
		sed -n "s/.*bus='0x\([0-9a-f]*\)' slot='0x\([0-9a-f]*\)' function='0x\([0-9a-f]*\)'.*/\1:\2.\3/p")
	dvf=0000:$src
	n=$(basename "$(readlink -f "/sys/bus/pci/devices/$dvf/driver" 2>/dev/null)")
	[ "$n" = nvfm_nvme_lm ] || mq_fail_pub b_checked "B's VF $dvf is on '$n', not nvfm_nvme_lm"
	tb_log "B's hook gave the domain $dvf (A's was $a_vf)"
	# lm_check_b reads the guest through our QMP reader: here libvirt's
	tb_hmp() { vm_hmp "$1"; }
	lm_check_b "$dvf" "$a_io"
	tb_pub b_checked ok
}
