#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# meson install script: install SRC as DEST (under $DESTDIR) with mode
# 0644 unless DEST exists, so an operator's configuration survives an
# upgrade or a reinstall.
set -eu
src=$1
dest=${DESTDIR:-}$2
if [ -e "$dest" ] || [ -L "$dest" ]; then
	echo "keeping $dest"
	exit 0
fi
mkdir -p "$(dirname "$dest")"
install -m 0644 "$src" "$dest"
