//! Black-box tests of the password policy and the brute-force defence: lockout and its
//! expiry, accounts disabled by an administrator, must-change after a reset, quality and
//! history, expiry with warnings and grace binds, rate limits, rehash of legacy hashes on
//! bind, the password policy response control, and `birch check` on unknown schemes.
mod common;

use birch_proto::ppolicy::{PolicyError, PolicyResponse, PolicyWarning};
use common::demo::{ALICE, BOB, CHENWEI};
use common::{bind_rc, bounded, connect, connect_as, search, Server, OP_TIMEOUT, ROOT_DN, ROOT_PW};
use ldap3::controls::RawControl;
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, LdapResult, Mod, Scope};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);
const PPOLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// `{SSHA}` of "secret", made by slappasswd.
const SSHA_SECRET: &str = "{SSHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr";
/// `{PBKDF2-SHA256}` of "secret" (Python hashlib).
const PBKDF2_SECRET: &str = "{PBKDF2-SHA256}1200$AAECAwQFBgcICQoLDA0ODw$ozqfvH3vCQvPtLvRIHRRF8b8MpaoBebF2YHcpsec4kM";
/// `{CRYPT}` sha512-crypt of "secret" (shared/fixtures/hash-vectors.tsv).
const CRYPT_SECRET: &str =
    "{CRYPT}$6$IOZwqxLWykKHuhMj$sjkQaKROcMHbMCsXMrldpIFEAtLFm4ETHUpP5gITQrEGR9mjgoYhljg4PC7j.b6IUTnJv.4Cg1jzQJPWJpSGY0";

fn request_ppolicy() -> RawControl {
    RawControl { ctype: PPOLICY.to_string(), crit: false, val: None }
}

/// The password policy response control of a result, decoded.
fn policy_of(res: &LdapResult) -> Option<PolicyResponse> {
    res.ctrls
        .iter()
        .find(|c| c.1.ctype == PPOLICY)
        .map(|c| PolicyResponse::decode(c.1.val.as_deref().unwrap_or_default()).expect("well-formed ppolicy response"))
}

/// A simple bind on a new connection with the policy request control: the result and the
/// connection (bound or not).
async fn bind_pp(url: &str, dn: &str, pw: &str) -> (LdapResult, Ldap) {
    let mut l = connect(url).await;
    let res = l.with_timeout(OP_TIMEOUT).with_controls(request_ppolicy()).simple_bind(dn, pw).await.expect("bind");
    (res, l)
}

/// How many pwdHistory values `dn` has, read from a backup of the running server (no
/// client may read them).
fn history_in_backup(s: &Server, dn: &str) -> usize {
    let file = s.dir().join("history.ldif");
    let out = s.birch_bounded(&["backup", file.to_str().expect("path")], Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&file).expect("backup");
    let record = text.split("\n\n").find(|r| r.contains(&format!("dn: {dn}\n"))).expect("the entry is backed up");
    record.lines().filter(|l| l.starts_with("pwdHistory:")).count()
}

async fn root(url: &str) -> Ldap {
    connect_as(url, ROOT_DN, ROOT_PW).await
}

/// Values of one attribute of an entry, read as the root DN.
async fn values(url: &str, dn: &str, attr: &str) -> Vec<String> {
    let mut l = root(url).await;
    let (es, res) = search(&mut l, dn, Scope::Base, "(objectClass=*)", &[attr]).await;
    assert_eq!(res.rc, 0, "{res}");
    let wanted = attr.to_ascii_lowercase();
    es.first()
        .and_then(|e| e.attrs.iter().find(|(k, _)| k.to_ascii_lowercase() == wanted).map(|(_, v)| v.clone()))
        .unwrap_or_default()
}

async fn modify(url: &str, dn: &str, mods: Vec<Mod<&str>>) -> LdapResult {
    let mut l = root(url).await;
    l.with_timeout(OP_TIMEOUT).modify(dn, mods).await.expect("modify")
}

fn set<'a>(v: &[&'a str]) -> HashSet<&'a str> {
    v.iter().copied().collect()
}

/// A Password Modify on `l`; the result.
async fn passmod(l: &mut Ldap, user: Option<&str>, old: Option<&str>, new: Option<&str>) -> LdapResult {
    let req = PasswordModify { user_id: user, old_pass: old, new_pass: new };
    let ldap3::result::ExopResult(_, res) =
        l.with_timeout(OP_TIMEOUT).with_controls(request_ppolicy()).extended(req).await.expect("password modify");
    res
}

/// A server with `config` whose store was loaded offline from `ldif`, started.
fn imported(config: &str, ldif: &str) -> Server {
    let mut s = Server::offline(config);
    let path = s.dir().join("users.ldif");
    std::fs::write(&path, ldif).expect("write ldif");
    let out = s.birch(&["import", &path.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    s.start_existing();
    s
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_binds_lock_until_an_admin_unlocks() {
    let s = Server::start_with("[ppolicy]\nmax_failure = 3\nlockout_duration = 0\n", true);
    let url = s.url();
    bounded(LIMIT, async {
        for _ in 0..3 {
            assert_eq!(bind_rc(&url, ALICE, "wrong").await, 49);
        }
        assert_eq!(values(&url, ALICE, "pwdFailureTime").await.len(), 3);
        assert_eq!(values(&url, ALICE, "pwdAccountLockedTime").await.len(), 1);
        // The right password no longer works, and the control says why.
        let (res, _) = bind_pp(&url, ALICE, "alice-secret").await;
        assert_eq!(res.rc, 49);
        assert_eq!(policy_of(&res).and_then(|p| p.error), Some(PolicyError::AccountLocked));
        // Other accounts are not affected.
        assert_eq!(bind_rc(&url, BOB, "bob-secret").await, 0);
        // The IT office unlocks by deleting pwdAccountLockedTime.
        assert_eq!(modify(&url, ALICE, vec![Mod::Delete("pwdAccountLockedTime", HashSet::new())]).await.rc, 0);
        let (res, _) = bind_pp(&url, ALICE, "alice-secret").await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(policy_of(&res), Some(PolicyResponse::default()));
        assert!(values(&url, ALICE, "pwdFailureTime").await.is_empty(), "a good bind forgets the failures");
    })
    .await;
    let log = std::fs::read_to_string(s.log_path()).unwrap_or_default();
    for event in ["account_locked", "bind_failed"] {
        assert!(log.contains(event), "no {event} event in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_expires_after_the_lockout_duration() {
    let s = Server::start_with("[ppolicy]\nmax_failure = 2\nlockout_duration = 1\n", true);
    let url = s.url();
    bounded(LIMIT, async {
        assert_eq!(bind_rc(&url, BOB, "wrong").await, 49);
        assert_eq!(bind_rc(&url, BOB, "wrong").await, 49);
        let (res, _) = bind_pp(&url, BOB, "bob-secret").await;
        assert_eq!((res.rc, policy_of(&res).and_then(|p| p.error)), (49, Some(PolicyError::AccountLocked)));
        // Poll (bounded) until the lock has run out; the lock lasts one second.
        let start = Instant::now();
        while bind_rc(&url, BOB, "bob-secret").await != 0 {
            assert!(start.elapsed() < Duration::from_secs(20), "the lock never expired");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(values(&url, BOB, "pwdAccountLockedTime").await.is_empty(), "the expired lock is removed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_disables_and_enables_an_account() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let disable = Mod::Replace("pwdAccountLockedTime", set(&["000001010000Z"]));
        assert_eq!(modify(&url, CHENWEI, vec![disable]).await.rc, 0);
        let (res, _) = bind_pp(&url, CHENWEI, "chenwei-secret").await;
        assert_eq!((res.rc, policy_of(&res).and_then(|p| p.error)), (49, Some(PolicyError::AccountLocked)));
        // A password reset does not re-enable a disabled account.
        let mut admin = root(&url).await;
        assert_eq!(passmod(&mut admin, Some(CHENWEI), None, Some("chenwei-reset-1")).await.rc, 0);
        assert_eq!(bind_rc(&url, CHENWEI, "chenwei-reset-1").await, 49);
        assert_eq!(modify(&url, CHENWEI, vec![Mod::Delete("pwdAccountLockedTime", HashSet::new())]).await.rc, 0);
        assert_eq!(bind_rc(&url, CHENWEI, "chenwei-reset-1").await, 0);
    })
    .await;
    let out = s.ldap_tool("ldapwhoami", &["-x", "-D", CHENWEI, "-w", "chenwei-secret"]);
    assert_eq!(out.status.code(), Some(49), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(s.log_path()).unwrap_or_default();
    assert!(log.contains("account_disabled"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_password_must_be_changed_first() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut admin = root(&url).await;
        assert_eq!(passmod(&mut admin, Some(ALICE), None, Some("given-by-it-1")).await.rc, 0);
        assert_eq!(values(&url, ALICE, "pwdReset").await, vec!["TRUE"]);
        let (res, mut l) = bind_pp(&url, ALICE, "given-by-it-1").await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(policy_of(&res).and_then(|p| p.error), Some(PolicyError::ChangeAfterReset));
        // Until the change, only the change is allowed.
        let (_, res) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &["cn"]).await;
        assert_eq!(res.rc, 50, "{res}");
        let ldap3::result::ExopResult(who, res) =
            l.with_timeout(OP_TIMEOUT).extended(ldap3::exop::WhoAmI).await.expect("whoami");
        assert_eq!(res.rc, 0);
        let who: ldap3::exop::WhoAmIResp = who.parse();
        assert_eq!(who.authzid, format!("dn:{ALICE}"));
        // The owner's change lifts the restriction on the same connection.
        assert_eq!(passmod(&mut l, None, Some("given-by-it-1"), Some("only-alice-knows")).await.rc, 0);
        let (es, res) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &["cn"]).await;
        assert_eq!((res.rc, es.len()), (0, 1));
        assert!(values(&url, ALICE, "pwdReset").await.is_empty());
        let (res, _) = bind_pp(&url, ALICE, "only-alice-knows").await;
        assert_eq!((res.rc, policy_of(&res)), (0, Some(PolicyResponse::default())));
    })
    .await;
    // ldap-utils ask for the control with -e ppolicy; the changed password works.
    let out = s.ldap_tool("ldapwhoami", &["-x", "-e", "ppolicy", "-D", ALICE, "-w", "only-alice-knows"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_respect_length_and_history() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let (_, mut l) = bind_pp(&url, BOB, "bob-secret").await;
        let res = passmod(&mut l, None, Some("bob-secret"), Some("short")).await;
        assert_eq!(res.rc, 19, "{res}");
        assert_eq!(policy_of(&res).and_then(|p| p.error), Some(PolicyError::PasswordTooShort));
        let res = passmod(&mut l, None, Some("bob-secret"), Some("bob-secret")).await;
        assert_eq!((res.rc, policy_of(&res).and_then(|p| p.error)), (19, Some(PolicyError::PasswordInHistory)));
        assert_eq!(passmod(&mut l, None, Some("bob-secret"), Some("bob-second-pw")).await.rc, 0);
        assert_eq!(passmod(&mut l, None, Some("bob-second-pw"), Some("bob-third-pw")).await.rc, 0);
        // Back to an old one: refused, it is in the history.
        let res = passmod(&mut l, None, Some("bob-third-pw"), Some("bob-secret")).await;
        assert_eq!((res.rc, policy_of(&res).and_then(|p| p.error)), (19, Some(PolicyError::PasswordInHistory)));
        assert_eq!(res.text, "Password is in history of old passwords");
        // Two old hashes are kept: a backup shows them, nobody reads them over LDAP.
        assert_eq!(history_in_backup(&s, BOB), 2);
        assert!(values(&url, BOB, "pwdHistory").await.is_empty(), "pwdHistory is never returned");
        assert_eq!(values(&url, BOB, "pwdChangedTime").await.len(), 1);
        // The root DN is not held to the policy.
        let mut admin = root(&url).await;
        assert_eq!(passmod(&mut admin, Some(BOB), None, Some("x")).await.rc, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_old_password_counts_as_a_failure() {
    let s = Server::start_with("[ppolicy]\nmax_failure = 2\nlockout_duration = 0\n", true);
    let url = s.url();
    let out =
        s.ldap_tool("ldappasswd", &["-x", "-D", ALICE, "-w", "alice-secret", "-a", "wrong-old", "-s", "new-one-1"]);
    assert!(format!("{}{}", text(&out.stdout), text(&out.stderr)).contains("(53)"), "{out:?}");
    bounded(LIMIT, async {
        // ldappasswd's own bind succeeded and so forgot that failure; two on one connection lock.
        let (_, mut l) = bind_pp(&url, ALICE, "alice-secret").await;
        for _ in 0..2 {
            assert_eq!(passmod(&mut l, None, Some("wrong-old"), Some("whatever-new-1")).await.rc, 53);
        }
        assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 49);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_warns_then_allows_grace_binds() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut admin = root(&url).await;
        let policies = "ou=policies,dc=example,dc=org";
        let ou = vec![("objectClass", set(&["organizationalUnit"])), ("ou", set(&["policies"]))];
        assert_eq!(admin.add(policies, ou).await.expect("add").rc, 0);
        let policy = |name: &'static str, extra: Vec<(&'static str, HashSet<&'static str>)>| {
            let mut attrs = vec![
                ("objectClass", set(&["organizationalRole", "pwdPolicy"])),
                ("cn", set(&[name])),
                ("pwdAttribute", set(&["userPassword"])),
            ];
            attrs.extend(extra);
            attrs
        };
        let expired = "cn=expired,ou=policies,dc=example,dc=org";
        let attrs = policy("expired", vec![("pwdMaxAge", set(&["1"])), ("pwdGraceAuthNLimit", set(&["2"]))]);
        assert_eq!(admin.add(expired, attrs).await.expect("add").rc, 0);
        let warned = "cn=warned,ou=policies,dc=example,dc=org";
        let attrs = policy("warned", vec![("pwdMaxAge", set(&["3600"])), ("pwdExpireWarning", set(&["7200"]))]);
        assert_eq!(admin.add(warned, attrs).await.expect("add").rc, 0);
        for (who, p, pw) in [(BOB, expired, "bob-fresh-1"), (CHENWEI, warned, "chenwei-fresh-1")] {
            let res = modify(&url, who, vec![Mod::Replace("pwdPolicySubentry", set(&[p]))]).await;
            assert_eq!(res.rc, 0, "{res}");
            // A reset sets pwdChangedTime (these policies do not ask for a change after it).
            assert_eq!(passmod(&mut admin, Some(who), None, Some(pw)).await.rc, 0);
        }
        let (res, _) = bind_pp(&url, CHENWEI, "chenwei-fresh-1").await;
        assert_eq!(res.rc, 0);
        match policy_of(&res).and_then(|p| p.warning) {
            Some(PolicyWarning::TimeBeforeExpiration(left)) => assert!((3000..=3600).contains(&left), "{left}"),
            other => panic!("expected an expiry warning, got {other:?}"),
        }
        // Wait (bounded) until bob's one-second password has expired.
        let changed = Instant::now();
        tokio::time::sleep(Duration::from_millis(2100).saturating_sub(changed.elapsed())).await;
        for left in [1, 0] {
            let (res, _) = bind_pp(&url, BOB, "bob-fresh-1").await;
            assert_eq!(res.rc, 0, "{res}");
            assert_eq!(policy_of(&res).and_then(|p| p.warning), Some(PolicyWarning::GraceAuthNsRemaining(left)));
        }
        let (res, _) = bind_pp(&url, BOB, "bob-fresh-1").await;
        assert_eq!((res.rc, policy_of(&res).and_then(|p| p.error)), (49, Some(PolicyError::PasswordExpired)));
        assert_eq!(values(&url, BOB, "pwdGraceUseTime").await.len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_binds_are_rate_limited_per_dn_and_per_address() {
    let per_dn = Server::start_with(
        "[ppolicy]\nmax_failure = 0\n[rate_limit]\nper_dn_burst = 3\nper_dn_per_minute = 0.0\n",
        true,
    );
    let url = per_dn.url();
    bounded(LIMIT, async {
        for _ in 0..3 {
            assert_eq!(bind_rc(&url, BOB, "wrong").await, 49);
        }
        // The right password is refused too, without verification, while the bucket is empty.
        let mut l = connect(&url).await;
        let res = l.with_timeout(OP_TIMEOUT).simple_bind(BOB, "bob-secret").await.expect("bind");
        assert_eq!(res.rc, 49);
        assert!(res.text.contains("too many failed binds"), "{res}");
        assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 0, "other DNs still bind");
    })
    .await;
    let per_address = Server::start_with("[rate_limit]\nper_address_burst = 2\nper_address_per_minute = 0.0\n", true);
    let url = per_address.url();
    bounded(LIMIT, async {
        assert_eq!(bind_rc(&url, "uid=nobody,ou=people,dc=example,dc=org", "x").await, 49);
        assert_eq!(bind_rc(&url, ROOT_DN, "wrong").await, 49);
        assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 49, "this address is throttled");
    })
    .await;
    let log = std::fs::read_to_string(per_address.log_path()).unwrap_or_default();
    assert!(log.contains("bind_throttled"), "{log}");
}

/// The rehash runs after the bind answered: many binds of one migrated account at once all
/// succeed, and a kill -9 right after them loses at most the conversion, never the password.
#[tokio::test(flavor = "multi_thread")]
async fn a_rehash_after_the_answer_never_loses_the_password() {
    let ldif = common::users_ldif(1, |_| SSHA_SECRET.to_string());
    let dn = "uid=user00001,ou=people,dc=example,dc=org";
    let mut s = imported("rehash_on_bind = true\n", &ldif);
    let url = s.url();
    bounded(LIMIT, async {
        let binds = (0..8).map(|_| bind_rc(&url, dn, "secret"));
        for rc in futures_util::future::join_all(binds).await {
            assert_eq!(rc, 0);
        }
    })
    .await;
    s.kill9();
    s.start_existing();
    let url = s.url();
    bounded(LIMIT, async {
        assert_eq!(bind_rc(&url, dn, "secret").await, 0, "after kill -9");
        assert_eq!(bind_rc(&url, dn, "Secret").await, 49);
    })
    .await;
    s.stop();
    // Converted by now (the bind after the restart, flushed by the graceful stop), and once.
    let out = s.birch(&["export"]);
    let exported = text(&out.stdout).replace("\n ", "");
    let record = exported.split("\n\n").find(|r| r.starts_with(&format!("dn: {dn}"))).expect("exported");
    assert_eq!(record.matches("userPassword: ").count(), 1, "{record}");
    assert!(record.contains("userPassword: {ARGON2}$argon2id$"), "{record}");
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_hashes_are_rehashed_on_bind() {
    let ldif = common::users_ldif(4, |i| match i {
        1 => SSHA_SECRET.to_string(),
        2 => PBKDF2_SECRET.to_string(),
        3 => CRYPT_SECRET.to_string(),
        _ => "{NOPE}unverifiable".to_string(),
    });
    let dn = |i: usize| format!("uid=user{i:05},ou=people,dc=example,dc=org");
    for rehash in [true, false] {
        // Every bind here may rehash at once (the pace is tested below).
        let mut s = Server::offline(&format!("rehash_on_bind = {rehash}\nrehash_per_second = 1000\n"));
        let path = s.dir().join("users.ldif");
        std::fs::write(&path, &ldif).expect("write ldif");
        let out = s.birch(&["import", &path.display().to_string()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = s.birch(&["check"]);
        let printed = text(&out.stdout);
        assert!(out.status.success(), "{printed}{}", text(&out.stderr));
        assert!(
            printed.contains(&format!("warning: {}: userPassword uses the unknown scheme {{NOPE}}", dn(4))),
            "{printed}"
        );
        assert_eq!(printed.matches("warning:").count(), 1, "{printed}");
        s.start_existing();
        let url = s.url();
        bounded(LIMIT, async {
            for i in 1..=3 {
                assert_eq!(bind_rc(&url, &dn(i), "secret").await, 0, "user {i}");
            }
            assert_eq!(bind_rc(&url, &dn(4), "unverifiable").await, 49);
            for i in 1..=3 {
                assert_eq!(bind_rc(&url, &dn(i), "secret").await, 0, "user {i} after rehash");
                assert_eq!(bind_rc(&url, &dn(i), "Secret").await, 49);
            }
        })
        .await;
        s.stop();
        let out = s.birch(&["export"]);
        let exported = text(&out.stdout).replace("\n ", "");
        for (i, legacy) in [(1, SSHA_SECRET), (2, PBKDF2_SECRET), (3, CRYPT_SECRET)] {
            let record = exported.split("\n\n").find(|r| r.starts_with(&format!("dn: {}", dn(i)))).expect("exported");
            if rehash {
                assert!(record.contains("userPassword: {ARGON2}$argon2id$"), "{record}");
                assert!(!record.contains(legacy), "{record}");
            } else {
                assert!(record.contains(&format!("userPassword: {legacy}")), "{record}");
            }
        }
    }
}

/// The value of the metric `name` (no labels) on the metrics port.
fn metric(port: u16, name: &str) -> u64 {
    let text = common::scrape_metrics(port);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebind_within_minutes_skips_the_slow_hash_but_nothing_else() {
    let port = common::free_port();
    let s = Server::start_with(
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n[ppolicy]\nmax_failure = 3\nlockout_duration = 0\n"),
        true,
    );
    let url = s.url();
    let hits = || metric(port, "birch_bind_cache_hits_total");
    bounded(LIMIT, async {
        // The demo's passwords are argon2id: the first bind verifies, the next ones hit.
        assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 0);
        assert_eq!(hits(), 0);
        assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 0);
        assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 0);
        assert_eq!(hits(), 2);
        // A wrong password is never a hit, and still counts as a failure. (Other binds, e.g.
        // the root DN's for the checks, are remembered too: compare around each bind.)
        assert_eq!(bind_rc(&url, ALICE, "alice-wrong").await, 49);
        assert_eq!(hits(), 2);
        assert_eq!(values(&url, ALICE, "pwdFailureTime").await.len(), 1);
        // A password change makes the remembered check worthless at once.
        let mut admin = root(&url).await;
        assert_eq!(passmod(&mut admin, Some(ALICE), None, Some("alice-new-secret-1")).await.rc, 0);
        let before = hits();
        assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 49);
        assert_eq!(bind_rc(&url, ALICE, "alice-new-secret-1").await, 0);
        assert_eq!(hits(), before, "the new password was verified in full");
        assert_eq!(bind_rc(&url, ALICE, "alice-new-secret-1").await, 0);
        assert_eq!(hits(), before + 1);
        // A locked account stays locked whatever was remembered.
        assert_eq!(bind_rc(&url, BOB, "bob-secret").await, 0);
        for _ in 0..3 {
            assert_eq!(bind_rc(&url, BOB, "bob-wrong").await, 49);
        }
        let before = hits();
        let (res, _) = bind_pp(&url, BOB, "bob-secret").await;
        assert_eq!(res.rc, 49);
        assert_eq!(policy_of(&res).and_then(|p| p.error), Some(PolicyError::AccountLocked));
        assert_eq!(hits(), before, "a locked account is not answered from the cache");
        // The root DN's argon2id hash is remembered too.
        assert_eq!(bind_rc(&url, ROOT_DN, ROOT_PW).await, 0);
        assert_eq!(bind_rc(&url, ROOT_DN, ROOT_PW).await, 0);
        assert!(hits() > before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ttl_of_zero_turns_the_bind_cache_off() {
    let port = common::free_port();
    let s =
        Server::start_with(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n[bind_cache]\nttl_secs = 0\n"), true);
    let url = s.url();
    bounded(LIMIT, async {
        for _ in 0..3 {
            assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 0);
        }
        assert_eq!(metric(port, "birch_bind_cache_hits_total"), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rehashes_start_no_faster_than_the_configured_pace() {
    let ldif = common::users_ldif(3, |_| SSHA_SECRET.to_string());
    let dn = |i: usize| format!("uid=user{i:05},ou=people,dc=example,dc=org");
    let mut s = imported("rehash_per_second = 0.01\n", &ldif);
    let url = s.url();
    bounded(LIMIT, async {
        for i in 1..=3 {
            assert_eq!(bind_rc(&url, &dn(i), "secret").await, 0, "user {i}");
        }
    })
    .await;
    s.stop();
    let out = s.birch(&["export"]);
    let exported = text(&out.stdout).replace("\n ", "");
    assert_eq!(exported.matches("userPassword: {ARGON2}$argon2id$").count(), 1, "one rehash in 100 s");
    assert_eq!(exported.matches(&format!("userPassword: {SSHA_SECRET}")).count(), 2);
}
