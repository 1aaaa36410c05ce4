//! `birch account` (docs/admin.md, "Account status") against the real server: the status of
//! a normal, a locked, an expired-lock, a disabled and a must-change account; `locked` lists
//! only effective locks; `expiring` and `inactive` with controlled times; `purge` deletes only
//! accounts disabled longer than the grace period; who may look; and an unlock that forgets
//! the failed binds.
mod common;

use common::demo::{ALICE, BOB, CHENWEI, HANA, HANA_PW};
use common::{bind_rc, birch_bin, connect_as, search, Server, ROOT_DN, ROOT_PW};
use ldap3::{Mod, Scope};
use serde_json::Value;
use std::collections::HashSet;
use std::process::{Command, Output};
use std::time::Duration;

/// A small lockout: two failures lock for ten minutes.
const LOCKOUT: &str = "[ppolicy]\nmax_failure = 2\nlockout_duration = 600\nfailure_count_interval = 600\n\
                       last_bind_precision = 0\n";

/// Writes the client config for `s` with `extra` lines (e.g. its `[ppolicy]` section).
fn client_config(s: &Server, extra: &str) {
    let text = format!("url = \"{}\"\n{extra}\n", s.url());
    std::fs::write(s.dir().join("cli.toml"), text).expect("write cli.toml");
}

/// Runs `birch ARGS` as `dn` (password from the environment).
fn birch_as(s: &Server, dn: &str, pw: &str, args: &[&str]) -> Output {
    Command::new(birch_bin())
        .args(args)
        .arg("--bind-dn")
        .arg(dn)
        .env("BIRCH_CLI_CONFIG", s.dir().join("cli.toml"))
        .env("BIRCH_BIND_PASSWORD", pw)
        .output()
        .expect("run birch")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a command as `dn` with `--json`; it must succeed.
fn json_as(s: &Server, dn: &str, pw: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let o = birch_as(s, dn, pw, &all);
    assert_eq!(code(&o), 0, "{args:?}: {}", show(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", show(&o)))
}

fn admin(s: &Server, args: &[&str]) -> Value {
    json_as(s, ALICE, "alice-secret", args)
}

/// The uids of a list's JSON.
fn uids(v: &Value) -> Vec<String> {
    let mut u: Vec<String> =
        v.as_array().expect("array").iter().map(|e| e["uid"].as_str().unwrap_or_default().to_string()).collect();
    u.sort();
    u
}

/// Adds a person `uid` with password `<uid>-secret` as the root DN.
async fn add_user(s: &Server, uid: &str, number: u32) -> String {
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let dn = format!("uid={uid},ou=people,dc=example,dc=org");
    let (n, home, pw) = (number.to_string(), format!("/home/{uid}"), format!("{uid}-secret"));
    let attrs = vec![
        ("objectClass", HashSet::from(["inetOrgPerson", "posixAccount"])),
        ("uid", HashSet::from([uid])),
        ("cn", HashSet::from([uid])),
        ("sn", HashSet::from([uid])),
        ("uidNumber", HashSet::from([n.as_str()])),
        ("gidNumber", HashSet::from(["10001"])),
        ("homeDirectory", HashSet::from([home.as_str()])),
        ("userPassword", HashSet::from([pw.as_str()])),
    ];
    assert_eq!(root.add(&dn, attrs).await.expect("add").rc, 0);
    dn
}

/// Adds hana to a new helpdesk group; she sets her own password.
async fn add_helpdesk(s: &Server) {
    common::add_helpdesk_member(&s.url()).await;
}

async fn attr(s: &Server, dn: &str, name: &str) -> Vec<String> {
    common::root_values(&s.url(), dn, name).await
}

#[tokio::test]
async fn status_and_lock_lists_decide_as_the_bind_does() {
    let s = Server::start_with(LOCKOUT, true);
    // The client knows the server's built-in policy from its own [ppolicy] section.
    client_config(&s, LOCKOUT);
    let dora = add_user(&s, "dora", 10010).await;
    let emil = add_user(&s, "emil", 10011).await;
    let fred = add_user(&s, "fred", 10012).await;
    add_helpdesk(&s).await;

    // Normal: bob binds (recorded at once: precision 0).
    assert_eq!(bind_rc(&s.url(), BOB, "bob-secret").await, 0);
    let st = admin(&s, &["account", "status", "bob"]);
    assert_eq!(
        (st["locked"].as_bool(), st["disabled"].as_bool(), st["expired"].as_bool()),
        (Some(false), Some(false), Some(false))
    );
    assert_eq!((st["mustChange"].as_bool(), st["failures"].as_u64()), (Some(false), Some(0)));
    assert!(st["lastSuccess"].is_string(), "{st}");
    assert!(st["bindRefused"].is_null(), "{st}");

    // Locked by failed binds: two wrong passwords.
    for _ in 0..2 {
        assert_eq!(bind_rc(&s.url(), CHENWEI, "wrong").await, 49);
    }
    let st = admin(&s, &["account", "status", "chenwei"]);
    assert_eq!(st["locked"].as_bool(), Some(true), "{st}");
    assert!(st["lockedUntil"].is_string() && st["lockedAt"].is_string(), "{st}");
    assert_eq!(st["failures"].as_u64(), Some(2), "{st}");
    assert_eq!(st["bindRefused"], "account locked");

    // An expired lock: set as an administrator long ago; the entry still holds it.
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let old = Mod::Replace("pwdAccountLockedTime", HashSet::from(["20200101000000Z"]));
    assert_eq!(root.modify(&dora, vec![old]).await.expect("modify").rc, 0);
    let st = admin(&s, &["account", "status", "dora"]);
    assert_eq!((st["locked"].as_bool(), st["disabled"].as_bool()), (Some(false), Some(false)), "{st}");

    // Disabled, with who and why.
    admin(&s, &["user", "disable", "emil", "--reason", "left 2026-12-01"]);
    let st = admin(&s, &["account", "status", "emil"]);
    assert_eq!((st["locked"].as_bool(), st["disabled"].as_bool()), (Some(false), Some(true)), "{st}");
    assert_eq!(st["disabledBy"].as_str().map(str::to_ascii_lowercase), Some(ALICE.to_ascii_lowercase()));
    assert_eq!(st["disabledReason"], "left 2026-12-01");
    assert_eq!(st["dn"], emil.as_str());
    assert!(st["disabledAt"].is_string(), "{st}");
    // The table says it too.
    let o = birch_as(&s, ALICE, "alice-secret", &["account", "status", "emil"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("disabled reason:") && out.contains("left 2026-12-01"), "{out}");

    // Must change: a reset by an administrator.
    admin(&s, &["user", "passwd", "fred"]);
    let st = admin(&s, &["account", "status", "fred"]);
    assert_eq!(st["mustChange"].as_bool(), Some(true), "{st}");
    assert_eq!(st["dn"], fred.as_str());

    // `locked`: the effective lock only; disabled ones on request.
    assert_eq!(uids(&admin(&s, &["account", "locked"])), ["chenwei"]);
    assert_eq!(uids(&admin(&s, &["account", "locked", "--include-disabled"])), ["chenwei", "emil"]);
    assert_eq!(uids(&admin(&s, &["account", "disabled"])), ["emil"]);

    // The helpdesk may look.
    let hana = json_as(&s, HANA, HANA_PW, &["account", "status", "chenwei"]);
    assert_eq!(hana["locked"].as_bool(), Some(true), "{hana}");
    assert_eq!(uids(&json_as(&s, HANA, HANA_PW, &["account", "locked"])), ["chenwei"]);
    // The helpdesk may not purge (delete): 4, and nothing is deleted.
    let o = birch_as(&s, HANA, HANA_PW, &["account", "purge", "--older-than", "0s"]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert_eq!(uids(&admin(&s, &["account", "disabled"])), ["emil"]);
    // A user may not look at others (4), and their lists show nobody else.
    let o = birch_as(&s, BOB, "bob-secret", &["account", "status", "chenwei"]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert_eq!(uids(&json_as(&s, BOB, "bob-secret", &["account", "locked"])), Vec::<String>::new());
    let me = json_as(&s, BOB, "bob-secret", &["account", "status", "bob"]);
    assert_eq!(me["locked"].as_bool(), Some(false));
    // Unknown account: 3.
    let o = birch_as(&s, ALICE, "alice-secret", &["account", "status", "nobody"]);
    assert_eq!(code(&o), 3, "{}", show(&o));
}

#[tokio::test]
async fn unlock_forgets_the_failures_so_one_more_typo_does_not_relock() {
    let s = Server::start_with(LOCKOUT, true);
    client_config(&s, LOCKOUT);
    for _ in 0..2 {
        assert_eq!(bind_rc(&s.url(), CHENWEI, "wrong").await, 49);
    }
    assert_eq!(attr(&s, CHENWEI, "pwdFailureTime").await.len(), 2);
    admin(&s, &["user", "unlock", "chenwei"]);
    assert_eq!(attr(&s, CHENWEI, "pwdAccountLockedTime").await, Vec::<String>::new());
    assert_eq!(attr(&s, CHENWEI, "pwdFailureTime").await, Vec::<String>::new(), "the unlock forgets the failures");
    // One more typo: not locked again (the limit is two failures).
    assert_eq!(bind_rc(&s.url(), CHENWEI, "wrong").await, 49);
    assert_eq!(bind_rc(&s.url(), CHENWEI, "chenwei-secret").await, 0);
    // A modify that does not lift a lock keeps them.
    assert_eq!(bind_rc(&s.url(), CHENWEI, "wrong").await, 49);
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let m = Mod::Replace("description", HashSet::from(["x"]));
    assert_eq!(root.modify(CHENWEI, vec![m]).await.expect("modify").rc, 0);
    assert_eq!(attr(&s, CHENWEI, "pwdFailureTime").await.len(), 1);
}

/// An offline-imported directory with old times: created, last bind, disabled.
const OLD_LDIF: &str = "\
dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=grads,ou=groups,dc=example,dc=org
objectClass: posixGroup
cn: grads
gidNumber: 20000
memberUid: old1
memberUid: old2
memberUid: fresh

dn: uid=old1,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: posixAccount
uid: old1
cn: old1
sn: old1
uidNumber: 20001
gidNumber: 20000
homeDirectory: /home/old1
createTimestamp: 20200101000000Z
pwdLastSuccess: 20210101000000Z
pwdAccountLockedTime: 000001010000Z
birchDisabledTime: 20220101000000Z
birchDisabledBy: cn=admin,dc=example,dc=org
birchDisabledReason: graduated 2021

dn: uid=old2,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: posixAccount
uid: old2
cn: old2
sn: old2
uidNumber: 20002
gidNumber: 20000
homeDirectory: /home/old2
createTimestamp: 20200101000000Z
pwdAccountLockedTime: 000001010000Z
birchDisabledTime: 20220601000000Z
birchDisabledReason: graduated 2022

dn: uid=never,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: posixAccount
uid: never
cn: never
sn: never
uidNumber: 20003
gidNumber: 20000
homeDirectory: /home/never
createTimestamp: 20200101000000Z

dn: uid=fresh,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: posixAccount
uid: fresh
cn: fresh
sn: fresh
uidNumber: 20004
gidNumber: 20000
homeDirectory: /home/fresh
userPassword: fresh-secret-1
";

/// The old directory imported offline, then served with `extra`.
fn old_directory(extra: &str) -> Server {
    let mut s = Server::offline(extra);
    let file = s.dir().join("old.ldif");
    std::fs::write(&file, OLD_LDIF).expect("write ldif");
    let out = s.birch_bounded(&["import", file.to_str().expect("utf-8 path")], Duration::from_secs(60));
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    s.start_existing();
    client_config(&s, extra);
    s
}

fn root(s: &Server, args: &[&str]) -> Value {
    json_as(s, ROOT_DN, ROOT_PW, args)
}

#[tokio::test]
async fn expiring_and_inactive_with_controlled_times() {
    let s = old_directory("[ppolicy]\nlast_bind_precision = 0\nmust_change = false\n");
    // fresh binds now: active. never: created long ago, never bound. old1: last bind 2021.
    assert_eq!(bind_rc(&s.url(), "uid=fresh,ou=people,dc=example,dc=org", "fresh-secret-1").await, 0);
    assert_eq!(uids(&root(&s, &["account", "inactive", "--since", "180d"])), ["never", "old1", "old2"]);
    // Nobody was created or bound within the last minute but fresh... and fresh is active.
    assert_eq!(uids(&root(&s, &["account", "inactive", "--since", "100000d"])), Vec::<String>::new());

    // Expiry: never in 10 days (pwdEndTime and shadowExpire), fresh in 60 days.
    let day = |d: u64| {
        let t = std::time::SystemTime::now() + Duration::from_secs(d * 86_400);
        humantime::format_rfc3339_seconds(t).to_string()
    };
    root(&s, &["user", "expire", "never", "--at", &day(10)]);
    root(&s, &["user", "expire", "fresh", "--at", &day(60)]);
    let v = root(&s, &["account", "expiring", "--within", "30d"]);
    assert_eq!(uids(&v), ["never"], "{v}");
    assert!(v[0]["accountExpires"].is_string(), "{v}");
    assert_eq!(uids(&root(&s, &["account", "expiring", "--within", "90d"])), ["fresh", "never"]);
    // What has expired already is not expiring.
    root(&s, &["user", "expire", "fresh", "--at", "2020-01-01"]);
    assert_eq!(uids(&root(&s, &["account", "expiring", "--within", "90d"])), ["never"]);
    let st = root(&s, &["account", "status", "fresh"]);
    assert_eq!(st["expired"].as_bool(), Some(true), "{st}");
    // A bad duration is a usage error.
    let o = birch_as(&s, ROOT_DN, ROOT_PW, &["account", "expiring", "--within", "soon"]);
    assert_eq!(code(&o), 2, "{}", show(&o));
}

#[tokio::test]
async fn purge_deletes_only_accounts_disabled_longer_than_the_grace() {
    let s = old_directory("");
    let grads = "cn=grads,ou=groups,dc=example,dc=org";
    // The import kept when they were disabled.
    assert_eq!(attr(&s, "uid=old1,ou=people,dc=example,dc=org", "birchDisabledTime").await, ["20220101000000Z"]);
    // fresh is disabled now: within any grace period.
    root(&s, &["user", "disable", "fresh", "--reason", "graduated today"]);
    assert_eq!(uids(&root(&s, &["account", "disabled"])), ["fresh", "old1", "old2"]);

    // --dry-run deletes nothing.
    let v = root(&s, &["account", "purge", "--older-than", "90d", "--dry-run"]);
    assert_eq!(uids(&v), ["old1", "old2"], "{v}");
    assert!(v.as_array().expect("array").iter().all(|r| r["result"] == "would delete"), "{v}");
    assert_eq!(uids(&root(&s, &["account", "disabled"])), ["fresh", "old1", "old2"]);

    // The grace decides: disabled before 2022-03 (old1) but not old2... measured from now.
    let v = root(&s, &["account", "purge", "--older-than", "90d"]);
    assert_eq!(uids(&v), ["old1", "old2"], "{v}");
    assert!(v.as_array().expect("array").iter().all(|r| r["result"] == "deleted"), "{v}");
    assert_eq!(uids(&root(&s, &["account", "disabled"])), ["fresh"]);
    assert_eq!(attr(&s, grads, "memberUid").await, ["fresh"], "memberUid values removed too");
    // Restartable: nothing left to do.
    assert_eq!(uids(&root(&s, &["account", "purge", "--older-than", "90d"])), Vec::<String>::new());
    // A grace of 0s takes the one disabled now.
    assert_eq!(uids(&root(&s, &["account", "purge", "--older-than", "0s"])), ["fresh"]);
    assert_eq!(attr(&s, grads, "memberUid").await, Vec::<String>::new());
    let mut l = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let (es, _) = search(&mut l, "ou=people,dc=example,dc=org", Scope::OneLevel, "(objectClass=*)", &["uid"]).await;
    assert_eq!(es.len(), 1, "only never is left: {es:?}");
}

#[tokio::test]
async fn a_listing_pages_past_the_size_limit() {
    // The helpdesk has the users' size limit (admins have none).
    let s = Server::start_with("size_limit = 5\n", true);
    client_config(&s, "");
    add_helpdesk(&s).await;
    let mut rootc = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    for i in 0..12 {
        let dn = add_user(&s, &format!("p{i:02}"), 10100 + i).await;
        let m = Mod::Replace("pwdAccountLockedTime", HashSet::from(["000001010000Z"]));
        assert_eq!(rootc.modify(&dn, vec![m]).await.expect("modify").rc, 0);
    }
    // Without paging the same search stops at the limit.
    let mut hana = connect_as(&s.url(), HANA, HANA_PW).await;
    let (_, res) = search(
        &mut hana,
        "ou=people,dc=example,dc=org",
        Scope::Subtree,
        "(pwdAccountLockedTime=000001010000Z)",
        &["uid"],
    )
    .await;
    assert_eq!(res.rc, 4, "sizeLimitExceeded: {res}");
    let v = json_as(&s, HANA, HANA_PW, &["account", "disabled"]);
    assert_eq!(v.as_array().map(Vec::len), Some(12), "{v}");
}

#[tokio::test]
async fn each_account_is_decided_under_the_policy_its_entry_names() {
    let s = Server::start_with(LOCKOUT, true);
    client_config(&s, LOCKOUT);
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let ou = vec![("objectClass", HashSet::from(["organizationalUnit"])), ("ou", HashSet::from(["policies"]))];
    assert_eq!(root.add("ou=policies,dc=example,dc=org", ou).await.expect("add").rc, 0);
    // Locks of this policy last until an administrator unlocks them.
    let forever = "cn=forever,ou=policies,dc=example,dc=org";
    let policy = vec![
        ("objectClass", HashSet::from(["organizationalRole", "pwdPolicy"])),
        ("cn", HashSet::from(["forever"])),
        ("pwdAttribute", HashSet::from(["userPassword"])),
        ("pwdLockout", HashSet::from(["TRUE"])),
        ("pwdMaxFailure", HashSet::from(["3"])),
        ("pwdLockoutDuration", HashSet::from(["0"])),
    ];
    assert_eq!(root.add(forever, policy).await.expect("add").rc, 0);
    let gina = add_user(&s, "gina", 10020).await;
    let hugo = add_user(&s, "hugo", 10021).await;
    // Both locked in 2020: gina under the default (600 s: long over), hugo under `forever`.
    for (dn, named) in [(&gina, None), (&hugo, Some(forever))] {
        let mut mods = vec![Mod::Replace("pwdAccountLockedTime", HashSet::from(["20200101000000Z"]))];
        if let Some(p) = named {
            mods.push(Mod::Replace("pwdPolicySubentry", HashSet::from([p])));
        }
        assert_eq!(root.modify(dn, mods).await.expect("modify").rc, 0);
    }
    assert_eq!(uids(&admin(&s, &["account", "locked"])), ["hugo"]);
    let st = admin(&s, &["account", "status", "hugo"]);
    assert_eq!((st["locked"].as_bool(), st["lockedUntil"].as_str()), (Some(true), Some("until unlocked")), "{st}");
    // The bind agrees.
    assert_eq!(bind_rc(&s.url(), &hugo, "hugo-secret").await, 49);
    assert_eq!(admin(&s, &["account", "status", "gina"])["locked"].as_bool(), Some(false));
}
