#!/usr/bin/env bash
# Multi-provider replication under load (issue #28 item 7): two writable Birch servers that
# follow each other, against one alone.
#
#   bench/multiprovider.sh [--users 10000] [--duration 10] [--conns 8] [--changes 100] [--out DIR]
#
# Measures, with ldapbench (LDAPBENCH, as bench/side-by-side.sh finds it) and the replag probe:
#   1. lag A -> B and B -> A with the servers otherwise idle;
#   2. lag A -> B while ldapbench runs `mixed` against A;
#   3. modify throughput: one server alone; A while B follows it; A and B written at once
#      (the sum), all with the same connection count.
# Needs a release build (cargo build --release --bin birch --example replag), python3 for the
# campus generator in ../shared and ldap-utils. Three birch processes on 127.0.0.1
# (ports 3421-3423); every wait and run is bounded.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
LDAPBENCH="${LDAPBENCH:-$SHARED/bench/ldapbench/target/release/ldapbench}"
BIN="$ROOT/target/release/birch"
REPLAG="$ROOT/target/release/examples/replag"
USERS=10000; DURATION=10; CONNS=8; CHANGES=100; OUT=/tmp/birch-multiprovider
BASE=dc=campus,dc=example; ROOTDN="cn=admin,$BASE"; PW=admin-secret  # ldapbench's --admin-pw default
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2;; --duration) DURATION="$2"; shift 2;;
    --conns) CONNS="$2"; shift 2;; --changes) CHANGES="$2"; shift 2;; --out) OUT="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -x "$BIN" ] && [ -x "$REPLAG" ] || { echo "build first: cargo build --release --bin birch --example replag" >&2; exit 1; }
[ -x "$LDAPBENCH" ] || { echo "build ldapbench first: $LDAPBENCH" >&2; exit 1; }
mkdir -p "$OUT"
LDIF="$OUT/campus-$USERS-ssha.ldif"
[ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash ssha --base "$BASE" > "$LDIF"
conf() { # name port extra
  cat > "$OUT/$1.toml" <<TOML
listen = "127.0.0.1:$2"
data_dir = "$OUT/$1-data"
suffix = "$BASE"
size_limit = 0
rehash_on_bind = false
$3
TOML
}
peer() { # sid peer-port
  printf '[replication]\nserver_id = %s\n[[replication.providers]]\nurl = "ldap://127.0.0.1:%s"\nbind_dn = "%s"\nbind_password = "%s"\n' \
    "$1" "$2" "$ROOTDN" "$PW"
}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start() { # name port -> waits for the listener; the pid goes to $OUT/name.pid
  BIRCH_ROOT_PASSWORD=$PW BIRCH_LOG=info "$BIN" serve --config "$OUT/$1.toml" >>"$OUT/$1.log" 2>&1 &
  local pid=$!; PIDS+=("$pid"); echo "$pid" > "$OUT/$1.pid"
  for _ in $(seq 1 600); do
    ldapsearch -x -H "ldap://127.0.0.1:$2" -s base -b "" 1.1 >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "$1 did not start" >&2; exit 1
}
count() { ldapsearch -x -H "ldap://127.0.0.1:$1" -D "$ROOTDN" -w $PW -b "cn=Entries,cn=Statistics,cn=Monitor" -s base -LLL monitorCounter | awk '/monitorCounter/ {print $2}'; }
bench() { # port pid scenario label -> one JSON line
  timeout $((DURATION + 30)) "$LDAPBENCH" --url "ldap://127.0.0.1:$1" --base "$BASE" --scenario "$3" \
    --conns "$CONNS" --duration-s "$DURATION" --users "$USERS" --server-pid "$2" --label "$4" 2>/dev/null \
    || echo '{"failed":true}'
}
ops() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get("ops_per_s", 0))'; }

rm -rf "$OUT"/a-data "$OUT"/b-data "$OUT"/solo-data "$OUT"/*.log
conf a 3421 "$(peer 1 3422)"
conf b 3422 "$(peer 2 3421)"
conf solo 3423 ""
BIRCH_ROOT_PASSWORD=$PW "$BIN" import --config "$OUT/a.toml" "$LDIF" >/dev/null 2>&1
BIRCH_ROOT_PASSWORD=$PW "$BIN" import --config "$OUT/solo.toml" "$LDIF" >/dev/null 2>&1
start a 3421
start b 3422
want=$(count 3421)
for _ in $(seq 1 1200); do [ "$(count 3422 || echo 0)" = "$want" ] && break; sleep 0.1; done
echo "B refreshed from A: $(count 3422) of $want entries"
start solo 3423
target=$(grep -m1 '^dn: uid=' "$LDIF" | cut -c5-)
echo "lag A -> B, idle: $("$REPLAG" ldap://127.0.0.1:3421 ldap://127.0.0.1:3422 "$ROOTDN" $PW "$target" "$CHANGES")"
echo "lag B -> A, idle: $("$REPLAG" ldap://127.0.0.1:3422 ldap://127.0.0.1:3421 "$ROOTDN" $PW "$target" "$CHANGES")"
bench 3421 "$(cat "$OUT/a.pid")" mixed mixed-on-a > "$OUT/mixed.json" &
load=$!
sleep 1
echo "lag A -> B, during mixed on A: $("$REPLAG" ldap://127.0.0.1:3421 ldap://127.0.0.1:3422 "$ROOTDN" $PW "$target" "$CHANGES")"
wait "$load"
echo "mixed on A meanwhile: $(ops < "$OUT/mixed.json") ops/s, error rate $(python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get("error_rate"))' < "$OUT/mixed.json")"
solo=$(bench 3423 "$(cat "$OUT/solo.pid")" modify solo | ops)
followed=$(bench 3421 "$(cat "$OUT/a.pid")" modify a-followed | ops)
bench 3421 "$(cat "$OUT/a.pid")" modify both-a > "$OUT/both-a.json" &
load=$!
bench 3422 "$(cat "$OUT/b.pid")" modify both-b > "$OUT/both-b.json"
wait "$load"
both=$(python3 -c 'import sys; print(float(sys.argv[1]) + float(sys.argv[2]))' "$(ops < "$OUT/both-a.json")" "$(ops < "$OUT/both-b.json")")
echo "modify ($CONNS connections each): one server alone $solo/s; A while B follows $followed/s; A and B at once $both/s in all"
for _ in $(seq 1 300); do
  a=$(ldapsearch -x -H ldap://127.0.0.1:3421 -D "$ROOTDN" -w $PW -b "$BASE" -s base -LLL contextCSN | sort | md5sum)
  b=$(ldapsearch -x -H ldap://127.0.0.1:3422 -D "$ROOTDN" -w $PW -b "$BASE" -s base -LLL contextCSN | sort | md5sum)
  [ "$a" = "$b" ] && break; sleep 0.1
done
echo "contextCSN sets equal after the load: $([ "$a" = "$b" ] && echo yes || echo no)"
