//! Black-box tests of the write pipeline's order and bounds: nothing expensive runs for a
//! requester the access check refuses, password values and value lists are bounded for
//! users who are not administrators, and a reset is only what is one (issues #22, #23
//! items 4 and 6, #24 item 9).
mod common;

use common::demo::{ALICE, BOB, NSLCD, PEOPLE};
use common::{bounded, connect, connect_as, search, Server, ROOT_DN, ROOT_PW};
use ldap3::{Mod, Scope};
use std::collections::HashSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn scrape(port: u16) -> String {
    common::scrape_metrics(port)
}

fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{series} missing in {text}"))
}

/// An attribute's values, whatever the case of its name in the answer.
fn attr(e: &ldap3::SearchEntry, name: &str) -> Option<Vec<String>> {
    e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}

fn values(n: usize, prefix: &str) -> HashSet<String> {
    (0..n).map(|i| format!("{prefix}{i:06}")).collect()
}

/// An anonymous client asking to set another user's password with many values gets the
/// access check's answer (here: no such entry, since it may not learn of alice) or the
/// bound's, at once: no password is hashed for it.
#[tokio::test(flavor = "multi_thread")]
async fn refused_password_writes_hash_nothing() {
    let port = common::free_port();
    let s = Server::start_with(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"), true);
    bounded(LIMIT, async {
        let before = counter(&scrape(port), "birch_password_hashes_total");
        let mut anon = connect(&s.url()).await;
        let one = anon.modify(ALICE, vec![Mod::Replace("userPassword", HashSet::from(["guess-1"]))]).await.unwrap();
        assert_eq!(one.rc, 32, "anonymous may not learn that alice exists: {one:?}");
        let many = values(400, "pw-");
        let res = anon.modify(ALICE, vec![Mod::Replace("userPassword", many.iter().map(String::as_str).collect())]);
        let res = res.await.unwrap();
        assert_eq!(res.rc, 19, "{res:?}");
        assert_eq!(res.text, "Password policy only allows one password value");
        // An ordinary user on someone else's password: refused before any hashing too.
        let mut bob = connect_as(&s.url(), BOB, "bob-secret").await;
        let res =
            bob.modify(ALICE, vec![Mod::Replace("userPassword", HashSet::from(["bobs-choice-1"]))]).await.unwrap();
        assert_eq!(res.rc, 50, "{res:?}");
        let res = bob.modify(BOB, vec![Mod::Add("userPassword", HashSet::from(["x-one-1", "x-two-2"]))]).await.unwrap();
        assert_eq!(res.rc, 19, "two new values of one's own: {res:?}");
        assert_eq!(counter(&scrape(port), "birch_password_hashes_total"), before, "nothing was hashed");
        // The owner's own change is hashed (once).
        let res = bob
            .modify(
                BOB,
                vec![
                    Mod::Delete("userPassword", HashSet::from(["bob-secret"])),
                    Mod::Add("userPassword", HashSet::from(["bob-new-secret-1"])),
                ],
            )
            .await
            .unwrap();
        assert_eq!(res.rc, 0, "{res:?}");
        assert_eq!(counter(&scrape(port), "birch_password_hashes_total"), before + 1);
        assert_eq!(common::bind_rc(&s.url(), BOB, "bob-new-secret-1").await, 0);
    })
    .await;
}

/// A user who is not an administrator cannot make the server hold and compare huge value
/// lists: beyond `[limits] write_values_per_attribute` the write answers 11; the root DN
/// is not bounded, and a large list is handled in linear time.
#[tokio::test(flavor = "multi_thread")]
async fn value_lists_are_bounded_for_users() {
    let s = Server::start_with("[limits]\nwrite_values_per_attribute = 500\nwrite_values = 800\n", true);
    bounded(LIMIT, async {
        let mut bob = connect_as(&s.url(), BOB, "bob-secret").await;
        let phones = values(501, "+86 10 ");
        let res = bob.modify(BOB, vec![Mod::Replace("telephoneNumber", phones.iter().map(String::as_str).collect())]);
        let res = res.await.unwrap();
        assert_eq!(res.rc, 11, "adminLimitExceeded: {res:?}");
        assert!(res.text.contains("telephoneNumber: 501 values"), "{}", res.text);
        let phones = values(500, "+86 10 ");
        let res = bob.modify(BOB, vec![Mod::Replace("telephoneNumber", phones.iter().map(String::as_str).collect())]);
        assert_eq!(res.await.unwrap().rc, 0);
        // Two attributes of 400 and 401 values: over the request's 800.
        let (a, b) = (values(400, "a"), values(401, "b"));
        let res = bob
            .modify(
                BOB,
                vec![
                    Mod::Replace("description", a.iter().map(String::as_str).collect()),
                    Mod::Replace("telephoneNumber", b.iter().map(String::as_str).collect()),
                ],
            )
            .await
            .unwrap();
        assert_eq!(res.rc, 11, "{res:?}");
        let (got, _) = search(&mut bob, BOB, Scope::Base, "(objectClass=*)", &["telephoneNumber"]).await;
        assert_eq!(attr(&got[0], "telephoneNumber").map(|v| v.len()), Some(500), "the refused write changed nothing");
        // The root DN is not bounded: 30,000 values (a quadratic check took seconds).
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let many = values(30_000, "+1 555 ");
        let res = root.modify(BOB, vec![Mod::Replace("telephoneNumber", many.iter().map(String::as_str).collect())]);
        assert_eq!(res.await.unwrap().rc, 0);
        // A duplicate among many is still found.
        let res = root.modify(BOB, vec![Mod::Add("telephoneNumber", HashSet::from(["+1 555 029999"]))]).await.unwrap();
        assert_eq!(res.rc, 20, "attributeOrValueExists: {res:?}");
    })
    .await;
}

/// A password someone else sets is a reset (must change at the next login) only when it is
/// a cleartext password of a person: pre-hashed values (a migration) and service accounts
/// are not.
#[tokio::test(flavor = "multi_thread")]
async fn resets_are_only_cleartext_passwords_of_people() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let person = |uid: &'static str, pw: &'static str| {
            vec![
                ("objectClass", HashSet::from(["inetOrgPerson"])),
                ("uid", HashSet::from([uid])),
                ("cn", HashSet::from([uid])),
                ("sn", HashSet::from([uid])),
                ("userPassword", HashSet::from([pw])),
            ]
        };
        // {SSHA} of "secret", made by slappasswd.
        let migrated = "{SSHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr";
        let dn = |uid: &str| format!("uid={uid},{PEOPLE}");
        assert_eq!(root.add(&dn("migrated"), person("migrated", migrated)).await.unwrap().rc, 0);
        assert_eq!(root.add(&dn("fresh"), person("fresh", "temporary-pw-1")).await.unwrap().rc, 0);
        let switch = "cn=switch-7,ou=services,dc=example,dc=org";
        let service = vec![
            ("objectClass", HashSet::from(["applicationProcess", "simpleSecurityObject"])),
            ("cn", HashSet::from(["switch-7"])),
            ("userPassword", HashSet::from(["a-long-generated-secret"])),
        ];
        assert_eq!(root.add(switch, service).await.unwrap().rc, 0);
        let reset = |e: &ldap3::SearchEntry| attr(e, "pwdReset");
        for (who, want) in
            [(dn("migrated"), None), (dn("fresh"), Some(vec!["TRUE".to_string()])), (switch.to_string(), None)]
        {
            let (got, _) = search(&mut root, &who, Scope::Base, "(objectClass=*)", &["pwdReset"]).await;
            assert_eq!(reset(&got[0]), want, "{who}");
        }
        // The migrated account searches at once; the fresh one must change first (50).
        let mut migrated_user = connect_as(&s.url(), &dn("migrated"), "secret").await;
        let (found, res) = search(&mut migrated_user, PEOPLE, Scope::OneLevel, "(uid=migrated)", &["uid"]).await;
        assert_eq!((found.len(), res.rc), (1, 0));
        let mut sw = connect_as(&s.url(), switch, "a-long-generated-secret").await;
        assert_eq!(search(&mut sw, PEOPLE, Scope::OneLevel, "(uid=bob)", &["uid"]).await.0.len(), 1);
        let mut fresh = connect_as(&s.url(), &dn("fresh"), "temporary-pw-1").await;
        let res = fresh.search(PEOPLE, Scope::OneLevel, "(uid=bob)", vec!["uid"]).await.unwrap().1;
        assert_eq!(res.rc, 50, "{res:?}");
        // The service account's password reset by the admin is no reset either.
        let res =
            root.modify(NSLCD, vec![Mod::Replace("userPassword", HashSet::from(["nslcd-new-secret"]))]).await.unwrap();
        assert_eq!(res.rc, 0);
        let (got, _) = search(&mut root, NSLCD, Scope::Base, "(objectClass=*)", &["pwdReset"]).await;
        assert_eq!(reset(&got[0]), None);
    })
    .await;
}

/// An entry a requester may not learn of answers exactly as a missing one: the same code and
/// a matchedDN naming only what the requester may know (issue #23 item 10).
#[tokio::test(flavor = "multi_thread")]
async fn hidden_entries_answer_as_missing_ones() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut anon = connect(&s.url()).await;
        let missing = format!("uid=nosuchuser,{PEOPLE}");
        let mut answers = Vec::new();
        for dn in [ALICE, missing.as_str()] {
            let search = anon.search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"]).await.unwrap().1;
            let modify = anon.modify(dn, vec![Mod::Replace("description", HashSet::from(["x"]))]).await.unwrap();
            let compare = anon.compare(dn, "uid", "alice").await.unwrap().0;
            let delete = anon.delete(dn).await.unwrap();
            answers.push([search, modify, compare, delete].map(|r| (r.rc, r.matched)).to_vec());
        }
        assert_eq!(answers[0], answers[1], "alice and a missing user must look the same to anonymous");
        assert!(answers[0].iter().all(|(rc, _)| *rc == 32), "{:?}", answers[0]);
        // A user who may see alice learns that she exists (and is refused the change).
        let mut bob = connect_as(&s.url(), BOB, "bob-secret").await;
        let res = bob.modify(ALICE, vec![Mod::Replace("description", HashSet::from(["x"]))]).await.unwrap();
        assert_eq!(res.rc, 50, "{res:?}");
        let res = bob.modify(&missing, vec![Mod::Replace("description", HashSet::from(["x"]))]).await.unwrap();
        assert_eq!((res.rc, res.matched.as_str()), (32, PEOPLE), "{res:?}");
    })
    .await;
}

/// Password changes cost hashing on the shared pool: a user who is not an administrator
/// gets `[rate_limit] password_changes_burst` of them, then 51 busy before anything is
/// hashed (issue #23 item 4); the admins are not throttled.
#[tokio::test(flavor = "multi_thread")]
async fn password_changes_are_rate_limited_per_user() {
    let s = Server::start_with("[rate_limit]\npassword_changes_burst = 2\npassword_changes_per_minute = 0\n", true);
    bounded(LIMIT, async {
        let mut bob = connect_as(&s.url(), BOB, "bob-secret").await;
        for pw in ["bob-change-one-1", "bob-change-two-2"] {
            let res = bob.modify(BOB, vec![Mod::Replace("userPassword", HashSet::from([pw]))]).await.unwrap();
            assert_eq!(res.rc, 0, "{res:?}");
        }
        let res = bob.modify(BOB, vec![Mod::Replace("userPassword", HashSet::from(["bob-change-3-3"]))]).await.unwrap();
        assert_eq!((res.rc, res.text.as_str()), (51, "too many password changes; try again later"));
        assert_eq!(common::bind_rc(&s.url(), BOB, "bob-change-two-2").await, 0, "the refused change changed nothing");
        // alice is in it-admins: not throttled.
        let mut alice = connect_as(&s.url(), ALICE, "alice-secret").await;
        for i in 0..4 {
            let pw = format!("reset-by-alice-{i}");
            let res =
                alice.modify(BOB, vec![Mod::Replace("userPassword", HashSet::from([pw.as_str()]))]).await.unwrap();
            assert_eq!(res.rc, 0, "{res:?}");
        }
    })
    .await;
}
