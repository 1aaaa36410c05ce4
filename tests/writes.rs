//! Black-box tests of the write operations: Modify (add/delete/replace/increment, the
//! Permissive Modify control), Modify DN (rename, move, subtree move), Compare, the Tree
//! Delete control, and the durability of modifies and subtree moves across `kill -9`.
mod common;

use common::demo::{ALICE, BOB, CHENWEI, GROUPS, NSLCD, PEOPLE, SERVICES, STAFF};

use common::{bounded, connect, connect_as, search, search_dns, Server, OP_TIMEOUT, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::controls::RawControl;
use ldap3::{Ldap, LdapResult, Mod, Scope};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(50);
const CMD: Duration = Duration::from_secs(30);

const LAB: &str = "ou=lab,dc=example,dc=org";
const LAB_MOVED: &str = "ou=lab,ou=groups,dc=example,dc=org";
const LAB_SIZE: usize = 1000;

const PERMISSIVE_MODIFY: &str = "1.2.840.113556.1.4.1413";
const TREE_DELETE: &str = "1.2.840.113556.1.4.805";

/// `{SSHA}` of "secret", made by slappasswd.
const SSHA_SECRET: &str = "{SSHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn set<'a>(v: &[&'a str]) -> HashSet<&'a str> {
    v.iter().copied().collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn root(url: &str) -> Ldap {
    connect_as(url, ROOT_DN, ROOT_PW).await
}

async fn modify(l: &mut Ldap, dn: &str, mods: Vec<Mod<&str>>) -> LdapResult {
    l.with_timeout(OP_TIMEOUT).modify(dn, mods).await.unwrap_or_else(|e| panic!("modify {dn}: {e:?}"))
}

/// A Modify with the Permissive Modify control (critical or not).
async fn modify_permissive(l: &mut Ldap, dn: &str, crit: bool, mods: Vec<Mod<&str>>) -> LdapResult {
    l.with_controls(RawControl { ctype: PERMISSIVE_MODIFY.into(), crit, val: None })
        .with_timeout(OP_TIMEOUT)
        .modify(dn, mods)
        .await
        .unwrap_or_else(|e| panic!("permissive modify {dn}: {e:?}"))
}

async fn moddn(l: &mut Ldap, dn: &str, rdn: &str, delete_old: bool, new_sup: Option<&str>) -> LdapResult {
    l.with_timeout(OP_TIMEOUT)
        .modifydn(dn, rdn, delete_old, new_sup)
        .await
        .unwrap_or_else(|e| panic!("modifydn {dn} -> {rdn} / {new_sup:?}: {e:?}"))
}

async fn compare(l: &mut Ldap, dn: &str, attr: &str, val: &str) -> LdapResult {
    l.with_timeout(OP_TIMEOUT).compare(dn, attr, val).await.unwrap_or_else(|e| panic!("compare {dn} {attr}: {e:?}")).0
}

async fn delete(l: &mut Ldap, dn: &str, tree: Option<bool>) -> LdapResult {
    let l = l.with_timeout(OP_TIMEOUT);
    let l = match tree {
        Some(crit) => l.with_controls(RawControl { ctype: TREE_DELETE.into(), crit, val: None }),
        None => l,
    };
    l.delete(dn).await.unwrap_or_else(|e| panic!("delete {dn}: {e:?}"))
}

/// The user attributes of an entry: lower-cased name → sorted values; `None` when the
/// entry does not exist (noSuchObject).
async fn entry_attrs(l: &mut Ldap, dn: &str) -> Option<BTreeMap<String, Vec<String>>> {
    let (es, res) = search(l, dn, Scope::Base, "(objectClass=*)", &["*"]).await;
    match res.rc {
        0 => {
            assert_eq!(es.len(), 1, "base search of {dn}");
            let e = es.into_iter().next().expect("one entry");
            let mut m = BTreeMap::new();
            for (k, v) in e.attrs {
                m.insert(k.to_ascii_lowercase(), v);
            }
            for (k, v) in e.bin_attrs {
                m.insert(k.to_ascii_lowercase(), v.iter().map(|b| text(b)).collect());
            }
            for v in m.values_mut() {
                v.sort();
            }
            Some(m)
        }
        32 => {
            assert!(es.is_empty());
            None
        }
        rc => panic!("base search of {dn}: rc {rc}: {res}"),
    }
}

/// The sorted values of `attr` of an existing entry (empty when absent).
async fn values(l: &mut Ldap, dn: &str, attr: &str) -> Vec<String> {
    let e = entry_attrs(l, dn).await.unwrap_or_else(|| panic!("{dn} does not exist"));
    e.get(&attr.to_ascii_lowercase()).cloned().unwrap_or_default()
}

/// The number of children of `parent`; 0 when `parent` does not exist.
async fn children(l: &mut Ldap, parent: &str) -> usize {
    let (es, res) = search(l, parent, Scope::OneLevel, "(objectClass=*)", &["1.1"]).await;
    match res.rc {
        0 => es.len(),
        32 => 0,
        rc => panic!("one-level search under {parent}: rc {rc}: {res}"),
    }
}

fn check_ok(s: &Server, entries: usize) {
    let out = s.birch_bounded(&["check"], CMD);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "birch check: {out:?}");
    assert!(stdout.starts_with(&format!("ok: {entries} entries")), "birch check: {stdout}");
}

/// `birch export` of a stopped server.
fn export(s: &Server) -> String {
    let out = s.birch_bounded(&["export"], CMD);
    assert!(out.status.success(), "export: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The LDIF record of `dn` in an export.
fn record<'a>(ldif: &'a str, dn: &str) -> &'a str {
    let head = format!("dn: {dn}\n");
    ldif.split("\n\n")
        .find(|r| format!("{}\n", r.trim_start()).starts_with(&head))
        .unwrap_or_else(|| panic!("{dn} not in export"))
}

/// Writes `content` into the server's temporary directory; returns the path as a string.
fn write_file(s: &Server, name: &str, content: &str) -> String {
    let p = s.dir().join(name);
    std::fs::write(&p, content).expect("write file");
    p.to_str().expect("utf-8 path").to_string()
}

fn lab_dn(i: usize, parent: &str) -> String {
    format!("uid=lab{i:04},{parent}")
}

/// An LDIF with the suffix, ou=people, ou=groups and ou=lab with `n` children.
fn lab_ldif(n: usize) -> String {
    let mut s = String::from(
        "version: 1\n\ndn: dc=example,dc=org\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n\
         dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,dc=example,dc=org\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: ou=lab,dc=example,dc=org\nobjectClass: organizationalUnit\nou: lab\n\n",
    );
    for i in 1..=n {
        s.push_str(&format!(
            "dn: {}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: lab{i:04}\ncn: Lab Member {i}\nsn: Lab\nuidNumber: {}\ngidNumber: 40000\nhomeDirectory: /home/lab{i:04}\n\n",
            lab_dn(i, LAB),
            40000 + i
        ));
    }
    s
}

/// An offline store with the lab tree imported (4 + LAB_SIZE entries), then started.
fn lab_server() -> Server {
    let mut s = Server::offline("");
    let file = write_file(&s, "lab.ldif", &lab_ldif(LAB_SIZE));
    let out = s.birch_bounded(&["import", &file], CMD);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    s.start_existing();
    s
}

/// Checks that all lab children are under `parent` (by one-level, subtree and indexed
/// searches) and none under `other`.
async fn verify_lab_under(l: &mut Ldap, parent: &str, other: &str) {
    assert_eq!(children(l, parent).await, LAB_SIZE, "children of {parent}");
    assert_eq!(children(l, other).await, 0, "children of {other}");
    let (es, res) = search(l, other, Scope::Base, "(objectClass=*)", &["1.1"]).await;
    assert_eq!((res.rc, es.len()), (32, 0), "{other} should not exist");
    let all = search_dns(l, SUFFIX, Scope::Subtree, "(uid=lab*)").await;
    assert_eq!(all.len(), LAB_SIZE);
    let suffix = format!(",{parent}");
    assert!(all.iter().all(|d| d.to_ascii_lowercase().ends_with(&suffix)), "a lab entry outside {parent}");
    for i in [1, 2, 500, 777, 999, LAB_SIZE] {
        assert_eq!(
            search_dns(l, SUFFIX, Scope::Subtree, &format!("(uid=lab{i:04})")).await,
            vec![lab_dn(i, parent)],
            "indexed search for lab{i:04}"
        );
        assert_eq!(
            search_dns(l, SUFFIX, Scope::Subtree, &format!("(uidNumber={})", 40000 + i)).await,
            vec![lab_dn(i, parent)]
        );
    }
    assert_eq!(search_dns(l, parent, Scope::OneLevel, "(sn=Lab)").await.len(), LAB_SIZE);
    assert_eq!(search_dns(l, parent, Scope::Subtree, "(uid=lab05*)").await.len(), 100);
}

// ---------------------------------------------------------------------------------------
// Modify
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn modify_applies_several_changes_in_one_request() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let before = entry_attrs(&mut l, ALICE).await.expect("alice");
        let res = modify(
            &mut l,
            ALICE,
            vec![
                Mod::Replace("mail", set(&["alice.liddell@example.org"])),
                Mod::Add("description", set(&["first", "second"])),
                Mod::Delete("givenName", set(&[])),
                Mod::Increment("gidNumber", "5"),
                Mod::Add("cn", set(&["Alice"])),
                Mod::Delete("loginShell", set(&["/bin/bash"])),
            ],
        )
        .await;
        assert_eq!(res.rc, 0, "{res}");
        let mut want = before.clone();
        want.insert("mail".into(), vec!["alice.liddell@example.org".into()]);
        want.insert("description".into(), vec!["first".into(), "second".into()]);
        want.remove("givenname");
        want.remove("loginshell");
        want.insert("gidnumber".into(), vec!["10006".into()]);
        want.insert("cn".into(), vec!["Alice".into(), "Alice Liddell".into()]);
        assert_eq!(entry_attrs(&mut l, ALICE).await.expect("alice"), want);
        // The indexes follow the changes.
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(mail=alice.liddell@example.org)").await, vec![ALICE]);
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(mail=alice@example.org)").await.is_empty());
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(cn=alice)").await, vec![ALICE]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(gidNumber=10006)").await, vec![ALICE]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(loginShell=/bin/bash)").await, vec![BOB]);
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(givenName=Alice)").await.is_empty());

        // Changes apply in order: later ones see the result of earlier ones.
        let res = modify(
            &mut l,
            BOB,
            vec![
                Mod::Add("description", set(&["tmp"])),
                Mod::Replace("description", set(&["final", "other"])),
                Mod::Delete("description", set(&["FINAL"])),
                Mod::Add("description", set(&["kept"])),
            ],
        )
        .await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(values(&mut l, BOB, "description").await, ["kept", "other"]);

        // The same through ldapmodify.
        let file = write_file(
            &s,
            "multi.ldif",
            &format!(
                "dn: {CHENWEI}\nchangetype: modify\nreplace: sn\nsn: Wei-Chen\n-\nadd: description\ndescription: via ldapmodify\n-\ndelete: mail\n-\nincrement: uidNumber\nuidNumber: 100\n-\n"
            ),
        );
        let out = s.ldap_tool("ldapmodify", &["-x", "-D", ROOT_DN, "-w", ROOT_PW, "-f", &file]);
        assert!(out.status.success(), "ldapmodify: {}", text(&out.stderr));
        let e = entry_attrs(&mut l, CHENWEI).await.expect("chenwei");
        assert_eq!(e["sn"], ["Wei-Chen"]);
        assert_eq!(e["description"], ["via ldapmodify"]);
        assert_eq!(e["uidnumber"], ["10103"]);
        assert!(!e.contains_key("mail"));
        assert_eq!(e["cn"], ["Chen Wei", "陈伟"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_change_leaves_the_whole_request_unapplied() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let before = entry_attrs(&mut l, ALICE).await.expect("alice");
        let cases: Vec<(&str, Vec<Mod<&str>>, u32)> = vec![
            (
                "2nd adds a value present (case-insensitively)",
                vec![Mod::Replace("mail", set(&["x@example.org"])), Mod::Add("cn", set(&["alice LIDDELL"]))],
                20,
            ),
            (
                "2nd deletes an absent value",
                vec![Mod::Replace("mail", set(&["x@example.org"])), Mod::Delete("sn", set(&["Nope"]))],
                16,
            ),
            (
                "2nd deletes an absent attribute",
                vec![Mod::Replace("mail", set(&["x@example.org"])), Mod::Delete("description", set(&[]))],
                16,
            ),
            (
                "2nd names an unknown attribute",
                vec![Mod::Replace("mail", set(&["x@example.org"])), Mod::Add("noSuchAttributeType", set(&["v"]))],
                17,
            ),
            (
                "2nd removes the RDN value",
                vec![Mod::Replace("mail", set(&["x@example.org"])), Mod::Delete("uid", set(&["alice"]))],
                64,
            ),
            (
                "2nd replaces the RDN value",
                vec![Mod::Replace("mail", set(&["x@example.org"])), Mod::Replace("uid", set(&["alicia"]))],
                64,
            ),
            (
                "2nd increments a non-integer attribute",
                vec![Mod::Increment("uidNumber", "1000"), Mod::Increment("cn", "1")],
                19,
            ),
            (
                "2nd increments an absent attribute",
                vec![Mod::Replace("mail", set(&["x@example.org"])), Mod::Increment("shadowLastChange", "1")],
                16,
            ),
            (
                "3rd modifies a NO-USER-MODIFICATION attribute",
                vec![
                    Mod::Replace("mail", set(&["x@example.org"])),
                    Mod::Add("description", set(&["d"])),
                    Mod::Replace("createTimestamp", set(&["20200101000000Z"])),
                ],
                19,
            ),
            (
                "2nd removes every object class",
                vec![Mod::Replace("mail", set(&["x@example.org"])), Mod::Delete("objectClass", set(&[]))],
                65,
            ),
            (
                "2nd takes a unique value of another entry",
                vec![Mod::Replace("mail", set(&["x@example.org"])), Mod::Replace("uidNumber", set(&["10002"]))],
                19,
            ),
        ];
        for (what, mods, rc) in cases {
            let res = modify(&mut l, ALICE, mods).await;
            assert_eq!(res.rc, rc, "{what}: {res}");
            assert_eq!(entry_attrs(&mut l, ALICE).await.as_ref(), Some(&before), "{what}: partly applied");
            assert!(
                search_dns(&mut l, SUFFIX, Scope::Subtree, "(mail=x@example.org)").await.is_empty(),
                "{what}: index changed"
            );
            assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber=11001)").await.is_empty(), "{what}");
        }
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(mail=alice@example.org)").await, vec![ALICE]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber=10001)").await, vec![ALICE]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn modify_result_codes() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let alice_before = entry_attrs(&mut l, ALICE).await.expect("alice");
        // Adding a value that is there: 20, also when equal only under the matching rule.
        for (attr, vals) in [
            ("cn", vec!["Alice Liddell"]),
            ("cn", vec!["ALICE   liddell"]),
            ("mail", vec!["ALICE@example.org"]),
            ("mail", vec!["new@example.org", "alice@example.org"]),
            ("description", vec!["twice", "TWICE"]),
            ("uidNumber", vec!["10001"]),
        ] {
            let res = modify(&mut l, ALICE, vec![Mod::Add(attr, set(&vals))]).await;
            assert_eq!(res.rc, 20, "add {attr} {vals:?}: {res}");
        }
        // Deleting an absent value or attribute: 16.
        for (attr, vals) in [
            ("sn", vec!["Nope"]),
            ("description", vec![]),
            ("description", vec!["x"]),
            ("mail", vec!["alice@example.org", "nope@example.org"]),
        ] {
            let res = modify(&mut l, ALICE, vec![Mod::Delete(attr, set(&vals))]).await;
            assert_eq!(res.rc, 16, "delete {attr} {vals:?}: {res}");
        }
        // The RDN value cannot go: 64.
        for mods in [
            vec![Mod::Delete("uid", set(&["alice"]))],
            vec![Mod::Delete("uid", set(&["ALICE"]))],
            vec![Mod::Delete("uid", set(&[]))],
            vec![Mod::Replace("uid", set(&[]))],
        ] {
            let res = modify(&mut l, ALICE, mods).await;
            assert_eq!(res.rc, 64, "{res}");
        }
        // Unknown attribute types: 17.
        for mods in [
            vec![Mod::Add("fooBarBaz", set(&["v"]))],
            vec![Mod::Replace("fooBarBaz", set(&["v"]))],
            vec![Mod::Delete("fooBarBaz", set(&[]))],
            vec![Mod::Increment("fooBarBaz", "1")],
        ] {
            let res = modify(&mut l, ALICE, mods).await;
            assert_eq!(res.rc, 17, "{res}");
        }
        // NO-USER-MODIFICATION attributes: 19.
        for mods in [
            vec![Mod::Replace("createTimestamp", set(&["20200101000000Z"]))],
            vec![Mod::Add("modifyTimestamp", set(&["20200101000000Z"]))],
            vec![Mod::Replace("entryDN", set(&["uid=x,dc=example,dc=org"]))],
            vec![Mod::Delete("entryUUID", set(&[]))],
        ] {
            let res = modify(&mut l, ALICE, mods).await;
            assert_eq!(res.rc, 19, "{res}");
        }
        assert_eq!(entry_attrs(&mut l, ALICE).await.as_ref(), Some(&alice_before), "a refused modify changed alice");

        // Deleting all values, by naming none or all of them.
        assert_eq!(modify(&mut l, ALICE, vec![Mod::Delete("loginShell", set(&[]))]).await.rc, 0);
        assert_eq!(modify(&mut l, STAFF, vec![Mod::Delete("memberUid", set(&["alice", "bob"]))]).await.rc, 0);
        assert!(!entry_attrs(&mut l, STAFF).await.expect("staff").contains_key("memberuid"));
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(memberUid=alice)").await.is_empty());
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(memberUid=bob)").await.is_empty());
        // Deleting one value by its equal form.
        assert_eq!(modify(&mut l, CHENWEI, vec![Mod::Delete("cn", set(&["chen  WEI"]))]).await.rc, 0);
        assert_eq!(values(&mut l, CHENWEI, "cn").await, ["陈伟"]);
        // Replace with no values removes the attribute; on an absent attribute it is a no-op.
        assert_eq!(modify(&mut l, ALICE, vec![Mod::Replace("mail", set(&[]))]).await.rc, 0);
        assert_eq!(modify(&mut l, ALICE, vec![Mod::Replace("description", set(&[]))]).await.rc, 0);
        let mut want = alice_before.clone();
        want.remove("loginshell");
        want.remove("mail");
        assert_eq!(entry_attrs(&mut l, ALICE).await, Some(want));
        assert_eq!(search_dns(&mut l, PEOPLE, Scope::OneLevel, "(mail=*)").await, vec![BOB, CHENWEI]);
        assert_eq!(search_dns(&mut l, PEOPLE, Scope::OneLevel, "(loginShell=*)").await, vec![BOB, CHENWEI]);

        // A missing entry: 32 with the closest existing superior.
        let res = modify(&mut l, "uid=nobody,ou=people,dc=example,dc=org", vec![Mod::Replace("sn", set(&["x"]))]).await;
        assert_eq!(res.rc, 32, "{res}");
        assert_eq!(res.matched.to_ascii_lowercase(), PEOPLE);
        let res = modify(&mut l, "uid=x,ou=nowhere,dc=example,dc=org", vec![Mod::Replace("sn", set(&["x"]))]).await;
        assert_eq!(res.rc, 32, "{res}");
        assert_eq!(res.matched.to_ascii_lowercase(), SUFFIX);

        // Not without the right: sn is not self-service (bob is not an admin); anonymous
        // clients may not learn that bob exists (issue #23 item 10).
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let res = modify(&mut bob, BOB, vec![Mod::Replace("sn", set(&["Hacked"]))]).await;
        assert_eq!(res.rc, 50, "{res}");
        let mut anon = connect(&url).await;
        let res = modify(&mut anon, BOB, vec![Mod::Replace("sn", set(&["Hacked"]))]).await;
        assert_eq!(res.rc, 32, "{res}");
        assert_eq!(values(&mut l, ALICE, "sn").await, ["Liddell"]);
        assert_eq!(values(&mut l, BOB, "sn").await, ["Baker"]);

        // ldapmodify exits with the result code.
        let file = write_file(&s, "dup.ldif", &format!("dn: {BOB}\nchangetype: modify\nadd: cn\ncn: bob baker\n-\n"));
        let out = s.ldap_tool("ldapmodify", &["-x", "-D", ROOT_DN, "-w", ROOT_PW, "-f", &file]);
        assert_eq!(out.status.code(), Some(20), "ldapmodify: {}", text(&out.stderr));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn modify_increment() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        assert_eq!(modify(&mut l, BOB, vec![Mod::Increment("uidNumber", "5")]).await.rc, 0);
        assert_eq!(values(&mut l, BOB, "uidNumber").await, ["10007"]);
        assert_eq!(modify(&mut l, BOB, vec![Mod::Increment("uidNumber", "-3")]).await.rc, 0);
        assert_eq!(values(&mut l, BOB, "uidNumber").await, ["10004"]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber=10004)").await, vec![BOB]);
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber=10002)").await.is_empty());
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber=10007)").await.is_empty());
        assert_eq!(modify(&mut l, STAFF, vec![Mod::Increment("gidNumber", "0")]).await.rc, 0);
        assert_eq!(values(&mut l, STAFF, "gidNumber").await, ["10001"]);
        // Twice in one request.
        let res =
            modify(&mut l, STAFF, vec![Mod::Increment("gidNumber", "10"), Mod::Increment("gidNumber", "-1")]).await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(values(&mut l, STAFF, "gidNumber").await, ["10010"]);

        // A non-integer attribute: constraintViolation (what slapd answers), never success.
        for (dn, attr) in [(ALICE, "cn"), (NSLCD, "description"), (ALICE, "mail")] {
            let before = values(&mut l, dn, attr).await;
            let res = modify(&mut l, dn, vec![Mod::Increment(attr, "1")]).await;
            assert_ne!(res.rc, 0, "increment {attr} succeeded");
            assert_eq!(res.rc, 19, "increment {attr}: {res}");
            assert_eq!(values(&mut l, dn, attr).await, before);
        }
        // A delta that is not an integer: invalidAttributeSyntax.
        let res = modify(&mut l, ALICE, vec![Mod::Increment("uidNumber", "five")]).await;
        assert_eq!(res.rc, 21, "{res}");
        // An absent attribute: noSuchAttribute.
        let res = modify(&mut l, ALICE, vec![Mod::Increment("shadowLastChange", "1")]).await;
        assert_eq!(res.rc, 16, "{res}");
        assert!(!entry_attrs(&mut l, ALICE).await.expect("alice").contains_key("shadowlastchange"));
        // Onto another entry's unique uidNumber: constraintViolation, nothing changes.
        let res = modify(&mut l, ALICE, vec![Mod::Increment("uidNumber", "2")]).await;
        assert_eq!(res.rc, 19, "{res}");
        assert_eq!(values(&mut l, ALICE, "uidNumber").await, ["10001"]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber=10003)").await, vec![CHENWEI]);

        // ldapmodify's increment.
        let file = write_file(
            &s,
            "inc.ldif",
            &format!("dn: {BOB}\nchangetype: modify\nincrement: uidNumber\nuidNumber: 10\n-\n"),
        );
        let out = s.ldap_tool("ldapmodify", &["-x", "-D", ROOT_DN, "-w", ROOT_PW, "-f", &file]);
        assert!(out.status.success(), "ldapmodify: {}", text(&out.stderr));
        assert_eq!(values(&mut l, BOB, "uidNumber").await, ["10014"]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber>=10010)").await, vec![BOB]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn permissive_modify_control() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        // Without the control these fail.
        assert_eq!(modify(&mut l, ALICE, vec![Mod::Add("cn", set(&["alice liddell"]))]).await.rc, 20);
        assert_eq!(modify(&mut l, ALICE, vec![Mod::Delete("sn", set(&["Nope"]))]).await.rc, 16);
        let before = entry_attrs(&mut l, ALICE).await.expect("alice");
        // With it (critical) they succeed and change nothing.
        for mods in [
            vec![Mod::Add("cn", set(&["ALICE LIDDELL"]))],
            vec![Mod::Add("cn", set(&["Alice Liddell"]))],
            vec![Mod::Delete("sn", set(&["Nope"]))],
            vec![Mod::Delete("description", set(&[]))],
            vec![Mod::Delete("description", set(&["x"]))],
        ] {
            let res = modify_permissive(&mut l, ALICE, true, mods).await;
            assert_eq!(res.rc, 0, "{res}");
            assert_eq!(entry_attrs(&mut l, ALICE).await.as_ref(), Some(&before));
        }
        // Mixed present/absent values: the others are applied.
        let res = modify_permissive(
            &mut l,
            ALICE,
            true,
            vec![
                Mod::Add("cn", set(&["alice liddell", "Ali"])),
                Mod::Delete("mail", set(&["ALICE@example.org", "nope@example.org"])),
            ],
        )
        .await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(values(&mut l, ALICE, "cn").await, ["Ali", "Alice Liddell"]);
        assert_eq!(values(&mut l, ALICE, "mail").await, Vec::<String>::new());
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(cn=ali)").await, vec![ALICE]);
        // Non-critical works the same.
        let res = modify_permissive(&mut l, BOB, false, vec![Mod::Add("sn", set(&["baker"]))]).await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(values(&mut l, BOB, "sn").await, ["Baker"]);
        // Other errors are still errors.
        let res = modify_permissive(&mut l, ALICE, true, vec![Mod::Delete("uid", set(&["alice"]))]).await;
        assert_eq!(res.rc, 64, "{res}");
        let res = modify_permissive(&mut l, ALICE, true, vec![Mod::Add("fooBarBaz", set(&["v"]))]).await;
        assert_eq!(res.rc, 17, "{res}");
        let res = modify_permissive(&mut l, ALICE, true, vec![Mod::Increment("shadowLastChange", "1")]).await;
        assert_eq!(res.rc, 16, "{res}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replaced_password_is_stored_as_argon2() {
    // Without rehash-on-bind, so that the pre-hashed value is seen as written (rehashing
    // is tested in tests/passwords.rs).
    let mut s = Server::start_with("rehash_on_bind = false\n", true);
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        assert_eq!(modify(&mut l, ALICE, vec![Mod::Replace("userPassword", set(&["alice-new-pw"]))]).await.rc, 0);
        assert_eq!(common::bind_rc(&url, ALICE, "alice-new-pw").await, 0);
        assert_eq!(common::bind_rc(&url, ALICE, "alice-secret").await, 49);
        // A pre-hashed value is kept.
        assert_eq!(modify(&mut l, BOB, vec![Mod::Replace("userPassword", set(&[SSHA_SECRET]))]).await.rc, 0);
        assert_eq!(common::bind_rc(&url, BOB, "secret").await, 0);
        assert_eq!(common::bind_rc(&url, BOB, "bob-secret").await, 49);
        // Added as a second value, also hashed.
        assert_eq!(modify(&mut l, CHENWEI, vec![Mod::Add("userPassword", set(&["second-pw"]))]).await.rc, 0);
        assert_eq!(common::bind_rc(&url, CHENWEI, "second-pw").await, 0);
        assert_eq!(common::bind_rc(&url, CHENWEI, "chenwei-secret").await, 0);
        // Never returned.
        assert!(!entry_attrs(&mut l, ALICE).await.expect("alice").contains_key("userpassword"));
    })
    .await;
    s.stop();
    let ldif = export(&s);
    assert!(!ldif.contains("alice-new-pw") && !ldif.contains("second-pw"), "cleartext in the export");
    let alice = record(&ldif, ALICE);
    let pw: Vec<&str> = alice.lines().filter(|l| l.to_ascii_lowercase().starts_with("userpassword:")).collect();
    assert_eq!(pw.len(), 1, "{alice}");
    assert!(pw[0].starts_with("userPassword: {ARGON2}$argon2id$"), "{alice}");
    assert!(record(&ldif, BOB).lines().any(|l| l == format!("userPassword: {SSHA_SECRET}")), "{}", record(&ldif, BOB));
    let chenwei = record(&ldif, CHENWEI);
    assert_eq!(chenwei.matches("userPassword: {ARGON2}$argon2id$").count(), 2, "{chenwei}");
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_increments_are_exact() {
    const COUNTER: &str = "uid=counter,ou=people,dc=example,dc=org";
    const START: u64 = 100_000;
    const CLIENTS: u64 = 16;
    const EACH: u64 = 25;
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let start = START.to_string();
        let attrs: Vec<(&str, HashSet<&str>)> = vec![
            ("objectClass", set(&["inetOrgPerson", "posixAccount"])),
            ("uid", set(&["counter"])),
            ("cn", set(&["Counter"])),
            ("sn", set(&["Counter"])),
            ("uidNumber", set(&[start.as_str()])),
            ("gidNumber", set(&["100"])),
            ("homeDirectory", set(&["/nonexistent"])),
        ];
        assert_eq!(l.add(COUNTER, attrs).await.expect("add").rc, 0);
        let done = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        for r in 0..4usize {
            let (url, done) = (url.clone(), done.clone());
            readers.push(tokio::spawn(async move {
                let mut l = common::reader(&url).await;
                let mut last = START;
                let mut reads = 0usize;
                for _ in 0..1_000_000 {
                    if done.load(Ordering::SeqCst) && reads > 0 {
                        break;
                    }
                    let (base, scope, filter) = match (r + reads) % 3 {
                        0 => (COUNTER, Scope::Base, "(objectClass=*)"),
                        1 => (SUFFIX, Scope::Subtree, "(uid=counter)"),
                        _ => (PEOPLE, Scope::OneLevel, "(uidNumber>=100000)"),
                    };
                    let (es, res) = search(&mut l, base, scope, filter, &["uidNumber"]).await;
                    assert_eq!(res.rc, 0, "{filter}: {res}");
                    assert_eq!(es.len(), 1, "{filter}: the counter entry exactly once");
                    let v = es[0].attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case("uidNumber")).map(|(_, v)| v);
                    let v: u64 = match v.map(|v| v.as_slice()) {
                        Some([one]) => one.parse().expect("integer"),
                        other => panic!("uidNumber of the counter: {other:?}"),
                    };
                    assert!((START..=START + CLIENTS * EACH).contains(&v), "counter out of range: {v}");
                    assert!(v >= last, "counter went back from {last} to {v}");
                    last = v;
                    reads += 1;
                }
                reads
            }));
        }
        let mut writers = Vec::new();
        for _ in 0..CLIENTS {
            let url = url.clone();
            writers.push(tokio::spawn(async move {
                let mut l = root(&url).await;
                for _ in 0..EACH {
                    let res = modify(&mut l, COUNTER, vec![Mod::Increment("uidNumber", "1")]).await;
                    assert_eq!(res.rc, 0, "increment: {res}");
                }
            }));
        }
        for w in writers {
            w.await.expect("writer");
        }
        done.store(true, Ordering::SeqCst);
        for r in readers {
            assert!(r.await.expect("reader") > 0);
        }
        let end = (START + CLIENTS * EACH).to_string();
        assert_eq!(values(&mut l, COUNTER, "uidNumber").await, std::slice::from_ref(&end));
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, &format!("(uidNumber={end})")).await, vec![COUNTER]);
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, &format!("(uidNumber={})", START + 1)).await.is_empty());
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber>=100000)").await, vec![COUNTER]);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Compare
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn compare_result_codes() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let mut nslcd = common::reader(&url).await;
        // Anonymous clients may not compare anything; the entry's existence is not disclosed.
        let mut anon = connect(&url).await;
        assert_eq!(compare(&mut anon, ALICE, "cn", "Alice Liddell").await.rc, 32);
        for c in [&mut l, &mut nslcd] {
            for (dn, attr, val, rc) in [
                (ALICE, "cn", "Alice Liddell", 6),
                (ALICE, "cn", "alice   LIDDELL", 6),
                (ALICE, "CN", "Alice", 5),
                (ALICE, "uid", "alice", 6),
                (ALICE, "uidNumber", "10001", 6),
                (ALICE, "uidNumber", "10002", 5),
                (ALICE, "objectClass", "posixaccount", 6),
                ("UID=Alice,OU=People,DC=Example,DC=Org", "mail", "ALICE@EXAMPLE.ORG", 6),
                (CHENWEI, "cn", "陈伟", 6),
                (NSLCD, "description", "workstation login service account", 6),
                (NSLCD, "mail", "nslcd@example.org", 16),
                (ALICE, "description", "x", 16),
                ("uid=nobody,ou=people,dc=example,dc=org", "cn", "x", 32),
                (ALICE, "fooBarBaz", "x", 17),
                (ALICE, "userPassword", "alice-secret", 50),
                (ALICE, "userPassword", "wrong", 50),
            ] {
                let res = compare(c, dn, attr, val).await;
                assert_eq!(res.rc, rc, "compare {dn} {attr}={val}: {res}");
                if rc == 32 {
                    assert_eq!(res.matched.to_ascii_lowercase(), PEOPLE);
                }
            }
        }
        // ldapcompare prints TRUE/FALSE and exits with the result code.
        let args = |ava: &'static str| ["-x", "-D", ROOT_DN, "-w", ROOT_PW, ALICE, ava];
        let out = s.ldap_tool("ldapcompare", &args("cn:alice liddell"));
        assert_eq!((out.status.code(), text(&out.stdout).trim()), (Some(6), "TRUE"), "{out:?}");
        let out = s.ldap_tool("ldapcompare", &args("cn:Bob Baker"));
        assert_eq!((out.status.code(), text(&out.stdout).trim()), (Some(5), "FALSE"), "{out:?}");
        let out = s.ldap_tool("ldapcompare", &["-x", "-D", NSLCD, "-w", "nslcd-secret", CHENWEI, "cn::6ZmI5Lyf"]);
        assert_eq!((out.status.code(), text(&out.stdout).trim()), (Some(6), "TRUE"), "{out:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Modify DN
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn modify_dn_renames() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        // ldapmodrdn -r (first: later renames of member uids do not concern this).
        let out = s.ldap_tool("ldapmodrdn", &["-x", "-D", ROOT_DN, "-w", ROOT_PW, "-r", STAFF, "cn=employees"]);
        assert!(out.status.success(), "ldapmodrdn: {}", text(&out.stderr));
        const EMPLOYEES: &str = "cn=employees,ou=groups,dc=example,dc=org";
        let e = entry_attrs(&mut l, EMPLOYEES).await.expect("renamed staff");
        assert_eq!(e["cn"], ["employees"]);
        assert_eq!(e["memberuid"], ["alice", "bob"]);
        assert_eq!(entry_attrs(&mut l, STAFF).await, None);
        // deleteoldrdn = 1: the old value goes.
        const ALICIA: &str = "uid=alicia,ou=people,dc=example,dc=org";
        let before = entry_attrs(&mut l, ALICE).await.expect("alice");
        assert_eq!(moddn(&mut l, ALICE, "uid=alicia", true, None).await.rc, 0);
        assert_eq!(entry_attrs(&mut l, ALICE).await, None);
        let mut want = before.clone();
        want.insert("uid".into(), vec!["alicia".into()]);
        assert_eq!(entry_attrs(&mut l, ALICIA).await, Some(want));
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=alice)").await.is_empty());
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=alicia)").await, vec![ALICIA]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber=10001)").await, vec![ALICIA]);
        assert_eq!(search_dns(&mut l, PEOPLE, Scope::OneLevel, "(objectClass=*)").await, vec![ALICIA, BOB, CHENWEI]);
        assert_eq!(common::bind_rc(&url, ALICIA, "alice-secret").await, 0);
        assert_eq!(common::bind_rc(&url, ALICE, "alice-secret").await, 49);

        // deleteoldrdn = 0: both values stay.
        const ROBERT: &str = "uid=robert,ou=people,dc=example,dc=org";
        assert_eq!(moddn(&mut l, BOB, "uid=robert", false, None).await.rc, 0);
        assert_eq!(entry_attrs(&mut l, BOB).await, None);
        assert_eq!(values(&mut l, ROBERT, "uid").await, ["bob", "robert"]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=bob)").await, vec![ROBERT]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=robert)").await, vec![ROBERT]);

        // To another naming attribute whose value is already there. Deleting the old RDN value
        // would remove uid, which posixAccount and shadowAccount require: 65, as slapd answers.
        const CHEN_CN: &str = "cn=Chen Wei,ou=people,dc=example,dc=org";
        let before = entry_attrs(&mut l, CHENWEI).await.expect("chenwei");
        assert_eq!(moddn(&mut l, CHENWEI, "cn=Chen Wei", true, None).await.rc, 65);
        assert_eq!(entry_attrs(&mut l, CHENWEI).await, Some(before));
        // Keeping it works, and the existing cn value is not duplicated.
        assert_eq!(moddn(&mut l, CHENWEI, "cn=Chen Wei", false, None).await.rc, 0);
        let e = entry_attrs(&mut l, CHEN_CN).await.expect("renamed chenwei");
        assert_eq!(e["cn"], ["Chen Wei", "陈伟"]);
        assert_eq!(e["uid"], ["chenwei"]);
        assert_eq!(search_dns(&mut l, PEOPLE, Scope::OneLevel, "(cn=chen wei)").await, vec![CHEN_CN]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn modify_dn_moves_with_new_superior() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        const MOVED: &str = "uid=alice,ou=services,dc=example,dc=org";
        let before = entry_attrs(&mut l, ALICE).await.expect("alice");
        assert_eq!(moddn(&mut l, ALICE, "uid=alice", true, Some(SERVICES)).await.rc, 0);
        assert_eq!(entry_attrs(&mut l, ALICE).await, None);
        assert_eq!(entry_attrs(&mut l, MOVED).await, Some(before));
        assert_eq!(search_dns(&mut l, PEOPLE, Scope::OneLevel, "(objectClass=*)").await, vec![BOB, CHENWEI]);
        assert_eq!(search_dns(&mut l, SERVICES, Scope::OneLevel, "(objectClass=*)").await, vec![NSLCD, MOVED]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=alice)").await, vec![MOVED]);
        assert!(search_dns(&mut l, PEOPLE, Scope::Subtree, "(uid=alice)").await.is_empty());
        assert_eq!(common::bind_rc(&url, MOVED, "alice-secret").await, 0);

        // Move and rename at once.
        const BOBBY: &str = "uid=bobby,ou=groups,dc=example,dc=org";
        assert_eq!(moddn(&mut l, BOB, "uid=bobby", true, Some(GROUPS)).await.rc, 0);
        assert_eq!(values(&mut l, BOBBY, "uid").await, ["bobby"]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=bob*)").await, vec![BOBBY]);

        // ldapmodrdn -s.
        const CHEN_MOVED: &str = "uid=chenwei,ou=services,dc=example,dc=org";
        let out = s.ldap_tool(
            "ldapmodrdn",
            &["-x", "-D", ROOT_DN, "-w", ROOT_PW, "-r", "-s", SERVICES, CHENWEI, "uid=chenwei"],
        );
        assert!(out.status.success(), "ldapmodrdn: {}", text(&out.stderr));
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=chenwei)").await, vec![CHEN_MOVED]);
        assert!(search_dns(&mut l, PEOPLE, Scope::OneLevel, "(objectClass=*)").await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn modify_dn_errors() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let people = search_dns(&mut l, SUFFIX, Scope::Subtree, "(objectClass=*)").await;
        // The target exists.
        let res = moddn(&mut l, ALICE, "uid=bob", true, None).await;
        assert_eq!(res.rc, 68, "{res}");
        let res = moddn(&mut l, ALICE, "cn=nslcd", true, Some(SERVICES)).await;
        assert_eq!(res.rc, 68, "{res}");
        // The new superior does not exist.
        let res = moddn(&mut l, ALICE, "uid=alice", true, Some("ou=nowhere,dc=example,dc=org")).await;
        assert_eq!(res.rc, 32, "{res}");
        assert_eq!(res.matched.to_ascii_lowercase(), SUFFIX);
        let res = moddn(&mut l, ALICE, "uid=alice", true, Some("ou=people,dc=other,dc=org")).await;
        assert_eq!(res.rc, 32, "{res}");
        // Below itself.
        let res = moddn(&mut l, PEOPLE, "ou=people", true, Some(ALICE)).await;
        assert_eq!(res.rc, 53, "{res}");
        let res = moddn(&mut l, PEOPLE, "ou=people2", true, Some(PEOPLE)).await;
        assert_eq!(res.rc, 53, "{res}");
        // A missing entry.
        let res = moddn(&mut l, "uid=nobody,ou=people,dc=example,dc=org", "uid=somebody", true, None).await;
        assert_eq!(res.rc, 32, "{res}");
        assert_eq!(res.matched.to_ascii_lowercase(), PEOPLE);
        // The suffix entry.
        let res = moddn(&mut l, SUFFIX, "dc=elsewhere", true, None).await;
        assert_eq!(res.rc, 53, "{res}");
        // An invalid new RDN.
        let res = moddn(&mut l, ALICE, "not an rdn", true, None).await;
        assert_eq!(res.rc, 34, "{res}");
        // A unique value of another entry (bob renamed to uid=alice under ou=services).
        let res = moddn(&mut l, BOB, "uid=alice", true, Some(SERVICES)).await;
        assert_eq!(res.rc, 19, "{res}");
        // Not without the right (bob is not an admin; nobody renames their own entry).
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let res = moddn(&mut bob, BOB, "uid=bob2", true, None).await;
        assert_eq!(res.rc, 50, "{res}");
        let res = moddn(&mut bob, ALICE, "uid=alice2", true, None).await;
        assert_eq!(res.rc, 50, "{res}");
        // Nothing moved.
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(objectClass=*)").await, people);
        assert_eq!(values(&mut l, ALICE, "uid").await, ["alice"]);
        assert_eq!(values(&mut l, BOB, "uid").await, ["bob"]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=alice)").await, vec![ALICE]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subtree_move_of_a_thousand_entries() {
    let mut s = lab_server();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        verify_lab_under(&mut l, LAB, LAB_MOVED).await;
        let res = moddn(&mut l, LAB, "ou=lab", true, Some(GROUPS)).await;
        assert_eq!(res.rc, 0, "{res}");
        verify_lab_under(&mut l, LAB_MOVED, LAB).await;
        assert_eq!(values(&mut l, LAB_MOVED, "ou").await, ["lab"]);
        // The moved entries are writable at their new DN only.
        let res = modify(&mut l, &lab_dn(1, LAB_MOVED), vec![Mod::Replace("description", set(&["moved"]))]).await;
        assert_eq!(res.rc, 0, "{res}");
        let res = modify(&mut l, &lab_dn(2, LAB), vec![Mod::Replace("description", set(&["moved"]))]).await;
        assert_eq!(res.rc, 32, "{res}");
        // A new child under the old name cannot be added (no parent); under the new it can.
        let child = || vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["sub"]))];
        let res = l.add(&format!("ou=sub,{LAB}"), child()).await.expect("add");
        assert_eq!(res.rc, 32, "{res}");
        let res = l.add(&format!("ou=sub,{LAB_MOVED}"), child()).await.expect("add");
        assert_eq!(res.rc, 0, "{res}");
        // Nested move back, with the new child.
        let res = moddn(&mut l, LAB_MOVED, "ou=lab", true, Some(SUFFIX)).await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(children(&mut l, LAB).await, LAB_SIZE + 1);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(ou=sub)").await, vec![format!("ou=sub,{LAB}")]);
        assert_eq!(delete(&mut l, &format!("ou=sub,{LAB}"), None).await.rc, 0);
        let res = moddn(&mut l, LAB, "ou=lab", true, Some(GROUPS)).await;
        assert_eq!(res.rc, 0, "{res}");
    })
    .await;
    s.stop();
    check_ok(&s, 4 + LAB_SIZE);
    s.start_existing();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        verify_lab_under(&mut l, LAB_MOVED, LAB).await;
        assert_eq!(values(&mut l, &lab_dn(1, LAB_MOVED), "description").await, ["moved"]);
    })
    .await;
}

/// The new RDN goes through the same checks as a Modify adding its value.
#[tokio::test(flavor = "multi_thread")]
async fn modify_dn_refuses_an_undefined_naming_attribute() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let before = entry_attrs(&mut l, BOB).await.expect("bob");
        let res = moddn(&mut l, BOB, "fooBarBaz=x", false, None).await;
        assert!(res.rc == 34 || res.rc == 17, "expected 34 (or 17): {res}");
        assert_eq!(entry_attrs(&mut l, BOB).await, Some(before));
        assert_eq!(entry_attrs(&mut l, "fooBarBaz=x,ou=people,dc=example,dc=org").await, None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn modify_dn_refuses_a_no_user_modification_naming_attribute() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let before = entry_attrs(&mut l, CHENWEI).await.expect("chenwei");
        for rdn in ["entryUUID=x", "createTimestamp=20200101000000Z"] {
            let res = moddn(&mut l, CHENWEI, rdn, false, None).await;
            assert_eq!(res.rc, 19, "new RDN {rdn}: {res}");
            assert_eq!(entry_attrs(&mut l, CHENWEI).await.as_ref(), Some(&before), "{rdn}");
        }
    })
    .await;
}

/// A search that runs while a subtree is moved or tree-deleted sees the subtree as it was
/// or as it is after the change, never half-changed, and never returns an entry outside
/// its base.
#[tokio::test(flavor = "multi_thread")]
async fn searches_see_a_subtree_change_wholly_or_not_at_all() {
    let s = lab_server();
    let url = s.url();
    bounded(LIMIT, async {
        let done = Arc::new(AtomicBool::new(false));
        let started = Arc::new(tokio::sync::Semaphore::new(0));
        let mut readers = Vec::new();
        for r in 0..6usize {
            let (url, done, started) = (url.clone(), done.clone(), started.clone());
            readers.push(tokio::spawn(async move {
                let mut l = root(&url).await;
                let mut bad = Vec::new();
                for n in 0..100_000usize {
                    if done.load(Ordering::SeqCst) {
                        return (n, bad);
                    }
                    let (base, scope, filter) = match r % 3 {
                        0 => (SUFFIX, Scope::Subtree, "(uid=lab*)"),
                        1 => (LAB, Scope::OneLevel, "(objectClass=*)"),
                        _ => (LAB_MOVED, Scope::OneLevel, "(objectClass=*)"),
                    };
                    let (es, res) = search(&mut l, base, scope, filter, &["1.1"]).await;
                    let dns: Vec<String> = es.into_iter().map(|e| e.dn.to_ascii_lowercase()).collect();
                    let all_under = |p: &str| dns.iter().all(|d| d.ends_with(&format!(",{p}")));
                    let ok = match (res.rc, dns.len()) {
                        (0, 0) => r % 3 == 0,
                        (0, LAB_SIZE) if r % 3 == 0 => all_under(LAB) || all_under(LAB_MOVED),
                        (0, LAB_SIZE) => all_under(base),
                        (32, 0) => r % 3 != 0,
                        _ => false,
                    };
                    if !ok {
                        let under_new = dns.iter().filter(|d| d.ends_with(LAB_MOVED)).count();
                        bad.push(format!(
                            "{filter} under {base}: rc {}, {} entries, {under_new} under {LAB_MOVED}",
                            res.rc,
                            dns.len()
                        ));
                    }
                    if n == 0 {
                        started.add_permits(1);
                    }
                }
                panic!("reader {r} was never stopped");
            }));
        }
        let _all = started.acquire_many(6).await.expect("readers started");
        let mut l = root(&url).await;
        for m in 0..4 {
            let (from, sup) = if m % 2 == 0 { (LAB, GROUPS) } else { (LAB_MOVED, SUFFIX) };
            assert_eq!(moddn(&mut l, from, "ou=lab", true, Some(sup)).await.rc, 0);
        }
        assert_eq!(delete(&mut l, LAB, Some(true)).await.rc, 0);
        done.store(true, Ordering::SeqCst);
        let mut bad = Vec::new();
        for r in readers {
            bad.extend(r.await.expect("reader").1);
        }
        bad.dedup();
        assert!(bad.is_empty(), "{} half-changed views, e.g. {:#?}", bad.len(), &bad[..bad.len().min(8)]);
    })
    .await;
}

/// Modifies of entries inside a subtree and adds below it, racing repeated moves of the
/// subtree: every acknowledged write is there afterwards, at the subtree's final place, and
/// nothing is left behind under the old one.
#[tokio::test(flavor = "multi_thread")]
async fn writes_racing_subtree_moves_are_kept() {
    const MOVES: usize = 6;
    let mut s = lab_server();
    let url = s.url();
    let added = bounded(LIMIT, async {
        let done = Arc::new(AtomicBool::new(false));
        let started = Arc::new(tokio::sync::Semaphore::new(0));
        let mut tasks = Vec::new();
        for c in 0..4usize {
            let (url, done, started) = (url.clone(), done.clone(), started.clone());
            tasks.push(tokio::spawn(async move {
                let mut l = root(&url).await;
                // RDN → last acknowledged value (modifiers) or k (adders).
                let mut acked: BTreeMap<String, u64> = BTreeMap::new();
                for k in 1..=1_000_000u64 {
                    if done.load(Ordering::SeqCst) {
                        break;
                    }
                    let adder = c >= 2;
                    let rdn = if adder {
                        format!("cn=new-{c}-{k}")
                    } else {
                        format!("uid=lab{:04}", c * 10 + k as usize % 10 + 1)
                    };
                    let v = k.to_string();
                    // The subtree is at one of two places, and a move may slip in between tries.
                    let mut ok = false;
                    for attempt in 0..20 {
                        let dn = format!("{rdn},{}", if attempt % 2 == 0 { LAB } else { LAB_MOVED });
                        let res = if adder {
                            let attrs = vec![
                                ("objectClass", set(&["applicationProcess"])),
                                ("cn", set(&[&rdn[3..]])),
                                ("description", set(&[v.as_str()])),
                            ];
                            l.with_timeout(OP_TIMEOUT).add(&dn, attrs).await.expect("add")
                        } else {
                            modify(&mut l, &dn, vec![Mod::Replace("description", set(&[v.as_str()]))]).await
                        };
                        match res.rc {
                            0 => {
                                ok = true;
                                break;
                            }
                            32 => continue,
                            rc => panic!("{dn}: rc {rc}: {res}"),
                        }
                    }
                    assert!(ok, "{rdn}: under neither parent in 20 tries");
                    acked.insert(rdn, k);
                    if k == 1 {
                        started.add_permits(1);
                    }
                }
                acked
            }));
        }
        // Every writer is under way before the first move.
        let _all = started.acquire_many(4).await.expect("writers started");
        let mut l = root(&url).await;
        for m in 0..MOVES {
            let (from, sup) = if m % 2 == 0 { (LAB, GROUPS) } else { (LAB_MOVED, SUFFIX) };
            let res = moddn(&mut l, from, "ou=lab", true, Some(sup)).await;
            assert_eq!(res.rc, 0, "move {m}: {res}");
        }
        done.store(true, Ordering::SeqCst);
        let mut acked = BTreeMap::new();
        for t in tasks {
            acked.extend(t.await.expect("writer"));
        }
        // MOVES is even: the subtree is back at ou=lab,dc=example,dc=org.
        let adds: Vec<String> =
            acked.keys().filter(|r| r.starts_with("cn=new-")).map(|r| format!("{r},{LAB}")).collect();
        assert_eq!(children(&mut l, LAB).await, LAB_SIZE + adds.len());
        assert_eq!(children(&mut l, LAB_MOVED).await, 0);
        let mut want = adds.clone();
        want.sort();
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(cn=new-*)").await, want);
        for (rdn, k) in &acked {
            let dn = format!("{rdn},{LAB}");
            assert_eq!(values(&mut l, &dn, "description").await, [k.to_string()], "{dn}");
        }
        eprintln!("{} entries written and {} added during {MOVES} moves", acked.len() - adds.len(), adds.len());
        adds.len()
    })
    .await;
    s.stop();
    check_ok(&s, 4 + LAB_SIZE + added);
}

// ---------------------------------------------------------------------------------------
// Tree Delete
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn tree_delete_control() {
    let mut s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let res = delete(&mut l, PEOPLE, None).await;
        assert_eq!(res.rc, 66, "{res}");
        assert_eq!(children(&mut l, PEOPLE).await, 3);
        // Not without the right, control or not (bob is not an admin).
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        assert_eq!(delete(&mut bob, PEOPLE, Some(true)).await.rc, 50);
        assert_eq!(children(&mut l, PEOPLE).await, 3);

        let res = delete(&mut l, PEOPLE, Some(true)).await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(entry_attrs(&mut l, PEOPLE).await, None);
        for dn in [ALICE, BOB, CHENWEI] {
            assert_eq!(entry_attrs(&mut l, dn).await, None, "{dn}");
        }
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(|(uid=*)(mail=*)(uidNumber>=0))").await.is_empty());
        let rest = search_dns(&mut l, SUFFIX, Scope::Subtree, "(objectClass=*)").await;
        assert_eq!(rest.len(), 7, "{rest:?}");
        // A leaf with the control; a missing entry with it.
        assert_eq!(delete(&mut l, NSLCD, Some(true)).await.rc, 0);
        let res = delete(&mut l, "ou=nowhere,dc=example,dc=org", Some(true)).await;
        assert_eq!(res.rc, 32, "{res}");
        assert_eq!(res.matched.to_ascii_lowercase(), SUFFIX);
        // ldapdelete -r deletes the children itself.
        let out = s.ldap_tool("ldapdelete", &["-x", "-D", ROOT_DN, "-w", ROOT_PW, "-r", GROUPS]);
        assert!(out.status.success(), "ldapdelete -r: {}", text(&out.stderr));
        assert_eq!(
            search_dns(&mut l, SUFFIX, Scope::Subtree, "(objectClass=*)").await,
            vec![SUFFIX.to_string(), SERVICES.to_string()]
        );
        // The unique indexes forgot the deleted entries: the same names and values are free.
        assert_eq!(
            l.add(PEOPLE, vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["people"]))])
                .await
                .expect("add")
                .rc,
            0
        );
        let attrs = vec![
            ("objectClass", set(&["inetOrgPerson", "posixAccount"])),
            ("uid", set(&["alice"])),
            ("cn", set(&["Alice Again"])),
            ("sn", set(&["Again"])),
            ("mail", set(&["alice@example.org"])),
            ("uidNumber", set(&["10001"])),
            ("gidNumber", set(&["10001"])),
            ("homeDirectory", set(&["/home/alice"])),
        ];
        let res = l.add(ALICE, attrs).await.expect("add");
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uidNumber=10001)").await, vec![ALICE]);
    })
    .await;
    s.stop();
    check_ok(&s, 4);
}

/// Adds below a subtree racing its Tree Delete: once the delete is acknowledged, the adds
/// get noSuchObject, and no added entry survives without its parent.
#[tokio::test(flavor = "multi_thread")]
async fn adds_racing_a_tree_delete_leave_no_orphans() {
    let mut s = lab_server();
    let url = s.url();
    bounded(LIMIT, async {
        let acks = Arc::new(AtomicUsize::new(0));
        let enough = Arc::new(tokio::sync::Notify::new());
        let mut adders = Vec::new();
        for c in 0..3usize {
            let (url, acks, enough) = (url.clone(), acks.clone(), enough.clone());
            adders.push(tokio::spawn(async move {
                let mut l = root(&url).await;
                for k in 1..=1_000_000u64 {
                    let cn = format!("new-{c}-{k}");
                    let attrs = vec![("objectClass", set(&["applicationProcess"])), ("cn", set(&[cn.as_str()]))];
                    let res = l.with_timeout(OP_TIMEOUT).add(&format!("cn={cn},{LAB}"), attrs).await.expect("add");
                    match res.rc {
                        0 => {
                            if acks.fetch_add(1, Ordering::SeqCst) + 1 == 30 {
                                enough.notify_one();
                            }
                        }
                        32 => {
                            assert_eq!(res.matched.to_ascii_lowercase(), SUFFIX, "{res}");
                            return k;
                        }
                        rc => panic!("add {cn}: rc {rc}: {res}"),
                    }
                }
                panic!("adder {c} never saw the parent go");
            }));
        }
        enough.notified().await;
        let mut l = root(&url).await;
        let res = delete(&mut l, LAB, Some(true)).await;
        assert_eq!(res.rc, 0, "{res}");
        for a in adders {
            a.await.expect("adder");
        }
        assert_eq!(entry_attrs(&mut l, LAB).await, None);
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(|(cn=new-*)(uid=lab*)(uidNumber>=40000))")
            .await
            .is_empty());
        assert_eq!(
            search_dns(&mut l, SUFFIX, Scope::Subtree, "(objectClass=*)").await,
            vec![SUFFIX.to_string(), GROUPS.to_string(), PEOPLE.to_string()]
        );
        // The unique values of the deleted entries are free again.
        let ou = vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["lab"]))];
        assert_eq!(l.add(LAB, ou).await.expect("add").rc, 0);
        let attrs = vec![
            ("objectClass", set(&["inetOrgPerson", "posixAccount"])),
            ("uid", set(&["lab0001"])),
            ("cn", set(&["Lab Member 1"])),
            ("sn", set(&["Lab"])),
            ("uidNumber", set(&["40001"])),
            ("gidNumber", set(&["40000"])),
            ("homeDirectory", set(&["/home/lab0001"])),
        ];
        let res = l.add(&lab_dn(1, LAB), attrs).await.expect("add");
        assert_eq!(res.rc, 0, "{res}");
    })
    .await;
    s.stop();
    check_ok(&s, 5);
}

// ---------------------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn modifies_racing_kill_9_keep_acknowledged_values() {
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 2;
    const KILL_AFTER: usize = 300;
    let dn = |c: usize, j: usize| format!("cn=m{c}-{j},ou=people,dc=example,dc=org");
    let mut s = Server::empty();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let ou = vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["people"]))];
        assert_eq!(l.add(PEOPLE, ou).await.expect("add").rc, 0);
        for c in 0..CLIENTS {
            for j in 0..PER_CLIENT {
                let cn = format!("m{c}-{j}");
                let attrs = vec![
                    ("objectClass", set(&["applicationProcess"])),
                    ("cn", set(&[cn.as_str()])),
                    ("description", set(&["0"])),
                ];
                assert_eq!(l.add(&dn(c, j), attrs).await.expect("add").rc, 0);
            }
        }
    })
    .await;
    let acked_total = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (url, acked_total, enough) = (url.clone(), acked_total.clone(), enough.clone());
        clients.push(tokio::spawn(async move {
            // Per entry: (last acknowledged value, last value sent).
            let mut state = [(0u64, 0u64); PER_CLIENT];
            let mut l = root(&url).await;
            for k in 1..=1_000_000u64 {
                let j = k as usize % PER_CLIENT;
                state[j].1 = k;
                let v = k.to_string();
                let target = dn(c, j);
                let r = l
                    .with_timeout(Duration::from_secs(10))
                    .modify(&target, vec![Mod::Replace("description", set(&[v.as_str()]))])
                    .await;
                match r {
                    Ok(res) if res.rc == 0 => {
                        state[j].0 = k;
                        if acked_total.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                            enough.notify_one();
                        }
                    }
                    Ok(res) if res.rc == 80 || res.rc == 51 => break,
                    Ok(res) => panic!("modify {target}: {res}"),
                    // The server went away.
                    Err(_) => break,
                }
            }
            state
        }));
    }
    bounded(LIMIT, enough.notified()).await;
    tokio::task::block_in_place(|| s.kill9());
    let mut states = Vec::new();
    bounded(LIMIT, async {
        for c in clients {
            states.push(c.await.expect("client"));
        }
    })
    .await;
    assert!(acked_total.load(Ordering::SeqCst) >= KILL_AFTER);
    // The crashed store is consistent as it is.
    check_ok(&s, 2 + CLIENTS * PER_CLIENT);
    s.start_existing();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        for (c, state) in states.iter().enumerate() {
            for (j, &(acked, sent)) in state.iter().enumerate() {
                let got = values(&mut l, &dn(c, j), "description").await;
                let [v] = got.as_slice() else { panic!("{}: description {got:?}", dn(c, j)) };
                let v: u64 = v.parse().expect("integer description");
                assert!(
                    v == acked || (v > acked && v <= sent && v as usize % PER_CLIENT == j),
                    "{}: {v} after restart; last acknowledged {acked}, last sent {sent}",
                    dn(c, j)
                );
                // The equality index agrees.
                assert_eq!(
                    search_dns(&mut l, PEOPLE, Scope::OneLevel, &format!("(&(cn=m{c}-{j})(description={v}))")).await,
                    vec![dn(c, j)]
                );
            }
        }
        // Writes work after the restart.
        let res = modify(&mut l, &dn(0, 0), vec![Mod::Replace("description", set(&["after"]))]).await;
        assert_eq!(res.rc, 0, "{res}");
    })
    .await;
    s.stop();
    check_ok(&s, 2 + CLIENTS * PER_CLIENT);
}

#[tokio::test(flavor = "multi_thread")]
async fn subtree_move_racing_kill_9_is_all_or_nothing() {
    use rand::Rng;
    const ROUNDS: usize = 6;
    let mut s = lab_server();
    let url = s.url();
    // An unraced move first, to learn how long a move takes here.
    let took = bounded(LIMIT, async {
        let mut l = root(&url).await;
        let started = Instant::now();
        let res = moddn(&mut l, LAB, "ou=lab", true, Some(GROUPS)).await;
        assert_eq!(res.rc, 0, "{res}");
        started.elapsed()
    })
    .await;
    let max_delay = (took.as_micros() as u64 * 3 / 2).clamp(1_000, 2_000_000);
    let mut at_new = true;
    let mut outcomes = Vec::new();
    for round in 0..ROUNDS {
        let (from, new_sup, to) = if at_new { (LAB_MOVED, SUFFIX, LAB) } else { (LAB, GROUPS, LAB_MOVED) };
        let delay = Duration::from_micros(rand::thread_rng().gen_range(0..=max_delay));
        let mut l = bounded(LIMIT, root(&url)).await;
        let mover = tokio::spawn(async move {
            let r = l.with_timeout(Duration::from_secs(20)).modifydn(from, "ou=lab", true, Some(new_sup)).await;
            matches!(r, Ok(res) if res.rc == 0)
        });
        // The requested random, bounded delay between sending the move and the kill.
        tokio::time::sleep(delay).await;
        tokio::task::block_in_place(|| s.kill9());
        let acknowledged = bounded(LIMIT, mover).await.expect("mover");
        check_ok(&s, 4 + LAB_SIZE);
        s.start_existing();
        let (old, new) = bounded(LIMIT, async {
            let mut l = root(&url).await;
            (children(&mut l, from).await, children(&mut l, to).await)
        })
        .await;
        assert!(
            (old, new) == (LAB_SIZE, 0) || (old, new) == (0, LAB_SIZE),
            "round {round} (delay {delay:?}): {old} children under {from}, {new} under {to}"
        );
        if acknowledged {
            assert_eq!(new, LAB_SIZE, "round {round}: an acknowledged move was lost");
        }
        let moved = new == LAB_SIZE;
        bounded(LIMIT, async {
            let mut l = root(&url).await;
            let (now, other) = if moved { (to, from) } else { (from, to) };
            verify_lab_under(&mut l, now, other).await;
        })
        .await;
        outcomes.push((delay, acknowledged, moved));
        at_new = if moved { !at_new } else { at_new };
    }
    eprintln!("unraced move took {took:?}; rounds (delay, acknowledged, moved): {outcomes:?}");
    s.stop();
    check_ok(&s, 4 + LAB_SIZE);
}

// ---------------------------------------------------------------------------------------
// Groups that maintain themselves
// ---------------------------------------------------------------------------------------

const ADMINS: &str = "cn=it-admins,ou=groups,dc=example,dc=org";

/// The memberOf values of an entry (operational: asked for by name), lower-cased, sorted.
async fn member_of(l: &mut Ldap, dn: &str) -> Vec<String> {
    let (es, res) = search(l, dn, Scope::Base, "(objectClass=*)", &["memberOf"]).await;
    assert_eq!(res.rc, 0, "{dn}: {res}");
    let mut v: Vec<String> =
        es[0].attrs.get("memberOf").cloned().unwrap_or_default().into_iter().map(|s| s.to_ascii_lowercase()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn member_of_follows_group_changes() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        // The demo group has alice; memberOf is not a user attribute.
        assert_eq!(member_of(&mut l, ALICE).await, vec![ADMINS]);
        assert!(!entry_attrs(&mut l, ALICE).await.expect("alice").contains_key("memberof"));
        let filter = format!("(memberOf={ADMINS})");
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, &filter).await, vec![ALICE]);

        // Adding and removing members.
        assert_eq!(modify(&mut l, ADMINS, vec![Mod::Add("member", HashSet::from([BOB]))]).await.rc, 0);
        assert_eq!(member_of(&mut l, BOB).await, vec![ADMINS]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, &filter).await, sorted_dns(&[ALICE, BOB]));
        assert_eq!(modify(&mut l, ADMINS, vec![Mod::Delete("member", HashSet::from([ALICE]))]).await.rc, 0);
        assert!(member_of(&mut l, ALICE).await.is_empty());

        // A new groupOfUniqueNames.
        const NET: &str = "cn=netadmins,ou=groups,dc=example,dc=org";
        let add = l
            .add(
                NET,
                vec![
                    ("objectClass", HashSet::from(["groupOfUniqueNames"])),
                    ("cn", HashSet::from(["netadmins"])),
                    ("uniqueMember", HashSet::from([BOB, CHENWEI])),
                ],
            )
            .await
            .expect("add group");
        assert_eq!(add.rc, 0);
        assert_eq!(member_of(&mut l, BOB).await, vec![ADMINS, NET]);
        assert_eq!(member_of(&mut l, CHENWEI).await, vec![NET]);

        // Renaming a group rewrites its members' memberOf.
        const OPS: &str = "cn=ops,ou=groups,dc=example,dc=org";
        assert_eq!(moddn(&mut l, NET, "cn=ops", true, None).await.rc, 0);
        assert_eq!(member_of(&mut l, CHENWEI).await, vec![OPS]);

        // Deleting a group removes it from its members' memberOf.
        assert_eq!(delete(&mut l, OPS, None).await.rc, 0);
        assert!(member_of(&mut l, CHENWEI).await.is_empty());
        assert_eq!(member_of(&mut l, BOB).await, vec![ADMINS]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn member_references_follow_renames_and_deletes() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        // Renaming a member rewrites the group's member value; memberOf stays.
        const ALICIA: &str = "uid=alicia,ou=people,dc=example,dc=org";
        assert_eq!(moddn(&mut l, ALICE, "uid=alicia", true, None).await.rc, 0);
        assert_eq!(values(&mut l, ADMINS, "member").await, vec![ALICIA]);
        assert_eq!(member_of(&mut l, ALICIA).await, vec![ADMINS]);
        // The uid rename also rewrote memberUid of the posix group.
        assert_eq!(values(&mut l, STAFF, "memberUid").await, vec!["alicia", "bob"]);

        // Moving a member to another branch.
        const MOVED: &str = "uid=alicia,ou=services,dc=example,dc=org";
        assert_eq!(moddn(&mut l, ALICIA, "uid=alicia", true, Some(SERVICES)).await.rc, 0);
        assert_eq!(values(&mut l, ADMINS, "member").await, vec![MOVED]);

        // Deleting a member removes the value.
        assert_eq!(modify(&mut l, ADMINS, vec![Mod::Add("member", HashSet::from([BOB]))]).await.rc, 0);
        assert_eq!(delete(&mut l, MOVED, None).await.rc, 0);
        assert_eq!(values(&mut l, ADMINS, "member").await, vec![BOB]);
    })
    .await;
    let mut s = s;
    s.stop();
    check_ok(&s, 10);
}

fn sorted_dns(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Schema enforcement on writes
// ---------------------------------------------------------------------------------------

/// A DN and its attributes, as `Ldap::add` takes them.
type AddRequest = (&'static str, Vec<(&'static str, HashSet<&'static str>)>);

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_checked_against_the_schema() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut l = root(&url).await;
        let add = |dn: &'static str, attrs: Vec<(&'static str, Vec<&'static str>)>| {
            let attrs: Vec<(&str, HashSet<&str>)> =
                attrs.into_iter().map(|(a, v)| (a, v.into_iter().collect::<HashSet<_>>())).collect();
            (dn, attrs)
        };
        let person = |extra: Vec<(&'static str, Vec<&'static str>)>| {
            let mut a = vec![("objectClass", vec!["person"]), ("cn", vec!["Pat"]), ("sn", vec!["Doe"])];
            a.extend(extra);
            add("cn=Pat,ou=people,dc=example,dc=org", a)
        };
        let cases: Vec<(AddRequest, u32, &str)> = vec![
            (person(vec![("fooBar", vec!["x"])]), 17, "unknown attribute"),
            (person(vec![("uid", vec!["pat"])]), 65, "attribute not allowed by person"),
            (person(vec![("objectClass", vec!["noSuchClass"])]), 21, "unknown object class"),
            (
                add("cn=Pat,ou=people,dc=example,dc=org", vec![("objectClass", vec!["person"]), ("cn", vec!["Pat"])]),
                65,
                "MUST sn missing",
            ),
            (
                add(
                    "cn=Pat,ou=people,dc=example,dc=org",
                    vec![("objectClass", vec!["posixAccount"]), ("cn", vec!["Pat"])],
                ),
                65,
                "no structural class",
            ),
            (
                add(
                    "cn=Pat,ou=people,dc=example,dc=org",
                    vec![
                        ("objectClass", vec!["person", "organizationalUnit"]),
                        ("cn", vec!["Pat"]),
                        ("sn", vec!["D"]),
                        ("ou", vec!["x"]),
                    ],
                ),
                65,
                "two structural chains",
            ),
            (
                person(vec![
                    ("objectClass", vec!["posixAccount"]),
                    ("uid", vec!["pat"]),
                    ("uidNumber", vec!["abc"]),
                    ("gidNumber", vec!["1"]),
                    ("homeDirectory", vec!["/h"]),
                ]),
                21,
                "integer syntax",
            ),
            (
                person(vec![
                    ("objectClass", vec!["posixAccount"]),
                    ("uid", vec!["pat"]),
                    ("uidNumber", vec!["1", "2"]),
                    ("gidNumber", vec!["1"]),
                    ("homeDirectory", vec!["/h"]),
                ]),
                19,
                "single value",
            ),
            (
                add(
                    "cn=Pat,ou=people,dc=example,dc=org",
                    vec![("objectClass", vec!["person"]), ("cn", vec!["Other"]), ("sn", vec!["D"])],
                ),
                64,
                "RDN value missing",
            ),
            (
                person(vec![("objectClass", vec!["extensibleObject"]), ("uid", vec!["pat"])]),
                0,
                "extensibleObject allows any attribute",
            ),
        ];
        for ((dn, attrs), code, why) in cases {
            let res = l.add(dn, attrs).await.expect("add");
            assert_eq!(res.rc, code, "{why}: {res}");
            if code == 0 {
                assert_eq!(delete(&mut l, dn, None).await.rc, 0);
            }
        }
        // Modify: a MUST attribute cannot go, nor the structural class change; syntax is checked.
        assert_eq!(modify(&mut l, ALICE, vec![Mod::Delete("sn", HashSet::new())]).await.rc, 65);
        assert_eq!(modify(&mut l, ALICE, vec![Mod::Replace("uidNumber", HashSet::from(["abc"]))]).await.rc, 21);
        assert_eq!(
            modify(
                &mut l,
                ALICE,
                vec![
                    Mod::Delete("objectClass", HashSet::from(["inetOrgPerson"])),
                    Mod::Add("objectClass", HashSet::from(["account"]))
                ]
            )
            .await
            .rc,
            69
        );
        assert_eq!(
            modify(&mut l, ALICE, vec![Mod::Add("objectClass", HashSet::from(["extensibleObject"]))]).await.rc,
            0
        );
    })
    .await;
}

#[test]
fn import_checks_the_schema_unless_told_not_to() {
    let s = Server::offline("");
    let ldif = "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n\
                dn: cn=x,dc=example,dc=org\nobjectClass: person\ncn: x\n\n";
    let file = s.dir().join("bad.ldif");
    std::fs::write(&file, ldif).expect("write");
    let path = file.to_str().expect("utf-8");
    let out = s.birch_bounded(&["import", path], CMD);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bad.ldif:7:") && err.contains("'sn'"), "{err}");
    let out = s.birch_bounded(&["import", "--no-schema-check", path], CMD);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

// ---------------------------------------------------------------------------------------
// Password Modify (RFC 3062)
// ---------------------------------------------------------------------------------------

/// What an ldap-utils command printed, both streams (ldappasswd prints results on stdout).
fn both(out: &std::process::Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn password_modify_with_ldappasswd() {
    let s = Server::demo();
    let url = s.url();
    let run = |args: &[&str]| s.ldap_tool("ldappasswd", &[&["-x"], args].concat());
    // Self change with the old password, then the new one works and the old does not.
    let out = run(&["-D", ALICE, "-w", "alice-secret", "-a", "alice-secret", "-s", "alice-new"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Self change without the old password (the user is bound); the default policy wants
    // at least 8 characters.
    let out = run(&["-D", BOB, "-w", "bob-secret", "-s", "bob-new-pw"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A wrong old password: 53, as slapd answers.
    let out = run(&["-D", ALICE, "-w", "alice-new", "-a", "wrong", "-s", "x"]);
    assert!(!out.status.success());
    assert!(both(&out).contains("(53)"), "{}", both(&out));
    // Someone else's password (chenwei is no admin; alice is, in the demo): 50; anonymous: 8
    // strongAuthRequired, as slapd answers, whether or not it names a user.
    let out = run(&["-D", CHENWEI, "-w", "chenwei-secret", "-s", "x", BOB]);
    assert!(both(&out).contains("(50)"), "{}", both(&out));
    let out = run(&["-s", "x"]);
    assert!(both(&out).contains("(8)"), "{}", both(&out));
    let out = run(&["-s", "x", BOB]);
    assert!(both(&out).contains("(8)"), "{}", both(&out));
    // An admin reset with a generated password, printed by ldappasswd.
    let out = run(&["-D", ROOT_DN, "-w", ROOT_PW, CHENWEI]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let generated = stdout.trim().strip_prefix("New password: ").expect("generated password").to_string();
    assert_eq!(generated.len(), 20);
    bounded(LIMIT, async {
        assert_eq!(common::bind_rc(&url, ALICE, "alice-new").await, 0);
        assert_eq!(common::bind_rc(&url, ALICE, "alice-secret").await, 49);
        assert_eq!(common::bind_rc(&url, BOB, "bob-new-pw").await, 0);
        assert_eq!(common::bind_rc(&url, CHENWEI, &generated).await, 0);
        assert_eq!(common::bind_rc(&url, CHENWEI, "chenwei-secret").await, 49);
        // The stored value is argon2id, never readable.
        let mut l = root(&url).await;
        assert!(values(&mut l, ALICE, "userPassword").await.is_empty());
    })
    .await;
    let mut s = s;
    s.stop();
    let ldif = export(&s);
    let alice = ldif.split("\n\n").find(|r| r.starts_with(&format!("dn: {ALICE}"))).expect("alice exported");
    assert!(alice.contains("userPassword: {ARGON2}$argon2id$"), "{alice}");
}
