//! The semester workflows (`birch user import`, `birch user retire`, docs/admin.md) against
//! the real server: a CSV intake of 2,000 students (all created, distinct uidNumbers, groups,
//! a password file of mode 0600 whose temporary passwords bind and must be changed, a second
//! run creates nothing), duplicate and malformed rows, two imports while `user add` runs, the
//! retirement of a class (then its purge), and a helpdesk operator who may not import.
mod common;

use common::demo::{ALICE, CHENWEI, HANA, HANA_PW, PEOPLE, STUDENTS};
use common::{bind_rc, birch_bin, connect_as, search, Server, ROOT_DN, ROOT_PW};
use ldap3::exop::PasswordModify;
use ldap3::Scope;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `birch ARGS` as `dn`, with the client config of `s` (primary group students).
fn birch_as(s: &Server, dn: &str, pw: &str, args: &[&str]) -> Output {
    let cfg = s.dir().join("cli.toml");
    if !cfg.exists() {
        let text = format!("url = \"{}\"\n[accounts]\nprimary_group = \"students\"\n", s.url());
        std::fs::write(&cfg, text).expect("write cli.toml");
    }
    Command::new(birch_bin())
        .args(args)
        .arg("--bind-dn")
        .arg(dn)
        .env("BIRCH_CLI_CONFIG", &cfg)
        .env("BIRCH_BIND_PASSWORD", pw)
        .env("BIRCH_PROGRESS_SECS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run birch")
}

fn admin(s: &Server, args: &[&str]) -> Output {
    birch_as(s, ALICE, "alice-secret", args)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn show(o: &Output) -> String {
    let cut = |b: &[u8]| {
        let t = String::from_utf8_lossy(b).into_owned();
        if t.len() > 4000 {
            format!("{}...", &t[..4000])
        } else {
            t
        }
    };
    format!("exit {:?}\nstdout: {}\nstderr: {}", o.status.code(), cut(&o.stdout), cut(&o.stderr))
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(o)))
}

/// Runs a command as alice that must succeed.
fn ok(s: &Server, args: &[&str]) -> Output {
    let o = admin(s, args);
    assert_eq!(code(&o), 0, "{args:?}: {}", show(&o));
    o
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A CSV of `n` students `s0NNNNNN` from `from`: names, mail, groups cs-2027 (all) and
/// lab (every tenth).
fn students_csv(dir: &Path, file: &str, from: usize, n: usize) -> PathBuf {
    let mut t = String::from("Login,First Name,Surname,E-Mail,Groups,Student Number\n");
    for i in from..from + n {
        let groups = if i % 10 == 0 { "cs-2027;lab" } else { "cs-2027" };
        t.push_str(&format!("s{i:07},Stu{i},Dent,s{i:07}@students.example.org,\"{groups}\",{}\n", 2_000_000 + i));
    }
    let p = dir.join(file);
    std::fs::write(&p, t).expect("write csv");
    p
}

/// The values of `attr` of `dn`, read as the root DN.
async fn values(s: &Server, dn: &str, attr: &str) -> Vec<String> {
    common::root_values(&s.url(), dn, attr).await
}

/// uid -> uidNumber of every posixAccount, read as the root DN.
async fn uid_numbers(s: &Server) -> Vec<(String, String)> {
    let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
    let (es, res) =
        search(&mut root, "dc=example,dc=org", Scope::Subtree, "(objectClass=posixAccount)", &["uid", "uidNumber"])
            .await;
    assert_eq!(res.rc, 0, "{res}");
    es.into_iter()
        .map(|e| {
            let one = |a: &str| e.attrs.get(a).and_then(|v| v.first()).cloned().unwrap_or_default();
            (one("uid"), one("uidNumber"))
        })
        .collect()
}

fn assert_distinct(nums: &[(String, String)]) {
    let mut seen = HashSet::new();
    for (u, n) in nums {
        assert!(!n.is_empty(), "{u} has no uidNumber");
        assert!(seen.insert(n.clone()), "uidNumber {n} twice (again at {u})");
    }
}

/// The demo plus the groups cs-2027 (posix) and lab (groupOfNames, first member alice).
fn with_groups() -> Server {
    let s = Server::demo();
    ok(&s, &["group", "add", "cs-2027"]);
    ok(&s, &["group", "add", "lab", "--kind", "names", "--member", "alice"]);
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn an_intake_of_2000_students_from_csv() {
    let s = with_groups();
    let csv = students_csv(s.dir(), "students.csv", 1, 2000);
    let pw_file = s.dir().join("passwords.csv");
    let started = Instant::now();
    let o = ok(&s, &["user", "import", path_str(&csv), "--passwords", path_str(&pw_file), "--json"]);
    let took = started.elapsed();
    eprintln!("imported 2,000 students in {took:?}");
    let j = json_of(&o);
    assert_eq!(j["created"].as_array().map(Vec::len), Some(2000), "{}", show(&o));
    assert_eq!(j["failed"], serde_json::json!([]));
    assert_eq!(j["passwords"], 2000);
    // The passwords are in the file only, never on standard output.
    let pw_text = std::fs::read_to_string(&pw_file).expect("password file");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pw_file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "password file mode {mode:o}");
    }
    let lines: Vec<(&str, &str)> = pw_text.lines().map(|l| l.split_once(',').expect("uid,password")).collect();
    assert_eq!(lines.len(), 2000);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains(lines[0].1), "a password on standard output");
    // Every account, with a uidNumber no other account has.
    let nums = uid_numbers(&s).await;
    assert_eq!(nums.iter().filter(|(u, _)| u.starts_with('s')).count(), 2000);
    assert_distinct(&nums);
    let one = "uid=s0000042,ou=people,dc=example,dc=org";
    assert_eq!(values(&s, one, "cn").await, ["Stu42 Dent"]);
    assert_eq!(values(&s, one, "mail").await, ["s0000042@students.example.org"]);
    assert_eq!(values(&s, one, "employeeNumber").await, ["2000042"]);
    assert_eq!(values(&s, one, "gidNumber").await, values(&s, STUDENTS, "gidNumber").await);
    // Groups: the primary group and cs-2027 (memberUid), lab (member DNs) for every tenth.
    assert_eq!(values(&s, STUDENTS, "memberUid").await.len(), 2001, "chenwei and the intake");
    assert_eq!(values(&s, "cn=cs-2027,ou=groups,dc=example,dc=org", "memberUid").await.len(), 2000);
    let lab = values(&s, "cn=lab,ou=groups,dc=example,dc=org", "member").await;
    assert_eq!(lab.len(), 201, "alice and 200 students");
    assert!(lab.iter().any(|d| d.eq_ignore_ascii_case("uid=s0000010,ou=people,dc=example,dc=org")));
    // A sample of the temporary passwords binds, and must be changed first.
    for (uid, pw) in lines.iter().step_by(397) {
        let dn = format!("uid={uid},{PEOPLE}");
        assert_eq!(values(&s, &dn, "pwdReset").await, ["TRUE"], "{uid}");
        let mut l = connect_as(&s.url(), &dn, pw).await;
        let (_, res) = search(&mut l, &dn, Scope::Base, "(objectClass=*)", &["cn"]).await;
        assert_eq!(res.rc, 50, "{uid}: only the change is allowed: {res}");
        let change = PasswordModify { user_id: None, old_pass: Some(pw), new_pass: Some("my-own-password-1") };
        assert_eq!(l.extended(change).await.expect("passwd").1.rc, 0);
    }
    // The second run creates nothing, resets no password and writes no password file.
    let pw2 = s.dir().join("passwords-2.csv");
    let o = ok(&s, &["user", "import", path_str(&csv), "--passwords", path_str(&pw2), "--json"]);
    let j = json_of(&o);
    assert_eq!(j["created"], serde_json::json!([]), "{}", show(&o));
    assert_eq!(j["existed"].as_array().map(Vec::len), Some(2000));
    assert!(!pw2.exists(), "no new account, no password file");
    let (uid, _) = lines[0];
    assert_eq!(bind_rc(&s.url(), &format!("uid={uid},{PEOPLE}"), "my-own-password-1").await, 0, "not reset");
    assert_eq!(uid_numbers(&s).await.len(), nums.len());
    // The same password file again: refused without --force (the first run's passwords).
    let o = admin(
        &s,
        &["user", "import", path_str(&students_csv(s.dir(), "more.csv", 5000, 1)), "--passwords", path_str(&pw_file)],
    );
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists"), "{}", show(&o));
    assert_eq!(std::fs::read_to_string(&pw_file).expect("file"), pw_text);
    assert!(took < Duration::from_secs(60), "the intake took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_malformed_and_existing_rows_are_reported() {
    let s = with_groups();
    let csv = s.dir().join("mixed.csv");
    std::fs::write(
        &csv,
        "uid,cn,groups\n\
         ann,Ann Arbor,cs-2027\n\
         twin,Twin One,\n\
         Bad Name,Bad Name,\n\
         twin,Twin Two,\n\
         chenwei,陈伟,lab\n\
         bob,Robert Other,lab\n\
         short\n\
         ben,Ben Bow,cs-2027;lab\n",
    )
    .expect("csv");
    let pw = s.dir().join("pw.csv");
    let o = admin(&s, &["user", "import", path_str(&csv), "--passwords", path_str(&pw), "--json"]);
    assert_eq!(code(&o), 1, "rows failed: {}", show(&o));
    let j = json_of(&o);
    let mut created: Vec<&str> = j["created"].as_array().expect("created").iter().filter_map(Value::as_str).collect();
    created.sort();
    assert_eq!(created, ["ann", "ben"]);
    // Existing accounts are left alone; the same person (same cn) joins the row's groups,
    // another person with that uid is reported and not touched.
    let existed = j["existed"].as_array().expect("existed");
    assert_eq!(existed.len(), 2, "{j}");
    assert_eq!(existed[0], serde_json::json!({"uid": "chenwei", "note": "exists"}));
    assert_eq!(existed[1]["uid"], "bob");
    assert!(existed[1]["note"].as_str().unwrap_or("").contains("another person?"), "{j}");
    let lab = values(&s, "cn=lab,ou=groups,dc=example,dc=org", "member").await;
    assert!(lab.iter().any(|d| d.eq_ignore_ascii_case(CHENWEI)), "{lab:?}");
    assert!(!lab.iter().any(|d| d.starts_with("uid=bob,")), "{lab:?}");
    let failed: Vec<(String, String, String)> = j["failed"]
        .as_array()
        .expect("failed")
        .iter()
        .map(|f| {
            (
                f["at"].as_str().unwrap_or("").to_string(),
                f["uid"].as_str().unwrap_or("").to_string(),
                f["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let name = path_str(&csv);
    let find = |at: &str| {
        failed
            .iter()
            .find(|f| f.0 == format!("{name}:{at}"))
            .cloned()
            .unwrap_or_else(|| panic!("line {at} not reported: {failed:?}"))
    };
    assert_eq!(find("4").1, "Bad Name", "the row is named by its uid as written");
    assert!(find("4").2.starts_with("column 1 \"uid\": uid \"Bad Name\""), "{failed:?}");
    assert!(find("8").2.contains("1 fields, the header has 3"), "{failed:?}");
    for line in ["3", "5"] {
        let f = find(line);
        assert_eq!(f.1, "twin");
        assert!(f.2.contains("more than once (lines 3, 5)"), "{failed:?}");
    }
    assert_eq!(failed.len(), 4, "{failed:?}");
    assert_eq!(std::fs::read_to_string(&pw).expect("pw").lines().count(), 2);
    assert!(values(&s, "cn=lab,ou=groups,dc=example,dc=org", "member").await.iter().any(|d| d.starts_with("uid=ben,")));
    assert!(!values(&s, STUDENTS, "memberUid").await.contains(&"twin".to_string()));
    // A group that does not exist: nothing is imported at all (exit 3).
    std::fs::write(&csv, "uid,cn,groups\ncarl,Carl Cox,nosuch\n").expect("csv");
    let o = admin(&s, &["user", "import", path_str(&csv), "--passwords", path_str(&s.dir().join("pw3"))]);
    assert_eq!(code(&o), 3, "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("{name}:2: group nosuch does not exist")),
        "{}",
        show(&o)
    );
    // An unknown column names the accepted ones and --map; with --map it is imported.
    std::fs::write(&csv, "uid,cn,Matrikel\ncarl,Carl Cox,123\n").expect("csv");
    let o = admin(&s, &["user", "import", path_str(&csv), "--passwords", path_str(&s.dir().join("pw4"))]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--map"), "{}", show(&o));
    ok(
        &s,
        &[
            "user",
            "import",
            path_str(&csv),
            "--passwords",
            path_str(&s.dir().join("pw5")),
            "--map",
            "Matrikel=employeeNumber",
        ],
    );
    assert_eq!(values(&s, "uid=carl,ou=people,dc=example,dc=org", "employeeNumber").await, ["123"]);
    // A field past the cap is a row error, not a memory problem.
    std::fs::write(&csv, format!("uid,cn\ndan,{}\n", "x".repeat(5000))).expect("csv");
    let o = admin(&s, &["user", "import", path_str(&csv), "--passwords", path_str(&s.dir().join("pw6")), "--json"]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert!(
        json_of(&o)["failed"][0]["reason"].as_str().unwrap_or("").contains("column 2 \"cn\": longer than 1024 bytes"),
        "{}",
        show(&o)
    );
    // A runaway record (an unclosed quote in a large file): the file is refused before
    // anything changes, without reading it whole.
    let big = format!("uid,cn\neve,Eve Ng\nfay,\"unclosed\n{}", "y".repeat(99).repeat(20_000));
    std::fs::write(&csv, big).expect("csv");
    let o = admin(&s, &["user", "import", path_str(&csv), "--passwords", path_str(&s.dir().join("pw7"))]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("after line 2: a record longer than 64 KiB"), "{}", show(&o));
    assert!(!uid_numbers(&s).await.iter().any(|(u, _)| u == "eve"), "nothing created");
    assert!(!s.dir().join("pw7").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_and_user_adds_at_once_never_share_a_uid_number() {
    let s = with_groups();
    let csv = students_csv(s.dir(), "students.csv", 1, 300);
    let csv2 = students_csv(s.dir(), "more.csv", 1001, 100);
    let (pw, pw2) = (s.dir().join("pw.csv"), s.dir().join("pw2.csv"));
    std::thread::scope(|sc| {
        let import = sc.spawn(|| {
            admin(&s, &["user", "import", path_str(&csv), "--passwords", path_str(&pw), "--connections", "2"])
        });
        let import2 = sc.spawn(|| admin(&s, &["user", "import", path_str(&csv2), "--passwords", path_str(&pw2)]));
        let adds = sc.spawn(|| {
            (0..8)
                .map(|i| admin(&s, &["user", "add", &format!("walkin{i}"), "--name", &format!("Walk In{i}")]))
                .collect::<Vec<_>>()
        });
        for o in [import.join().expect("import"), import2.join().expect("import")] {
            assert_eq!(code(&o), 0, "{}", show(&o));
        }
        for o in adds.join().expect("adds") {
            assert_eq!(code(&o), 0, "{}", show(&o));
        }
    });
    let nums = uid_numbers(&s).await;
    assert_eq!(nums.len(), 3 + 300 + 100 + 8, "{nums:?}");
    assert_distinct(&nums);
}

#[tokio::test(flavor = "multi_thread")]
async fn retire_disables_a_class_once() {
    let s = with_groups();
    let csv = students_csv(s.dir(), "students.csv", 1, 60);
    ok(&s, &["user", "import", path_str(&csv), "--passwords", path_str(&s.dir().join("pw.csv"))]);
    let mut grads = String::from("uid,note\n");
    for i in 1..=50 {
        grads.push_str(&format!("s{i:07},done\n"));
    }
    grads.push_str("nobody,?\n");
    let gf = s.dir().join("graduates.csv");
    std::fs::write(&gf, grads).expect("csv");
    let o = admin(&s, &["user", "retire", "--from", path_str(&gf), "--reason", "graduated 2027", "--json"]);
    assert_eq!(code(&o), 3, "an unknown uid: {}", show(&o));
    let j = json_of(&o);
    assert_eq!(j["disabled"].as_array().map(Vec::len), Some(50), "{}", show(&o));
    assert_eq!(j["unknown"][0], format!("{}:52: nobody", path_str(&gf)));
    for i in [1, 25, 50] {
        let dn = format!("uid=s{i:07},{PEOPLE}");
        assert_eq!(values(&s, &dn, "pwdAccountLockedTime").await, ["000001010000Z"]);
        assert_eq!(values(&s, &dn, "birchDisabledReason").await, ["graduated 2027"]);
        assert_eq!(values(&s, &dn, "birchDisabledBy").await, [ALICE]);
        // Memberships stay until the account is purged.
        assert!(values(&s, STUDENTS, "memberUid").await.contains(&format!("s{i:07}")));
    }
    let active = format!("uid=s{:07},{PEOPLE}", 51);
    assert!(values(&s, &active, "pwdAccountLockedTime").await.is_empty());
    let shown: Value = serde_json::from_slice(&ok(&s, &["user", "show", "s0000007", "--json"]).stdout).expect("json");
    assert_eq!(shown["status"][0], "disabled");
    // The second run changes nothing (the first reason and time stay).
    let time = values(&s, &format!("uid=s0000001,{PEOPLE}"), "birchDisabledTime").await;
    let o = admin(&s, &["user", "retire", "--from", path_str(&gf), "--reason", "again", "--json"]);
    let j = json_of(&o);
    assert_eq!(j["disabled"], serde_json::json!([]), "{}", show(&o));
    assert_eq!(j["alreadyDisabled"].as_array().map(Vec::len), Some(50));
    assert_eq!(values(&s, &format!("uid=s0000001,{PEOPLE}"), "birchDisabledReason").await, ["graduated 2027"]);
    assert_eq!(values(&s, &format!("uid=s0000001,{PEOPLE}"), "birchDisabledTime").await, time);
    // The second step, after the grace period (here none): the purge deletes the retired
    // accounts and their memberships, and leaves the rest of the class.
    let o = ok(&s, &["account", "purge", "--older-than", "0s", "--json"]);
    let purged = json_of(&o);
    assert_eq!(purged.as_array().map(Vec::len), Some(50), "{}", show(&o));
    let left: Vec<String> = uid_numbers(&s).await.into_iter().map(|(u, _)| u).filter(|u| u.starts_with('s')).collect();
    assert_eq!(left.len(), 10, "{left:?}");
    let students = values(&s, STUDENTS, "memberUid").await;
    assert!(!students.contains(&"s0000001".to_string()) && students.contains(&"s0000051".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_helpdesk_cannot_import() {
    let s = with_groups();
    common::add_helpdesk_member(&s.url()).await;
    let csv = students_csv(s.dir(), "students.csv", 1, 5);
    let pw = s.dir().join("pw.csv");
    let o = birch_as(&s, HANA, HANA_PW, &["user", "import", path_str(&csv), "--passwords", path_str(&pw)]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("LDAP 50 insufficientAccessRights"), "{}", show(&o));
    assert_eq!(uid_numbers(&s).await.len(), 4, "nothing created");
    assert!(!pw.exists(), "no password file left behind");
    assert!(values(&s, CHENWEI, "pwdAccountLockedTime").await.is_empty());
}
