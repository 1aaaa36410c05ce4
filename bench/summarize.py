#!/usr/bin/env python3
"""Markdown table of medians (Birch, slapd, ratio) from bench/side-by-side.sh results."""
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

print("| scenario | conns | Birch ops/s | slapd ops/s | ratio | Birch p50/p99 µs | slapd p50/p99 µs |")
print("|---|---|---|---|---|---|---|")
keys = sorted({(s, c) for (s, c, _) in runs}, key=lambda k: (k[0], k[1]))
for s, c in keys:
    b, o = runs.get((s, c, "birch"), []), runs.get((s, c, "slapd"), [])
    med = lambda rs, k: statistics.median([r[k] for r in rs]) if rs else None
    bo, so = med(b, "ops_per_s"), med(o, "ops_per_s")
    ratio = f"{bo / so:.2f}" if bo and so else "-"
    lat = lambda rs: f"{med(rs, 'p50_us'):.0f}/{med(rs, 'p99_us'):.0f}" if rs else "-"
    print(f"| {s} | {c} | {bo or 0:,.0f} | {so or 0:,.0f} | {ratio} | {lat(b)} | {lat(o)} |")
