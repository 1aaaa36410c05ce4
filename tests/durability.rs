//! Black-box durability tests: acknowledged writes survive `kill -9`, SIGTERM exits
//! cleanly while clients are busy, a graceful stop keeps everything.
mod common;

use common::{bounded, connect_as, search, search_dns, Server, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::Scope;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const LIMIT: Duration = Duration::from_secs(90);
const PEOPLE: &str = "ou=people,dc=example,dc=org";

fn dn(i: usize) -> String {
    format!("uid=dur{i:03},ou=people,dc=example,dc=org")
}

/// Adds entries `range` as root over `conns` concurrent connections; every add must be
/// acknowledged with success within `op_timeout`.
async fn add_users_with(url: &str, range: std::ops::Range<usize>, conns: usize, op_timeout: Duration) {
    let mut tasks = Vec::new();
    for c in 0..conns {
        let url = url.to_string();
        let mine: Vec<usize> = range.clone().filter(|i| i % conns == c).collect();
        tasks.push(tokio::spawn(async move {
            let mut l = connect_as(&url, ROOT_DN, ROOT_PW).await;
            for i in mine {
                let uid = format!("dur{i:03}");
                let cn = format!("Durable User {i}");
                let uid_number = (30000 + i).to_string();
                let desc = format!("batch-{}", i % 7);
                let attrs: Vec<(&str, HashSet<&str>)> = vec![
                    ("objectClass", HashSet::from(["inetOrgPerson", "posixAccount"])),
                    ("uid", HashSet::from([uid.as_str()])),
                    ("cn", HashSet::from([cn.as_str()])),
                    ("sn", HashSet::from(["Durable"])),
                    ("description", HashSet::from([desc.as_str()])),
                    ("uidNumber", HashSet::from([uid_number.as_str()])),
                    ("gidNumber", HashSet::from(["30000"])),
                    ("homeDirectory", HashSet::from(["/home/dur"])),
                ];
                let res = l
                    .with_timeout(op_timeout)
                    .add(&dn(i), attrs)
                    .await
                    .unwrap_or_else(|e| panic!("add {}: {e:?}", dn(i)));
                assert_eq!(res.rc, 0, "add {}: {res}", dn(i));
            }
            let _ = l.unbind().await;
        }));
    }
    for t in tasks {
        t.await.expect("adder");
    }
}

/// Adds entries `range` as root, one after the other on one connection.
async fn add_users(url: &str, range: std::ops::Range<usize>) {
    add_users_with(url, range, 1, common::OP_TIMEOUT).await
}

/// Checks through indexed and unindexed searches that exactly `present` of the dur
/// entries exist.
async fn verify_users(url: &str, present: &[usize], absent: &[usize]) {
    let mut l = connect_as(url, ROOT_DN, ROOT_PW).await;
    for &i in present {
        let got = search_dns(&mut l, SUFFIX, Scope::Subtree, &format!("(uid=dur{i:03})")).await;
        assert_eq!(got, vec![dn(i)], "indexed search for dur{i:03}");
    }
    for &i in absent {
        let got = search_dns(&mut l, SUFFIX, Scope::Subtree, &format!("(uid=dur{i:03})")).await;
        assert!(got.is_empty(), "dur{i:03} should be gone: {got:?}");
    }
    let mut want: Vec<String> = present.iter().map(|&i| dn(i)).collect();
    want.sort();
    // Unindexed attribute (sn), substring on another unindexed one, numeric range.
    assert_eq!(search_dns(&mut l, PEOPLE, Scope::OneLevel, "(sn=Durable)").await, want);
    assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(description=batch-*)").await, want);
    assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(&(uidNumber>=30000)(uidNumber<=30999))").await, want);
    // Indexed substring and presence.
    assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=dur*)").await, want);
    assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(&(uidNumber=*)(gidNumber=30000))").await, want);
}

fn check_ok(s: &Server, entries: usize) {
    let out = s.birch_bounded(&["check"], Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "birch check: {out:?}");
    assert!(stdout.starts_with(&format!("ok: {entries} entries")), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_kill_9() {
    let mut s = Server::empty();
    let url = s.url();
    bounded(LIMIT, async {
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let ou = vec![("objectClass", HashSet::from(["organizationalUnit"])), ("ou", HashSet::from(["people"]))];
        assert_eq!(root.add(PEOPLE, ou).await.expect("add").rc, 0);
        add_users(&url, 0..310).await;
        // Deletes are acknowledged durably too.
        for i in 300..310 {
            assert_eq!(root.delete(&dn(i)).await.expect("delete").rc, 0);
        }
    })
    .await;
    s.kill9();
    // The store is consistent right after the crash, before any restart.
    check_ok(&s, 2 + 300);
    s.start_existing();
    let present: Vec<usize> = (0..300).collect();
    let absent: Vec<usize> = (300..310).collect();
    bounded(LIMIT, verify_users(&url, &present, &absent)).await;
    // Writes keep working after the restart.
    bounded(LIMIT, add_users(&url, 310..320)).await;
    s.stop();
    check_ok(&s, 2 + 310);
    s.start_existing();
    let present: Vec<usize> = (0..300).chain(310..320).collect();
    bounded(LIMIT, verify_users(&url, &present, &absent)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_clients_search_exits_zero() {
    let mut s = Server::demo();
    let url = s.url();
    let ok = Arc::new(AtomicUsize::new(0));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(16);
    let mut clients = Vec::new();
    for c in 0..8usize {
        let (url, ok, ready) = (url.clone(), ok.clone(), ready_tx.clone());
        clients.push(tokio::spawn(async move {
            let mut l = if c % 2 == 0 {
                connect_as(&url, "cn=nslcd,ou=services,dc=example,dc=org", "nslcd-secret").await
            } else {
                connect_as(&url, "uid=bob,ou=people,dc=example,dc=org", "bob-secret").await
            };
            let mut done = 0usize;
            // Bounded: the server's exit ends the loop long before this.
            for _ in 0..1_000_000 {
                let r = l
                    .with_timeout(Duration::from_secs(10))
                    .search(SUFFIX, Scope::Subtree, "(|(uid=alice)(uid=bob))", vec!["cn"])
                    .await;
                match r {
                    Ok(ldap3::SearchResult(es, res)) if res.rc == 0 => {
                        assert_eq!(es.len(), 2, "a completed search returns all its entries");
                        done += 1;
                        ok.fetch_add(1, Ordering::SeqCst);
                        if done == 1 {
                            let _ = ready.send(()).await;
                        }
                    }
                    // The connection went away (or a last operation was cut short).
                    _ => return done,
                }
            }
            panic!("client {c} was never disconnected");
        }));
    }
    drop(ready_tx);
    // An idle bound connection and a connection holding half a request.
    let _idle = connect_as(&url, ROOT_DN, ROOT_PW).await;
    let mut half = tokio::net::TcpStream::connect(("127.0.0.1", s.port)).await.expect("connect");
    half.write_all(&[0x30, 0x20, 0x02, 0x01, 0x01]).await.expect("write");
    bounded(LIMIT, async {
        for _ in 0..8 {
            ready_rx.recv().await.expect("every client completes one search");
        }
    })
    .await;
    let started = Instant::now();
    let status = tokio::task::block_in_place(|| s.terminate());
    let took = started.elapsed();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(took < Duration::from_secs(10), "took {took:?} to exit after SIGTERM");
    bounded(LIMIT, async {
        for c in clients {
            assert!(c.await.expect("client") >= 1);
        }
    })
    .await;
    assert!(ok.load(Ordering::SeqCst) >= 8);
    // The data directory is fine: it restarts and serves.
    s.start_existing();
    bounded(LIMIT, async {
        let mut l = common::reader(&url).await;
        assert_eq!(
            search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=alice)").await,
            vec!["uid=alice,ou=people,dc=example,dc=org"]
        );
        assert_eq!(common::bind_rc(&url, "uid=alice,ou=people,dc=example,dc=org", "alice-secret").await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_stop_keeps_everything() {
    let mut s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        add_users(&url, 0..50).await;
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        assert_eq!(root.delete("uid=bob,ou=people,dc=example,dc=org").await.expect("delete").rc, 0);
        let pw = vec![
            ("objectClass", HashSet::from(["account", "simpleSecurityObject"])),
            ("uid", HashSet::from(["svc"])),
            ("userPassword", HashSet::from(["svc-secret"])),
        ];
        assert_eq!(root.add("uid=svc,ou=services,dc=example,dc=org", pw).await.expect("add").rc, 0);
    })
    .await;
    s.stop();
    // demo: suffix + 3 ou + 3 people + 3 groups + 1 service = 11; +50 -1 +1.
    check_ok(&s, 61);
    s.start_existing();
    let present: Vec<usize> = (0..50).collect();
    bounded(LIMIT, async {
        verify_users(&url, &present, &[]).await;
        let mut l = common::reader(&url).await;
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=bob)").await.is_empty());
        let (es, res) =
            search(&mut l, "uid=bob,ou=people,dc=example,dc=org", Scope::Base, "(objectClass=*)", &[]).await;
        assert_eq!((res.rc, es.len()), (32, 0));
        assert_eq!(common::bind_rc(&url, "uid=svc,ou=services,dc=example,dc=org", "svc-secret").await, 0);
        assert_eq!(common::bind_rc(&url, "uid=alice,ou=people,dc=example,dc=org", "alice-secret").await, 0);
        assert_eq!(common::bind_rc(&url, "uid=bob,ou=people,dc=example,dc=org", "bob-secret").await, 49);
        // The demo is not loaded again on a later start with --demo.
        assert_eq!(
            search_dns(&mut l, "ou=people,dc=example,dc=org", Scope::OneLevel, "(|(uid=alice)(uid=bob)(uid=chenwei))")
                .await,
            vec!["uid=alice,ou=people,dc=example,dc=org", "uid=chenwei,ou=people,dc=example,dc=org"]
        );
    })
    .await;
    s.stop();
    check_ok(&s, 61);
}

/// Writers on several connections at once (the server's group commit): every add is
/// acknowledged within 10 s and all are there afterwards, also after `kill -9`.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_do_not_deadlock() {
    let mut s = Server::empty();
    let url = s.url();
    bounded(LIMIT, async {
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let ou = vec![("objectClass", HashSet::from(["organizationalUnit"])), ("ou", HashSet::from(["people"]))];
        assert_eq!(root.add(PEOPLE, ou).await.expect("add").rc, 0);
        add_users_with(&url, 0..320, 8, Duration::from_secs(10)).await;
    })
    .await;
    s.kill9();
    s.start_existing();
    let present: Vec<usize> = (0..320).collect();
    bounded(LIMIT, verify_users(&url, &present, &[])).await;
}
