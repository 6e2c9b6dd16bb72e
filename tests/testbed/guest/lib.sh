# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for scenario scripts running inside a testbed host (bash).
# Sourced by boot.sh before the scenario; every wait here is bounded.

TB_PEER_PORT=8080
TB_T0=$(cut -d. -f1 /proc/uptime)

tb_log() {
	echo "[host-$TB_ROLE $(($(cut -d. -f1 /proc/uptime) - TB_T0))s] $*"
}

# Goes to stderr so it shows even from inside $(...); callers of such
# substitutions add "|| exit 1". The first reason becomes the verdict's.
tb_fail() {
	echo "TB-FAIL: $*" >&2
	echo "$*" >>/run/tb/failed
	exit 1
}

# The result channel: the host's second serial port, which only this
# harness writes (the kernel's console is ttyS0), so no kernel message can
# split a line. tests/testbed/run reads verdicts and metrics from it, never
# from the peer. Each write opens, writes and closes the port; the last
# close waits until the UART has sent everything, so a line is on the
# build machine before the writer goes on (to power off, say).
TB_RESULT_TTY=/dev/ttyS1

# tb_result LINE: one line to the result channel (and the console).
tb_result() {
	echo "$1"
	[ -c "$TB_RESULT_TTY" ] && printf '%s\n' "$1" >"$TB_RESULT_TTY"
	return 0
}

# tb_wait_listen PORT PID LOG: wait (10 s at most) until something listens
# on TCP PORT, while process PID lives; else show LOG and fail.
tb_wait_listen() {
	local _
	for _ in $(seq 100); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	ss -Hltn "sport = :$1" | grep -q . && return 0
	cat "$3"
	tb_fail "nothing listens on port $1 (pid $2)"
}

# tb_metric NAME VALUE: collected into the runner's report.
tb_metric() {
	tb_result "TB-METRIC $1=$2"
}

# tb_selftest DEV DRIVER: the graded selftest on DEV; fails the scenario on
# a failed requirement, records the warnings (each named) as metrics.
# --timeout 60: each device call under TCG may be slow, and the selftest
# fails a call that outlasts it as hung
tb_selftest() {
	nvme-vf-migrate --json selftest "$1" --timeout 60 >/tmp/selftest.json
	local rc=$?
	cat /tmp/selftest.json
	[ $rc -eq 0 ] || { dmesg | grep -i nvfm | tail -n 20; tb_fail "selftest failed against $2 ($rc)"; }
	tb_metric selftest_warnings "$(grep -c '"verdict": "warn"' /tmp/selftest.json)"
	tb_metric selftest_passed "$(grep -c '"verdict": "pass"' /tmp/selftest.json)"
}

tb_setup() {
	mkdir -p /run/tb/pub
	modprobe -a nvme vfio vfio_iommu_type1 vfio_pci_core virtio_net ||
		tb_fail "cannot load modules"
	tb_net_up
}

# ---- the link between the hosts ----

tb_my_ip() { [ "$TB_ROLE" = a ] && echo 10.77.0.1 || echo 10.77.0.2; }
tb_peer_ip() { [ "$TB_ROLE" = a ] && echo 10.77.0.2 || echo 10.77.0.1; }
tb_peer_role() { [ "$TB_ROLE" = a ] && echo b || echo a; }

# The runner starts host B only once host A's QEMU listens, but either host
# may still boot well after the other on a loaded machine, and frames sent
# before the outer QEMUs are connected are dropped (first ARP requests
# included): so the link counts as up only once the peer answers a ping,
# retried within a bound.
TB_LINK_TIMEOUT=150

tb_net_up() {
	local dev='' d i t0
	# Single-host scenarios have no link (virtio-net: 1af4:1000 or 1af4:1041).
	grep -qsx '0x1af4' /sys/bus/pci/devices/*/vendor || return 0
	cat /sys/bus/pci/devices/*/device | grep -qE '^0x(1000|1041)$' || return 0
	# No udev runs here, so the kernel's name stays; find it by driver.
	for i in $(seq 100); do
		for d in /sys/class/net/*; do
			[ "$(basename "$(readlink -f "$d/device/driver" 2>/dev/null)")" = virtio_net ] &&
				dev=$(basename "$d")
		done
		[ -n "$dev" ] && break
		sleep 0.1
	done
	[ -n "$dev" ] || tb_fail "the virtio-net link did not appear"
	ip addr add "$(tb_my_ip)/24" dev "$dev" || tb_fail "cannot address $dev"
	ip link set "$dev" up || tb_fail "cannot bring $dev up"
	# A tiny name -> value service for the peer: one request line; the reply
	# is BEGIN, the value's lines, END; or NONE while it is unpublished, or
	# FAILED and the reason once this host's scenario has failed, so the
	# peer stops waiting for it. A cut-off reply is never taken for a value.
	# Every name served is logged (shown when the scenario fails). A
	# script, since socat's address syntax mangles shell punctuation.
	cat >/run/tb/serve <<-'EOS'
		#!/bin/sh
		read -r n
		case "$n" in *[!a-z0-9_-]* | "") echo BAD; exit 0 ;; esac
		if [ -f "/run/tb/pub/$n" ]; then
			echo BEGIN
			cat "/run/tb/pub/$n"
			echo END
			echo "$n" >>/run/tb/served.log
		elif [ -s /run/tb/failed ]; then
			echo FAILED
			head -n 1 /run/tb/failed
		else
			echo NONE
		fi
	EOS
	chmod +x /run/tb/serve
	socat "TCP-LISTEN:$TB_PEER_PORT,bind=$(tb_my_ip),fork,reuseaddr,backlog=16" \
		EXEC:/run/tb/serve </dev/null >/run/tb/serve.log 2>&1 &
	echo "$dev" >/run/tb/link
	tb_log "link $dev $(tb_my_ip); waiting for the peer"
	t0=$(date +%s%N)
	tb_peer_wait "$TB_LINK_TIMEOUT" ||
		{ ip addr; ip link; ip neigh; tb_fail "no ping from the peer $(tb_peer_ip) in ${TB_LINK_TIMEOUT}s"; }
	tb_log "the peer answers after $((($(date +%s%N) - t0) / 1000000)) ms"
}

# tb_peer_wait TIMEOUT: wait until the peer answers a ping.
tb_peer_wait() {
	local end=$(($(cut -d. -f1 /proc/uptime) + $1))
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		ping -c 1 -W 1 "$(tb_peer_ip)" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

# tb_pub NAME VALUE: make VALUE readable by the peer as NAME (atomically:
# a reader sees the whole value or none).
tb_pub() {
	printf '%s\n' "$2" >"/run/tb/pub/$1.tmp"
	mv "/run/tb/pub/$1.tmp" "/run/tb/pub/$1"
}

# tb_peer_get NAME TIMEOUT: print the peer's NAME once it is published.
# Retries until TIMEOUT seconds have passed; a busy peer (its vCPU running a
# nested TCG guest) may take seconds to answer, hence the long socat bounds.
# Fails this host at once, with the peer's reason, if the peer has failed.
tb_peer_get() {
	local end=$(($(cut -d. -f1 /proc/uptime) + $2))
	local v
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		v=$(echo "$1" | socat -t 20 -T 30 - \
			"TCP:$(tb_peer_ip):$TB_PEER_PORT,connect-timeout=5" 2>/dev/null)
		if [ "${v%%$'\n'*}" = FAILED ]; then
			tb_fail "host-$(tb_peer_role) failed: ${v#FAILED$'\n'}"
		fi
		if [ "${v%%$'\n'*}" = BEGIN ] && [ "${v##*$'\n'}" = END ]; then
			v=${v#BEGIN$'\n'}
			[ "$v" = END ] && v= || v=${v%$'\n'END}
			printf '%s\n' "$v"
			return 0
		fi
		sleep 0.5
	done
	return 1
}

# ---- NVMe PF and VFs (by hand until `nvme-vf-migrate vf provision`) ----

tb_pf_addr() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ -f "$d/sriov_totalvfs" ] || continue
		[ "$(cat "$d/class")" = 0x010802 ] && { basename "$d"; return 0; }
	done
	return 1
}

tb_pf_ctrl() {
	local pf=$1 c
	for c in /sys/bus/pci/devices/"$pf"/nvme/nvme*; do
		[ -e "$c" ] && { echo "/dev/$(basename "$c")"; return 0; }
	done
	return 1
}

# tb_vf_provision INDEX: give secondary controller INDEX queues and vectors,
# enable the VFs and bring it online. Prints the VF's PCI address.
tb_vf_provision() {
	local idx=$1 pf ctrl scid i
	pf=$(tb_pf_addr) || tb_fail "no NVMe PF with SR-IOV"
	for i in $(seq 100); do
		ctrl=$(tb_pf_ctrl "$pf") && [ -c "$ctrl" ] && break
		sleep 0.1
	done
	[ -c "$ctrl" ] || tb_fail "the PF $pf has no NVMe controller device"
	# Secondary controller IDs follow the PF's; take them from the list.
	scid=$(nvme list-secondary "$ctrl" 2>/dev/null |
		awk '$1 == "SCID" { print $NF }' | sed -n "$((idx + 1))p")
	[ -n "$scid" ] || tb_fail "no secondary controller $idx on $ctrl"
	echo 0 >"/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe"
	nvme virt-mgmt "$ctrl" --cntlid="$scid" --act=7 >/dev/null 2>&1
	nvme virt-mgmt "$ctrl" --cntlid="$scid" --rt=0 --act=8 --nr=2 >/dev/null ||
		tb_fail "assigning queues to controller $scid failed"
	nvme virt-mgmt "$ctrl" --cntlid="$scid" --rt=1 --act=8 --nr=1 >/dev/null ||
		tb_fail "assigning vectors to controller $scid failed"
	if [ "$(cat "/sys/bus/pci/devices/$pf/sriov_numvfs")" -le "$idx" ]; then
		echo $((idx + 1)) >"/sys/bus/pci/devices/$pf/sriov_numvfs" ||
			tb_fail "enabling VFs on $pf failed"
	fi
	nvme virt-mgmt "$ctrl" --cntlid="$scid" --act=9 >/dev/null ||
		tb_fail "bringing controller $scid online failed"
	basename "$(readlink -f "/sys/bus/pci/devices/$pf/virtfn$idx")"
}

# tb_pf_wait_ctrl PF: print the PF's controller node once the nvme driver
# has created it (bounded).
tb_pf_wait_ctrl() {
	local i ctrl
	for i in $(seq 100); do
		ctrl=$(tb_pf_ctrl "$1") && [ -c "$ctrl" ] && { echo "$ctrl"; return 0; }
		sleep 0.1
	done
	return 1
}

# tb_pf_snapshot PF: what provisioning changes on a PF, read with nvme-cli
# and sysfs rather than with our own code: sriov_numvfs, each secondary
# controller's state and resources, the flexible resources the primary
# reports allocated, and the driver of each enabled VF. Two equal snapshots
# mean nothing leaked in between.
tb_pf_snapshot() {
	local pf=$1 ctrl v sec caps drv
	ctrl=$(tb_pf_wait_ctrl "$pf") || { echo "no controller for $pf"; return 1; }
	sec=$(nvme list-secondary "$ctrl" -o json) || { echo "nvme list-secondary $ctrl failed"; return 1; }
	caps=$(nvme primary-ctrl-caps "$ctrl" -o json) || { echo "nvme primary-ctrl-caps $ctrl failed"; return 1; }
	echo "numvfs $(cat "/sys/bus/pci/devices/$pf/sriov_numvfs")"
	echo "$sec" | jq -c '.["secondary-controllers"][] |
		{scid: .["secondary-controller-identifier"], online: .["secondary-controller-state"],
		 vq: .["num-virtual-queues"], vi: .["num-virtual-interrupts"]}'
	echo "$caps" | jq -c '{vq_allocated: .vqrfa, vi_allocated: .virfa}'
	for v in /sys/bus/pci/devices/"$pf"/virtfn*; do
		[ -e "$v" ] || continue
		drv=none
		[ -e "$v/driver" ] && drv=$(basename "$(readlink -f "$v/driver")")
		echo "$(basename "$(readlink -f "$v")") driver=$drv"
	done
}

# tb_pf_idle SNAPSHOT: whether a snapshot shows every secondary controller
# offline with no resources and none allocated.
tb_pf_idle() {
	! echo "$1" | grep -q '"online":[^0]' &&
		! echo "$1" | grep -qE '"(vq|vi|vq_allocated|vi_allocated)":[1-9]'
}

# tb_vf_bind ADDR DRIVER
tb_vf_bind() {
	local d=/sys/bus/pci/devices/$1
	[ -e "$d/driver" ] && echo "$1" >"$d/driver/unbind"
	echo "$2" >"$d/driver_override"
	echo "$1" >/sys/bus/pci/drivers_probe
	[ "$(basename "$(readlink -f "$d/driver")")" = "$2" ] ||
		tb_fail "$1 did not bind to $2"
}

# tb_lm_load [PARAM=VALUE...]: load the NVMe live-migration variant driver.
tb_lm_load() {
	modprobe vfio_pci_core || tb_fail "no vfio_pci_core"
	insmod /tb/kmod/nvfm_nvme_lm.ko "$@" || tb_fail "cannot load nvfm_nvme_lm.ko"
}

tb_lm_attr() { cat "/sys/bus/pci/devices/$1/nvfm_lm/$2"; }

# ---- the nested NVMe guest's counters (guest/nvme-io, docs/testbed.md) ----
# A reader is a command that runs one HMP command and prints its text:
# tb_hmp (our QMP connection), or for a libvirt domain a function around
# `virsh qemu-monitor-command --hmp`. The guest drives up to two NVMe
# controllers and keeps a block of counters for each; INDEX (0 unless given)
# picks the controller, in the guest's PCI scan order.

# tb_nvio_addr INDEX: the guest-physical address of controller INDEX's block.
tb_nvio_addr() {
	printf '0x%x\n' $((0x300000 + ${1:-0} * 0x100))
}

# tb_nvio READER [INDEX]: every counter of that block as key=value lines
# (valid=0 and status 1 when no controller is behind it).
tb_nvio() {
	"$1" "xp /40wx $(tb_nvio_addr "${2:-0}")" | /tb/guest/nvme-io-read-counters.sh
}

# tb_nvio_get COUNTERS KEY: one value out of tb_nvio's lines.
tb_nvio_get() { echo "$1" | sed -n "s/^$2=//p"; }

# tb_nvio_running READER TIMEOUT [INDEX]: wait until the guest's controller
# INDEX is past its first write pass and its I/O moves; prints the counters.
tb_nvio_running() {
	local end=$(($(cut -d. -f1 /proc/uptime) + $2)) c w0=-1 w
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		c=$(tb_nvio "$1" "${3:-0}")
		if [ "$(tb_nvio_get "$c" state_name)" = fatal ]; then
			echo "$c"
			return 1
		fi
		w=$(tb_nvio_get "$c" completions)
		if [ "$(tb_nvio_get "$c" state_name)" = running ] && [ "$w0" -ge 0 ] && [ "${w:-0}" -gt "$w0" ]; then
			echo "$c"
			return 0
		fi
		[ "$(tb_nvio_get "$c" state_name)" = running ] && w0=${w:-0}
		sleep 1
	done
	echo "$c"
	return 1
}

# tb_nvio_clean COUNTERS: empty when no error, mismatch, lost, doubled or
# late completion was counted; else what was.
tb_nvio_clean() {
	local k v out=
	for k in errors mismatches lost unexpected late; do
		v=$(tb_nvio_get "$1" $k)
		[ "${v:-x}" = 0 ] || out="$out $k=${v:-?}"
	done
	[ "$(tb_nvio_get "$1" state_name)" = fatal ] &&
		out="$out fatal=$(tb_nvio_get "$1" fatal_code)/$(tb_nvio_get "$1" fatal_detail)"
	echo "${out# }"
}

# tb_nvio_short COUNTERS: the counters a log line shows.
tb_nvio_short() {
	local k out=
	for k in state_name queues completions writes reads blocks_verified sweeps errors \
		mismatches lost unexpected late; do
		out="$out $k=$(tb_nvio_get "$1" $k)"
	done
	echo "${out# }"
}

# tb_nvio_poll_start SOCKET FILE [INDEX]: polls the counters of the guest's
# controller INDEX through its own QMP socket every 0.2 s, keeping the last
# good reading in FILE, until the socket goes or tb_nvio_poll_stop; bounded
# to 30 minutes. One poller per FILE; start one for each controller.
tb_nvio_poll_start() {
	local addr
	addr=$(tb_nvio_addr "${3:-0}")
	(
		local end=$(($(cut -d. -f1 /proc/uptime) + 1800)) out
		while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ] && [ -S "$1" ]; do
			out=$(printf '%s\n%s\n' '{"execute":"qmp_capabilities"}' \
				"{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"xp /40wx $addr\"}}" |
				timeout 2 socat -t 1 - "UNIX-CONNECT:$1" 2>/dev/null |
				jq -r 'select(.return | type == "string") | .return' 2>/dev/null |
				/tb/guest/nvme-io-read-counters.sh 2>/dev/null) &&
				echo "$out" >"$2.new" && mv "$2.new" "$2"
			sleep 0.2
		done
	) &
	TB_NVIO_POLL_PID=$!
	TB_NVIO_POLL_PIDS="${TB_NVIO_POLL_PIDS:-} $!"
}

# tb_nvio_poll_stop: stops every poller started (and one a scenario started
# itself into TB_NVIO_POLL_PID).
tb_nvio_poll_stop() {
	local p
	for p in ${TB_NVIO_POLL_PIDS:-} ${TB_NVIO_POLL_PID:-}; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	TB_NVIO_POLL_PIDS=
	TB_NVIO_POLL_PID=
	return 0
}

# tb_tvf_load [PARAM=VALUE...]: load the test variant driver.
tb_tvf_load() {
	modprobe vfio_pci_core || tb_fail "no vfio_pci_core"
	insmod /tb/kmod/nvfm_tvf.ko "$@" || tb_fail "cannot load nvfm_tvf.ko"
}

tb_tvf_digest() { cat "/sys/bus/pci/devices/$1/nvfm_tvf_digest"; }
tb_tvf_info() { sed -n "s/^$2: //p" "/sys/bus/pci/devices/$1/nvfm_tvf_info"; }

# ---- the mdev register-file driver (tests/kmod/nvfm_regs.c) ----

# tb_regs_load [PARAM=VALUE...]: load mdev and nvfm_regs.
tb_regs_load() {
	modprobe -a vfio vfio_iommu_type1 mdev || tb_fail "no vfio / mdev modules"
	insmod /tb/kmod/nvfm_regs.ko "$@" || tb_fail "cannot load nvfm_regs.ko"
}

# tb_regs_create UUID: create an nvfm_regs mdev.
tb_regs_create() {
	echo "$1" >/sys/class/mdev_bus/nvfm_regs/mdev_supported_types/nvfm_regs-1/create ||
		tb_fail "cannot create the nvfm_regs mdev $1"
	[ -e "/sys/bus/mdev/devices/$1/iommu_group" ] || tb_fail "mdev $1 has no IOMMU group"
}

tb_regs_digest() { cat "/sys/bus/mdev/devices/$1/nvfm_regs_digest"; }
tb_regs_info() { sed -n "s/^$2: //p" "/sys/bus/mdev/devices/$1/nvfm_regs_info"; }

# ---- QMP over a UNIX socket ----
# One connection per host process, through two FIFOs on fds 7 and 8 so that
# every subshell ($(...), pipelines) can use it, unlike coproc fds.

# tb_qmp_open SOCKET: connect and negotiate.
tb_qmp_open() {
	local i line
	for i in $(seq 100); do
		[ -S "$1" ] && break
		sleep 0.1
	done
	rm -f /run/tb/qmp.in /run/tb/qmp.out
	mkfifo /run/tb/qmp.in /run/tb/qmp.out
	socat - "UNIX-CONNECT:$1" </run/tb/qmp.in >/run/tb/qmp.out &
	TB_QMP_PID=$!
	exec 7>/run/tb/qmp.in 8</run/tb/qmp.out
	read -r -t 10 line <&8 || tb_fail "no QMP greeting on $1"
	tb_qmp '{"execute":"qmp_capabilities"}' >/dev/null
}

# tb_qmp JSON: send one command, print its reply line (events are skipped).
tb_qmp() {
	local line
	echo "$1" >&7
	while read -r -t 30 line <&8; do
		case "$line" in
		*'"event"'*) continue ;;
		esac
		echo "$line"
		return 0
	done
	tb_fail "no QMP reply to $1"
}

tb_qmp_close() {
	exec 7>&- 8<&-
	[ -n "${TB_QMP_PID:-}" ] && kill "$TB_QMP_PID" 2>/dev/null
	wait "${TB_QMP_PID:-}" 2>/dev/null
	TB_QMP_PID=
	return 0
}

# tb_hmp CMD: run a human monitor command, print its text.
tb_hmp() {
	tb_qmp "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"$1\"}}" |
		jq -r '.return // .error.desc'
}

# The nested guest's counter (see guest/counter.S).
tb_guest_counter() {
	local v
	v=$(tb_hmp 'xp /1wx 0x200000' | sed -n 's/.*: *\(0x[0-9a-f]*\).*/\1/p')
	printf '%d\n' "${v:-0}"
}

# tb_guest_counting TIMEOUT: wait until the nested guest's counter moves
# (firmware runs first, slowly, under nested TCG); print the last two values.
tb_guest_counting() {
	local end=$(($(cut -d. -f1 /proc/uptime) + $1)) c0 c1
	c0=$(tb_guest_counter)
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		sleep 1
		c1=$(tb_guest_counter)
		if [ "$c1" -gt "$c0" ] && [ "$c0" -gt 0 ]; then
			echo "$c0 $c1"
			return 0
		fi
		c0=$c1
	done
	return 1
}

# tb_nested_qemu VF [EXTRA ARGS...]: start the nested guest with VF assigned
# (vfio-pci, enable-migration=on); QMP at /run/tb/nested.sock. The guest is
# $TB_NESTED_KERNEL: the counting guest by default, guest/nvme-io for one
# that drives its VF.
TB_NESTED_KERNEL=${TB_NESTED_KERNEL:-/tb/guest/counter.elf}
tb_nested_qemu() {
	local vf=$1
	shift
	qemu-system-x86_64 -machine q35 -accel tcg,tb-size=64 -cpu qemu64 -smp 1 -m 16 \
		-nodefaults -no-user-config -display none -serial none -monitor none \
		-kernel "$TB_NESTED_KERNEL" \
		-device pcie-root-port,id=rp0,chassis=1,bus=pcie.0,addr=0x3 \
		-device "vfio-pci,host=$vf,id=vf0,bus=rp0,enable-migration=on,x-msix-relocation=bar2" \
		-qmp unix:/run/tb/nested.sock,server=on,wait=off \
		"$@" >/run/tb/nested.log 2>&1 &
	TB_NESTED_PID=$!
	echo $TB_NESTED_PID >/run/tb/nested.pid
}

tb_nested_stop() {
	local i
	[ -n "${TB_NESTED_PID:-}" ] || return 0
	kill "$TB_NESTED_PID" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$TB_NESTED_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$TB_NESTED_PID" 2>/dev/null
	wait "$TB_NESTED_PID" 2>/dev/null
	TB_NESTED_PID=
	return 0
}
