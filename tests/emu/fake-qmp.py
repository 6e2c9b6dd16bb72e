#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A QMP server that answers what `check` asks a source VM, with the RAM
and migration bandwidth given on the command line, so the cost of
"no dirty tracking" comes out exactly. Serves one client at a time until
killed; unknown commands get QEMU's CommandNotFound.

usage: fake-qmp.py SOCKET RAM_BYTES MAX_BANDWIDTH MBPS
  MAX_BANDWIDTH 0 leaves max-bandwidth out; MBPS 0 reports no migration."""
import json
import os
import socket
import sys

path, ram, max_bw, mbps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])


def answer(cmd):
    if cmd in ("qmp_capabilities",):
        return {}
    if cmd == "query-version":
        return {"qemu": {"major": 10, "minor": 0, "micro": 0}, "package": ""}
    if cmd == "query-name":
        return {"name": "fake"}
    if cmd == "query-status":
        return {"status": "running", "running": True}
    if cmd == "query-migrate":
        return {"status": "completed", "ram": {"mbps": mbps, "total": ram}} if mbps else {}
    if cmd == "query-memory-size-summary":
        return {"base-memory": ram, "plugged-memory": 0}
    if cmd == "query-migrate-parameters":
        return {"max-bandwidth": max_bw} if max_bw else {}
    if cmd == "query-migrate-capabilities":
        return []
    return None


def serve(conn):
    f = conn.makefile("rwb", buffering=0)
    greeting = {"QMP": {"version": {"qemu": {"major": 10, "minor": 0, "micro": 0},
                                    "package": ""}, "capabilities": []}}
    f.write(json.dumps(greeting).encode() + b"\r\n")
    for line in f:
        if not line.strip():
            continue
        req = json.loads(line)
        ret = answer(req.get("execute"))
        if ret is None:
            rep = {"error": {"class": "CommandNotFound",
                             "desc": "The command %s has not been found" % req.get("execute")}}
        else:
            rep = {"return": ret}
        if "id" in req:
            rep["id"] = req["id"]
        f.write(json.dumps(rep).encode() + b"\r\n")


srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if os.path.exists(path):
    os.unlink(path)
srv.bind(path)
srv.listen(4)
while True:
    c, _ = srv.accept()
    try:
        serve(c)
    except (OSError, ValueError):
        pass
    c.close()
