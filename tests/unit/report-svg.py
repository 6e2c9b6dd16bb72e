#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# The report's picture drawn from fixed reports (tests/unit/report/*.json)
# through "nvme-vf-migrate report FILE -o -": well-formed XML, both lanes,
# the pause window and downtime with their ms, one polyline per series
# with at most 256 points, the rollback steps by name, nothing fetched or
# run (no script, no link but the SVG namespace); broken reports give one
# clear line and the data exit code. Usage: report-svg.py CASE
# "report-svg.py check-files JSON SVG [vm] [rollback]" checks a picture
# migrate --report wrote beside its report (tests/hosts/migrate.sh).
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

TOOL = os.environ["NVFM_CLI"]
FIXTURES = os.path.join(os.environ["NVFM_SOURCE_ROOT"], "tests", "unit", "report")
NS = "{http://www.w3.org/2000/svg}"
EXIT_DATA = 6
EXIT_NOT_FOUND = 4


def fail(msg):
    print(f"FAIL [{CASE}]: {msg}", file=sys.stderr)
    sys.exit(1)


def render(path):
    p = subprocess.run([TOOL, "report", path, "-o", "-"], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        fail(f"report {path} exited {p.returncode}: {p.stderr}")
    if p.stderr:
        fail(f"report {path} wrote to stderr: {p.stderr}")
    return p.stdout


def texts(root):
    return ["".join(t.itertext()) for t in root.iter(NS + "text")]


def check_common(svg, rep):
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as e:
        fail(f"not well-formed XML: {e}")
    if root.tag != NS + "svg":
        fail(f"root element is {root.tag}")
    low = svg.lower()
    if "<script" in low or "javascript:" in low or " on" + "load=" in low:
        fail("the SVG has a script")
    for bad in ("href", "@import", "url(", "<style", "<foreignobject", "<image"):
        if bad in low:
            fail(f"the SVG refers to something outside itself: {bad}")
    uris = re.findall(r"https?:[^\"'\s<>]*", svg)
    if any(u != "http://www.w3.org/2000/svg" for u in uris):
        fail(f"URIs besides the SVG namespace: {uris}")
    t = texts(root)
    for lane in ("source", "destination"):
        if lane not in t:
            fail(f"no {lane} lane")
    phases = [e for e in root.iter(NS + "rect") if e.get("class") == "phase"]
    want = len(rep["timeline"]) + len(rep.get("destination", {}).get("timeline", []))
    if len(phases) != want:
        fail(f"{len(phases)} phase boxes for {want} phases on both hosts")
    lines = [e for e in root.iter(NS + "polyline") if e.get("class") == "series"]
    if len(lines) != len(rep.get("samples", [])):
        fail(f"{len(lines)} polylines for {len(rep.get('samples', []))} series")
    for ln in lines:
        n = len(ln.get("points").split())
        if n > 256 or n < 1:
            fail(f"a polyline has {n} points")
    return root, t


def window_label(t, what, ms):
    want = f"{what} {ms:.1f} ms"
    if want not in t:
        fail(f"no label '{want}' in {t}")


def case_normal():
    path = os.path.join(FIXTURES, "normal.json")
    rep = json.load(open(path))
    root, t = check_common(render(path), rep)
    if not rep.get("samples"):
        fail("the fixture has no samples")
    bands = [e for e in root.iter(NS + "rect") if e.get("class") == "pause-window"]
    if not bands:
        fail("no pause window drawn")
    window_label(t, "pause window", rep["pause_window"]["ms"])
    window_label(t, "downtime", rep["downtime_window"]["ms"])
    if not rep.get("destination", {}).get("timeline"):
        fail("the fixture has no destination phases")
    if not any(x.startswith("destination clock aligned by") for x in t):
        fail("the clock alignment is not said")
    if [g for g in root.iter(NS + "g") if g.get("class") == "rollback"]:
        fail("a rollback drawn for a run that succeeded")


def case_rollback():
    path = os.path.join(FIXTURES, "rollback.json")
    rep = json.load(open(path))
    root, t = check_common(render(path), rep)
    steps = [g for g in root.iter(NS + "g") if g.get("class") == "rollback-step"]
    if len(steps) != len(rep["rollback_steps"]):
        fail(f"{len(steps)} rollback marks for {len(rep['rollback_steps'])} steps")
    for i, s in enumerate(rep["rollback_steps"]):
        if f"rollback {i + 1}: {s}" not in t:
            fail(f"rollback step '{s}' not named")
        if steps[i].find(NS + "title").text != s:
            fail(f"rollback mark {i + 1} is not titled '{s}'")
    if not any(x.startswith("FAILED in " + rep["failed_phase"]) for x in t):
        fail("the failure is not said")


def case_old():
    # a report written before the picture's fields still draws
    path = os.path.join(FIXTURES, "old.json")
    rep = json.load(open(path))
    root, t = check_common(render(path), rep)
    window_label(t, "downtime", rep["downtime_ms"])


def case_many_points():
    # more points than a series may hold: the picture still draws <= 256
    rep = json.load(open(os.path.join(FIXTURES, "normal.json")))
    rep["samples"] = [{"series": "RAM", "points": [[i * 0.5, i * 4096] for i in range(3000)]}]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "big.json")
        json.dump(rep, open(path, "w"))
        check_common(render(path), rep)


def case_hostile_text():
    # names and errors are text, never markup
    rep = json.load(open(os.path.join(FIXTURES, "rollback.json")))
    rep["vm"] = "<script>alert(1)</script>"
    rep["error"] = "a & b <c> \"d\" 'e' \x01\x1b[31m\x7f http://example.invalid/x"
    rep["rollback_steps"] = ["<script>x</script>"]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "hostile.json")
        json.dump(rep, open(path, "w"))
        svg = subprocess.run([TOOL, "report", path, "-o", "-"], capture_output=True,
                             text=True, timeout=60).stdout
        if "<script" in svg.lower():
            fail("a name became markup")
        try:
            ET.fromstring(svg)
        except ET.ParseError as e:
            fail(f"not well-formed XML: {e}")


def expect_error(name, code, pattern):
    path = os.path.join(FIXTURES, name) if name else "/nonexistent/report.json"
    p = subprocess.run([TOOL, "report", path, "-o", "-"], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != code:
        fail(f"report {name} exited {p.returncode}, expected {code}: {p.stderr}")
    if p.stdout:
        fail(f"report {name} printed on stdout: {p.stdout[:200]}")
    lines = p.stderr.splitlines()
    if len(lines) != 1 or not re.search(pattern, lines[0]):
        fail(f"report {name}: want one stderr line matching '{pattern}', got {lines}")


def case_errors():
    expect_error("empty.json", EXIT_DATA, "is damaged")
    expect_error("not-json.json", EXIT_DATA, "is damaged")
    expect_error("malformed.json", EXIT_DATA, "not a migration report")
    expect_error(None, EXIT_NOT_FOUND, "No such file")


def case_beside():
    # without -o the picture lands beside the report, FILE.svg
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "run.json")
        with open(os.path.join(FIXTURES, "normal.json")) as f:
            open(path, "w").write(f.read())
        p = subprocess.run([TOOL, "-q", "report", path], capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0 or p.stdout or p.stderr:
            fail(f"report -q exited {p.returncode}: {p.stdout} {p.stderr}")
        ET.parse(os.path.join(d, "run.svg"))


def check_files(json_path, svg_path, *want):
    rep = json.load(open(json_path))
    root, t = check_common(open(svg_path).read(), rep)
    names = [s["series"] for s in rep.get("samples", [])]
    if not any(n.startswith("VF ") for n in names):
        fail(f"no VF series in {names}")
    if "vm" in want:
        if "RAM" not in names:
            fail(f"no RAM series in {names}")
        if not rep.get("vm") or not any(rep["vm"] in x for x in t):
            fail("the VM is not named")
    if "rollback" in want:
        steps = [g for g in root.iter(NS + "g") if g.get("class") == "rollback-step"]
        if not steps or len(steps) != len(rep.get("rollback_steps", [])):
            fail(f"{len(steps)} rollback marks for {rep.get('rollback_steps')}")
    else:
        if not rep.get("destination", {}).get("timeline"):
            fail("no destination phases in the report")
        window_label(t, "pause window", rep["pause_window"]["ms"])
        window_label(t, "downtime", rep["downtime_window"]["ms"])


CASE = sys.argv[1] if len(sys.argv) > 1 else ""
if CASE == "check-files" and len(sys.argv) >= 4:
    check_files(*sys.argv[2:])
    sys.exit(0)
fn = globals().get("case_" + CASE.replace("-", "_"))
if not fn:
    print(f"usage: {sys.argv[0]} CASE", file=sys.stderr)
    sys.exit(2)
fn()
