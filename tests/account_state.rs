//! Black-box tests of the account state the IT office reads (issue 25, item 5): the last
//! successful bind kept in pwdLastSuccess (once per `last_bind_precision`, readable by the
//! owner and the helpdesk, never anonymously), disabled accounts recorded with who and when
//! (birchDisabledBy, birchDisabledTime, set only by the server), and the filter of
//! effective locks that `birch account locked` sends.
mod common;

use birch_server::ppolicy::status::{self, AccountStatus, LockedUntil};
use birch_server::ppolicy::Policy;
use common::demo::{ALICE, BOB, CHENWEI, PEOPLE};
use common::{bounded, connect, connect_as, search, search_dns, Server, ROOT_DN, ROOT_PW};
use ldap3::{Ldap, Mod, Scope};
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

const LIMIT: Duration = Duration::from_secs(60);

async fn root(url: &str) -> Ldap {
    connect_as(url, ROOT_DN, ROOT_PW).await
}

/// The values of `attr` of `dn` as `as_who` reads them (None: anonymous).
async fn read(url: &str, as_who: Option<(&str, &str)>, dn: &str, attr: &str) -> Vec<String> {
    let mut l = match as_who {
        Some((who, pw)) => connect_as(url, who, pw).await,
        None => connect(url).await,
    };
    let (es, res) = search(&mut l, dn, Scope::Base, "(objectClass=*)", &[attr]).await;
    let wanted = attr.to_ascii_lowercase();
    let found = es
        .first()
        .and_then(|e| e.attrs.iter().find(|(k, _)| k.to_ascii_lowercase() == wanted).map(|(_, v)| v.clone()))
        .unwrap_or_default();
    assert!(res.rc == 0 || found.is_empty(), "{res}");
    found
}

async fn as_root(url: &str, dn: &str, attr: &str) -> Vec<String> {
    read(url, Some((ROOT_DN, ROOT_PW)), dn, attr).await
}

/// pwdLastSuccess of `dn`, waiting up to 10 s for it to differ from `before` (it is written
/// off the bind's answer path).
async fn last_success_after(url: &str, dn: &str, before: &[String]) -> Vec<String> {
    let start = Instant::now();
    loop {
        let now = as_root(url, dn, "pwdLastSuccess").await;
        if now != before || start.elapsed() > Duration::from_secs(10) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn set<'a>(v: &[&'a str]) -> HashSet<&'a str> {
    v.iter().copied().collect()
}

fn parse(v: &str) -> SystemTime {
    birch_schema::gtime::parse(v).unwrap_or_else(|| panic!("not a time: {v}"))
}

/// Whether `t` lies within `slack` of now.
fn recent(t: SystemTime, slack: Duration) -> bool {
    let now = SystemTime::now();
    now.duration_since(t).or_else(|e| Ok::<_, ()>(e.duration())).is_ok_and(|d| d <= slack)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bind_records_its_time_once_within_the_precision() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        assert!(as_root(&url, BOB, "pwdLastSuccess").await.is_empty());
        connect_as(&url, BOB, "bob-secret").await;
        let first = last_success_after(&url, BOB, &[]).await;
        assert_eq!(first.len(), 1, "pwdLastSuccess after a bind: {first:?}");
        assert!(recent(parse(&first[0]), Duration::from_secs(30)), "{first:?}");
        let csn = as_root(&url, BOB, "entryCSN").await;
        // Within the precision (the default, an hour), further binds write nothing at all.
        for _ in 0..3 {
            connect_as(&url, BOB, "bob-secret").await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(as_root(&url, BOB, "pwdLastSuccess").await, first);
        assert_eq!(as_root(&url, BOB, "entryCSN").await, csn, "no write within the precision");
        // The bookkeeping names no modifier.
        assert!(!as_root(&url, BOB, "modifiersName").await.iter().any(|m| m.contains("bob")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_small_precision_the_time_moves_and_off_writes_none() {
    let s = Server::start_with("[ppolicy]\nlast_bind_precision = 1", true);
    let url = s.url();
    bounded(LIMIT, async {
        connect_as(&url, BOB, "bob-secret").await;
        let first = last_success_after(&url, BOB, &[]).await;
        assert_eq!(first.len(), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        connect_as(&url, BOB, "bob-secret").await;
        let second = last_success_after(&url, BOB, &first).await;
        assert_eq!(second.len(), 1);
        assert!(parse(&second[0]) > parse(&first[0]), "{first:?} then {second:?}");
    })
    .await;
    drop(s);
    let off = Server::start_with("[ppolicy]\nlast_bind = false", true);
    let url = off.url();
    bounded(LIMIT, async {
        connect_as(&url, BOB, "bob-secret").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(as_root(&url, BOB, "pwdLastSuccess").await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_bind_is_shown_to_the_owner_and_the_helpdesk_only() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        // A helpdesk group (the campus policy's default DN) with chenwei in it.
        let mut admin = root(&url).await;
        let helpdesk = "cn=helpdesk,ou=groups,dc=example,dc=org";
        let attrs =
            vec![("objectClass", set(&["groupOfNames"])), ("cn", set(&["helpdesk"])), ("member", set(&[CHENWEI]))];
        assert_eq!(admin.add(helpdesk, attrs).await.expect("add").rc, 0);
        connect_as(&url, BOB, "bob-secret").await;
        let stored = last_success_after(&url, BOB, &[]).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(read(&url, None, BOB, "pwdLastSuccess").await, Vec::<String>::new(), "anonymous");
        let mut anon = connect(&url).await;
        let (found, _) = search(&mut anon, PEOPLE, Scope::Subtree, "(pwdLastSuccess=*)", &["1.1"]).await;
        assert!(found.is_empty());
        assert_eq!(read(&url, Some((BOB, "bob-secret")), BOB, "pwdLastSuccess").await, stored, "the owner");
        assert_eq!(read(&url, Some((CHENWEI, "chenwei-secret")), BOB, "pwdLastSuccess").await, stored, "the helpdesk");
        // Another user (not the helpdesk, not an admin) does not see it.
        connect_as(&url, ALICE, "alice-secret").await;
        let alice = last_success_after(&url, ALICE, &[]).await;
        assert_eq!(alice.len(), 1);
        assert!(read(&url, Some((BOB, "bob-secret")), ALICE, "pwdLastSuccess").await.is_empty());
        // Nobody writes it, the root DN included.
        let res =
            admin.modify(BOB, vec![Mod::Replace("pwdLastSuccess", set(&["20200101000000Z"]))]).await.expect("modify");
        assert_eq!(res.rc, 19, "{res}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_s_disable_is_recorded_and_an_enable_removes_the_record() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        // Alice is in the admins group (cn=it-admins).
        let mut alice = connect_as(&url, ALICE, "alice-secret").await;
        let disable = vec![
            Mod::Replace("pwdAccountLockedTime", set(&["000001010000Z"])),
            Mod::Replace("birchDisabledReason", set(&["left the university"])),
        ];
        assert_eq!(alice.modify(CHENWEI, disable).await.expect("modify").rc, 0);
        assert_eq!(as_root(&url, CHENWEI, "birchDisabledBy").await, vec![ALICE.to_string()]);
        let when = as_root(&url, CHENWEI, "birchDisabledTime").await;
        assert_eq!(when.len(), 1);
        assert!(recent(parse(&when[0]), Duration::from_secs(30)), "{when:?}");
        // The status view reads it all, and the owner sees who did it.
        let mut l = root(&url).await;
        let (es, res) = search(&mut l, CHENWEI, Scope::Base, "(objectClass=*)", status::STATUS_TYPES).await;
        assert_eq!(res.rc, 0);
        let attrs = es[0].attrs.iter().map(|(k, v)| (k.clone(), v.iter().map(|v| v.as_bytes().to_vec()).collect()));
        let st = AccountStatus::from_attrs(CHENWEI, attrs, &Policy::default(), SystemTime::now());
        let d = st.disabled.clone().expect("disabled");
        assert_eq!((d.by.as_deref(), d.reason.as_deref()), (Some(ALICE), Some("left the university")));
        assert!(!st.is_locked() && st.bind_refused.is_some());
        // Disabling it again keeps the first record.
        let mut admin = root(&url).await;
        let again = vec![Mod::Replace("pwdAccountLockedTime", set(&["000001010000Z"]))];
        assert_eq!(admin.modify(CHENWEI, again).await.expect("modify").rc, 0);
        assert_eq!(as_root(&url, CHENWEI, "birchDisabledBy").await, vec![ALICE.to_string()]);
        // Enabled: the record goes (the reason is the administrator's to remove).
        let enable = vec![Mod::Delete("pwdAccountLockedTime", HashSet::new())];
        assert_eq!(alice.modify(CHENWEI, enable).await.expect("modify").rc, 0);
        assert!(as_root(&url, CHENWEI, "birchDisabledBy").await.is_empty());
        assert!(as_root(&url, CHENWEI, "birchDisabledTime").await.is_empty());
        assert_eq!(common::bind_rc(&url, CHENWEI, "chenwei-secret").await, 0);
    })
    .await;
    let log = std::fs::read_to_string(s.log_path()).unwrap_or_default();
    let line = log.lines().find(|l| l.contains("account_disabled")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains(ALICE) && line.contains("left the university"), "{line}");
    assert!(log.contains("account_enabled"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_writes_the_disable_record() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let forged = vec![Mod::Replace("birchDisabledBy", set(&[ALICE]))];
        // Refused (as insufficient access: Birch checks the access rules first).
        let rc = bob.modify(BOB, forged.clone()).await.expect("modify").rc;
        assert!(rc == 50 || rc == 19, "{rc}");
        assert!(as_root(&url, BOB, "birchDisabledBy").await.is_empty());
        let mut admin = root(&url).await;
        assert_eq!(admin.modify(BOB, forged).await.expect("modify").rc, 19);
        let time = vec![Mod::Replace("birchDisabledTime", set(&["20200101000000Z"]))];
        assert_eq!(admin.modify(BOB, time).await.expect("modify").rc, 19);
        let attrs = vec![
            ("objectClass", set(&["inetOrgPerson"])),
            ("uid", set(&["dora"])),
            ("cn", set(&["Dora"])),
            ("sn", set(&["D"])),
            ("pwdAccountLockedTime", set(&["000001010000Z"])),
            ("birchDisabledBy", set(&[BOB])),
        ];
        let dora = "uid=dora,ou=people,dc=example,dc=org";
        assert_eq!(admin.add(dora, attrs.clone()).await.expect("add").rc, 19);
        // Added disabled: the server records who added it so.
        let attrs: Vec<_> = attrs.into_iter().filter(|(n, _)| *n != "birchDisabledBy").collect();
        assert_eq!(admin.add(dora, attrs).await.expect("add").rc, 0);
        assert_eq!(as_root(&url, dora, "birchDisabledBy").await, vec![ROOT_DN.to_string()]);
        // The reason is not the owner's to write.
        let reason = vec![Mod::Replace("birchDisabledReason", set(&["none of your business"]))];
        assert_eq!(bob.modify(BOB, reason).await.expect("modify").rc, 50);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lock_filter_finds_only_effective_locks() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let policy = Policy::default();
        let now = SystemTime::now();
        let at = |ago: u64| birch_schema::gtime::format(now - Duration::from_secs(ago), false);
        let mut admin = root(&url).await;
        for (dn, value) in [
            (BOB, at(10)),                               // locked ten seconds ago: effective
            (CHENWEI, at(policy.lockout_duration + 60)), // its duration ran out
            (ALICE, "000001010000Z".to_string()),        // disabled
        ] {
            let m = vec![Mod::Replace("pwdAccountLockedTime", set(&[value.as_str()]))];
            assert_eq!(admin.modify(dn, m).await.expect("modify").rc, 0);
        }
        let all = search_dns(&mut admin, PEOPLE, Scope::Subtree, "(pwdAccountLockedTime=*)").await;
        assert_eq!(all.len(), 3, "{all:?}");
        let locked = status::locked_filter(&policy, SystemTime::now(), false);
        assert_eq!(search_dns(&mut admin, PEOPLE, Scope::Subtree, &locked).await, vec![BOB.to_string()], "{locked}");
        let with_disabled = status::locked_filter(&policy, SystemTime::now(), true);
        let mut want = vec![BOB.to_string(), ALICE.to_string()];
        want.sort();
        assert_eq!(search_dns(&mut admin, PEOPLE, Scope::Subtree, &with_disabled).await, want, "{with_disabled}");
        // The status of each agrees with the filter.
        let (es, _) = search(&mut admin, PEOPLE, Scope::OneLevel, "(uid=*)", status::STATUS_TYPES).await;
        for e in es {
            let attrs = e.attrs.iter().map(|(k, v)| (k.clone(), v.iter().map(|v| v.as_bytes().to_vec()).collect()));
            let st = AccountStatus::from_attrs(&e.dn, attrs, &policy, SystemTime::now());
            assert_eq!(st.is_locked(), e.dn == BOB, "{}: {st:?}", e.dn);
            if e.dn == BOB {
                assert!(matches!(st.locked, Some(LockedUntil::Time(t)) if t > SystemTime::now()));
            }
        }
        // Inactive accounts: none bound in the last hour and all were created just now, so
        // none is inactive now, and every one of them is two hours from now.
        let people = |f: String| format!("(&(objectClass=posixAccount){f})");
        let hour = Duration::from_secs(3600);
        let none = people(status::inactive_filter(SystemTime::now(), hour));
        assert!(search_dns(&mut admin, PEOPLE, Scope::Subtree, &none).await.is_empty(), "{none}");
        let later = people(status::inactive_filter(SystemTime::now() + 2 * hour, hour));
        assert_eq!(search_dns(&mut admin, PEOPLE, Scope::Subtree, &later).await.len(), 3, "{later}");
    })
    .await;
}
