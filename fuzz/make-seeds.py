#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into fuzz/seeds/<target>/ (committed; run
again after changing this file). LDAP messages are BER-encoded by hand here: a few lines
of Python, no LDAP library needed."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
SUFFIX = "dc=example,dc=org"
ROOT = "cn=admin," + SUFFIX
ROOT_PW = "fuzz-root-secret"  # birch_server::fuzzing::ROOT_PASSWORD
ALICE = "uid=alice,ou=people," + SUFFIX


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def s(text, tag=0x04):
    return tlv(tag, text.encode() if isinstance(text, str) else text)


def i(n, tag=0x02):
    return tlv(tag, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def seq(*parts, tag=0x30):
    return tlv(tag, b"".join(parts))


def boolean(b):
    return tlv(0x01, b"\xff" if b else b"\x00")


def msg(msgid, op, controls=None):
    parts = [i(msgid), op]
    if controls:
        parts.append(seq(*controls, tag=0xA0))
    return seq(*parts)


def control(oid, critical=False, value=None):
    parts = [s(oid)]
    if critical:
        parts.append(boolean(True))
    if value is not None:
        parts.append(s(value))
    return seq(*parts)


def bind(msgid, dn, pw):
    return msg(msgid, seq(i(3), s(dn), s(pw, 0x80), tag=0x60))


def eq(attr, value):
    return seq(s(attr), s(value), tag=0xA3)


def present(attr):
    return s(attr, 0x87)


def substr(attr, initial=None, any_=(), final=None):
    parts = []
    if initial:
        parts.append(s(initial, 0x80))
    parts += [s(a, 0x81) for a in any_]
    if final:
        parts.append(s(final, 0x82))
    return seq(s(attr), seq(*parts), tag=0xA4)


def f_and(*fs):
    return seq(*fs, tag=0xA0)


def f_or(*fs):
    return seq(*fs, tag=0xA1)


def f_not(f):
    return seq(f, tag=0xA2)


def ge(attr, value):
    return seq(s(attr), s(value), tag=0xA5)


def le(attr, value):
    return seq(s(attr), s(value), tag=0xA6)


def approx(attr, value):
    return seq(s(attr), s(value), tag=0xA8)


def ext_match(rule, attr, value, dn_attrs=False):
    parts = []
    if rule:
        parts.append(s(rule, 0x81))
    if attr:
        parts.append(s(attr, 0x82))
    parts.append(s(value, 0x83))
    if dn_attrs:
        parts.append(tlv(0x84, b"\xff"))
    return seq(*parts, tag=0xA9)


def search(msgid, base, scope, flt, attrs=(), controls=None, size=0):
    op = seq(s(base), i(scope, 0x0A), i(0, 0x0A), i(size), i(0), boolean(False), flt, seq(*[s(a) for a in attrs]),
             tag=0x63)
    return msg(msgid, op, controls)


def add(msgid, dn, attrs, controls=None):
    return msg(msgid, seq(s(dn), seq(*[seq(s(a), seq(*[s(v) for v in vs], tag=0x31)) for a, vs in attrs]), tag=0x68),
               controls)


def modify(msgid, dn, changes, controls=None):
    body = seq(*[seq(i(op, 0x0A), seq(s(a), seq(*[s(v) for v in vs], tag=0x31))) for op, a, vs in changes])
    return msg(msgid, seq(s(dn), body, tag=0x66), controls)


def delete(msgid, dn, controls=None):
    return msg(msgid, s(dn, 0x4A), controls)


def moddn(msgid, dn, newrdn, delete_old, superior=None):
    parts = [s(dn), s(newrdn), boolean(delete_old)]
    if superior:
        parts.append(s(superior, 0x80))
    return msg(msgid, seq(*parts, tag=0x6C))


def compare(msgid, dn, attr, value):
    return msg(msgid, seq(s(dn), seq(s(attr), s(value)), tag=0x6E))


def extended(msgid, oid, value=None):
    parts = [s(oid, 0x80)]
    if value is not None:
        parts.append(s(value, 0x81))
    return msg(msgid, seq(*parts, tag=0x77))


def passmod(msgid, user=None, old=None, new=None):
    parts = []
    if user:
        parts.append(s(user, 0x80))
    if old:
        parts.append(s(old, 0x81))
    if new:
        parts.append(s(new, 0x82))
    return extended(msgid, "1.3.6.1.4.1.4203.1.11.1", seq(*parts))


def unbind(msgid):
    return msg(msgid, tlv(0x42, b""))


def abandon(msgid, which):
    return msg(msgid, i(which, 0x50))


PAGED = "1.2.840.113556.1.4.319"
PPOLICY = "1.3.6.1.4.1.42.2.27.8.5.1"
ASSERTION = "1.3.6.1.1.12"
PRE_READ = "1.3.6.1.1.13.1"
POST_READ = "1.3.6.1.1.13.2"
MANAGE_DSA_IT = "2.16.840.1.113730.3.4.2"
TREE_DELETE = "1.2.840.113556.1.4.805"
PERMISSIVE = "1.2.840.113556.1.4.1413"

FILTERS = {
    "present": present("objectClass"),
    "eq": eq("uid", "alice"),
    "and-or-not": f_and(eq("objectClass", "posixAccount"), f_or(eq("uid", "bob"), substr("cn", "Al", ["i"], "ll")),
                        f_not(present("mail"))),
    "ordering": f_and(ge("uidNumber", "10001"), le("uidNumber", "10002")),
    "approx": approx("cn", "alice liddell"),
    "extensible": ext_match("caseExactMatch", "sn", "Liddell", True),
    "member": eq("member", ALICE),
    "subtype": eq("name", "people"),
    "options": eq("cn;lang-en", "x"),
    "unknown": eq("noSuchAttr", "x"),
}

BOB_ENTRY = [("objectClass", ["inetOrgPerson", "posixAccount"]), ("uid", ["zed"]), ("cn", ["Zed"]), ("sn", ["Zed"]),
             ("uidNumber", ["20001"]), ("gidNumber", ["20001"]), ("homeDirectory", ["/home/zed"]),
             ("userPassword", ["zed-secret"])]
ZED = "uid=zed,ou=people," + SUFFIX

REQUESTS = {
    "rootdse": search(1, "", 0, present("objectClass"), ["*", "+"]),
    "subschema": search(1, "cn=subschema", 0, eq("objectClass", "subschema"), ["attributeTypes", "objectClasses"]),
    "anon-search": search(1, SUFFIX, 2, FILTERS["and-or-not"], ["uid", "cn"]),
    "root-writes": b"".join([
        bind(1, ROOT, ROOT_PW),
        add(2, ZED, BOB_ENTRY, [control(POST_READ, False, seq(s("entryUUID")))]),
        modify(3, ZED, [(0, "mail", ["zed@example.org"]), (2, "cn", ["Zed Z"]), (1, "sn", [])],
               [control(PRE_READ, False, seq(s("cn"))), control(ASSERTION, False, eq("uid", "zed"))]),
        compare(4, ZED, "uid", "zed"),
        moddn(5, ZED, "uid=zed2", True, "ou=services," + SUFFIX),
        search(6, SUFFIX, 2, substr("uid", "ze"), ["*"], [control(PAGED, True, seq(i(1), s(b"")))]),
        delete(7, "uid=zed2,ou=services," + SUFFIX),
        delete(8, "ou=groups," + SUFFIX, [control(TREE_DELETE, True)]),
        unbind(9),
    ]),
    "user-self": b"".join([
        bind(1, ALICE, "alice-secret"),
        extended(2, "1.3.6.1.4.1.4203.1.11.3"),
        modify(3, ALICE, [(2, "loginShell", ["/bin/zsh"])], [control(PPOLICY)]),
        passmod(4, None, "alice-secret", "alice-new-secret-1"),
        bind(5, ALICE, "alice-new-secret-1"),
        search(6, ALICE, 0, present("objectClass"), ["+"]),
    ]),
    "bad-bind": b"".join([bind(1, ALICE, "wrong"), bind(2, "uid=nobody,ou=people," + SUFFIX, "x"), bind(3, "", "")]),
    "abandon-paged": b"".join([
        search(1, SUFFIX, 2, present("objectClass"), [], [control(PAGED, False, seq(i(2), s(b"")))]),
        abandon(2, 1),
        search(3, SUFFIX, 1, present("objectClass"), ["1.1"], size=1),
    ]),
    "starttls": extended(1, "1.3.6.1.4.1.1466.20037"),
    "critical-unknown": search(1, SUFFIX, 0, present("objectClass"), [], [control("1.2.3.4", True)]),
    "garbage": b"\x30\x05\x02\x01\x01\x99\x00",
}

CONTROLS = {
    "manage-dsa-it": delete(1, ZED, [control(MANAGE_DSA_IT, True)]),
    "permissive": modify(1, ALICE, [(0, "mail", ["alice@example.org"])], [control(PERMISSIVE, False)]),
}

DNS = [
    SUFFIX, ALICE, "cn=A\\2C B+sn=C,dc=x", "cn=#04024869,o=y", "CN = Smith\\, John , OU=People", "uid=a\\\"b\\\\c",
    "", "cn=\\20lead and trail\\20,dc=x", "cn=caf\u00e9,dc=x", "1.2.3.4=x,dc=y",
]

LDIF = {
    "content": "version: 1\n\ndn: {a}\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice\nsn: L\n"
               "description:: w6lsw6h2ZQ==\n long folded: no\n\n# comment\ndn: cn=b,{s}\ncn: b\n".format(a=ALICE, s=SUFFIX),
    "changes": "dn: {a}\nchangetype: modify\nreplace: mail\nmail: a@x\n-\nadd: cn\ncn: A2\n-\ndelete: sn\n-\n\n"
               "dn: cn=b,{s}\nchangetype: add\ncn: b\n\n"
               "dn: cn=b,{s}\nchangetype: modrdn\nnewrdn: cn=c\ndeleteoldrdn: 1\nnewsuperior: ou=x,{s}\n\n"
               "dn: cn=c,{s}\ncontrol: 1.2.840.113556.1.4.805 true\nchangetype: delete\n".format(a=ALICE, s=SUFFIX),
}

SCHEMA = {
    "attr": "objectidentifier MyOID 1.3.6.1.4.1.99999\n"
            "attributetype ( MyOID:1 NAME ( 'fuzzAttr' 'fuzzAlias' ) DESC 'x' SUP name EQUALITY caseIgnoreMatch\n"
            "  SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{64} SINGLE-VALUE X-ORIGIN 'fuzz' )\n",
    "class": "attributetype ( 1.3.6.1.4.1.99999.2 NAME 'fuzzNum' EQUALITY integerMatch ORDERING integerOrderingMatch\n"
             "  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 USAGE directoryOperation NO-USER-MODIFICATION )\n"
             "objectclass ( 1.3.6.1.4.1.99999.3 NAME 'fuzzPerson' SUP inetOrgPerson STRUCTURAL MUST fuzzNum MAY ( c $ l ) )\n"
             "objectclass ( 1.3.6.1.4.1.99999.4 NAME 'fuzzAux' AUXILIARY MAY description )\n",
}

CONFIG = {
    "full": 'listen = "127.0.0.1:3389"\nsuffix = "dc=example,dc=org"\nmax_pdu_bytes = 65536\nsize_limit = 10\n'
            'schema_profile = "rfc2307bis"\n[index]\nequality = ["uid", "cn"]\nsubstring = ["cn"]\nunique = ["uid"]\n'
            '[argon2]\nm_cost_kib = 8\nt_cost = 1\nparallelism = 1\n[ppolicy]\nmin_length = 8\ncheck_quality = 2\n'
            '[rate_limit]\nper_address_per_minute = 10.5\n[access]\nanonymous_posix = false\n'
            'rules = ["to * by self write by users read"]\n[limits]\n[audit]\n[connections]\n[security.require_tls]\nbind = true\n',
    "tls": '[tls]\ncert_file = "/nonexistent/cert.pem"\nkey_file = "/nonexistent/key.pem"\nldaps_listen = "127.0.0.1:6636"\n'
           'client_certs = "optional"\n',
    "empty": "",
}

ACL = {
    "campus": "to attrs=userPassword by self =w by anonymous auth by * none\n"
              "to dn.subtree=\"ou=people,dc=example,dc=org\" attrs=loginShell,mail by self write by users read\n"
              "to dn.regex=\"^uid=([^,]+),ou=people,dc=example,dc=org$\" by dn.exact,expand=\"uid=$1,ou=people,dc=example,dc=org\" write by * break\n"
              "to filter=(objectClass=posixGroup) by group=\"cn=it-admins,ou=groups,dc=example,dc=org\" write by peername.ip=10.0.0.0%255.0.0.0 read\n"
              "to * by ssf=128 read by dnattr=member compare by users search by * continue\n",
    "children": "to dn.children=\"ou=groups,dc=example,dc=org\" attrs=entry,children,@posixGroup by dn.one=\"ou=people,dc=example,dc=org\" read\n"
                "to dn.base=\"\" by * read\n",
}

PASSWORDS = {
    "ssha": b"{SSHA}Y2QH2FO5WbWKSCrGXXZJ7vzHdWxzYWx0",
    "sha": b"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\0secret",
    "ssha512": b"{SSHA512}" + b"A" * 92 + b"==",
    "smd5": b"{SMD5}c2FsdHNhbHRzYWx0c2FsdA==",
    "crypt-md5": b"{CRYPT}$1$saltsalt$AbCdEfGhIjKlMnOpQrStU.",
    "crypt-sha512": b"{CRYPT}$6$rounds=5000$saltsalt$abc",
    "bcrypt": b"{CRYPT}$2b$04$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
    "pbkdf2": b"{PBKDF2-SHA256}1000$c2FsdHNhbHQ$ZGVyaXZlZGtleWRlcml2ZWRrZXk",
    "pbkdf2-389": b"{PBKDF2_SHA256}AAAD6A" + b"A" * 426,
    "argon2": b"{ARGON2}$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "clear": b"secret\0secret",
}


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    for name, data in {**REQUESTS, **CONTROLS}.items():
        write("request", name, data)
        write("pdu", name, data)
        write("decode", name, data)
    for name, flt in FILTERS.items():
        write("decode", "search-" + name, search(1, SUFFIX, 2, flt, ["cn", "+"]))
    for name, flt in FILTERS.items():
        write("filter", "ber-" + name, b"\x01" + flt)
    for name, text in {"str-eq": "(uid=alice)", "str-complex": "(&(|(cn=*lic*)(uid>=b))(!(mail=*))(sn:dn:=x))",
                       "str-escape": "(cn=\\2a\\00)"}.items():
        write("filter", name, b"\x00" + text.encode())
    for n, dn in enumerate(DNS):
        write("dn", "dn%d" % n, dn)
    for name, text in LDIF.items():
        write("ldif", name, text)
    for name, text in SCHEMA.items():
        write("schema", name, text)
    for name, text in CONFIG.items():
        write("config", name, text)
    for name, text in ACL.items():
        write("acl", name, text)
    for name, data in PASSWORDS.items():
        write("password", name, data)


if __name__ == "__main__":
    main()
