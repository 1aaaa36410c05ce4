//! Fault injection (the `failpoints` feature: `birch` reads FAILPOINTS, in tikv's `fail`
//! syntax, at start-up; release builds have no fail points). A panic in an operation or in
//! a connection's task ends that connection only; a store whose writes fail answers 80
//! (other) with a message, refuses further writes (answered 80 as well) while it serves
//! reads, stays consistent (`birch check`), loses no acknowledged write and takes writes
//! again after a restart.
//!
//! Run: `cargo test -p birch-server --features failpoints --test faults` (scripts/test does).
mod common;

use common::{connect, connect_as, search, Server, OP_TIMEOUT, ROOT_DN, ROOT_PW};
use ldap3::exop::WhoAmI;
use ldap3::{Mod, Scope};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::Duration;

const PEOPLE: &str = "ou=people,dc=example,dc=org";

/// The suffix and `ou=people`, imported offline: the server then starts without writing,
/// so the fail points' counts start with the test's first write.
const BASE_LDIF: &str =
    "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
                         dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n";

/// A server on the base entries with `failpoints` (FAILPOINTS) and a metrics listener.
fn faulty(failpoints: &str) -> (Server, u16) {
    let metrics = common::free_port();
    let mut s = Server::offline(&format!("[metrics]\nlisten = \"127.0.0.1:{metrics}\""));
    let file = s.dir().join("base.ldif");
    std::fs::write(&file, BASE_LDIF).expect("write ldif");
    let out = s.birch_bounded(&["import", file.to_str().expect("utf-8 path")], Duration::from_secs(60));
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    s.set_env("FAILPOINTS", failpoints);
    s.start_existing();
    (s, metrics)
}

/// `GET /metrics`.
fn scrape(port: u16) -> String {
    common::scrape_metrics(port)
}

/// The value of a metric without labels.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn person(uid: &str) -> (String, Vec<(&'static str, HashSet<String>)>) {
    let dn = format!("uid={uid},{PEOPLE}");
    let attrs = vec![
        ("objectClass", HashSet::from(["inetOrgPerson".to_string()])),
        ("uid", HashSet::from([uid.to_string()])),
        ("cn", HashSet::from([format!("Person {uid}")])),
        ("sn", HashSet::from(["Person".to_string()])),
    ];
    (dn, attrs)
}

async fn add(ldap: &mut ldap3::Ldap, uid: &str) -> ldap3::LdapResult {
    let (dn, attrs) = person(uid);
    let attrs: Vec<(&str, HashSet<&str>)> =
        attrs.iter().map(|(a, v)| (*a, v.iter().map(String::as_str).collect())).collect();
    ldap.with_timeout(OP_TIMEOUT).add(&dn, attrs).await.expect("add")
}

async fn describe(ldap: &mut ldap3::Ldap, uid: &str, text: &str) -> ldap3::LdapResult {
    let dn = format!("uid={uid},{PEOPLE}");
    ldap.with_timeout(OP_TIMEOUT)
        .modify(&dn, vec![Mod::Replace("description", HashSet::from([text]))])
        .await
        .expect("modify")
}

/// uid -> description (None without one) of every person.
async fn people(ldap: &mut ldap3::Ldap) -> Vec<(String, Option<String>)> {
    let (entries, res) = search(ldap, PEOPLE, Scope::OneLevel, "(objectClass=*)", &["uid", "description"]).await;
    assert_eq!(res.rc, 0, "{res}");
    let mut out: Vec<(String, Option<String>)> = entries
        .into_iter()
        .map(|e| (e.attrs["uid"][0].clone(), e.attrs.get("description").map(|d| d[0].clone())))
        .collect();
    out.sort();
    out
}

fn check(s: &Server) {
    let out = s.birch_bounded(&["check"], Duration::from_secs(60));
    assert!(
        out.status.success(),
        "birch check: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn log(s: &Server) -> String {
    std::fs::read_to_string(s.log_path()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_operation_closes_its_connection_only() {
    let (s, metrics) = faulty("ops::extended=panic");
    let url = s.url();
    let mut other = connect_as(&url, ROOT_DN, ROOT_PW).await;
    let mut victim = connect_as(&url, ROOT_DN, ROOT_PW).await;
    // WhoAmI panics in the server: this connection gets a Notice of Disconnection (or just
    // the close) instead of a response, and is closed.
    let answer = victim.with_timeout(OP_TIMEOUT).extended(WhoAmI).await;
    assert!(answer.is_err(), "the panicking operation got an answer: {answer:?}");
    let after = victim.with_timeout(OP_TIMEOUT).search(PEOPLE, Scope::Base, "(objectClass=*)", vec!["1.1"]).await;
    assert!(after.is_err(), "the connection stayed open: {after:?}");
    // The other connection, and new ones, are served.
    assert_eq!(people(&mut other).await, vec![]);
    let mut fresh = connect_as(&url, ROOT_DN, ROOT_PW).await;
    assert_eq!(add(&mut fresh, "after").await.rc, 0);
    assert_eq!(people(&mut other).await, vec![("after".to_string(), None)]);
    assert_eq!(metric(&scrape(metrics), "birch_panics_total"), Some(1));
    let log = log(&s);
    assert!(log.contains("operation panicked; closing the connection"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_connection_task_closes_that_connection_only() {
    // The first request the server reads panics in the connection's own task.
    let (s, metrics) = faulty("session::request=1*panic");
    let url = s.url();
    let mut victim = connect(&url).await;
    let answer = victim.with_timeout(OP_TIMEOUT).simple_bind(ROOT_DN, ROOT_PW).await;
    assert!(answer.is_err(), "the panicking connection got an answer: {answer:?}");
    let mut fresh = connect_as(&url, ROOT_DN, ROOT_PW).await;
    assert_eq!(add(&mut fresh, "after").await.rc, 0);
    assert_eq!(people(&mut fresh).await, vec![("after".to_string(), None)]);
    assert_eq!(metric(&scrape(metrics), "birch_panics_total"), Some(1));
    let log = log(&s);
    assert!(log.contains("connection panicked; closed"), "{log}");
}

/// Stops a server whose store failed: it cannot flush, so it says so and exits non-zero.
fn stop_failed(s: &mut Server) {
    let status = s.terminate();
    assert!(!status.success(), "birch exited with {status} although its store could not be flushed");
    let log = log(s);
    assert!(log.contains("restart birch once the cause is fixed"), "{log}");
}

/// Restarts without fail points.
fn restart_healthy(s: &mut Server) {
    s.set_env("FAILPOINTS", "");
    s.start_existing();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_transaction_answers_other_and_loses_nothing() {
    // Writes 1-3 commit; the 4th fails with an I/O error before anything is applied.
    let (mut s, metrics) = faulty("store::commit=3*off->1*return->off");
    let url = s.url();
    let mut ldap = connect_as(&url, ROOT_DN, ROOT_PW).await;
    for uid in ["a", "b", "c"] {
        assert_eq!(add(&mut ldap, uid).await.rc, 0, "{uid}");
    }
    let failed = add(&mut ldap, "d").await;
    assert_eq!(failed.rc, 80, "{failed}");
    assert!(failed.text.contains("injected failure at store::commit"), "{failed}");
    // After an I/O error the store refuses writes (sled cannot be trusted to write any
    // more) and still serves reads; nothing of the failed write is visible.
    let refused = describe(&mut ldap, "a", "lost").await;
    assert_eq!(refused.rc, 80, "{refused}");
    assert!(refused.text.contains("restart birch once the cause is fixed"), "{refused}");
    let acked = vec![("a".to_string(), None), ("b".to_string(), None), ("c".to_string(), None)];
    assert_eq!(people(&mut ldap).await, acked);
    let text = scrape(metrics);
    assert_eq!(metric(&text, "birch_store_errors_total"), Some(2), "{text}");
    assert_eq!(metric(&text, "birch_store_failed"), Some(1), "{text}");
    // Consistent on disk; after a restart writes succeed and nothing acknowledged is lost.
    stop_failed(&mut s);
    check(&s);
    restart_healthy(&mut s);
    let mut ldap = connect_as(&url, ROOT_DN, ROOT_PW).await;
    assert_eq!(people(&mut ldap).await, acked);
    assert_eq!(add(&mut ldap, "d").await.rc, 0);
    assert_eq!(describe(&mut ldap, "a", "kept").await.rc, 0);
    let acked = vec![
        ("a".to_string(), Some("kept".to_string())),
        ("b".to_string(), None),
        ("c".to_string(), None),
        ("d".to_string(), None),
    ];
    s.kill9();
    check(&s);
    s.start_existing();
    let mut ldap = connect_as(&url, ROOT_DN, ROOT_PW).await;
    assert_eq!(people(&mut ldap).await, acked);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_flush_answers_other_and_loses_no_acknowledged_write() {
    // The third write's flush fails: the change is applied but not known to be durable, so
    // it is not acknowledged (80), and the store refuses writes from then on.
    let (mut s, _) = faulty("store::sync=2*off->1*return->off");
    let url = s.url();
    let mut ldap = connect_as(&url, ROOT_DN, ROOT_PW).await;
    assert_eq!(add(&mut ldap, "a").await.rc, 0);
    assert_eq!(describe(&mut ldap, "a", "kept").await.rc, 0);
    let failed = add(&mut ldap, "c").await;
    assert_eq!(failed.rc, 80, "{failed}");
    assert!(failed.text.contains("injected failure at store::sync"), "{failed}");
    let refused = add(&mut ldap, "d").await;
    assert_eq!(refused.rc, 80, "{refused}");
    assert!(refused.text.contains("restart birch once the cause is fixed"), "{refused}");
    stop_failed(&mut s);
    check(&s);
    restart_healthy(&mut s);
    let mut ldap = connect_as(&url, ROOT_DN, ROOT_PW).await;
    assert_eq!(add(&mut ldap, "d").await.rc, 0);
    s.kill9();
    check(&s);
    s.start_existing();
    let mut ldap = connect_as(&url, ROOT_DN, ROOT_PW).await;
    let found = people(&mut ldap).await;
    // "c" was never acknowledged: it may or may not have reached the disk.
    for want in [("a", Some("kept")), ("d", None)] {
        let want = (want.0.to_string(), want.1.map(str::to_string));
        assert!(found.contains(&want), "{want:?} was acknowledged but is not in {found:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_request_is_one_warning_in_the_log() {
    // Valid BER, but no LDAPMessage: the server answers with a Notice of Disconnection and
    // logs a warning; ldap3_proto's own ERROR line for it stays out of the log.
    let (s, _) = faulty("");
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    c.write_all(&[0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x01, 0x01, 0x00]).expect("write");
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    assert!(!answer.is_empty(), "no Notice of Disconnection");
    let mut ldap = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    assert_eq!(people(&mut ldap).await, vec![]);
    let log = log(&s);
    assert!(log.contains("WARN"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}
