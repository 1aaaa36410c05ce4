#!/usr/bin/env python3
"""Markdown table of medians (Birch, slapd, ratio) from bench/side-by-side.sh results; with
a baseline Birch ("base", --baseline) also its figures and Birch/base."""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("failed") or d.get("errors_over_threshold"):
        continue
    runs[(d["scenario"], d["conns"], d["server"])].append(d)

base = any(k[2] == "base" for k in runs)
extra_head = " base ops/s | Birch/base |" if base else ""
print("| scenario | conns | Birch ops/s | slapd ops/s | ratio | Birch p50/p99 µs | slapd p50/p99 µs |" + extra_head)
print("|---|---|---|---|---|---|---|" + ("---|---|" if base else ""))
keys = sorted({(s, c) for (s, c, _) in runs}, key=lambda k: (k[0], k[1]))
for s, c in keys:
    b, o, p = runs.get((s, c, "birch"), []), runs.get((s, c, "slapd"), []), runs.get((s, c, "base"), [])
    med = lambda rs, k: statistics.median([r[k] for r in rs]) if rs else None
    bo, so, po = med(b, "ops_per_s"), med(o, "ops_per_s"), med(p, "ops_per_s")
    ratio = f"{bo / so:.2f}" if bo and so else "-"
    lat = lambda rs: f"{med(rs, 'p50_us'):.0f}/{med(rs, 'p99_us'):.0f}" if rs else "-"
    extra = f" {po or 0:,.0f} | {bo / po:.2f} |" if base and bo and po else (" - | - |" if base else "")
    print(f"| {s} | {c} | {bo or 0:,.0f} | {so or 0:,.0f} | {ratio} | {lat(b)} | {lat(o)} |" + extra)
