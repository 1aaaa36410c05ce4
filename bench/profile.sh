#!/usr/bin/env bash
# Instructions per operation, counted by callgrind: repeatable whatever else the machine is
# doing (it counts instructions, not seconds), so before/after comparisons of a change do not
# drown in the noise of a shared machine. Kernel time (system calls, loopback TCP) is not
# counted; count system calls with `perf stat -e 'syscalls:sys_enter_*'` instead.
#
#   bench/profile.sh [--scenario search-uid] [--conns 1] [--duration 10] [--users 10000] [--out DIR]
#
# Imports the campus fixture into a fresh data directory, starts the release `birch` under
# valgrind --tool=callgrind, warms up for 3 s, zeroes the counters, runs the ldapbench
# scenario, dumps, and prints ops, instructions and instructions per operation. The profile
# is DIR/callgrind.<scenario>.out.1 (read it with callgrind_annotate --inclusive=yes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
LDAPBENCH="${LDAPBENCH:-$SHARED/bench/ldapbench/target/release/ldapbench}"
SCENARIO=search-uid; CONNS=1; DURATION=10; USERS=10000; OUT=/tmp/birch-profile; PORT=3393
BASE=dc=campus,dc=example
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) SCENARIO="$2"; shift 2;; --conns) CONNS="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;; --users) USERS="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
[ -x "$LDAPBENCH" ] || { echo "build ldapbench first: $LDAPBENCH" >&2; exit 1; }
mkdir -p "$OUT"
LDIF="$OUT/campus-$USERS-ssha.ldif"
[ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash ssha --base "$BASE" > "$LDIF"
(cd "$ROOT" && cargo build --release -q)
BIRCH="$ROOT/target/release/birch"
rm -rf "$OUT/data"
cat > "$OUT/birch.toml" <<TOML
listen = "127.0.0.1:$PORT"
data_dir = "$OUT/data"
suffix = "$BASE"
size_limit = 0
rehash_on_bind = false
TOML
"$BIRCH" import --config "$OUT/birch.toml" "$LDIF" 2>"$OUT/import.log"
PROF="$OUT/callgrind.$SCENARIO.out"
rm -f "$PROF" "$PROF".*
BIRCH_ROOT_PASSWORD=admin-secret BIRCH_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$PROF" \
  "$BIRCH" serve --config "$OUT/birch.toml" 2>"$OUT/valgrind.log" &
VP=$!
trap 'kill $VP 2>/dev/null || true' EXIT
for _ in $(seq 300); do ldapsearch -x -H "ldap://127.0.0.1:$PORT" -b "" -s base >/dev/null 2>&1 && break; sleep 0.2; done
bench() { timeout $(( $1 + 60 )) "$LDAPBENCH" --url "ldap://127.0.0.1:$PORT" --base "$BASE" --scenario "$SCENARIO" \
  --conns "$CONNS" --duration-s "$1" --users "$USERS" 2>/dev/null; }
bench 3 >/dev/null || true
callgrind_control -z "$VP" >/dev/null
LINE="$(bench "$DURATION")"
callgrind_control -d "$VP" >/dev/null
OPS=$(printf '%s' "$LINE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ops"])')
IR=$(callgrind_annotate "$PROF.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
echo "scenario=$SCENARIO conns=$CONNS ops=$OPS instructions=$IR per_op=$(( IR / OPS ))"
