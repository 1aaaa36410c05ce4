//! Multi-provider replication (issue #28), black box: two and three writable Birch servers
//! following each other (a pair, a ring, a full mesh) with writes on all of them converge to
//! identical trees; concurrent changes of one entry during a network cut resolve the same
//! way on both sides (per attribute: changes of different attributes, a rename and a
//! modify, all stay; of one attribute the later wins) and dropped ones are counted; a server killed with SIGKILL during writes catches
//! up; a lockout made on one server holds on the other. Trees are compared as ldapsearch
//! dumps (names lower-cased, values and entries sorted), polled until equal within a bound;
//! `birch check` runs on every data directory at the end.

mod common;

use common::*;
#[path = "common/relay.rs"]
mod relay;
use relay::Relay;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long servers get to agree.
const CONVERGE: Duration = Duration::from_secs(30);
/// A userPassword made by `slappasswd -h '{SSHA}' -s user-secret`.
const SSHA: &str = "{SSHA}4UuzESLajbqUypNOrvE9qxOSwSITaaST";

/// Writable servers following each other.
struct Cluster {
    nodes: Vec<Server>,
    metrics: Vec<u16>,
    relays: Vec<Relay>,
}

impl Cluster {
    /// `n` servers (server ids 1..=n); `links` lists (follower, followed); with `relayed`,
    /// every link goes through a [`Relay`] (in the order of `links`). `extra` goes into
    /// every config.
    fn start(n: usize, links: &[(usize, usize)], relayed: bool, extra: &str) -> Cluster {
        Cluster::start_with(n, links, relayed, extra, "")
    }

    /// [`Cluster::start`] with `replication` lines added to every `[replication]` section.
    fn start_with(n: usize, links: &[(usize, usize)], relayed: bool, extra: &str, replication: &str) -> Cluster {
        let metrics: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut nodes: Vec<Server> = metrics
            .iter()
            .map(|m| Server::offline(&format!("{extra}\n[metrics]\nlisten = \"127.0.0.1:{m}\"\n")))
            .collect();
        let relays: Vec<Relay> = if relayed {
            links
                .iter()
                .map(|(_, to)| Relay::start(nodes[*to].url().rsplit(':').next().unwrap().parse().unwrap()))
                .collect()
        } else {
            Vec::new()
        };
        for (i, node) in nodes.iter().enumerate() {
            let mut text = node.default_config_text();
            text += &format!(
                "\n[replication]\nserver_id = {}\nretry_initial_ms = 100\nretry_max_ms = 500\n{replication}",
                i + 1
            );
            for (k, (from, to)) in links.iter().enumerate() {
                if *from != i {
                    continue;
                }
                let url = if relayed { relays[k].url() } else { nodes[*to].url() };
                text += &format!(
                    "[[replication.providers]]\nurl = \"{url}\"\nbind_dn = \"{ROOT_DN}\"\nbind_password = \"{ROOT_PW}\"\n"
                );
            }
            node.write_config_text(&text);
        }
        for node in &mut nodes {
            // The tombstone purge's INFO line too (tested below).
            node.set_env("BIRCH_LOG", "warn,birch_server::replica::purge=info");
            node.start_existing();
        }
        Cluster { nodes, metrics, relays }
    }

    fn url(&self, i: usize) -> String {
        self.nodes[i].url()
    }

    /// Polls until every server shows the same tree, then returns its size.
    fn converge(&self, what: &str) -> usize {
        let deadline = Instant::now() + CONVERGE;
        loop {
            let dumps: Vec<Vec<String>> = (0..self.nodes.len()).map(|i| dump(&self.url(i))).collect();
            if dumps.iter().all(|d| *d == dumps[0]) {
                return dumps[0].len();
            }
            if Instant::now() > deadline {
                for (i, d) in dumps.iter().enumerate().skip(1) {
                    let only_0: Vec<_> = dumps[0].iter().filter(|e| !d.contains(e)).take(4).collect();
                    let only_i: Vec<_> = d.iter().filter(|e| !dumps[0].contains(e)).take(4).collect();
                    eprintln!(
                        "{what}: server 0 vs {i}: {} vs {} entries\nonly on 0: {only_0:#?}\nonly on {i}: {only_i:#?}",
                        dumps[0].len(),
                        d.len()
                    );
                }
                panic!("{what}: the servers did not converge within {CONVERGE:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs [`workload`] on every server at once (site `i` on server `i`).
    fn workload_everywhere(&self) {
        let threads: Vec<_> = (0..self.nodes.len())
            .map(|i| {
                let u = self.url(i);
                std::thread::spawn(move || workload(&u, i))
            })
            .collect();
        for t in threads {
            t.join().expect("workload");
        }
    }

    /// Stops every server and runs `birch check` on each data directory.
    fn check_all(&mut self) {
        for node in &mut self.nodes {
            node.terminate();
            let out = node.birch_bounded(&["check"], Duration::from_secs(30));
            assert!(out.status.success(), "birch check: {}", String::from_utf8_lossy(&out.stdout));
        }
    }

    /// The value of the unlabelled metric `name` on server `i` (0 when absent).
    fn metric(&self, i: usize, name: &str) -> u64 {
        scrape_metrics(self.metrics[i])
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok())
            .unwrap_or(0)
    }

    /// Polls until `ok` holds, or fails naming `what`.
    fn wait_for(&self, what: &str, ok: impl Fn(&Cluster) -> bool) {
        let deadline = Instant::now() + CONVERGE;
        while !ok(self) {
            assert!(Instant::now() < deadline, "{what}: not within {CONVERGE:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `birch_replication_conflicts_total` summed over the peers of server `i`.
    fn conflicts(&self, i: usize) -> u64 {
        scrape_metrics(self.metrics[i])
            .lines()
            .filter(|l| l.starts_with("birch_replication_conflicts_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

/// The tree as `ldapsearch -LLL '*' +` shows it to the root DN, normalized, without the
/// attributes every server computes for itself (contextCSN) and userPassword; entryUUID and
/// entryCSN stay, so the same versions must have won everywhere.
fn dump(url: &str) -> Vec<String> {
    let args = [
        "-x",
        "-H",
        url,
        "-D",
        ROOT_DN,
        "-w",
        ROOT_PW,
        "-b",
        SUFFIX,
        "-LLL",
        "-o",
        "ldif-wrap=no",
        "*",
        "entryUUID",
        "entryCSN",
        "memberOf",
    ];
    let out = Command::new("ldapsearch").args(args).output().expect("ldapsearch");
    if !out.status.success() {
        return vec![format!("ldapsearch failed: {}", String::from_utf8_lossy(&out.stderr))];
    }
    common::normalized_entries(&String::from_utf8_lossy(&out.stdout))
}

/// Waits until the suffix entry shows on server `url` (the start-up's own suffix entry and
/// its peers' have met).
fn wait_ready(url: &str) {
    let deadline = Instant::now() + CONVERGE;
    while dump(url).first().is_none_or(|e| e.starts_with("ldapsearch failed")) {
        assert!(Instant::now() < deadline, "{url} never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A mixed workload of its own for `site`: an OU, users added, modified, renamed, moved,
/// a group, deletes; 10 entries remain.
fn workload(url: &str, site: usize) {
    let ou = format!("ou=site{site},{SUFFIX}");
    let mut l = format!("dn: {ou}\nchangetype: add\nobjectClass: organizationalUnit\nou: site{site}\n\n");
    let user = |i: usize| format!("uid=s{site}u{i},{ou}");
    for i in 0..10 {
        l += &format!(
            "dn: {}\nchangetype: add\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: s{site}u{i}\ncn: User {site} {i}\nsn: Site{site}\nuidNumber: {}\ngidNumber: 100\nhomeDirectory: /home/s{site}u{i}\nuserPassword: {SSHA}\n\n",
            user(i),
            40000 + site * 100 + i
        );
    }
    for i in 0..4 {
        l += &format!(
            "dn: {}\nchangetype: modify\nreplace: description\ndescription: changed at site {site}\n\n",
            user(i)
        );
    }
    for i in 4..6 {
        l += &format!("dn: {}\nchangetype: modrdn\nnewrdn: uid=s{site}r{i}\ndeleteoldrdn: 1\n\n", user(i));
    }
    l += &format!(
        "dn: cn=g{site},{ou}\nchangetype: add\nobjectClass: groupOfNames\ncn: g{site}\nmember: {}\n\n",
        user(0)
    );
    for i in 7..9 {
        l += &format!("dn: {}\nchangetype: delete\n\n", user(i));
    }
    ldapmodify(url, &l);
}

#[test]
fn two_providers_with_writes_on_both_converge() {
    let mut c = Cluster::start(2, &[(0, 1), (1, 0)], false, "");
    wait_ready(&c.url(0));
    wait_ready(&c.url(1));
    let (u0, u1) = (c.url(0), c.url(1));
    let t = std::thread::spawn(move || workload(&u0, 0));
    workload(&u1, 1);
    t.join().expect("workload 0");
    // Both sides change one shared entry one after the other: the later change is kept.
    ldapmodify(
        &c.url(0),
        &format!("dn: ou=site0,{SUFFIX}\nchangetype: modify\nreplace: description\ndescription: first\n\n"),
    );
    c.converge("after the workloads");
    ldapmodify(
        &c.url(1),
        &format!("dn: ou=site0,{SUFFIX}\nchangetype: modify\nreplace: description\ndescription: second\n\n"),
    );
    let n = c.converge("after the shared change");
    assert_eq!(n, 1 + 2 * 10, "the suffix and two sites of 10 entries");
    assert!(dump(&c.url(0)).iter().any(|e| e.starts_with("dn: ou=site0") && e.contains("description: second")));
    // contextCSN: one value per server id, the same on both.
    let csns = |url: &str| {
        let out = Command::new("ldapsearch")
            .args(["-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PW, "-b", SUFFIX, "-s", "base", "-LLL", "contextCSN"])
            .output()
            .expect("ldapsearch");
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("contextCSN:"))
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    let deadline = Instant::now() + CONVERGE;
    while csns(&c.url(0)) != csns(&c.url(1)) {
        assert!(Instant::now() < deadline, "contextCSNs differ: {:?} {:?}", csns(&c.url(0)), csns(&c.url(1)));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(csns(&c.url(0)).len(), 2, "{:?}", csns(&c.url(0)));
    c.check_all();
}

#[test]
fn three_providers_in_a_ring_converge_without_loops() {
    // 0 follows 2, 1 follows 0, 2 follows 1: every change travels round once.
    let mut c = Cluster::start(3, &[(0, 2), (1, 0), (2, 1)], false, "");
    for i in 0..3 {
        wait_ready(&c.url(i));
    }
    c.workload_everywhere();
    assert_eq!(c.converge("ring"), 1 + 3 * 10);
    // No loop: once converged, the trees stay as they are (nothing echoes round).
    let before = dump(&c.url(0));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(dump(&c.url(0)), before);
    c.check_all();
}

#[test]
fn three_providers_in_a_full_mesh_converge() {
    let links = [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)];
    let mut c = Cluster::start(3, &links, false, "");
    for i in 0..3 {
        wait_ready(&c.url(i));
    }
    c.workload_everywhere();
    assert_eq!(c.converge("mesh"), 1 + 3 * 10);
    c.check_all();
}

#[test]
fn a_network_cut_with_writes_on_both_sides_heals_with_counted_conflicts() {
    let mut c = Cluster::start(2, &[(0, 1), (1, 0)], true, "");
    wait_ready(&c.url(0));
    wait_ready(&c.url(1));
    workload(&c.url(0), 0);
    c.converge("before the cut");
    for r in &c.relays {
        r.cut(true);
    }
    // During the cut: each side writes its own site, both change the same entry (server
    // 1 later), server 0 deletes an entry server 1 modifies, and both add one DN.
    workload(&c.url(1), 1);
    let shared = format!("uid=s0u1,ou=site0,{SUFFIX}");
    ldapmodify(&c.url(0), &format!("dn: {shared}\nchangetype: modify\nreplace: description\ndescription: from 0\n\n"));
    std::thread::sleep(Duration::from_millis(20));
    ldapmodify(&c.url(1), &format!("dn: {shared}\nchangetype: modify\nreplace: description\ndescription: from 1\n\n"));
    let doomed = format!("uid=s0u2,ou=site0,{SUFFIX}");
    ldapmodify(&c.url(1), &format!("dn: {doomed}\nchangetype: modify\nreplace: description\ndescription: touched\n\n"));
    std::thread::sleep(Duration::from_millis(20));
    ldapmodify(&c.url(0), &format!("dn: {doomed}\nchangetype: delete\n\n"));
    // Concurrent changes of different attributes of one entry, and a rename on one side
    // with a modify on the other: both changes stay, everywhere (per attribute).
    let both = format!("uid=s0u3,ou=site0,{SUFFIX}");
    ldapmodify(
        &c.url(0),
        &format!("dn: {both}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: 111\n\n"),
    );
    ldapmodify(&c.url(1), &format!("dn: {both}\nchangetype: modify\nreplace: mail\nmail: s0u3@one.example\n\n"));
    let moved = format!("uid=s0u6,ou=site0,{SUFFIX}");
    ldapmodify(&c.url(0), &format!("dn: {moved}\nchangetype: modrdn\nnewrdn: uid=s0m6\ndeleteoldrdn: 1\n\n"));
    ldapmodify(
        &c.url(1),
        &format!("dn: {moved}\nchangetype: modify\nreplace: description\ndescription: changed while moved\n\n"),
    );
    for (i, who) in [(0, "zero"), (1, "one")] {
        ldapmodify(
            &c.url(i),
            &format!("dn: cn=twice,{SUFFIX}\nchangetype: add\nobjectClass: organizationalRole\ncn: twice\ndescription: {who}\n\n"),
        );
        std::thread::sleep(Duration::from_millis(1100));
    }
    std::thread::sleep(Duration::from_secs(1));
    for r in &c.relays {
        r.up();
    }
    c.converge("after the cut");
    let tree = dump(&c.url(0));
    let entry = |dn: &str| tree.iter().find(|e| e.starts_with(&format!("dn: {dn}\n"))).cloned();
    assert!(entry(&shared).expect("shared entry").contains("description: from 1"), "the later modify wins");
    assert!(entry(&doomed).is_none(), "the later delete wins");
    let both = entry(&both).expect("entry changed on both sides");
    assert!(
        both.contains("telephonenumber: 111") && both.contains("mail: s0u3@one.example"),
        "both attribute changes stay: {both}"
    );
    let moved = entry(&format!("uid=s0m6,ou=site0,{SUFFIX}")).expect("the renamed entry");
    assert!(moved.contains("description: changed while moved") && moved.contains("uid: s0m6"), "{moved}");
    // The per-attribute CSNs are replication's own: not returned to the root DN (by name
    // or with +), not matched by a filter.
    for (filter, attrs) in [("(objectClass=*)", vec!["birchAttrCSN", "+"]), ("(birchAttrCSN=*)", vec!["1.1"])] {
        let out = Command::new("ldapsearch")
            .args(["-x", "-H", &c.url(1), "-D", ROOT_DN, "-w", ROOT_PW, "-b", SUFFIX, "-LLL", filter])
            .args(attrs)
            .output()
            .expect("ldapsearch");
        let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
        assert!(out.status.success() && !text.contains("birchattrcsn"), "{filter}: {text}");
        if filter.contains("birchAttrCSN") {
            assert!(!text.contains("dn:"), "a filter on birchAttrCSN matches nothing: {text}");
        }
    }
    assert!(
        entry(&format!("cn=twice,{SUFFIX}")).expect("one of the adds").contains("description: zero"),
        "the first add stays"
    );
    // The later add was shadowed, not dropped: when the first one is deleted, it takes the
    // DN on both servers.
    ldapmodify(&c.url(1), &format!("dn: cn=twice,{SUFFIX}\nchangetype: delete\n\n"));
    let deadline = Instant::now() + CONVERGE;
    for i in 0..2 {
        loop {
            let tree = dump(&c.url(i));
            let twice = tree.iter().find(|e| e.starts_with(&format!("dn: cn=twice,{SUFFIX}\n"))).cloned();
            if twice.as_deref().is_some_and(|e| e.contains("description: one")) {
                break;
            }
            assert!(Instant::now() < deadline, "the loser never came back on server {i}: {twice:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    c.converge("after deleting the add/add winner");
    // Dropped changes are counted (the earlier modify, the modify before the delete, the
    // later add), on the side that dropped them.
    let deadline = Instant::now() + CONVERGE;
    while c.conflicts(0) + c.conflicts(1) < 3 {
        assert!(Instant::now() < deadline, "conflicts {} + {}", c.conflicts(0), c.conflicts(1));
        std::thread::sleep(Duration::from_millis(100));
    }
    c.check_all();
}

#[test]
fn a_provider_killed_during_writes_catches_up() {
    let mut c = Cluster::start(2, &[(0, 1), (1, 0)], false, "");
    wait_ready(&c.url(0));
    wait_ready(&c.url(1));
    let u0 = c.url(0);
    let writer = std::thread::spawn(move || {
        for site in 10..14 {
            workload(&u0, site);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    c.nodes[1].kill9();
    workload(&c.url(0), 20);
    writer.join().expect("writes on 0");
    c.nodes[1].start_existing();
    workload(&c.url(1), 21);
    assert_eq!(c.converge("after the restart"), 1 + 6 * 10);
    c.check_all();
}

#[test]
fn a_lockout_on_one_provider_holds_on_the_other() {
    let lockout =
        "[ppolicy]\nmax_failure = 2\nlockout_duration = 600\nfailure_count_interval = 600\nmust_change = false\n";
    let c = Cluster::start(2, &[(0, 1), (1, 0)], false, lockout);
    wait_ready(&c.url(0));
    wait_ready(&c.url(1));
    workload(&c.url(0), 0);
    c.converge("before the failures");
    let dn = format!("uid=s0u3,ou=site0,{SUFFIX}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        assert_eq!(bind_rc(&c.url(1), &dn, "user-secret").await, 0);
        // The last-bind time written on server 1 replicates too (and is in place before
        // the failures, so that it is not a concurrent change of the entry).
        let deadline = Instant::now() + CONVERGE;
        while root_values(&c.url(0), &dn, "pwdLastSuccess").await.is_empty() {
            assert!(Instant::now() < deadline, "pwdLastSuccess did not reach server 0");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for _ in 0..2 {
            assert_eq!(bind_rc(&c.url(0), &dn, "wrong").await, 49);
        }
        // Locked on server 0, and, once replicated, on server 1: the right password fails.
        let deadline = Instant::now() + CONVERGE;
        while bind_rc(&c.url(1), &dn, "user-secret").await == 0 {
            assert!(Instant::now() < deadline, "the lockout did not reach server 1");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(bind_rc(&c.url(1), &dn, "user-secret").await, 49);
    });
    let locked = |url: &str| root_lock(url, &dn);
    assert!(locked(&c.url(1)), "pwdAccountLockedTime replicated");
}

/// Whether the entry shows pwdAccountLockedTime to the root DN.
fn root_lock(url: &str, dn: &str) -> bool {
    let out = Command::new("ldapsearch")
        .args(["-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PW, "-b", dn, "-s", "base", "-LLL", "pwdAccountLockedTime"])
        .output()
        .expect("ldapsearch");
    String::from_utf8_lossy(&out.stdout).contains("pwdAccountLockedTime:")
}

/// slapd (Debian's package) as a multi-provider peer of Birch: syncprov, one syncrepl
/// towards Birch, `multiprovider on`, server id 3.
struct SlapdPeer {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<std::process::Child>,
}

impl SlapdPeer {
    fn start(birch_url: &str) -> SlapdPeer {
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
moduleload memberof
moduleload ppolicy
serverID 3
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
syncrepl rid=001 provider={birch_url} bindmethod=simple binddn=\"{ROOT_DN}\" credentials={ROOT_PW} searchbase=\"{SUFFIX}\" type=refreshAndPersist retry=\"1 +\" attrs=\"*,+\" exattrs=\"memberOf\" schemachecking=off
multiprovider on
overlay syncprov
"
        );
        std::fs::write(dir.path().join("slapd.conf"), conf).expect("slapd.conf");
        let mut s = SlapdPeer { dir, port: free_port(), child: None };
        let log = std::fs::File::create(s.dir.path().join("slapd.log")).expect("log");
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(s.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{}/", s.port))
            .args(["-d", "sync"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn slapd");
        s.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new("ldapsearch")
                .args(["-x", "-H", &s.url(), "-s", "base", "-b", "", "-LLL", "1.1"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return s;
            }
            assert!(Instant::now() < deadline, "slapd did not answer: {}", s.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }
}

impl Drop for SlapdPeer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- slapd log (end) ---\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
    }
}

#[test]
fn birch_and_slapd_as_a_multi_provider_pair_converge() {
    if !std::path::Path::new("/usr/sbin/slapd").exists() {
        eprintln!("skipped: slapd is not installed (/usr/sbin/slapd)");
        return;
    }
    let mut birch = Server::offline("");
    let slapd = SlapdPeer::start(&birch.url());
    let mut text = birch.default_config_text();
    text += &format!(
        "\n[replication]\nserver_id = 1\nretry_initial_ms = 100\nretry_max_ms = 500\n[[replication.providers]]\nurl = \"{}\"\nbind_dn = \"{ROOT_DN}\"\nbind_password = \"{ROOT_PW}\"\n",
        slapd.url()
    );
    birch.write_config_text(&text);
    birch.start_existing();
    // slapd starts empty and takes Birch's suffix entry.
    let deadline = Instant::now() + CONVERGE;
    while dump(&slapd.url()).first().is_none_or(|e| e.starts_with("ldapsearch failed")) {
        assert!(Instant::now() < deadline, "slapd never received the suffix entry");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (b, s) = (birch.url(), slapd.url());
    let t = std::thread::spawn(move || workload(&s, 1));
    workload(&b, 0);
    t.join().expect("workload on slapd");
    // memberOf is Birch's own (slapd leaves it out with exattrs); so is the entryCSN of a
    // change of memberOf only, which slapd does not apply (nothing else changed).
    let comparable = |url: &str| -> Vec<String> {
        dump(url)
            .into_iter()
            .map(|e| {
                e.lines()
                    .filter(|l| !l.starts_with("memberof:") && !l.starts_with("entrycsn:"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect()
    };
    let deadline = Instant::now() + CONVERGE;
    loop {
        let (x, y) = (comparable(&birch.url()), comparable(&slapd.url()));
        if x == y {
            assert_eq!(x.len(), 1 + 2 * 10);
            break;
        }
        if Instant::now() > deadline {
            let only_b: Vec<_> = x.iter().filter(|e| !y.contains(e)).take(4).collect();
            let only_s: Vec<_> = y.iter().filter(|e| !x.contains(e)).take(4).collect();
            panic!(
                "Birch and slapd differ ({} vs {})\nonly on Birch: {only_b:#?}\nonly on slapd: {only_s:#?}",
                x.len(),
                y.len()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The entries below `base` in cn=Monitor as the root DN reads them (`*` and `+`), as
/// (DN, attribute lines).
fn monitor(url: &str, base: &str) -> Vec<(String, Vec<String>)> {
    let out = Command::new("ldapsearch")
        .args(["-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PW, "-b", base, "-LLL", "-o", "ldif-wrap=no", "*", "+"])
        .output()
        .expect("ldapsearch");
    assert!(out.status.success(), "cn=Monitor: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .split("\n\n")
        .filter_map(|block| {
            let mut lines = block.lines().filter(|l| !l.is_empty());
            let dn = lines.next()?.strip_prefix("dn: ")?.to_string();
            Some((dn, lines.map(String::from).collect()))
        })
        .collect()
}

/// The monitorCounter of the cn=Monitor entry `dn` on `url`, if it exists.
fn monitor_counter(url: &str, dn: &str) -> Option<u64> {
    monitor(url, "cn=Replication,cn=Monitor")
        .into_iter()
        .find(|(d, _)| d.eq_ignore_ascii_case(dn))?
        .1
        .iter()
        .find_map(|l| l.strip_prefix("monitorCounter: ")?.parse().ok())
}

#[test]
fn cn_monitor_has_an_entry_per_peer() {
    let c = Cluster::start(2, &[(0, 1), (1, 0)], false, "");
    wait_ready(&c.url(0));
    wait_ready(&c.url(1));
    workload(&c.url(1), 1);
    c.converge("after the workload");
    let peer = "cn=Peer 1,cn=Replication,cn=Monitor";
    // The peer's server id is known once a cookie from it arrived (the end of the refresh).
    c.wait_for("server 1's id in cn=Monitor", |c| {
        monitor_counter(&c.url(0), &format!("cn=Server ID,{peer}")) == Some(2)
    });
    let entries = monitor(&c.url(0), peer);
    let (_, attrs) = entries.iter().find(|(d, _)| d == peer).expect("the peer's entry");
    assert!(attrs.contains(&format!("labeledURI: {}", c.url(1))), "{attrs:?}");
    let counter = |rdn: &str| monitor_counter(&c.url(0), &format!("{rdn},{peer}"));
    assert_eq!(counter("cn=Connected"), Some(1));
    // The same count as the metric (the two start-up suffix entries may have met as a
    // conflict, so not necessarily 0).
    assert_eq!(counter("cn=Conflicts"), Some(c.conflicts(0)));
    assert!(counter("cn=Lag Microseconds").is_some());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let contact = counter("cn=Last Contact").expect("cn=Last Contact");
    assert!(contact + 60 > now && contact <= now + 1, "last contact {contact}, now {now}");
    // Tombstones of server 1's deletes (two in the workload), kept with the default
    // lifetime; counted at start and then hourly, so present but possibly not yet 2.
    assert!(counter("cn=Tombstones").is_some());
    assert!(monitor_counter(&c.url(0), "cn=Tombstones,cn=Replication,cn=Monitor").is_some());
    // Only the root DN and the admins read cn=Monitor: anonymous gets noSuchObject (32).
    let anon =
        Command::new("ldapsearch").args(["-x", "-H", &c.url(0), "-b", peer, "-LLL", "+"]).output().expect("ldapsearch");
    assert_eq!(anon.status.code(), Some(32), "{}", String::from_utf8_lossy(&anon.stdout));
}

#[test]
fn tombstones_are_purged_and_a_peer_away_longer_than_their_lifetime_converges() {
    let mut c = Cluster::start_with(2, &[(0, 1), (1, 0)], true, "", "tombstone_lifetime_secs = 1\n");
    wait_ready(&c.url(0));
    wait_ready(&c.url(1));
    // Two deletes in the workload: a tombstone each on both servers, purged a second or
    // two later.
    workload(&c.url(0), 0);
    c.converge("before the cut");
    c.wait_for("the workload's tombstones purged", |c| {
        (0..2).all(|i| {
            c.metric(i, "birch_replication_tombstones_purged_total") >= 2
                && c.metric(i, "birch_replication_tombstones") == 0
        })
    });
    let purged = c.metric(0, "birch_replication_tombstones_purged_total");
    for r in &c.relays {
        r.cut(true);
    }
    // During the cut: server 0 deletes an entry nobody else touches and one that server 1
    // changed just before; their tombstones are purged before the servers meet again.
    let gone = format!("uid=s0u3,ou=site0,{SUFFIX}");
    let touched = format!("uid=s0u1,ou=site0,{SUFFIX}");
    ldapmodify(&c.url(1), &format!("dn: {touched}\nchangetype: modify\nreplace: description\ndescription: from 1\n\n"));
    std::thread::sleep(Duration::from_millis(20));
    ldapmodify(&c.url(0), &format!("dn: {gone}\nchangetype: delete\n\ndn: {touched}\nchangetype: delete\n\n"));
    c.wait_for("server 0's tombstones of the cut purged", |c| {
        c.metric(0, "birch_replication_tombstones_purged_total") >= purged + 2
            && c.metric(0, "birch_replication_tombstones") == 0
    });
    for r in &c.relays {
        r.up();
    }
    c.converge("after the cut");
    let tree = dump(&c.url(0));
    let entry = |dn: &str| tree.iter().find(|e| e.starts_with(&format!("dn: {dn}\n"))).cloned();
    // The delete reaches server 1 without its tombstone (the present phase finds it)...
    assert!(entry(&gone).is_none(), "the delete propagates");
    // ...but the weighing against the earlier change is lost: the entry comes back on both
    // (the documented limit of a peer away longer than the tombstone lifetime).
    assert!(entry(&touched).expect("the changed entry").contains("description: from 1"));
    // Server 0 saw server 1 refresh from a cookie older than its purged tombstones.
    c.wait_for("the stale refresh counted", |c| c.metric(0, "birch_replication_stale_peer_refreshes_total") >= 1);
    let log = std::fs::read_to_string(c.nodes[0].log_path()).expect("log");
    assert!(log.contains("tombstones purged"), "the purge is logged");
    assert!(log.contains("older than purged tombstones") && log.contains("server id 2"), "the peer is named");
    c.check_all();
}
