#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A module tree as depmod leaves it, for the tests of the VFIO variant
# choice (src/lib/pf/pf-variant.c):
#   kmod-tree.sh ROOT RELEASE NAME=ALIAS[,ALIAS...] ...
# makes ROOT/lib/modules/RELEASE/kernel/drivers/vfio/NAME.ko for each NAME,
# a stub object whose .modinfo section holds name=NAME, license=GPL and
# one alias=ALIAS per ALIAS (what libkmod reads back), then runs depmod on
# the tree. Exits 77 (skip) without gcc or depmod.
set -eu

[ $# -ge 2 ] || { echo "usage: kmod-tree.sh ROOT RELEASE NAME=ALIAS[,ALIAS...] ..." >&2; exit 2; }
root=$1 rel=$2
shift 2
# depmod lives in sbin, which a user's PATH may lack
depmod=$(PATH=$PATH:/usr/sbin:/sbin command -v depmod || true)
command -v gcc >/dev/null 2>&1 || { echo "kmod-tree: no gcc" >&2; exit 77; }
[ -n "$depmod" ] || { echo "kmod-tree: no depmod (package kmod)" >&2; exit 77; }

mdir=$root/lib/modules/$rel
kdir=$mdir/kernel/drivers/vfio
mkdir -p "$kdir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvfm-kmod-tree.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
for spec in "$@"; do
	name=${spec%%=*}
	aliases=${spec#*=}
	{
		printf '__attribute__((section(".modinfo"), used, aligned(1)))\n'
		printf 'static const char modinfo[] = "name=%s\\0license=GPL' "$name"
		old_ifs=$IFS
		IFS=,
		for a in $aliases; do
			printf '\\0alias=%s' "$a"
		done
		IFS=$old_ifs
		printf '";\n'
	} >"$tmp/$name.c"
	gcc -c -o "$kdir/$name.ko" "$tmp/$name.c"
done
# depmod reads these when present and warns when not
: >"$mdir/modules.order"
: >"$mdir/modules.builtin"
: >"$mdir/modules.builtin.modinfo"
"$depmod" -b "$root" "$rel"
