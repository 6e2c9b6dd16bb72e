#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A program outside the project builds and runs against the INSTALLED
libnvfm (meson install into a DESTDIR) with nothing but
`pkg-config --cflags --libs nvfm`: PKG_CONFIG_PATH names the DESTDIR's
pkgconfig directory (nvfm.pc is relocatable), LD_LIBRARY_PATH its libdir."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import installed  # noqa: E402
from installed import fail, skip, under  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def relocatable():
    r = subprocess.run(["meson", "introspect", "--buildoptions", os.environ["NVFM_BUILD_ROOT"]],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("meson introspect --buildoptions: " + r.stderr.strip())
    for o in json.loads(r.stdout):
        if o["name"] == "pkgconfig.relocatable":
            return o["value"] is True
    return False


def main():
    pkgconfig = shutil.which("pkg-config")
    cc = os.environ.get("CC", "cc")
    if not pkgconfig:
        skip("pkg-config is not installed")
    if not relocatable():
        skip("this build directory has pkgconfig.relocatable=false (made before it "
             "became the default): meson configure -Dpkgconfig.relocatable=true")
    d = installed.locations()
    with tempfile.TemporaryDirectory(prefix="nvfm-pc-") as tmp:
        destdir = os.path.join(tmp, "root")
        installed.install(destdir)
        libdir = under(destdir, d["libdir"])
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
        r = subprocess.run([pkgconfig, "--cflags", "--libs", "nvfm"], env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail("pkg-config --cflags --libs nvfm: " + r.stderr.strip())
        flags = shlex.split(r.stdout)
        print("pkg-config --cflags --libs nvfm: " + r.stdout.strip())
        inside = {f[:2] for f in flags if f.startswith(("-I", "-L")) and
                  os.path.realpath(f[2:]).startswith(os.path.realpath(destdir) + "/")}
        if inside != {"-I", "-L"}:
            fail("nvfm.pc does not point into the DESTDIR (no -I and -L there)")
        prog = os.path.join(tmp, "consumer")
        r = subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-o", prog,
                            os.path.join(HERE, "consumer.c")] + flags,
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail("building against the installed library failed:\n" + r.stderr)
        run_env = dict(os.environ, LD_LIBRARY_PATH=libdir)
        r = subprocess.run(["ldd", prog], env=run_env, capture_output=True, text=True)
        lib = [line for line in r.stdout.splitlines() if "libnvfm.so" in line]
        if not lib or os.path.realpath(destdir) not in os.path.realpath(lib[0].split("=>")[-1].split()[0]):
            fail("the program does not load the installed libnvfm: " + r.stdout)
        r = subprocess.run([prog], env=run_env, capture_output=True, text=True)
        print(r.stdout + r.stderr, end="")
        if r.returncode != 0:
            fail(f"the program exited {r.returncode}")
    print("OK: built and ran against the installed libnvfm")


main()
