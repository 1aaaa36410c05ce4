#!/usr/bin/env bash
# Soak: a bounded mixed workload against a release birch, watching for leaks.
#
#   nice -n 10 bench/soak.sh [--duration 600] [--users 2000] [--sample 5] [--out DIR]
#
# Load, all at once until the deadline: ldapbench `mixed` (searches, good binds, modifies) on
# 8 connections; a rotation of `login` (a new connection per operation: connection churn),
# `bind`, `bind-bad` (wrong passwords: expected 49s, each recorded as a failure, a write),
# `modify`, `group-members` and `search-all-paged`; and bench/soak-malformed.py (random
# bytes, oversized and non-LDAP PDUs, half requests, connect-and-close, clients that vanish).
# Every few seconds birch's VmRSS and open descriptors are sampled. At the end: the RSS trend
# after a warm-up (least-squares slope), descriptors at rest before and after, the /metrics
# counters, and what the clients saw. Writes DIR/report.md (and prints it).
#
# Needs: ../shared/bench/ldapbench built (cargo build --release there), python3. Loopback
# only; every client run is bounded by its own duration and an outer timeout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
LDAPBENCH="${LDAPBENCH:-$SHARED/bench/ldapbench/target/release/ldapbench}"
DURATION=600; USERS=2000; SAMPLE=5; OUT=/tmp/birch-soak; BASE=dc=campus,dc=example
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2;; --users) USERS="$2"; shift 2;;
    --sample) SAMPLE="$2"; shift 2;; --out) OUT="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -x "$LDAPBENCH" ] || { echo "build ldapbench first: $LDAPBENCH" >&2; exit 1; }
mkdir -p "$OUT"
LDIF="$OUT/campus-$USERS-ssha.ldif"
[ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash ssha --base "$BASE" > "$LDIF"

(cd "$ROOT" && cargo build --release -q)
BIRCH="$ROOT/target/release/birch"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port); MPORT=$(free_port)
BDIR="$OUT/birch"; rm -rf "$BDIR"; mkdir -p "$BDIR"
cat > "$BDIR/birch.toml" <<TOML
listen = "127.0.0.1:$PORT"
data_dir = "$BDIR/data"
suffix = "$BASE"
size_limit = 0
rehash_on_bind = false
[metrics]
listen = "127.0.0.1:$MPORT"
# Failed binds are recorded (a write each) but never lock: good binds of the same random
# users must keep succeeding. The rate limiter still tracks every address and DN.
[ppolicy]
max_failure = 1000000
[rate_limit]
per_address_burst = 100000000
per_address_per_minute = 100000000.0
per_dn_burst = 1000000
per_dn_per_minute = 1000000.0
TOML
"$BIRCH" import --config "$BDIR/birch.toml" "$LDIF" 2>"$BDIR/import.log"
BIRCH_ROOT_PASSWORD=admin-secret BIRCH_LOG=warn "$BIRCH" serve --config "$BDIR/birch.toml" 2>"$BDIR/serve.log" &
BPID=$!
trap 'kill $BPID 2>/dev/null || true' EXIT
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null && break; sleep 0.1; done

sample() { # elapsed-seconds phase
  local rss fds
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$BPID/status")
  fds=$(ls "/proc/$BPID/fd" | wc -l)
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$rss" "$fds" >> "$OUT/samples.tsv"
}
printf 'elapsed_s\tphase\trss_kib\tfds\n' > "$OUT/samples.tsv"
sleep 2
sample 0 rest
: > "$OUT/results.jsonl"
START=$(date +%s); END=$((START + DURATION))

bench() { # loop-label scenario conns
  local left=$((END - $(date +%s)))
  [ "$left" -ge 3 ] || return 0
  local d=$((left < 20 ? left : 20))
  timeout $((d + 30)) "$LDAPBENCH" --url "ldap://127.0.0.1:$PORT" --base "$BASE" --scenario "$2" \
      --conns "$3" --duration-s "$d" --users "$USERS" --label "$1" --max-error-rate 1 2>/dev/null \
      >> "$OUT/results.jsonl" || echo "{\"label\":\"$1\",\"scenario\":\"$2\",\"failed\":true}" >> "$OUT/results.jsonl"
}
( while [ "$(date +%s)" -lt "$END" ]; do bench steady mixed 8; done ) &
STEADY=$!
( while [ "$(date +%s)" -lt "$END" ]; do
    for sc in "login 4" "bind 4" "bind-bad 2" "modify 2" "group-members 4" "search-all-paged 1"; do
      set -- $sc; bench rotation "$1" "$2"
    done
  done ) &
ROTATION=$!
python3 "$ROOT/bench/soak-malformed.py" 127.0.0.1 "$PORT" "$DURATION" > "$OUT/malformed.json" &
MALFORMED=$!
while [ "$(date +%s)" -lt "$END" ]; do
  sample $(( $(date +%s) - START )) load
  sleep "$SAMPLE"
done
wait "$STEADY" "$ROTATION" "$MALFORMED"
# Let closed connections drain, then take the at-rest figures.
sleep 5
sample $(( $(date +%s) - START )) rest
python3 - "$MPORT" > "$OUT/metrics.txt" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
print(data.decode().split("\r\n\r\n", 1)[1], end="")
PY
kill -TERM "$BPID"
STATUS=0; wait "$BPID" || STATUS=$?
trap - EXIT
OUT="$OUT" DURATION="$DURATION" USERS="$USERS" STATUS="$STATUS" python3 - <<'PY' | tee "$OUT/report.md"
import json, os, re
out = os.environ["OUT"]
rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/samples.tsv")][1:]
samples = [(int(t), p, int(r), int(f)) for t, p, r, f in rows]
load = [s for s in samples if s[1] == "load"]
warm = max(60, int(os.environ["DURATION"]) // 10)
steady = [s for s in load if s[0] >= warm] or load
xs = [s[0] / 60 for s in steady]; ys = [s[2] for s in steady]
n = len(xs); mx = sum(xs) / n; my = sum(ys) / n
var = sum((x - mx) ** 2 for x in xs)
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
half = n // 2
first, second = ys[:half] or ys, ys[half:] or ys
rest = [s for s in samples if s[1] == "rest"]
metrics = open(f"{out}/metrics.txt").read()
ops = {}
for m in re.finditer(r'^birch_operations_total\{op="(\w+)",result="(\d+)"\} (\d+)$', metrics, re.M):
    ops[(m[1], int(m[2]))] = int(m[3])
def metric(name):
    m = re.search(rf"^{name} (\S+)$", metrics, re.M)
    return m[1] if m else "?"
runs = [json.loads(l) for l in open(f"{out}/results.jsonl") if l.strip()]
by = {}
for r in runs:
    k = r.get("scenario", "?")
    a = by.setdefault(k, {"runs": 0, "ops": 0, "errors": 0, "failed": 0, "kinds": {}})
    a["runs"] += 1
    a["failed"] += 1 if r.get("failed") else 0
    a["ops"] += r.get("ops", 0); a["errors"] += r.get("errors", 0)
    for kind, c in (r.get("error_kinds") or {}).items():
        a["kinds"][kind] = a["kinds"].get(kind, 0) + c
mal = json.loads(open(f"{out}/malformed.json").read() or "{}")
print(f"## Soak: {int(os.environ['DURATION'])} s, {os.environ['USERS']} users\n")
print("| figure | value |\n|---|---|")
print(f"| RSS at rest before load | {rest[0][2] / 1024:.1f} MiB |")
print(f"| RSS under load after {warm} s warm-up: first half mean / second half mean | "
      f"{sum(first) / len(first) / 1024:.1f} / {sum(second) / len(second) / 1024:.1f} MiB |")
print(f"| RSS under load: min / max | {min(ys) / 1024:.1f} / {max(ys) / 1024:.1f} MiB |")
print(f"| RSS trend after warm-up (least squares) | {slope:+.1f} KiB/min over {n} samples |")
print(f"| RSS at rest after load | {rest[-1][2] / 1024:.1f} MiB |")
print(f"| open descriptors at rest: before / after | {rest[0][3]} / {rest[-1][3]} |")
print(f"| open descriptors under load: max | {max(s[3] for s in load)} |")
print(f"| connections accepted | {metric('birch_connections_total')} |")
print(f"| connections open at the end | {metric('birch_connections')} |")
print(f"| panics / store errors / store failed | {metric('birch_panics_total')} / "
      f"{metric('birch_store_errors_total')} / {metric('birch_store_failed')} |")
print(f"| failed binds (counter) | {metric('birch_bind_failures_total')} |")
print(f"| exit status after SIGTERM | {os.environ['STATUS']} |\n")
print("Operations by result code (/metrics):\n")
print("| op | result | count |\n|---|---|---|")
for (op, code), c in sorted(ops.items()):
    print(f"| {op} | {code} | {c} |")
print("\nClients (ldapbench runs; errors are unexpected results seen by the client):\n")
print("| scenario | runs | ops | errors | error kinds |\n|---|---|---|---|---|")
for k, a in sorted(by.items()):
    kinds = ", ".join(f"{x}: {c}" for x, c in sorted(a["kinds"].items())) or "-"
    print(f"| {k} | {a['runs']}{' (' + str(a['failed']) + ' failed)' if a['failed'] else ''} | {a['ops']} | {a['errors']} | {kinds} |")
print(f"\nMalformed clients: {json.dumps(mal)}")
PY
