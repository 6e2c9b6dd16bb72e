#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Time to provision + bind a VF, and to release it, inside the TCG test
# guest against QEMU's NVMe SR-IOV PF: nvme-vf-migrate beside the same
# steps done by hand with nvme-cli and shell redirections.
#
#   benchmarks/provision.sh [BUILD_DIR] [ROUNDS]
#
# BUILD_DIR is a configured build with tests (default: build); ROUNDS
# alternating rounds of each method (default 5). Under TCG every figure
# is many times what the same steps cost on hardware: compare the two
# methods with each other, not with a real host.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${1:-$src/build}
rounds=${2:-5}
tool=$build/tests/guest/nvfm-guest-tool

if [ ! -x "$tool" ]; then
	echo "provision.sh: no $tool; build first: meson setup $build && ninja -C $build" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# The guest side; ROUNDS is filled in below.
cat >"$work/bench.sh" <<'EOF'
T=nvme-vf-migrate
ROUNDS=@ROUNDS@
PF=
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat "$d/class")" = 0x010802 ] && [ -e "$d/sriov_totalvfs" ]; then
		PF=$(basename "$d")
		break
	fi
done
VF=$(echo "$PF" | sed 's/\.0$/.1/')
S=/sys/bus/pci/devices
C=/dev/$(ls "$S/$PF/nvme")

# microseconds since the epoch: busybox date has no %N, adjtimex has
now() {
	adjtimex | awk '/tv_sec/ { s = $2 } /tv_usec/ { u = $2 } END { printf "%d.%06d\n", s, u }'
}
ms() {
	awk -v a="$1" -v b="$2" -v o="${3:-0}" 'BEGIN { printf "%.1f\n", (b - a) * 1000 - o }'
}

# the same steps by hand: offline, assign 4 VQ + 2 VI, autoprobe off,
# enable the VFs, online, driver_override + drivers_probe
sh_provision() {
	nvme virt-mgmt "$C" -c 1 -a 7 >/dev/null &&
		nvme virt-mgmt "$C" -c 1 -r 0 -n 4 -a 8 >/dev/null &&
		nvme virt-mgmt "$C" -c 1 -r 1 -n 2 -a 8 >/dev/null &&
		echo 0 >"$S/$PF/sriov_drivers_autoprobe" &&
		echo 2 >"$S/$PF/sriov_numvfs" &&
		nvme virt-mgmt "$C" -c 1 -a 9 >/dev/null &&
		echo vfio-pci >"$S/$VF/driver_override" &&
		echo "$VF" >/sys/bus/pci/drivers_probe &&
		[ "$(basename "$(readlink "$S/$VF/driver")")" = vfio-pci ]
}
sh_release() {
	echo "$VF" >"$S/$VF/driver/unbind" &&
		echo >"$S/$VF/driver_override" &&
		nvme virt-mgmt "$C" -c 1 -a 7 >/dev/null &&
		echo 0 >"$S/$PF/sriov_numvfs"
}
nvfm_provision() {
	$T vf provision "$PF" --vf 0 --vq 4 --vi 2 --driver vfio-pci -q
}
nvfm_release() {
	$T vf release "$VF" -q
}

# what one timestamp costs, subtracted from every figure
cal=0
for i in 1 2 3 4 5; do
	a=$(now)
	b=$(now)
	cal=$(awk -v c="$cal" -v d="$(ms "$a" "$b")" 'BEGIN { print c + d / 5 }')
done
echo "BENCH calibration_ms $cal"

fail=0
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	for m in nvfm sh; do
		a=$(now)
		${m}_provision || { echo "# $m provision failed"; fail=1; }
		b=$(now)
		${m}_release || { echo "# $m release failed"; fail=1; }
		c=$(now)
		echo "BENCH ${m}_provision_ms $(ms "$a" "$b" "$cal")"
		echo "BENCH ${m}_release_ms $(ms "$b" "$c" "$cal")"
	done
done
# fixed costs inside those figures
for i in 1 2 3; do
	a=$(now); $T --version >/dev/null; b=$(now)
	echo "BENCH nvfm_startup_ms $(ms "$a" "$b" "$cal")"
	a=$(now); nvme version >/dev/null; b=$(now)
	echo "BENCH nvme_cli_startup_ms $(ms "$a" "$b" "$cal")"
	a=$(now); $T vf list --pf "$PF" >/dev/null; b=$(now)
	echo "BENCH nvfm_list_ms $(ms "$a" "$b" "$cal")"
done
if [ $fail -eq 0 ]; then echo "ok 1 - benchmark rounds"; else echo "not ok 1 - benchmark rounds"; fi
EOF
sed -i "s/@ROUNDS@/$rounds/" "$work/bench.sh"

"$src/tests/guest/run-guest.sh" "$tool" "$work/bench.sh" 900 >"$work/out" 2>&1 || {
	rc=$?
	cat "$work/out"
	exit $rc
}
grep '^# guest' "$work/out" || true

# median, mean, min, max of each figure
awk '/^BENCH / { v[$2] = v[$2] " " $3 }
END {
	for (k in v) {
		n = split(v[k], a, " ")
		for (i = 1; i <= n; i++)
			for (j = i + 1; j <= n; j++)
				if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		s = 0
		for (i = 1; i <= n; i++) s += a[i]
		med = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		printf "%-22s n=%-2d median %8.1f ms  mean %8.1f  min %8.1f  max %8.1f\n", k, n, med, s / n, a[1], a[n]
	}
}' "$work/out" | sort
