//! Black-box test harness: starts the real `birch` binary on a free loopback port with a
//! temporary data directory, and stops it (gracefully or with SIGKILL).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The root password every test server uses.
pub const ROOT_PW: &str = "test-root-secret";
/// The suffix every test server serves.
pub const SUFFIX: &str = "dc=example,dc=org";
/// The root DN.
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";

/// A running birch server.
pub struct Server {
    child: Option<Child>,
    /// The loopback port it listens on.
    pub port: u16,
    dir: tempfile::TempDir,
    extra: String,
    demo: bool,
    /// Extra environment of the server process.
    env: Vec<(String, String)>,
}

/// Path of the birch binary under test.
pub fn birch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_birch"))
}

/// A loopback port nobody listens on (for a listener the test configures).
///
/// Ports come from 20000..32000, below Linux's ephemeral range (32768..60999), so that no
/// outgoing connection of another test takes one between this choice and the server's bind
/// (which made starts fail now and then with "cannot listen"); a port is handed out once per
/// test process.
pub fn free_port() -> u16 {
    use rand::Rng;
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let port = rng.gen_range(20000..32000);
        if !handed.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed.push(port);
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free port")
}

/// Whether something listens on 127.0.0.1:`port`. A connection from the port to itself does
/// not count: while nothing listens on a port of the ephemeral range (where [`free_port`]'s
/// ports come from), the kernel may pick that very port as the source of the connection,
/// which then "succeeds" (TCP simultaneous open) without any server.
pub fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok_and(|c| c.local_addr().map(|a| a.port()).ok() != Some(port))
}

impl Server {
    /// Starts a server with the demo data.
    pub fn demo() -> Server {
        Self::start_with("", true)
    }

    /// Starts an empty server (suffix entry only).
    pub fn empty() -> Server {
        Self::start_with("", false)
    }

    /// Starts a server with extra TOML config lines.
    pub fn start_with(extra: &str, demo: bool) -> Server {
        Self::start_with_env(extra, demo, &[])
    }

    /// Starts a server with extra TOML config lines and extra environment variables.
    pub fn start_with_env(extra: &str, demo: bool, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut s = Server { child: None, port: free_port(), dir, extra: extra.to_string(), demo, env };
        s.write_config();
        s.spawn();
        s
    }

    /// The config file path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("birch.toml")
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn write_config(&self) {
        let mut f = std::fs::File::create(self.config_path()).expect("config");
        writeln!(
            f,
            "listen = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\nsuffix = \"{SUFFIX}\"\n{}\n[argon2]\nm_cost_kib = 1024\nt_cost = 1\nparallelism = 1\n",
            self.port,
            self.data_dir().display(),
            self.extra
        )
        .expect("write config");
    }

    /// Runs `birch` with arguments against this server's config (for offline commands).
    pub fn birch(&self, args: &[&str]) -> std::process::Output {
        Command::new(birch_bin())
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .env("BIRCH_ROOT_PASSWORD", ROOT_PW)
            .output()
            .expect("run birch")
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(birch_bin());
        cmd.arg("serve").arg("--config").arg(self.config_path());
        if self.demo {
            cmd.arg("--demo");
        }
        // The server's log goes to a file in the temp dir; a failing test prints it.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log file");
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let child = cmd
            .env("BIRCH_ROOT_PASSWORD", ROOT_PW)
            .env("BIRCH_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn birch");
        self.child = Some(child);
        self.wait_ready(log_start);
    }

    /// Waits until the server serves: its port answers and it has printed "birch listening"
    /// (after `log_start`, the log's length before this start), which it does once the
    /// suffix entry, the demo data, the pid file and the admin socket are in place.
    fn wait_ready(&mut self, log_start: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if listening(self.port) && self.logged_since(log_start, "birch listening on ldap://") {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                let log = std::fs::read(self.log_path()).unwrap_or_default();
                let start = usize::try_from(log_start).unwrap_or(usize::MAX).min(log.len());
                panic!("birch exited during start-up: {status}\n{}", String::from_utf8_lossy(&log[start..]));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("birch did not start listening within 30 s");
    }

    /// Whether the server's log holds `text` after byte `start`.
    fn logged_since(&self, start: u64, text: &str) -> bool {
        let log = std::fs::read(self.log_path()).unwrap_or_default();
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(log.len());
        String::from_utf8_lossy(&log[start..]).contains(text)
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("running")
    }

    /// SIGKILL, no chance to flush.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("birch did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same data and port.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Runs an ldap-utils command (`ldapsearch`, `ldapwhoami`, ...) against this server.
    pub fn ldap_tool(&self, tool: &str, args: &[&str]) -> std::process::Output {
        Command::new(tool).arg("-H").arg(self.url()).args(args).output().unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    /// The temporary directory of this server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Server {
    /// The audit log's text once `done` holds for it (within 10 s, else as it is then):
    /// records other than writes' reach the file within a few milliseconds
    /// (`birch_server::audit::FLUSH_DELAY`), not before the operation's answer.
    pub fn audit_text_when(&self, done: impl Fn(&str) -> bool) -> String {
        text_when(&self.data_dir().join("audit.log"), done)
    }

    /// Where the server's standard error goes.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("birch.log")
    }
}

/// The text of the file at `path` once `done` holds for it (within 10 s, else as it is then;
/// empty while the file does not exist): for what the server writes soon after an answer
/// (its log, buffered audit records).
pub fn text_when(path: &Path, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) || std::time::Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            if let Ok(log) = std::fs::read_to_string(self.log_path()) {
                eprintln!("--- birch log ({}) ---\n{log}--- end of birch log ---", self.log_path().display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Offline use, captured start-up output, bounded command runs.
// ---------------------------------------------------------------------------------------

/// Lines a child process writes on one of its pipes, read by a thread.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    /// Every line received so far.
    pub seen: Vec<String>,
}

impl Lines {
    pub fn spawn<R: std::io::Read + Send + 'static>(pipe: R) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { rx, seen: Vec::new() }
    }

    /// Reads lines until one contains `needle`; returns the lines read by this call
    /// (the matching one included). Panics on EOF or after `timeout`.
    pub fn until(&mut self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let done = line.contains(needle);
                    got.push(line);
                    if done {
                        return got;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("no line containing {needle:?} within {timeout:?}; got {got:#?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("pipe closed before a line containing {needle:?}; got {got:#?}")
                }
            }
        }
    }
}

impl Server {
    /// Creates the temporary directory and the config of a server without starting it,
    /// for offline commands (`import`, `export`, `check`); start it later with
    /// [`Server::start_existing`].
    pub fn offline(extra: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server { child: None, port: free_port(), dir, extra: extra.to_string(), demo: false, env: vec![] };
        s.write_config();
        s
    }

    /// Sets an environment variable for the server processes started from now on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Starts `birch serve` on the existing data and config (never started, or stopped).
    pub fn start_existing(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.spawn();
    }

    /// Replaces the config file with `text` (verbatim).
    pub fn write_config_text(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config");
    }

    /// The config text the harness writes, with `extra` lines in the middle (line 4).
    pub fn default_config_text(&self) -> String {
        std::fs::read_to_string(self.config_path()).expect("read config")
    }

    /// Starts `birch serve` (no `--demo`) with standard error captured, and with
    /// `BIRCH_ROOT_PASSWORD` set to `root_pw` or removed from the environment. Returns
    /// the stderr lines once the `birch listening` line has been read.
    pub fn start_capturing(&mut self, root_pw: Option<&str>) -> Lines {
        assert!(self.child.is_none(), "already running");
        let mut cmd = Command::new(birch_bin());
        cmd.arg("serve").arg("--config").arg(self.config_path());
        match root_pw {
            Some(pw) => cmd.env("BIRCH_ROOT_PASSWORD", pw),
            None => cmd.env_remove("BIRCH_ROOT_PASSWORD"),
        };
        let mut child = cmd
            .env("BIRCH_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn birch");
        let mut lines = Lines::spawn(child.stderr.take().expect("stderr"));
        self.child = Some(child);
        lines.until("birch listening", Duration::from_secs(30));
        lines
    }

    /// Runs `birch ARGS --config CONFIG` with `BIRCH_ROOT_PASSWORD` set, killing it and
    /// panicking if it has not exited within `timeout`.
    pub fn birch_bounded(&self, args: &[&str], timeout: Duration) -> Output {
        let child = Command::new(birch_bin())
            .args(args)
            .arg("--config")
            .arg(self.config_path())
            .env("BIRCH_ROOT_PASSWORD", ROOT_PW)
            .env("BIRCH_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn birch");
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(timeout) {
            Ok(out) => out.expect("wait for birch"),
            Err(_) => {
                let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
                panic!("`birch {}` did not exit within {timeout:?}", args.join(" "));
            }
        }
    }

    /// Stops the server with SIGTERM and asserts it exited with status 0.
    pub fn stop(&mut self) {
        let status = self.terminate();
        assert!(status.success(), "birch exited with {status} after SIGTERM");
    }
}

// ---------------------------------------------------------------------------------------
// LDAP client helpers (ldap3, async).
// ---------------------------------------------------------------------------------------

/// Upper bound for any single LDAP operation in the tests.
pub const OP_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs a test body with an overall bound so that a hanging server fails the test
/// instead of hanging the suite.
pub async fn bounded<F: std::future::Future>(limit: Duration, f: F) -> F::Output {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| panic!("test did not finish within {limit:?}"))
}

/// An anonymous ldap3 connection (its driver runs on the current runtime).
pub async fn connect(url: &str) -> ldap3::Ldap {
    let settings = ldap3::LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
    let (conn, ldap) = ldap3::LdapConnAsync::with_settings(settings, url).await.expect("connect");
    ldap3::drive!(conn);
    ldap
}

/// A connection bound as `dn`; asserts the bind succeeded.
pub async fn connect_as(url: &str, dn: &str, pw: &str) -> ldap3::Ldap {
    let mut ldap = connect(url).await;
    let res = ldap.with_timeout(OP_TIMEOUT).simple_bind(dn, pw).await.expect("bind");
    assert_eq!(res.rc, 0, "bind as {dn}: {res}");
    ldap
}

/// A connection bound as the demo's workstation service account (`cn=nslcd`), the way
/// nslcd and SSSD read the directory: under the campus policy it reads POSIX, personal and
/// directory attributes of every entry, and anonymous clients read nothing.
pub async fn reader(url: &str) -> ldap3::Ldap {
    connect_as(url, demo::NSLCD, "nslcd-secret").await
}

/// Result code of a simple bind on a fresh connection.
pub async fn bind_rc(url: &str, dn: &str, pw: &str) -> u32 {
    let mut ldap = connect(url).await;
    let res = ldap.with_timeout(OP_TIMEOUT).simple_bind(dn, pw).await.expect("bind");
    let _ = ldap.unbind().await;
    res.rc
}

/// A search: parsed entries and the final result.
pub async fn search(
    ldap: &mut ldap3::Ldap,
    base: &str,
    scope: ldap3::Scope,
    filter: &str,
    attrs: &[&str],
) -> (Vec<ldap3::SearchEntry>, ldap3::LdapResult) {
    let ldap3::SearchResult(entries, res) =
        ldap.with_timeout(OP_TIMEOUT).search(base, scope, filter, attrs.to_vec()).await.expect("search");
    (entries.into_iter().map(ldap3::SearchEntry::construct).collect(), res)
}

/// The DNs of a search that must succeed (rc 0), sorted.
pub async fn search_dns(ldap: &mut ldap3::Ldap, base: &str, scope: ldap3::Scope, filter: &str) -> Vec<String> {
    let (entries, res) = search(ldap, base, scope, filter, &["1.1"]).await;
    assert_eq!(res.rc, 0, "search {filter} under {base}: {res}");
    let mut dns: Vec<String> = entries.into_iter().map(|e| e.dn).collect();
    dns.sort();
    dns
}

/// Sorted owned strings.
pub fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// An LDIF with the suffix entry, `ou=people` and `n` users `uid=userNNNNN` (5 digits,
/// from 1), each with `sn: Imported`, `uidNumber: 20000+i` and the given userPassword.
pub fn users_ldif(n: usize, password: impl Fn(usize) -> String) -> String {
    let mut s = String::from(
        "version: 1\n\ndn: dc=example,dc=org\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\ndn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n",
    );
    for i in 1..=n {
        s.push_str(&format!(
            "dn: uid=user{i:05},ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: user{i:05}\ncn: User {i}\nsn: Imported\nuidNumber: {}\ngidNumber: 20000\nhomeDirectory: /home/user{i:05}\nuserPassword: {}\n\n",
            20000 + i,
            password(i)
        ));
    }
    s
}

/// Runs LDIF change records with ldapmodify against `url` as the root DN; they must all
/// succeed.
pub fn ldapmodify(url: &str, ldif: &str) {
    use std::io::Write;
    let mut child = Command::new("ldapmodify")
        .args(["-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PW])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ldapmodify");
    child.stdin.take().expect("stdin").write_all(ldif.as_bytes()).expect("write ldif");
    let out = child.wait_with_output().expect("ldapmodify");
    assert!(out.status.success(), "ldapmodify on {url}: {}\n{ldif}", String::from_utf8_lossy(&out.stderr));
}

/// `ldapsearch -LLL -o ldif-wrap=no` output normalized for comparing two servers' trees:
/// one string per entry (its DN, then its sorted `name:value` lines, names lower-cased,
/// userPassword left out), entries sorted.
pub fn normalized_entries(ldif: &str) -> Vec<String> {
    let mut entries: Vec<String> = ldif
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let dn = lines.next().unwrap_or_default().to_ascii_lowercase();
            let mut attrs: Vec<String> = lines
                .filter_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    let name = name.to_ascii_lowercase();
                    (name != "userpassword").then(|| format!("{name}:{value}"))
                })
                .collect();
            attrs.sort();
            format!("{dn}\n{}", attrs.join("\n"))
        })
        .collect();
    entries.sort();
    entries
}

/// DNs of the demo campus (`birch serve --demo`, see crates/server/src/demo.rs).
pub mod demo {
    /// uid=hana, the helpdesk member [`super::add_helpdesk_member`] adds (not in the demo).
    pub const HANA: &str = "uid=hana,ou=people,dc=example,dc=org";
    /// hana's own password, once she has changed the one the root DN set.
    pub const HANA_PW: &str = "hana-own-secret";
    /// The helpdesk group [`super::add_helpdesk_member`] adds (not in the demo).
    pub const HELPDESK: &str = "cn=helpdesk,ou=groups,dc=example,dc=org";
    /// uid=alice (password alice-secret), member of it-admins and staff.
    pub const ALICE: &str = "uid=alice,ou=people,dc=example,dc=org";
    /// uid=bob (password bob-secret), member of staff.
    pub const BOB: &str = "uid=bob,ou=people,dc=example,dc=org";
    /// uid=chenwei (password chenwei-secret, cn 陈伟), member of students.
    pub const CHENWEI: &str = "uid=chenwei,ou=people,dc=example,dc=org";
    /// The workstation service account (password nslcd-secret).
    pub const NSLCD: &str = "cn=nslcd,ou=services,dc=example,dc=org";
    /// ou=people.
    pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
    /// ou=groups.
    pub const GROUPS: &str = "ou=groups,dc=example,dc=org";
    /// ou=services.
    pub const SERVICES: &str = "ou=services,dc=example,dc=org";
    /// The posixGroup staff (memberUid alice, bob).
    pub const STAFF: &str = "cn=staff,ou=groups,dc=example,dc=org";
    /// The posixGroup students (memberUid chenwei).
    pub const STUDENTS: &str = "cn=students,ou=groups,dc=example,dc=org";
    /// The groupOfNames it-admins (member alice).
    pub const IT_ADMINS: &str = "cn=it-admins,ou=groups,dc=example,dc=org";
}

/// `GET /metrics` on 127.0.0.1:`port`: the whole HTTP response. Retries the connection for up
/// to five seconds (the metrics listener may come up just after the LDAP one).
pub fn scrape_metrics(port: u16) -> String {
    use std::io::Read;
    let mut tries = 0;
    let mut c = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("metrics port {port}: {e}"),
        }
    };
    c.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("request");
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

/// Adds `uid=hana` ([`demo::HANA`]) to the demo as a member of a new groupOfNames
/// `cn=helpdesk` ([`demo::HELPDESK`]), and has her replace the password the root DN set
/// (which must be changed first) with [`demo::HANA_PW`].
pub async fn add_helpdesk_member(url: &str) {
    use ldap3::exop::PasswordModify;
    use std::collections::HashSet;
    let mut root = connect_as(url, ROOT_DN, ROOT_PW).await;
    let hana = vec![
        ("objectClass", HashSet::from(["inetOrgPerson", "posixAccount"])),
        ("uid", HashSet::from(["hana"])),
        ("cn", HashSet::from(["Hana Help"])),
        ("sn", HashSet::from(["Help"])),
        ("uidNumber", HashSet::from(["10009"])),
        ("gidNumber", HashSet::from(["10001"])),
        ("homeDirectory", HashSet::from(["/home/hana"])),
        ("userPassword", HashSet::from(["hana-secret"])),
    ];
    assert_eq!(root.add(demo::HANA, hana).await.expect("add hana").rc, 0);
    let group = vec![
        ("objectClass", HashSet::from(["groupOfNames"])),
        ("cn", HashSet::from(["helpdesk"])),
        ("member", HashSet::from([demo::HANA])),
    ];
    assert_eq!(root.add(demo::HELPDESK, group).await.expect("add helpdesk").rc, 0);
    let mut l = connect_as(url, demo::HANA, "hana-secret").await;
    let change = PasswordModify { user_id: None, old_pass: Some("hana-secret"), new_pass: Some(demo::HANA_PW) };
    assert_eq!(l.extended(change).await.expect("passwd").1.rc, 0);
}

/// The values of `attr` of `dn`, read by the root DN at `url` (operational attributes by
/// name); empty when the entry lacks it.
pub async fn root_values(url: &str, dn: &str, attr: &str) -> Vec<String> {
    let mut root = connect_as(url, ROOT_DN, ROOT_PW).await;
    let (es, res) = search(&mut root, dn, ldap3::Scope::Base, "(objectClass=*)", &[attr]).await;
    assert_eq!(res.rc, 0, "read {dn}: {res}");
    es.into_iter()
        .next()
        .and_then(|e| e.attrs.into_iter().find(|(k, _)| k.eq_ignore_ascii_case(attr)))
        .map(|(_, v)| v)
        .unwrap_or_default()
}
