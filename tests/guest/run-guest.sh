#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Boots Debian's kernel under TCG with QEMU's emulated NVMe PF (SR-IOV,
# 2 VFs, flexible VQ/VI resources) behind an emulated IOMMU, runs one
# scenario script inside with our tool, and reports what it printed.
#
#   run-guest.sh TOOL SCENARIO [TIMEOUT_S]
#
# TOOL is the nvme-vf-migrate binary to put in the guest (statically
# linked, or dynamic: then the libraries ldd names go along). SCENARIO is
# a busybox sh script run as root in the guest; it prints TAP lines
# ("ok N - ...", "not ok N - ...") and anything else as comments.
#
# Exit: 0 all cases passed, 1 a case failed or the guest did not finish,
# 77 cannot run here (no QEMU, no static busybox, no kernel package).
# The kernel package and the modules initramfs are cached in
# $NVFM_GUEST_CACHE (default tests/guest/cache/); remove it to refetch.
set -u

tool=${1:?usage: run-guest.sh TOOL SCENARIO [TIMEOUT_S]}
scenario=${2:?usage: run-guest.sh TOOL SCENARIO [TIMEOUT_S]}
limit=${3:-300}
here=$(cd "$(dirname "$0")" && pwd)
cache=${NVFM_GUEST_CACHE:-$here/cache}
qemu=${NVFM_QEMU:-qemu-system-x86_64}

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*"
	exit 1
}

command -v "$qemu" >/dev/null 2>&1 || skip "$qemu is not installed (scripts/install-deps.sh qemu)"
[ -x "$tool" ] || fail "no tool at $tool"
[ -f "$scenario" ] || fail "no scenario at $scenario"

# The guest has no libc of its own: busybox must be the static build.
busybox=
for b in /bin/busybox /usr/bin/busybox "$(command -v busybox 2>/dev/null)"; do
	[ -n "$b" ] && [ -x "$b" ] || continue
	if LC_ALL=C ldd "$b" 2>&1 | grep -q "not a dynamic executable"; then
		busybox=$b
		break
	fi
done
[ -n "$busybox" ] || skip "no statically linked busybox (install busybox-static)"

# Modules the scenario needs; their dependencies come from modules.dep.
want_modules="nvme.ko vfio-pci.ko vfio_iommu_type1.ko"

# ---- kernel and modules, once -------------------------------------------
prepare_kernel() {
	kdir=$cache/kernel
	# "2": the modules carry libkmod's indexes and the variant drivers
	[ "$(cat "$kdir/ready" 2>/dev/null)" = 2 ] && return 0
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || skip "apt knows no linux-image-amd64 (run apt-get update)"
	rm -rf "$cache/dl" "$kdir" "$kdir.tmp"
	mkdir -p "$cache/dl" "$kdir.tmp" || fail "cannot create $cache"
	echo "# fetching $pkg into $cache"
	(cd "$cache/dl" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
		skip "cannot download $pkg"
	deb=$(ls "$cache"/dl/*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || skip "apt-get download left no .deb"
	dpkg-deb -x "$deb" "$kdir.tmp/root" || fail "cannot unpack $deb"
	# newer packages put the modules under /usr (merged /usr)
	if [ ! -d "$kdir.tmp/root/lib/modules" ] && [ -d "$kdir.tmp/root/usr/lib/modules" ]; then
		ln -s usr/lib "$kdir.tmp/root/lib"
	fi
	ver=$(ls "$kdir.tmp/root/lib/modules/" | head -n 1)
	[ -n "$ver" ] || fail "$deb has no modules"
	"$busybox" depmod -b "$kdir.tmp/root" "$ver" || fail "depmod failed"
	mdir=lib/modules/$ver
	mkdir -p "$kdir.tmp/mods/$mdir"
	# the closure of the wanted modules over modules.dep
	todo=$want_modules
	seen=
	while [ -n "$todo" ]; do
		set -- $todo
		m=$1
		shift
		todo=$*
		case " $seen " in *" $m "*) continue ;; esac
		seen="$seen $m"
		line=$(grep -E "(^|/)$m:" "$kdir.tmp/root/$mdir/modules.dep" | head -n 1)
		[ -n "$line" ] || fail "module $m is not in $pkg"
		path=${line%%:*}
		mkdir -p "$kdir.tmp/mods/$mdir/$(dirname "$path")"
		cp "$kdir.tmp/root/$mdir/$path" "$kdir.tmp/mods/$mdir/$path"
		for d in ${line#*:}; do
			todo="$todo $(basename "$d")"
		done
	done
	# the tool picks a VF's driver as libvirt does, from the modules'
	# "vfio_pci:" aliases (through libkmod): the variant drivers go
	# along, never loaded, so it reads their aliases back
	for m in $(awk '$1 == "alias" && $2 ~ /^vfio_pci:/ { print $3 }' \
			"$kdir.tmp/root/$mdir/modules.alias" | sort -u); do
		# a module's file may spell its '_' as '-'
		re=$(echo "$m" | sed 's/[-_]/[-_]/g')
		path=$(grep -E "(^|/)$re\.ko[^:]*:" "$kdir.tmp/root/$mdir/modules.dep" | head -n 1)
		path=${path%%:*}
		[ -n "$path" ] || continue
		mkdir -p "$kdir.tmp/mods/$mdir/$(dirname "$path")"
		cp "$kdir.tmp/root/$mdir/$path" "$kdir.tmp/mods/$mdir/$path"
	done
	# the guest's modprobe needs modules.dep; the tool needs kmod's
	# binary indexes (busybox's depmod writes none): no index, vfio-pci
	kmod_depmod=$(PATH=$PATH:/usr/sbin:/sbin command -v depmod || true)
	if [ -n "$kmod_depmod" ] && "$kmod_depmod" --version 2>&1 | grep -q kmod; then
		"$kmod_depmod" -b "$kdir.tmp/mods" "$ver" 2>/dev/null || fail "depmod failed"
	else
		echo "# no kmod depmod: the guest has no module index (package kmod)"
		"$busybox" depmod -b "$kdir.tmp/mods" "$ver" || fail "depmod failed"
	fi
	(cd "$kdir.tmp/mods" && find . | "$busybox" cpio -o -H newc 2>/dev/null) \
		>"$kdir.tmp/modules.cpio" || fail "cannot pack the modules"
	cp "$kdir.tmp/root/boot/vmlinuz-$ver" "$kdir.tmp/vmlinuz"
	echo "$ver" >"$kdir.tmp/version"
	rm -rf "$kdir.tmp/root" "$kdir.tmp/mods" "$cache/dl"
	mv "$kdir.tmp" "$kdir" && echo 2 >"$kdir/ready"
}

# one download at a time when several runs start together
mkdir -p "$cache" || fail "cannot create $cache"
exec 9>"$cache/.lock"
flock -w 900 9 || fail "another run held $cache/.lock for 900 s"
prepare_kernel
flock -u 9
kdir=$cache/kernel
kver=$(cat "$kdir/version")

# ---- the per-run initramfs: busybox, the tool, nvme-cli, the scenario ---
work=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-guest.XXXXXX") || fail "mktemp failed"
trap 'rm -rf "$work"' EXIT INT TERM
stage=$work/stage
mkdir -p "$stage/bin" "$stage/usr/bin" "$stage/usr/sbin" "$stage/proc" "$stage/sys" \
	"$stage/dev" "$stage/run" "$stage/tmp" "$stage/etc"

copy_with_libs() { # SRC DEST: a binary and every library ldd names
	cp "$1" "$stage/$2" || fail "cannot copy $1"
	LC_ALL=C ldd "$1" 2>/dev/null | awk '
		/=> \// { print $3 }
		/^[ \t]*\/[^ ]+ \(0x/ { print $1 }' | while read -r lib; do
		[ -f "$stage$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
}

cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$here/init.sh" "$stage/init"
chmod 755 "$stage/init"
cp "$scenario" "$stage/scenario.sh"
copy_with_libs "$tool" usr/bin/nvme-vf-migrate
nvme_cli=$(command -v nvme 2>/dev/null || true)
[ -n "$nvme_cli" ] && copy_with_libs "$nvme_cli" usr/sbin/nvme
echo "root:x:0:0:root:/:/bin/sh" >"$stage/etc/passwd"
(cd "$stage" && find . | "$busybox" cpio -o -H newc 2>/dev/null) >"$work/run.cpio" ||
	fail "cannot pack the initramfs"
# the kernel unpacks concatenated archives one after the other
cat "$kdir/modules.cpio" "$work/run.cpio" >"$work/initrd"
truncate -s 64M "$work/ns.img"

log=$work/console.log
echo "# guest: Linux $kver, $(du -k "$work/initrd" | cut -f1) KiB initramfs, QEMU $("$qemu" --version | head -n 1 | awk '{print $4}')"
start=$(date +%s)
timeout "$limit" "$qemu" -M q35 -accel tcg -cpu max -smp 2 -m 1G \
	-nographic -no-reboot -nodefaults -serial stdio -monitor none \
	-kernel "$kdir/vmlinuz" -initrd "$work/initrd" \
	-append "console=ttyS0 panic=-1 intel_iommu=on quiet loglevel=4" \
	-device intel-iommu \
	-drive "file=$work/ns.img,if=none,id=nvm,format=raw" \
	-device pcie-root-port,id=rp1,chassis=1 \
	-device nvme-subsys,id=subsys0,nqn=subsys0 \
	-device nvme,serial=deadbeef,bus=rp1,subsys=subsys0,sriov_max_vfs=2,sriov_vq_flexible=8,sriov_vi_flexible=4,max_ioqpairs=12,msix_qsize=10 \
	-device nvme-ns,drive=nvm,nsid=1 \
	</dev/null >"$log" 2>&1
qrc=$?
end=$(date +%s)
tr -d '\r' <"$log" >"$log.txt"
cat "$log.txt"
echo "# guest run: $((end - start)) s wall, QEMU exit $qrc"

pass=$(grep -c '^ok ' "$log.txt")
failed=$(grep -c '^not ok ' "$log.txt")
if ! grep -q '^NVFM-GUEST-END' "$log.txt"; then
	[ "$qrc" -eq 124 ] && echo "# the guest ran out of its $limit s"
	echo "$pass passed, $((failed + 1)) failed"
	fail "the guest did not finish its scenario"
fi
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$pass" -gt 0 ] || exit 1
exit 0
