#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The bash completion, sourced and called as bash calls it: commands,
# subcommands and options come from the binary, devices from `emu list`,
# states from `vf set-state --help`.
set -u
CASE=completion
NAME=completion
. "$(dirname "$0")/cli-lib.sh"
TOOLDIR=$(dirname "$TOOL")
export PATH="$TOOLDIR:$PATH"
# shellcheck disable=SC1091
. "${NVFM_SOURCE_ROOT:-$(dirname "$0")/../..}/data/nvme-vf-migrate.bash-completion"
ok nvme-vf-migrate emu create alpha --size 1M

# comp WANTED WORDS...: the last word is completed; WANTED must be among the replies
comp() {
	local want=$1
	shift
	COMP_WORDS=(nvme-vf-migrate "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_nvme_vf_migrate
	printf '%s\n' "${COMPREPLY[@]}" | grep -qx -- "$want" ||
		fail "'$*' completes to '${COMPREPLY[*]}', lacks '$want'"
}
comp selftest sel
comp help he
comp set-state vf set
comp pf-create emu pf-c
comp --only selftest emu:alpha --on
comp --precopy-rounds save --pre
comp --json --js
comp emu:alpha vf state emu:a
comp STOP_COPY vf set-state emu:alpha STOP_
comp alpha emu fault al
comp state help vf st
comp config con
comp --config --conf
comp --config migrate --conf
comp agent config ag
comp selftest --config x.conf sel
comp report rep
comp --report-svg migrate emu:alpha --report-s
# report: saved reports (*.json), not other files
: >"$WORK/run.json"
: >"$WORK/run.svg"
comp "$WORK/run.json" report "$WORK/run"
printf '%s\n' "${COMPREPLY[@]}" | grep -qx -- "$WORK/run.svg" && fail "report offers an SVG as its input"
comp status sta
comp --progress migrate --prog
comp plain save emu:alpha --progress pl
comp none save emu:alpha --progress = n
echo "ok completion"
