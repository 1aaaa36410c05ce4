//! Replication (RFC 4533 Content Synchronization), black box: Birch as provider to
//! `ldapsearch -E sync=…`, to OpenLDAP slapd and to another Birch; Birch as consumer of
//! slapd (syncprov) and of Birch; and a consumer that survives being killed during its
//! refresh, a provider restart, dropped connections and deletes made while it was away.
//! Trees are compared as ldapsearch dumps of the user attributes (names lower-cased, values
//! and entries sorted), polled until equal within a bound.

mod common;

use common::*;
#[path = "common/relay.rs"]
mod relay;
use relay::Relay;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long two servers get to agree.
const CONVERGE: Duration = Duration::from_secs(60);

/// A userPassword made by `slappasswd -h '{SSHA}' -s user-secret`.
const SSHA: &str = "{SSHA}4UuzESLajbqUypNOrvE9qxOSwSITaaST";

// ---------------------------------------------------------------------------------------
// slapd (Debian's package) on a loopback port, with a temporary slapd.conf.
// ---------------------------------------------------------------------------------------

struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Slapd {
    /// Writes the config (`db_tail` ends the database section), loads `ldif` with slapadd
    /// when given, and starts slapd.
    fn start(db_tail: &str, ldif: Option<&str>) -> Slapd {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
# for their attribute types: Birch sends pwdChangedTime and the like, and memberOf (which
# the consumer leaves out with exattrs)
moduleload memberof
moduleload ppolicy
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
database mdb
maxsize 104857600
dbnosync
suffix \"{SUFFIX}\"
rootdn \"{ROOT_DN}\"
rootpw {ROOT_PW}
directory {d}/data
index objectClass eq
index entryUUID,entryCSN eq
{db_tail}
"
        );
        std::fs::write(dir.path().join("slapd.conf"), conf).expect("slapd.conf");
        let mut s = Slapd { dir, port: free_port(), child: None };
        if let Some(ldif) = ldif {
            let path = s.dir.path().join("init.ldif");
            std::fs::write(&path, ldif).expect("ldif");
            let out = Command::new("/usr/sbin/slapadd")
                .arg("-q")
                .arg("-f")
                .arg(s.conf())
                .arg("-l")
                .arg(&path)
                .output()
                .expect("slapadd");
            assert!(out.status.success(), "slapadd: {}", String::from_utf8_lossy(&out.stderr));
        }
        s.spawn();
        s
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slapd.conf")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("slapd.log")
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log()).expect("log");
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(self.conf())
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{}/", self.port))
            .args(["-d", "sync"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn slapd (is the slapd package installed? scripts/test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ok = Command::new("ldapsearch")
                .args(["-x", "-H", &self.url(), "-s", "base", "-b", "", "-LLL", "1.1"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "slapd exited during start-up: {status}\n{}",
                    std::fs::read_to_string(self.log()).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("slapd did not answer within 30 s");
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- slapd log ---\n{}--- end ---", std::fs::read_to_string(self.log()).unwrap_or_default());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dumps, workloads, convergence.
// ---------------------------------------------------------------------------------------

/// The tree as `ldapsearch -LLL '*'` shows it to the root DN, normalized: one string per
/// entry (DN, then its sorted `attr: value` lines, names lower-cased), entries sorted.
/// userPassword is left out (Birch shows it to nobody); `also` adds attributes by name.
fn dump(url: &str, also: &[&str]) -> Vec<String> {
    let mut args = vec!["-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PW, "-b", SUFFIX, "-LLL", "-o", "ldif-wrap=no", "*"];
    args.extend_from_slice(also);
    let out = Command::new("ldapsearch").args(&args).output().expect("ldapsearch");
    if !out.status.success() {
        return vec![format!("ldapsearch failed: {}", String::from_utf8_lossy(&out.stderr))];
    }
    common::normalized_entries(&String::from_utf8_lossy(&out.stdout))
}

/// Polls until both servers show the same tree (at most [`CONVERGE`]), then asserts it.
fn converge(what: &str, a: &str, b: &str, also: &[&str]) -> usize {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let (da, db) = (dump(a, also), dump(b, also));
        if da == db {
            return da.len();
        }
        if Instant::now() > deadline {
            let only_a: Vec<_> = da.iter().filter(|e| !db.contains(e)).take(5).collect();
            let only_b: Vec<_> = db.iter().filter(|e| !da.contains(e)).take(5).collect();
            panic!("{what}: {a} and {b} did not converge ({} vs {} entries)\nonly on {a}: {only_a:#?}\nonly on {b}: {only_b:#?}", da.len(), db.len());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The suffix and ou=people (for slapadd).
fn base_ldif() -> String {
    format!(
        "dn: {SUFFIX}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\ndn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n"
    )
}

/// A mixed write workload, different for each `round`: an OU, users added, modified,
/// renamed, moved between OUs, an OU renamed with its children, groups, deletes; 18
/// entries are left of each round.
fn workload(url: &str, round: usize) {
    let p = format!("ou=people,{SUFFIX}");
    let team = format!("ou=team{round},{SUFFIX}");
    let mut l = format!("dn: {team}\nchangetype: add\nobjectClass: organizationalUnit\nou: team{round}\n\n");
    let user = |i: usize| format!("uid=w{round}x{i},{p}");
    for i in 0..24 {
        l += &format!(
            "dn: {}\nchangetype: add\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: w{round}x{i}\ncn: Worker {round} {i}\nsn: Round{round}\nuidNumber: {}\ngidNumber: 100\nhomeDirectory: /home/w{round}x{i}\nuserPassword: {SSHA}\n\n",
            user(i),
            30000 + round * 100 + i
        );
    }
    for i in 0..8 {
        l += &format!("dn: {}\nchangetype: modify\nreplace: description\ndescription: changed in round {round}\n-\nadd: mail\nmail: w{round}x{i}@example.org\n\n", user(i));
    }
    for i in 8..12 {
        l += &format!("dn: {}\nchangetype: modrdn\nnewrdn: uid=r{round}x{i}\ndeleteoldrdn: 1\n\n", user(i));
    }
    for i in 12..16 {
        l += &format!(
            "dn: {}\nchangetype: modrdn\nnewrdn: uid=w{round}x{i}\ndeleteoldrdn: 1\nnewsuperior: {team}\n\n",
            user(i)
        );
    }
    l += &format!(
        "dn: cn=g{round},{SUFFIX}\nchangetype: add\nobjectClass: groupOfNames\ncn: g{round}\nmember: {}\nmember: {}\n\n",
        user(0),
        user(1)
    );
    // The OU with four moved users is renamed: its subtree follows.
    l += &format!("dn: {team}\nchangetype: modrdn\nnewrdn: ou=crew{round}\ndeleteoldrdn: 1\n\n");
    for i in 16..22 {
        l += &format!("dn: {}\nchangetype: delete\n\n", user(i));
    }
    l += &format!("dn: uid=r{round}x8,{p}\nchangetype: delete\n\n");
    l += &format!("dn: uid=w{round}x12,ou=crew{round},{SUFFIX}\nchangetype: delete\n\n");
    ldapmodify(url, &l);
}

fn replica_config(provider: &str, server_id: u16) -> String {
    format!(
        "[replication]\nserver_id = {server_id}\nprovider = \"{provider}\"\nbind_dn = \"{ROOT_DN}\"\nbind_password = \"{ROOT_PW}\"\nretry_initial_ms = 100\nretry_max_ms = 1000\n"
    )
}

fn ldapsearch(url: &str, extra: &[&str]) -> String {
    ldapsearch_at(url, SUFFIX, extra)
}

fn ldapsearch_at(url: &str, base: &str, extra: &[&str]) -> String {
    let mut args = vec!["-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PW, "-b", base, "-o", "ldif-wrap=no"];
    args.extend_from_slice(extra);
    let out = Command::new("ldapsearch").args(&args).output().expect("ldapsearch");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A cookie line of ldapsearch's output (`# cookie: …`).
fn last_cookie(out: &str) -> String {
    out.lines().rev().find_map(|l| l.strip_prefix("# cookie: ")).expect("a cookie").to_string()
}

// ---------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------

/// The provider as ldapsearch sees it: refreshOnly with and without a cookie (changed
/// entries whole, others present, deletes found by absence), an up-to-date cookie (empty
/// delete phase), and refreshAndPersist following live changes.
#[test]
fn ldapsearch_sync_refresh_and_persist() {
    let server = Server::empty();
    let url = server.url();
    ldapmodify(
        &url,
        &format!("dn: ou=people,{SUFFIX}\nchangetype: add\nobjectClass: organizationalUnit\nou: people\n\n"),
    );
    workload(&url, 1);
    let entries = dump(&url, &[]).len();

    let full = ldapsearch(&url, &["-E", "sync=ro", "1.1"]);
    assert_eq!(full.matches("# SyncState control").count(), entries, "{full}");
    assert_eq!(full.matches(" added").count(), entries, "{full}");
    assert!(full.contains("SyncDone control refreshDeletes=0"), "{full}");
    let cookie = last_cookie(&full);
    assert!(cookie.starts_with("csn=") && cookie.ends_with("#001#000000"), "{cookie}");

    // Up to date: nothing sent, an (empty) delete phase.
    let same = ldapsearch(&url, &["-E", &format!("sync=ro/{cookie}"), "1.1"]);
    assert_eq!(same.matches("# SyncState control").count(), 0, "{same}");
    assert!(same.contains("SyncDone control refreshDeletes=1"), "{same}");

    // One change and one delete: the changed entry whole, the rest present, the deleted
    // one absent.
    let bob = format!("uid=w1x1,ou=people,{SUFFIX}");
    ldapmodify(&url, &format!("dn: {bob}\nchangetype: modify\nreplace: sn\nsn: Changed\n\ndn: uid=w1x2,ou=people,{SUFFIX}\nchangetype: delete\n\n"));
    let after = ldapsearch(&url, &["-E", &format!("sync=ro/{cookie}"), "sn"]);
    assert_eq!(after.matches(" added").count(), 1, "{after}");
    assert_eq!(after.matches(" present").count(), entries - 2, "{after}");
    assert!(after.contains("sn: Changed"), "{after}");
    assert!(!after.contains("uid=w1x2,"), "{after}");
    assert!(after.contains("SyncDone control refreshDeletes=0"), "{after}");
    let cookie2 = last_cookie(&after);
    assert!(cookie2 > cookie, "{cookie2} after {cookie}");

    // refreshAndPersist: the refresh, then live changes until ldapsearch is stopped.
    let mut persist = Command::new("ldapsearch")
        .args(["-x", "-H", &url, "-D", ROOT_DN, "-w", ROOT_PW, "-b", SUFFIX, "-o", "ldif-wrap=no"])
        .args(["-E", &format!("sync=rp/{cookie2}"), "sn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ldapsearch sync=rp");
    let mut lines = Lines::spawn(persist.stdout.take().expect("stdout"));
    lines.until("refresh done, switching to persist stage", Duration::from_secs(20));
    ldapmodify(&url, &format!("dn: {bob}\nchangetype: modify\nreplace: sn\nsn: Live\n\ndn: uid=w1x3,ou=people,{SUFFIX}\nchangetype: delete\n\n"));
    let seen = lines.until(" deleted", Duration::from_secs(20)).join("\n");
    assert!(seen.contains("sn: Live"), "{seen}");
    assert!(seen.contains(&format!("dn: {bob}")), "{seen}");
    assert!(seen.contains(" modified"), "{seen}");
    assert!(seen.contains(&format!("dn: uid=w1x3,ou=people,{SUFFIX}").to_ascii_lowercase()), "{seen}");
    let _ = persist.kill();
    let _ = persist.wait();
}

/// slapd with a syncrepl consumer follows a Birch provider: initial refresh, then a
/// mixed workload in the persist stage, then a provider restart and more writes.
#[test]
fn slapd_replicates_from_birch() {
    let mut provider = Server::empty();
    let url = provider.url();
    ldapmodify(
        &url,
        &format!("dn: ou=people,{SUFFIX}\nchangetype: add\nobjectClass: organizationalUnit\nou: people\n\n"),
    );
    workload(&url, 1);
    let slapd = Slapd::start(
        &format!(
            "syncrepl rid=001 provider={url} bindmethod=simple binddn=\"{ROOT_DN}\" credentials={ROOT_PW} searchbase=\"{SUFFIX}\" type=refreshAndPersist retry=\"1 +\" attrs=\"*,+\" exattrs=\"memberOf\" schemachecking=off"
        ),
        None,
    );
    converge("initial refresh", &url, &slapd.url(), &["entryUUID"]);
    workload(&url, 2);
    converge("persist", &url, &slapd.url(), &["entryUUID"]);
    provider.restart();
    workload(&url, 3);
    let n = converge("after a provider restart", &url, &slapd.url(), &["entryUUID"]);
    assert_eq!(n, 2 + 3 * 18, "suffix, people, and 18 entries left by each round");
    // Same contextCSN on both sides.
    let csn = |u: &str| {
        ldapsearch(u, &["-s", "base", "-LLL", "contextCSN"])
            .lines()
            .find(|l| l.starts_with("contextCSN:"))
            .map(str::to_string)
    };
    assert!(csn(&url).is_some());
    assert_eq!(csn(&url), csn(&slapd.url()));
    // userPassword went along (the root DN's sync search gets it): a user binds on slapd.
    let who = Command::new("ldapwhoami")
        .args(["-x", "-H", &slapd.url(), "-D", &format!("uid=w3x0,ou=people,{SUFFIX}"), "-w", "user-secret"])
        .output()
        .expect("ldapwhoami");
    assert!(who.status.success(), "{}", String::from_utf8_lossy(&who.stderr));
}

/// A Birch replica follows slapd with syncprov; the replica refers writes to it.
#[test]
fn birch_replicates_from_slapd() {
    let slapd = Slapd::start("overlay syncprov\nsyncprov-checkpoint 100 10", Some(&base_ldif()));
    workload(&slapd.url(), 1);
    let replica = Server::start_with(&replica_config(&slapd.url(), 2), false);
    converge("initial refresh", &slapd.url(), &replica.url(), &["entryUUID"]);
    workload(&slapd.url(), 2);
    converge("persist", &slapd.url(), &replica.url(), &["entryUUID"]);
    // Writes on the replica: referral to the provider.
    let out = Command::new("ldapdelete")
        .args(["-x", "-H", &replica.url(), "-D", ROOT_DN, "-w", ROOT_PW, &format!("uid=w1x0,ou=people,{SUFFIX}")])
        .output()
        .expect("ldapdelete");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Referral (10)") && text.contains(&slapd.url()), "{text}");
    // Passwords replicate: a user binds on the replica.
    let who = Command::new("ldapwhoami")
        .args(["-x", "-H", &replica.url(), "-D", &format!("uid=w2x0,ou=people,{SUFFIX}"), "-w", "user-secret"])
        .output()
        .expect("ldapwhoami");
    assert!(who.status.success(), "{}", String::from_utf8_lossy(&who.stderr));
}

/// A Birch replica of a Birch provider converges after every failure: killed during its
/// refresh, connections cut (and refused for a while) during writes, stopped while entries
/// are deleted, the provider killed and restarted.
#[test]
fn birch_replica_converges_after_failures() {
    let mut provider = Server::offline("");
    let ldif = users_ldif(3000, |_| SSHA.to_string());
    let path = provider.dir().join("users.ldif");
    std::fs::write(&path, ldif).expect("ldif");
    let out = provider.birch(&["import", path.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    provider.start_existing();
    let relay = Relay::start(provider.port);
    let mut replica = Server::start_with(&replica_config(&relay.url(), 2), false);

    // Killed as soon as it has applied something of the 3002-entry refresh.
    let deadline = Instant::now() + Duration::from_secs(30);
    while replica_applied(&replica) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    replica.kill9();
    replica.start_existing();
    assert_eq!(converge("refresh after kill -9", &provider.url(), &replica.url(), &["entryUUID"]), 3002);

    workload(&provider.url(), 1);
    converge("persist", &provider.url(), &replica.url(), &["entryUUID"]);

    // The network fails: connections dropped and refused during a workload.
    relay.cut(true);
    workload(&provider.url(), 2);
    relay.up();
    converge("after a network cut", &provider.url(), &replica.url(), &["entryUUID"]);
    relay.cut(false);
    workload(&provider.url(), 3);
    converge("after dropped connections", &provider.url(), &replica.url(), &["entryUUID"]);

    // Deletes while the replica is down: found by the present phase.
    replica.stop();
    let mut deletes = String::new();
    for i in (1..=3000).step_by(7) {
        deletes += &format!("dn: uid=user{i:05},ou=people,{SUFFIX}\nchangetype: delete\n\n");
    }
    ldapmodify(&provider.url(), &deletes);
    replica.start_existing();
    converge("deletes while away", &provider.url(), &replica.url(), &["entryUUID"]);

    // The provider dies and comes back.
    provider.restart();
    workload(&provider.url(), 4);
    let n = converge("after a provider restart", &provider.url(), &replica.url(), &["entryUUID"]);
    assert_eq!(n, 3002 - 429 + 4 * 18);
    // Passwords came along (the root DN's sync search gets userPassword): users bind on
    // the replica, and it keeps no bind bookkeeping of its own (no rehash, no local CSN).
    for dn in [format!("uid=user00002,ou=people,{SUFFIX}"), format!("uid=w4x0,ou=people,{SUFFIX}")] {
        let who = Command::new("ldapwhoami")
            .args(["-x", "-H", &replica.url(), "-D", &dn, "-w", "user-secret"])
            .output()
            .expect("ldapwhoami");
        assert!(who.status.success(), "{dn}: {}", String::from_utf8_lossy(&who.stderr));
    }
    converge("after binds on the replica", &provider.url(), &replica.url(), &["entryUUID", "entryCSN"]);
    // The replica's store is consistent (indexes, entryUUID index).
    replica.stop();
    let check = replica.birch(&["check"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

/// The replica's count of applied entries (cn=Applied,cn=Replication,cn=Monitor).
fn replica_applied(replica: &Server) -> u64 {
    let out = ldapsearch_at(
        &replica.url(),
        "cn=Applied,cn=Replication,cn=Monitor",
        &["-s", "base", "-LLL", "monitorCounter"],
    );
    out.lines().find_map(|l| l.strip_prefix("monitorCounter: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}
