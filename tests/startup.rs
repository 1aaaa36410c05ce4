//! Black-box tests of what a start settles before serving: the root password given once is
//! kept, a configuration mistake creates nothing, the suffix of a data directory cannot
//! change under it, a full export loads over LDAP onto a new server (the placeholder suffix
//! entry), and the data directory's errors name the fix.
mod common;

use common::{bounded, connect_as, search_dns, Server, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::{Mod, Scope};
use std::collections::HashSet;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
const CMD: Duration = Duration::from_secs(30);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `birch serve` on `s`'s config without `BIRCH_ROOT_PASSWORD`, expected to exit by itself
/// (a refused start) within [`CMD`].
fn serve_refused(s: &Server) -> Output {
    let mut child = Command::new(common::birch_bin())
        .arg("serve")
        .arg("--config")
        .arg(s.config_path())
        .env_remove("BIRCH_ROOT_PASSWORD")
        .env("BIRCH_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn birch");
    let deadline = std::time::Instant::now() + CMD;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("birch serve did not stop by itself: it started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// The password a start printed after "Generated a root password" (none: `None`).
fn generated(lines: &[String]) -> Option<String> {
    let at = lines.iter().position(|l| l.contains("Generated a root password"))?;
    lines[at + 1..].iter().map(|l| l.trim()).find(|l| !l.is_empty()).map(str::to_string)
}

// ---------------------------------------------------------------------------------------
// Item 6: the root password given once is kept; a config mistake creates nothing.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn root_password_given_at_first_start_is_kept_without_it() {
    let mut s = Server::offline("");
    let url = s.url();
    let lines = s.start_capturing(Some("chosen-at-first-start"));
    assert_eq!(generated(&lines.seen), None, "{:#?}", lines.seen);
    s.stop();
    // A later start without the variable: the same password, none generated.
    let lines = s.start_capturing(None);
    assert_eq!(generated(&lines.seen), None, "a new password was generated: {:#?}", lines.seen);
    bounded(LIMIT, async {
        assert_eq!(common::bind_rc(&url, ROOT_DN, "chosen-at-first-start").await, 0);
        assert_eq!(common::bind_rc(&url, ROOT_DN, "something-else").await, 49);
    })
    .await;
    s.stop();
    // The same value again: nothing to say.
    let lines = s.start_capturing(Some("chosen-at-first-start"));
    assert!(!lines.seen.iter().any(|l| l.contains("replaced") || l.contains("Generated")), "{:#?}", lines.seen);
    s.stop();
    // Another value replaces it (the documented reset), with a warning.
    let lines = s.start_capturing(Some("reset-password"));
    assert!(lines.seen.iter().any(|l| l.contains("WARN") && l.contains("replaced")), "{:#?}", lines.seen);
    assert_eq!(generated(&lines.seen), None);
    bounded(LIMIT, async {
        assert_eq!(common::bind_rc(&url, ROOT_DN, "reset-password").await, 0);
        assert_eq!(common::bind_rc(&url, ROOT_DN, "chosen-at-first-start").await, 49);
    })
    .await;
    s.stop();
    let lines = s.start_capturing(None);
    assert_eq!(generated(&lines.seen), None, "{:#?}", lines.seen);
    bounded(LIMIT, async {
        assert_eq!(common::bind_rc(&url, ROOT_DN, "reset-password").await, 0);
    })
    .await;
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_mistake_creates_nothing_and_the_corrected_start_prints_the_password() {
    let missing = "/nonexistent/birch-test";
    let mistakes = [
        ("access.rules", "[access]\nrules = [\"to * by nobody wrte\"]".to_string()),
        ("tls", format!("[tls]\ncert_file = \"{missing}/s.crt\"\nkey_file = \"{missing}/s.key\"")),
        ("schema_dir", format!("schema_dir = \"{missing}/schema\"")),
        ("root_password_file", format!("root_password_file = \"{missing}/root.pw\"")),
        ("audit.file", format!("[audit]\nfile = \"{missing}/audit.log\"")),
        ("root_password_hash", "root_password_hash = \"{NOPE}abc\"".to_string()),
    ];
    for (what, extra) in &mistakes {
        let s = Server::offline(extra);
        let out = serve_refused(&s);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{what}: the start succeeded");
        assert!(!err.contains("Generated"), "{what}: a password was generated: {err}");
        assert!(!s.data_dir().exists(), "{what}: the data directory was created: {err}");
    }
    // The typo corrected: this start is the first, and it shows the password.
    let mut s = Server::offline(&mistakes[0].1);
    let out = serve_refused(&s);
    assert!(text(&out.stderr).contains("access.rules"), "{}", text(&out.stderr));
    let fixed = s.default_config_text().replace("by nobody wrte", "by * read");
    s.write_config_text(&fixed);
    let lines = s.start_capturing(None);
    let pw = generated(&lines.seen).unwrap_or_else(|| panic!("no generated password: {:#?}", lines.seen));
    let url = s.url();
    bounded(LIMIT, async {
        assert_eq!(common::bind_rc(&url, ROOT_DN, &pw).await, 0);
    })
    .await;
    s.stop();
}

// ---------------------------------------------------------------------------------------
// Item 7: the suffix of a data directory.
// ---------------------------------------------------------------------------------------

fn with_suffix(s: &Server, suffix: &str) {
    let text: String = s
        .default_config_text()
        .lines()
        .map(|l| if l.starts_with("suffix = ") { format!("suffix = \"{suffix}\"\n") } else { format!("{l}\n") })
        .collect();
    s.write_config_text(&text);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_suffix_is_refused_naming_both() {
    let mut s = Server::empty();
    s.stop();
    with_suffix(&s, "dc=other,dc=org");
    let out = serve_refused(&s);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("dc=example,dc=org") && err.contains("dc=other,dc=org"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Nothing was created: the old suffix serves as before, alone.
    with_suffix(&s, SUFFIX);
    s.start_existing();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(objectClass=*)").await, vec![SUFFIX]);
        let (_, res) = common::search(&mut root, "dc=other,dc=org", Scope::Base, "(objectClass=*)", &["1.1"]).await;
        assert_eq!(res.rc, 32, "{res}");
    })
    .await;
    s.stop();
}

#[test]
fn the_suffix_of_an_imported_store_is_found_from_its_entries() {
    // An import records no suffix: the start finds it from the store's root entry.
    let s = Server::offline("");
    let file = s.dir().join("users.ldif");
    std::fs::write(&file, common::users_ldif(2, |i| format!("pw-{i}"))).expect("write");
    let out = s.birch_bounded(&["import", file.to_str().expect("path")], CMD);
    assert!(out.status.success(), "{}", text(&out.stderr));
    with_suffix(&s, "o=elsewhere");
    let out = serve_refused(&s);
    let err = text(&out.stderr);
    assert!(err.contains("dc=example,dc=org") && err.contains("o=elsewhere"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Item 8: a full export loads over LDAP onto a new server.
// ---------------------------------------------------------------------------------------

fn ldapadd(s: &Server, who: Option<(&str, &str)>, ldif: &str, name: &str) -> Output {
    let file = s.dir().join(name);
    std::fs::write(&file, ldif).expect("write ldif");
    let mut args = vec!["-x"];
    if let Some((dn, pw)) = who {
        args.extend(["-D", dn, "-w", pw]);
    }
    let path = file.to_str().expect("path").to_string();
    args.extend(["-f", &path]);
    s.ldap_tool("ldapadd", &args)
}

const SUFFIX_ENTRY: &str =
    "dn: dc=example,dc=org\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n";

#[tokio::test(flavor = "multi_thread")]
async fn ldapadd_of_a_full_export_loads_onto_a_new_server() {
    let mut s = Server::empty();
    // Anonymous clients may not add it (as before: refused, the placeholder stays).
    let out = ldapadd(&s, None, SUFFIX_ENTRY, "suffix.ldif");
    assert_eq!(out.status.code(), Some(32), "{}", text(&out.stderr));
    let export = common::users_ldif(20, |i| format!("pw-{i}"));
    let out = ldapadd(&s, Some((ROOT_DN, ROOT_PW)), &export, "export.ldif");
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let all = search_dns(&mut root, SUFFIX, Scope::Subtree, "(objectClass=*)").await;
        assert_eq!(all.len(), 22, "{all:?}");
        let (e, _) = common::search(&mut root, SUFFIX, Scope::Base, "(objectClass=*)", &["o", "entryUUID"]).await;
        assert_eq!(e[0].attrs["o"], vec!["example"]);
        assert_eq!(common::bind_rc(&s.url(), "uid=user00007,ou=people,dc=example,dc=org", "pw-7").await, 0);
    })
    .await;
    // Now the suffix entry is an entry like any other.
    let out = ldapadd(&s, Some((ROOT_DN, ROOT_PW)), SUFFIX_ENTRY, "suffix.ldif");
    assert_eq!(out.status.code(), Some(68), "{}", text(&out.stderr));
    // It stays so across a restart.
    s.restart();
    let out = ldapadd(&s, Some((ROOT_DN, ROOT_PW)), SUFFIX_ENTRY, "suffix.ldif");
    assert_eq!(out.status.code(), Some(68), "{}", text(&out.stderr));
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn birch_import_of_a_full_export_after_a_first_start() {
    let mut s = Server::empty();
    s.stop();
    let file = s.dir().join("export.ldif");
    std::fs::write(&file, common::users_ldif(3, |i| format!("pw-{i}"))).expect("write");
    let out = s.birch_bounded(&["import", file.to_str().expect("path")], CMD);
    assert!(out.status.success(), "{}", text(&out.stderr));
    s.start_existing();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(objectClass=*)").await.len(), 5);
        assert_eq!(common::bind_rc(&s.url(), "uid=user00002,ou=people,dc=example,dc=org", "pw-2").await, 0);
    })
    .await;
    s.stop();
    // A second import of the same file: the suffix entry exists now.
    let out = s.birch_bounded(&["import", file.to_str().expect("path")], CMD);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("entry already exists"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suffix_entry_once_changed_is_not_replaced() {
    let mut s = Server::empty();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let res = root.modify(SUFFIX, vec![Mod::Add("description", HashSet::from(["kept"]))]).await.expect("modify");
        assert_eq!(res.rc, 0, "{res}");
    })
    .await;
    let out = ldapadd(&s, Some((ROOT_DN, ROOT_PW)), SUFFIX_ENTRY, "suffix.ldif");
    assert_eq!(out.status.code(), Some(68), "{}", text(&out.stderr));
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let (e, _) = common::search(&mut root, SUFFIX, Scope::Base, "(objectClass=*)", &["description"]).await;
        assert_eq!(e[0].attrs["description"], vec!["kept"]);
    })
    .await;
    s.stop();
}

// ---------------------------------------------------------------------------------------
// Item 12: the data directory's errors.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_is_one_line_naming_the_directory_and_the_process() {
    let mut s = Server::empty();
    let want = format!(
        "birch: another birch process holds the lock on {} (pid {}): stop it first",
        s.data_dir().display(),
        s.pid()
    );
    let file = s.dir().join("x.ldif");
    std::fs::write(&file, SUFFIX_ENTRY).expect("write");
    let out = s.birch_bounded(&["check"], CMD);
    assert!(!out.status.success());
    assert_eq!(text(&out.stderr).trim(), want, "birch check");
    // import sees the running server first (its admin socket answers) and names the online way.
    let out = s.birch_bounded(&["import", file.to_str().expect("path")], CMD);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "birch: a server is running on {}: `birch import` works offline; stop the server first, or load \
             the file over LDAP (ldapadd / ldapmodify -f)",
            s.data_dir().display()
        ),
        "birch import"
    );
    let out = serve_refused(&s);
    assert_eq!(text(&out.stderr).trim(), want, "birch serve");
    s.stop();
}

/// Whether the tests run as root (who may write any directory).
fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| text(&o.stdout).trim() == "0")
}

#[test]
fn permission_denied_is_one_line_naming_the_directory_and_the_fix() {
    if running_as_root() {
        eprintln!("skipped: root ignores file permissions");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let s = Server::offline("");
    std::fs::create_dir(s.data_dir()).expect("mkdir");
    std::fs::set_permissions(s.data_dir(), std::fs::Permissions::from_mode(0o500)).expect("chmod");
    let out = serve_refused(&s);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    let start =
        format!("birch: cannot write {}: permission denied — run as the user that owns it", s.data_dir().display());
    assert!(err.starts_with(&start) && err.contains("or fix its permissions"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    std::fs::set_permissions(s.data_dir(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
}
