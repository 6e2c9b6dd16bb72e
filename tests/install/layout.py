#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""meson install into a DESTDIR lands exactly the files below, where
docs/packaging.md says, and the installed files name each other's real
locations (unit -> binary, environment file, docs; man pages -> docs,
hook.conf, qemu.d)."""
import glob
import os
import re
import stat
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import installed  # noqa: E402
from installed import SOURCE, fail, under  # noqa: E402


def source_files(sub, pattern="**/*"):
    """Files under the source's @sub, relative to it."""
    base = os.path.join(SOURCE, sub)
    return sorted(os.path.relpath(p, base)
                  for p in glob.glob(os.path.join(base, pattern), recursive=True)
                  if os.path.isfile(p) and os.path.basename(p) != "meson.build")


def golden(d):
    """{installed path: symlink target or None}"""
    g = {
        f"{d['sbindir']}/nvme-vf-migrate": None,
        f"{d['libdir']}/libnvfm.so": "libnvfm.so.0",
        f"{d['libdir']}/libnvfm.so.0": "libnvfm.so.0.1.0",
        f"{d['libdir']}/libnvfm.so.0.1.0": None,
        f"{d['libdir']}/pkgconfig/nvfm.pc": None,
        f"{d['mandir']}/man8/nvme-vf-migrate.8": None,
        f"{d['mandir']}/man8/nvme-vf-migrate-hook.8": None,
        f"{d['docdir']}/README.md": None,
        # the example configuration, and the file itself where none was
        f"{d['docdir']}/examples/nvme-vf-migrate.conf": None,
        f"{d['sysconfdir']}/nvme-vf-migrate/nvme-vf-migrate.conf": None,
    }
    if d["hookdir"]:
        g[f"{d['libexecdir']}/nvme-vf-migrate-hook"] = None
        g[f"{d['hookdir']}/nvme-vf-migrate"] = f"{d['libexecdir']}/nvme-vf-migrate-hook"
    if d["unitdir"]:
        g[f"{d['unitdir']}/nvme-vf-migrate-agent.service"] = None
    if d["bash_completion"]:
        g[f"{d['datadir']}/bash-completion/completions/nvme-vf-migrate"] = None
    # every public header, the generated version.h among them
    for h in source_files("include/nvfm", "*.h") + ["version.h"]:
        g[f"{d['includedir']}/nvfm/{h}"] = None
    # the docs, examples and license texts keep the source's layout
    for sub in ("docs", "examples", "LICENSES"):
        for f in source_files(sub):
            g[f"{d['docdir']}/{sub}/{f}"] = None
    return g


def landed(destdir):
    out = {}
    for root, dirs, files in os.walk(destdir):
        for name in files + [x for x in dirs if os.path.islink(os.path.join(root, x))]:
            p = os.path.join(root, name)
            path = "/" + os.path.relpath(p, destdir)
            out[path] = os.readlink(p) if os.path.islink(p) else None
    return out


def check_refs(destdir, d):
    """The installed files point at paths that exist in the tree."""
    if d["unitdir"]:
        unit = open(under(destdir, f"{d['unitdir']}/nvme-vf-migrate-agent.service")).read()
        want = [f"ExecStart={d['sbindir']}/nvme-vf-migrate agent ",
                f"EnvironmentFile=-{d['sysconfdir']}/default/nvme-vf-migrate-agent"]
        for w in want:
            if w not in unit:
                fail(f"the unit lacks '{w}'")
        docs = re.findall(r"file://(\S+)", unit)
        if not docs:
            fail("the unit's Documentation= names no file")
        for p in docs:
            if not os.path.isfile(under(destdir, p)):
                fail(f"the unit's Documentation= names {p}, which is not installed")
    for page in ("nvme-vf-migrate.8", "nvme-vf-migrate-hook.8"):
        text = open(under(destdir, f"{d['mandir']}/man8/{page}")).read()
        for p in re.findall(re.escape(d["docdir"]) + r"[^\s\\]*", text):
            p = p.rstrip(".,;:)")  # the sentence's, not the path's
            if not os.path.exists(under(destdir, p)):
                fail(f"{page} names {p}, which is not installed")
    hook = open(under(destdir, f"{d['mandir']}/man8/nvme-vf-migrate-hook.8")).read()
    for w in (f"{d['sysconfdir']}/nvme-vf-migrate/nvme-vf-migrate.conf",):
        if w not in hook:
            fail(f"nvme-vf-migrate-hook(8) does not name {w}")
    if d["hookdir"] and f"{d['hookdir']}/nvme-vf-migrate" not in hook:
        fail(f"nvme-vf-migrate-hook(8) does not name {d['hookdir']}/nvme-vf-migrate")


def main():
    d = installed.locations()
    with tempfile.TemporaryDirectory(prefix="nvfm-install-") as destdir:
        installed.install(destdir)
        want, got = golden(d), landed(destdir)
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        for p in sorted(got):
            print(p + (f" -> {got[p]}" if got[p] else ""))
        if missing or extra:
            fail("install layout differs from the golden list:\n" +
                 "".join(f"  missing    {p}\n" for p in missing) +
                 "".join(f"  unexpected {p}\n" for p in extra))
        for p, target in want.items():
            if got[p] != target:
                fail(f"{p}: symlink to {got[p]}, expected {target}")
        for p in (f"{d['sbindir']}/nvme-vf-migrate",
                  f"{d['libexecdir']}/nvme-vf-migrate-hook" if d["hookdir"] else None):
            if p and not os.stat(under(destdir, p)).st_mode & stat.S_IXOTH:
                fail(f"{p} is not executable")
        check_refs(destdir, d)
    print(f"OK: {len(want)} paths where expected")


main()
