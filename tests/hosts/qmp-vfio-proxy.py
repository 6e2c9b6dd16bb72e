#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A QMP proxy that plays a migratable NVMe VF in front of a real QEMU.

usage: qmp-vfio-proxy.py --listen PATH --upstream PATH --role source|destination
                         --log FILE [options]

The host kernel here has no VFIO, so a real QEMU cannot hold a VF. This
proxy sits between nvme-vf-migrate and a real QEMU's QMP socket and
supplies what QEMU 10 would say about a vfio-pci device with
enable-migration=on; the VM's own migration (RAM, run states, the
pre-switchover hold) is the real QEMU's:

  source       query-pci, qom-list and qom-get show a vfio-pci device
               (--device, --host, --bus, --slot, --pci-id, --enable-migration),
               and one more per --more-device ID,HOST,BUS (slot 0)
  destination  device_add of vfio-pci is recorded and answered {} (or
               refused with --refuse-device-add TEXT); afterwards query-pci,
               qom-list and qom-get show it as added
  both         query-migrate gains "vfio": {"transferred": N}, growing while
               the migration runs and --vfio-bytes once it completed (source);
               VFIO_MIGRATION events are injected around the real STOP,
               RESUME and MIGRATION events in QEMU's order: source pre-copy
               (setup), pre-copy-p2p and stop-copy (before STOP), stop
               (before "completed"), running (after "failed"/"cancelled");
               destination resuming (setup), running-p2p and running (after
               RESUME); --no-p2p leaves out the *-p2p states, and, as in QEMU,
               only for a device with migration-events=on (the source's
               unless --migration-events off; an added one if its
               device_add says so)
  faults       --fake-version X.Y.Z rewrites the greeting and query-version;
               --blocked-reason TEXT adds to query-migrate's blocked-reasons;
               --refuse CMD=TEXT answers any command with an error;
               --delay CMD=SECONDS holds a command before QEMU sees it (the
               log says {"note": "holding CMD"} when the hold begins);
               --cancel-when-active cancels the migration behind the
               client's back (logged as {"own": "migrate_cancel"})

Everything else passes through untouched. Every command is logged as one
JSON line: {"t" (CLOCK_MONOTONIC), "wall", "role", "cmd", "args",
"by": "qemu"|"proxy", "ok", ...}
(query-migrate lines add "status" and "mbps" as the client saw them;
injected events are logged as {"event", "data", "injected": true}, QEMU's
own as {"event", "data"}).

Clients are served one at a time, each with its own connection to QEMU
(QEMU's QMP socket takes one client at a time too). The proxy prints
"ready" once it listens and exits when QEMU's socket goes away, after
--once's single client, or after --lifetime seconds, whichever is first.
"""
import argparse
import asyncio
import json
import os
import sys
import time

LINE_LIMIT = 16 << 20
CMD_TIMEOUT = 120.0
OWN_ID = "qmp-vfio-proxy-"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", required=True, help="UNIX socket path to serve")
    p.add_argument("--upstream", required=True, help="the real QEMU's QMP socket path")
    p.add_argument("--role", required=True, choices=["source", "destination"])
    p.add_argument("--log", required=True, help="append one JSON line per command")
    p.add_argument("--device", default="vf0", help="source: the vfio-pci device's id")
    p.add_argument("--host", default="0000:3b:00.2", help="source: its host address")
    p.add_argument("--bus", default="rp1", help="source: the id of its bus (a root port)")
    p.add_argument("--slot", type=int, default=0)
    p.add_argument("--function", type=int, default=0)
    p.add_argument("--pci-id", default="1b36:0010", help="VENDOR:DEVICE in hex")
    p.add_argument("--more-device", action="append", default=[], metavar="ID,HOST,BUS",
                   help="source: another vfio-pci device like the first")
    p.add_argument("--enable-migration", default="on", choices=["on", "off", "auto"])
    p.add_argument("--migration-events", default="on", choices=["on", "off"])
    p.add_argument("--no-p2p", action="store_true",
                   help="a VF without VFIO_MIGRATION_P2P (no *-p2p states)")
    p.add_argument("--vfio-bytes", type=int, default=16 << 20,
                   help="the VF's state as QEMU would count it")
    p.add_argument("--fake-version", help="X.Y.Z to claim in the greeting")
    p.add_argument("--blocked-reason", action="append", default=[])
    p.add_argument("--refuse-device-add", help="destination: refuse vfio-pci with this")
    p.add_argument("--refuse", action="append", default=[], metavar="CMD=TEXT",
                   help="answer CMD with a GenericError TEXT instead of asking QEMU")
    p.add_argument("--cancel-when-active", action="store_true",
                   help="source: send QEMU migrate_cancel of its own once the "
                   "client saw the migration active (a third party cancels)")
    p.add_argument("--delay", action="append", default=[], metavar="CMD=SECONDS",
                   help="hold CMD that long before QEMU sees it (a slow monitor)")
    p.add_argument("--once", action="store_true", help="serve one client, then exit")
    p.add_argument("--lifetime", type=float, default=600.0)
    a = p.parse_args(argv)
    vendor, device = a.pci_id.split(":")
    a.vendor, a.device_id = int(vendor, 16), int(device, 16)
    if a.fake_version:
        a.fake_version = [int(x) for x in a.fake_version.split(".")]
    a.refusals = {}
    for r in a.refuse:
        cmd, _, text = r.partition("=")
        a.refusals[cmd] = text
    a.delays = {}
    for d in a.delay:
        cmd, _, sec = d.partition("=")
        a.delays[cmd] = float(sec)
    return a


def qmp_error(desc, cls="GenericError"):
    return {"error": {"class": cls, "desc": desc}}


class Proxy:
    def __init__(self, args):
        self.a = args
        self.log = open(args.log, "a", buffering=1)
        self.devices = {}  # id -> vfio-pci properties (what qom-get answers)
        if args.role == "source":
            self.devices[args.device] = self.source_props(args.host, args.bus, args.slot,
                                                          args.function)
            for more in args.more_device:
                dev, host, bus = more.split(",")
                self.devices[dev] = self.source_props(host, bus, 0, 0)
        self.migrating = False
        self.vfio_bytes = 0
        self.pending = None
        self.inject_later = None
        self.client = None
        self.upstream_gone = False
        self.done = asyncio.Event()

    # ---- the VF as QEMU shows it -------------------------------------

    def source_props(self, host, bus, slot, function):
        a = self.a
        return {
            "driver": "vfio-pci", "host": host, "bus": bus,
            "addr": "%x.%x" % (slot, function),
            "enable-migration": a.enable_migration,
            "migration-events": a.migration_events == "on",
            "x-msix-relocation": "off", "rombar": -1, "x-no-mmap": False,
            "x-pre-copy-dirty-page-tracking": "on",
            "vendor": a.vendor, "device-id": a.device_id,
        }

    @staticmethod
    def qom_value(props, prop):
        if prop == "parent_bus":
            bus = props.get("bus", "pcie.0")
            if bus == "pcie.0":
                return "/machine/q35/pcie.0"
            return "/machine/peripheral/%s/%s" % (bus, bus)
        if prop == "addr":
            slot, _, fn = str(props.get("addr", "0.0")).partition(".")
            return int(slot, 16) << 3 | int(fn or "0", 16)
        if prop == "sysfsdev":
            return ""
        if prop in props and prop not in ("driver", "bus", "vendor", "device-id"):
            return props[prop]
        defaults = {
            "enable-migration": "auto", "migration-events": False,
            "x-msix-relocation": "off", "rombar": -1, "x-no-mmap": False,
            "x-pre-copy-dirty-page-tracking": "on", "type": "vfio-pci",
        }
        return defaults.get(prop)

    def pci_entry(self, dev_id, props, bus_nr):
        slot, _, fn = str(props.get("addr", "0.0")).partition(".")
        return {
            "bus": bus_nr, "slot": int(slot, 16), "function": int(fn or "0", 16),
            "qdev_id": dev_id, "irq_pin": 1,
            "class_info": {"class": 0x0108, "desc": "Non-Volatile memory controller"},
            "id": {"vendor": props.get("vendor", self.a.vendor),
                   "device": props.get("device-id", self.a.device_id),
                   "subsystem-vendor": props.get("vendor", self.a.vendor), "subsystem": 0},
            "regions": [{"bar": 0, "type": "memory", "prefetch": False,
                         "mem_type_64": True, "size": 16384, "address": 0xfe000000}],
        }

    def add_to_pci(self, buses):
        for dev_id, props in self.devices.items():
            bus = props.get("bus", "pcie.0")
            placed = False
            for b in buses:
                for d in b.get("devices", []):
                    br = d.get("pci_bridge")
                    if d.get("qdev_id") == bus and isinstance(br, dict):
                        nr = br.get("bus", {}).get("secondary", 0)
                        br.setdefault("devices", []).append(self.pci_entry(dev_id, props, nr))
                        placed = True
            if not placed and buses:
                buses[0].setdefault("devices", []).append(
                    self.pci_entry(dev_id, props, buses[0].get("bus", 0)))
        return buses

    # ---- commands ----------------------------------------------------

    def device_of_path(self, path):
        if not isinstance(path, str) or not path.startswith("/machine/peripheral/"):
            return None
        name = path[len("/machine/peripheral/"):]
        return name if name in self.devices else None

    def answer(self, name, args):
        """What the proxy itself answers, or None to ask QEMU."""
        if name in self.a.refusals:
            return qmp_error(self.a.refusals[name])
        if name == "qom-get":
            dev = self.device_of_path(args.get("path"))
            if dev is None:
                return None
            v = self.qom_value(self.devices[dev], args.get("property"))
            if v is None:
                return qmp_error("Property 'vfio-pci.%s' not found" % args.get("property"))
            return {"return": v}
        if name == "qom-list":
            dev = self.device_of_path(args.get("path"))
            if dev is None:
                return None
            keys = sorted(set(self.devices[dev]) - {"driver", "vendor", "device-id"}
                          | {"parent_bus", "type"})
            return {"return": [{"name": k, "type": "str"} for k in keys]}
        if name == "device_add" and args.get("driver") == "vfio-pci":
            if self.a.role != "destination":
                return None
            if self.a.refuse_device_add:
                return qmp_error(self.a.refuse_device_add)
            dev = args.get("id")
            if not dev:
                return qmp_error("vfio-pci needs an id here")
            if dev in self.devices:
                return qmp_error("Duplicate device ID '%s'" % dev)
            props = dict(args)
            props.setdefault("bus", "pcie.0")
            self.devices[dev] = props
            return {"return": {}}
        if name == "device_del" and args.get("id") in self.devices:
            if self.a.role != "destination":
                return None
            del self.devices[args["id"]]
            self.inject_later = ("DEVICE_DELETED", {"device": args["id"],
                                                    "path": "/machine/peripheral/" + args["id"]})
            return {"return": {}}
        return None

    def rewrite(self, name, args, reply):
        ret = reply.get("return")
        if ret is None:
            return reply
        if name == "query-version" and self.a.fake_version:
            x, y, z = self.a.fake_version
            ret["qemu"] = {"major": x, "minor": y, "micro": z}
        elif name == "query-pci" and isinstance(ret, list):
            self.add_to_pci(ret)
        elif name == "qom-list" and args.get("path") == "/machine/peripheral" \
                and isinstance(ret, list):
            for dev in self.devices:
                ret.append({"name": dev, "type": "child<vfio-pci>"})
        elif name == "query-migrate" and isinstance(ret, dict):
            status = ret.get("status")
            if self.a.role == "source" and status not in (None, "none"):
                full = self.a.vfio_bytes
                if status in ("setup", "active"):
                    # PRE_COPY data: half the state arrives while the VM runs
                    self.vfio_bytes = min(self.vfio_bytes + full // 16, full // 2)
                elif status == "completed":
                    self.vfio_bytes = full
                ret["vfio"] = {"transferred": self.vfio_bytes}
            if self.a.blocked_reason:
                ret["blocked-reasons"] = list(ret.get("blocked-reasons", [])) + \
                    self.a.blocked_reason
        return reply

    # ---- events ------------------------------------------------------

    def vfio_event(self, state):
        now = time.time()
        out = []
        for dev, props in self.devices.items():
            # QEMU reports a device's state changes only with
            # migration-events=on (its default is off)
            if props.get("migration-events") not in (True, "on", "true"):
                continue
            out.append({"timestamp": {"seconds": int(now),
                                      "microseconds": int(now * 1e6) % 1000000},
                        "event": "VFIO_MIGRATION",
                        "data": {"device-id": dev, "qom-path": "/machine/peripheral/" + dev,
                                 "device-state": state}})
        return out

    def on_event(self, ev):
        """The messages to send for one of QEMU's events, in order; each is
        (message, injected)."""
        name = ev.get("event")
        status = (ev.get("data") or {}).get("status")
        before, after = [], []
        if self.a.role == "source":
            if name == "MIGRATION" and status == "setup":
                self.migrating = True
                self.vfio_bytes = 0
                after = self.vfio_event("pre-copy")
            elif name == "STOP" and self.migrating:
                if not self.a.no_p2p:
                    before = self.vfio_event("pre-copy-p2p")
                before += self.vfio_event("stop-copy")
            elif name == "MIGRATION" and status == "completed":
                self.migrating = False
                self.vfio_bytes = self.a.vfio_bytes
                before = self.vfio_event("stop")
            elif name == "MIGRATION" and status in ("failed", "cancelled"):
                if self.migrating:
                    after = self.vfio_event("running")
                self.migrating = False
        else:
            if name == "MIGRATION" and status == "setup":
                self.migrating = True
                after = self.vfio_event("resuming")
            elif name == "RESUME" and self.migrating:
                self.migrating = False
                if not self.a.no_p2p:
                    after = self.vfio_event("running-p2p")
                after += self.vfio_event("running")
        return [(m, True) for m in before] + [(ev, False)] + [(m, True) for m in after]

    # ---- plumbing ----------------------------------------------------

    def record(self, **kw):
        line = {"t": round(time.monotonic(), 6), "wall": round(time.time(), 6),
                "role": self.a.role}
        line.update(kw)
        self.log.write(json.dumps(line) + "\n")

    def send(self, msg):
        if self.client is None or self.client.is_closing():
            return
        self.client.write(json.dumps(msg).encode() + b"\r\n")

    async def from_qemu(self, reader):
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                self.record(note="unparsable line from QEMU", line=line.decode(errors="replace"))
                continue
            if str(msg.get("id", "")).startswith(OWN_ID):
                self.record(own_reply=msg)
                continue
            if "event" in msg:
                for m, injected in self.on_event(msg):
                    self.record(event=m["event"], data=m.get("data"), injected=injected)
                    self.send(m)
            elif self.pending is not None and not self.pending.done():
                self.pending.set_result(msg)
            else:
                self.record(note="reply nobody waits for", reply=msg)
                self.send(msg)
        self.upstream_gone = True
        self.record(note="QEMU closed its QMP socket")
        if self.pending is not None and not self.pending.done():
            self.pending.set_exception(ConnectionError("QEMU closed its QMP socket"))
        # as QEMU's own socket would: the client sees the end
        if self.client is not None:
            self.client.close()

    async def session(self, creader, cwriter):
        self.client = cwriter
        upstream = None
        qemu_task = None
        try:
            try:
                ureader, upstream = await asyncio.wait_for(
                    asyncio.open_unix_connection(self.a.upstream, limit=LINE_LIMIT), 10)
                greeting = json.loads(await asyncio.wait_for(ureader.readline(), 10))
            except (OSError, ValueError, asyncio.TimeoutError) as e:
                self.record(note="QEMU is not there: %s" % e)
                self.upstream_gone = True
                return
            if self.a.fake_version:
                x, y, z = self.a.fake_version
                greeting["QMP"]["version"]["qemu"] = {"major": x, "minor": y, "micro": z}
            self.send(greeting)
            qemu_task = asyncio.ensure_future(self.from_qemu(ureader))
            while True:
                line = await creader.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                if not await self.command(line, upstream):
                    break
        finally:
            if qemu_task is not None:
                qemu_task.cancel()
            if upstream is not None:
                upstream.close()
            cwriter.close()
            self.client = None
            if self.a.once or self.upstream_gone:
                self.done.set()

    async def command(self, line, upstream):
        try:
            msg = json.loads(line)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            # QEMU says what is wrong with it
            self.record(cmd=None, raw=line.decode(errors="replace"), by="qemu")
            msg = {}
            name, args = None, {}
        else:
            name = msg.get("execute", msg.get("exec-oob"))
            args = msg.get("arguments") or {}
        self.inject_later = None
        reply = self.answer(name, args) if name else None
        if reply is not None:
            if "id" in msg:
                reply["id"] = msg["id"]
            self.record(cmd=name, args=args, by="proxy", ok="error" not in reply,
                        **({"error": reply["error"]["desc"]} if "error" in reply else {}))
            self.send(reply)
            if self.inject_later:
                ev = {"timestamp": {"seconds": int(time.time()), "microseconds": 0},
                      "event": self.inject_later[0], "data": self.inject_later[1]}
                self.record(event=ev["event"], data=ev["data"], injected=True)
                self.send(ev)
            return True
        if name in self.a.delays:
            self.record(note="holding %s" % name, seconds=self.a.delays[name])
            await asyncio.sleep(self.a.delays[name])
        self.pending = asyncio.get_event_loop().create_future()
        upstream.write(line if line.endswith(b"\n") else line + b"\n")
        try:
            await upstream.drain()
            reply = await asyncio.wait_for(self.pending, CMD_TIMEOUT)
        except (OSError, ConnectionError, asyncio.TimeoutError) as e:
            self.record(cmd=name, args=args, by="qemu", ok=False, error="no reply: %s" % e)
            return False
        finally:
            self.pending = None
        reply = self.rewrite(name, args, reply)
        extra = {}
        if "error" in reply:
            extra["error"] = reply["error"].get("desc")
        if name == "query-migrate" and isinstance(reply.get("return"), dict):
            ret = reply["return"]
            extra["status"] = ret.get("status", "none")
            extra["mbps"] = (ret.get("ram") or {}).get("mbps", 0)
        self.record(cmd=name, args=args, by="qemu", ok="error" not in reply, **extra)
        self.send(reply)
        if self.a.cancel_when_active and extra.get("status") == "active":
            self.a.cancel_when_active = False
            self.record(own="migrate_cancel")
            upstream.write(json.dumps({"execute": "migrate_cancel",
                                       "id": OWN_ID + "cancel"}).encode() + b"\n")
        return True

    async def serve(self):
        try:
            os.unlink(self.a.listen)
        except FileNotFoundError:
            pass
        busy = asyncio.Lock()

        async def one_at_a_time(r, w):
            async with busy:
                if self.done.is_set():
                    w.close()
                    return
                await self.session(r, w)

        server = await asyncio.start_unix_server(one_at_a_time, self.a.listen, limit=LINE_LIMIT)
        mine = os.stat(self.a.listen).st_ino
        print("ready", flush=True)
        try:
            await asyncio.wait_for(self.done.wait(), self.a.lifetime)
        except asyncio.TimeoutError:
            self.record(note="lifetime over")
        server.close()
        # only if a successor has not taken the path already
        try:
            if os.stat(self.a.listen).st_ino == mine:
                os.unlink(self.a.listen)
        except FileNotFoundError:
            pass


def main():
    args = parse_args(sys.argv[1:])
    proxy = Proxy(args)
    asyncio.run(proxy.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
