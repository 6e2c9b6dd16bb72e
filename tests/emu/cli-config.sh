#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The configuration file through the CLI: "config" prints each setting's
# value and origin, and flags > environment > file > defaults hold for a
# real command (the address "agent request" fails to reach names the
# layer that won). One case per invocation, named by $1.
set -u
CASE=$1
NAME=cli-config
. "$(dirname "$0")/cli-lib.sh"

CONF=$WORK/nvfm.conf
export NVFM_CONFIG="$CONF"
unset NVFM_CLIENT_AGENT NVFM_CLIENT_TIMEOUT NVFM_AGENT_LISTEN NVFM_AGENT_ALLOW

cat >"$CONF" <<-EOF2
	# a comment
	[client]
	agent = unix:$WORK/file.sock
	timeout = 12

	[agent]
	allow = CN=host-*, CN=ops
EOF2

# line KEY: the "config" output line of KEY
line() {
	grep "^$1 " "$WORK/out" || fail "no line for $1: $(cat "$WORK/out")"
}

case "$CASE" in
print)
	ok "$TOOL" config
	line client.agent | grep -q "unix:$WORK/file.sock *file:$CONF:3$" || fail "$(line client.agent)"
	line client.timeout | grep -q "12 *file:$CONF:4$" || fail "$(line client.timeout)"
	line agent.allow | grep -q "CN=host-\*, CN=ops *file:$CONF:7$" || fail "$(line agent.allow)"
	line client.port | grep -q "16590 *default$" || fail "$(line client.port)"
	[ ! -s "$WORK/err" ] || fail "config wrote to stderr: $(cat "$WORK/err")"
	NVFM_CLIENT_TIMEOUT=5 "$TOOL" --json config agent >"$WORK/out" 2>"$WORK/err" ||
		fail "config --json failed: $(cat "$WORK/err")"
	python3 - "$WORK/out" "$CONF" <<-'EOF2' || fail "JSON: $(cat "$WORK/out")"
		import json, sys
		j = json.load(open(sys.argv[1]))
		assert j["file"] == sys.argv[2] and j["file_read"] is True
		assert list(j["settings"]) == ["agent"], j["settings"].keys()
		a = j["settings"]["agent"]["allow"]
		assert a == {"value": ["CN=host-*", "CN=ops"], "source": "file", "line": 7}, a
	EOF2
	ok "$TOOL" config --set client.timeout=9 client
	line client.timeout | grep -q " 9 *flag$" || fail "$(line client.timeout)"
	# every value the shipped example shows is one the settings accept
	sed 's/^#\([a-z_]* = \)/\1/' "$NVFM_SOURCE_ROOT/data/nvme-vf-migrate.conf" >"$CONF"
	grep -q '^allow = CN=host-' "$CONF" || fail "the example lost its allow line"
	ok "$TOOL" config
	line agent.allow | grep -q "file:$CONF:" || fail "$(line agent.allow)"
	# the default file may be absent, a named one may not
	NVFM_CONFIG= "$TOOL" --config "$CONF" config >/dev/null || fail "--config FILE"
	;;
env-beats-file)
	NVFM_CLIENT_TIMEOUT=7 "$TOOL" config client >"$WORK/out" 2>"$WORK/err" || fail "config"
	line client.timeout | grep -q " 7 *env:NVFM_CLIENT_TIMEOUT$" || fail "$(line client.timeout)"
	expect 4 "file.sock" "$TOOL" agent request status
	NVFM_CLIENT_AGENT=unix:$WORK/env.sock expect 4 "env.sock" "$TOOL" agent request status
	;;
flag-beats-env)
	NVFM_CLIENT_AGENT=unix:$WORK/env.sock expect 4 "flag.sock" \
		"$TOOL" agent request status --to "unix:$WORK/flag.sock"
	# a flag is checked by the same rules as the file
	NVFM_CLIENT_TIMEOUT=7 expect 2 "--timeout: must be a number from 1" \
		"$TOOL" agent request status --timeout 0
	;;
bad-file)
	expect 2 "absent.conf" "$TOOL" --config "$WORK/absent.conf" config
	NVFM_CONFIG=$WORK/absent.conf expect 2 "absent.conf" "$TOOL" agent request status
	echo "timeout = soon" >>"$CONF"
	expect 2 "nvfm.conf:8: timeout: must be a number" "$TOOL" config
	expect 2 "nvfm.conf:8: timeout" "$TOOL" agent --listen unix:$WORK/a.sock
	printf 'this is not a key file\n' >"$CONF"
	expect 2 "nvfm.conf" "$TOOL" config
	NVFM_CONFIG= NVFM_CLIENT_PORT=http expect 2 "NVFM_CLIENT_PORT: must be a number" "$TOOL" config
	;;
bad-key)
	printf '[client]\ntimeot = 3\n' >"$CONF"
	expect 2 "nvfm.conf:2: unknown key 'timeot' in \[client\]" "$TOOL" config
	printf '[cleint]\nagent = x\n' >"$CONF"
	expect 2 "nvfm.conf:1: unknown section \[cleint\]" "$TOOL" migrate emu:a
	printf '[hook]\nhostdevs = some\n' >"$CONF"
	expect 2 "hostdevs: must be one of listed, all" "$TOOL" config
	: >"$CONF"
	expect 2 "with a known key" "$TOOL" config --set client.nope=1
	;;
*)
	fail "unknown case '$CASE'"
	;;
esac
exit 0
