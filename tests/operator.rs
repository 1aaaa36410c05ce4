//! Black-box tests of what an operator sees from the `birch` command and the log: audit
//! replay with ldapmodify, error messages that name the fix, progress, hash-password on a
//! pipe, a log without colour codes nor one line per bind, refusals counted in metrics.
mod common;

use common::demo::{ALICE, BOB, CHENWEI, PEOPLE};
use common::{bounded, connect_as, search, Server, OP_TIMEOUT, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::exop::PasswordModify;
use ldap3::{Mod, Scope};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
const CMD: Duration = Duration::from_secs(60);
const DAVE: &str = "uid=dave,ou=people,dc=example,dc=org";

fn set<'a>(v: &[&'a str]) -> HashSet<&'a str> {
    v.iter().copied().collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every entry of the tree: normalized DN -> attribute -> values, without userPassword
/// (the audit log never holds it, so a replay cannot carry it).
async fn tree(url: &str) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut root = connect_as(url, ROOT_DN, ROOT_PW).await;
    let (entries, res) = search(&mut root, SUFFIX, Scope::Subtree, "(objectClass=*)", &["*"]).await;
    assert_eq!(res.rc, 0, "{res:?}");
    entries
        .into_iter()
        .map(|e| {
            let attrs = e
                .attrs
                .into_iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("userPassword"))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_iter().collect()))
                .collect();
            (e.dn.to_ascii_lowercase(), attrs)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_ldif_replays_with_ldapmodify_onto_a_copy() {
    let mut first = Server::demo();
    let url = first.url();
    let changed = bounded(LIMIT, async {
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let dave = vec![
            ("objectClass", set(&["inetOrgPerson"])),
            ("uid", set(&["dave"])),
            ("cn", set(&["Dave"])),
            ("sn", set(&["Duck"])),
            ("userPassword", set(&["dave-initial-pw"])),
        ];
        assert_eq!(root.add(DAVE, dave).await.expect("add").rc, 0);
        let mods = vec![Mod::Replace("description", set(&["one"])), Mod::Add("mail", set(&["dave@example.org"]))];
        assert_eq!(root.modify(DAVE, mods).await.expect("modify").rc, 0);
        // A password-only change, a mixed one and a Password Modify: no value may appear.
        let pw = vec![Mod::Replace("userPassword", set(&["bob-new-secret-1"]))];
        assert_eq!(root.modify(BOB, pw).await.expect("modify").rc, 0);
        let mixed =
            vec![Mod::Replace("description", set(&["two"])), Mod::Replace("userPassword", set(&["alice-new-1"]))];
        assert_eq!(root.modify(ALICE, mixed).await.expect("modify").rc, 0);
        let pm = PasswordModify { user_id: Some(CHENWEI), old_pass: None, new_pass: Some("chenwei-reset-pw") };
        assert_eq!(root.extended(pm).await.expect("passmod").1.rc, 0);
        assert_eq!(root.modifydn(DAVE, "uid=dave2", true, None).await.expect("modrdn").rc, 0);
        let dave2 = "uid=dave2,ou=people,dc=example,dc=org";
        assert_eq!(root.modify(dave2, vec![Mod::Delete("description", set(&[]))]).await.expect("modify").rc, 0);
        let carol = "uid=carol,ou=people,dc=example,dc=org";
        let add = vec![
            ("objectClass", set(&["inetOrgPerson"])),
            ("uid", set(&["carol"])),
            ("cn", set(&["C"])),
            ("sn", set(&["D"])),
        ];
        assert_eq!(root.add(carol, add).await.expect("add").rc, 0);
        assert_eq!(root.delete(carol).await.expect("delete").rc, 0);
        tree(&url).await
    })
    .await;
    first.stop();
    let out = first.birch(&["audit", "--ldif"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ldif = text(&out.stdout);
    for secret in ["dave-initial-pw", "bob-new-secret-1", "alice-new-1", "chenwei-reset-pw", "{ARGON2}"] {
        assert!(!ldif.contains(secret), "{secret} in the LDIF:\n{ldif}");
    }
    assert!(!ldif.to_ascii_lowercase().contains("userpassword:"), "{ldif}");
    for who in [BOB, ALICE, CHENWEI] {
        assert!(
            ldif.contains(&format!("# userPassword of {who} changed; the value is not in the audit log")),
            "a comment names the password change of {who}:\n{ldif}"
        );
    }
    let file = first.dir().join("replay.ldif");
    std::fs::write(&file, &ldif).expect("write replay");

    // A second server with the same starting data: ldapmodify applies the whole file.
    let second = Server::demo();
    let url2 = second.url();
    let out = second.ldap_tool("ldapmodify", &["-x", "-D", ROOT_DN, "-w", ROOT_PW, "-f", file.to_str().expect("path")]);
    assert!(out.status.success(), "ldapmodify: {}\n{}\n--- file ---\n{ldif}", text(&out.stderr), text(&out.stdout));
    let replayed = bounded(LIMIT, tree(&url2)).await;
    assert_eq!(replayed.keys().collect::<Vec<_>>(), changed.keys().collect::<Vec<_>>(), "the same entries");
    for (dn, attrs) in &changed {
        let mut ours = attrs.clone();
        let mut theirs = replayed[dn].clone();
        // Stamps and IDs the server makes are its own.
        for t in [&mut ours, &mut theirs] {
            t.retain(|k, _| {
                !["entryuuid", "createtimestamp", "modifytimestamp", "creatorsname", "modifiersname", "entrycsn"]
                    .contains(&k.as_str())
            });
        }
        assert_eq!(ours, theirs, "{dn}");
    }

    // --dn compares DNs, not strings.
    let out = first.birch(&["audit", "--dn", "UID=bob, ou=People, dc=example, dc=org"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let found = text(&out.stdout);
    assert!(found.lines().any(|l| l.contains("\"event\":\"modify\"")), "{found}");
    assert!(found.lines().all(|l| l.to_ascii_lowercase().contains("uid=bob,ou=people")), "{found}");
}

/// Runs `birch ARGS --config CONFIG` with `env`, standard input `stdin`, output captured
/// (stderr a pipe: never a terminal), killed if it has not exited within [`CMD`].
fn birch_with(s: &Server, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new(common::birch_bin())
        .args(args)
        .arg("--config")
        .arg(s.config_path())
        .env("BIRCH_ROOT_PASSWORD", ROOT_PW)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn birch");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CMD) {
        Ok(out) => out.expect("wait for birch"),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("`birch {}` did not exit within {CMD:?}", args.join(" "));
        }
    }
}

#[test]
fn import_export_backup_and_restore_report_progress_on_stderr_only() {
    let mut s = Server::offline("");
    let file = s.dir().join("users.ldif");
    std::fs::write(&file, common::users_ldif(3000, |i| format!("pw-{i}"))).expect("write ldif");
    // Stderr is a pipe: progress comes as log lines, here as often as possible.
    let env = [("BIRCH_LOG", "info"), ("BIRCH_PROGRESS_SECS", "0.000001")];
    let out = birch_with(&s, &["import", file.to_str().expect("path")], &env, b"");
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", text(&out.stdout));
    for pass in ["progress: pass 1/2, check: ", "progress: pass 2/2, write: "] {
        assert!(err.contains(pass), "{pass} in:\n{err}");
    }
    let line = err.lines().find(|l| l.contains("progress: pass 2/2, write: ")).expect("a write line");
    assert!(
        line.contains(" entries, ") && line.contains("/s, ") && line.contains("% ") || line.contains("%, about "),
        "{line}"
    );
    assert!(!err.contains('\u{1b}'), "no colour codes in a piped log: {err:?}");

    let out = birch_with(&s, &["export"], &env, b"");
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("progress: write: "), "{err}");
    let ldif = text(&out.stdout);
    assert!(!ldif.contains("progress") && ldif.starts_with("version: 1\n"), "the LDIF on stdout is clean");
    assert_eq!(ldif.matches("\ndn: ").count(), 3002, "every entry exported");

    // The default: a line every few seconds, none for a short job.
    let out = birch_with(&s, &["check"], &[("BIRCH_LOG", "info")], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("progress"), "{}", text(&out.stderr));

    // Backup (the client counts what the server streams) and restore (import and check).
    s.start_existing();
    let backup = s.dir().join("backup.ldif");
    let out = birch_with(&s, &["backup", backup.to_str().expect("path")], &env, b"");
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("progress: receive: ") && err.contains("%, about "), "{err}");
    s.stop();
    let out = birch_with(&s, &["restore", "--force", backup.to_str().expect("path")], &env, b"");
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    for pass in ["progress: pass 1/2, check: ", "progress: pass 2/2, write: ", "progress: entries: "] {
        assert!(err.contains(pass), "{pass} in:\n{err}");
    }
}

#[test]
fn hash_password_reads_a_pipe_without_prompting() {
    let s = Server::offline("");
    let out = birch_with(&s, &["hash-password"], &[], b"piped-secret\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "only the hash: {stdout}");
    assert!(stdout.starts_with("{ARGON2}$argon2id$"), "{stdout}");
    assert!(!text(&out.stderr).contains("Password:"), "no prompt on a pipe");
    let out = birch_with(&s, &["hash-password"], &[], b"");
    assert!(!out.status.success() && out.stdout.is_empty(), "an empty password is refused");
    assert!(text(&out.stderr).contains("no password"), "{}", text(&out.stderr));
}

#[test]
fn restore_export_and_backup_name_the_fix() {
    let mut s = Server::demo();
    let backup = s.dir().join("good.ldif");
    let out = s.birch(&["backup", backup.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A running server: restore and export say to stop it or use `birch backup`.
    let out = s.birch(&["restore", "--force", backup.to_str().expect("path")]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("a server is running on") && err.contains("stop it") && err.contains("birch backup"), "{err}");
    assert!(!err.contains("--force"), "{err}");
    let out = s.birch(&["export"]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(err.contains("a server is running on") && err.contains("birch backup"), "{err}");

    let out = s.birch(&["import", backup.to_str().expect("path")]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("a server is running on") && err.contains("ldapadd"), "{err}");

    // A missing directory fails before the server streams anything.
    let missing = s.dir().join("no-such-dir").join("b.ldif");
    let out = s.birch(&["backup", missing.to_str().expect("path")]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("does not exist") && err.contains("no-such-dir"), "{err}");
    let out = s.birch(&["backup", &format!("{}/", s.dir().join("no-dir").display())]);
    assert!(!out.status.success() && text(&out.stderr).contains("does not exist"), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(s.log_path()).unwrap_or_default();
    assert!(!log.contains("backup client went away"), "the server was never asked: {log}");

    // Reload says what it reloads.
    let out = s.birch(&["reload"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("access rules") && err.contains("TLS certificate") && err.contains("audit log"), "{err}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_too_short_names_the_minimum_length() {
    let s = Server::demo();
    let url = s.url();
    bounded(LIMIT, async {
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let pm = PasswordModify { user_id: None, old_pass: Some("bob-secret"), new_pass: Some("short") };
        let res = bob.with_timeout(OP_TIMEOUT).extended(pm).await.expect("passmod").1;
        assert_eq!(res.rc, 19, "{res:?}");
        assert!(res.text.contains("at least 8 characters"), "{}", res.text);
        let res = bob
            .with_timeout(OP_TIMEOUT)
            .modify(BOB, vec![Mod::Replace("userPassword", set(&["tiny"]))])
            .await
            .expect("modify");
        assert_eq!(res.rc, 19, "{res:?}");
        assert!(res.text.contains("at least 8 characters"), "{}", res.text);
    })
    .await;
}

fn scrape(port: u16) -> String {
    common::scrape_metrics(port)
}

#[tokio::test(flavor = "multi_thread")]
async fn binds_refused_on_cleartext_are_counted() {
    let port = common::free_port();
    let extra = format!("[security]\nrequire_tls = {{ bind = true }}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    let s = Server::start_with(&extra, true);
    let url = s.url();
    bounded(LIMIT, async {
        for _ in 0..3 {
            assert_eq!(common::bind_rc(&url, ALICE, "alice-secret").await, 13);
        }
    })
    .await;
    let metrics = scrape(port);
    assert!(metrics.contains("birch_operations_total{op=\"bind\",result=\"13\"} 3"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_log_has_no_line_per_bind_and_no_colours() {
    let mut s = Server::start_with_env("", true, &[("BIRCH_LOG", "info")]);
    let url = s.url();
    bounded(LIMIT, async {
        for _ in 0..5 {
            assert_eq!(common::bind_rc(&url, BOB, "bob-secret").await, 0);
        }
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let res = root.modify(ALICE, vec![Mod::Replace("description", set(&["logged?"]))]).await.expect("modify");
        assert_eq!(res.rc, 0);
        // A failed bind is a warning: it stays in the operational log.
        assert_eq!(common::bind_rc(&url, ALICE, "wrong-guess").await, 49);
        let (people, _) = search(&mut root, PEOPLE, Scope::OneLevel, "(uid=*)", &["uid"]).await;
        assert!(!people.is_empty());
    })
    .await;
    s.stop();
    let log = std::fs::read_to_string(s.log_path()).expect("log");
    assert!(log.contains("birch is serving"), "{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a log file: {log:?}");
    assert!(!log.contains("event=\"bind\"") && !log.contains("event=bind "), "no line per bind: {log}");
    assert!(!log.contains("event=\"modify\"") && !log.contains("event=modify "), "no line per write: {log}");
    assert!(log.contains("bind_failed"), "failed binds are warnings: {log}");
    // The audit log has them all.
    let audit = std::fs::read_to_string(s.data_dir().join("audit.log")).expect("audit.log");
    assert!(audit.matches("\"event\":\"bind\"").count() >= 6, "{audit}");
}

#[test]
fn a_replica_logs_the_progress_of_its_refresh() {
    let mut provider = Server::offline("");
    let path = provider.dir().join("users.ldif");
    std::fs::write(&path, common::users_ldif(2000, |i| format!("pw-{i}"))).expect("ldif");
    let out = provider.birch(&["import", path.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    provider.start_existing();
    let config = format!(
        "[replication]\nserver_id = 2\nprovider = \"{}\"\nbind_dn = \"{ROOT_DN}\"\nbind_password = \"{ROOT_PW}\"\nretry_initial_ms = 100\nretry_max_ms = 1000\n",
        provider.url()
    );
    let env = [("BIRCH_LOG", "info"), ("BIRCH_PROGRESS_SECS", "0.000001")];
    let replica = Server::start_with_env(&config, false, &env);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut log = String::new();
    while std::time::Instant::now() < deadline {
        log = std::fs::read_to_string(replica.log_path()).unwrap_or_default();
        if log.contains("refresh complete") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(log.contains("refresh complete; following changes entries=2002"), "{log}");
    let progress = log.lines().filter(|l| l.contains("progress: receive: ")).count();
    assert!(progress >= 1, "{log}");
}
