//! Black-box tests of what the IT office watches: the audit log (one JSON line per write,
//! bind outcome, lock; never a password), `birch audit` queries and LDIF replay, the
//! Prometheus endpoint, and cn=Monitor (admins only).
mod common;

use common::demo::{ALICE, BOB, CHENWEI, PEOPLE};
use common::{bounded, connect_as, search, Server, OP_TIMEOUT, ROOT_DN, ROOT_PW};
use ldap3::exop::PasswordModify;
use ldap3::{Mod, Scope};
use std::collections::HashSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
const DAVE: &str = "uid=dave,ou=people,dc=example,dc=org";

fn set<'a>(v: &[&'a str]) -> HashSet<&'a str> {
    v.iter().copied().collect()
}

/// The audit records, once the last one the test made (the failed bind of `last`) is
/// written.
fn records(s: &Server, last: &str) -> Vec<serde_json::Value> {
    let text = s.audit_text_when(|t| t.lines().any(|l| l.contains("\"bind_failed\"") && l.contains(last)));
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

fn find<'a>(recs: &'a [serde_json::Value], event: &str, dn: &str) -> Vec<&'a serde_json::Value> {
    recs.iter()
        .filter(|r| r["event"] == event && r["dn"].as_str().is_some_and(|d| d.eq_ignore_ascii_case(dn)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_write_and_bind_is_audited_without_passwords() {
    let mut s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let dave = vec![
            ("objectClass", set(&["inetOrgPerson"])),
            ("uid", set(&["dave"])),
            ("cn", set(&["Dave"])),
            ("sn", set(&["Duck"])),
            ("userPassword", set(&["dave-initial-pw"])),
        ];
        assert_eq!(root.add(DAVE, dave).await.expect("add").rc, 0);
        let mods =
            vec![Mod::Replace("description", set(&["audited"])), Mod::Replace("userPassword", set(&["dave-other-pw"]))];
        assert_eq!(root.modify(DAVE, mods).await.expect("modify").rc, 0);
        assert_eq!(root.modifydn(DAVE, "uid=dave2", true, None).await.expect("modrdn").rc, 0);
        assert_eq!(root.delete("uid=dave2,ou=people,dc=example,dc=org").await.expect("delete").rc, 0);
        let pm = PasswordModify { user_id: Some(CHENWEI), old_pass: None, new_pass: Some("chenwei-reset-pw") };
        assert_eq!(root.extended(pm).await.expect("passmod").1.rc, 0);
        // A denied write and a failed bind.
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let res = bob.modify(ALICE, vec![Mod::Replace("sn", set(&["x"]))]).await.expect("modify");
        assert_eq!(res.rc, 50);
        assert_eq!(common::bind_rc(&url, ALICE, "not-alice-pw").await, 49);
    })
    .await;
    let recs = records(&s, ALICE);
    for (event, dn, rc) in [
        ("add", DAVE, 0),
        ("modify", DAVE, 0),
        ("modrdn", DAVE, 0),
        ("delete", "uid=dave2,ou=people,dc=example,dc=org", 0),
        ("password_modify", CHENWEI, 0),
        ("modify", ALICE, 50),
    ] {
        let found = find(&recs, event, dn);
        assert_eq!(found.len(), 1, "{event} {dn}: {recs:#?}");
        let r = found[0];
        assert_eq!(r["result"], rc, "{r}");
        for field in ["time", "conn", "peer", "by", "duration_us"] {
            assert!(!r[field].is_null(), "{event} lacks {field}: {r}");
        }
    }
    let modify = find(&recs, "modify", DAVE)[0];
    assert_eq!(modify["by"], ROOT_DN);
    assert_eq!(modify["attrs"], "description,userPassword");
    assert!(modify["ldif"].as_str().is_some_and(|l| l.contains("replace: description") && !l.contains("userPassword")));
    assert!(!find(&recs, "bind", BOB).is_empty());
    assert!(find(&recs, "bind_failed", ALICE).iter().any(|r| r["reason"] == "invalid credentials"));
    // Binds name the client's address and the DN as sent.
    for r in find(&recs, "bind", BOB).into_iter().chain(find(&recs, "bind_failed", ALICE)) {
        assert!(r["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{r}");
        assert!(r["dn"].as_str().is_some_and(|d| d.eq_ignore_ascii_case(BOB) || d.eq_ignore_ascii_case(ALICE)), "{r}");
    }
    assert!(!find(&recs, "password_reset", CHENWEI).is_empty());
    let text = std::fs::read_to_string(s.data_dir().join("audit.log")).unwrap();
    for secret in ["dave-initial-pw", "dave-other-pw", "chenwei-reset-pw", "not-alice-pw", "{ARGON2}", "argon2id"] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }

    // birch audit: by DN, by actor, as LDIF for replay.
    s.stop();
    let out = s.birch(&["audit", "--dn", DAVE]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3, "add, modify, modrdn");
    let out = s.birch(&["audit", "--actor", BOB]);
    let by_bob = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(by_bob.lines().all(|l| l.contains(BOB)) && by_bob.contains("\"result\":50"), "{by_bob}");
    let out = s.birch(&["audit", "--ldif", "--since", "1h"]);
    let ldif = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(ldif.contains(&format!("dn: {DAVE}\nchangetype: add")), "{ldif}");
    assert!(ldif.contains("changetype: delete") && ldif.contains("changetype: modrdn"), "{ldif}");
    assert!(!ldif.contains(&format!("dn: {ALICE}")), "a refused write is not replayed: {ldif}");
}

fn scrape(port: u16) -> String {
    let out = common::scrape_metrics(port);
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    out
}

fn value(text: &str, series: &str) -> u64 {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse::<f64>().ok())).map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_operations_and_monitor_is_for_admins() {
    let port = common::free_port();
    let s = Server::start_with(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"), true);
    let url = s.url();
    let before = scrape(port);
    bounded(LIMIT, async {
        let mut nslcd = common::reader(&url).await;
        for _ in 0..5 {
            let (es, res) = search(&mut nslcd, PEOPLE, Scope::Subtree, "(uid=alice)", &["uid"]).await;
            assert_eq!((res.rc, es.len()), (0, 1));
        }
        assert_eq!(common::bind_rc(&url, BOB, "wrong-pw").await, 49);
        // The counters while a connection is open.
        let during = scrape(port);
        assert!(value(&during, "birch_connections ") >= 1, "{during}");
        // cn=Monitor: the root DN and the admins group (alice); nobody else sees it.
        for (dn, pw) in [(ROOT_DN, ROOT_PW), (ALICE, "alice-secret")] {
            let mut l = connect_as(&url, dn, pw).await;
            let (es, res) = search(&mut l, "cn=Monitor", Scope::Subtree, "(objectClass=*)", &["*", "+"]).await;
            assert_eq!(res.rc, 0, "{res}");
            let entries = es.iter().find(|e| e.dn == "cn=Entries,cn=Statistics,cn=Monitor").expect("cn=Entries");
            assert_eq!(entries.attrs["monitorCounter"], vec!["11".to_string()], "{entries:?}");
            let searches = es.iter().find(|e| e.dn == "cn=Search,cn=Operations,cn=Monitor").expect("cn=Search");
            let done: u64 = searches.attrs["monitorOpCompleted"][0].parse().unwrap();
            assert!(done >= 5, "{searches:?}");
        }
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let (es, res) = search(&mut bob, "cn=Monitor", Scope::Subtree, "(objectClass=*)", &["+"]).await;
        assert_eq!((res.rc, es.len()), (32, 0));
        let _ = nslcd.unbind().await;
        let _ = bob.with_timeout(OP_TIMEOUT).unbind().await;
    })
    .await;
    let after = scrape(port);
    let series = "birch_operations_total{op=\"search\",result=\"0\"} ";
    assert!(value(&after, series) >= value(&before, series) + 5, "{after}");
    assert!(value(&after, "birch_bind_failures_total ") >= 1, "{after}");
    assert!(after.contains("birch_operation_duration_seconds_bucket{op=\"search\",le=\"+Inf\"}"), "{after}");
    assert_eq!(value(&after, "birch_entries "), 11, "{after}");
}
