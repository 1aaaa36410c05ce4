//! Crash loop: a write workload, SIGKILL at a random moment, restart — many times. After every
//! crash `birch check` accepts the store and every write acknowledged before the kill is there.
//!
//! `BIRCH_CRASH_LOOPS` sets the number of rounds (default 6 in the suite; e.g. 50 by hand:
//! `BIRCH_CRASH_LOOPS=50 cargo test -p birch-server --test crashloop -- --nocapture`).
//! `BIRCH_CRASH_SEED` replays a run (the seed is printed).
mod common;

use common::demo::PEOPLE;
use common::{connect_as, search_dns, Server, OP_TIMEOUT, ROOT_DN, ROOT_PW};
use ldap3::{Mod, Scope};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A small deterministic generator (xorshift): the schedule of kills is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_nine_in_a_loop_loses_no_acknowledged_write() {
    let rounds = env_u64("BIRCH_CRASH_LOOPS").unwrap_or(6);
    let seed = env_u64("BIRCH_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    eprintln!("crash loop: {rounds} rounds, BIRCH_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let mut s = Server::demo();
    let url = s.url();
    // DN -> description value last acknowledged.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    for round in 0..rounds {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..3u64 {
            let (url, acked, stop) = (url.clone(), acked.clone(), stop.clone());
            writers.push(tokio::spawn(async move {
                let Ok(Ok((conn, mut l))) =
                    tokio::time::timeout(OP_TIMEOUT, ldap3::LdapConnAsync::new(&url)).await.map(|r| r.map_err(|_| ()))
                else {
                    return;
                };
                ldap3::drive!(conn);
                if !matches!(l.simple_bind(ROOT_DN, ROOT_PW).await, Ok(r) if r.rc == 0) {
                    return;
                }
                for i in 0..10_000u64 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let dn = format!("uid=r{round}w{w}n{i},ou=people,dc=example,dc=org");
                    let uid = format!("r{round}w{w}n{i}");
                    let attrs = vec![
                        ("objectClass", HashSet::from(["inetOrgPerson"])),
                        ("uid", HashSet::from([uid.as_str()])),
                        ("cn", HashSet::from(["Crash Test"])),
                        ("sn", HashSet::from(["Test"])),
                    ];
                    match l.with_timeout(Duration::from_secs(5)).add(&dn, attrs).await {
                        Ok(r) if r.rc == 0 => {}
                        _ => return, // the server went away: this write was not acknowledged
                    }
                    let value = format!("v{i}");
                    let res = l
                        .with_timeout(Duration::from_secs(5))
                        .modify(&dn, vec![Mod::Replace("description", HashSet::from([value.as_str()]))])
                        .await;
                    match res {
                        Ok(r) if r.rc == 0 => acked.lock().unwrap().push((dn, value)),
                        _ => {
                            // The add was acknowledged; record it without the description.
                            acked.lock().unwrap().push((dn, String::new()));
                            return;
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + rng.next() % 400)).await;
        s.kill9();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for w in writers {
            let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
        }
        let check = s.birch_bounded(&["check"], Duration::from_secs(60));
        assert!(
            check.status.success(),
            "round {round} (seed {seed}): birch check failed after kill -9:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        s.start_existing();
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let present: HashSet<String> =
            search_dns(&mut root, PEOPLE, Scope::OneLevel, "(cn=Crash Test)").await.into_iter().collect();
        let acked_now = acked.lock().unwrap().clone();
        for (dn, value) in &acked_now {
            assert!(
                present.contains(&dn.to_ascii_lowercase()) || present.contains(dn),
                "round {round} (seed {seed}): acknowledged {dn} lost"
            );
            if !value.is_empty() {
                let (es, _) = common::search(&mut root, dn, Scope::Base, "(objectClass=*)", &["description"]).await;
                assert_eq!(
                    es[0].attrs.get("description"),
                    Some(&vec![value.clone()]),
                    "round {round} (seed {seed}): {dn}"
                );
            }
        }
        eprintln!("round {round}: {} acknowledged writes present", acked_now.len());
    }
    assert!(!acked.lock().unwrap().is_empty(), "no write was ever acknowledged");
}
