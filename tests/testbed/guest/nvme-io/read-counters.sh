#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Prints the nested NVMe guest's counters (guest/nvme-io, docs/testbed.md
# "The nested NVMe guest") as key=value lines: one controller's block. The
# guest drives up to two controllers; controller k's block is at
# 0x300000 + k * 0x100 (0x300000, 0x300100).
#
#   read-counters.sh CMD [ADDR]  runs CMD 'xp /40wx ADDR' (ADDR: 0x300000
#                            unless given; CMD: a program or an exported
#                            shell function, e.g. tb_hmp after
#                            `export -f tb_hmp tb_qmp tb_fail`)
#   read-counters.sh [-]     reads that xp output from stdin:
#                            tb_hmp 'xp /40wx 0x300100' | read-counters.sh
#   . read-counters.sh       (sourced) defines nvio_counters CMD [ADDR],
#                            which does the same inside the calling shell
#
# Exits 1 when the words are missing or the magic is wrong (guest not
# started, not this guest, or no controller behind that block). The order
# of the names is counters.h's.

NVIO_ADDR=0x300000
NVIO_NAMES=(magic version state fatal_code fatal_detail heartbeat queues qdepth
	writes reads blocks_written blocks_verified errors mismatches lost unexpected
	sweeps late inflight lba_size region_lbas filled max_latency_us tsc_khz
	last_error last_mismatch_lba last_mismatch_kind last_mismatch_seq
	last_mismatch_expected pci_bdf bar0 nonce seq completions csts pci_id flags
	nsid time_s ctrl)
# printed in hex; the rest in decimal
NVIO_HEX=' magic state fatal_detail last_error last_mismatch_kind pci_bdf bar0 nonce csts pci_id flags '

nvio_parse() {
	local words=() line w i v name st
	while IFS= read -r line; do
		line=${line//$'\r'/}
		case "$line" in *:*) ;; *) continue ;; esac
		for w in ${line#*:}; do
			case "$w" in 0x[0-9a-fA-F]*) words+=("$w") ;; esac
		done
	done
	if [ "${#words[@]}" -lt "${#NVIO_NAMES[@]}" ]; then
		echo "valid=0"
		return 1
	fi
	for i in "${!NVIO_NAMES[@]}"; do
		name=${NVIO_NAMES[$i]}
		v=$((words[i]))
		if [[ "$NVIO_HEX" == *" $name "* ]]; then
			printf '%s=0x%08x\n' "$name" "$v"
		else
			printf '%s=%u\n' "$name" "$v"
		fi
	done
	st=$((words[2]))
	case $st in
	$((0x10))) name=fill ;;
	$((0x11))) name=running ;;
	*) if [ "$st" -ge $((0xe000)) ]; then name=fatal; else name=init; fi ;;
	esac
	echo "state_name=$name"
	if [ "$((words[0]))" -ne $((0x4f49564e)) ]; then
		echo "valid=0"
		return 1
	fi
	echo "valid=1"
}

# nvio_counters CMD [ADDR]
nvio_counters() {
	# shellcheck disable=SC2086
	$1 "xp /40wx ${2:-$NVIO_ADDR}" | nvio_parse
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	if [ $# -eq 0 ] || [ "$1" = - ]; then
		nvio_parse
	else
		nvio_counters "$1" "${2:-}"
	fi
	exit $?
fi
