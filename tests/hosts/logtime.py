#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Seconds from an event to the first log line after it that matches.

usage: logtime.py SINCE FILE REGEX

SINCE is a Unix time (date +%s.%N). Log lines carry local times the way
the agent's log writes them ("2026-12-05T07:11:05.446 notice: ...") or
GLib's debug output does ("... nvfm-device-DEBUG: 07:11:05.446: ...").
Prints the seconds from SINCE to the first line matching REGEX whose time
is not before SINCE, or nothing when there is none.
"""
import datetime
import re
import sys

STAMP = re.compile(r"(\d{4}-\d\d-\d\dT)?(\d\d):(\d\d):(\d\d)\.(\d+)")


def line_time(line, since):
    m = STAMP.search(line)
    if not m:
        return None
    day = since.date() if not m.group(1) else datetime.date.fromisoformat(m.group(1)[:-1])
    t = datetime.datetime.combine(day, datetime.time(int(m.group(2)), int(m.group(3)),
                                                     int(m.group(4))))
    t += datetime.timedelta(seconds=float("0." + m.group(5)))
    # a time of day only, just past midnight
    if not m.group(1) and t < since - datetime.timedelta(hours=12):
        t += datetime.timedelta(days=1)
    return t


def main():
    since = datetime.datetime.fromtimestamp(float(sys.argv[1]))
    pattern = re.compile(sys.argv[3])
    try:
        lines = open(sys.argv[2], errors="replace").read().splitlines()
    except OSError:
        return
    for line in lines:
        if not pattern.search(line):
            continue
        t = line_time(line, since)
        # log stamps are cut to the millisecond
        if t and t >= since - datetime.timedelta(milliseconds=1):
            print("%.2f" % max((t - since).total_seconds(), 0.0))
            return


if __name__ == "__main__":
    main()
