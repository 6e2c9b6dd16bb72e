# SPDX-License-Identifier: GPL-2.0-or-later
"""This build installed as a packager installs it: `meson install` into a
fresh DESTDIR, and where each of its directories lands (docs/packaging.md).
Shared by the install suite's tests."""
import json
import os
import subprocess
import sys

BUILD = os.environ["NVFM_BUILD_ROOT"]
SOURCE = os.environ["NVFM_SOURCE_ROOT"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def options():
    """The build's configured options, by name."""
    out = subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                         check=True, capture_output=True, text=True).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


def locations(opts=None):
    """Absolute install directories of this build, as meson.build derives
    them: the standard ones, plus docdir, unitdir (None: not installed),
    hookdir (None: not installed), bash_completion (installed or not)."""
    opts = opts or options()
    prefix = opts["prefix"]

    def absolute(p):
        return p if p.startswith("/") else os.path.join(prefix, p)

    d = {k: absolute(opts[k]) for k in
         ("bindir", "sbindir", "libdir", "libexecdir", "includedir",
          "datadir", "mandir", "sysconfdir")}
    d["prefix"] = prefix
    d["docdir"] = os.path.join(d["datadir"], "doc", "nvme-vf-migrate")
    unitdir = opts["systemdunitdir"]
    if unitdir == "":
        unitdir = os.path.join(prefix, "lib", "systemd", "system")
    d["unitdir"] = None if unitdir == "no" else unitdir
    hookdir = opts["libvirt_hookdir"] or os.path.join(
        d["sysconfdir"], "libvirt", "hooks", "qemu.d")
    d["hookdir"] = hookdir if opts["libvirt_hook"] else None
    # data/meson.build installs it when the option exists and is on
    d["bash_completion"] = opts.get("bash_completion", False)
    return d


def install(destdir):
    """meson install of the (already built) build into @destdir."""
    r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild",
                        "--destdir", destdir],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("meson install failed:\n" + r.stdout + r.stderr)


def under(destdir, path):
    """@path (absolute, as installed) inside @destdir."""
    return os.path.join(destdir, path.lstrip("/"))
