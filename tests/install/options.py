#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The install options do what docs/packaging.md says: configure the
source with several prefixes and options (meson setup only, no build) and
check the install plan (meson introspect --installed) and the configured
unit."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from installed import SOURCE, fail  # noqa: E402

UNIT = "nvme-vf-migrate-agent.service"
HOOK_LINK = "libvirt/hooks/qemu.d/nvme-vf-migrate"

# (meson options, paths that must be planned, paths that must not,
#  lines the configured unit must hold)
CASES = [
    (["--prefix=/usr"],
     ["/usr/lib/systemd/system/" + UNIT, "/etc/" + HOOK_LINK,
      "/usr/libexec/nvme-vf-migrate-hook", "/usr/share/doc/nvme-vf-migrate/README.md"],
     [],
     ["ExecStart=/usr/sbin/nvme-vf-migrate agent ",
      "EnvironmentFile=-/etc/default/nvme-vf-migrate-agent",
      "file:///usr/share/doc/nvme-vf-migrate/docs/agent.md"]),
    (["--prefix=/opt/nvfm"],
     ["/opt/nvfm/lib/systemd/system/" + UNIT, "/opt/nvfm/etc/" + HOOK_LINK,
      "/opt/nvfm/share/doc/nvme-vf-migrate/README.md"],
     ["/lib/systemd/system/" + UNIT, "/usr/lib/systemd/system/" + UNIT, "/etc/" + HOOK_LINK],
     ["ExecStart=/opt/nvfm/sbin/nvme-vf-migrate agent ",
      "EnvironmentFile=-/opt/nvfm/etc/default/nvme-vf-migrate-agent"]),
    (["--prefix=/usr", "-Dsystemdunitdir=no", "-Dlibvirt_hook=false"],
     ["/usr/sbin/nvme-vf-migrate"],
     ["/usr/lib/systemd/system/" + UNIT, "/etc/" + HOOK_LINK,
      "/usr/libexec/nvme-vf-migrate-hook"],
     []),
    (["--prefix=/usr/local", "-Dsystemdunitdir=/srv/units",
      "-Dlibvirt_hookdir=/etc/libvirt/hooks/qemu.d"],
     ["/srv/units/" + UNIT, "/etc/" + HOOK_LINK],
     ["/usr/local/lib/systemd/system/" + UNIT, "/usr/local/etc/" + HOOK_LINK],
     ["ExecStart=/usr/local/sbin/nvme-vf-migrate agent "]),
]


def plan(opts, tmp):
    build = os.path.join(tmp, "b")
    r = subprocess.run(["meson", "setup", build, SOURCE, "-Dtests=false"] + opts,
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"meson setup {' '.join(opts)} failed:\n{r.stdout}{r.stderr}")
    out = subprocess.run(["meson", "introspect", "--installed", build],
                         check=True, capture_output=True, text=True).stdout
    unit = os.path.join(build, "data", UNIT)
    return set(json.loads(out).values()), (open(unit).read() if os.path.exists(unit) else "")


def main():
    for opts, want, unwanted, unit_lines in CASES:
        with tempfile.TemporaryDirectory(prefix="nvfm-opts-") as tmp:
            planned, unit = plan(opts, tmp)
        name = " ".join(opts)
        for p in want:
            if p not in planned:
                fail(f"{name}: {p} is not installed; planned:\n  " + "\n  ".join(sorted(planned)))
        for p in unwanted:
            if p in planned:
                fail(f"{name}: {p} is installed, it should not be")
        for line in unit_lines:
            if line not in unit:
                fail(f"{name}: the unit lacks '{line}'")
        print(f"OK: {name}")


main()
