//! A full disk: the data directory is a small tmpfs in a private mount namespace (root only;
//! the test prints why it skips otherwise). Writes fill it; the write that hits ENOSPC and
//! every later one are answered 80 (other) with the error, the server keeps serving reads,
//! and once space is freed birch restarts itself and writes succeed again, `birch check`
//! accepts the store and every acknowledged write is there.
//!
//! sled 0.34 does not recover from an I/O error in place: later writes fail and a later
//! flush can wait forever, even once space returns. So the store refuses every write after
//! the first storage failure, and when the failure was a full disk, birch restarts itself in
//! place once space has come back (crates/server/src/recovery.rs, docs/operations.md).
mod common;

use common::demo::{ALICE, PEOPLE};
use common::{bind_rc, birch_bin, connect_as, free_port, listening, search_dns, OP_TIMEOUT, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::Scope;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Size of the tmpfs holding the data directory.
const FS_SIZE: &str = "8m";
/// What is taken from it up front and freed later (MiB).
const BALLAST_MIB: u32 = 2;
/// Bytes of photo per added entry: a few dozen writes fill the disk.
const PHOTO_BYTES: usize = 48 * 1024;
/// How long the namespace may live, even if the test process dies.
const NS_SECS: &str = "600";

/// Whether this test can run here (root, unshare and nsenter); says why not otherwise.
fn can_run() -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let tools = ["unshare", "nsenter", "timeout"].iter().all(|t| {
        Command::new("sh").arg("-c").arg(format!("command -v {t}")).output().is_ok_and(|o| o.status.success())
    });
    if !(root && tools) {
        eprintln!(
            "SKIPPED tests/diskfull.rs: a full disk is simulated with a tmpfs in a private mount \
             namespace, which needs root and util-linux (unshare, nsenter); run the suite as root"
        );
    }
    root && tools
}

/// A private mount namespace with a small tmpfs, and a birch serving from it.
struct FullDisk {
    dir: tempfile::TempDir,
    holder: Child,
    birch: Option<Child>,
    port: u16,
}

impl FullDisk {
    fn new() -> FullDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = dir.path().join("fs");
        std::fs::create_dir(&fs).expect("mkdir");
        let script = format!(
            "mount -t tmpfs -o size={FS_SIZE} birch-full '{fs}' && mkdir '{fs}/data' && \
             head -c {BALLAST_MIB}M /dev/zero > '{fs}/ballast' && echo ready && exec sleep {NS_SECS}",
            fs = fs.display()
        );
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
        assert_eq!(line.trim(), "ready", "the tmpfs could not be set up");
        let port = free_port();
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nsuffix = \"{SUFFIX}\"\n\
             [argon2]\nm_cost_kib = 1024\nt_cost = 1\nparallelism = 1\n",
            fs.join("data").display()
        );
        std::fs::write(dir.path().join("birch.toml"), config).expect("config");
        FullDisk { dir, holder, birch: None, port }
    }

    /// `nsenter` into the namespace (which execs `args`: the child is the command itself).
    fn inside(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t").arg(self.holder.id().to_string()).args(["-m", "--"]).args(args);
        c
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("birch.toml")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("birch.log")
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log()).expect("log");
        let bin = birch_bin();
        let config = self.config();
        let child = self
            .inside(&[bin.to_str().expect("utf-8"), "serve", "--demo", "--config", config.to_str().expect("utf-8")])
            .env("BIRCH_ROOT_PASSWORD", ROOT_PW)
            .env("BIRCH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn birch");
        self.birch = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !listening(self.port) {
            assert!(Instant::now() < deadline, "birch did not start: {}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.birch.take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                return s;
            }
            assert!(Instant::now() < deadline, "birch did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a command in the namespace, killed after a minute.
    fn run(&self, args: &[&str]) -> Output {
        let mut bounded = vec!["timeout", "60"];
        bounded.extend_from_slice(args);
        self.inside(&bounded).env("BIRCH_ROOT_PASSWORD", ROOT_PW).output().expect("nsenter")
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        if let Some(mut c) = self.birch.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The tmpfs goes with the last process of the namespace.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        if std::thread::panicking() {
            eprintln!("--- birch log ---\n{}--- end of birch log ---", self.log_text());
        }
    }
}

/// Adds `uid=fullNNN` with a photo of `PHOTO_BYTES` bytes; the result.
async fn add_with_photo(ldap: &mut ldap3::Ldap, n: usize) -> ldap3::LdapResult {
    try_add_with_photo(ldap, n).await.expect("add")
}

/// [`add_with_photo`] on a connection that may be dropped meanwhile.
async fn try_add_with_photo(ldap: &mut ldap3::Ldap, n: usize) -> ldap3::result::Result<ldap3::LdapResult> {
    let dn = format!("uid=full{n},{PEOPLE}");
    let uid = format!("full{n}");
    // Not compressible, so it takes its size on disk.
    let photo: Vec<u8> = (0..PHOTO_BYTES).map(|i| ((i * 7919 + n * 104_729) % 251) as u8).collect();
    let b = |s: &str| s.as_bytes().to_vec();
    let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
        (b("objectClass"), HashSet::from([b("inetOrgPerson")])),
        (b("uid"), HashSet::from([b(&uid)])),
        (b("cn"), HashSet::from([b("Full Disk")])),
        (b("sn"), HashSet::from([b("Disk")])),
        (b("jpegPhoto"), HashSet::from([photo])),
    ];
    ldap.with_timeout(OP_TIMEOUT).add(&dn, attrs).await
}

fn assert_storage_full(r: &ldap3::LdapResult) {
    assert_eq!(r.rc, 80, "{r}");
    assert!(r.text.contains("No space left on device"), "{r}");
}

fn check(disk: &FullDisk, bin: &Path) {
    let out = disk.run(&[bin.to_str().expect("utf-8"), "check", "--config", disk.config().to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "birch check: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_cleanly_and_loses_no_acknowledged_write() {
    if !can_run() {
        return;
    }
    let mut disk = FullDisk::new();
    disk.start();
    let url = disk.url();
    // A mistyped password: recorded (pwdFailureTime), to be forgotten at the next good bind.
    assert_eq!(bind_rc(&url, ALICE, "not-her-password").await, 49);
    let mut ldap = connect_as(&url, ROOT_DN, ROOT_PW).await;
    let mut acked = Vec::new();
    let mut failed = None;
    for n in 0..1000 {
        let r = add_with_photo(&mut ldap, n).await;
        if r.rc != 0 {
            failed = Some(r);
            break;
        }
        acked.push(format!("uid=full{n},{PEOPLE}"));
    }
    let failed = failed.expect("the disk never filled up");
    assert!(!acked.is_empty(), "not one write fitted: {failed}");
    assert_storage_full(&failed);
    // The server is up: later writes are refused (until a restart), reads are served.
    let refused = add_with_photo(&mut ldap, 5000).await;
    assert_storage_full(&refused);
    assert!(refused.text.contains("restart birch once the cause is fixed"), "{refused}");
    let mut reader = connect_as(&url, ROOT_DN, ROOT_PW).await;
    assert_eq!(search_dns(&mut reader, ALICE, Scope::Base, "(objectClass=*)").await, vec![ALICE.to_string()]);
    // Logins go on: a good bind succeeds although its bookkeeping (forgetting the failure)
    // cannot be written, and a bad one is still refused.
    assert_eq!(bind_rc(&url, ALICE, "alice-secret").await, 0);
    assert_eq!(bind_rc(&url, ALICE, "not-her-password").await, 49);
    let log = disk.log_text();
    assert!(log.contains("cannot record a successful bind; it succeeds anyway"), "{log}");
    // Space returns: birch notices, restarts itself in place (the same process id) and takes
    // writes again, without an operator. Connections are dropped once by the restart.
    drop((ldap, reader));
    let out = disk.run(&["rm", &disk.dir.path().join("fs/ballast").display().to_string()]);
    assert!(out.status.success(), "rm ballast: {}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(60);
    let recovered = loop {
        assert!(Instant::now() < deadline, "writes did not come back: {}", disk.log_text());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(Ok((conn, mut l))) = tokio::time::timeout(OP_TIMEOUT, ldap3::LdapConnAsync::new(&url)).await else {
            continue;
        };
        ldap3::drive!(conn);
        if !matches!(l.simple_bind(ROOT_DN, ROOT_PW).await.map(|r| r.rc), Ok(0)) {
            continue;
        }
        match try_add_with_photo(&mut l, 5001).await {
            Ok(r) if r.rc == 0 => break r,
            _ => continue,
        }
    };
    assert_eq!(recovered.rc, 0);
    let log = disk.log_text();
    assert!(log.contains("storage failure: the store refuses writes until birch is restarted"), "{log}");
    assert!(log.contains("disk space is back: restarting birch to reopen the store"), "{log}");
    acked.push(format!("uid=full5001,{PEOPLE}"));
    // A stop and start find everything acknowledged, before and after the recovery.
    let status = disk.stop();
    assert!(status.success(), "exit {status}: {}", disk.log_text());
    let bin = birch_bin();
    check(&disk, &bin);
    disk.start();
    let mut ldap = connect_as(&url, ROOT_DN, ROOT_PW).await;
    let found = search_dns(&mut ldap, PEOPLE, Scope::OneLevel, "(uid=full*)").await;
    for dn in &acked {
        assert!(found.iter().any(|f| f.eq_ignore_ascii_case(dn)), "acknowledged {dn} is lost; found {found:?}");
    }
    let r = add_with_photo(&mut ldap, 6000).await;
    assert_eq!(r.rc, 0, "{r}");
    drop(ldap);
    assert!(disk.stop().success(), "{}", disk.log_text());
    check(&disk, &bin);
}
