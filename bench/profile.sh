#!/usr/bin/env bash
# Instructions per operation, counted by callgrind: repeatable whatever else the machine is
# doing (it counts instructions, not seconds), so before/after comparisons of a change do not
# drown in the noise of a shared machine. Kernel time (system calls, loopback TCP) is not
# counted; count system calls with `perf stat -e 'syscalls:sys_enter_*'` instead.
#
#   bench/profile.sh [--scenario search-uid] [--conns 1] [--duration 10] [--users 10000] [--out DIR]
#                    [--ldif FILE] [--data DIR] [--warmup 3] [--cache-mb N]   (PORT=3393 by default)
#
# Imports the campus fixture into a fresh data directory, starts the release `birch` under
# valgrind --tool=callgrind, warms up for 3 s, zeroes the counters, runs the ldapbench
# scenario, dumps, and prints ops, instructions and instructions per operation. The profile
# is DIR/callgrind.<scenario>.out.1 (read it with callgrind_annotate --inclusive=yes).
# --ldif FILE imports that LDIF (the campus fixture for --users) instead of generating
# DIR/campus-<users>-ssha.ldif; --data DIR serves an already imported data directory as is
# (no import; for large fixtures, e.g. 1M users, whose import takes minutes). Start-up under
# valgrind reads the whole store, so the script waits up to 20 minutes for the server.
# --warmup S runs the scenario for S seconds before counting (default 3): with 100k users or
# more, random lookups in a few seconds under valgrind mostly find sled's page cache cold
# (PageCache::pull), so a short warm-up counts start-up misses rather than the steady state.
# Start-up and warm-up run with callgrind's instrumentation off (--instr-atstart=no, several
# times faster); it is switched on just before counting. --cache-mb sets the store's cache_mb.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
LDAPBENCH="${LDAPBENCH:-$SHARED/bench/ldapbench/target/release/ldapbench}"
SCENARIO=search-uid; CONNS=1; DURATION=10; USERS=10000; OUT=/tmp/birch-profile; PORT="${PORT:-3393}"
LDIF=""; DATA=""; WARMUP=3; CACHE_MB=""
BASE=dc=campus,dc=example
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) SCENARIO="$2"; shift 2;; --conns) CONNS="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;; --users) USERS="$2"; shift 2;;
    --out) OUT="$2"; shift 2;; --ldif) LDIF="$2"; shift 2;; --data) DATA="$2"; shift 2;;
    --warmup) WARMUP="$2"; shift 2;; --cache-mb) CACHE_MB="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
[ -x "$LDAPBENCH" ] || { echo "build ldapbench first: $LDAPBENCH" >&2; exit 1; }
mkdir -p "$OUT"
if [ -z "$DATA" ] && [ -z "$LDIF" ]; then
  LDIF="$OUT/campus-$USERS-ssha.ldif"
  [ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash ssha --base "$BASE" > "$LDIF"
fi
# BIRCH=path/to/birch uses that binary as is (no cargo build).
if [ -z "${BIRCH:-}" ]; then (cd "$ROOT" && cargo build --release -q); BIRCH="$ROOT/target/release/birch"; fi
[ -n "$DATA" ] || { DATA="$OUT/data"; rm -rf "$DATA"; }
cat > "$OUT/birch.toml" <<TOML
listen = "127.0.0.1:$PORT"
data_dir = "$DATA"
suffix = "$BASE"
size_limit = 0
rehash_on_bind = false
${CACHE_MB:+cache_mb = $CACHE_MB}
TOML
[ -z "$LDIF" ] || "$BIRCH" import --config "$OUT/birch.toml" "$LDIF" 2>"$OUT/import.log"
PROF="$OUT/callgrind.$SCENARIO.out"
rm -f "$PROF" "$PROF".*
BIRCH_ROOT_PASSWORD=admin-secret BIRCH_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$PROF" \
  "$BIRCH" serve --config "$OUT/birch.toml" 2>"$OUT/valgrind.log" &
VP=$!
trap 'kill $VP 2>/dev/null || true' EXIT
for _ in $(seq 6000); do
  kill -0 "$VP" 2>/dev/null || { echo "birch under valgrind exited; see $OUT/valgrind.log" >&2; exit 1; }
  ldapsearch -x -H "ldap://127.0.0.1:$PORT" -b "" -s base >/dev/null 2>&1 && break; sleep 0.2
done
bench() { timeout $(( $1 + 60 )) "$LDAPBENCH" --url "ldap://127.0.0.1:$PORT" --base "$BASE" --scenario "$SCENARIO" \
  --conns "$CONNS" --duration-s "$1" --users "$USERS" 2>/dev/null; }
# ldapbench bounds one run at 30 s: longer warm-ups are several runs.
w=$WARMUP; while [ "$w" -gt 0 ]; do bench $(( w > 30 ? 30 : w )) >/dev/null || true; w=$(( w - 30 )); done
callgrind_control -i on "$VP" >/dev/null
callgrind_control -z "$VP" >/dev/null
LINE="$(bench "$DURATION")"
callgrind_control -d "$VP" >/dev/null
OPS=$(printf '%s' "$LINE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ops"])')
IR=$(callgrind_annotate "$PROF.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
echo "scenario=$SCENARIO conns=$CONNS ops=$OPS instructions=$IR per_op=$(( IR / OPS ))"
