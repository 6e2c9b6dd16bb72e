#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""One agent connection that stays open while a test acts around it.

usage: agentclient.py HOST PORT [TLS_DIR]

Connects to the agent (mutual TLS with TLS_DIR/client-{cert,key}.pem and
TLS_DIR/ca-cert.pem, plain TCP without TLS_DIR), exchanges HELLO frames
(docs/protocol.md), then sends each line of stdin, a JSON object
{"op": ..., "args": {...}}, as a REQUEST and prints the agent's REPLY as
one JSON line. The connection ends at the end of stdin, so a "session"
reservation made here lives exactly as long as the test keeps stdin open.
"""
import json
import os
import socket
import ssl
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultproxy import KINDS, crc32c, recv_exact  # noqa: E402

MAGIC = b"NVFM"


def send_frame(s, ftype, obj):
    payload = json.dumps(obj).encode()
    hdr = MAGIC + struct.pack("<BBHI", 1, ftype, 0, len(payload))
    s.sendall(hdr + struct.pack("<I", crc32c(hdr)) + payload +
              struct.pack("<I", crc32c(payload)))


def recv_frame(s):
    hdr = recv_exact(s, 16)
    if len(hdr) < 16 or hdr[:4] != MAGIC:
        sys.exit("the agent closed the connection")
    ftype = hdr[5]
    length = struct.unpack_from("<I", hdr, 8)[0]
    body = recv_exact(s, length + (4 if length else 0))
    obj = json.loads(body[:length]) if length else {}
    if ftype == KINDS["ABORT"]:
        sys.exit("the agent aborted: %s" % obj.get("reason"))
    return ftype, obj


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    s = socket.create_connection((host, port), timeout=10)
    if len(sys.argv) > 3:
        d = sys.argv[3]
        ctx = ssl.create_default_context(cafile=os.path.join(d, "ca-cert.pem"))
        ctx.check_hostname = False
        ctx.load_cert_chain(os.path.join(d, "client-cert.pem"), os.path.join(d, "client-key.pem"))
        s = ctx.wrap_socket(s)
    send_frame(s, KINDS["HELLO"], {"protocol": "nvme-vf-migrate", "version": 1, "versions": [1],
                                   "role": "client", "capabilities": ["control"]})
    ftype, _ = recv_frame(s)
    if ftype != KINDS["HELLO"]:
        sys.exit("no HELLO from the agent")
    print(json.dumps({"connected": True}), flush=True)
    for n, line in enumerate(sys.stdin, 1):
        req = json.loads(line)
        send_frame(s, KINDS["REQUEST"], {"id": n, "op": req["op"], "args": req.get("args", {})})
        ftype, reply = recv_frame(s)
        print(json.dumps(reply), flush=True)
    s.close()


if __name__ == "__main__":
    main()
