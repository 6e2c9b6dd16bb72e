#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Local check of the nested NVMe guest on this machine's QEMU (no testbed).

Boots nvme-io.elf with QEMU's emulated NVMe behind a pcie-root-port, reads
the counters through QMP (human-monitor-command xp, parsed by
read-counters.sh), and checks: they grow with no errors, mismatches, lost or
unexpected completions; a pause (stop, 15 s, cont) longer than the guest's
lost bound gives no lost count; a migration attempt is refused (stock QEMU's
nvme is unmigratable) and the guest runs on; blocks overwritten with
garbage behind the guest's back are reported as mismatches.

  local-test.py ELF [--mem 256] [--cpu max] [--lbs 512] [--ioqpairs N]
                    [--root-bus] [--run 20] [--no-corrupt]

Every wait is bounded; the QEMUs started here are stopped by their PIDs.
"""
import argparse, json, os, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
XP = "xp /40wx 0x300000"


class Qmp:
    def __init__(self, path, timeout=30):
        end = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.settimeout(30)
                self.s.connect(path)
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.1)
        self.f = self.s.makefile("rw")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()
        for _ in range(1000):
            r = json.loads(self.f.readline())
            if "event" in r:
                continue
            return r
        raise RuntimeError("no reply")

    def hmp(self, line):
        r = self.cmd("human-monitor-command", **{"command-line": line})
        return r.get("return", r.get("error", {}).get("desc", ""))


def counters(q):
    out = subprocess.run([os.path.join(HERE, "read-counters.sh"), "-"], input=q.hmp(XP),
                         capture_output=True, text=True, timeout=30).stdout
    return {k: (int(v, 0) if v[:1].isdigit() else v)
            for k, v in (l.split("=", 1) for l in out.split())}


BAD = ("errors", "mismatches", "lost", "unexpected", "late")


def show(tag, c):
    keys = ("state", "queues", "qdepth", "writes", "reads", "blocks_written",
            "blocks_verified", "errors", "mismatches", "lost", "unexpected",
            "late", "sweeps", "inflight", "max_latency_us", "time_s")
    print(f"[{tag}] " + " ".join(f"{k}={c.get(k)}" for k in keys), flush=True)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def qemu_args(a, img, sock, incoming=None):
    nvme = f"nvme,serial=nvio{',max_ioqpairs=%d' % a.ioqpairs if a.ioqpairs else ''}"
    args = ["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-cpu", a.cpu,
            "-m", str(a.mem), "-display", "none", "-nodefaults", "-serial",
            f"file:{sock}.serial", "-L", "/usr/share/seabios", "-L", "/usr/share/qemu",
            "-kernel", a.elf, "-device", "pcie-root-port,id=rp0,chassis=1",
            "-drive", (f"file={img},if=none,id=d,format=raw,cache=writethrough" if not a.blkdebug else
                       f"if=none,id=d,driver=raw,cache=writethrough,file.driver=blkdebug,"
                       f"file.config={a.blkdebug},file.image.filename={img}"),
            "-qmp", f"unix:{sock},server=on,wait=off"]
    if a.lbs != 512:
        args += ["-device", nvme + (",bus=rp0" if not a.root_bus else "") + ",id=nv0",
                 "-device", f"nvme-ns,drive=d,nsid=1,logical_block_size={a.lbs},physical_block_size={a.lbs}"]
    else:
        args += ["-device", nvme + ",drive=d" + (",bus=rp0" if not a.root_bus else "")]
    if incoming:
        args += ["-incoming", incoming]
    return args


def fault_test(q, a, d):
    thr = dict(device="d", iops=0, iops_rd=0, iops_wr=0, bps=0, bps_rd=0, bps_wr=0)
    r = q.cmd("block_set_io_throttle", **dict(thr, iops=1))
    print(f"throttled to 1 IOPS: {r}", flush=True)
    for _ in range(60):                 # bounded: 60 s
        time.sleep(1)
        c = counters(q)
        if c["lost"]:
            break
    show("throttled", c)
    if not c["lost"]:
        fail("a command held back by 1 IOPS throttling was not counted lost")
    q.cmd("block_set_io_throttle", **thr)
    for _ in range(60):
        time.sleep(0.5)
        c = counters(q)
        if c["late"] >= c["lost"]:
            break
    show("unthrottled", c)
    if c["late"] < c["lost"]:
        fail("the lost commands did not complete late once unthrottled")
    if a.blkdebug:
        for _ in range(60):
            time.sleep(0.5)
            c = counters(q)
            if c["errors"]:
                break
        show("blkdebug", c)
        if not c["errors"]:
            fail("injected EIO not counted as an NVMe error status")
        print(f"errors={c['errors']} last_error={c['last_error']}", flush=True)
    print("PASS (lost, late and error detection)", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("elf")
    p.add_argument("--mem", type=int, default=256)
    p.add_argument("--cpu", default="max")
    p.add_argument("--lbs", type=int, default=512)
    p.add_argument("--ioqpairs", type=int, default=0)
    p.add_argument("--root-bus", action="store_true")
    p.add_argument("--run", type=int, default=20)
    p.add_argument("--pause", type=int, default=15)
    p.add_argument("--no-corrupt", action="store_true")
    p.add_argument("--no-migrate", action="store_true")
    p.add_argument("--blkdebug", help="(with --fault-test) a blkdebug config injecting EIO")
    p.add_argument("--fault-test", action="store_true",
                   help="instead: throttle the drive to 1 IOPS (commands must be counted lost, "
                        "then late), and inject EIO on reads (errors must be counted)")
    a = p.parse_args()
    a.elf = os.path.abspath(a.elf)
    d = tempfile.mkdtemp(prefix="nvio-")
    img, sock = os.path.join(d, "disk.img"), os.path.join(d, "qmp.sock")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    procs = []
    try:
        src = subprocess.Popen(qemu_args(a, img, sock), stdout=open(os.path.join(d, "qemu.log"), "w"),
                               stderr=subprocess.STDOUT)
        procs.append(src)
        print(f"qemu pid {src.pid}, dir {d}", flush=True)
        q = Qmp(sock)
        t0 = time.time()
        for _ in range(240):            # bounded: up to 120 s to start running
            c = counters(q)
            if c.get("state_name") in ("running", "fatal"):
                break
            time.sleep(0.5)
        show("start", c)
        if c.get("state_name") != "running":
            fail(f"guest not running after {time.time() - t0:.0f}s: state {c.get('state')} "
                 f"fatal_code {c.get('fatal_code')} detail {c.get('fatal_detail')}")
        print(f"running after {time.time() - t0:.1f}s wall; lba_size={c['lba_size']} "
              f"region_lbas={c['region_lbas']} queues={c['queues']} qdepth={c['qdepth']} "
              f"bar0={c['bar0']} flags={c['flags']} tsc_khz={c['tsc_khz']}", flush=True)

        if a.fault_test:
            return fault_test(q, a, d)

        # 1. steady I/O
        c0, w0 = counters(q), time.time()
        time.sleep(a.run)
        c1, w1 = counters(q), time.time()
        show("run", c1)
        dt = w1 - w0
        for k in ("writes", "reads", "blocks_verified", "sweeps", "heartbeat"):
            if c1[k] <= c0[k]:
                fail(f"{k} did not grow")
        if any(c1[k] for k in BAD):
            fail("errors during steady I/O")
        print(f"RATE over {dt:.1f}s wall: {(c1['writes'] - c0['writes']) / dt:.0f} writes/s, "
              f"{(c1['reads'] - c0['reads']) / dt:.0f} reads/s, "
              f"{(c1['blocks_verified'] - c0['blocks_verified']) / dt:.0f} blocks verified/s, "
              f"{(c1['sweeps'] - c0['sweeps']) / dt:.2f} sweeps/s", flush=True)

        # 2. pause longer than the lost bound
        q.cmd("stop")
        p0 = counters(q)
        time.sleep(a.pause)
        p1 = counters(q)
        q.cmd("cont")
        show("paused-start", p0)
        show("paused-end", p1)
        if p0 != p1:
            fail("counters moved while paused")
        print(f"paused {a.pause}s with {p0['inflight']} commands in flight", flush=True)
        time.sleep(15)
        c2 = counters(q)
        show("after-cont", c2)
        if any(c2[k] for k in BAD):
            fail("pause/cont produced errors or lost completions")
        if c2["writes"] <= p1["writes"] or c2["blocks_verified"] <= p1["blocks_verified"]:
            fail("no progress after cont")

        # 3. migration attempt: stock nvme is unmigratable
        if not a.no_migrate:
            dsock = sock + ".dst"
            dst = subprocess.Popen(qemu_args(a, img, dsock, "unix:" + sock + ".mig"),
                                   stdout=open(os.path.join(d, "qemu-dst.log"), "w"),
                                   stderr=subprocess.STDOUT)
            procs.append(dst)
            qd = Qmp(dsock)
            r = q.cmd("migrate", uri="unix:" + sock + ".mig")
            time.sleep(1)
            st = q.cmd("query-migrate").get("return", {})
            print(f"migrate: {r.get('error', {}).get('desc', r)}; query-migrate status={st.get('status')}",
                  flush=True)
            qd.s.close()
            dst.terminate()
            dst.wait(20)
            time.sleep(5)
            c3 = counters(q)
            show("after-migrate-attempt", c3)
            if q.cmd("query-status")["return"]["status"] != "running" or c3["writes"] <= c2["writes"]:
                fail("guest not running after the migration attempt")
            if any(c3[k] for k in BAD):
                fail("errors after the migration attempt")
            c2 = c3

        # 4. garbage behind the guest's back
        if not a.no_corrupt:
            lbs, region = c2["lba_size"], c2["region_lbas"]
            lbas = [region * i // 16 + 3 for i in range(16)]
            with open(img, "r+b") as f:
                for l in lbas:
                    f.seek(l * lbs)
                    f.write(os.urandom(lbs))
                f.flush()
                os.fsync(f.fileno())
            print(f"wrote garbage into LBAs {lbas}", flush=True)
            for _ in range(60):     # bounded: 30 s
                time.sleep(0.5)
                c4 = counters(q)
                if c4["mismatches"]:
                    break
            show("after-corrupt", c4)
            if not c4["mismatches"]:
                fail("corruption not detected")
            print(f"DETECTED: mismatches={c4['mismatches']} last_mismatch_lba={c4['last_mismatch_lba']} "
                  f"kind={c4['last_mismatch_kind']} seq={c4['last_mismatch_seq']} "
                  f"expected={c4['last_mismatch_expected']}", flush=True)
        print("PASS", flush=True)
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.terminate()
                try:
                    pr.wait(20)
                except subprocess.TimeoutExpired:
                    pr.kill()
                    pr.wait(5)
        if os.path.exists(img):
            os.unlink(img)      # the logs stay in the directory


if __name__ == "__main__":
    main()
