#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Connections that never authenticate, to test the agent's pre-auth limits.

usage:
  preauth.py hold HOST PORT N [--bytes B] [--from ADDR,ADDR...] [--seconds S]
                              [--reopen-delay S]
      Keep N connections open to HOST:PORT, spread over the local source
      addresses given (round robin), each sending B bytes (0x16, the first
      byte of a TLS handshake) and then nothing. A connection the agent
      closes is opened again after --reopen-delay (default 0.05 s). Prints
      "ready" once all N are open, and at the end (SIGTERM, or after
      --seconds, default 120) "opened X closed-by-peer Y".

  preauth.py trickle HOST PORT {tls|hello} [--interval S] [--max S]
      Send a TLS ClientHello (tls) or the start of a device-state frame
      header (hello) one byte every --interval seconds (default 2) and
      measure how long the agent keeps the connection: prints
      "closed after T s (sent N of M bytes)" or "open after T s".
      Gives up after --max seconds (default 20).
"""
import argparse
import select
import signal
import socket
import ssl
import sys
import time


def client_hello():
    """The bytes a TLS client sends first, made by Python's own TLS stack."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def connect(host, port, src, nbytes):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(5)
    s.connect((host, port))
    if nbytes:
        s.sendall(b"\x16" * nbytes)
    s.setblocking(False)
    return s


def hold(args):
    sources = args.sources.split(",") if args.sources else [None]
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    socks = {}          # socket -> source address
    pending = []        # (time to reopen, source address)
    opened = closed = 0
    end = time.monotonic() + args.seconds
    for i in range(args.n):
        pending.append((0.0, sources[i % len(sources)]))
    ready = False
    while not stop[0] and time.monotonic() < end:
        now = time.monotonic()
        due = [p for p in pending if p[0] <= now]
        pending = [p for p in pending if p[0] > now]
        for _, src in due:
            try:
                socks[connect(args.host, args.port, src, args.bytes)] = src
                opened += 1
            except OSError:
                pending.append((now + 0.1, src))
        if not ready and len(socks) == args.n:
            print("ready", flush=True)
            ready = True
        try:
            r, _, _ = select.select(list(socks), [], [], 0.05)
        except InterruptedError:
            continue
        for s in r:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                continue
            src = socks.pop(s)
            s.close()
            closed += 1
            pending.append((time.monotonic() + args.reopen_delay, src))
    print("opened %d closed-by-peer %d" % (opened, closed), flush=True)


def trickle(args):
    if args.what == "tls":
        payload = client_hello()
    else:
        # a frame header that never completes: magic, version, HELLO...
        payload = b"NVFM\x01\x01" + b"\x00" * 10
    s = socket.create_connection((args.host, args.port), timeout=5)
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < args.max:
        if sent < len(payload):
            try:
                s.send(payload[sent:sent + 1])
                sent += 1
            except OSError:
                break
        r, _, _ = select.select([s], [], [], args.interval)
        if r:
            try:
                if not s.recv(4096):
                    break
            except OSError:
                break
    else:
        print("open after %.1f s (sent %d of %d bytes)" %
              (time.monotonic() - start, sent, len(payload)), flush=True)
        return 1
    print("closed after %.1f s (sent %d of %d bytes)" %
          (time.monotonic() - start, sent, len(payload)), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    h = sub.add_parser("hold")
    h.add_argument("host")
    h.add_argument("port", type=int)
    h.add_argument("n", type=int)
    h.add_argument("--bytes", type=int, default=0)
    h.add_argument("--from", dest="sources", default="")
    h.add_argument("--seconds", type=float, default=120)
    h.add_argument("--reopen-delay", type=float, default=0.05)
    t = sub.add_parser("trickle")
    t.add_argument("host")
    t.add_argument("port", type=int)
    t.add_argument("what", choices=["tls", "hello"])
    t.add_argument("--interval", type=float, default=2)
    t.add_argument("--max", type=float, default=20)
    args = p.parse_args()
    if args.mode == "hold":
        hold(args)
        return 0
    return trickle(args)


if __name__ == "__main__":
    sys.exit(main())
