#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A TCP proxy that breaks the device-state stream on purpose.

usage: faultproxy.py LISTEN_HOST LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT FAULT

Serves one connection: client -> proxy -> agent (plain TCP). Frames from
the client are parsed (docs/protocol.md); FAULT applies to the first frame
of a kind after the client's first REQUEST (so to the state stream, not
to the connection's own HELLO):

  truncate:KIND      forward half of that frame, then end the stream
  flip-header:KIND   flip one bit in its header (a length bit)
  flip-payload:KIND  flip one bit in its payload
  oversize:KIND      claim a payload over the limit (header CRC fixed up)
  version:KIND       claim format version 2 (header CRC fixed up)
  dup-trailer        send the TRAILER twice
  none               forward everything
  flip-byte:N        forward the client's bytes as they are, frames or not
                     (TLS), but flip one bit of the Nth

KIND is HELLO, COMPAT, PHASE, DATA or TRAILER. Whatever the agent sends
back is forwarded to the client, so the client sees the agent's ABORT.
Prints "ready" once listening and "fault applied" when it struck.
"""
import socket
import struct
import sys
import threading

KINDS = {"HELLO": 1, "COMPAT": 2, "PHASE": 3, "DATA": 4, "TRAILER": 5, "ABORT": 6,
         "REQUEST": 7, "REPLY": 8}
NO_CRC = 0x0001


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t.append(c)
    return t


TABLE = _table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = (c >> 8) ^ TABLE[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def fix_crc(hdr):
    return hdr[:12] + struct.pack("<I", crc32c(hdr[:12]))


def shut_wr(sock):
    """No more bytes from us on @sock (the peer sees the end)."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def pump_back(agent, client):
    """agent -> client, verbatim, until the agent closes."""
    try:
        while True:
            data = agent.recv(65536)
            if not data:
                break
            client.sendall(data)
    except OSError:
        pass
    shut_wr(client)


def flip_byte(client, agent, at):
    """client -> agent verbatim but for one bit of byte @at."""
    seen = 0
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            if seen <= at < seen + len(data):
                i = at - seen
                data = data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:]
                print("fault applied: flip-byte at %d" % at, flush=True)
            seen += len(data)
            agent.sendall(data)
    except OSError:
        pass
    shut_wr(agent)


def main():
    lhost, lport, uhost, uport, fault = sys.argv[1:6]
    what, _, kind = fault.partition(":")
    target = KINDS.get(kind, 0)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((lhost, int(lport)))
    ls.listen(1)
    print("ready", flush=True)
    client, _ = ls.accept()
    agent = socket.create_connection((uhost, int(uport)))
    back = threading.Thread(target=pump_back, args=(agent, client), daemon=True)
    back.start()

    if what == "flip-byte":
        flip_byte(client, agent, int(kind))
        back.join()
        return

    seen_request = False
    done = False
    try:
        while True:
            hdr = recv_exact(client, 16)
            if len(hdr) < 16:
                agent.sendall(hdr)
                break
            ftype = hdr[5]
            flags, length = struct.unpack_from("<HI", hdr, 6)
            has_crc = length > 0 and not (ftype == KINDS["DATA"] and flags & NO_CRC)
            body = recv_exact(client, length + (4 if has_crc else 0))
            frame = hdr + body
            hit = (not done and seen_request and what != "none" and
                   (ftype == target or (what == "dup-trailer" and ftype == KINDS["TRAILER"])))
            if ftype == KINDS["REQUEST"]:
                seen_request = True
            if not hit:
                agent.sendall(frame)
                if len(body) < length + (4 if has_crc else 0):
                    break
                continue
            done = True
            print("fault applied: %s on a %s frame of %d bytes" % (what, kind or "TRAILER",
                                                                   length), flush=True)
            if what == "truncate":
                agent.sendall(frame[:max(1, len(frame) // 2)])
                break
            if what == "flip-header":
                frame = frame[:8] + bytes([frame[8] ^ 0x01]) + frame[9:]
            elif what == "flip-payload":
                if length == 0:
                    sys.exit("flip-payload: the frame has no payload")
                frame = frame[:16] + bytes([frame[16] ^ 0x01]) + frame[17:]
            elif what == "oversize":
                frame = fix_crc(hdr[:8] + struct.pack("<I", 0x7FFFFFFF) + hdr[12:])
            elif what == "version":
                frame = fix_crc(hdr[:4] + b"\x02" + hdr[5:]) + body
            elif what == "dup-trailer":
                agent.sendall(frame)
            else:
                sys.exit("unknown fault " + fault)
            agent.sendall(frame)
    except OSError:
        pass
    # End the client -> agent direction; keep carrying the agent's answer,
    # and swallow what the client still sends so it never blocks on us.
    shut_wr(agent)
    client.settimeout(60)
    try:
        while client.recv(65536):
            pass
    except OSError:
        pass
    back.join(timeout=30)
    client.close()
    agent.close()


if __name__ == "__main__":
    main()
