#!/usr/bin/env bash
# The web pages under load (issue 26, item 7): how much LDAP throughput 50 concurrent web
# sessions cost, and how fast the pages answer meanwhile.
#
#   bench/web-load.sh [--users 10000] [--duration 10] [--sessions 50] [--conns 8] [--out DIR]
#
# Starts a release Birch on the generated campus (../shared/fixtures/gen_campus_ldif.py,
# SSHA hashes: each web user's first login rehashes it to argon2id, later ones verify
# argon2id with the default parameters) with the web listener on loopback, then runs
# ldapbench search-uid alone, and again while bench/webload.py keeps --sessions web sessions
# looping log in → /account ×3 → (every other loop) log out. Prints search-uid ops/s alone
# and under the web load (ratio), the web figures (pages/s, page p50/p99; logins and /account
# views apart), and one JSON line with all of it. Everything listens on 127.0.0.1; every run
# is bounded by --duration and an outer timeout.
#
# Needs: ldapbench (LDAPBENCH, default ../shared/bench/ldapbench/target/release/ldapbench:
# cargo build --release there), ldap-utils, python3. BIRCH=path skips the release build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
LDAPBENCH="${LDAPBENCH:-$SHARED/bench/ldapbench/target/release/ldapbench}"
USERS=10000; DURATION=10; SESSIONS=50; CONNS=8; OUT=/tmp/birch-web-load
LDAP_PORT=3393; WEB_PORT=8393; BASE=dc=campus,dc=example
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2;; --duration) DURATION="$2"; shift 2;;
    --sessions) SESSIONS="$2"; shift 2;; --conns) CONNS="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
[ -x "$LDAPBENCH" ] || { echo "build ldapbench first: $LDAPBENCH" >&2; exit 1; }
[ "$SESSIONS" -le "$USERS" ] || { echo "--sessions must not exceed --users" >&2; exit 2; }
mkdir -p "$OUT"
LDIF="$OUT/campus-$USERS-ssha.ldif"
[ -s "$LDIF" ] || python3 "$SHARED/fixtures/gen_campus_ldif.py" --users "$USERS" --hash ssha --base "$BASE" > "$LDIF"

if [ -z "${BIRCH:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p birch-server --bin birch)
  BIRCH="${CARGO_TARGET_DIR:-$ROOT/target}/release/birch"
fi

dir="$OUT/birch"; rm -rf "$dir"; mkdir -p "$dir"
cat > "$dir/birch.toml" <<TOML
listen = "127.0.0.1:$LDAP_PORT"
data_dir = "$dir/data"
suffix = "$BASE"
size_limit = 0

[web]
listen = "127.0.0.1:$WEB_PORT"
TOML
"$BIRCH" import --config "$dir/birch.toml" "$LDIF" 2>"$dir/import.log"
BIRCH_ROOT_PASSWORD=admin-secret BIRCH_LOG=warn "$BIRCH" serve --config "$dir/birch.toml" >/dev/null 2>"$dir/serve.log" &
PID=$!
WPID=""
trap 'kill $PID $WPID 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  grep -q "birch web listening on " "$dir/serve.log" 2>/dev/null && ldapsearch -x -H "ldap://127.0.0.1:$LDAP_PORT" -b "" -s base >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { cat "$dir/serve.log" >&2; exit 1; }
  sleep 0.1
done

search_uid() { # label
  timeout $((DURATION + 30)) "$LDAPBENCH" --url "ldap://127.0.0.1:$LDAP_PORT" --base "$BASE" \
    --scenario search-uid --conns "$CONNS" --duration-s "$DURATION" --users "$USERS" \
    --server-pid "$PID" --label "$1" 2>/dev/null || echo '{"failed":true}'
}
webload() { # duration label
  timeout $(( ${1%.*} + 40 )) python3 "$ROOT/bench/webload.py" --url "http://127.0.0.1:$WEB_PORT" \
    --sessions "$SESSIONS" --duration "$1" --label "$2"
}

# Warm-up: every web user's first login (the rehash to argon2id), the caches.
webload 3 warmup > "$OUT/warmup.json"
ALONE="$(search_uid alone)"
echo "$ALONE" > "$OUT/search-alone.json"
WEB_ALONE="$(webload "$DURATION" web-alone)"
echo "$WEB_ALONE" > "$OUT/web-alone.json"
# Together: the web load starts first and ends after ldapbench's measured window.
webload $((DURATION + 2)) web-with-ldap > "$OUT/web-with-ldap.json" &
WPID=$!
sleep 1
WITH="$(search_uid with-web)"
echo "$WITH" > "$OUT/search-with-web.json"
wait "$WPID"; WPID=""

python3 - "$OUT" "$USERS" "$SESSIONS" "$CONNS" <<'PY'
import json, sys, os
out, users, sessions, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def load(name):
    with open(os.path.join(out, name)) as f:
        return json.loads(f.read())
alone, with_web = load("search-alone.json"), load("search-with-web.json")
web_alone, web = load("web-alone.json"), load("web-with-ldap.json")
a, w = alone.get("ops_per_s"), with_web.get("ops_per_s")
ratio = round(w / a, 3) if a and w else None
print(f"search-uid c={conns}: {a} ops/s alone, {w} ops/s with {sessions} web sessions (ratio {ratio})")
for label, d in (("web alone", web_alone), ("web with search-uid", web)):
    print(f"{label}: {d['pages_per_s']} pages/s, page p50 {d['page_p50_ms']} ms p99 {d['page_p99_ms']} ms; "
          f"logins {d['logins_per_s']}/s p50 {d['login_p50_ms']} ms p99 {d['login_p99_ms']} ms; "
          f"/account {d['accounts_per_s']}/s p50 {d['account_p50_ms']} ms p99 {d['account_p99_ms']} ms; "
          f"errors {d['errors']}; load generator CPU {d.get('client_cpu_s')} s")
print(json.dumps({"users": users, "sessions": sessions, "conns": conns,
                  "search_uid_alone_ops_per_s": a, "search_uid_with_web_ops_per_s": w, "ratio": ratio,
                  "search_uid_with_web_p99_us": with_web.get("p99_us"),
                  "web_alone": web_alone, "web_with_ldap": web}))
PY
