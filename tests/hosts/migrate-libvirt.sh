#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# "nvme-vf-migrate migrate --domain" between two libvirtd, one case per
# invocation:
#   migrate-libvirt.sh CASE HOOK [TINY_GUEST]
#
# Two libvirtd in two network namespaces with emulated PFs (the setup of
# libvirt-hook.sh, sourced), the tiny guest running on A as a domain whose
# metadata names an emulated VF, B's agent, and the CLI on A driving the
# migration through the libvirt API with a destination XML.
#
# success           no hook installed: B's live XML names B's VF, A's VF is
#                   released, the guest runs on B, B's reservation is kept
# success-hook      the hook installed on both hosts as well: B's hook keeps
#                   the VF B's agent provisioned (no second VF), A's VF is
#                   released once (by A's hook or the CLI, never an error)
# dest-unreachable  no libvirtd at the destination URI: a preflight blocker,
#                   nothing provisioned
# hook-refuses      B's hook refuses "migrate begin": the migration fails and
#                   the rollback releases B's VF
# bad-domain        --domain names no domain: a preflight blocker
# tls               a TLS agent link: libvirt's stream is TLS too
#                   (VIR_MIGRATE_TLS, qemu.conf's migrate_tls_x509_cert_dir
#                   from the same PKI), and no clear-stream warning, from
#                   the CLI nor from the hook (qemu.conf: migrate_tls_force)
# tls-no-certs      the same, but B's libvirt has no server certificate:
#                   libvirt refuses the TLS migration, nothing moves
# clear-refused     a plain (UNIX) agent link without --insecure: a
#                   preflight blocker, nothing provisioned
#
# Cases with a plain agent link (--insecure) check the warning that
# libvirt's stream travels in clear.
# Every failure leaves the domain running on A only, A's VF provisioned and
# nothing provisioned on B.
set -u
CASE=$1
HOOK=$2
GUEST=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
AGENT_PORT=16590

# libvirt-hook.sh brings skip, fail, the host and daemon setup and the
# cleanup trap; it reads CASE, HOOK and GUEST from the arguments
set -- "$CASE" "$HOOK" "$GUEST"
NVFM_LVHOOK_LIB=1
. "$HERE/libvirt-hook.sh"
mkdir -p "$A" "$B"

AGENT_PID=
cleanup_all() {
	if [ -n "$AGENT_PID" ]; then
		kill -TERM "$AGENT_PID" 2>/dev/null
		n=50
		while kill -0 "$AGENT_PID" 2>/dev/null && [ "$n" -gt 0 ]; do
			sleep 0.1
			n=$((n - 1))
		done
		kill -KILL "$AGENT_PID" 2>/dev/null
	fi
	cleanup
}
trap cleanup_all EXIT

# fail, with the CLI's and the agent's side as well
fail() {
	echo "FAIL [migrate-libvirt-$CASE]: $*" >&2
	for f in cli.out cli.err agent-b.log; do
		[ -s "$WORK/$f" ] && { echo "--- $f" >&2; tail -n 30 "$WORK/$f" >&2; }
	done
	for h in A B; do
		for f in calls.log hook.log log/libvirtd.log "log/qemu/$DOM.log"; do
			[ -s "$WORK/$h/$f" ] && { echo "--- $h/$f" >&2; tail -n 25 "$WORK/$h/$f" >&2; }
		done
	done
	exit 1
}

start_agent() {
	# the hook on B recognises the VF this agent reserves for a migration
	echo "agent_runtime_dir = $WORK/rt-b" >>"$B/hook.conf"
	: >"$WORK/agent-b.log"
	ip netns exec "$NSB" env NVFM_EMU_DIR="$B/emu" "$TOOL" -v agent \
		--listen "${AGENT_AT:-$IPB:$AGENT_PORT}" ${AGENT_SEC:---insecure} --emu --runtime-dir "$WORK/rt-b" \
		>>"$WORK/agent-b.log" 2>&1 &
	AGENT_PID=$!
	n=150
	until grep -q "listening on" "$WORK/agent-b.log"; do
		kill -0 "$AGENT_PID" 2>/dev/null || fail "B's agent exited"
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "B's agent did not start listening"
		sleep 0.1
	done
}

# cli [DOMAIN [DEST-URI]]: the migration from A; sets RC, output in
# $WORK/cli.out (the JSON report) and $WORK/cli.err
cli() {
	# shellcheck disable=SC2086
	timeout 200 ip netns exec "$NSA" env NVFM_EMU_DIR="$A/emu" "$TOOL" --json migrate \
		${CLI_VFS:-emu:pfA-vf0} --domain "${1:-$DOM}" --connect "qemu+tcp://$IPA/system" \
		--dest-connect "${2:-qemu+tcp://$IPB/system}" --device-state qemu \
		--to "${AGENT_AT:-$IPB:$AGENT_PORT}" --dest-pf emu:pfB --nvq 4 --nvi 2 ${CLI_SEC---insecure} \
		--report "$WORK/report.json" >"$WORK/cli.out" 2>"$WORK/cli.err"
	RC=$?
}

# report_get PYTHON-EXPR: a value of the report (r), printed
report_get() {
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$WORK/report.json" "$1" 2>/dev/null
}

expect_migrated() {
	[ "$RC" -eq 0 ] || fail "migrate exited $RC: $(cat "$WORK/cli.err")"
	[ "$(report_get 'r["ok"]')" = True ] || fail "the report does not say ok"
	[ "$(report_get 'r["mover"]')" = libvirt ] || fail "mover $(report_get 'r["mover"]')"
	[ "$(report_get 'r.get("destination_vf")')" = emu:pfB-vf0 ] ||
		fail "destination VF $(report_get 'r.get("destination_vf")')"
	if [ -n "${CLI_SEC:-}" ]; then
		[ "$(report_get 'r.get("warnings")')" = None ] ||
			fail "warnings: $(report_get 'r.get("warnings")')"
		[ "$(report_get 'r["preflight"]["source"]["migration_stream"]')" = tls ] ||
			fail "stream: $(report_get 'r["preflight"]["source"]["migration_stream"]')"
	else
		[ "$(report_get 'r.get("warnings")')" = "[\"$CLEAR\"]" ] ||
			fail "warnings: $(report_get 'r.get("warnings")')"
	fi
	# the guest runs on B with B's VF in its live XML; A has nothing
	expect_running B vb
	va domstate "$DOM" >/dev/null 2>&1 && fail "the domain still exists on A"
	vb dumpxml "$DOM" >"$WORK/b-dump.xml" || fail "dumpxml on B"
	grep -q 'device="emu:pfB-vf0"' "$WORK/b-dump.xml" || fail "B's XML does not name emu:pfB-vf0"
	grep -q 'emu:pfA' "$WORK/b-dump.xml" && fail "B's XML still names emu:pfA"
	grep -q 'nvq="4" nvi="2"' "$WORK/b-dump.xml" || fail "B's XML lost the VF's amounts"
	# exactly one VF on B, kept by B's agent for the domain
	expect_vf "$B" emu:pfB-vf0 online
	[ "$(online_count "$B" emu:pfB)" = 1 ] || fail "B has $(online_count "$B" emu:pfB) VFs online"
	grep -q '"lease": "kept"' "$WORK"/rt-b/reservations/*.json 2>/dev/null ||
		fail "B's reservation was not kept"
	expect_vf "$A" emu:pfA-vf0 offline
}

# after a failure: the domain runs on A only, A's VF is still provisioned
# and B has nothing provisioned (nor the domain)
expect_rolled_back() {
	[ "$RC" -eq "$1" ] || fail "migrate exited $RC, expected $1: $(cat "$WORK/cli.err")"
	[ "$(report_get 'r["ok"]')" = False ] || fail "the report does not say failed"
	report_get 'r["error"]' | grep -q -- "$2" ||
		fail "error lacks '$2': $(report_get 'r["error"]')"
	expect_running A va
	vb domstate "$DOM" >/dev/null 2>&1 && fail "the domain exists on B"
	expect_vf "$A" emu:pfA-vf0 online
	# the rollback's release, or the agent's as the session ends: bounded
	n=100
	while [ "$(online_count "$B" emu:pfB)" != 0 ]; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "B still has $(online_count "$B" emu:pfB) VFs provisioned"
		sleep 0.1
	done
	[ -z "$(ls -A "$B/hookrun" 2>/dev/null)" ] || fail "hook state left on B: $(ls "$B/hookrun")"
}

case_success() {
	libvirt_prereqs
	without_hook_setup 2
	cli
	expect_migrated
	[ "$(report_get 'r["timeline"][-1]["note"]')" = "source VF emu:pfA-vf0 released" ] ||
		fail "release note: $(report_get 'r["timeline"][-1]["note"]')"
	[ ! -s "$A/calls.log" ] && [ ! -s "$B/calls.log" ] || fail "a hook ran although none is installed"
	echo "ok: migrated with --domain, no hook; downtime $(report_get 'r.get("downtime_ms")') ms"
}

case_success_hook() {
	libvirt_prereqs
	setup_two_hosts 2
	start_agent
	cli
	expect_migrated
	# B's hook saw the XML naming B's agent's VF and kept it
	grep -q "migrate begin: kept emu:pfB-vf0 for ua-nvme0" "$B/hook.log" ||
		fail "B's hook did not keep the agent's VF"
	grep -q "migrate begin: provisioned" "$B/hook.log" && fail "B's hook provisioned a VF of its own"
	# libvirt may migrate in clear here (no migrate_tls_force): B's hook says so
	grep -q "migrate begin: libvirt's migration stream (guest RAM and the VF's state) travels in clear unless virsh migrate --tls" \
		"$B/hook.log" || fail "B's hook did not warn of the clear stream: $(cat "$B/hook.log")"
	[ ! -e "$(state_file "$B")" ] || fail "B's hook recorded a VF it did not provision"
	# A's VF went back once: by A's hook (release end) or by the CLI
	by_hook=$(grep -c "released VF emu:pfA-vf0" "$A/hook.log" 2>/dev/null)
	note=$(report_get 'r["timeline"][-1]["note"]')
	case "$note" in
	"source VF emu:pfA-vf0 was released already") [ "$by_hook" = 1 ] || fail "A's hook released $by_hook times; CLI: $note" ;;
	"source VF emu:pfA-vf0 released") [ "${by_hook:-0}" = 0 ] || fail "released twice: hook $by_hook, CLI: $note" ;;
	*) fail "release note: $note" ;;
	esac
	grep -q "nvme-vf-migrate-hook: $DOM release end: " "$A/hook.log" ||
		fail "A's hook did not run at release end"
	# the domain stops on B for good: its VF stays (it is the domain's)
	vb destroy "$DOM" >/dev/null || fail "virsh destroy on B"
	expect_vf "$B" emu:pfB-vf0 online
	echo "ok: migrated with --domain and the hook; A's VF: $note"
}

case_dest_unreachable() {
	libvirt_prereqs
	without_hook_setup 2
	# B's address, a port no libvirtd listens on
	cli "$DOM" "qemu+tcp://$IPB:1/system"
	expect_rolled_back 3 "destination libvirt"
	grep -q '"provision"\|provisioned' "$WORK/agent-b.log" && fail "B's agent provisioned a VF"
	echo "ok: $(report_get 'r["error"]')"
}

case_hook_refuses() {
	libvirt_prereqs
	setup_two_hosts 2
	start_agent
	touch "$B/fail-before-migrate-begin"
	cli
	expect_rolled_back 1 "injected failure before migrate begin"
	report_get 'r["rollback"]' | grep -q "destination VF emu:pfB-vf0 released" ||
		fail "rollback: $(report_get 'r["rollback"]')"
	[ "$(calls "$B")" = "migrate begin -" ] || fail "hook calls on B: $(calls "$B" | tr '\n' ',')"
	echo "ok: $(report_get 'r["rollback"]')"
}

CLEAR="libvirt's migration stream (guest RAM and the VF's state) travels in clear: the agent link is plain"

# tls_pki [B-SERVER]: the test PKI (RSA: QEMU's tls-creds-x509 wants key
# encipherment) as the agent, the CLI and each libvirt read it; B's libvirt
# gets its server certificate unless B-SERVER is "none"
tls_pki() {
	libvirt_prereqs
	command -v certtool >/dev/null 2>&1 || skip "needs certtool (gnutls-bin)"
	sh "$HERE/mkcerts.sh" "$WORK/pki" "$IPB" rsa >/dev/null || fail "making certificates"
	for h in "$A" "$B"; do
		mkdir -p "$h/pki"
		cp "$WORK/pki/server/ca-cert.pem" "$WORK/pki/client/client-cert.pem" \
			"$WORK/pki/client/client-key.pem" "$h/pki/"
		[ "$h" = "$B" ] && [ "${1:-}" = none ] && continue
		cp "$WORK/pki/server/server-cert.pem" "$WORK/pki/server/server-key.pem" "$h/pki/"
	done
	AGENT_SEC="--tls-dir $WORK/pki/server"
	CLI_SEC="--tls-dir $WORK/pki/client"
}

case_tls() {
	tls_pki
	setup_two_hosts 2
	start_agent
	cli
	expect_migrated
	# qemu.conf forces TLS: B's hook has nothing to warn about
	grep -q "migrate begin: kept emu:pfB-vf0" "$B/hook.log" || fail "B's hook did not run"
	grep -q "travels in clear" "$B/hook.log" && fail "B's hook warned: $(cat "$B/hook.log")"
	echo "ok: migrated with libvirt's stream under TLS; downtime $(report_get 'r.get("downtime_ms")') ms"
}

case_tls_no_certs() {
	tls_pki none
	without_hook_setup 2
	cli
	expect_rolled_back 1 "libvirt: .*server-cert.pem"
	echo "ok: $(report_get 'r["error"]')"
}

case_clear_refused() {
	# a UNIX agent link needs no --insecure, and carries nothing of
	# libvirt's stream: only --insecure may accept that stream in clear
	libvirt_prereqs
	AGENT_AT="unix:$WORK/agent-b.sock"
	CLI_SEC=
	without_hook_setup 2
	cli
	expect_rolled_back 3 "travels in clear: the agent link is plain (only --insecure accepts that)"
	grep -q '"provision"\|provisioned' "$WORK/agent-b.log" && fail "B's agent provisioned a VF"
	echo "ok: $(report_get 'r["error"]')"
}

case_bad_domain() {
	libvirt_prereqs
	without_hook_setup 2
	cli no-such-domain
	expect_rolled_back 3 "domain: .*no-such-domain"
	echo "ok: $(report_get 'r["error"]')"
}

# setup_two_hosts without the hook in either qemu.d (libvirtd reads qemu.d
# once, at start-up, so it goes before the daemons start)
without_hook_setup() {
	NVFM_LVHOOK_NONE=1
	setup_two_hosts "$1"
	NVFM_LVHOOK_NONE=
	start_agent
}

# one domain with two VFs: each hostdev gets its own B VF
case_two_vfs() {
	libvirt_prereqs
	without_hook_setup 2
	two_vfs_metadata
	CLI_VFS="emu:pfA-vf0 emu:pfA-vf1"
	cli
	[ "$RC" -eq 0 ] || fail "migrate exited $RC: $(cat "$WORK/cli.err")"
	expect_running B vb
	expect_two_vfs_on_b
	[ "$(report_get 'len(r["vfs"])')" = 2 ] || fail "the report lists $(report_get 'len(r["vfs"])') VFs"
	[ "$(report_get 'r["timeline"][-1]["note"]')" = "source VF emu:pfA-vf0 released; source VF emu:pfA-vf1 released" ] ||
		fail "release note: $(report_get 'r["timeline"][-1]["note"]')"
	echo "ok: two VFs with --domain; downtime $(report_get 'r.get("downtime_ms")') ms"
}

case "$CASE" in
success) case_success ;;
two-vfs) case_two_vfs ;;
success-hook) case_success_hook ;;
dest-unreachable) case_dest_unreachable ;;
hook-refuses) case_hook_refuses ;;
bad-domain) case_bad_domain ;;
tls) case_tls ;;
tls-no-certs) case_tls_no_certs ;;
clear-refused) case_clear_refused ;;
*) echo "unknown case $CASE" >&2; exit 2 ;;
esac
exit 0
