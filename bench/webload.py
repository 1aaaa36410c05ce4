#!/usr/bin/env python3
"""Closed-loop load on Birch's web pages (issue 26, item 7); Python 3 standard library only.

    python3 bench/webload.py --url http://127.0.0.1:8390 --sessions 50 --duration 10 \
        [--users 50] [--user-pattern user{n:05d}] [--password-pattern pw-{uid}] \
        [--views 3] [--logout-every 2]

Each of --sessions threads is one browser-like session with its own keep-alive connection
and cookies, looping: GET /login (the CSRF token), POST /login as its own user (user n for
session n, so that each user's first login rehashes a legacy hash once and later ones verify
argon2id as on a campus), GET /account --views times, then every --logout-every-th loop POST
/logout (else it drops the cookie, like a closed browser). Every request is bounded by a
10-second socket timeout; the run by --duration.

Prints one JSON line: page loads (every GET and POST) per second with p50/p99, and apart
from them logins (the POST /login, which costs an argon2 hash on the server's bounded hash
pool) and /account views, each with count, per-second rate, p50 and p99 in milliseconds, and
the number of errors (an unexpected status or a failed connection; the session starts again),
and the CPU seconds the load generator itself used.
"""
import argparse
import http.client
import json
import re
import resource
import threading
import time
import urllib.parse

CSRF = re.compile(r'<input[^>]*name="csrf"[^>]*>')
VALUE = re.compile(r'value="([^"]*)"')


def csrf_of(html):
    """The value of the first hidden input named csrf, or None."""
    m = CSRF.search(html)
    if not m:
        return None
    v = VALUE.search(m.group(0))
    return v.group(1) if v else None


class Session:
    """One client: a keep-alive connection and a cookie jar (name -> value)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = None
        self.cookies = {}

    def request(self, method, path, form=None):
        """Sends one request; returns (status, headers, body text, seconds)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        headers = {"Accept-Language": "en"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        took = time.perf_counter() - start
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                if "max-age=0" in v.lower() or value == "":
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        return resp.status, resp, text, took

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


class Stats:
    """Latencies per kind, shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times = {"page": [], "login": [], "account": []}
        self.errors = 0
        self.first_error = None

    def add(self, kinds, took):
        with self.lock:
            for k in kinds:
                self.times[k].append(took)

    def error(self, what):
        with self.lock:
            self.errors += 1
            if self.first_error is None:
                self.first_error = what


def worker(args, n, deadline, stats, host, port):
    uid = args.user_pattern.format(n=n)
    password = args.password_pattern.format(uid=uid, n=n)
    s = Session(host, port)
    loop = 0
    while time.monotonic() < deadline:
        loop += 1
        try:
            st, _, html, took = s.request("GET", "/login")
            stats.add(["page"], took)
            token = csrf_of(html)
            if st != 200 or token is None:
                raise RuntimeError(f"GET /login: {st}")
            st, resp, _, took = s.request(
                "POST", "/login", {"username": uid, "password": password, "csrf": token}
            )
            stats.add(["page", "login"], took)
            where = resp.getheader("Location", "")
            if st != 303 or not where.endswith("/account"):
                raise RuntimeError(f"POST /login as {uid}: {st} -> {where!r}")
            html = ""
            for _ in range(args.views):
                if time.monotonic() >= deadline:
                    break
                st, _, html, took = s.request("GET", "/account")
                stats.add(["page", "account"], took)
                if st != 200 or "whoami" not in html:
                    raise RuntimeError(f"GET /account: {st}")
            token = csrf_of(html)
            if args.logout_every and loop % args.logout_every == 0 and token:
                st, _, _, took = s.request("POST", "/logout", {"csrf": token})
                stats.add(["page"], took)
                if st not in (200, 303):
                    raise RuntimeError(f"POST /logout: {st}")
            else:
                s.cookies.pop("birch_session", None)
        except Exception as e:  # noqa: BLE001 - any failure counts and restarts the session
            stats.error(str(e))
            s.close()
            s.cookies.clear()
            time.sleep(0.05)
    s.close()


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(len(v) * p))] * 1000, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8389")
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--user-pattern", default="user{n:05d}")
    ap.add_argument("--password-pattern", default="pw-{uid}")
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--logout-every", type=int, default=2)
    ap.add_argument("--label", default="web")
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    stats = Stats()
    start = time.monotonic()
    deadline = start + args.duration
    threads = [
        threading.Thread(target=worker, args=(args, n, deadline, stats, host, port), daemon=True)
        for n in range(1, args.sessions + 1)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.duration + 30)
    elapsed = time.monotonic() - start
    out = {"label": args.label, "sessions": args.sessions, "duration_s": round(elapsed, 2)}
    for kind in ("page", "login", "account"):
        v = stats.times[kind]
        out[f"{kind}s"] = len(v)
        out[f"{kind}s_per_s"] = round(len(v) / elapsed, 1)
        out[f"{kind}_p50_ms"] = pct(v, 0.50)
        out[f"{kind}_p99_ms"] = pct(v, 0.99)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    # The load generator's own CPU (it shares the machine with the server and ldapbench).
    out["client_cpu_s"] = round(ru.ru_utime + ru.ru_stime, 2)
    out["errors"] = stats.errors
    if stats.first_error:
        out["first_error"] = stats.first_error
    print(json.dumps(out))


if __name__ == "__main__":
    main()
