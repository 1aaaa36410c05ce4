#!/usr/bin/env bash
# Import speed side by side: `birch import` (one or more Birch binaries, to compare builds)
# against `slapadd -q` on the same LDIF, for ROUNDS rounds. In each round the Birch binaries run
# in a rotated order, then slapadd: the first import after a slapadd pays more for fresh memory
# on these VMs (0.8-1 s of system time at 100k users), which a fixed order would charge to one
# binary. Prints every run and a markdown table of medians (wall, CPU, peak RSS) with the
# ratios to slapadd -q. See docs/performance.md, "Import and export".
#
# usage: bench/import.sh [--users N | --ldif FILE] [--rounds R] [--out DIR] [BIRCH_BINARY...]
# defaults: --users 100000 --rounds 3 --out /tmp/birch-import target/release/birch
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
USERS=100000
ROUNDS=3
OUT=/tmp/birch-import
LDIF=""
BINS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2;;
    --ldif) LDIF="$2"; shift 2;;
    --rounds) ROUNDS="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    -h|--help) sed -n '2,11p' "$0"; exit 0;;
    -*) echo "unknown option $1" >&2; exit 2;;
    *) BINS+=("$1"); shift;;
  esac
done
[ ${#BINS[@]} -gt 0 ] || BINS=("$ROOT/target/release/birch")
for b in "${BINS[@]}"; do
  [ -x "$b" ] || { echo "not an executable: $b (cargo build --release first)" >&2; exit 2; }
done
command -v slapadd >/dev/null || { echo "slapadd not found: apt-get install -y slapd" >&2; exit 2; }

mkdir -p "$OUT"
if [ -z "$LDIF" ]; then
  LDIF="$OUT/campus-$USERS.ldif"
  [ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash ssha \
      --base dc=campus,dc=example > "$LDIF"
fi
# slapd's configuration (and a first, untimed slapadd) from the reference setup.
"$SHARED/bench/anchor-slapd/setup.sh" --ldif "$LDIF" --no-start --dir "$OUT/anchor" >/dev/null
printf 'data_dir = "%s/birch-data"\nsuffix = "dc=campus,dc=example"\n' "$OUT" > "$OUT/birch.toml"

RES="$OUT/import.jsonl"
: > "$RES"
# Runs a command; appends {name, wall_s, cpu_s, rss_mib} (CPU and peak RSS of that command).
measure() {
  local name="$1"; shift
  # The previous run's dirty pages are written back first, not during this one.
  sync
  python3 - "$name" "$RES" "$@" <<'EOF'
import json, resource, subprocess, sys, time
name, res, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
start = time.monotonic()
subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
wall = time.monotonic() - start
r = resource.getrusage(resource.RUSAGE_CHILDREN)
row = {"name": name, "wall_s": round(wall, 3), "cpu_s": round(r.ru_utime + r.ru_stime, 3),
       "user_s": round(r.ru_utime, 3), "sys_s": round(r.ru_stime, 3), "rss_mib": r.ru_maxrss // 1024}
open(res, "a").write(json.dumps(row) + "\n")
print("%-24s wall %6.2f s  cpu %6.2f s (user %.2f, sys %.2f)  rss %5d MiB" % (
    name, wall, row["cpu_s"], row["user_s"], row["sys_s"], row["rss_mib"]), file=sys.stderr)
EOF
}

n=${#BINS[@]}
for r in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    k=$(( (i + r) % n ))
    rm -rf "$OUT/birch-data"
    measure "birch[$k] $(basename "${BINS[$k]}")" "${BINS[$k]}" import --config "$OUT/birch.toml" "$LDIF"
  done
  rm -rf "$OUT/anchor/data/"*
  measure "slapadd -q" slapadd -q -f "$OUT/anchor/slapd.conf" -l "$LDIF"
done

python3 - "$RES" "$ROUNDS" "$LDIF" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = list(dict.fromkeys(r["name"] for r in rows))
med = lambda name, key: statistics.median(r[key] for r in rows if r["name"] == name)
ref = "slapadd -q"
print(f"\nImport of {sys.argv[3]}, {sys.argv[2]} rounds, medians:\n")
print("| | wall (s) | CPU (s) | peak RSS (MiB) | wall ÷ slapadd | CPU ÷ slapadd |")
print("|---|---|---|---|---|---|")
for n in names:
    print("| %s | %.2f | %.2f | %d | %.2f | %.2f |" % (n, med(n, "wall_s"), med(n, "cpu_s"), med(n, "rss_mib"),
          med(n, "wall_s") / med(ref, "wall_s"), med(n, "cpu_s") / med(ref, "cpu_s")))
EOF
