# SPDX-License-Identifier: GPL-2.0-or-later
# regs-selftest: nvme-vf-migrate against a second, different driver, the
# mdev register-file device nvfm_regs (STOP_COPY only, no checksum, state
# kept across close): vf state through both mdev address forms, the graded
# selftest (its deviations warn, no requirement fails), again with
# pre_copy=1, and a save -> load round trip restoring the registers exactly.
TB_HOSTS="a"
TB_TIMEOUT=300

# regs_selftest UUID [CASE=VERDICT...]: selftest --json passes (exit 0, no
# failed requirement) and, once the report is graded, each CASE has VERDICT.
regs_selftest() {
	local dev=$1 out=/tmp/selftest-$1.json c v
	shift
	nvme-vf-migrate selftest "vfio:$dev" --json --progress=none >"$out" ||
		{ cat "$out"; tb_fail "selftest vfio:$dev failed against nvfm_regs"; }
	jq -c '.cases[] | [.name, .grade, .verdict]' "$out"
	if ! jq -e 'has("warnings")' "$out" >/dev/null; then
		tb_log "the selftest report is not graded: grade checks skipped"
		return 0
	fi
	jq -e '[.cases[] | select(.grade == "requirement" and .verdict == "fail")] | length == 0' \
		"$out" >/dev/null || tb_fail "selftest vfio:$dev: a requirement failed"
	for c in "$@"; do
		v=$(jq -r --arg n "${c%%=*}" '.cases[] | select(.name == $n) | .verdict' "$out")
		[ "$v" = "${c#*=}" ] || tb_fail "selftest vfio:$dev: case ${c%%=*} is '$v', expected ${c#*=}"
	done
	tb_log "selftest vfio:$dev: $(jq -r '"\(.passed) passed, \(.warnings) warnings, \(.skipped) skipped"' "$out")"
}

host_a() {
	local m1=6e5f0a1c-0000-4000-8000-000000000001
	local m2=6e5f0a1c-0000-4000-8000-000000000002
	local before after commits
	command -v nvme-vf-migrate >/dev/null || tb_fail "nvme-vf-migrate is not in the payload (NVFM_CLI unset)"
	tb_regs_load
	tb_regs_create "$m1"
	nvme-vf-migrate vf state "vfio:$m1" || tb_fail "vf state vfio:$m1 failed"
	nvme-vf-migrate vf state "vfio:/sys/bus/mdev/devices/$m1" ||
		tb_fail "vf state vfio:/sys/bus/mdev/devices/$m1 failed"

	# STOP_COPY only: the PRE_COPY cases skip, the accepted flipped byte warns
	regs_selftest "$m1" precopy-end-enomsg=skip corrupt-state-refused=warn

	# pre_copy=1 is read when an mdev is created: read() 0 at PRE_COPY's end warns
	echo 1 >/sys/module/nvfm_regs/parameters/pre_copy
	tb_regs_create "$m2"
	regs_selftest "$m2" precopy-end-enomsg=warn corrupt-state-refused=warn

	# save -> other registers -> load: exactly the saved registers again
	before=$(tb_regs_digest "$m1")
	commits=$(tb_regs_info "$m1" commits)
	nvme-vf-migrate save "vfio:$m1" -o /tmp/regs.nvfm || tb_fail "save vfio:$m1 failed"
	echo 7 >"/sys/bus/mdev/devices/$m1/nvfm_regs_regenerate"
	[ "$(tb_regs_digest "$m1")" != "$before" ] || tb_fail "regenerating did not change the registers"
	nvme-vf-migrate load "vfio:$m1" -i /tmp/regs.nvfm --run || tb_fail "load vfio:$m1 failed"
	after=$(tb_regs_digest "$m1")
	[ "$before" = "$after" ] || tb_fail "digest $after after load, expected $before"
	[ "$(tb_regs_info "$m1" commits)" -eq $((commits + 1)) ] ||
		tb_fail "the load did not commit once (commits $(tb_regs_info "$m1" commits), was $commits)"
	[ "$(tb_regs_info "$m1" state)" = RUNNING ] || tb_fail "state $(tb_regs_info "$m1" state) after load --run"
	tb_metric regs_image_bytes "$(stat -c %s /tmp/regs.nvfm)"
}
