#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs what nvme-vf-migrate needs to build, test and run its demo on
# Debian 12. Idempotent: packages already present are not fetched again.
#   install-deps.sh [build] [test] [qemu] [testbed]
set -eu

want_build=0 want_test=0 want_qemu=0 want_testbed=0
[ $# -eq 0 ] && set -- build
for a in "$@"; do
	case "$a" in
	build) want_build=1 ;;
	test) want_build=1; want_test=1 ;;
	qemu) want_qemu=1 ;;
	testbed) want_qemu=1; want_testbed=1 ;;
	*) echo "install-deps: unknown set '$a' (build, test, qemu, testbed)" >&2; exit 2 ;;
	esac
done

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

BUILD_PKGS="meson ninja-build gcc pkg-config libglib2.0-dev glib-networking
 libjansson-dev libnvme-dev libjson-c-dev libssl-dev libgnutls28-dev
 libvirt-dev libxml2-dev libsystemd-dev libkmod-dev"
# tests/testbed: the host image (debootstrap) and the test variant driver
# (kbuild needs make, gcc and pahole from dwarves)
TESTBED_PKGS="debootstrap dwarves cpio xz-utils e2fsprogs make gcc binutils libc6-dev ninja-build pkg-config libglib2.0-dev libfdt-dev python3 patch seabios qemu-system-data"
# systemd: systemd-analyze rates the agent unit's sandbox (tests/install)
# kmod: depmod indexes the stub module trees of tests/common/kmod-tree.sh
TEST_PKGS="clang libclang-rt-14-dev iproute2 tmux gnutls-bin procps libvirt-daemon-driver-qemu
 libvirt-daemon libvirt-clients systemd kmod"

missing() {
	out=
	for p in "$@"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		case "$st" in
		*" installed") ;;
		*) out="$out $p" ;;
		esac
	done
	echo "$out"
}

apt_install() {
	[ -z "$(echo "$*" | tr -d ' ')" ] && return 0
	export DEBIAN_FRONTEND=noninteractive
	if [ ! -f /var/lib/apt/periodic/nvfm-updated ] || [ -n "${NVFM_APT_UPDATE:-}" ]; then
		$SUDO apt-get update -q >/dev/null
		$SUDO mkdir -p /var/lib/apt/periodic
		$SUDO touch /var/lib/apt/periodic/nvfm-updated
	fi
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# bookworm-backports is served by the same archive as bookworm: reuse the
# URI and keyring of the existing entry rather than naming any host here.
ensure_backports() {
	f=/etc/apt/sources.list.d/nvfm-backports.sources
	[ -f "$f" ] && return 0
	src=/etc/apt/sources.list.d/debian.sources
	if [ ! -f "$src" ]; then
		echo "install-deps: no $src to derive bookworm-backports from" >&2
		return 1
	fi
	uri=$(awk '/^URIs:/ {print $2; exit}' "$src")
	key=$(awk '/^Signed-By:/ {print $2; exit}' "$src")
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
		"$uri" "$key" | $SUDO tee "$f" >/dev/null
	NVFM_APT_UPDATE=1
	export NVFM_APT_UPDATE
}

pkgs=
[ $want_build -eq 1 ] && pkgs="$pkgs $BUILD_PKGS"
[ $want_test -eq 1 ] && pkgs="$pkgs $TEST_PKGS"
[ $want_testbed -eq 1 ] && pkgs="$pkgs $TESTBED_PKGS"
# shellcheck disable=SC2086
apt_install $(missing $pkgs)

if [ $want_qemu -eq 1 ]; then
	# tests/guest: a static busybox for the initramfs; nvme-cli for the
	# provisioning benchmark's by-hand baseline; iproute2 for the demo's
	# and the tests' two hosts in network namespaces
	# shellcheck disable=SC2046
	apt_install $(missing busybox-static nvme-cli iproute2)
	ver=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
	case "$ver" in
	1[0-9]:*|*:1[0-9].*) ;;
	*)
		if ensure_backports; then
			# Name the packages whose versions are pinned to each
			# other, so apt does not mix 10.0 with bookworm's 7.2.
			apt_install qemu-system-x86/bookworm-backports \
				qemu-system-common/bookworm-backports \
				qemu-system-data/bookworm-backports \
				seabios/bookworm-backports ||
				apt_install qemu-system-x86
		else
			apt_install qemu-system-x86
		fi
		;;
	esac
fi
exit 0
