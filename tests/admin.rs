//! The admin commands (`birch user|group|service`, docs/admin.md) against the real server:
//! each command run as a subprocess bound with an operator's own identity, the results
//! checked over LDAP. Includes concurrent `user add`s (distinct uidNumbers), a helpdesk
//! operator (may reset passwords, may not make admins), exit codes, and TLS.
mod common;

use common::demo::{ALICE, CHENWEI, HANA, HANA_PW, IT_ADMINS, NSLCD, STAFF, STUDENTS};
use common::{bind_rc, birch_bin, connect_as, search, Server, ROOT_DN, ROOT_PW};
use ldap3::Scope;
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Writes the client config for `s` (url, primary group) and returns its path.
fn client_config(s: &Server, extra: &str) -> PathBuf {
    let path = s.dir().join("cli.toml");
    let text = format!("url = \"{}\"\n{extra}\n[accounts]\nprimary_group = \"students\"\n", s.url());
    std::fs::write(&path, text).expect("write cli.toml");
    path
}

/// Runs `birch ARGS` as `dn` (password from the environment), with standard input `stdin`.
fn birch_as_with(s: &Server, dn: &str, pw: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let cfg = s.dir().join("cli.toml");
    if !cfg.exists() {
        client_config(s, "");
    }
    let mut child = Command::new(birch_bin())
        .args(args)
        .arg("--bind-dn")
        .arg(dn)
        .env("BIRCH_CLI_CONFIG", &cfg)
        .env("BIRCH_BIND_PASSWORD", pw)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run birch");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait birch")
}

/// Runs `birch ARGS` as alice (it-admins).
fn admin(s: &Server, args: &[&str]) -> Output {
    birch_as_with(s, ALICE, "alice-secret", args, None)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn show(o: &Output) -> String {
    format!("exit {:?}\nstdout: {}\nstderr: {}", o.status.code(), text(&o.stdout), text(&o.stderr))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command that must succeed, with `--json`, and parses its output.
fn json(s: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let o = admin(s, &all);
    assert_eq!(code(&o), 0, "{args:?}: {}", show(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", show(&o)))
}

/// The values of `attr` of `dn`, read as the root DN (operational attributes by name).
async fn values(s: &Server, dn: &str, attr: &str) -> Vec<String> {
    common::root_values(&s.url(), dn, attr).await
}

async fn exists(s: &Server, dn: &str) -> bool {
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let (_, res) = search(&mut root, dn, Scope::Base, "(objectClass=*)", &["1.1"]).await;
    res.rc == 0
}

fn sorted(v: Vec<String>) -> Vec<String> {
    let mut v = v;
    v.sort();
    v
}

#[tokio::test]
async fn user_lifecycle_from_add_to_delete() {
    let s = Server::demo();
    // add: the next uidNumber after the demo's highest (10003), the primary group from the
    // client config, a supplementary group, a temporary password that must be changed.
    let j = json(
        &s,
        &[
            "user",
            "add",
            "dora",
            "--name",
            "Dora Maar",
            "--group",
            "staff",
            "--mail",
            "dora@example.org",
            "--password-generate",
        ],
    );
    let dora = "uid=dora,ou=people,dc=example,dc=org";
    assert_eq!(j["dn"], dora);
    assert_eq!(j["uidNumber"], 10004);
    assert_eq!(j["gidNumber"], 10002);
    assert_eq!(j["homeDirectory"], "/home/dora");
    assert_eq!(j["mustChange"], true);
    let pw = j["password"].as_str().expect("password shown").to_string();
    assert_eq!(pw.len(), 16);
    assert_eq!(bind_rc(&s.url(), dora, &pw).await, 0);
    assert_eq!(values(&s, dora, "pwdReset").await, ["TRUE"]);
    assert_eq!(sorted(values(&s, dora, "objectClass").await), ["inetOrgPerson", "posixAccount", "shadowAccount"]);
    assert_eq!(values(&s, dora, "sn").await, ["Maar"]);
    assert_eq!(values(&s, dora, "givenName").await, ["Dora"]);
    assert!(values(&s, STUDENTS, "memberUid").await.contains(&"dora".to_string()));
    assert!(values(&s, STAFF, "memberUid").await.contains(&"dora".to_string()));
    // The same uid again: exists (6).
    let again = admin(&s, &["user", "add", "dora", "--name", "Dora Two"]);
    assert_eq!(code(&again), 6, "{}", show(&again));

    // show and list.
    let j = json(&s, &["user", "show", "dora"]);
    assert_eq!(j["status"], serde_json::json!(["must-change"]));
    assert_eq!(j["groups"], serde_json::json!(["staff", "students"]));
    let j = json(&s, &["user", "list", "--name", "maar"]);
    assert_eq!(j.as_array().map(|a| a.len()), Some(1), "{j}");
    assert_eq!(j[0]["uid"], "dora");
    let j = json(&s, &["user", "list", "--group", "staff"]);
    let uids: Vec<&str> = j.as_array().expect("array").iter().filter_map(|u| u["uid"].as_str()).collect();
    assert_eq!(uids, ["alice", "bob", "dora"]);
    let j = json(&s, &["user", "search", "--status", "must-change"]);
    assert_eq!(j.as_array().map(|a| a.len()), Some(1), "{j}");

    // modify.
    json(
        &s,
        &[
            "user",
            "modify",
            "dora",
            "--shell",
            "/bin/zsh",
            "--display-name",
            "Dora M.",
            "--set",
            "telephoneNumber=+1 555 0104",
        ],
    );
    assert_eq!(values(&s, dora, "loginShell").await, ["/bin/zsh"]);
    assert_eq!(values(&s, dora, "displayName").await, ["Dora M."]);
    assert_eq!(values(&s, dora, "telephoneNumber").await, ["+1 555 0104"]);
    let none = admin(&s, &["user", "modify", "dora"]);
    assert_eq!(code(&none), 1, "{}", show(&none));

    // rename: the DN, the home directory (it followed the template) and both kinds of
    // group membership follow.
    json(&s, &["group", "add", "lab", "--kind", "names", "--member", "dora"]);
    let j = json(&s, &["user", "rename", "dora", "dmaar"]);
    let dmaar = "uid=dmaar,ou=people,dc=example,dc=org";
    assert_eq!(j["dn"], dmaar);
    assert!(!exists(&s, dora).await);
    assert_eq!(values(&s, dmaar, "homeDirectory").await, ["/home/dmaar"]);
    let students = values(&s, STUDENTS, "memberUid").await;
    assert!(students.contains(&"dmaar".to_string()) && !students.contains(&"dora".to_string()), "{students:?}");
    assert_eq!(values(&s, "cn=lab,ou=groups,dc=example,dc=org", "member").await, [dmaar]);

    // passwd: a new temporary password, shown once; the old one stops working.
    let j = json(&s, &["user", "passwd", "dmaar"]);
    let pw2 = j["password"].as_str().expect("password").to_string();
    assert_ne!(pw2, pw);
    assert_eq!(j["mustChange"], true);
    assert_eq!(bind_rc(&s.url(), dmaar, &pw).await, 49);
    assert_eq!(bind_rc(&s.url(), dmaar, &pw2).await, 0);
    // passwd --prompt: typed by the operator (standard input when it is not a terminal).
    let o =
        birch_as_with(&s, ALICE, "alice-secret", &["user", "passwd", "dmaar", "--prompt"], Some("Typed-by-admin-1\n"));
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(!text(&o.stdout).contains("Typed-by-admin-1"), "a typed password is not echoed: {}", show(&o));
    assert_eq!(bind_rc(&s.url(), dmaar, "Typed-by-admin-1").await, 0);

    // lock / unlock.
    json(&s, &["user", "lock", "dmaar"]);
    assert_eq!(bind_rc(&s.url(), dmaar, "Typed-by-admin-1").await, 49);
    assert_eq!(json(&s, &["user", "show", "dmaar"])["status"][0], "locked");
    json(&s, &["user", "unlock", "dmaar"]);
    assert!(values(&s, dmaar, "pwdAccountLockedTime").await.is_empty());
    assert_eq!(bind_rc(&s.url(), dmaar, "Typed-by-admin-1").await, 0);

    // delete of an account that is not disabled: refused (7), nothing deleted.
    let o = admin(&s, &["user", "delete", "dmaar"]);
    assert_eq!(code(&o), 7, "{}", show(&o));
    assert!(text(&o.stderr).contains("not disabled"), "{}", show(&o));
    assert!(exists(&s, dmaar).await);

    // disable with a reason / enable.
    json(&s, &["user", "disable", "dmaar", "--reason", "left for Paris"]);
    assert_eq!(values(&s, dmaar, "pwdAccountLockedTime").await, ["000001010000Z"]);
    assert_eq!(values(&s, dmaar, "birchDisabledReason").await, ["left for Paris"]);
    assert_eq!(bind_rc(&s.url(), dmaar, "Typed-by-admin-1").await, 49);
    let j = json(&s, &["user", "show", "dmaar"]);
    assert_eq!(j["status"][0], "disabled");
    // A lock or unlock does not touch a disabled account.
    for cmd in ["lock", "unlock"] {
        let o = admin(&s, &["user", cmd, "dmaar"]);
        assert_eq!(code(&o), 7, "{cmd}: {}", show(&o));
    }
    assert_eq!(values(&s, dmaar, "pwdAccountLockedTime").await, ["000001010000Z"]);
    json(&s, &["user", "enable", "dmaar"]);
    assert!(values(&s, dmaar, "birchDisabledReason").await.is_empty());
    assert_eq!(bind_rc(&s.url(), dmaar, "Typed-by-admin-1").await, 0);

    // delete after disable: the entry and its group memberships go.
    json(&s, &["user", "disable", "dmaar", "--reason", "graduated"]);
    let j = json(&s, &["user", "delete", "dmaar"]);
    assert_eq!(j["deleted"], dmaar);
    assert!(!exists(&s, dmaar).await);
    assert!(!values(&s, STUDENTS, "memberUid").await.contains(&"dmaar".to_string()));
    assert!(!values(&s, STAFF, "memberUid").await.contains(&"dmaar".to_string()));
    let o = admin(&s, &["user", "show", "dmaar"]);
    assert_eq!(code(&o), 3, "{}", show(&o));
    assert!(text(&o.stderr).contains("user dmaar: not found"), "{}", show(&o));
}

#[tokio::test]
async fn expire_sets_shadow_expire_and_pwd_end_time() {
    let s = Server::demo();
    json(&s, &["user", "expire", "chenwei", "--at", "2020-01-01"]);
    assert_eq!(values(&s, CHENWEI, "shadowExpire").await, ["18262"]);
    assert_eq!(values(&s, CHENWEI, "pwdEndTime").await, ["20200101000000Z"]);
    assert_eq!(bind_rc(&s.url(), CHENWEI, "chenwei-secret").await, 49);
    let j = json(&s, &["user", "list", "--status", "expired"]);
    assert_eq!(j[0]["uid"], "chenwei", "{j}");
    json(&s, &["user", "expire", "chenwei", "--at", "2100-06-30T12:00:00Z"]);
    assert_eq!(values(&s, CHENWEI, "pwdEndTime").await, ["21000630120000Z"]);
    assert_eq!(bind_rc(&s.url(), CHENWEI, "chenwei-secret").await, 0);
    json(&s, &["user", "expire", "chenwei", "--never"]);
    assert!(values(&s, CHENWEI, "shadowExpire").await.is_empty());
    assert!(values(&s, CHENWEI, "pwdEndTime").await.is_empty());
    let bad = admin(&s, &["user", "expire", "chenwei", "--at", "someday"]);
    assert_eq!(code(&bad), 1, "{}", show(&bad));
}

#[tokio::test]
async fn concurrent_user_adds_never_share_a_uid_number() {
    let s = Server::demo();
    const WORKERS: usize = 4;
    const EACH: usize = 5;
    let numbers: Vec<u64> = std::thread::scope(|scope| {
        let s = &s;
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                scope.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let uid = format!("w{w}u{i}");
                            let j = json(s, &["user", "add", &uid, "--name", &format!("Worker {w} User {i}")]);
                            j["uidNumber"].as_u64().expect("uidNumber")
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker")).collect()
    });
    let distinct: HashSet<u64> = numbers.iter().copied().collect();
    assert_eq!(distinct.len(), WORKERS * EACH, "duplicate uidNumbers: {numbers:?}");
    assert_eq!(distinct, (10004..10004 + (WORKERS * EACH) as u64).collect(), "{numbers:?}");
    // The entries agree, and the counter holds the next free number.
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let (es, _) = search(&mut root, "ou=people,dc=example,dc=org", Scope::Subtree, "(uid=w*)", &["uidNumber"]).await;
    let stored: HashSet<String> = es.iter().map(|e| e.attrs["uidNumber"][0].clone()).collect();
    assert_eq!(stored.len(), WORKERS * EACH);
    let counter = "cn=uidNext,dc=example,dc=org";
    let next = (10004 + WORKERS * EACH).to_string();
    assert_eq!(values(&s, counter, "birchNextNumber").await, std::slice::from_ref(&next));
    // What a client that read a number someone else took meets: its modify fails with 16
    // noSuchAttribute and changes nothing (it then reads again).
    let stale = vec![
        ldap3::Mod::Delete("birchNextNumber", HashSet::from(["10004"])),
        ldap3::Mod::Add("birchNextNumber", HashSet::from(["10005"])),
    ];
    assert_eq!(root.modify(counter, stale).await.expect("modify").rc, 16);
    assert_eq!(values(&s, counter, "birchNextNumber").await, [next]);
}

#[tokio::test]
async fn a_number_taken_by_hand_is_skipped() {
    let s = Server::demo();
    json(&s, &["user", "add", "first", "--name", "First User"]);
    // Someone adds uidNumber 10005 by hand, past the counter.
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let attrs = vec![
        ("objectClass", HashSet::from(["inetOrgPerson", "posixAccount"])),
        ("uid", HashSet::from(["byhand"])),
        ("cn", HashSet::from(["By Hand"])),
        ("sn", HashSet::from(["Hand"])),
        ("uidNumber", HashSet::from(["10005"])),
        ("gidNumber", HashSet::from(["10002"])),
        ("homeDirectory", HashSet::from(["/home/byhand"])),
    ];
    let res = root.add("uid=byhand,ou=people,dc=example,dc=org", attrs).await.expect("add");
    assert_eq!(res.rc, 0, "{res}");
    let j = json(&s, &["user", "add", "second", "--name", "Second User"]);
    assert_eq!(j["uidNumber"], 10006);
}

#[tokio::test]
async fn groups_keep_member_uid_and_member_consistent_and_nest() {
    let s = Server::demo();
    // A posix group with the next free gidNumber (after the demo's 10002).
    let j = json(&s, &["group", "add", "physics", "--member", "chenwei", "--description", "Physics"]);
    assert_eq!(j["gidNumber"], 10003);
    let physics = "cn=physics,ou=groups,dc=example,dc=org";
    assert_eq!(values(&s, physics, "memberUid").await, ["chenwei"]);
    let o = admin(&s, &["group", "add", "physics"]);
    assert_eq!(code(&o), 6, "{}", show(&o));
    // add-member / remove-member on a posix group: memberUid; twice is no error.
    let j = json(&s, &["group", "add-member", "physics", "bob", "alice"]);
    assert_eq!(j[0]["result"], "added");
    assert_eq!(sorted(values(&s, physics, "memberUid").await), ["alice", "bob", "chenwei"]);
    let j = json(&s, &["group", "add-member", "physics", "bob"]);
    assert_eq!(j[0]["result"], "already a member");
    json(&s, &["group", "remove-member", "physics", "bob"]);
    assert_eq!(sorted(values(&s, physics, "memberUid").await), ["alice", "chenwei"]);
    // A posix group holds no groups.
    let o = admin(&s, &["group", "add-member", "physics", "staff"]);
    assert_eq!(code(&o), 7, "{}", show(&o));
    // A groupOfNames: member DNs, users and nested groups; memberOf follows.
    json(&s, &["group", "add", "science", "--kind", "names", "--member", "physics"]);
    let science = "cn=science,ou=groups,dc=example,dc=org";
    json(&s, &["group", "add-member", "science", "bob"]);
    assert_eq!(
        sorted(values(&s, science, "member").await),
        sorted(vec![physics.into(), "uid=bob,ou=people,dc=example,dc=org".into()])
    );
    assert!(values(&s, physics, "memberOf").await.contains(&science.to_string()));
    let j = json(&s, &["group", "show", "science"]);
    assert_eq!(j["kind"], "names");
    let j = json(&s, &["group", "list"]);
    let names: Vec<&str> = j.as_array().expect("array").iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(names, ["it-admins", "physics", "science", "staff", "students"]);
    // it-admins (groupOfNames) gets a member DN, not a memberUid.
    json(&s, &["group", "add-member", "it-admins", "bob"]);
    assert!(values(&s, IT_ADMINS, "member").await.contains(&"uid=bob,ou=people,dc=example,dc=org".to_string()));
    assert!(values(&s, IT_ADMINS, "memberUid").await.is_empty());
    // delete: refused while it is an account's primary group.
    let o = admin(&s, &["group", "delete", "students"]);
    assert_eq!(code(&o), 7, "{}", show(&o));
    assert!(text(&o.stderr).contains("primary group of chenwei"), "{}", show(&o));
    json(&s, &["group", "delete", "physics"]);
    assert!(!exists(&s, physics).await);
    assert_eq!(values(&s, science, "member").await, ["uid=bob,ou=people,dc=example,dc=org"]);
    let o = admin(&s, &["group", "show", "physics"]);
    assert_eq!(code(&o), 3, "{}", show(&o));
}

#[tokio::test]
async fn both_kinds_at_once_under_rfc2307bis() {
    let s = Server::start_with("schema_profile = \"rfc2307bis\"\n", false);
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    for ou in ["people", "groups"] {
        let attrs = vec![("objectClass", HashSet::from(["organizationalUnit"])), ("ou", HashSet::from([ou]))];
        assert_eq!(root.add(&format!("ou={ou},dc=example,dc=org"), attrs).await.expect("add").rc, 0);
    }
    let boss = vec![
        ("objectClass", HashSet::from(["inetOrgPerson", "posixAccount"])),
        ("uid", HashSet::from(["boss"])),
        ("cn", HashSet::from(["The Boss"])),
        ("sn", HashSet::from(["Boss"])),
        ("uidNumber", HashSet::from(["500"])),
        ("gidNumber", HashSet::from(["500"])),
        ("homeDirectory", HashSet::from(["/home/boss"])),
    ];
    let boss_dn = "uid=boss,ou=people,dc=example,dc=org";
    assert_eq!(root.add(boss_dn, boss).await.expect("add").rc, 0);
    // The root DN binds here (the empty directory has no admins group yet).
    let root_run = |args: &[&str]| {
        let o = birch_as_with(&s, ROOT_DN, ROOT_PW, args, None);
        assert_eq!(code(&o), 0, "{args:?}: {}", show(&o));
    };
    root_run(&["group", "add", "lab", "--kind", "both", "--member", "boss"]);
    let lab = "cn=lab,ou=groups,dc=example,dc=org";
    assert_eq!(values(&s, lab, "gidNumber").await, ["10000"]);
    root_run(&["user", "add", "ann", "--name", "Ann Lee", "--primary-group", "lab"]);
    let ann = "uid=ann,ou=people,dc=example,dc=org";
    assert_eq!(values(&s, ann, "uidNumber").await, ["10000"]);
    assert_eq!(sorted(values(&s, lab, "memberUid").await), ["ann", "boss"]);
    assert_eq!(sorted(values(&s, lab, "member").await), [ann, boss_dn]);
    root_run(&["group", "remove-member", "lab", "boss"]);
    assert_eq!(values(&s, lab, "memberUid").await, ["ann"]);
    assert_eq!(values(&s, lab, "member").await, [ann]);
}

#[tokio::test]
async fn service_accounts_get_long_passwords_and_no_lockout_or_must_change() {
    let s = Server::demo();
    let j = json(&s, &["service", "add", "printer1", "--description", "Library printer"]);
    let dn = "cn=printer1,ou=services,dc=example,dc=org";
    assert_eq!(j["dn"], dn);
    let pw = j["password"].as_str().expect("password").to_string();
    assert_eq!(pw.len(), 32);
    assert!(values(&s, dn, "pwdReset").await.is_empty(), "no must-change for a service");
    // The service works at once: it binds and reads (no must-change restriction).
    let mut l = connect_as(&s.url(), dn, &pw).await;
    let (es, res) = search(&mut l, "ou=people,dc=example,dc=org", Scope::Subtree, "(uid=alice)", &["uidNumber"]).await;
    assert_eq!((res.rc, es.len()), (0, 1), "{res}");
    // Failed binds never lock it (the services subtree is lockout-exempt).
    for _ in 0..12 {
        assert_eq!(bind_rc(&s.url(), dn, "wrong").await, 49);
    }
    assert_eq!(bind_rc(&s.url(), dn, &pw).await, 0);
    assert_eq!(json(&s, &["service", "show", "printer1"])["description"][0], "Library printer");
    let j = json(&s, &["service", "passwd", "printer1"]);
    let pw2 = j["password"].as_str().expect("password").to_string();
    assert_eq!(bind_rc(&s.url(), dn, &pw).await, 49);
    assert_eq!(bind_rc(&s.url(), dn, &pw2).await, 0);
    assert!(values(&s, dn, "pwdReset").await.is_empty());
    let o = admin(&s, &["service", "add", "printer1"]);
    assert_eq!(code(&o), 6, "{}", show(&o));
    json(&s, &["service", "delete", "printer1"]);
    assert!(!exists(&s, dn).await);
    let o = admin(&s, &["service", "show", "printer1"]);
    assert_eq!(code(&o), 3, "{}", show(&o));
    // The demo's nslcd is found too.
    assert_eq!(json(&s, &["service", "show", "nslcd"])["dn"], NSLCD);
}

#[tokio::test]
async fn a_service_secret_is_stored_with_a_fast_salted_hash_that_binds_keep() {
    let port = common::free_port();
    let mut s = Server::start_with(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"), true);
    let j = json(&s, &["service", "add", "radius1"]);
    let dn = "cn=radius1,ou=services,dc=example,dc=org";
    let pw = j["password"].as_str().expect("password").to_string();
    for _ in 0..3 {
        assert_eq!(bind_rc(&s.url(), dn, &pw).await, 0);
    }
    let j = json(&s, &["service", "passwd", "radius1"]);
    let pw = j["password"].as_str().expect("password").to_string();
    assert_eq!(bind_rc(&s.url(), dn, &pw).await, 0);
    // No argon2id was computed for it: neither for the writes nor by rehash-on-bind.
    let metrics = common::scrape_metrics(port);
    assert!(metrics.lines().any(|l| l == "birch_password_hashes_total 0"), "{metrics}");
    s.stop();
    let out = s.birch(&["export"]);
    let exported = text(&out.stdout).replace("\n ", "");
    let record = exported.split("\n\n").find(|r| r.starts_with(&format!("dn: {dn}"))).expect("exported");
    assert!(record.contains("userPassword: {SSHA512}"), "{record}");
}

/// The demo plus a helpdesk member, hana.
async fn with_helpdesk() -> Server {
    let s = Server::demo();
    common::add_helpdesk_member(&s.url()).await;
    s
}

#[tokio::test]
async fn helpdesk_resets_passwords_and_unlocks_but_cannot_make_admins() {
    let s = with_helpdesk().await;
    let hana = |args: &[&str]| birch_as_with(&s, HANA, HANA_PW, args, None);
    // A reset: a temporary password the user must change.
    let o = hana(&["user", "passwd", "chenwei", "--json"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let j: Value = serde_json::from_slice(&o.stdout).expect("json");
    let pw = j["password"].as_str().expect("password");
    assert_eq!(j["mustChange"], true);
    assert_eq!(bind_rc(&s.url(), CHENWEI, pw).await, 0);
    assert_eq!(values(&s, CHENWEI, "pwdReset").await, ["TRUE"]);
    // An unlock of a lock an admin set.
    json(&s, &["user", "lock", "chenwei"]);
    let o = hana(&["user", "unlock", "chenwei"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(values(&s, CHENWEI, "pwdAccountLockedTime").await.is_empty());
    // Making someone an admin: refused by access control, exit 4, LDAP 50 named.
    let o = hana(&["group", "add-member", "it-admins", "hana"]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert!(text(&o.stderr).contains("LDAP 50 insufficientAccessRights"), "{}", show(&o));
    assert_eq!(values(&s, IT_ADMINS, "member").await, [ALICE]);
    // Adding an account (that could then be made an admin): refused too.
    let o = hana(&["user", "add", "mallory", "--name", "Mal Lory"]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert!(text(&o.stderr).contains("LDAP 50 insufficientAccessRights"), "{}", show(&o));
    assert!(!exists(&s, "uid=mallory,ou=people,dc=example,dc=org").await);
    // Nor may the helpdesk change other attributes.
    let o = hana(&["user", "modify", "chenwei", "--shell", "/bin/sh"]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    // Disabling with a reason and enabling are helpdesk work (the campus ACL lets it write
    // pwdAccountLockedTime and birchDisabledReason); the server records who did it.
    let o = hana(&["user", "disable", "chenwei", "--reason", "x"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(values(&s, CHENWEI, "birchDisabledBy").await, [HANA]);
    assert_eq!(values(&s, CHENWEI, "birchDisabledReason").await, ["x"]);
    let o = hana(&["user", "enable", "chenwei"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(values(&s, CHENWEI, "birchDisabledBy").await.is_empty());
    assert!(values(&s, CHENWEI, "pwdAccountLockedTime").await.is_empty());
}

#[tokio::test]
async fn only_the_root_dn_forces_a_delete() {
    let s = Server::demo();
    let o = admin(&s, &["user", "delete", "chenwei", "--force"]);
    assert_eq!(code(&o), 7, "{}", show(&o));
    assert!(exists(&s, CHENWEI).await);
    let o = birch_as_with(&s, ROOT_DN, ROOT_PW, &["user", "delete", "chenwei", "--force"], None);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(!exists(&s, CHENWEI).await);
    assert!(values(&s, STUDENTS, "memberUid").await.is_empty());
}

#[tokio::test]
async fn exit_codes_and_messages() {
    let s = Server::demo();
    // Wrong password: 5, the LDAP result named.
    let o = birch_as_with(&s, ALICE, "wrong", &["user", "show", "bob"], None);
    assert_eq!(code(&o), 5, "{}", show(&o));
    assert!(text(&o.stderr).contains("LDAP 49 invalidCredentials"), "{}", show(&o));
    // Nothing listening: 5.
    let o = Command::new(birch_bin())
        .args([
            "user",
            "show",
            "bob",
            "--url",
            &format!("ldap://127.0.0.1:{}", common::free_port()),
            "--bind-dn",
            ALICE,
        ])
        .env("BIRCH_CLI_CONFIG", client_config(&s, ""))
        .env("BIRCH_BIND_PASSWORD", "x")
        .output()
        .expect("run");
    assert_eq!(code(&o), 5, "{}", show(&o));
    // Usage error: clap's 2.
    let o = admin(&s, &["user", "add", "nobody"]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    // No identity: 1.
    let o = Command::new(birch_bin())
        .args(["user", "show", "bob"])
        .env("BIRCH_CLI_CONFIG", client_config(&s, ""))
        .env("BIRCH_BIND_PASSWORD", "x")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert!(text(&o.stderr).contains("--bind-dn"), "{}", show(&o));
    // A bad uid: 1, nothing sent.
    let o = admin(&s, &["user", "add", "Bad,Name", "--name", "X"]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    // The bind identity and password from the config and a password file.
    let pwfile = s.dir().join("pw");
    std::fs::write(&pwfile, "alice-secret\n").expect("write");
    let cfg = client_config(&s, &format!("bind_dn = \"{ALICE}\"\npassword_file = \"{}\"", pwfile.display()));
    let o = Command::new(birch_bin())
        .args(["user", "show", "bob"])
        .env("BIRCH_CLI_CONFIG", &cfg)
        .env_remove("BIRCH_BIND_PASSWORD")
        .output()
        .expect("run");
    assert_eq!(code(&o), 0, "{}", show(&o));
    // Human output: an aligned table.
    let o = Command::new(birch_bin()).args(["user", "list"]).env("BIRCH_CLI_CONFIG", &cfg).output().expect("run");
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first().map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["UID", "UIDNUMBER", "NAME", "STATUS"]),
        "{out}"
    );
    let col = lines[0].find("UIDNUMBER").expect("column");
    assert!(lines[1..].iter().all(|l| l[col..].starts_with(|c: char| c.is_ascii_digit())), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("bob ")), "{out}");
}

#[tokio::test]
async fn starttls_and_ldaps_with_a_ca_file() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.distinguished_name.push(DnType::CommonName, "Admin Test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, "birch");
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca).expect("sign");
    let (ca_file, cert_file, key_file) =
        (dir.path().join("ca.crt"), dir.path().join("s.crt"), dir.path().join("s.key"));
    std::fs::write(&ca_file, ca.pem()).expect("write");
    std::fs::write(&cert_file, cert.pem()).expect("write");
    std::fs::write(&key_file, key.serialize_pem()).expect("write");
    let ldaps = common::free_port();
    let s = Server::start_with(
        &format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nldaps_listen = \"127.0.0.1:{ldaps}\"\n",
            cert_file.display(),
            key_file.display()
        ),
        true,
    );
    let ca_arg = ca_file.to_str().expect("path");
    let ldaps_url = format!("ldaps://127.0.0.1:{ldaps}");
    for extra in [vec!["--starttls", "--ca-file", ca_arg], vec!["--url", &ldaps_url, "--ca-file", ca_arg]] {
        let mut args = vec!["user", "show", "bob", "--json"];
        args.extend(extra.iter().copied());
        let o = admin(&s, &args);
        assert_eq!(code(&o), 0, "{extra:?}: {}", show(&o));
    }
    // Without the CA the server is not trusted: a connection failure (5).
    let o = admin(&s, &["user", "show", "bob", "--url", &ldaps_url]);
    assert_eq!(code(&o), 5, "{}", show(&o));
    // Modifying works over TLS too.
    let o = admin(&s, &["user", "modify", "bob", "--shell", "/bin/sh", "--starttls", "--ca-file", ca_arg]);
    assert_eq!(code(&o), 0, "{}", show(&o));
}
