#!/usr/bin/env bash
# Memory of Birch and the reference OpenLDAP slapd side by side: RSS idle after start and
# after a short benchmark matrix, with the same generated campus data.
#
#   bench/memory.sh [--users 10000] [--duration 5] [--conns "8 32"] [--idle 5] [--rest 15]
#                   [--scenarios "search-uid login group-members search-all-paged modify mixed"]
#                   [--out DIR] [--birch BINARY] [--birch-extra TOML] [--no-slapd]
#
# Birch runs its shipped configuration (campus ACL, audit log, ppolicy, bind cache; no cache
# size given) with `size_limit = 0` (the paged walk reads every user) and
# `rehash_on_bind = false` (slapd keeps the fixture's SSHA hashes), like bench/side-by-side.sh.
# Both servers get their own ports and directories (Birch 3894, slapd 3895 under DIR), so
# other benchmarks on the machine are not disturbed. Each server is read `--idle` seconds
# after it answers (Birch twice: on its first start after the import, and restarted) and
# again `--rest` seconds after the matrix, whose runs alternate between the two servers
# (tokio ends idle blocking threads after 10 s): VmRSS, RssAnon, RssFile and AnonHugePages
# (/proc/PID/status and smaps_rollup). Prints a markdown table with the ratios;
# DIR/memory.jsonl keeps the samples.
#
# RSS does not depend on how busy the machine is the way timings do, so a shared machine
# gives usable figures; the load runs only make the servers touch what a day's traffic would.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
LDAPBENCH="${LDAPBENCH:-$SHARED/bench/ldapbench/target/release/ldapbench}"
USERS=10000; DURATION=5; CONNS="8 32"; IDLE=5; REST=15
SCENARIOS="search-uid login group-members search-all-paged modify mixed"
OUT=/tmp/birch-memory; BIRCH=""; BIRCH_EXTRA=""; SLAPD=1
BIRCH_PORT=3894; SLAPD_PORT=3895; BASE=dc=campus,dc=example
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2;; --duration) DURATION="$2"; shift 2;;
    --conns) CONNS="$2"; shift 2;; --idle) IDLE="$2"; shift 2;; --rest) REST="$2"; shift 2;;
    --scenarios) SCENARIOS="$2"; shift 2;; --out) OUT="$2"; shift 2;;
    --birch) BIRCH="$2"; shift 2;; --birch-extra) BIRCH_EXTRA="$2"; shift 2;;
    --no-slapd) SLAPD=0; shift;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -x "$LDAPBENCH" ] || { echo "build ldapbench first: $LDAPBENCH" >&2; exit 1; }
mkdir -p "$OUT"
LDIF="$OUT/campus-$USERS-ssha.ldif"
[ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash ssha --base "$BASE" > "$LDIF"
if [ -z "$BIRCH" ]; then
  (cd "$ROOT" && cargo build --release -q -p birch-server --bin birch)
  BIRCH="${CARGO_TARGET_DIR:-$ROOT/target}/release/birch"
fi

dir="$OUT/birch"; rm -rf "$dir"; mkdir -p "$dir"
cat > "$dir/birch.toml" <<TOML
listen = "127.0.0.1:$BIRCH_PORT"
data_dir = "$dir/data"
suffix = "$BASE"
size_limit = 0
rehash_on_bind = false
$BIRCH_EXTRA
TOML
"$BIRCH" import --config "$dir/birch.toml" "$LDIF" 2>"$dir/import.log"
SLAPD_DIR="$OUT/slapd"; SPID=""
RES="$OUT/memory.jsonl"; : > "$RES"; BPID=""
trap 'kill $BPID 2>/dev/null || true; [ "$SLAPD" = 0 ] || "$SHARED/bench/anchor-slapd/stop.sh" --dir "$SLAPD_DIR" >/dev/null 2>&1 || true' EXIT
# start_birch: serves the imported store; sets BPID once it answers.
start_birch() {
  BIRCH_ROOT_PASSWORD=admin-secret BIRCH_LOG=warn "$BIRCH" serve --config "$dir/birch.toml" >/dev/null 2>>"$dir/serve.log" &
  BPID=$!
  for _ in $(seq 300); do ldapsearch -x -H "ldap://127.0.0.1:$BIRCH_PORT" -b "" -s base >/dev/null 2>&1 && break; sleep 0.1; done
}
if [ "$SLAPD" = 1 ]; then
  "$SHARED/bench/anchor-slapd/stop.sh" --dir "$SLAPD_DIR" >/dev/null 2>&1 || true
  SPID="$("$SHARED/bench/anchor-slapd/setup.sh" --users "$USERS" --hash ssha --ldif "$LDIF" --dir "$SLAPD_DIR" --port "$SLAPD_PORT")"
fi

# sample SERVER PID WHEN: one JSON line of the process's memory figures (KiB).
sample() {
  python3 - "$1" "$2" "$3" "$USERS" >> "$RES" <<'PY'
import json, sys
server, pid, when, users = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
d = {"server": server, "when": when, "users": users}
for path, keys in ((f"/proc/{pid}/status", ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads")),
                   (f"/proc/{pid}/smaps_rollup", ("AnonHugePages",))):
    for line in open(path):
        k, _, v = line.partition(":")
        if k in keys:
            d[k.lower() if k == "Threads" else k + "_kib"] = int(v.split()[0])
print(json.dumps(d))
PY
  tail -1 "$RES" >&2
}
# The first start after an import stores the root password and holds a few MiB more for
# good ("first"); the figures are those of a restarted server, as a running campus has.
start_birch
sleep "$IDLE"
sample birch "$BPID" first
kill "$BPID"; wait "$BPID" 2>/dev/null || true
start_birch
sleep "$IDLE"
sample birch "$BPID" idle
[ -z "$SPID" ] || sample slapd "$SPID" idle
for sc in $SCENARIOS; do
  for c in $CONNS; do
    for s in birch slapd; do
      if [ "$s" = birch ]; then port=$BIRCH_PORT; pid=$BPID; else port=$SLAPD_PORT; pid=$SPID; fi
      [ -n "$pid" ] || continue
      timeout $((DURATION + 30)) "$LDAPBENCH" --url "ldap://127.0.0.1:$port" --base "$BASE" --scenario "$sc" \
        --conns "$c" --duration-s "$DURATION" --users "$USERS" --server-pid "$pid" --label "$s" 2>/dev/null |
        python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("%-6s %-16s c=%-3s ops/s=%-9s err=%s rss=%s KiB" % (sys.argv[1], d.get("scenario"), d.get("conns"), d.get("ops_per_s"), d.get("errors"), d.get("server_rss_kib")))' "$s" >&2 || true
    done
  done
done
sleep "$REST"
sample birch "$BPID" after
[ -z "$SPID" ] || sample slapd "$SPID" after
python3 - "$RES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
get = {(r["server"], r["when"]): r for r in rows}
mib = lambda r, k: "%.1f" % (r[k] / 1024) if r and k in r else "—"
print(f"| {rows[0]['users']:,} users | Birch VmRSS (anon / file) | slapd VmRSS (anon / file) | Birch ÷ slapd |")
print("|---|---|---|---|")
for when, label in (("first", "first start after the import"), ("idle", "idle (restarted)"), ("after", "after the matrix")):
    b, s = get.get(("birch", when)), get.get(("slapd", "idle" if when == "first" else when))
    ratio = "%.2f" % (b["VmRSS_kib"] / s["VmRSS_kib"]) if b and s else "—"
    print(f"| {label} | {mib(b, 'VmRSS_kib')} MiB ({mib(b, 'RssAnon_kib')} / {mib(b, 'RssFile_kib')}) | "
          f"{mib(s, 'VmRSS_kib')} MiB ({mib(s, 'RssAnon_kib')} / {mib(s, 'RssFile_kib')}) | {ratio} |")
PY
