#!/usr/bin/env bash
# Measures Birch and the reference OpenLDAP slapd side by side, alternating runs in one
# session, with the same generated campus data and the same load generator.
#
#   bench/side-by-side.sh [--users 10000] [--reps 3] [--duration 10] [--conns "1 8 32"]
#                         [--scenarios "search-uid bind login"] [--out DIR]
#                         [--baseline OLD_BIRCH_BINARY]
#                         [--rehash true|false] [--baseline-rehash true|false]
#                         [--bench-users N] [--warmup S] [--birch-extra TOML]
#
# With --baseline, a second Birch (that binary, e.g. a build of the previous commit) serves a
# copy of the same data on the next port and runs in the same alternation, so a change can
# be measured against the code before it; the table then adds its figures and new/old.
# --rehash / --baseline-rehash set rehash_on_bind for Birch / the baseline (default false:
# compare like with like against slapd's SSHA); with --rehash true and the same binary as
# --baseline, a migrated campus (conversion to argon2id on bind) is measured against one
# without. --bench-users N makes ldapbench use only the first N users (re-binds of recently
# bound accounts: the bind cache), --warmup S runs each scenario S s unmeasured first, and
# --birch-extra appends TOML (top-level keys, or whole sections) to both Birch configs.
#
# Needs: ../shared/bench/ldapbench built (cargo build --release there), slapd and
# ldap-utils installed (apt-get install slapd ldap-utils). Writes DIR/results.jsonl (one
# ldapbench line per run, with "server" and "rep" added) and prints a markdown table of
# medians with the ratio Birch/slapd. Everything listens on 127.0.0.1 only; every run is
# bounded by --duration and an outer timeout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
LDAPBENCH="${LDAPBENCH:-$SHARED/bench/ldapbench/target/release/ldapbench}"
USERS=10000; REPS=3; DURATION=10; CONNS="1 8 32"; SCENARIOS="search-uid bind login group-members"
OUT=/tmp/birch-bench; BIRCH_PORT=3390; SLAPD_PORT=3891; BASE=dc=campus,dc=example
BASELINE=""; BASELINE_PORT=3392; REHASH=false; BASE_REHASH=false; BENCH_USERS=""; WARMUP=0
BIRCH_EXTRA=""
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2;; --reps) REPS="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;; --conns) CONNS="$2"; shift 2;;
    --scenarios) SCENARIOS="$2"; shift 2;; --out) OUT="$2"; shift 2;;
    --baseline) BASELINE="$2"; shift 2;;
    --rehash) REHASH="$2"; shift 2;; --baseline-rehash) BASE_REHASH="$2"; shift 2;;
    --bench-users) BENCH_USERS="$2"; shift 2;; --warmup) WARMUP="$2"; shift 2;;
    --birch-extra) BIRCH_EXTRA="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -x "$LDAPBENCH" ] || { echo "build ldapbench first: $LDAPBENCH" >&2; exit 1; }
mkdir -p "$OUT"
LDIF="$OUT/campus-$USERS-ssha.ldif"
[ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash ssha --base "$BASE" > "$LDIF"

(cd "$ROOT" && cargo build --release -q)
BIRCH="$ROOT/target/release/birch"
# start_birch NAME BINARY PORT REHASH: imports the data into $OUT/NAME and serves it; prints the pid.
start_birch() {
  local dir="$OUT/$1"; rm -rf "$dir"; mkdir -p "$dir"
  cat > "$dir/birch.toml" <<TOML
listen = "127.0.0.1:$3"
data_dir = "$dir/data"
suffix = "$BASE"
size_limit = 0
# slapd keeps the fixture's SSHA hashes: false compares like with like (true, the shipped
# default, rehashes every account to argon2id on its first bind).
rehash_on_bind = $4
$BIRCH_EXTRA
TOML
  local start end
  start=$(date +%s%N)
  "$2" import --config "$dir/birch.toml" "$LDIF" 2>"$dir/import.log"
  end=$(date +%s%N)
  echo "{\"server\":\"$1\",\"users\":$USERS,\"import_s\":$(( (end - start) / 1000000 ))e-3}" >> "$OUT/import.jsonl"
  BIRCH_ROOT_PASSWORD=admin-secret BIRCH_LOG=warn "$2" serve --config "$dir/birch.toml" >/dev/null 2>"$dir/serve.log" &
  local pid=$!
  for _ in $(seq 100); do ldapsearch -x -H "ldap://127.0.0.1:$3" -b "" -s base >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$pid"
}
BPID="$(start_birch birch "$BIRCH" "$BIRCH_PORT" "$REHASH")"
OPID=""
[ -z "$BASELINE" ] || OPID="$(start_birch base "$BASELINE" "$BASELINE_PORT" "$BASE_REHASH")"
trap 'kill $BPID $OPID 2>/dev/null || true; "$SHARED/bench/anchor-slapd/stop.sh" >/dev/null 2>&1 || true' EXIT
"$SHARED/bench/anchor-slapd/stop.sh" >/dev/null 2>&1 || true
SPID="$("$SHARED/bench/anchor-slapd/setup.sh" --users "$USERS" --hash ssha --ldif "$LDIF")"

RES="$OUT/results.jsonl"; : > "$RES"
run() { # server port pid scenario conns rep
  local line
  line="$(timeout $((DURATION + WARMUP + 30)) "$LDAPBENCH" --url "ldap://127.0.0.1:$2" --base "$BASE" \
      --scenario "$4" --conns "$5" --duration-s "$DURATION" --users "${BENCH_USERS:-$USERS}" --server-pid "$3" \
      --warmup-s "$WARMUP" \
      --label "$1" 2>/dev/null || echo '{"failed":true}')"
  printf '%s' "$line" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(server=sys.argv[1], rep=int(sys.argv[2]), scenario=d.get("scenario", sys.argv[3]), conns=d.get("conns", int(sys.argv[4]))); print(json.dumps(d))' "$1" "$6" "$4" "$5" >> "$RES"
  tail -1 "$RES" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("%-6s rep%s %-14s c=%-3s ops/s=%-9s p50=%-6s p99=%-6s err=%s" % (d["server"], d["rep"], d["scenario"], d["conns"], d.get("ops_per_s"), d.get("p50_us"), d.get("p99_us"), d.get("errors")))' >&2
}
for rep in $(seq 1 "$REPS"); do
  for sc in $SCENARIOS; do
    for c in $CONNS; do
      run birch "$BIRCH_PORT" "$BPID" "$sc" "$c" "$rep"
      [ -z "$OPID" ] || run base "$BASELINE_PORT" "$OPID" "$sc" "$c" "$rep"
      run slapd "$SLAPD_PORT" "$SPID" "$sc" "$c" "$rep"
    done
  done
done
python3 "$ROOT/bench/summarize.py" "$RES"
