#!/usr/bin/env bash
# Scale curve: the same scenarios against Birch loaded with growing campus fixtures (SSHA),
# runs alternating between the sizes so that a noisy machine hurts every size alike.
#
#   bench/scale.sh [--sizes "10000 100000 1000000"] [--reps 3] [--duration 5] [--conns 8]
#                  [--scenarios "search-uid login"] [--out /tmp/birch-scale] [--reuse]
#
# For each size N: DIR/campus-N-ssha.ldif (generated if missing; 1M users take ~4 min and
# 0.9 GB), imported into DIR/bN under /usr/bin/time -v (import wall time, CPU, peak RSS;
# --reuse keeps an existing DIR/bN instead), data size on disk (du). Then one server per size
# (ports 3401, 3402, ...), all started before the runs: start-up time to the first rootDSE
# answer, VmRSS at that moment and 10 s later (idle), the time of a cn=Monitor read (it
# counts the entries). Then REPS rounds, each running every scenario against every size in
# turn. Writes DIR/scale.jsonl and prints markdown tables of medians. Loopback only; every
# run bounded. BIRCH=path/to/birch uses that binary as is (no cargo build).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
LDAPBENCH="${LDAPBENCH:-$SHARED/bench/ldapbench/target/release/ldapbench}"
SIZES="10000 100000 1000000"; REPS=3; DURATION=5; CONNS=8; SCENARIOS="search-uid login"
OUT=/tmp/birch-scale; REUSE=0; BASE=dc=campus,dc=example
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES="$2"; shift 2;; --reps) REPS="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;; --conns) CONNS="$2"; shift 2;;
    --scenarios) SCENARIOS="$2"; shift 2;; --out) OUT="$2"; shift 2;;
    --reuse) REUSE=1; shift;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -x "$LDAPBENCH" ] || { echo "build ldapbench first: $LDAPBENCH" >&2; exit 1; }
if [ -z "${BIRCH:-}" ]; then (cd "$ROOT" && cargo build --release -q); BIRCH="$ROOT/target/release/birch"; fi
mkdir -p "$OUT"
RES="$OUT/scale.jsonl"; : > "$RES"
declare -A PORT PID
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
i=0
for n in $SIZES; do
  i=$((i + 1)); PORT[$n]=$((3400 + i))
  LDIF="$OUT/campus-$n-ssha.ldif"
  [ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$n" --hash ssha --base "$BASE" > "$LDIF"
  cat > "$OUT/b$n.toml" <<TOML
listen = "127.0.0.1:${PORT[$n]}"
data_dir = "$OUT/b$n"
suffix = "$BASE"
size_limit = 0
rehash_on_bind = false
TOML
  if [ "$REUSE" = 0 ] || [ ! -d "$OUT/b$n" ]; then
    rm -rf "$OUT/b$n"
    /usr/bin/time -v "$BIRCH" import --config "$OUT/b$n.toml" "$LDIF" > "$OUT/import-$n.log" 2> "$OUT/import-$n.time"
  fi
  # The import's figures (also those of an earlier import kept with --reuse).
  [ ! -s "$OUT/import-$n.time" ] || python3 - "$n" "$OUT/import-$n.time" >> "$RES" <<'PY'
import json, re, sys
t = open(sys.argv[2]).read()
g = lambda pat: re.search(pat, t).group(1)
wall = g(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)").split(":")
wall_s = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
print(json.dumps({"kind": "import", "users": int(sys.argv[1]), "wall_s": round(wall_s, 2),
                  "user_s": float(g(r"User time \(seconds\): (\S+)")), "sys_s": float(g(r"System time \(seconds\): (\S+)")),
                  "peak_rss_kib": int(g(r"Maximum resident set size \(kbytes\): (\d+)"))}))
PY
  echo "{\"kind\":\"disk\",\"users\":$n,\"kib\":$(du -sk "$OUT/b$n" | cut -f1)}" >> "$RES"
done
for n in $SIZES; do
  start=$(date +%s%N)
  BIRCH_ROOT_PASSWORD=admin-secret BIRCH_LOG=warn "$BIRCH" serve --config "$OUT/b$n.toml" 2>"$OUT/serve-$n.log" &
  PID[$n]=$!; PIDS+=("${PID[$n]}")
  for _ in $(seq 3000); do
    ldapsearch -x -H "ldap://127.0.0.1:${PORT[$n]}" -b "" -s base >/dev/null 2>&1 && break; sleep 0.1
  done
  ready=$(date +%s%N); r0=$(rss "${PID[$n]}")
  sleep 10; r10=$(rss "${PID[$n]}")
  m0=$(date +%s%N)
  ldapsearch -x -H "ldap://127.0.0.1:${PORT[$n]}" -D "cn=admin,$BASE" -w admin-secret -b "cn=Entries,cn=Statistics,cn=Monitor" -s base >/dev/null
  m1=$(date +%s%N)
  echo "{\"kind\":\"start\",\"users\":$n,\"start_s\":$(( (ready - start) / 1000000 ))e-3,\"rss_ready_kib\":$r0,\"rss_idle10_kib\":$r10,\"monitor_read_ms\":$(( (m1 - m0) / 1000000 ))}" >> "$RES"
  tail -1 "$RES" >&2
done
for rep in $(seq 1 "$REPS"); do
  for sc in $SCENARIOS; do
    for n in $SIZES; do
      line="$(timeout $((DURATION + 30)) "$LDAPBENCH" --url "ldap://127.0.0.1:${PORT[$n]}" --base "$BASE" \
        --scenario "$sc" --conns "$CONNS" --duration-s "$DURATION" --users "$n" --server-pid "${PID[$n]}" \
        2>/dev/null || echo '{"failed":true}')"
      printf '%s' "$line" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(kind="run", users=int(sys.argv[1]), rep=int(sys.argv[2]), scenario=sys.argv[3]); print(json.dumps(d))' "$n" "$rep" "$sc" >> "$RES"
      tail -1 "$RES" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("rep%s %-10s n=%-8s ops/s=%-9s p50=%-6s p99=%-6s err=%s srv_cpu=%s%% rss=%s" % (d["rep"], d["scenario"], d["users"], d.get("ops_per_s"), d.get("p50_us"), d.get("p99_us"), d.get("errors"), d.get("server_cpu_pct"), d.get("server_rss_kib")))' >&2
    done
  done
done
python3 - "$RES" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sizes = sorted({r["users"] for r in rows if "users" in r})
med = lambda xs: statistics.median(xs) if xs else float("nan")
print("| users | import wall | import CPU (user+sys) | import peak RSS | data on disk | start-up | VmRSS at start | VmRSS idle +10 s | cn=Monitor entry count read |")
print("|---|---|---|---|---|---|---|---|---|")
for n in sizes:
    im = next((r for r in rows if r["kind"] == "import" and r["users"] == n), {})
    dk = next((r for r in rows if r["kind"] == "disk" and r["users"] == n), {})
    st = next((r for r in rows if r["kind"] == "start" and r["users"] == n), {})
    f = lambda v, fmt: fmt % v if v is not None else "–"
    cpu = im["user_s"] + im["sys_s"] if im else None
    mib = lambda d, k: d[k] / 1024 if k in d else None
    print(f"| {n:,} | {f(im.get('wall_s'), '%.1f s')} | {f(cpu, '%.1f s')} | {f(mib(im, 'peak_rss_kib'), '%.0f MiB')} | "
          f"{f(mib(dk, 'kib'), '%.0f MiB')} | {f(st.get('start_s'), '%.2f s')} | {f(mib(st, 'rss_ready_kib'), '%.1f MiB')} | "
          f"{f(mib(st, 'rss_idle10_kib'), '%.1f MiB')} | {f(st.get('monitor_read_ms'), '%d ms')} |")
print()
print("| scenario | users | ops/s (median) | runs | vs smallest | p50 µs | p99 µs | server CPU µs/op | errors |")
print("|---|---|---|---|---|---|---|---|---|")
for sc in sorted({r["scenario"] for r in rows if r["kind"] == "run"}):
    base = None
    for n in sizes:
        rs = [r for r in rows if r["kind"] == "run" and r["scenario"] == sc and r["users"] == n and "ops_per_s" in r]
        if not rs:
            continue
        ops = med([r["ops_per_s"] for r in rs])
        base = base or ops
        cpu = med([r["server_cpu_s"] * 1e6 / r["ops"] for r in rs if r.get("server_cpu_s") and r.get("ops")])
        runs = " / ".join("%.0f" % r["ops_per_s"] for r in rs)
        print(f"| {sc} | {n:,} | {ops:,.0f} | {runs} | {ops / base:.2f} | {med([r['p50_us'] for r in rs]):.0f} | "
              f"{med([r['p99_us'] for r in rs]):.0f} | {cpu:.1f} | {sum(r.get('errors', 0) for r in rs)} |")
PY
