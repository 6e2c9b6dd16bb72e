#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The libvirt hook (hooks/nvme-vf-migrate-hook), one case per invocation:
#   libvirt-hook.sh CASE HOOK [TINY_GUEST]
#
# hook          the hook alone, fed domain XML as libvirtd would (no daemon):
#               every operation, both stop-reason conventions, idempotence,
#               rollback, state files, configuration errors
# migrate       two libvirtd in two network namespaces, each with the hook
#               and an emulated PF; "virsh migrate --live --p2p" of a domain
#               with an emulated VF running the tiny guest
# no-free-vf    B's PF has no free VF: migrate begin refuses, the migration
#               is aborted with the hook's reason, the domain runs on A
# fail-prepare  B's prepare hook fails (injected): the incoming domain
#               stops on B and the hook releases what it provisioned there
# fail-started  B's started hook fails after the hook ran (injected): the
#               same, from the "started" phase, with the stop reason found
#               in the domain log (libvirt < 10.5 passes "-")
# concurrent    two domains, each with its VF, "virsh migrate"d at once
#               through the same hooks: each gets its own VF on B
# concurrent-one-fails
#               the same, B's prepare fails for the second domain only: the
#               first completes, the second runs on A again, B keeps nothing
# big-xml       the hook alone, fed 16 MiB of domain XML: refused with one
#               line before the parse, with a bounded peak RSS; max_xml_size
#               in hook.conf is checked
#
# Namespaces, veth names and 10.x addresses derive from our PID; the trap
# stops only the daemons this script started (by the PIDs in their pid
# files) and removes the namespaces and the work directory.
set -u
CASE=$1
HOOK=$2
GUEST=${3:-}
TOOL=${NVFM_CLI:?NVFM_CLI must name the nvme-vf-migrate binary}
UUID=6d1b2c3a-9e8f-4a7b-8c6d-5e4f3a2b1c0d
DOM=nvfm-hook-vm

skip() {
	echo "SKIP [libvirt-$CASE]: $*"
	exit 77
}

[ -x "$HOOK" ] || skip "the hook was not built ($HOOK)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-lvhook.XXXXXX")
A=$WORK/A
B=$WORK/B
NS_MADE=
DAEMONS=

cleanup() {
	# the domain first (libvirtd leaves running domains behind when it
	# exits), then the daemons; QEMU by its pid file if destroy failed
	for d in $DAEMONS; do
		for dom in $DOM ${DOM2:-}; do
			[ -e "$d/run/qemu/$dom.pid" ] || continue
			ns=$NSA ip=$IPA
			[ "$d" = "$B" ] && ns=$NSB ip=$IPB
			timeout 20 ip netns exec "$ns" virsh -q -c "qemu+tcp://$ip/system" destroy "$dom" \
				>/dev/null 2>&1
		done
	done
	for d in $DAEMONS; do
		pid=$(cat "$d/run/libvirtd.pid" 2>/dev/null)
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	done
	for d in $DAEMONS; do
		pid=$(cat "$d/run/libvirtd.pid" 2>/dev/null)
		if [ -n "$pid" ]; then
			n=50
			while kill -0 "$pid" 2>/dev/null && [ "$n" -gt 0 ]; do
				sleep 0.1
				n=$((n - 1))
			done
			kill -KILL "$pid" 2>/dev/null
		fi
		for dom in $DOM ${DOM2:-}; do
			qpid=$(cat "$d/run/qemu/$dom.pid" 2>/dev/null)
			[ -n "$qpid" ] && kill -KILL "$qpid" 2>/dev/null
		done
	done
	for ns in $NS_MADE; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "${KEEP:-}" ]; then
		echo "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

fail() {
	echo "FAIL [libvirt-$CASE]: $*" >&2
	for h in A B; do
		for f in calls.log hook.log log/libvirtd.log "log/qemu/$DOM.log" out err; do
			[ -s "$WORK/$h/$f" ] && { echo "--- $h/$f" >&2; tail -n 25 "$WORK/$h/$f" >&2; }
		done
	done
	exit 1
}

# ---- emulated PFs, one per host --------------------------------------------

# emu_on HOSTDIR CLI-ARGS...: the CLI with that host's emulated devices
emu_on() {
	d=$1
	shift
	NVFM_EMU_DIR=$d/emu "$TOOL" "$@"
}

# pf_vfs HOSTDIR PF: "ADDRESS STATE" of each of the PF's VFs, from the
# fields of "vf list --json" (nothing if the PF is unknown)
pf_vfs() {
	emu_on "$1" --json vf list --pf "$2" 2>/dev/null | python3 -c '
import json, sys
text = sys.stdin.read()
for pf in json.loads(text)["pfs"] if text.strip() else []:
    for vf in pf.get("vfs", []):
        print(vf["address"], vf["state"])'
}

# vf_state HOSTDIR VF: "online", "offline" or "missing"
vf_state() {
	pf_vfs "$1" "${2%-vf*}" |
		awk -v vf="$2" '$1 == vf { print $2; found = 1 } END { if (!found) print "missing" }'
}

# online_count HOSTDIR PF: how many of the PF's VFs are online
online_count() {
	pf_vfs "$1" "$2" | awk '$2 == "online" { n++ } END { print n + 0 }'
}

expect_vf() {
	got=$(vf_state "$1" "$2")
	[ "$got" = "$3" ] || fail "$2 is $got, expected $3"
}

# hostdirs and configs; make_pf HOSTDIR NAME VFS
make_host() {
	d=$1
	mkdir -p "$d/etc/hooks/qemu.d" "$d/run" "$d/lib" "$d/cache" "$d/log/qemu" "$d/emu"
	cat >"$d/hook.conf" <<-EOF
	[hook]
	pf = $2
	emu_dir = $d/emu
	runtime_dir = $d/hookrun
	qemu_log_dir = $d/log/qemu
	log_file = $d/hook.log
	EOF
}

make_pf() {
	emu_on "$1" -q emu pf-create "$2" --vfs "$3" --vq 16 --vi 8 || fail "emu pf-create $2"
}

# ---- the hook alone ----------------------------------------------------------

domain_xml() {
	# domain_xml VF-DEVICE...: a domain whose metadata lists emulated VFs
	cat <<-EOF
	<domain type='qemu'>
	  <name>$DOM</name>
	  <uuid>$UUID</uuid>
	  <metadata>
	    <nvfm:vfs xmlns:nvfm="urn:nvme-vf-migrate:1">
	EOF
	i=0
	for v in "$@"; do
		echo "      <nvfm:vf alias=\"ua-nvme$i\" device=\"$v\" nvq=\"4\" nvi=\"2\"/>"
		i=$((i + 1))
	done
	cat <<-EOF
	    </nvfm:vfs>
	  </metadata>
	  <memory unit='KiB'>131072</memory>
	  <devices>
	    <hostdev mode='subsystem' type='pci' managed='yes'>
	      <source>
	        <address domain='0x0000' bus='0x5e' slot='0x00' function='0x1'/>
	      </source>
	      <alias name='hostdev0'/>
	      <address type='pci' domain='0x0000' bus='0x06' slot='0x00' function='0x0'/>
	    </hostdev>
	  </devices>
	</domain>
	EOF
}

# hook_on HOSTDIR OP SUBOP EXTRA < xml: sets RC; stdout in HOSTDIR/out,
# stderr in HOSTDIR/err
hook_on() {
	d=$1
	shift
	NVFM_CONFIG=$d/hook.conf "$HOOK" "$DOM" "$@" >"$d/out" 2>"$d/err"
	RC=$?
}

expect_ok() {
	[ "$RC" -eq 0 ] || fail "$1: exit $RC: $(cat "$2/err")"
}

expect_refused() {
	# expect_refused WHAT HOSTDIR PATTERN
	[ "$RC" -ne 0 ] || fail "$1: succeeded, expected a refusal"
	[ "$(wc -l <"$2/err")" -eq 1 ] || fail "$1: more than one line on stderr"
	grep -q -- "$3" "$2/err" || fail "$1: stderr lacks '$3': $(cat "$2/err")"
	[ ! -s "$2/out" ] || fail "$1: printed XML although it failed"
}

state_file() {
	echo "$1/hookrun/$UUID.json"
}

state_phase() {
	sed -n 's/^ *"phase": "\([a-z]*\)".*/\1/p' "$(state_file "$1")"
}

mode_of() {
	stat -c %a "$1"
}

# libvirt's lines in the domain log, as the stop reason is read from them
domlog() {
	# domlog HOSTDIR REASON
	{
		echo "2025-01-01 10:00:00.000+0000: starting up libvirt version: 9.0.0"
		echo "LC_ALL=C /usr/bin/qemu-system-x86_64 -name guest=$DOM"
		echo "2025-01-01 10:05:00.000+0000: shutting down, reason=$2"
	} >>"$1/log/qemu/$DOM.log"
}

case_hook() {
	make_host "$A" emu:pfA
	make_host "$B" "emu:nope, emu:pfB"
	make_pf "$A" pfA 2
	make_pf "$B" pfB 2
	emu_on "$A" -q vf provision emu:pfA --vq 4 --vi 2 || fail "provision on A"
	domain_xml emu:pfA-vf0 >"$WORK/dom.xml"
	domain_xml emu:pfA-vf0 emu:pfA-vf1 >"$WORK/dom2.xml"

	# operations the hook has no business with: exit 0 at once, silent,
	# stdin never read (a read on this idle FIFO would hang until timeout)
	mkfifo "$WORK/idle"
	exec 3<>"$WORK/idle"
	for op in "start begin -" "stopped end -" "stopped end migrated" "restore begin -" \
		"reconnect begin -" "attach begin -" "migrate end -" "release begin -"; do
		# shellcheck disable=SC2086
		NVFM_CONFIG=$B/hook.conf timeout 10 "$HOOK" "$DOM" $op <&3 >"$B/out" 2>"$B/err"
		RC=$?
		[ "$RC" -eq 0 ] || fail "'$op' exited $RC"
		[ ! -s "$B/out" ] && [ ! -s "$B/err" ] || fail "'$op' printed something"
	done
	exec 3<&-
	[ ! -e "$B/hookrun" ] || fail "an ignored operation created the runtime directory"

	# a domain without nvme-vf-migrate VFs: nothing printed, libvirt keeps
	# its XML; the unlisted PCI hostdev is not ours
	sed '/<metadata>/,/<\/metadata>/d' "$WORK/dom.xml" >"$WORK/plain.xml"
	hook_on "$B" migrate begin - <"$WORK/plain.xml"
	expect_ok "migrate begin (no VFs)" "$B"
	[ ! -s "$B/out" ] || fail "migrate begin printed XML for a domain without VFs"

	# broken input and configuration: one line, non-zero, nothing provisioned
	echo "<domain><name>x</name>" | { hook_on "$B" migrate begin -; echo $RC >"$WORK/rc"; }
	RC=$(cat "$WORK/rc")
	expect_refused "malformed XML" "$B" "invalid domain XML: line 2"
	cp "$B/hook.conf" "$WORK/good.conf"
	echo "hostdevs = some" >>"$B/hook.conf"
	hook_on "$B" migrate begin - <"$WORK/dom.xml"
	expect_refused "bad config" "$B" "hook.conf:[0-9]*: hostdevs: must be one of listed, all"
	cp "$WORK/good.conf" "$B/hook.conf"
	NVFM_CONFIG=$WORK/none.conf "$HOOK" "$DOM" migrate begin - <"$WORK/dom.xml" \
		>"$B/out" 2>"$B/err"
	RC=$?
	expect_refused "missing config" "$B" "none.conf.*No such file"
	sed 's/<nvfm:vf alias="ua-nvme0" device="emu:pfA-vf0"/<nvfm:vf alias="hostdev0"/' \
		"$WORK/dom.xml" >"$WORK/pci.xml"
	grep -q 'alias="hostdev0" nvq' "$WORK/pci.xml" || fail "test bug: pci.xml"
	hook_on "$B" migrate begin - <"$WORK/pci.xml"
	expect_refused "listed PCI hostdev, emulated PFs only" "$B" "no PCI PF is configured"
	[ "$(online_count "$B" emu:pfB)" = 0 ] || fail "a refused call provisioned a VF"

	# all or nothing: the second VF finds no room, the first is given back
	emu_on "$B" -q vf provision emu:pfB || fail "provision on B"
	hook_on "$B" migrate begin - <"$WORK/dom2.xml"
	expect_refused "two VFs, one free" "$B" "no VF for ua-nvme1 (emu:pfA-vf1): emu:nope: .*; emu:pfB: .*released the VFs it provisioned"
	[ "$(online_count "$B" emu:pfB)" = 1 ] || fail "rollback left a VF provisioned"
	[ ! -e "$(state_file "$B")" ] || fail "rollback left a state file"
	emu_on "$B" -q vf release emu:pfB-vf0 || fail "release on B"

	# migrate begin: a VF like the source's, the XML rewritten, state kept
	hook_on "$B" migrate begin - <"$WORK/dom.xml"
	expect_ok "migrate begin" "$B"
	sed 's/device="emu:pfA-vf0"/device="emu:pfB-vf0"/' "$WORK/dom.xml" >"$WORK/want.xml"
	cmp -s "$B/out" "$WORK/want.xml" || fail "rewritten XML differs: $(diff "$WORK/want.xml" "$B/out")"
	grep -q "provisioned emu:pfB-vf0 on PF emu:pfB for ua-nvme0 (was emu:pfA-vf0; 4 VQ, 2 VI" \
		"$B/err" || fail "no action line: $(cat "$B/err")"
	expect_vf "$B" emu:pfB-vf0 online
	[ "$(mode_of "$B/hookrun")" = 700 ] || fail "runtime dir mode $(mode_of "$B/hookrun")"
	[ "$(mode_of "$(state_file "$B")")" = 600 ] || fail "state file mode"
	[ "$(state_phase "$B")" = incoming ] || fail "phase $(state_phase "$B")"

	# prepare begin: the VF is put back on its VFIO driver
	emu_on "$B" -q vf bind emu:pfB-vf0 nvme || fail "vf bind nvme"
	cp "$WORK/want.xml" "$WORK/b.xml"
	hook_on "$B" prepare begin - <"$WORK/b.xml"
	expect_ok "prepare begin" "$B"
	grep -q "bound emu:pfB-vf0 to emu-vfio-pci (was nvme)" "$B/err" ||
		fail "prepare did not rebind: $(cat "$B/err")"
	hook_on "$B" prepare begin - <"$WORK/b.xml"
	[ ! -s "$B/err" ] || fail "a second prepare acted again"

	# an incoming migration that fails before QEMU starts: released
	hook_on "$B" release end - <"$WORK/b.xml"
	expect_ok "release end (incoming)" "$B"
	grep -q "incoming migration stopped before its QEMU ran (reason unknown): releasing 1 VF" \
		"$B/err" || fail "release end (incoming): $(cat "$B/err")"
	expect_vf "$B" emu:pfB-vf0 offline
	[ ! -e "$(state_file "$B")" ] || fail "state file left after the release"
	hook_on "$B" release end - <"$WORK/b.xml"
	expect_ok "second release end" "$B"
	[ ! -s "$B/err" ] || fail "a second release acted again: $(cat "$B/err")"

	# an incoming migration whose QEMU started, then stopped (libvirt 9.0
	# passes "-": the reason comes from the domain log)
	hook_on "$B" migrate begin - <"$WORK/dom.xml"
	expect_ok "migrate begin (2)" "$B"
	hook_on "$B" started begin - <"$WORK/b.xml"
	expect_ok "started begin" "$B"
	[ "$(state_phase "$B")" = started ] || fail "started did not record the phase"
	hook_on "$B" migrate begin - <"$WORK/dom.xml"
	expect_refused "migrate begin while started" "$B" "already has VFs here"
	domlog "$B" failed
	hook_on "$B" release end - <"$WORK/b.xml"
	expect_ok "release end (failed)" "$B"
	grep -q "incoming migration failed (reason failed, from the domain log)" "$B/err" || fail "log reason: $(cat "$B/err")"
	expect_vf "$B" emu:pfB-vf0 offline

	# a domain that arrived and later stopped for good: its VFs stay
	hook_on "$B" migrate begin - <"$WORK/dom.xml"
	hook_on "$B" started begin - <"$WORK/b.xml"
	domlog "$B" destroyed
	hook_on "$B" release end - <"$WORK/b.xml"
	expect_ok "release end (destroyed)" "$B"
	expect_vf "$B" emu:pfB-vf0 online
	[ ! -e "$(state_file "$B")" ] || fail "state file left after an ordinary stop"
	emu_on "$B" -q vf release emu:pfB-vf0 || fail "release on B"

	# the source after a successful migration, libvirt >= 10.5: "migrated"
	hook_on "$A" release end migrated <"$WORK/dom.xml"
	expect_ok "release end migrated" "$A"
	grep -q "migrated away (reason migrated): releasing 1 VF" "$A/err" || fail "$(cat "$A/err")"
	expect_vf "$A" emu:pfA-vf0 offline
	hook_on "$A" release end migrated <"$WORK/dom.xml"
	expect_ok "second release end migrated" "$A"
	[ ! -s "$A/err" ] || fail "a second release acted again: $(cat "$A/err")"

	# libvirt < 10.5: "-"; the log decides, and only its last stop counts
	emu_on "$A" -q vf provision emu:pfA --vq 4 --vi 2 || fail "provision on A"
	domlog "$A" shutdown
	hook_on "$A" release end - <"$WORK/dom.xml"
	expect_ok "release end - (shutdown)" "$A"
	expect_vf "$A" emu:pfA-vf0 online
	domlog "$A" migrated
	echo "2025-01-01 11:00:00.000+0000: starting up libvirt version: 9.0.0" >>"$A/log/qemu/$DOM.log"
	hook_on "$A" release end - <"$WORK/dom.xml"
	expect_ok "release end - (stale log)" "$A"
	expect_vf "$A" emu:pfA-vf0 online
	domlog "$A" migrated
	echo "unknown_reason = keep" >>"$A/hook.conf"
	hook_on "$A" release end - <"$WORK/dom.xml"
	expect_ok "release end - (keep)" "$A"
	expect_vf "$A" emu:pfA-vf0 online
	sed -i '/unknown_reason/d' "$A/hook.conf"
	hook_on "$A" release end - <"$WORK/dom.xml"
	expect_ok "release end - (migrated)" "$A"
	grep -q "reason migrated, from the domain log" "$A/err" || fail "$(cat "$A/err")"
	expect_vf "$A" emu:pfA-vf0 offline
	rm -f "$A/log/qemu/$DOM.log"
	emu_on "$A" -q vf provision emu:pfA --vq 4 --vi 2 || fail "provision on A"
	hook_on "$A" release end - <"$WORK/dom.xml"
	expect_ok "release end - (no log)" "$A"
	expect_vf "$A" emu:pfA-vf0 online

	# every action also went to the log file
	grep -q "migrate begin: provisioned emu:pfB-vf0" "$B/hook.log" || fail "hook.log lacks actions"
	echo "ok: the hook alone"
}

# ---- two libvirtd ----------------------------------------------------------

libvirt_prereqs() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, libvirtd)"
	command -v ip >/dev/null 2>&1 || skip "needs iproute2"
	command -v unshare >/dev/null 2>&1 || skip "needs unshare (util-linux)"
	command -v libvirtd >/dev/null 2>&1 || skip "libvirtd is not installed (libvirt-daemon)"
	command -v virsh >/dev/null 2>&1 || skip "virsh is not installed (libvirt-clients)"
	QEMU=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 is not installed"
	[ -n "$GUEST" ] && [ -f "$GUEST" ] || skip "the tiny guest was not built (needs as and ld)"
	ID=$$
	NSA=nvlA$ID
	NSB=nvlB$ID
	IPA=10.$((ID % 200 + 20)).$((ID / 200 % 250 + 1)).1
	IPB=10.$((ID % 200 + 20)).$((ID / 200 % 250 + 1)).2
}

make_netns() {
	ip netns add "$NSA" 2>/dev/null || skip "cannot create network namespaces"
	NS_MADE=$NSA
	ip netns add "$NSB" || fail "ip netns add $NSB"
	NS_MADE="$NSA $NSB"
	ip link add "nla$ID" netns "$NSA" type veth peer name "nlb$ID" netns "$NSB" || fail "veth"
	ip -n "$NSA" addr add "$IPA/24" dev "nla$ID"
	ip -n "$NSB" addr add "$IPB/24" dev "nlb$ID"
	for ns in "$NSA" "$NSB"; do
		ip -n "$ns" link set lo up
	done
	ip -n "$NSA" link set "nla$ID" up
	ip -n "$NSB" link set "nlb$ID" up
}

# libvirt_host HOSTDIR IP HOST-UUID: configuration and the hook, installed
# as a wrapper that records each call and can inject failures
libvirt_host() {
	d=$1
	cat >"$d/etc/libvirtd.conf" <<-EOF
	listen_tls = 0
	listen_tcp = 1
	listen_addr = "$2"
	auth_tcp = "none"
	auth_unix_ro = "none"
	auth_unix_rw = "none"
	host_uuid = "$3"
	log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
	EOF
	cat >"$d/etc/qemu.conf" <<-EOF
	stdio_handler = "file"
	migration_host = "$2"
	user = "root"
	group = "root"
	dynamic_ownership = 0
	remember_owner = 0
	security_driver = "none"
	cgroup_controllers = [ ]
	namespaces = [ ]
	EOF
	# migrate-libvirt.sh's TLS cases: the host's PKI as libvirt reads it
	# for VIR_MIGRATE_TLS (ca-cert.pem, server-*.pem, client-*.pem)
	# (and every migration must be TLS: the hook then has no warning)
	[ ! -d "$d/pki" ] || printf 'migrate_tls_x509_cert_dir = "%s"\nmigrate_tls_force = 1\n' \
		"$d/pki" >>"$d/etc/qemu.conf"
	# libvirtd passes hooks only PATH, HOME, USER, LOGNAME and LC_ALL, so
	# the wrapper names the configuration (as an operator's would)
	cat >"$d/etc/hooks/qemu.d/nvme-vf-migrate" <<-EOF
	#!/bin/sh
	echo "\$*" >>"$d/calls.log"
	[ -e "$d/env.log" ] || env >"$d/env.log"
	if [ -e "$d/fail-before-\$2-\$3" ] || [ -e "$d/fail-before-\$1-\$2-\$3" ]; then
	    echo "injected failure before \$2 \$3" >&2
	    exit 1
	fi
	NVFM_CONFIG="$d/hook.conf" "$HOOK" "\$@" || exit \$?
	if [ -e "$d/fail-after-\$2-\$3" ]; then
	    echo "injected failure after \$2 \$3" >&2
	    exit 1
	fi
	exit 0
	EOF
	chmod 755 "$d/etc/hooks/qemu.d/nvme-vf-migrate"
	# migrate-libvirt.sh's cases without the hook
	[ -z "${NVFM_LVHOOK_NONE:-}" ] || rm -f "$d/etc/hooks/qemu.d/nvme-vf-migrate"
}

# A cold libvirtd probes QEMU for seconds; the probe's result is cached in
# the build tree for the next case. libvirt checks each entry against the
# QEMU binary, its own version and the kernel, and probes again when one
# no longer fits, so a stale copy costs time, never correctness.
CAPS_CACHE=${NVFM_BUILD_ROOT:+$NVFM_BUILD_ROOT/tests/hosts/libvirt-caps}
caps_cache_seed() {
	[ -n "$CAPS_CACHE" ] && [ -d "$CAPS_CACHE" ] || return 0
	mkdir -p "$1/cache/qemu/capabilities"
	cp "$CAPS_CACHE"/*.xml "$1/cache/qemu/capabilities/" 2>/dev/null
	return 0
}
caps_cache_keep() {
	[ -n "$CAPS_CACHE" ] || return 0
	ls "$1"/cache/qemu/capabilities/*.xml >/dev/null 2>&1 || return 0
	mkdir -p "$CAPS_CACHE" && cp "$1"/cache/qemu/capabilities/*.xml "$CAPS_CACHE/"
	return 0
}

# start_libvirtd HOSTDIR NS: in its own mount namespace with private
# copies of libvirt's directories. Its QEMU driver resolves the user
# "libvirt-qemu" at start-up even when qemu.conf says root; only
# libvirt-daemon-system (which brings init scripts and firewall packages
# along) creates that user, so the namespace gets passwd and group files
# with it instead of the machine getting a new account.
start_libvirtd() {
	d=$1
	cp /etc/passwd "$d/passwd" && cp /etc/group "$d/group" || fail "copying passwd"
	getent passwd libvirt-qemu >/dev/null ||
		echo "libvirt-qemu:x:64055:64055:nvfm test:/var/lib/libvirt:/usr/sbin/nologin" >>"$d/passwd"
	getent group libvirt-qemu >/dev/null || echo "libvirt-qemu:x:64055:" >>"$d/group"
	getent group kvm >/dev/null || echo "kvm:x:64056:" >>"$d/group"
	ip netns exec "$2" unshare -m --propagation private sh -c '
		d=$1
		mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt &&
		mount --bind "$d/etc" /etc/libvirt && mount --bind "$d/run" /run/libvirt &&
		mount --bind "$d/lib" /var/lib/libvirt && mount --bind "$d/cache" /var/cache/libvirt &&
		mount --bind "$d/log" /var/log/libvirt &&
		mount --bind "$d/passwd" /etc/passwd && mount --bind "$d/group" /etc/group &&
		exec libvirtd --listen -f /etc/libvirt/libvirtd.conf --pid-file /run/libvirt/libvirtd.pid
	' sh "$d" >"$d/libvirtd.out" 2>&1 &
	DAEMONS="$DAEMONS $d"
}

# virsh_on NS IP ARGS...
virsh_on() {
	ns=$1
	ip=$2
	shift 2
	timeout 120 ip netns exec "$ns" virsh -q -c "qemu+tcp://$ip/system" "$@"
}
va() { virsh_on "$NSA" "$IPA" "$@"; }
vb() { virsh_on "$NSB" "$IPB" "$@"; }

wait_libvirtd() {
	# wait_libvirtd NS IP HOSTDIR: bounded, 90 s (a cold start probes QEMU)
	end=$(($(date +%s) + 90))
	until timeout 5 ip netns exec "$1" virsh -q -c "qemu+tcp://$2/system" \
		capabilities >/dev/null 2>&1; do
		pid=$(cat "$3/run/libvirtd.pid" 2>/dev/null)
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			fail "libvirtd at $2 exited: $(tail -n 3 "$3/libvirtd.out")"
		fi
		grep -q "Driver state initialization failed" "$3/log/libvirtd.log" 2>/dev/null &&
			fail "libvirtd at $2 could not start its drivers"
		[ "$(date +%s)" -lt "$end" ] || fail "libvirtd at $2 did not come up"
		sleep 0.2
	done
}

# counter DOMAIN-VIRSH: the tiny guest's counter at 0x200000
counter() {
	"$@" qemu-monitor-command "$DOM" --hmp "xp /1wx 0x200000" 2>/dev/null |
		sed -n 's/.*: *\(0x[0-9a-f]*\).*/\1/p'
}

expect_running() {
	# expect_running WHERE VIRSH-FN: the domain runs and its guest advances
	st=$("$2" domstate "$DOM" 2>&1)
	[ "$st" = running ] || fail "domain on $1 is '$st', expected running"
	c1=$(counter "$2")
	[ -n "$c1" ] || fail "cannot read the guest counter on $1"
	n=100
	while [ "$(counter "$2")" = "$c1" ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "the guest on $1 does not advance"
		sleep 0.1
	done
}

# guest_xml [bare]: the tiny guest, with its VF in the metadata unless
# "bare" (then the test adds it with virsh metadata, as an operator would)
guest_xml() {
	cat <<-EOF
	<domain type='qemu'>
	  <name>$DOM</name>
	  <uuid>$UUID</uuid>
	EOF
	[ "${1:-}" = bare ] || cat <<-EOF
	  <metadata>
	    <nvfm:vfs xmlns:nvfm="urn:nvme-vf-migrate:1">
	      <nvfm:vf alias="ua-nvme0" device="emu:pfA-vf0" nvq="4" nvi="2"/>
	    </nvfm:vfs>
	  </metadata>
	EOF
	cat <<-EOF
	  <memory unit='MiB'>128</memory>
	  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>$GUEST</kernel></os>
	  <features><acpi/></features>
	  <devices><emulator>$QEMU</emulator></devices>
	</domain>
	EOF
}

# setup_two_hosts B-VFS [bare]: two hosts, both daemons up, the domain
# running on A with emu:pfA-vf0
setup_two_hosts() {
	b_vfs=$1
	libvirt_prereqs
	make_netns
	make_host "$A" emu:pfA
	make_host "$B" emu:pfB
	make_pf "$A" pfA 2
	make_pf "$B" pfB "$b_vfs"
	emu_on "$A" -q vf provision emu:pfA --vq 4 --vi 2 || fail "provision on A"
	libvirt_host "$A" "$IPA" 0b7e9a52-1c55-4c0e-9d6e-6a4b8f1a0001
	libvirt_host "$B" "$IPB" 0b7e9a52-1c55-4c0e-9d6e-6a4b8f1a0002
	caps_cache_seed "$A"
	caps_cache_seed "$B"
	start_libvirtd "$A" "$NSA"
	start_libvirtd "$B" "$NSB"
	wait_libvirtd "$NSA" "$IPA" "$A"
	wait_libvirtd "$NSB" "$IPB" "$B"
	caps_cache_keep "$A"
	guest_xml "${2:-}" >"$WORK/guest.xml"
	va create "$WORK/guest.xml" >/dev/null 2>"$WORK/create.err" ||
		fail "virsh create: $(cat "$WORK/create.err")"
	if [ "${2:-}" = bare ]; then
		va metadata "$DOM" urn:nvme-vf-migrate:1 --key nvfm --live --set \
			'<vfs><vf alias="ua-nvme0" device="emu:pfA-vf0" nvq="4" nvi="2"/></vfs>' \
			>/dev/null 2>"$WORK/create.err" || fail "virsh metadata: $(cat "$WORK/create.err")"
	fi
	expect_running A va
	: >"$A/calls.log"
	: >"$B/calls.log"
}

# two_vfs_metadata: the running domain gets A's second VF too, both listed
# in its live metadata (as an operator would with virsh metadata)
two_vfs_metadata() {
	emu_on "$A" -q vf provision emu:pfA --vq 4 --vi 2 || fail "second provision on A"
	va metadata "$DOM" urn:nvme-vf-migrate:1 --key nvfm --live --set \
		'<vfs><vf alias="ua-nvme0" device="emu:pfA-vf0" nvq="4" nvi="2"/><vf alias="ua-nvme1" device="emu:pfA-vf1" nvq="4" nvi="2"/></vfs>' \
		>/dev/null 2>"$WORK/create.err" || fail "virsh metadata: $(cat "$WORK/create.err")"
}

# expect_two_vfs_on_b: B's live XML names two distinct VFs of B (and none
# of A), both online there; A's two are given back
expect_two_vfs_on_b() {
	vb dumpxml "$DOM" >"$WORK/b-dump.xml" || fail "dumpxml on B"
	pairs=$(sed -n 's/.*alias="ua-nvme\([01]\)" device="\(emu:pfB-vf[0-9]*\)".*/\1 \2/p' "$WORK/b-dump.xml" |
		sort -u)
	[ "$(echo "$pairs" | awk '{print $2}' | sort -u | wc -l)" -eq 2 ] &&
		[ "$(echo "$pairs" | wc -l)" -eq 2 ] || fail "B's XML does not name two VFs of B: $pairs"
	grep -q 'emu:pfA' "$WORK/b-dump.xml" && fail "B's XML still names emu:pfA"
	for v in $(echo "$pairs" | awk '{print $2}'); do
		expect_vf "$B" "$v" online
	done
	[ "$(online_count "$B" emu:pfB)" = 2 ] || fail "B has $(online_count "$B" emu:pfB) VFs online"
	expect_vf "$A" emu:pfA-vf0 offline
	expect_vf "$A" emu:pfA-vf1 offline
	echo "B: $pairs" | tr '\n' ' '
}

migrate() {
	# sets MRC and $WORK/migrate.err
	va migrate --live --p2p "$DOM" "qemu+tcp://$IPB/system" >"$WORK/migrate.out" \
		2>"$WORK/migrate.err"
	MRC=$?
}

# calls HOSTDIR: the operations the hook saw, one per line, without domain
calls() {
	cut -d' ' -f2- "$1/calls.log"
}

# the source side after a failed migration: running, its VF untouched,
# nothing provisioned and no state left on B
expect_aborted() {
	[ "$MRC" -ne 0 ] || fail "virsh migrate succeeded, expected a failure"
	grep -q -- "$1" "$WORK/migrate.err" ||
		fail "virsh migrate error lacks '$1': $(cat "$WORK/migrate.err")"
	expect_running A va
	expect_vf "$A" emu:pfA-vf0 online
	[ "$(online_count "$B" emu:pfB)" = "$2" ] || fail "B has VFs provisioned: $(online_count "$B" emu:pfB)"
	[ -z "$(ls -A "$B/hookrun" 2>/dev/null)" ] || fail "state left on B: $(ls "$B/hookrun")"
	vb domstate "$DOM" >/dev/null 2>&1 && fail "the domain exists on B"
	[ ! -s "$A/calls.log" ] || fail "the hook ran on A: $(cat "$A/calls.log")"
}

case_migrate() {
	setup_two_hosts 2 bare
	migrate
	[ "$MRC" -eq 0 ] || fail "virsh migrate failed: $(cat "$WORK/migrate.err")"

	# destination: migrate begin, prepare, start, started, in this order
	printf 'migrate begin -\nprepare begin -\nstart begin -\nstarted begin -\n' >"$WORK/want"
	calls "$B" | grep -v '^\(restore\|reconnect\|attach\)' >"$WORK/got"
	cmp -s "$WORK/want" "$WORK/got" || fail "hook calls on B: $(tr '\n' ',' <"$WORK/got")"
	# source: stopped end and release end, with the reason or "-"
	calls "$A" >"$WORK/got"
	grep -qx 'stopped end \(-\|migrated\)' "$WORK/got" || fail "no stopped end on A"
	grep -qx 'release end \(-\|migrated\)' "$WORK/got" || fail "no release end on A"
	# the reduced environment libvirtd gives hooks
	grep -q '^NVFM_' "$B/env.log" && fail "libvirtd passed NVFM_* variables to the hook"

	# B runs the guest with its own VF; A gave its VF back
	expect_running B vb
	va domstate "$DOM" >/dev/null 2>&1 && fail "the domain still exists on A"
	vb dumpxml "$DOM" >"$WORK/b-dump.xml" || fail "dumpxml on B"
	grep -q 'device="emu:pfB-vf0"' "$WORK/b-dump.xml" || fail "B's XML does not name emu:pfB-vf0"
	grep -q 'emu:pfA' "$WORK/b-dump.xml" && fail "B's XML still names emu:pfA"
	grep -q 'nvq="4" nvi="2"' "$WORK/b-dump.xml" || fail "B's XML lost the VF's amounts"
	expect_vf "$B" emu:pfB-vf0 online
	emu_on "$B" --json vf list --pf emu:pfB | grep -q '"nvq": 4' || fail "B's VF lacks 4 VQ"
	expect_vf "$A" emu:pfA-vf0 offline
	grep -q "migrated away (reason migrated" "$A/hook.log" || fail "A's hook did not say why"
	[ "$(state_phase "$B")" = started ] || fail "B's state phase $(state_phase "$B")"

	# the domain stops on B for good: its VF stays, the state goes
	vb destroy "$DOM" >/dev/null || fail "virsh destroy on B"
	expect_vf "$B" emu:pfB-vf0 online
	[ ! -e "$(state_file "$B")" ] || fail "B's state file outlived the domain"
	echo "ok: migrated; calls on B: $(calls "$B" | tr '\n' ',')"
}

# ---- two domains at once ----------------------------------------------------

DOM2=nvfm-hook-vm2
UUID2=6d1b2c3a-9e8f-4a7b-8c6d-5e4f3a2b1c0e

# second_domain: DOM2 running on A with A's second VF, emu:pfA-vf1
second_domain() {
	emu_on "$A" -q vf provision emu:pfA --vq 4 --vi 2 || fail "second provision on A"
	guest_xml | sed "s|<name>$DOM</name>|<name>$DOM2</name>|; s|$UUID|$UUID2|; s|emu:pfA-vf0|emu:pfA-vf1|" \
		>"$WORK/guest2.xml"
	va create "$WORK/guest2.xml" >/dev/null 2>"$WORK/create.err" ||
		fail "virsh create $DOM2: $(cat "$WORK/create.err")"
	(DOM=$DOM2; expect_running A va) || fail "$DOM2 does not run on A"
}

# both_migrate: "virsh migrate" of both domains at once; R1 and R2
both_migrate() {
	va migrate --live --p2p "$DOM" "qemu+tcp://$IPB/system" >"$WORK/m1.out" 2>"$WORK/m1.err" &
	p1=$!
	va migrate --live --p2p "$DOM2" "qemu+tcp://$IPB/system" >"$WORK/m2.out" 2>"$WORK/m2.err" &
	p2=$!
	wait "$p1"
	R1=$?
	wait "$p2"
	R2=$?
}

# b_vf_of DOMAIN: the VF B's live XML gives the domain's ua-nvme0
b_vf_of() {
	vb dumpxml "$1" 2>/dev/null | sed -n 's/.*alias="ua-nvme0" device="\(emu:pfB-vf[0-9]*\)".*/\1/p'
}

case_concurrent() {
	# two domains through the same pair of hooks at once: each gets its own
	# VF on B, both run there, A gives both back
	setup_two_hosts 3
	second_domain
	both_migrate
	[ "$R1" -eq 0 ] || fail "virsh migrate $DOM failed: $(cat "$WORK/m1.err")"
	[ "$R2" -eq 0 ] || fail "virsh migrate $DOM2 failed: $(cat "$WORK/m2.err")"
	expect_running B vb
	(DOM=$DOM2; expect_running B vb) || fail "$DOM2 does not run on B"
	v1=$(b_vf_of "$DOM")
	v2=$(b_vf_of "$DOM2")
	[ -n "$v1" ] && [ -n "$v2" ] || fail "B's XML names no VF: '$v1' '$v2'"
	[ "$v1" != "$v2" ] || fail "both domains were given $v1 on B"
	expect_vf "$B" "$v1" online
	expect_vf "$B" "$v2" online
	[ "$(online_count "$B" emu:pfB)" = 2 ] || fail "B has $(online_count "$B" emu:pfB) VFs online, not 2"
	expect_vf "$A" emu:pfA-vf0 offline
	expect_vf "$A" emu:pfA-vf1 offline
	# each domain's own record on B, naming its own VF
	grep -q "$v1" "$B/hookrun/$UUID.json" || fail "B's record of $DOM does not name $v1"
	grep -q "$v2" "$B/hookrun/$UUID2.json" || fail "B's record of $DOM2 does not name $v2"
	echo "ok: both migrated at once: $DOM -> $v1, $DOM2 -> $v2"
}

case_concurrent_one_fails() {
	# the same, but B's prepare fails for the second domain only: the
	# first completes, the second runs on A again with its VF and B keeps
	# nothing of it
	setup_two_hosts 3
	second_domain
	touch "$B/fail-before-$DOM2-prepare-begin"
	both_migrate
	[ "$R1" -eq 0 ] || fail "virsh migrate $DOM failed: $(cat "$WORK/m1.err")"
	[ "$R2" -ne 0 ] || fail "virsh migrate $DOM2 succeeded despite the injected failure"
	grep -q "injected failure before prepare begin" "$WORK/m2.err" ||
		fail "$DOM2's error: $(cat "$WORK/m2.err")"
	expect_running B vb
	(DOM=$DOM2; expect_running A va) || fail "$DOM2 does not run on A"
	vb domstate "$DOM2" >/dev/null 2>&1 && fail "$DOM2 exists on B"
	v1=$(b_vf_of "$DOM")
	[ -n "$v1" ] || fail "B's XML of $DOM names no VF"
	expect_vf "$B" "$v1" online
	[ "$(online_count "$B" emu:pfB)" = 1 ] || fail "B has $(online_count "$B" emu:pfB) VFs online, not 1"
	[ ! -e "$B/hookrun/$UUID2.json" ] || fail "B kept a record of $DOM2"
	expect_vf "$A" emu:pfA-vf0 offline
	expect_vf "$A" emu:pfA-vf1 online
	echo "ok: $DOM migrated to $v1, $DOM2 rolled back to A"
}

# the hook with a domain of two VFs: B provisions one per VF
case_two_vfs() {
	setup_two_hosts 2 bare
	two_vfs_metadata
	migrate
	[ "$MRC" -eq 0 ] || fail "virsh migrate failed: $(cat "$WORK/migrate.err")"
	expect_running B vb
	expect_two_vfs_on_b
	echo "ok: both VFs migrated through the hook"
}

case_no_free_vf() {
	setup_two_hosts 1
	emu_on "$B" -q vf provision emu:pfB || fail "provision on B"
	migrate
	expect_aborted "nvme-vf-migrate-hook: $DOM migrate begin: no VF for ua-nvme0" 1
	[ "$(calls "$B")" = "migrate begin -" ] || fail "hook calls on B: $(calls "$B" | tr '\n' ',')"
	echo "ok: refused: $(cat "$WORK/migrate.err")"
}

case_fail_prepare() {
	setup_two_hosts 2
	touch "$B/fail-before-prepare-begin"
	migrate
	expect_aborted "injected failure before prepare begin" 0
	calls "$B" | grep -qx 'release end .*' || fail "no release end on B"
	grep -q "incoming migration stopped before its QEMU ran (reason failed" "$B/hook.log" ||
		fail "B's hook released nothing"
	echo "ok: B released after a failed prepare"
}

case_fail_started() {
	setup_two_hosts 2
	touch "$B/fail-after-started-begin"
	migrate
	expect_aborted "injected failure after started begin" 0
	calls "$B" | grep -qx 'started begin -' || fail "no started begin on B"
	grep -q "incoming migration failed (reason failed, from the domain log)" "$B/hook.log" ||
		fail "B's hook did not find the reason 'failed'"
	echo "ok: B released after a failure once QEMU had started"
}

# ---- the hook alone, fed too much XML -----------------------------------------

# big_xml BYTES: a plain domain padded with PCI controllers to BYTES
big_xml() {
	awk -v size="$1" -v dom="$DOM" -v uuid="$UUID" 'BEGIN {
		head = "<domain type=\"qemu\">\n  <name>" dom "</name>\n  <uuid>" uuid \
			"</uuid>\n  <memory unit=\"KiB\">131072</memory>\n  <devices>\n"
		tail = "  </devices>\n</domain>\n"
		line = "    <controller type=\"pci\" index=\"1\" model=\"pcie-root-port\"/>\n"
		printf "%s", head
		for (n = length(head) + length(tail); n + length(line) <= size; n += length(line))
			printf "%s", line
		printf "%s", tail
	}'
}

case_big_xml() {
	make_host "$B" emu:pfB
	big_xml $((16 << 20)) >"$WORK/big.xml"
	[ "$(wc -c <"$WORK/big.xml")" -gt $((15 << 20)) ] || fail "test bug: big.xml"

	# refused before the parse: one line, non-zero, nothing printed; the
	# parse of 16 MiB took some 300-600 MB before the cap
	if [ -x /usr/bin/time ]; then
		NVFM_CONFIG=$B/hook.conf /usr/bin/time -o "$WORK/rss" -f %M \
			"$HOOK" "$DOM" migrate begin - <"$WORK/big.xml" >"$B/out" 2>"$B/err"
		RC=$?
	else
		hook_on "$B" migrate begin - <"$WORK/big.xml"
	fi
	expect_refused "16 MiB of XML" "$B" "the domain XML is larger than 4096 KiB (max_xml_size in"
	if [ -s "$WORK/rss" ]; then
		rss=$(tail -n 1 "$WORK/rss")
		[ "$rss" -lt 65536 ] || fail "peak RSS $rss KiB while refusing 16 MiB of XML"
		echo "ok: 16 MiB of XML refused, peak RSS $rss KiB"
	else
		echo "ok: 16 MiB of XML refused (no /usr/bin/time: peak RSS not measured)"
	fi

	# the cap is the configuration's
	cp "$B/hook.conf" "$WORK/good.conf"
	echo "max_xml_size = 64K" >>"$B/hook.conf"
	big_xml $((100 << 10)) | { hook_on "$B" migrate begin -; echo $RC >"$WORK/rc"; }
	RC=$(cat "$WORK/rc")
	expect_refused "100 KiB of XML, 64 KiB allowed" "$B" "larger than 64 KiB"
	big_xml $((60 << 10)) | { hook_on "$B" migrate begin -; echo $RC >"$WORK/rc"; }
	RC=$(cat "$WORK/rc")
	expect_ok "60 KiB of XML, 64 KiB allowed" "$B"
	cp "$WORK/good.conf" "$B/hook.conf"
	echo "max_xml_size = 1G" >>"$B/hook.conf"
	hook_on "$B" migrate begin - <"$WORK/big.xml"
	expect_refused "max_xml_size = 1G" "$B" "max_xml_size: must be a size from 64K to 64M"
	echo "ok: max_xml_size applies and is bounded"
}

# sourced by migrate-libvirt.sh for the two-libvirtd setup above
[ -n "${NVFM_LVHOOK_LIB:-}" ] && return 0
mkdir -p "$A" "$B"
case "$CASE" in
hook) case_hook ;;
migrate) case_migrate ;;
no-free-vf) case_no_free_vf ;;
fail-prepare) case_fail_prepare ;;
fail-started) case_fail_started ;;
big-xml) case_big_xml ;;
concurrent) case_concurrent ;;
concurrent-one-fails) case_concurrent_one_fails ;;
two-vfs) case_two_vfs ;;
*) echo "unknown case $CASE" >&2; exit 2 ;;
esac
exit 0
