#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The QMP sequences (tests/hosts/qmp-vfio-proxy.py logs) of a migration
whose stream QEMU encrypts: on each side one tls-creds-x509 object with
the right endpoint and verify-peer, named by tls-creds before the stream
starts; the destination's credentials from the agent's runtime directory,
and cleared again at the end. The preflight's trial object (ID-check) was
added and deleted again before.

usage: tls-seq.py PROXY_A_LOG PROXY_B_LOG AGENT_B_RUNTIME_DIR
"""
import json
import sys


def commands(path):
    with open(path) as f:
        return [l for l in (json.loads(x) for x in f if x.strip()) if "cmd" in l]


def main():
    errors = []
    sides = (("source", sys.argv[1], "client", "migrate"),
             ("destination", sys.argv[2], "server", "migrate-incoming"))
    for side, path, endpoint, start in sides:
        cmds = commands(path)
        add = [l for l in cmds if l["cmd"] == "object-add" and not l["args"]["id"].endswith("-check")]
        trial = [l for l in cmds if l["cmd"] == "object-add" and l["args"]["id"].endswith("-check")]
        dels = [l for l in cmds if l["cmd"] == "object-del" and l["args"]["id"].endswith("-check")]
        if len(trial) != 1 or len(dels) != 1 or not trial[0]["t"] < dels[0]["t"]:
            errors.append(f"{side}: no preflight trial of the credentials: {trial} {dels}")
        sets = [l for l in cmds if l["cmd"] == "migrate-set-parameters" and "tls-creds" in l["args"]]
        go = [l for l in cmds if l["cmd"] == start]
        if len(add) != 1 or not add[0]["ok"]:
            errors.append(f"{side}: object-add {add}")
            continue
        a = add[0]["args"]
        if (a.get("qom-type"), a.get("endpoint"), a.get("verify-peer")) != \
                ("tls-creds-x509", endpoint, True):
            errors.append(f"{side}: credentials {a}")
        if side == "destination" and not a.get("dir", "").startswith(sys.argv[3] + "/qemu-tls/"):
            errors.append(f"destination: credentials not the agent's: {a.get('dir')}")
        on = [l for l in sets if l["args"]["tls-creds"] == a["id"]]
        if not on or not go or not add[0]["t"] < on[0]["t"] < go[0]["t"]:
            errors.append(f"{side}: tls-creds not set before {start}: {sets}")
        if side == "destination" and not [l for l in sets if l["args"]["tls-creds"] == ""]:
            errors.append("destination: tls-creds not cleared at the end")
    for e in errors:
        print("  " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
