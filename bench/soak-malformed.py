#!/usr/bin/env python3
"""Misbehaving LDAP clients for bench/soak.sh, until a deadline.

    soak-malformed.py HOST PORT SECONDS

Each round opens a few connections that: send random bytes; announce a PDU far over the
size limit; send a well-formed BER SEQUENCE that is no LDAPMessage; send half a request and
hang up; connect and close at once; send a valid bind then vanish without reading. Prints a
JSON line with what was sent. Only ever talks to HOST:PORT (the soak's loopback server).
"""
import json
import os
import random
import socket
import sys
import time

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + seconds
rng = random.Random(7)

# A simple bind request: messageID 1, version 3, name "", simple "".
BIND = bytes.fromhex("300c020101600702010304008000")


def garbage():
    return os.urandom(rng.randint(1, 512))


def oversized():
    # SEQUENCE with a 4-byte length of 2 GiB: refused on the header.
    return b"\x30\x84\x7f\xff\xff\xff" + os.urandom(16)


def not_ldap():
    # A well-formed SEQUENCE of two INTEGERs and a BOOLEAN: valid BER, not an LDAPMessage.
    return bytes.fromhex("300902010102010201010100")


def half():
    return BIND[: rng.randint(1, len(BIND) - 1)]


KINDS = {"garbage": garbage, "oversized": oversized, "not_ldap": not_ldap, "half": half,
         "connect_close": lambda: b"", "bind_and_vanish": lambda: BIND}
sent = {k: 0 for k in KINDS}
failed = 0
while time.monotonic() < deadline:
    for kind, make in KINDS.items():
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                payload = make()
                if payload:
                    s.sendall(payload)
                if kind in ("garbage", "not_ldap", "oversized"):
                    # Read what the server says (a notice of disconnection) until it closes.
                    s.settimeout(5)
                    try:
                        while s.recv(4096):
                            pass
                    except OSError:
                        pass
            sent[kind] += 1
        except OSError:
            failed += 1
    time.sleep(0.2)
print(json.dumps({"malformed": sent, "connect_failures": failed}))
