#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Local check of the nested NVMe guest on this machine's QEMU (no testbed).

Boots nvme-io.elf with QEMU's emulated NVMe behind a pcie-root-port (with
--two: two controllers, each behind its own root port with its own backing
file), reads the counters through QMP (human-monitor-command xp, parsed by
read-counters.sh; controller k's block at 0x300000 + k * 0x100), and checks
for every controller: they grow with no errors, mismatches, lost or
unexpected completions; a pause (stop, 15 s, cont) longer than the guest's
lost bound gives no lost count; a migration attempt is refused (stock QEMU's
nvme is unmigratable) and the guest runs on; blocks overwritten with
garbage behind the guest's back are reported as mismatches, on the
controller whose file was written only (--corrupt K picks it; the last one
by default).

  local-test.py ELF [--two] [--mem 256] [--cpu max] [--lbs 512] [--ioqpairs N]
                    [--root-bus] [--run 20] [--no-corrupt] [--corrupt K]

Every wait is bounded; the QEMUs started here are stopped by their PIDs.
"""
import argparse, json, os, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
NVIO_COUNTERS, NVIO_CTRL_STRIDE = 0x300000, 0x100


def xp(k):
    return f"xp /40wx {NVIO_COUNTERS + k * NVIO_CTRL_STRIDE:#x}"


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


def counters(q, k=0):
    out = subprocess.run([os.path.join(HERE, "read-counters.sh"), "-"], input=q.hmp(xp(k)),
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


def drive_id(k):
    return "d" if k == 0 else f"d{k}"


def qemu_args(a, imgs, sock, incoming=None):
    """imgs: one backing file per controller; controller k behind rp<k>,
    its drive drive_id(k) (blkdebug, if asked, on controller 0's only).
    With a.shared: two controllers of one subsystem, one namespace (the
    one file) shared by both, as two VFs of one PF see it."""
    args = ["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-cpu", a.cpu,
            "-m", str(a.mem), "-display", "none", "-nodefaults", "-serial",
            f"file:{sock}.serial", "-L", "/usr/share/seabios", "-L", "/usr/share/qemu",
            "-kernel", a.elf, "-qmp", f"unix:{sock},server=on,wait=off"]
    if a.shared:
        args += ["-drive", f"file={imgs[0]},if=none,id={drive_id(0)},format=raw,cache=writethrough",
                 "-device", "nvme-subsys,id=subsys0"]
        for k in range(2):
            args += ["-device", f"pcie-root-port,id=rp{k},chassis={k + 1}",
                     "-device", f"nvme,serial=nvio-shared,subsys=subsys0,bus=rp{k},id=nv{k}"]
        args += ["-device", f"nvme-ns,drive={drive_id(0)},nsid=1"]
        imgs = []
    for k, img in enumerate(imgs):
        d, bus = drive_id(k), (f",bus=rp{k}" if not a.root_bus else "")
        nvme = f"nvme,serial=nvio{k if k else ''}{',max_ioqpairs=%d' % a.ioqpairs if a.ioqpairs else ''}"
        args += ["-device", f"pcie-root-port,id=rp{k},chassis={k + 1}",
                 "-drive", (f"file={img},if=none,id={d},format=raw,cache=writethrough"
                            if not (a.blkdebug and k == 0) else
                            f"if=none,id={d},driver=raw,cache=writethrough,file.driver=blkdebug,"
                            f"file.config={a.blkdebug},file.image.filename={img}")]
        if a.lbs != 512:
            args += ["-device", nvme + bus + f",id=nv{k}",
                     "-device", f"nvme-ns,bus=nv{k},drive={d},nsid=1,"
                                f"logical_block_size={a.lbs},physical_block_size={a.lbs}"]
        else:
            args += ["-device", nvme + f",drive={d}" + bus]
    if incoming:
        args += ["-incoming", incoming]
    return args


def fault_test(q, a, d, n):
    """Faults on controller 0's drive only; with --two, controller 1 must
    stay clean meanwhile."""
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
    for k in range(1, n):
        ck = counters(q, k)
        show(f"ctrl{k}", ck)
        if any(ck[b] for b in BAD):
            fail(f"controller {k} counted faults injected on controller 0's drive")
    print("PASS (lost, late and error detection)", flush=True)


def read_all(q, n):
    return [counters(q, k) for k in range(n)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("elf")
    p.add_argument("--two", action="store_true",
                   help="two NVMe controllers, each on its own root port and backing file")
    p.add_argument("--mem", type=int, default=256)
    p.add_argument("--cpu", default="max")
    p.add_argument("--lbs", type=int, default=512)
    p.add_argument("--ioqpairs", type=int, default=0)
    p.add_argument("--root-bus", action="store_true")
    p.add_argument("--run", type=int, default=20)
    p.add_argument("--pause", type=int, default=15)
    p.add_argument("--shared", action="store_true",
                   help="(with --two) one namespace shared by both controllers: each keeps to its slice")
    p.add_argument("--no-corrupt", action="store_true")
    p.add_argument("--corrupt", type=int, default=-1,
                   help="the controller whose backing file gets garbage (default: the last)")
    p.add_argument("--no-migrate", action="store_true")
    p.add_argument("--blkdebug", help="(with --fault-test) a blkdebug config injecting EIO")
    p.add_argument("--fault-test", action="store_true",
                   help="instead: throttle the drive to 1 IOPS (commands must be counted lost, "
                        "then late), and inject EIO on reads (errors must be counted)")
    a = p.parse_args()
    a.elf = os.path.abspath(a.elf)
    n = 2 if a.two else 1
    if a.shared and (not a.two or a.fault_test or a.lbs != 512):
        p.error("--shared goes with --two, without --fault-test or --lbs")
    victim = a.corrupt if a.corrupt >= 0 else n - 1
    if victim >= n:
        p.error(f"--corrupt {victim}: there are {n} controller(s)")
    d = tempfile.mkdtemp(prefix="nvio-")
    imgs = [os.path.join(d, "disk.img" if k == 0 else f"disk{k}.img") for k in range(1 if a.shared else n)]
    sock = os.path.join(d, "qmp.sock")
    for img in imgs:
        with open(img, "wb") as f:
            f.truncate(64 << 20)
    procs = []
    try:
        src = subprocess.Popen(qemu_args(a, imgs, sock), stdout=open(os.path.join(d, "qemu.log"), "w"),
                               stderr=subprocess.STDOUT)
        procs.append(src)
        print(f"qemu pid {src.pid}, dir {d}, {n} controller(s)", flush=True)
        q = Qmp(sock)
        t0 = time.time()
        for _ in range(240):            # bounded: up to 120 s to start running
            cs = read_all(q, n)
            if all(c.get("state_name") in ("running", "fatal") for c in cs):
                break
            time.sleep(0.5)
        for k, c in enumerate(cs):
            show(f"start{k}", c)
            if c.get("state_name") != "running":
                fail(f"controller {k} not running after {time.time() - t0:.0f}s: state {c.get('state')} "
                     f"fatal_code {c.get('fatal_code')} detail {c.get('fatal_detail')}")
            if c.get("ctrl") != k or c.get("valid") != 1:
                fail(f"block {k}: ctrl={c.get('ctrl')} valid={c.get('valid')}")
            print(f"controller {k} running after {time.time() - t0:.1f}s wall; pci_bdf={c['pci_bdf']} "
                  f"lba_size={c['lba_size']} region_lbas={c['region_lbas']} queues={c['queues']} "
                  f"qdepth={c['qdepth']} bar0={c['bar0']} flags={c['flags']} tsc_khz={c['tsc_khz']} "
                  f"version={c['version']}", flush=True)
        if len({c["pci_bdf"] for c in cs}) != n or len({c["bar0"] for c in cs}) != n:
            fail("two blocks name the same controller (pci_bdf or bar0)")
        if n == 1:
            c = counters(q, 1)
            if c.get("valid") != 0:
                fail("block 1 looks valid with one controller")
            print("block 1 (no controller): valid=0", flush=True)

        if a.fault_test:
            return fault_test(q, a, d, n)

        # 1. steady I/O
        g0 = int(q.hmp("xp /1wx 0x200000").split()[-1], 16)
        c0, w0 = read_all(q, n), time.time()
        time.sleep(a.run)
        c1, w1 = read_all(q, n), time.time()
        g1 = int(q.hmp("xp /1wx 0x200000").split()[-1], 16)
        dt = w1 - w0
        for k in range(n):
            show(f"run{k}", c1[k])
            for key in ("writes", "reads", "blocks_verified", "sweeps", "heartbeat"):
                if c1[k][key] <= c0[k][key]:
                    fail(f"controller {k}: {key} did not grow")
            if any(c1[k][b] for b in BAD):
                fail(f"controller {k}: errors during steady I/O")
            print(f"RATE{k} over {dt:.1f}s wall: {(c1[k]['writes'] - c0[k]['writes']) / dt:.0f} writes/s, "
                  f"{(c1[k]['reads'] - c0[k]['reads']) / dt:.0f} reads/s, "
                  f"{(c1[k]['blocks_verified'] - c0[k]['blocks_verified']) / dt:.0f} blocks verified/s, "
                  f"{(c1[k]['sweeps'] - c0[k]['sweeps']) / dt:.2f} sweeps/s", flush=True)
        done = sum(c1[k]["completions"] - c0[k]["completions"] for k in range(n))
        print(f"progress word +{g1 - g0} over the run, the blocks' completions +{done}", flush=True)
        if g1 - g0 < done:  # read around the blocks' readings, so it may only be ahead
            fail("the progress word at 0x200000 does not count every controller's completions")

        # 2. pause longer than the lost bound
        q.cmd("stop")
        p0 = read_all(q, n)
        time.sleep(a.pause)
        p1 = read_all(q, n)
        q.cmd("cont")
        for k in range(n):
            show(f"paused-start{k}", p0[k])
            show(f"paused-end{k}", p1[k])
            if p0[k] != p1[k]:
                fail(f"controller {k}: counters moved while paused")
        print(f"paused {a.pause}s with {[c['inflight'] for c in p0]} commands in flight", flush=True)
        time.sleep(15)
        c2 = read_all(q, n)
        for k in range(n):
            show(f"after-cont{k}", c2[k])
            if any(c2[k][b] for b in BAD):
                fail(f"controller {k}: pause/cont produced errors or lost completions")
            if c2[k]["writes"] <= p1[k]["writes"] or c2[k]["blocks_verified"] <= p1[k]["blocks_verified"]:
                fail(f"controller {k}: no progress after cont")

        # 3. migration attempt: stock nvme is unmigratable
        if not a.no_migrate:
            dsock = sock + ".dst"
            dst = subprocess.Popen(qemu_args(a, imgs, dsock, "unix:" + sock + ".mig"),
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
            c3 = read_all(q, n)
            running = q.cmd("query-status")["return"]["status"] == "running"
            for k in range(n):
                show(f"after-migrate-attempt{k}", c3[k])
                if not running or c3[k]["writes"] <= c2[k]["writes"]:
                    fail(f"controller {k}: guest not running after the migration attempt")
                if any(c3[k][b] for b in BAD):
                    fail(f"controller {k}: errors after the migration attempt")
            c2 = c3

        # 4. garbage behind the guest's back, in one controller's file
        if not a.no_corrupt:
            lbs, region = c2[victim]["lba_size"], c2[victim]["region_lbas"]
            # controller k keeps to LBAs k*region .. (k+1)*region-1
            lbas = [victim * region + region * i // 16 + 3 for i in range(16)]
            with open(imgs[0 if a.shared else victim], "r+b") as f:
                for l in lbas:
                    f.seek(l * lbs)
                    f.write(os.urandom(lbs))
                f.flush()
                os.fsync(f.fileno())
            print(f"wrote garbage into LBAs {lbas} of controller {victim}'s file", flush=True)
            for _ in range(60):     # bounded: 30 s
                time.sleep(0.5)
                c4 = read_all(q, n)
                if c4[victim]["mismatches"]:
                    break
            time.sleep(2)           # the others get time to (wrongly) count some
            c4 = read_all(q, n)
            for k in range(n):
                show(f"after-corrupt{k}", c4[k])
            v = c4[victim]
            if not v["mismatches"]:
                fail(f"corruption on controller {victim} not detected")
            print(f"DETECTED on controller {victim}: mismatches={v['mismatches']} "
                  f"last_mismatch_lba={v['last_mismatch_lba']} kind={v['last_mismatch_kind']} "
                  f"seq={v['last_mismatch_seq']} expected={v['last_mismatch_expected']}", flush=True)
            for k in range(n):
                if k != victim and any(c4[k][b] for b in BAD):
                    fail(f"controller {k} counted faults though only controller {victim}'s file was written")
                if k != victim:
                    print(f"controller {k} (its blocks untouched): mismatches=0, "
                          f"blocks_verified={c4[k]['blocks_verified']}", flush=True)
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
        for img in imgs:
            if os.path.exists(img):
                os.unlink(img)      # the logs stay in the directory


if __name__ == "__main__":
    main()
