#!/usr/bin/env bash
# The resource attacks of issue 23 (items 1, 2, 3, 4, 6, 7, 8; see docs/security.md, "Resource
# limits against anonymous clients") against `birch serve --demo`: RSS before / during /
# after each attack and the latency of a root bind while it holds its resources.
#
#   bench/attacks.sh [--scale small|issue] [--out DIR]
#
# BIRCH=path/to/birch uses that binary (e.g. an older build, for a before/after table);
# otherwise the release build of this tree. Two servers run one after the other, on
# loopback: the demo campus as shipped (feed, memo, paged, partial), and the demo with
# `anonymous_posix = true` (persist: anonymous clients may search, so their sync searches
# reach the persist stage). Prints one JSON line per attack (bench/attacks.py) and keeps
# them in DIR/results.jsonl. Every run is bounded in time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCALE=small; OUT=/tmp/birch-attacks; PORT=3394
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2;; --out) OUT="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
if [ -z "${BIRCH:-}" ]; then (cd "$ROOT" && cargo build --release -q -p birch-server); BIRCH="${CARGO_TARGET_DIR:-$ROOT/target}/release/birch"; fi
mkdir -p "$OUT"; : > "$OUT/results.jsonl"
export BIRCH_ROOT_PASSWORD=admin-secret
run() { # label extra-config attacks...
  local label="$1" extra="$2"; shift 2
  local dir="$OUT/$label"; rm -rf "$dir"; mkdir -p "$dir"
  printf 'listen = "127.0.0.1:%s"\ndata_dir = "%s/data"\nsuffix = "dc=example,dc=org"\n%b\n' "$PORT" "$dir" "$extra" > "$dir/birch.toml"
  BIRCH_LOG=warn "$BIRCH" serve --demo --config "$dir/birch.toml" 2>"$dir/serve.log" &
  local pid=$!
  for _ in $(seq 1200); do ldapsearch -x -H "ldap://127.0.0.1:$PORT" -b "" -s base >/dev/null 2>&1 && break; sleep 0.1; done
  local only=(); for a in "$@"; do only+=(--only "$a"); done
  timeout 900 python3 "$ROOT/bench/attacks.py" 127.0.0.1 "$PORT" "$pid" --scale "$SCALE" "${only[@]}" \
    | python3 -c 'import json,sys
for l in sys.stdin:
    d = json.loads(l); d["server"] = sys.argv[1]; print(json.dumps(d), flush=True)' "$label" \
    | tee -a "$OUT/results.jsonl" || true
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
}
run demo "" feed memo paged partial hashing values
run anonymous-posix '[access]\nanonymous_posix = true' persist
