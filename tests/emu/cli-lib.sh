# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the CLI test scripts (sourced, not run): per-case setup of an
# emulated host and the assertions every case uses.
# The sourcing script sets CASE and NAME (used in the temp dir name).
TOOL=${NVFM_CLI:?NVFM_CLI must name the nvme-vf-migrate binary}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-$NAME.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export NVFM_EMU_DIR="$WORK/emu"

skip() {
	echo "SKIP [$NAME $CASE]: $*"
	exit 77
}

fail() {
	echo "FAIL [$CASE]: $*" >&2
	exit 1
}

# expect CODE PATTERN CMD...: exit code CODE and one stderr line matching PATTERN
expect() {
	want=$1 pat=$2
	shift 2
	"$@" >"$WORK/out" 2>"$WORK/err"
	got=$?
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(cat "$WORK/err")"
	lines=$(wc -l <"$WORK/err")
	[ "$lines" -eq 1 ] || fail "'$*' printed $lines stderr lines, expected 1: $(cat "$WORK/err")"
	grep -q -- "$pat" "$WORK/err" || fail "'$*' stderr lacks '$pat': $(cat "$WORK/err")"
}

ok() {
	"$@" >"$WORK/out" 2>"$WORK/err" || fail "'$*' failed ($?): $(cat "$WORK/err")"
}

# digest NAME: the emulated device's state digest
digest() {
	"$TOOL" emu digest "$1" | sed -n 's/^sha256: //p'
}

# state_is NAME STATE: the emulated device emu:NAME is in STATE
state_is() {
	"$TOOL" --json vf state "emu:$1" >"$WORK/st" || fail "vf state emu:$1 failed"
	grep -q "\"state\": \"$2\"" "$WORK/st" || fail "emu:$1 is not $2: $(cat "$WORK/st")"
}
