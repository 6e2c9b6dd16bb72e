#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Direct transfer of an emulated VF's state over loopback, beside the
ceiling: a raw splice copy of the same bytes between two processes.

usage: benchmarks/transfer.py [--size 1G] [--runs 3]
                              [--tool build/src/cli/nvme-vf-migrate]

Rows, each the best of --runs (by wall time; the baselines and (b) of
3x --runs):
  (a)  raw splice: the saved stream file -> splice -> TCP -> splice ->
       /dev/null, two processes, no framing, no devices (the ceiling). The
       receiver sets SO_RCVLOWAT to 1 MiB, so it wakes once per MiB
       rather than per TCP segment: on this kind of VM a wakeup costs more
       than the bytes it brings, and our receiver does the same
  (a0) the same without SO_RCVLOWAT (the naive copy; slower than (a) by
       2-3x here, shown so no one mistakes it for the ceiling)
  (a') raw device splice: emu:a's data_fd -> splice -> TCP -> splice ->
       emu:b's data_fd, no protocol (benchmarks/raw-device-splice.c): what
       these emulated devices cost on their own
  (b)  ours, plain TCP (--insecure): emu:a -> agent -> emu:b, which
       negotiates zero-copy (DATA frames spliced, no CRC/SHA-256)
  (b') ours, plain TCP with --verify: CRC32C per frame + SHA-256
  (c)  ours, mutual TLS (certificates made with certtool), which negotiates
       tls-integrity (the TLS records authenticate the data: no CRC/SHA-256)
  (c') ours, mutual TLS with --verify: CRC32C per frame + SHA-256 as well
  (c0) ours, mutual TLS with NVFM_TLS_SEALED=0: GIO's TLS records, as
       before sealed records (a 16 KiB record per copy and syscall or two)
The TLS rows print which record layer ran (the agent's log says): sealed
records in userspace, or the kernel's TLS where the kernel has the tls
module (then with splice).
Ours is the library's send (raw-device-splice.c "ours", what the send
command runs) timed from inside the sending process: opening the device,
connecting, handshake, the state, and the agent's commit verdict; the
clock starts after exec and dynamic linking. The "CLI" rows run the same
transfer through `nvme-vf-migrate send` and time the whole process, its
start included (tens of ms here: ~60 shared libraries).
For each: wall time, throughput, ratio to (a), CPU time of both processes
(user+sys, the devices' threads and the processes' start included) and the
larger peak RSS. Every run of ours is checked: emu:b's digest must equal
emu:a's. Last, the ratios of (b) to (a) and to (a'), and of (c) to (a),
between runs of the same round (median, quartiles and range), and the
target lines: (b) at least 0.9x the raw splice copy and the device splice,
(c) at least 0.5x the raw splice copy. This machine's speed drifts 2-3x from
minute to minute, so best-of favours the rows run most; a round runs its
rows seconds apart, so its ratio is the figure that holds.
"""
import argparse
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CHUNK = 1 << 20
# rows run in every round: the ceilings and the row the target is about
PAIRED = ("(a", "(b)  ours")


def raw_send(path, port):
    s = socket.create_connection(("127.0.0.1", port))
    r, w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(w, 1031, CHUNK)  # F_SETPIPE_SZ
    except OSError:
        pass
    with open(path, "rb") as f:
        left = os.fstat(f.fileno()).st_size
        while left:
            n = os.splice(f.fileno(), w, min(left, CHUNK))
            if n == 0:
                break
            left -= n
            while n:
                n -= os.splice(r, s.fileno(), n)
    s.close()


def raw_recv(ls, lowat):
    c, _ = ls.accept()
    if lowat:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, lowat)
    r, w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(w, 1031, CHUNK)
    except OSError:
        pass
    null = os.open("/dev/null", os.O_WRONLY)
    total = 0
    while True:
        n = os.splice(c.fileno(), w, CHUNK)
        if n == 0:
            break
        total += n
        while n:
            n -= os.splice(r, null, n)
    return total


def rusage_of(pid):
    _, status, ru = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), ru


def cpu(ru):
    return ru.ru_utime + ru.ru_stime


class Bench:
    def __init__(self, args):
        self.tool = os.path.abspath(args.tool)
        if not os.access(self.tool, os.X_OK):
            sys.exit("benchmark: %s not built (meson setup build && ninja -C build)" % self.tool)
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.work = tempfile.mkdtemp(prefix="nvfm-bench.", dir=base)
        self.size = args.size
        self.env_a = dict(os.environ, NVFM_EMU_DIR=os.path.join(self.work, "hostA"))
        self.env_b = dict(os.environ, NVFM_EMU_DIR=os.path.join(self.work, "hostB"))

    def run(self, argv, env, **kw):
        return subprocess.run([self.tool] + argv, env=env, check=True, **kw)

    def setup(self):
        self.run(["-q", "emu", "create", "a", "--size", self.size, "--seed", "1",
                  "--dirty-rate", "0"], self.env_a)
        self.run(["-q", "emu", "create", "b", "--size", self.size, "--seed", "2",
                  "--dirty-rate", "0"], self.env_b)
        self.stream = os.path.join(self.work, "stream.nvfm")
        self.run(["-q", "save", "emu:a", "-o", self.stream], self.env_a)
        self.nbytes = os.path.getsize(self.stream)
        self.digest_a = self.digest(self.env_a, "a")
        self.pki = None
        self.layers = {}
        if shutil.which("certtool"):
            here = os.path.dirname(os.path.abspath(__file__))
            mk = os.path.join(here, "..", "tests", "hosts", "mkcerts.sh")
            pki = os.path.join(self.work, "pki")
            if subprocess.run(["sh", mk, pki, "127.0.0.1"],
                              stdout=subprocess.DEVNULL).returncode == 0:
                self.pki = pki

        self.helper = None
        here = os.path.dirname(os.path.abspath(__file__))
        build = os.path.dirname(os.path.dirname(os.path.dirname(self.tool)))
        try:
            flags = subprocess.run(["pkg-config", "--cflags", "--libs", "glib-2.0", "jansson"],
                                   check=True, stdout=subprocess.PIPE).stdout.decode().split()
            helper = os.path.join(self.work, "raw-device-splice")
            subprocess.run(["cc", "-O2", "-D_GNU_SOURCE", "-o", helper,
                            os.path.join(here, "raw-device-splice.c"),
                            "-I", os.path.join(here, "..", "include"),
                            "-I", os.path.join(build, "include"),
                            "-L", os.path.join(build, "src", "lib"), "-lnvfm",
                            "-Wl,-rpath," + os.path.join(build, "src", "lib")] + flags,
                           check=True)
            self.helper = helper
        except (OSError, subprocess.CalledProcessError) as e:
            print("(a') skipped: cannot build raw-device-splice: %s" % e, file=sys.stderr)

    def recreate_b(self):
        self.run(["-q", "emu", "create", "b", "--size", self.size, "--seed", "2",
                  "--dirty-rate", "0"], self.env_b)

    def raw_device(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        recv = subprocess.Popen([self.helper, "recv", "emu:b", str(port)], env=self.env_b,
                                stdout=subprocess.PIPE)
        if recv.stdout.readline().strip() != b"ready":
            sys.exit("benchmark: raw-device-splice did not start")
        t0 = time.monotonic()
        send = subprocess.Popen([self.helper, "send", "emu:a", str(port)], env=self.env_a)
        rc1, ru_s = rusage_of(send.pid)
        rc2, ru_r = rusage_of(recv.pid)
        wall = time.monotonic() - t0
        recv.stdout.close()
        if rc1 or rc2 or self.digest(self.env_b, "b") != self.digest_a:
            sys.exit("benchmark: raw device splice failed")
        self.recreate_b()
        return wall, cpu(ru_s) + cpu(ru_r), max(ru_s.ru_maxrss, ru_r.ru_maxrss)

    def digest(self, env, name):
        out = self.run(["emu", "digest", name], env, stdout=subprocess.PIPE).stdout
        return out.split()[0].decode()

    def raw(self, lowat=CHUNK):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        port = ls.getsockname()[1]
        t0 = time.monotonic()
        rpid = os.fork()
        if rpid == 0:
            total = raw_recv(ls, lowat)
            os._exit(0 if total == self.nbytes else 1)
        spid = os.fork()
        if spid == 0:
            ls.close()
            raw_send(self.stream, port)
            os._exit(0)
        ls.close()
        rc1, ru_s = rusage_of(spid)
        rc2, ru_r = rusage_of(rpid)
        wall = time.monotonic() - t0
        if rc1 or rc2:
            sys.exit("benchmark: raw splice copy failed")
        return wall, cpu(ru_s) + cpu(ru_r), max(ru_s.ru_maxrss, ru_r.ru_maxrss)

    def ours(self, mode, via="lib", env=None):
        rt = os.path.join(self.work, "rt")
        common = []
        env_a = dict(self.env_a, **(env or {}))
        env_b = dict(self.env_b, **(env or {}))
        if mode.startswith("tls"):
            srv = ["--tls-dir", os.path.join(self.pki, "server")]
            cli = ["--tls-dir", os.path.join(self.pki, "client")]
            lib = ["tls=" + os.path.join(self.pki, "client")]
        else:
            srv = cli = ["--insecure"]
            lib = []
        agent = subprocess.Popen([self.tool, "agent", "--listen", "127.0.0.1:0", "--emu",
                                  "--runtime-dir", rt, "--log", "stderr"] + srv,
                                 env=env_b, stderr=subprocess.PIPE)
        port = None
        deadline = time.monotonic() + 20
        buf = b""
        while port is None and time.monotonic() < deadline:
            r, _, _ = select.select([agent.stderr], [], [], 1)
            if r:
                line = agent.stderr.readline()
                buf += line
                m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", line)
                if m:
                    port = int(m.group(1))
        if port is None:
            agent.kill()
            sys.exit("benchmark: the agent did not start: %s" % buf.decode(errors="replace"))
        extra = ["--verify"] if mode.endswith("verify") else []
        t0 = time.monotonic()
        if via == "lib":
            send = subprocess.Popen([self.helper, "ours", "emu:a", "127.0.0.1:%d" % port,
                                     "emu:b"] + lib + [e[2:] for e in extra],
                                    env=env_a, stdout=subprocess.PIPE)
            out = send.stdout.read()
            send.stdout.close()
        else:
            send = subprocess.Popen([self.tool, "-q", "send", "emu:a", "--to",
                                     "127.0.0.1:%d" % port, "--target", "emu:b",
                                     "--timeout", "60"] + cli + extra + common, env=env_a)
        rc, ru_s = rusage_of(send.pid)
        wall = time.monotonic() - t0
        if via == "lib" and rc == 0:
            m = re.search(rb"seconds ([0-9.]+)", out)
            if not m:
                sys.exit("benchmark: the transfer helper printed no time: %r" % out)
            wall = float(m.group(1))
        agent.send_signal(signal.SIGTERM)
        rest = agent.stderr.read()
        agent.stderr.close()
        m = re.search(rb"\[records: ([^]]+)\]", buf + rest)
        if m:
            key = " ".join([mode] + ["%s=%s" % kv for kv in sorted((env or {}).items())])
            self.layers[key] = m.group(1).decode().strip()
        rc2, ru_a = rusage_of(agent.pid)
        if rc or rc2:
            sys.exit("benchmark: %s transfer failed (send %d, agent %d)" % (mode, rc, rc2))
        if self.digest(self.env_b, "b") != self.digest_a:
            sys.exit("benchmark: emu:b does not hold emu:a's state after the %s run" % mode)
        # start every run from a device that does not hold the state yet
        self.recreate_b()
        return wall, cpu(ru_s) + cpu(ru_a), max(ru_s.ru_maxrss, ru_a.ru_maxrss)

    def cleanup(self):
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1G")
    ap.add_argument("--tool", default="build/src/cli/nvme-vf-migrate")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    b = Bench(args)
    try:
        b.setup()
        rows = [("(a)  raw splice copy (ceiling)", b.raw),
                ("(a0) raw splice, no SO_RCVLOWAT", lambda: b.raw(0))]
        if b.helper:
            rows.append(("(a') raw device splice", b.raw_device))
            rows += [("(b)  ours, plain TCP, zero-copy", lambda: b.ours("plain")),
                     ("(b') ours, plain TCP, --verify", lambda: b.ours("verify"))]
            if b.pki:
                rows += [("(c)  ours, mutual TLS", lambda: b.ours("tls")),
                         ("(c') ours, mutual TLS, --verify", lambda: b.ours("tls-verify")),
                         ("(c0) ours, TLS, GIO's records",
                          lambda: b.ours("tls", env={"NVFM_TLS_SEALED": "0"}))]
        rows.append(("(b)  CLI send, plain TCP", lambda: b.ours("plain", "cli")))
        if b.pki:
            rows.append(("(c)  CLI send, mutual TLS", lambda: b.ours("tls", "cli")))
        best = {}
        rounds = []
        # Interleave the rows so that a noisy moment hurts all of them
        # alike. The baselines are cheap and vary most (loopback TCP cares
        # where the scheduler puts the two ends): give them more tries.
        for i in range(args.runs * 3):
            walls = {}
            for label, fn in rows:
                if i >= args.runs and not label.startswith(PAIRED):
                    continue
                r = fn()
                walls[label] = r[0]
                if label not in best or r[0] < best[label][0]:
                    best[label] = r
            rounds.append(walls)
        print("state %s: %d stream bytes over 127.0.0.1; best of %d runs (baselines %d); "
              "%d CPUs" % (args.size, b.nbytes, args.runs, args.runs * 3, os.cpu_count()))
        print("%-34s %9s %13s %7s %7s %9s %11s" % ("", "wall", "throughput", "vs (a)",
                                                   "vs (a')", "CPU", "peak RSS"))
        ceiling = dev_ceiling = None
        for label, _ in rows:
            wall, cpu_s, rss = best[label]
            mibs = b.nbytes / wall / (1 << 20)
            if ceiling is None:
                ceiling = mibs
            if label.startswith("(a')"):
                dev_ceiling = mibs
            print("%-34s %7.3f s %7.1f MiB/s %6.2fx %7s %7.3f s %7.1f MiB" %
                  (label, wall, mibs, mibs / ceiling,
                   "%.2fx" % (mibs / dev_ceiling) if dev_ceiling else "-",
                   cpu_s, rss / 1024.0))
        # Best-of favours the rows run most and the machine drifts: the
        # ratios of rows timed in the same round say more.
        medians = {}
        for num, den in (("(b)  ours", "(a)  raw"), ("(b)  ours", "(a') raw"),
                         ("(b)  CLI", "(a)  raw"), ("(c)  ours", "(a)  raw")):
            name = lambda l: l.split(",")[0].replace("  ", " ")
            ratios = sorted(w[d] / w[n] for w in rounds
                            for n in w if n.startswith(num)
                            for d in w if d.startswith(den))
            if ratios:
                q = len(ratios) // 4
                medians[(num, den)] = statistics.median(ratios)
                print("paired %s / %s (same round, %d rounds): median %.2fx, "
                      "quartiles %.2f-%.2fx, range %.2f-%.2fx" %
                      (name(num), name(den), len(ratios), medians[(num, den)],
                       ratios[q], ratios[-1 - q], ratios[0], ratios[-1]))
        for den, what in (("(a)  raw", "the raw splice copy (a), the ceiling"),
                          ("(a') raw", "the raw splice between the devices (a')")):
            m = medians.get(("(b)  ours", den))
            if m is not None:
                print("target: (b) >= 0.90x %s: median %.2fx, %s" %
                      (what, m, "met" if m >= 0.9 else "NOT met"))
        m = medians.get(("(c)  ours", "(a)  raw"))
        if m is not None:
            print("target: (c) >= 0.50x the raw splice copy (a): median %.2fx, %s" %
                  (m, "met" if m >= 0.5 else "NOT met"))
        for key, layer in sorted(b.layers.items()):
            print("TLS records, mode %s: %s" % (key, layer))
        if not b.pki:
            print("(c) skipped: certtool (gnutls-bin) is not installed")
        if not b.helper:
            print("(a') and the in-process rows skipped: raw-device-splice.c did not build")
        else:
            print("(b), (c): the library's transfer timed in the sending process (device open "
                  "to the agent's verdict);\n"
                  "CLI rows: the same through `nvme-vf-migrate send`, process start included")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
