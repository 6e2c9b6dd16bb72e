#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hold a control connection to an agent open, idle, with a reservation.

usage: holdsession.py HOST PORT KEY=VALUE...

Connects over plain TCP (an --insecure agent), says HELLO, sends one
"provision" request with the KEY=VALUE arguments and a lease that ends
with the connection, prints "reserved ID" when the agent answers, then
stays connected without a word (at most 120 s): what an orchestrator does
between two requests. The agent must notice when the link to it is cut.
"""
import json
import socket
import struct
import sys
import time

from faultproxy import KINDS, crc32c, recv_exact

MAGIC = 0x4D46564E
VERSION = 1


def frame(kind, obj):
    payload = json.dumps(obj).encode()
    hdr = struct.pack("<IBBHI", MAGIC, VERSION, KINDS[kind], 0, len(payload))
    return hdr + struct.pack("<I", crc32c(hdr)) + payload + struct.pack("<I", crc32c(payload))


def next_frame(s):
    hdr = recv_exact(s, 16)
    if len(hdr) < 16:
        sys.exit("the agent closed the connection")
    length = struct.unpack_from("<I", hdr, 8)[0]
    body = recv_exact(s, length + (4 if length else 0))
    return hdr[5], json.loads(body[:length] or b"{}")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    args = dict(a.split("=", 1) for a in sys.argv[3:])
    args["lease"] = "session"
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(frame("HELLO", {"protocol": "nvme-vf-migrate", "version": VERSION,
                              "versions": [VERSION], "role": "client",
                              "capabilities": ["control"]}))
    kind, hello = next_frame(s)
    if kind != KINDS["HELLO"]:
        sys.exit("no HELLO from the agent: %r" % hello)
    s.sendall(frame("REQUEST", {"id": 1, "op": "provision", "args": args}))
    kind, reply = next_frame(s)
    if kind != KINDS["REPLY"] or not reply.get("ok"):
        sys.exit("provision refused: %r" % reply)
    print("reserved", reply["result"]["reservation"], flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main()
