# SPDX-License-Identifier: GPL-2.0-or-later
# virsh-migrate: `virsh migrate --live --p2p` of a libvirt domain with A's VF as hostdev, our hook on both hosts.
# Both hosts run libvirtd (TCP, no auth) with nvme-vf-migrate-hook installed
# in /etc/libvirt/hooks/qemu.d (a wrapper that records every call), its
# hook.conf naming the host's PF and driver nvfm_tvf. Host A defines and
# starts a domain (the nested counting guest) with its VF as a managed='no'
# <hostdev> (alias ua-nvme0, named in the nvme-vf-migrate metadata,
# enable-migration=on and x-msix-relocation=bar2 through <qemu:override>)
# and migrates it to B. Passes when B's hook provisioned a fresh VF and
# rewrote the hostdev's source (the guest address unchanged), B's VF holds
# exactly A's state, the guest keeps counting on B, the expected hook calls
# ran on both hosts, A's VF was released (A's PF as at boot) and B's PF
# differs from boot only by the VF in use (and one VF B took
# beforehand, so that the hook's VF has another address than A's).
TB_HOSTS="a b"
TB_TIMEOUT=900

. /tb/scenarios/migrate-qemu.sh

VM=nvfm-vm
VM_UUID=6b0f3d52-7c1e-4a6b-9d2f-2e5d7b3a9c41

# vm_setup: libvirtd with the hook. libvirtd finds hooks only at start.
vm_setup() {
	local ip i
	ip=$(tb_my_ip)
	[ -x /tb/bin/nvme-vf-migrate-hook ] ||
		tb_fail "nvme-vf-migrate-hook is not in the payload (NVFM_CLI's build has no hooks/)"
	command -v libvirtd >/dev/null || tb_fail "the host image has no libvirtd"
	mkdir -p /etc/nvme-vf-migrate /etc/libvirt/hooks/qemu.d /run/libvirt /var/log/libvirt/qemu
	cat >/etc/nvme-vf-migrate/hook.conf <<-EOF
		[hook]
		pf = $MQ_PF
		driver = $MQ_DRIVER
		log_file = /run/tb/hook-actions.log
	EOF
	# libvirtd cleans the environment: the wrapper names the configuration
	# and the library, and records each call with its exit status
	cat >/etc/libvirt/hooks/qemu.d/nvme-vf-migrate <<-'EOF'
		#!/bin/bash
		LD_LIBRARY_PATH=/tb/lib NVFM_CONFIG=/etc/nvme-vf-migrate/hook.conf \
			/tb/bin/nvme-vf-migrate-hook "$@" 2>>/run/tb/hook-stderr.log
		rc=$?
		echo "$2 $3 $4 rc=$rc" >>/run/tb/hook-calls.log
		exit $rc
	EOF
	chmod 755 /etc/libvirt/hooks/qemu.d/nvme-vf-migrate
	cat >/etc/libvirt/libvirtd.conf <<-EOF
		listen_tls = 0
		listen_tcp = 1
		listen_addr = "$ip"
		auth_tcp = "none"
		auth_unix_rw = "none"
		host_uuid = "00000000-0000-4000-8000-0000000000$([ "$TB_ROLE" = a ] && echo 0a || echo 0b)"
		log_outputs = "3:file:/run/tb/libvirtd.log"
	EOF
	cat >/etc/libvirt/qemu.conf <<-EOF
		stdio_handler = "file"
		migration_host = "$ip"
		user = "root"
		group = "root"
		dynamic_ownership = 0
		remember_owner = 0
		security_driver = "none"
		cgroup_controllers = [ ]
		namespaces = [ ]
	EOF
	libvirtd --listen -f /etc/libvirt/libvirtd.conf --pid-file /run/libvirt/libvirtd.pid \
		>/run/tb/libvirtd.out 2>&1 &
	for i in $(seq 180); do
		virsh -c qemu:///system version >/dev/null 2>&1 && break
		sleep 1
	done
	virsh -c qemu:///system version || tb_fail "libvirtd does not answer after 180 s"
	tb_log "libvirtd up"
}

vsh() { virsh -c qemu:///system "$@"; }

# The domain's counter, through libvirt's monitor passthrough.
vm_counter() {
	local v
	v=$(vsh qemu-monitor-command "$VM" --hmp 'xp /1wx 0x200000' 2>/dev/null |
		sed -n 's/.*: *\(0x[0-9a-f]*\).*/\1/p')
	printf '%d\n' "${v:-0}"
}

# vm_hmp CMD: an HMP command in the domain, through libvirt.
vm_hmp() { vsh qemu-monitor-command "$VM" --hmp "$1" 2>/dev/null; }

# vm_counting TIMEOUT: the counter moves; prints two values.
vm_counting() {
	local end=$(($(cut -d. -f1 /proc/uptime) + $1)) c0 c1
	c0=$(vm_counter)
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		sleep 1
		c1=$(vm_counter)
		if [ "$c1" -gt "$c0" ] && [ "$c0" -gt 0 ]; then
			echo "$c0 $c1"
			return 0
		fi
		c0=$c1
	done
	return 1
}

# vm_xml VF NVQ NVI: the domain, A's VF at guest address 01:00.0.
vm_xml() {
	local b s f
	b=$(echo "$1" | cut -d: -f2)
	s=$(echo "$1" | cut -d: -f3 | cut -d. -f1)
	f=${1##*.}
	cat <<-EOF
		<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
		  <name>$VM</name>
		  <uuid>$VM_UUID</uuid>
		  <metadata>
		    <nvfm:vfs xmlns:nvfm="urn:nvme-vf-migrate:1">
		      <nvfm:vf alias="ua-nvme0" nvq="$2" nvi="$3"/>
		    </nvfm:vfs>
		  </metadata>
		  <memory unit='MiB'>16</memory>
		  <vcpu>1</vcpu>
		  <os>
		    <type arch='x86_64' machine='q35'>hvm</type>
		    <kernel>$MQ_GUEST</kernel>
		  </os>
		  <features>
		    <tcg><tb-cache unit='MiB'>64</tb-cache></tcg>
		  </features>
		  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
		  <devices>
		    <emulator>/usr/bin/qemu-system-x86_64</emulator>
		    <controller type='pci' index='0' model='pcie-root'/>
		    <controller type='pci' index='1' model='pcie-root-port'/>
		    <controller type='usb' model='none'/>
		    <hostdev mode='subsystem' type='pci' managed='no'>
		      <driver name='vfio'/>
		      <source>
		        <address domain='0x0000' bus='0x$b' slot='0x$s' function='0x$f'/>
		      </source>
		      <alias name='ua-nvme0'/>
		      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
		    </hostdev>
		    <memballoon model='none'/>
		  </devices>
		  <qemu:override>
		    <qemu:device alias='ua-nvme0'>
		      <qemu:frontend>
		        <qemu:property name='enable-migration' type='string' value='on'/>
		        <qemu:property name='x-msix-relocation' type='string' value='bar2'/>
		      </qemu:frontend>
		    </qemu:device>
		  </qemu:override>
		</domain>
	EOF
}

vm_logs() {
	local f
	for f in /run/tb/hook-calls.log /run/tb/hook-actions.log /run/tb/hook-stderr.log \
		/var/log/libvirt/qemu/$VM.log; do
		[ -s "$f" ] && { echo "---- $f ----"; cat "$f"; }
	done
	return 0
}

# vm_migrate: virsh migrate to B, as libvirt's own client does it; its
# exit status in VM_RC. Every pass re-sends the whole (all-dirty) guest
# over the slow link: the switchover may take what it needs (see
# qemu-migrate.sh).
vm_migrate() {
	local t0 pid i
	tb_log "virsh migrate --live --p2p $VM qemu+tcp://10.77.0.2/system"
	t0=$(date +%s%N)
	vsh migrate --live --p2p --verbose "$VM" qemu+tcp://10.77.0.2/system \
		>/run/tb/virsh-migrate.log 2>&1 &
	pid=$!
	for i in $(seq 120); do
		vsh migrate-setmaxdowntime "$VM" "$MQ_DOWNTIME_LIMIT" >/dev/null 2>&1 && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.5
	done
	wait $pid
	VM_RC=$?
	tb_metric virsh_migrate_wall_ms $((($(date +%s%N) - t0) / 1000000))
}

# vm_migrated_a: A after virsh migrate: it succeeded, B is told, libvirt's
# downtime, the domain gone from A, A's hook released A's VF.
vm_migrated_a() {
	local v i
	cat /run/tb/virsh-migrate.log
	if [ $VM_RC -ne 0 ]; then
		vm_logs
		tb_pub migrated "fail: virsh migrate exited $VM_RC: $(tail -n 1 /run/tb/virsh-migrate.log)"
		tb_fail "virsh migrate exited $VM_RC: $(tail -n 1 /run/tb/virsh-migrate.log)"
	fi
	tb_pub migrated ok
	vsh domjobinfo "$VM" --completed 2>&1 | tee /run/tb/jobinfo
	v=$(sed -n 's/^Total downtime: *\([0-9]*\) *ms.*/\1/p' /run/tb/jobinfo)
	tb_metric downtime_ms "${v:-n/a}"
	vsh domstate "$VM" 2>&1 | tee /run/tb/domstate
	grep -q running /run/tb/domstate && tb_fail "the domain still runs on A"

	# the source side's hook calls: the domain stopped, then its VF was
	# released (libvirt 11.3 passes the reason)
	for i in $(seq 60); do
		grep -q '^release end migrated rc=0' /run/tb/hook-calls.log 2>/dev/null && break
		sleep 0.5
	done
	vm_logs
	grep -q '^stopped end .* rc=0' /run/tb/hook-calls.log || tb_fail "A's hook saw no 'stopped end'"
	grep -q '^release end migrated rc=0' /run/tb/hook-calls.log ||
		tb_fail "A's hook saw no successful 'release end migrated'"
}

host_a() {
	local out vf nvq nvi b_pf c t0 rc xml v i
	mq_prepare 1
	vm_setup
	out=$(nvme-vf-migrate --json vf provision "$MQ_PF" --driver nvfm_tvf --require-migration) ||
		tb_fail "provisioning A's VF failed: $out"
	vf=$(echo "$out" | jq -r .address)
	nvq=$(echo "$out" | jq -r '.nvq // 2')
	nvi=$(echo "$out" | jq -r '.nvi // 1')
	MQ_DIGEST=$(tb_tvf_digest "$vf")
	tb_log "A's VF $vf (nvq $nvq nvi $nvi) on nvfm_tvf, digest $MQ_DIGEST"
	vm_xml "$vf" "$nvq" "$nvi" >/run/tb/vm.xml
	vsh define /run/tb/vm.xml || tb_fail "virsh define failed"
	vsh start "$VM" || { vm_logs; tb_fail "virsh start failed"; }
	c=$(vm_counting 300) || { vm_logs; tb_fail "the domain's guest does not count on A"; }
	tb_log "domain runs on A (counter ${c/ / -> })"
	tb_pub digest "$MQ_DIGEST"
	tb_pub a_vf "$vf"
	b_pf=$(tb_peer_get b_ready 400) || tb_fail "host B never became ready"
	case "$b_pf" in fail:*) tb_fail "B: ${b_pf#fail: }" ;; esac

	vm_migrate
	vm_migrated_a
	mq_source_released "$vf" "by the hook"
	v=$(tb_peer_get b_checked 600) || tb_fail "B did not check the domain"
	[ "$v" = ok ] || tb_fail "B: ${v#fail: }"
}

host_b() {
	local digest_a a_vf v c src guest dvf n call taken
	mq_prepare 2
	vm_setup
	digest_a=$(tb_peer_get digest 600) || tb_fail "no digest from A"
	a_vf=$(tb_peer_get a_vf 60) || tb_fail "no VF address from A"
	[ "$(mq_online_count)" = 0 ] || mq_fail_pub b_ready "B's PF has a VF online before the migration"
	# B's first VF is taken, so the hook's VF has another address than A's
	# and the rewrite shows
	v=$(nvme-vf-migrate --json vf provision "$MQ_PF" --driver nvfm_tvf) ||
		mq_fail_pub b_ready "provisioning B's first VF failed: $v"
	taken=$(echo "$v" | jq -r .address)
	tb_log "B's VF $taken is taken (not for the migration)"
	tb_pub b_ready "$MQ_PF"

	v=$(tb_peer_get migrated 800) || tb_fail "A never finished migrating"
	[ "$v" = ok ] || { vm_logs; tb_fail "A: ${v#fail: }"; }
	vm_logs
	for call in 'migrate begin' 'prepare begin' 'start begin' 'started begin'; do
		grep -q "^$call .* rc=0" /run/tb/hook-calls.log ||
			mq_fail_pub b_checked "B's hook saw no successful '$call'"
	done
	vsh domstate "$VM" | grep -q running || mq_fail_pub b_checked "the domain is not running on B"
	c=$(vm_counting 120) || mq_fail_pub b_checked "the guest does not count on B"
	tb_log "guest keeps running on B (counter ${c/ / -> })"
	vsh dumpxml "$VM" >/run/tb/vm-b.xml
	src=$(sed -n '/<hostdev/,/<\/hostdev>/p' /run/tb/vm-b.xml | sed -n '/<source>/,/<\/source>/p' |
		sed -n "s/.*bus='0x\([0-9a-f]*\)' slot='0x\([0-9a-f]*\)' function='0x\([0-9a-f]*\)'.*/\1:\2.\3/p")
	guest=$(sed -n '/<hostdev/,/<\/hostdev>/p' /run/tb/vm-b.xml |
		grep "<address type='pci'" | head -n 1)
	tb_log "B's hostdev: source $src; guest $guest"
	echo "$guest" | grep -q "bus='0x01' slot='0x00' function='0x0'" ||
		mq_fail_pub b_checked "the guest address changed: $guest"
	dvf=0000:$src
	[ "$dvf" != "$a_vf" ] && [ "$dvf" != "$taken" ] ||
		mq_fail_pub b_checked "B's hostdev source $dvf was not rewritten to a fresh VF (A's $a_vf, taken $taken)"
	[ -e "/sys/bus/pci/devices/$dvf" ] && [ "$(readlink -f "/sys/bus/pci/devices/$dvf/physfn")" = \
		"$(readlink -f "/sys/bus/pci/devices/$MQ_PF")" ] ||
		mq_fail_pub b_checked "B's hostdev source $dvf is not a VF of B's PF"
	n=$(basename "$(readlink -f "/sys/bus/pci/devices/$dvf/driver" 2>/dev/null)")
	[ "$n" = nvfm_tvf ] || mq_fail_pub b_checked "B's VF $dvf is on '$n', not nvfm_tvf"
	cat "/sys/bus/pci/devices/$dvf/nvfm_tvf_info"
	[ "$(tb_tvf_digest "$dvf")" = "$digest_a" ] ||
		mq_fail_pub b_checked "B's VF digest $(tb_tvf_digest "$dvf") differs from A's $digest_a"
	[ "$(tb_tvf_info "$dvf" origin)" = restored ] ||
		mq_fail_pub b_checked "B's VF state is $(tb_tvf_info "$dvf" origin), not restored"
	[ "$(tb_tvf_info "$dvf" restores)" = 1 ] ||
		mq_fail_pub b_checked "B's VF committed $(tb_tvf_info "$dvf" restores) restores, not 1"
	[ "$(mq_online_count)" = 2 ] ||
		mq_fail_pub b_checked "B's PF has $(mq_online_count) VFs online, not the taken one and the one in use"
	grep -q "$dvf" /run/tb/hook-actions.log ||
		mq_fail_pub b_checked "B's hook log does not name $dvf"
	tb_log "B's VF $dvf (A's was $a_vf) holds A's state ($digest_a)"
	tb_pub b_checked ok
}
