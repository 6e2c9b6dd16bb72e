#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Seed inputs for the emu-stream and transfer fuzz targets, made from real
# saved streams (nvme-vf-migrate save of an emu: device):
#   make-seeds.py OUT_DIR NAME=SAVED_FILE...
# writes OUT_DIR/emu-stream/NAME (the DATA payloads: the device's own
# state stream) and OUT_DIR/transfer/NAME (the frames as a transfer
# script, see fuzz-transfer.c), plus the invalid variants below.
import os
import struct
import sys

MAGIC = 0x4D46564E
DATA, TRAILER = 4, 5
TRAILER_MADE, LIE, CUT, BAD_PAYLOAD_CRC = 0x20, 0x10, 0x80, 0x04


def frames(raw):
    off = 0
    while off < len(raw):
        magic, _ver, ftype, flags, length, _crc = struct.unpack_from("<IBBHII", raw, off)
        assert magic == MAGIC, "not a saved stream"
        off += 16
        payload = raw[off:off + length]
        off += length
        if length and not (ftype == DATA and flags & 1):
            off += 4
        yield ftype, flags, payload


def record(ftype, how, flags, payload, declared=None):
    out = struct.pack("<BBHH", ftype, how, flags, len(payload))
    if how & LIE:
        out += struct.pack("<I", declared)
    return out + payload


def script(frame_list, options=0, trailer_how=0):
    out = bytes([options])
    for ftype, flags, payload in frame_list:
        if ftype == DATA:
            # a record carries at most 64 KiB - 1; DATA may be cut freely
            for i in range(0, len(payload), 0xFFFF):
                out += record(ftype, 0, flags, payload[i:i + 0xFFFF])
        elif ftype == TRAILER:
            out += record(ftype, trailer_how, flags, b"" if trailer_how else payload)
        else:
            out += record(ftype, 0, flags, payload)
    return out


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    out = sys.argv[1]
    for arg in sys.argv[2:]:
        name, path = arg.split("=", 1)
        with open(path, "rb") as f:
            fl = list(frames(f.read()))
        state = b"".join(p for t, _, p in fl if t == DATA)
        write(f"{out}/emu-stream/{name}", state)
        write(f"{out}/transfer/{name}", script(fl))
        write(f"{out}/transfer/{name}-made-trailer", script(fl, options=2, trailer_how=TRAILER_MADE))
        if name != "small":
            continue
        # invalid variants of the small one
        write(f"{out}/emu-stream/{name}-truncated", state[:len(state) // 2])
        write(f"{out}/emu-stream/{name}-after-end", state + b"x")
        bad = bytearray(state)
        bad[len(bad) // 2] ^= 0xFF
        write(f"{out}/emu-stream/{name}-bad-crc", bytes(bad))
        write(f"{out}/transfer/{name}-no-trailer", script([f for f in fl if f[0] != TRAILER]))
        write(f"{out}/transfer/{name}-bad-data-crc",
              script(fl)[:1] + b"".join(
                  record(t, BAD_PAYLOAD_CRC if t == DATA else 0, fg, p) for t, fg, p in fl))
        write(f"{out}/transfer/{name}-long-length",
              bytes([0]) + b"".join(
                  record(t, LIE if t == DATA else 0, fg, p, 1 << 30) for t, fg, p in fl))
        write(f"{out}/transfer/{name}-cut",
              bytes([0]) + b"".join(
                  record(t, CUT if t == DATA else 0, fg, p) for t, fg, p in fl))
        write(f"{out}/transfer/{name}-twice", script(fl + fl))
        write(f"{out}/transfer/{name}-unchecked",
              script([(t, fg | {DATA: 1, TRAILER: 2}.get(t, 0), p) for t, fg, p in fl],
                     options=1, trailer_how=TRAILER_MADE))


main()
