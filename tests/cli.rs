//! Black-box tests of the `birch` command line: offline import/export/check, config
//! errors, the generated root password.
mod common;

use common::{bounded, connect_as, search, search_dns, Server, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::Scope;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);
const CMD: Duration = Duration::from_secs(60);
const PEOPLE: &str = "ou=people,dc=example,dc=org";

/// userPassword values made by OpenLDAP's slappasswd (copied from the shared hash vectors).
const SSHA_SECRET: &str = "{SSHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr"; // "secret"
const SSHA_USER1: &str = "{SSHA}yEBK6f7xkTTMBXLqm+4E9pEcvIBdt8MT"; // "pw-user00001"
const SSHA_UNICODE: &str = "{SSHA}fBRnMz8rPA9EmIyB/Vg2pFa42CqWsvwj"; // "Ünïcødé-密码-1"

fn user_dn(i: usize) -> String {
    format!("uid=user{i:05},ou=people,dc=example,dc=org")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `birch export` to standard output; must succeed.
fn export(s: &Server) -> Vec<u8> {
    let out = s.birch_bounded(&["export"], CMD);
    assert!(out.status.success(), "export: {}", text(&out.stderr));
    out.stdout
}

fn import(s: &Server, file: &Path) -> std::process::Output {
    import_with(s, &[], file)
}

/// `birch import` with extra flags before the file.
fn import_with(s: &Server, flags: &[&str], file: &Path) -> std::process::Output {
    let mut args = vec!["import"];
    args.extend_from_slice(flags);
    args.push(file.to_str().expect("utf-8 path"));
    s.birch_bounded(&args, CMD)
}

fn write_file(s: &Server, name: &str, content: &[u8]) -> std::path::PathBuf {
    let p = s.dir().join(name);
    std::fs::write(&p, content).expect("write file");
    p
}

// ---------------------------------------------------------------------------------------
// import
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn import_a_generated_ldif_then_serve_it() {
    let mut s = Server::offline("");
    let ldif = common::users_ldif(1000, |i| match i {
        1 => SSHA_USER1.to_string(),
        2 => SSHA_UNICODE.to_string(),
        _ => SSHA_SECRET.to_string(),
    });
    let file = write_file(&s, "campus.ldif", ldif.as_bytes());
    let out = import(&s, &file);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("imported 1002 entries"), "{}", text(&out.stderr));
    let check = s.birch_bounded(&["check"], CMD);
    assert!(check.status.success(), "{check:?}");
    assert!(text(&check.stdout).starts_with("ok: 1002 entries"), "{}", text(&check.stdout));
    // Pre-hashed values are kept as they are.
    let exported = text(&export(&s));
    assert!(exported.contains(&format!("dn: {}\n", user_dn(500))));
    assert!(exported.contains(&format!("userPassword: {SSHA_USER1}\n")), "hash rewritten on import");
    s.start_existing();
    let url = s.url();
    bounded(LIMIT, async {
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let (es, res) = search(&mut root, PEOPLE, Scope::OneLevel, "(objectClass=*)", &["1.1"]).await;
        assert_eq!((res.rc, es.len()), (0, 1000));
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(uid=user00777)").await, vec![user_dn(777)]);
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(uidNumber=21000)").await, vec![user_dn(1000)]);
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(cn=User 99*)").await.len(), 11);
        assert_eq!(search_dns(&mut root, PEOPLE, Scope::OneLevel, "(sn=Imported)").await.len(), 1000);
        // The default size limit (500) applies to users' searches.
        let mut user = connect_as(&url, &user_dn(1), "pw-user00001").await;
        let (es, res) = search(&mut user, PEOPLE, Scope::OneLevel, "(objectClass=*)", &["1.1"]).await;
        assert_eq!((res.rc, es.len()), (4, 500));
        // {SSHA} hashes from slappasswd verify.
        assert_eq!(common::bind_rc(&url, &user_dn(1), "pw-user00001").await, 0);
        assert_eq!(common::bind_rc(&url, &user_dn(2), "Ünïcødé-密码-1").await, 0);
        assert_eq!(common::bind_rc(&url, &user_dn(500), "secret").await, 0);
        assert_eq!(common::bind_rc(&url, &user_dn(1000), "secret").await, 0);
        assert_eq!(common::bind_rc(&url, &user_dn(1), "secret").await, 49);
        assert_eq!(common::bind_rc(&url, &user_dn(500), "Secret").await, 49);
    })
    .await;
}

/// The equality lists an import packs (one-id cn and uidNumber values) are changed online
/// over LDAP: a value replaced, one shared by more entries than a pack holds per value (it
/// moves to chunks), one removed again; searches see every change, and `birch check` finds
/// the packs and chunks in agreement with the entries.
#[tokio::test(flavor = "multi_thread")]
async fn imported_equality_lists_change_online() {
    use ldap3::Mod;
    let mut s = Server::offline("");
    let file = write_file(&s, "campus.ldif", common::users_ldif(300, |_| SSHA_SECRET.to_string()).as_bytes());
    let out = import(&s, &file);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    s.start_existing();
    let url = s.url();
    bounded(LIMIT, async {
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let set = |v: &str| HashSet::from([v.to_string()]);
        let rc = root.modify(&user_dn(150), vec![Mod::Replace("cn".to_string(), set("Renamed Person"))]).await;
        assert_eq!(rc.expect("modify").rc, 0);
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(cn=User 150)").await, Vec::<String>::new());
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(cn=Renamed Person)").await, vec![user_dn(150)]);
        // Twelve entries share one cn: more ids than a packed list holds.
        for i in 1..=12 {
            let rc = root.modify(&user_dn(i * 20), vec![Mod::Replace("cn".to_string(), set("Shared Name"))]).await;
            assert_eq!(rc.expect("modify").rc, 0);
        }
        let mut want: Vec<String> = (1..=12).map(|i| user_dn(i * 20)).collect();
        want.sort();
        let mut got = search_dns(&mut root, SUFFIX, Scope::Subtree, "(cn=Shared Name)").await;
        got.sort();
        assert_eq!(got, want);
        assert_eq!(root.delete(&user_dn(40)).await.expect("delete").rc, 0);
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(cn=Shared Name)").await.len(), 11);
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(uidNumber=20040)").await, Vec::<String>::new());
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(uidNumber=20041)").await, vec![user_dn(41)]);
    })
    .await;
    s.stop();
    let check = s.birch_bounded(&["check"], CMD);
    assert!(check.status.success(), "{}{}", text(&check.stdout), text(&check.stderr));
    assert!(text(&check.stdout).starts_with("ok: 301 entries"), "{}", text(&check.stdout));
}

/// Cleartext userPassword values are stored as argon2id hashes by both second passes: the
/// one that takes the entries the schema check kept and the one that reads the file again
/// (`--no-schema-check`); hashed values are kept as they are.
#[test]
fn import_hashes_cleartext_passwords() {
    for flags in [&[][..], &["--no-schema-check"][..]] {
        let s = Server::offline("");
        let ldif = common::users_ldif(3, |i| match i {
            2 => SSHA_SECRET.to_string(),
            _ => format!("clear-{i}"),
        });
        let file = write_file(&s, "clear.ldif", ldif.as_bytes());
        let out = import_with(&s, flags, &file);
        assert!(out.status.success(), "import {flags:?}: {}", text(&out.stderr));
        let exported = text(&export(&s));
        assert_eq!(exported.matches("userPassword: {ARGON2}$argon2id$").count(), 2, "{flags:?}: {exported}");
        assert!(exported.contains(&format!("userPassword: {SSHA_SECRET}\n")), "{flags:?}: {exported}");
        assert!(!exported.contains("clear-"), "{flags:?}: cleartext kept: {exported}");
    }
}

/// memberOf comes from the groups, wherever they are in the file (here after their members,
/// a member DN written in another case and spacing), and replaces what the file says, in
/// both second passes; the index agrees with the entries.
#[test]
fn import_sets_member_of_from_the_groups() {
    for flags in [&[][..], &["--no-schema-check"][..]] {
        let s = Server::offline("");
        let mut ldif = common::users_ldif(3, |i| format!("pw-{i}"))
            .replace("uid: user00001\n", "uid: user00001\nmemberOf: cn=stale,dc=example,dc=org\n");
        ldif.push_str(
            "dn: cn=staff,dc=example,dc=org\nobjectClass: groupOfNames\ncn: staff\n\
             member: uid=user00001,ou=people,dc=example,dc=org\nmember: UID=User00002, ou=People,dc=example,dc=org\n\n",
        );
        let file = write_file(&s, "groups.ldif", ldif.as_bytes());
        let out = import_with(&s, flags, &file);
        assert!(out.status.success(), "import {flags:?}: {}", text(&out.stderr));
        let exported = text(&export(&s));
        let entry = |uid: &str| -> String {
            let start = format!("dn: uid={uid},");
            exported
                .split("\n\n")
                .find(|e| e.starts_with(&start))
                .unwrap_or_else(|| panic!("{uid}: {exported}"))
                .to_string()
        };
        for uid in ["user00001", "user00002"] {
            let e = entry(uid);
            assert_eq!(e.matches("memberOf: ").count(), 1, "{flags:?} {uid}: {e}");
            assert!(e.contains("memberOf: cn=staff,dc=example,dc=org\n"), "{flags:?} {uid}: {e}");
        }
        assert!(!entry("user00003").contains("memberOf"), "{flags:?}: {exported}");
        let check = s.birch_bounded(&["check"], CMD);
        assert!(check.status.success(), "check {flags:?}: {}{}", text(&check.stdout), text(&check.stderr));
    }
}

/// A base store (suffix and ou=people) into which bad files are imported.
fn base_store() -> (Server, Vec<u8>) {
    let s = Server::offline("");
    let file = write_file(&s, "base.ldif", common::users_ldif(0, |_| String::new()).as_bytes());
    let out = import(&s, &file);
    assert!(out.status.success(), "base import: {}", text(&out.stderr));
    let before = export(&s);
    (s, before)
}

const OK1: &str = "dn: uid=ok1,ou=people,dc=example,dc=org\nobjectClass: account\nuid: ok1\n\n";

#[test]
fn import_errors_name_file_and_line_and_write_nothing() {
    let (s, before) = base_store();
    let cases: &[(&str, String, usize)] = &[
        (
            "missing parent",
            format!(
                "version: 1\n\n{OK1}dn: uid=ok2,ou=people,dc=example,dc=org\nobjectClass: account\nuid: ok2\n\n# parent missing\ndn: uid=orphan,ou=nowhere,dc=example,dc=org\nobjectClass: account\nuid: orphan\n\ndn: uid=ok3,ou=people,dc=example,dc=org\nobjectClass: account\nuid: ok3\n"
            ),
            12,
        ),
        (
            "bad base64",
            format!("version: 1\n\n{OK1}dn: uid=ok2,ou=people,dc=example,dc=org\nobjectClass: account\ndescription:: !!!not base64!!!\nuid: ok2\n"),
            9,
        ),
        (
            "no colon",
            format!("version: 1\n\n{OK1}dn: uid=ok2,ou=people,dc=example,dc=org\nthis line has no colon\nuid: ok2\n"),
            8,
        ),
        (
            "entry exists in the store",
            format!("version: 1\n\n{OK1}dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n"),
            7,
        ),
        ("duplicate in the file", format!("version: 1\n\n{OK1}{}", OK1.replace("uid: ok1", "uid: again")), 7),
        (
            "outside the suffix",
            format!("version: 1\n\n{OK1}dn: ou=x,dc=other,dc=com\nobjectClass: organizationalUnit\nou: x\n"),
            7,
        ),
        (
            "child before its parent",
            "dn: uid=a,ou=later,dc=example,dc=org\nobjectClass: account\nuid: a\n\ndn: ou=later,dc=example,dc=org\nobjectClass: organizationalUnit\nou: later\n".to_string(),
            1,
        ),
        ("invalid dn", format!("version: 1\n\n{OK1}dn: this is not a dn\nobjectClass: account\n"), 7),
    ];
    for (what, content, line) in cases {
        let file = write_file(&s, "bad.ldif", content.as_bytes());
        let out = import(&s, &file);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{what}: import succeeded\n{stderr}");
        let want = format!("{}:{line}:", file.display());
        assert!(stderr.contains(&want), "{what}: expected {want:?} in stderr:\n{stderr}");
        assert_eq!(text(&export(&s)), text(&before), "{what}: the failed import wrote something");
    }
    // The store is not left marked as an interrupted import: a good file still goes in.
    let file = write_file(&s, "good.ldif", OK1.as_bytes());
    let out = import(&s, &file);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&export(&s)).contains("dn: uid=ok1,ou=people,dc=example,dc=org\n"));
}

#[test]
fn failed_import_into_a_fresh_directory_writes_nothing() {
    let s = Server::offline("");
    let mut ldif = common::users_ldif(20, |_| SSHA_SECRET.to_string());
    // users_ldif ends with a blank line; then a blank line, the dn, the broken line.
    let line = ldif.lines().count() + 3;
    ldif.push_str("\ndn: uid=bad,ou=people,dc=example,dc=org\nbroken line\n");
    let file = write_file(&s, "fresh.ldif", ldif.as_bytes());
    let out = import(&s, &file);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{}:{line}:", file.display())), "want line {line}:\n{stderr}");
    let exported = text(&export(&s));
    assert!(!exported.contains("dn:"), "entries written by a failed import:\n{exported}");
}

// ---------------------------------------------------------------------------------------
// export
// ---------------------------------------------------------------------------------------

type Attrs = Vec<(Vec<u8>, HashSet<Vec<u8>>)>;

fn attrs(pairs: &[(&str, &[&[u8]])]) -> Attrs {
    pairs.iter().map(|(n, vs)| (n.as_bytes().to_vec(), vs.iter().map(|v| v.to_vec()).collect())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn export_import_export_is_byte_identical() {
    let mut s = Server::demo();
    let url = s.url();
    let long = "x".repeat(150) + " end";
    let photo: &[u8] = &[0x00, 0x01, 0xff, 0xfe, b'\n', b'\r', b' '];
    bounded(LIMIT, async {
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let e = attrs(&[
            ("objectClass", &[b"person"]),
            ("cn", &[b"Smith, John"]),
            ("sn", &[b"Smith"]),
            ("description", &[b" leading space", b"line1\nline2", b":colon first", b"<angle", long.as_bytes()]),
        ]);
        assert_eq!(root.add("cn=Smith\\, John,ou=people,dc=example,dc=org", e).await.expect("add").rc, 0);
        let e = attrs(&[
            ("objectClass", &[b"inetOrgPerson"]),
            ("uid", &[b"zoe"]),
            ("cn", &["Zoë Ångström".as_bytes(), "佐伊".as_bytes()]),
            ("sn", &["Ångström".as_bytes()]),
            ("jpegPhoto", &[photo]),
            ("userPassword", &[b"zoe-secret"]),
        ]);
        assert_eq!(root.add("uid=zoe,ou=people,dc=example,dc=org", e).await.expect("add").rc, 0);
    })
    .await;
    s.stop();
    let first = export(&s);
    let first_text = text(&first);
    assert!(first_text.starts_with("version: 1\n"), "{first_text}");
    assert!(first_text.contains("\ndn: dc=example,dc=org\n"), "{first_text}");
    assert!(first_text.lines().all(|l| l.len() <= 76), "unfolded lines:\n{first_text}");
    // Parents come before children.
    let dns: Vec<&str> = first_text.lines().filter_map(|l| l.strip_prefix("dn: ")).collect();
    let pos = |d: &str| dns.iter().position(|x| *x == d).unwrap_or_else(|| panic!("{d} not exported: {dns:?}"));
    assert!(pos(SUFFIX) < pos(PEOPLE) && pos(PEOPLE) < pos("uid=alice,ou=people,dc=example,dc=org"));

    let mut copy = Server::offline("");
    let file = write_file(&copy, "first.ldif", &first);
    let out = import(&copy, &file);
    assert!(out.status.success(), "re-import: {}", text(&out.stderr));
    let second_path = copy.dir().join("second.ldif");
    let out = copy.birch_bounded(&["export", "-o", second_path.to_str().unwrap()], CMD);
    assert!(out.status.success(), "export -o: {}", text(&out.stderr));
    let second = std::fs::read(&second_path).expect("read export");
    assert!(
        first == second,
        "export → import → export differs:\n--- first\n{first_text}\n--- second\n{}",
        text(&second)
    );

    // The copy serves the same data.
    copy.start_existing();
    let url = copy.url();
    bounded(LIMIT, async {
        let mut l = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let (es, res) =
            search(&mut l, "cn=Smith\\, John,ou=people,dc=example,dc=org", Scope::Base, "(objectClass=*)", &[]).await;
        assert_eq!((res.rc, es.len()), (0, 1));
        let mut desc = es[0].attrs.get("description").cloned().unwrap_or_default();
        desc.sort();
        let mut want = vec![
            " leading space".to_string(),
            "line1\nline2".into(),
            ":colon first".into(),
            "<angle".into(),
            long.clone(),
        ];
        want.sort();
        assert_eq!(desc, want);
        let (es, _) = search(&mut l, SUFFIX, Scope::Subtree, "(uid=zoe)", &["jpegPhoto", "cn"]).await;
        assert_eq!(es.len(), 1);
        assert_eq!(es[0].bin_attrs.get("jpegPhoto"), Some(&vec![photo.to_vec()]));
        assert_eq!(
            search_dns(&mut l, SUFFIX, Scope::Subtree, "(cn=佐伊)").await,
            vec!["uid=zoe,ou=people,dc=example,dc=org"]
        );
        assert_eq!(common::bind_rc(&url, "uid=zoe,ou=people,dc=example,dc=org", "zoe-secret").await, 0);
        assert_eq!(common::bind_rc(&url, "uid=alice,ou=people,dc=example,dc=org", "alice-secret").await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_commands_refuse_a_running_store() {
    let mut s = Server::demo();
    let out = s.birch_bounded(&["export"], CMD);
    assert!(!out.status.success(), "export while serving succeeded");
    let err = text(&out.stderr);
    assert!(err.contains("a server is running on") && err.contains("birch backup"), "{err}");
    let file = write_file(&s, "x.ldif", OK1.as_bytes());
    let out = import(&s, &file);
    assert!(!out.status.success(), "import while serving succeeded");
    bounded(LIMIT, async {
        let mut l = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=ok1)").await.is_empty());
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=alice)").await.len(), 1);
    })
    .await;
    s.stop();
    assert!(text(&export(&s)).contains("dn: uid=alice,ou=people,dc=example,dc=org\n"));
}

// ---------------------------------------------------------------------------------------
// serve: configuration and the root password
// ---------------------------------------------------------------------------------------

#[test]
fn broken_config_names_file_and_line() {
    let s = Server::offline("");
    let data = s.data_dir();
    // (config, what stderr must name: file:line or file, and the key if given)
    let cases: &[(String, &str, Option<&str>)] = &[
        (
            format!("listen = \"127.0.0.1:{}\"\nsize_limit = \"x\"\ndata_dir = \"{}\"\n", s.port, data.display()),
            "birch.toml:2:",
            None,
        ),
        (
            format!("listen = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\nno_such_key = 1\n", s.port, data.display()),
            "birch.toml:3:",
            Some("no_such_key"),
        ),
        (
            format!("listen = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\n[argon2]\nt_cost = -1\n", s.port, data.display()),
            "birch.toml:4:",
            None,
        ),
        (format!("listen = \"nowhere\"\ndata_dir = \"{}\"\n", data.display()), "birch.toml", Some("listen")),
        (format!("suffix = \"not a dn\"\ndata_dir = \"{}\"\n", data.display()), "birch.toml", Some("suffix")),
    ];
    for (config, location, key) in cases {
        s.write_config_text(config);
        let out = s.birch_bounded(&["serve"], CMD);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "serve started with\n{config}");
        assert!(stderr.contains(location), "expected {location:?} in\n{stderr}");
        if let Some(key) = key {
            assert!(stderr.contains(key), "expected {key:?} in\n{stderr}");
        }
    }
    // Nothing was created by the refused starts.
    assert!(!data.exists() || std::fs::read_dir(&data).map(|mut d| d.next().is_none()).unwrap_or(true));
}

/// All files under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_root_password_is_printed_once_and_kept() {
    let mut s = Server::offline("");
    let lines = s.start_capturing(None);
    let generated: Vec<usize> = lines
        .seen
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("Generated a root password"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(generated.len(), 1, "{:#?}", lines.seen);
    assert!(lines.seen[generated[0]].contains(ROOT_DN), "{}", lines.seen[generated[0]]);
    let pw = lines.seen[generated[0] + 1..]
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())
        .expect("password line")
        .to_string();
    assert!(pw.len() >= 12 && !pw.contains(' ') && !pw.contains("birch listening"), "{pw:?}");
    let url = s.url();
    bounded(LIMIT, async {
        assert_eq!(common::bind_rc(&url, ROOT_DN, &pw).await, 0);
        assert_eq!(common::bind_rc(&url, ROOT_DN, ROOT_PW).await, 49);
        let mut root = connect_as(&url, ROOT_DN, &pw).await;
        let e = vec![("objectClass", HashSet::from(["organizationalUnit"])), ("ou", HashSet::from(["people"]))];
        assert_eq!(root.add(PEOPLE, e).await.expect("add").rc, 0);
    })
    .await;
    s.stop();
    // Only the hash is stored.
    for f in files(&s.data_dir()) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(!bytes.windows(pw.len()).any(|w| w == pw.as_bytes()), "cleartext root password in {}", f.display());
    }
    let lines = s.start_capturing(None);
    assert!(!lines.seen.iter().any(|l| l.contains("Generated") || l.contains(&pw)), "{:#?}", lines.seen);
    bounded(LIMIT, async {
        assert_eq!(common::bind_rc(&url, ROOT_DN, &pw).await, 0);
        assert_eq!(common::bind_rc(&url, ROOT_DN, "not-it").await, 49);
        let mut l = connect_as(&url, ROOT_DN, &pw).await;
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(ou=people)").await, vec![PEOPLE]);
    })
    .await;
    s.stop();
    // BIRCH_ROOT_PASSWORD, when set, takes precedence over the stored hash.
    let lines = s.start_capturing(Some(ROOT_PW));
    assert!(!lines.seen.iter().any(|l| l.contains("Generated")), "{:#?}", lines.seen);
    bounded(LIMIT, async {
        assert_eq!(common::bind_rc(&url, ROOT_DN, ROOT_PW).await, 0);
        assert_eq!(common::bind_rc(&url, ROOT_DN, &pw).await, 49);
    })
    .await;
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn hash_password_output_works_as_root_password_hash() {
    let mut s = Server::offline("");
    let mut child = Command::new(common::birch_bin())
        .args(["hash-password", "--config"])
        .arg(s.config_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"chosen-secret\n").expect("write stdin");
    let out = child.wait_with_output().expect("hash-password");
    assert!(out.status.success(), "{out:?}");
    let hash = text(&out.stdout).trim().to_string();
    assert!(hash.starts_with("{ARGON2}$argon2id$"), "{hash}");
    assert!(!hash.contains("chosen-secret"));
    let config = s.default_config_text().replacen('\n', &format!("\nroot_password_hash = \"{hash}\"\n"), 1);
    s.write_config_text(&config);
    let lines = s.start_capturing(None);
    assert!(!lines.seen.iter().any(|l| l.contains("Generated")), "{:#?}", lines.seen);
    let url = s.url();
    bounded(LIMIT, async {
        assert_eq!(common::bind_rc(&url, ROOT_DN, "chosen-secret").await, 0);
        assert_eq!(common::bind_rc(&url, ROOT_DN, "chosen-secreT").await, 49);
    })
    .await;
    s.stop();
}

// ---------------------------------------------------------------------------------------
// import of change records
// ---------------------------------------------------------------------------------------

#[test]
fn import_applies_change_records_in_order() {
    let (s, _) = base_store();
    let changes = "\
dn: uid=a,ou=people,dc=example,dc=org
changetype: add
objectClass: account
uid: a
description: one

dn: uid=a,ou=people,dc=example,dc=org
changetype: modify
replace: description
description: two
-
add: host
host: ws1

dn: uid=a,ou=people,dc=example,dc=org
changetype: modrdn
newrdn: uid=b
deleteoldrdn: 1

dn: uid=c,ou=people,dc=example,dc=org
objectClass: account
uid: c

dn: uid=c,ou=people,dc=example,dc=org
changetype: delete
";
    let file = write_file(&s, "changes.ldif", changes.as_bytes());
    let out = import(&s, &file);
    assert!(out.status.success(), "change import: {}", text(&out.stderr));
    let after = text(&export(&s));
    assert!(!after.contains("uid=a,"), "{after}");
    assert!(!after.contains("uid=c,"), "{after}");
    let b = after.split("\n\n").find(|r| r.starts_with("dn: uid=b,ou=people")).expect("renamed entry");
    assert!(b.contains("description: two") && b.contains("host: ws1") && b.contains("uid: b"), "{b}");
    assert!(!b.contains("uid: a") && !b.contains("description: one"), "{b}");
    let check = s.birch_bounded(&["check"], CMD);
    assert!(check.status.success(), "check: {}", text(&check.stdout));

    // A failing record stops the import with file:line; the records before it stay applied.
    let bad = "\
dn: uid=b,ou=people,dc=example,dc=org
changetype: modify
replace: description
description: three

dn: uid=nobody,ou=people,dc=example,dc=org
changetype: delete
";
    let file = write_file(&s, "bad.ldif", bad.as_bytes());
    let out = import(&s, &file);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bad.ldif:6:"), "{err}");
    assert!(text(&export(&s)).contains("description: three"));
}

/// An export with what differs between two runs of the same changes left out: times,
/// entryUUID, entryCSN and salted password hashes.
fn comparable(export: &[u8]) -> Vec<String> {
    let unstable =
        ["entryuuid:", "entrycsn:", "createtimestamp:", "modifytimestamp:", "pwdchangedtime:", "userpassword:"];
    // Unfolded first: a folded continuation line belongs to the line before it.
    text(export)
        .replace("\n ", "")
        .split("\n\n")
        .map(|record| {
            let mut lines: Vec<&str> =
                record.lines().filter(|l| !unstable.iter().any(|u| l.to_ascii_lowercase().starts_with(u))).collect();
            lines.sort_unstable();
            lines.join("\n")
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// What ldapmodify printed as "additional info" (the server's diagnostic message).
fn additional_info(stderr: &str) -> String {
    stderr.lines().find_map(|l| l.trim().strip_prefix("additional info: ")).unwrap_or_default().to_string()
}

/// `birch import` of change records and `ldapmodify -f` of the same file as the root DN
/// against a running server pass the same write pipeline: same error (named with the
/// file's line by the import), same tree afterwards.
#[test]
fn import_of_changes_and_ldapmodify_agree() {
    let files = [
        // Valid changes, then a person without sn (65), then a change never reached.
        "\
dn: uid=p1,ou=people,dc=example,dc=org
changetype: add
objectClass: inetOrgPerson
uid: p1
cn: Person One
sn: One
userPassword: first-password

dn: uid=p1,ou=people,dc=example,dc=org
changetype: modify
replace: mail
mail: p1@example.org
-
add: description
description: changed

dn: uid=p2,ou=people,dc=example,dc=org
changetype: add
objectClass: person
uid: p2
cn: Person Two

dn: uid=p1,ou=people,dc=example,dc=org
changetype: delete
",
        // uid is not allowed on an organizationalUnit (65).
        "\
dn: ou=people,dc=example,dc=org
changetype: modify
add: uid
uid: nope
",
        // A rename, then the modify of a missing entry (32).
        "\
dn: uid=p1,ou=people,dc=example,dc=org
changetype: modrdn
newrdn: uid=p3
deleteoldrdn: 0

dn: uid=ghost,ou=people,dc=example,dc=org
changetype: modify
replace: description
description: x
",
    ];
    let (offline, _) = base_store();
    let (mut online, _) = base_store();
    online.start_existing();
    for (i, content) in files.iter().enumerate() {
        let file = write_file(&offline, &format!("changes{i}.ldif"), content.as_bytes());
        let imported = import(&offline, &file);
        let modified =
            online.ldap_tool("ldapmodify", &["-x", "-D", ROOT_DN, "-w", ROOT_PW, "-f", file.to_str().expect("path")]);
        let (ierr, merr) = (text(&imported.stderr), text(&modified.stderr));
        assert!(!imported.status.success(), "file {i}: the import must fail: {ierr}");
        assert!(!modified.status.success(), "file {i}: ldapmodify must fail: {merr}");
        let info = additional_info(&merr);
        match i {
            0 => {
                assert_eq!(modified.status.code(), Some(65), "{merr}");
                assert!(ierr.contains("changes0.ldif:17:") && ierr.contains("ObjectClassViolation"), "{ierr}");
            }
            1 => {
                assert_eq!(modified.status.code(), Some(65), "{merr}");
                assert!(ierr.contains("changes1.ldif:1:") && ierr.contains("ObjectClassViolation"), "{ierr}");
            }
            _ => {
                assert_eq!(modified.status.code(), Some(32), "{merr}");
                assert!(ierr.contains("changes2.ldif:6:") && ierr.contains("NoSuchObject"), "{ierr}");
            }
        }
        assert!(ierr.contains(&info), "file {i}: the import names the same cause as the server ({info:?}): {ierr}");
    }
    online.stop();
    let (a, b) = (comparable(&export(&offline)), comparable(&export(&online)));
    assert_eq!(a, b, "the same tree after the same changes");
    let p3 = a.iter().find(|r| r.contains("dn: uid=p3,")).expect("renamed entry");
    assert!(p3.contains("mail: p1@example.org") && p3.contains("description: changed"), "{p3}");
    assert!(p3.contains("modifiersName: cn=admin,dc=example,dc=org"), "{p3}");
    assert!(!a.iter().any(|r| r.contains("uid=p2,")), "the invalid entry was not added");
    for s in [&offline, &online] {
        let check = s.birch_bounded(&["check"], CMD);
        assert!(check.status.success(), "check: {}", text(&check.stdout));
    }
}

// ---------------------------------------------------------------------------------------
// schema directory
// ---------------------------------------------------------------------------------------

#[test]
fn a_broken_schema_file_stops_the_server_with_file_and_line() {
    let schema_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        schema_dir.path().join("broken.schema"),
        "# a campus extension with a typo\n\nattributetype ( 1.3.6.1.4.1.99999.9 NAME 'oops'\n  EQUALITY noSuchMatch )\n",
    )
    .expect("write schema");
    let s = Server::offline(&format!("schema_dir = \"{}\"", schema_dir.path().display()));
    let out = s.birch_bounded(&["serve"], CMD);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("broken.schema:3"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_campus_extension_in_the_schema_dir_is_used() {
    let schema_dir = tempfile::tempdir().expect("tempdir");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/campus.schema");
    std::fs::copy(&example, schema_dir.path().join("campus.schema")).expect("copy example");
    let mut s = Server::offline(&format!("schema_dir = \"{}\"", schema_dir.path().display()));
    let ldif = "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n\
                dn: uid=s1,dc=example,dc=org\nobjectClass: inetOrgPerson\nobjectClass: campusPerson\nuid: s1\ncn: S One\nsn: One\nstudentNumber: 2024 0001\n\n";
    let file = write_file(&s, "campus.ldif", ldif.as_bytes());
    let out = import(&s, &file);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    s.start_existing();
    bounded(LIMIT, async {
        let mut l = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        // numericStringMatch: spaces are insignificant; the class is known.
        for f in ["(studentNumber=20240001)", "(objectClass=campusPerson)"] {
            assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, f).await, vec!["uid=s1,dc=example,dc=org"], "{f}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_legacy_hashes_verify_on_bind() {
    // Values made by slappasswd / crypt(3) for the cleartext "secret" (shared/fixtures/hash-vectors.tsv).
    let hashes = [
        "{SSHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr",
        "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==",
        "{SMD5}QSjLq/J9454J9Pz5g6w5wpQxFqo=",
        "{CRYPT}$1$EWaCQxmS$CBeJlxZxifst.N8v4JjWE.",
        "{CRYPT}$5$vmWmW80f214HF9ik$kJTnUNPIjvTrk7Dr.EG7v6BDB8BFk5JuHtsYbKBVUj/",
        "{CRYPT}$6$IOZwqxLWykKHuhMj$sjkQaKROcMHbMCsXMrldpIFEAtLFm4ETHUpP5gITQrEGR9mjgoYhljg4PC7j.b6IUTnJv.4Cg1jzQJPWJpSGY0",
        "{CRYPT}$2b$06$fHZAHgzPkyjNMoU7RkjISejDXerGQ1/qeIqDBaUPnrCsurwvbOHF2",
    ];
    let mut s = Server::offline("");
    let ldif = common::users_ldif(hashes.len(), |i| hashes[i - 1].to_string());
    let file = write_file(&s, "legacy.ldif", ldif.as_bytes());
    let out = import(&s, &file);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    s.start_existing();
    bounded(LIMIT, async {
        for (i, h) in hashes.iter().enumerate() {
            let dn = user_dn(i + 1);
            assert_eq!(common::bind_rc(&s.url(), &dn, "secret").await, 0, "{h}");
            assert_eq!(common::bind_rc(&s.url(), &dn, "Secret").await, 49, "{h}");
        }
    })
    .await;
}

/// slapcat output carries slapd's replication state (entryCSN, contextCSN): it imports
/// unchanged and is exported as it came.
#[test]
fn slapcat_replication_attributes_import_unchanged() {
    let s = Server::offline("");
    let csn = "20261123120000.123456Z#000000#000#000000";
    let ldif = format!(
        "dn: dc=example,dc=org\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\ncontextCSN: {csn}\n\n\
         dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\nentryCSN: {csn}\n\n"
    );
    let file = write_file(&s, "slapcat.ldif", ldif.as_bytes());
    let out = import(&s, &file);
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    let exported = text(&export(&s));
    assert!(
        exported.contains(&format!("contextCSN: {csn}\n")) && exported.contains(&format!("entryCSN: {csn}\n")),
        "{exported}"
    );
}
