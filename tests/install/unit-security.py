#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The installed agent unit's sandbox: `systemd-analyze verify` finds no
fault in it and `systemd-analyze security --offline` rates its exposure at
4.0 or lower (docs/packaging.md says why each
remaining allowance is needed). Prints the score."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import installed  # noqa: E402
from installed import fail, skip, under  # noqa: E402

LIMIT = 4.0


def main():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        skip("systemd-analyze is not installed (package systemd)")
    d = installed.locations()
    if not d["unitdir"]:
        skip("built with -Dsystemdunitdir=no: no unit to rate")
    with tempfile.TemporaryDirectory(prefix="nvfm-unit-") as destdir:
        installed.install(destdir)
        unit = under(destdir, f"{d['unitdir']}/nvme-vf-migrate-agent.service")
        r = subprocess.run([analyze, "security", "--offline=true", "--no-pager", unit],
                           capture_output=True, text=True)
        # every directive known and well-formed (a typo would be ignored
        # with a warning, silently loosening the sandbox); the program
        # itself is in the DESTDIR, not at ExecStart='s path
        v = subprocess.run([analyze, "verify", "--man=no", unit],
                           capture_output=True, text=True)
    complaints = [line for line in (v.stdout + v.stderr).splitlines()
                  if line.strip() and "is not executable" not in line]
    if complaints:
        fail("systemd-analyze verify:\n" + "\n".join(complaints))
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    if not m:
        fail("no exposure level in systemd-analyze's output:\n" + r.stdout + r.stderr)
    score = float(m.group(1))
    # the allowances left, for the log
    print("\n".join(line for line in r.stdout.splitlines() if line.startswith("✗")))
    print(f"exposure {score} (limit {LIMIT})")
    if score > LIMIT:
        fail(f"the agent unit's exposure is {score}, above {LIMIT}")


main()
