#!/usr/bin/env bash
# Replication benchmark: initial refresh of a large directory into an empty Birch replica,
# the refresh after a reconnection (present phase), and the lag from the provider's
# acknowledgement of a change to its visibility on the replica.
#
#   bench/replication.sh [--users 100000] [--changes 200] [--out DIR]
#
# Needs a release build (cargo build --release --bin birch --example replag), python3 for
# the campus generator in ../shared and ldap-utils. Two birch processes on 127.0.0.1
# (ports 3401/3402); every wait is bounded.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
BIN="$ROOT/target/release/birch"
REPLAG="$ROOT/target/release/examples/replag"
USERS=100000; CHANGES=200; OUT=/tmp/birch-repl-bench
BASE=dc=campus,dc=example; ROOTDN="cn=admin,$BASE"; PW=bench-secret
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2;; --changes) CHANGES="$2"; shift 2;; --out) OUT="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -x "$BIN" ] && [ -x "$REPLAG" ] || { echo "build first: cargo build --release --bin birch --example replag" >&2; exit 1; }
mkdir -p "$OUT"
LDIF="$OUT/campus-$USERS-ssha.ldif"
[ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash ssha --base "$BASE" > "$LDIF"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
conf() { # name port extra
  cat > "$OUT/$1.toml" <<TOML
listen = "127.0.0.1:$2"
data_dir = "$OUT/$1-data"
suffix = "$BASE"
cache_mb = 512
[limits]
anonymous = 0
$3
TOML
}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start() { # name -> pid; waits for the listener
  BIRCH_ROOT_PASSWORD=$PW BIRCH_LOG=info "$BIN" serve --config "$OUT/$1.toml" >>"$OUT/$1.log" 2>&1 &
  local pid=$!; PIDS+=("$pid"); echo "$pid" > "$OUT/$1.pid"
  for _ in $(seq 1 600); do
    ldapsearch -x -H "ldap://127.0.0.1:$2" -s base -b "" 1.1 >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "$1 did not start" >&2; exit 1
}
wait_refresh() { # log-file count -> waits until the log shows COUNT completed refreshes
  for _ in $(seq 1 12000); do
    [ "$(grep -c 'refresh complete' "$1" 2>/dev/null || true)" -ge "$2" ] && return 0
    sleep 0.05
  done
  echo "no refresh within 600 s" >&2; exit 1
}
entries() { ldapsearch -x -H "ldap://127.0.0.1:$1" -D "$ROOTDN" -w $PW -b "cn=Entries,cn=Statistics,cn=Monitor" -s base -LLL monitorCounter | awk '/monitorCounter/ {print $2}'; }

rm -rf "$OUT"/provider-data "$OUT"/replica-data "$OUT"/*.log
conf provider 3401 "[replication]
server_id = 1"
conf replica 3402 "[replication]
server_id = 2
provider = \"ldap://127.0.0.1:3401\"
bind_dn = \"$ROOTDN\"
bind_password = \"$PW\""
t0=$(now); BIRCH_ROOT_PASSWORD=$PW "$BIN" import --config "$OUT/provider.toml" "$LDIF" >/dev/null 2>&1; t1=$(now)
echo "import into the provider: $(secs "$t0" "$t1") s"
start provider 3401
n=$(entries 3401)
t0=$(now); start replica 3402; wait_refresh "$OUT/replica.log" 1; t1=$(now)
echo "initial refresh: $n entries in $(secs "$t0" "$t1") s (replica start to refresh complete; replica holds $(entries 3402))"
target=$(grep -m1 '^dn: uid=' "$LDIF" | cut -c5-)
echo "lag ($CHANGES sequential modifies of $target):"
"$REPLAG" ldap://127.0.0.1:3401 ldap://127.0.0.1:3402 "$ROOTDN" $PW "$target" "$CHANGES"
# A reconnection after changes: the present phase (changed entries whole, the rest present).
kill "$(cat "$OUT/replica.pid")"; sleep 1
for i in $(seq 1 100); do printf 'dn: %s\nchangetype: modify\nreplace: description\ndescription: offline %s\n\n' "$target" "$i"; done \
  | ldapmodify -x -H ldap://127.0.0.1:3401 -D "$ROOTDN" -w $PW >/dev/null
t0=$(now); start replica 3402; wait_refresh "$OUT/replica.log" 2; t1=$(now)
echo "refresh after a reconnection (present phase over $n entries): $(secs "$t0" "$t1") s"
# A replica seeded from an export of the provider (`birch export` needs the provider
# stopped for a moment): its first, full refresh finds every entry already as sent and writes
# nothing.
kill "$(cat "$OUT/replica.pid")"; kill "$(cat "$OUT/provider.pid")"; sleep 2
BIRCH_ROOT_PASSWORD=$PW "$BIN" export --config "$OUT/provider.toml" -o "$OUT/export.ldif" >/dev/null 2>&1
start provider 3401
rm -rf "$OUT/replica-data"
t0=$(now); BIRCH_ROOT_PASSWORD=$PW "$BIN" import --config "$OUT/replica.toml" "$OUT/export.ldif" >/dev/null 2>&1; t1=$(now)
start replica 3402; wait_refresh "$OUT/replica.log" 3; t2=$(now)
echo "seeded replica: import of the export $(secs "$t0" "$t1") s, then its first (full) refresh $(secs "$t1" "$t2") s"
