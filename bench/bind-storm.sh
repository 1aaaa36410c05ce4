#!/usr/bin/env bash
# Search latency with and without a concurrent argon2 bind storm, Birch and the reference
# OpenLDAP slapd side by side (same fixture, same hash parameters, same load generator).
#
#   bench/bind-storm.sh [--users 2000] [--duration 10] [--search-conns 8] [--bind-conns 32]
#                       [--out DIR]
#
# For each server: search-uid alone; then search-uid while the bind scenario (argon2
# accounts, right passwords) runs on other connections. Prints a markdown table of search
# p50/p99 and the bind rate, then a table of each server's memory (/proc/PID/status) before
# the load and right after the storm ends: VmRSS, VmHWM (peak RSS since the process started,
# start-up included) and VmRSS split into RssAnon (heap) and RssFile (mapped files: slapd's
# back-mdb map counts here), and VmRSS again after 15 s of rest (tokio retires idle blocking
# threads after 10 s, and with them the argon2 working memory their heaps kept). Needs:
# ldapbench built, slapd + ldap-utils, and `pip install argon2-cffi` for the argon2 fixture.
# Loopback only; every run is bounded.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
LDAPBENCH="${LDAPBENCH:-$SHARED/bench/ldapbench/target/release/ldapbench}"
USERS=2000; DURATION=10; SC=8; BC=32; OUT=/tmp/birch-bind-storm
BIRCH_PORT=3392; SLAPD_PORT=3891; BASE=dc=campus,dc=example
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2;; --duration) DURATION="$2"; shift 2;;
    --search-conns) SC="$2"; shift 2;; --bind-conns) BC="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -x "$LDAPBENCH" ] || { echo "build ldapbench first: $LDAPBENCH" >&2; exit 1; }
mkdir -p "$OUT"
LDIF="$OUT/campus-$USERS-argon2.ldif"
[ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash argon2 --base "$BASE" > "$LDIF"

# BIRCH=path/to/birch uses that binary as is (no cargo build).
if [ -z "${BIRCH:-}" ]; then (cd "$ROOT" && cargo build --release -q); BIRCH="$ROOT/target/release/birch"; fi
BDIR="$OUT/birch"; rm -rf "$BDIR"; mkdir -p "$BDIR"
cat > "$BDIR/birch.toml" <<TOML
listen = "127.0.0.1:$BIRCH_PORT"
data_dir = "$BDIR/data"
suffix = "$BASE"
size_limit = 0
TOML
"$BIRCH" import --config "$BDIR/birch.toml" "$LDIF" 2>"$BDIR/import.log"
BIRCH_ROOT_PASSWORD=admin-secret BIRCH_LOG=warn "$BIRCH" serve --config "$BDIR/birch.toml" 2>"$BDIR/serve.log" &
BPID=$!
trap 'kill $BPID 2>/dev/null || true; "$SHARED/bench/anchor-slapd/stop.sh" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 100); do ldapsearch -x -H "ldap://127.0.0.1:$BIRCH_PORT" -b "" -s base >/dev/null 2>&1 && break; sleep 0.1; done
"$SHARED/bench/anchor-slapd/stop.sh" >/dev/null 2>&1 || true
SPID="$("$SHARED/bench/anchor-slapd/setup.sh" --users "$USERS" --hash argon2 --ldif "$LDIF")"

RES="$OUT/results.jsonl"; : > "$RES"
bench() { # label port pid scenario conns
  timeout $((DURATION + 30)) "$LDAPBENCH" --url "ldap://127.0.0.1:$2" --base "$BASE" --scenario "$4" \
    --conns "$5" --duration-s "$DURATION" --users "$USERS" --server-pid "$3" --label "$1" 2>/dev/null \
    || echo '{"failed":true}'
}
mem() { # server phase pid: one JSON line of /proc/PID/status memory figures, KiB
  python3 -c 'import json,sys
f = dict(l.split(":", 1) for l in open("/proc/%s/status" % sys.argv[3]) if ":" in l)
d = {k + "_kib": int(f[k].split()[0]) for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
d.update(server=sys.argv[1], phase=sys.argv[2]); print(json.dumps(d))' "$@"
}
tag() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(server=sys.argv[1], phase=sys.argv[2]); print(json.dumps(d))' "$1" "$2"; }
for server in birch slapd; do
  if [ "$server" = birch ]; then port=$BIRCH_PORT; pid=$BPID; else port=$SLAPD_PORT; pid=$SPID; fi
  mem "$server" mem-before "$pid" >> "$RES"
  bench "$server" "$port" "$pid" search-uid "$SC" | tag "$server" alone >> "$RES"
  bench "$server" "$port" "$pid" bind "$BC" > "$OUT/binds.json" &
  BIND_JOB=$!
  sleep 1
  bench "$server" "$port" "$pid" search-uid "$SC" | tag "$server" storm >> "$RES"
  wait "$BIND_JOB" || true
  mem "$server" mem-after "$pid" >> "$RES"
  sleep 15
  mem "$server" mem-rest "$pid" >> "$RES"
  tag "$server" binds < "$OUT/binds.json" >> "$RES"
done
python3 - "$RES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
get = lambda s, p: next((r for r in rows if r.get("server") == s and r.get("phase") == p), {})
print("| server | search p50 alone | search p99 alone | search p50 in storm | search p99 in storm | searches/s in storm | argon2 binds/s |")
print("|---|---|---|---|---|---|---|")
for s in ("birch", "slapd"):
    a, st, b = get(s, "alone"), get(s, "storm"), get(s, "binds")
    ms = lambda r, k: "%.2f ms" % (r[k] / 1000) if k in r else "n/a"
    print(f"| {s} | {ms(a,'p50_us')} | {ms(a,'p99_us')} | {ms(st,'p50_us')} | {ms(st,'p99_us')} | {st.get('ops_per_s','n/a')} | {b.get('ops_per_s','n/a')} |")
print()
print("| server | VmRSS before load | VmRSS after storm | VmHWM (peak) | RssAnon after | RssFile after | VmRSS 15 s later |")
print("|---|---|---|---|---|---|---|")
mib = lambda r, k: "%.1f MiB" % (r[k] / 1024) if k in r else "n/a"
for s in ("birch", "slapd"):
    m0, m1, m2 = get(s, "mem-before"), get(s, "mem-after"), get(s, "mem-rest")
    print(f"| {s} | {mib(m0,'VmRSS_kib')} | {mib(m1,'VmRSS_kib')} | {mib(m1,'VmHWM_kib')} | {mib(m1,'RssAnon_kib')} | {mib(m1,'RssFile_kib')} | {mib(m2,'VmRSS_kib')} |")
print()
for phase, what in (("mem-after", "right after the storm"), ("mem-rest", "15 s later")):
    b, s = get("birch", phase), get("slapd", phase)
    if b.get("VmRSS_kib") and s.get("VmRSS_kib"):
        print("VmRSS %s, Birch / slapd: %.2f" % (what, b["VmRSS_kib"] / s["VmRSS_kib"]))
PY
