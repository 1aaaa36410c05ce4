//! Running Debian's real LDAP clients (nslcd, SSSD, FreeRADIUS, pamtester, getent) against a
//! Birch started by the test, without touching the host.
//!
//! Every client runs inside a private mount namespace (`unshare --mount`) in which the fixed
//! paths the clients insist on (`/etc/nslcd.conf`, `/run`, `/var/lib/sss`, `/var/log/sssd`,
//! `/etc/pam.d`) are bind mounts of files in the test's temporary directory. The host's
//! `/etc/nsswitch.conf`, PAM files and sockets are never written, and tests cannot collide with
//! each other or with a daemon of the host. Daemons run in the foreground and are killed by
//! their process id when the test ends; the namespace holder lives at most ten minutes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one client command may run before `timeout` kills it.
const CMD_SECS: &str = "60";
/// How long a daemon (and the namespace) may live, even if the test process is killed.
const DAEMON_SECS: &str = "1800";

/// Panics (the test fails, loudly) unless we are root and `bins` are installed.
pub fn require(bins: &[&str]) {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the client tests run the real daemons in a private mount namespace and need root"
    );
    for b in bins.iter().chain(&["unshare", "nsenter", "timeout"]) {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {b}")).output().expect("sh");
        assert!(
            found.status.success(),
            "`{b}` is missing: scripts/test installs the client packages (nslcd libnss-ldapd libpam-ldapd \
             pamtester sssd-ldap freeradius freeradius-ldap freeradius-utils)"
        );
    }
}

/// A private mount namespace, held open by a `sleep` process.
pub struct Namespace {
    holder: Child,
    daemons: Vec<Child>,
}

impl Namespace {
    /// Creates the namespace with `binds` (source, target) bind-mounted in it.
    pub fn new(binds: &[(&Path, &str)]) -> Namespace {
        let mut script = String::new();
        for (src, dst) in binds {
            script.push_str(&format!("mount --bind '{}' '{dst}' && ", src.display()));
        }
        script.push_str(&format!("echo ready && exec sleep {DAEMON_SECS}"));
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare");
        let mut line = String::new();
        let out = holder.stdout.take().expect("stdout");
        BufReader::new(out).read_line(&mut line).expect("read unshare");
        assert_eq!(line.trim(), "ready", "the mount namespace could not be set up");
        Namespace { holder, daemons: Vec::new() }
    }

    /// A command that runs `args` inside the namespace, killed after a minute.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_for(CMD_SECS, args)
    }

    /// A command that runs `args` inside the namespace, killed after `secs` seconds.
    pub fn command_for(&self, secs: &str, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t").arg(self.holder.id().to_string()).args(["-m", "--", "timeout", secs]).args(args);
        c
    }

    /// Runs `args` in the namespace with `stdin` as standard input.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_command(self.command(args), stdin)
    }

    /// Runs a prepared command with `stdin` as standard input.
    pub fn run_command(&self, mut c: Command, stdin: &str) -> Output {
        use std::io::Write;
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{c:?}: {e}"));
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.as_bytes());
        }
        child.wait_with_output().expect("wait")
    }

    /// Starts a daemon in the namespace under `timeout` (which passes SIGTERM on and ends
    /// the daemon after half an hour even if the test process dies), with its standard
    /// output and error in `log`.
    pub fn daemon(&mut self, args: &[&str], log: &Path) {
        let f = std::fs::File::create(log).expect("log file");
        let child = Command::new("nsenter")
            .arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-m", "--", "timeout", DAEMON_SECS])
            .args(args)
            .stdout(f.try_clone().expect("dup"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        self.daemons.push(child);
    }

    /// Panics unless every daemon started is still running (it would have died on a bad
    /// configuration).
    pub fn assert_daemons_alive(&mut self) {
        for d in &mut self.daemons {
            assert!(matches!(d.try_wait(), Ok(None)), "a client daemon exited early: {:?}", d.try_wait());
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            // SIGTERM lets the daemon (and SSSD its children) stop; SIGKILL if it lingers.
            let _ = Command::new("kill").arg("-TERM").arg(d.id().to_string()).status();
            let start = Instant::now();
            while matches!(d.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Waits until `path` exists, or panics after `limit` with `why`.
pub fn wait_for_path(path: &Path, limit: Duration, why: &str) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < limit, "{why}: {} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the file at `log` contains `needle`, or panics after `limit` showing the log.
pub fn wait_for_log(log: &Path, needle: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        if start.elapsed() > limit {
            let tail: String =
                text.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            panic!("{} never said {needle:?}; its last lines:\n{tail}", log.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Standard output of a command as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Both outputs of a command, for assertion messages.
pub fn both(o: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", o.status, stdout(o), String::from_utf8_lossy(&o.stderr))
}

/// Sorted non-empty lines.
pub fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().filter(|l| !l.is_empty()).map(String::from).collect();
    v.sort();
    v
}

/// A copy of the host's /etc/pam.d in `dir`, plus `birch-test-<name>` files with `body`;
/// bind-mounted over /etc/pam.d inside the namespace, so the host's PAM files stay untouched.
pub fn pam_dir(dir: &Path, services: &[(&str, &str)]) -> PathBuf {
    let pam = dir.join("pam.d");
    let cp = Command::new("cp").arg("-a").arg("/etc/pam.d/.").arg(&pam).output().expect("cp");
    assert!(cp.status.success() || std::fs::create_dir_all(&pam).is_ok(), "{}", both(&cp));
    std::fs::create_dir_all(&pam).expect("pam dir");
    for (name, body) in services {
        std::fs::write(pam.join(format!("birch-test-{name}")), body).expect("pam service");
    }
    pam
}

/// Writes `text` to `path` with mode 0600 (nslcd and SSSD refuse readable secrets).
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Makes directories with the given modes.
pub fn mkdirs(dirs: &[(&Path, u32)]) {
    use std::os::unix::fs::PermissionsExt;
    for (d, mode) in dirs {
        std::fs::create_dir_all(d).expect("mkdir");
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(*mode)).expect("chmod");
    }
}

/// Days since 1970-01-01 (the unit of shadowLastChange).
pub fn epoch_days() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0)
}

/// A CA and a server certificate for 127.0.0.1 and localhost, as PEM files in `dir`:
/// (ca file, cert file, key file).
pub fn lab_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.distinguished_name.push(DnType::CommonName, "Birch client tests CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca).expect("sign");
    let (ca_file, cert_file, key_file) = (dir.join("ca.crt"), dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&ca_file, ca.pem()).expect("write");
    std::fs::write(&cert_file, cert.pem()).expect("write");
    std::fs::write(&key_file, key.serialize_pem()).expect("write");
    (ca_file, cert_file, key_file)
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// A free loopback UDP port (for RADIUS).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("port")
}
