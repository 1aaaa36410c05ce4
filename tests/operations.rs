//! Black-box tests of operating Birch: connection limits, idle and write timeouts, busy
//! answers, online backup under load with offline restore and check, `--version`, JSON logs.
mod common;

use common::demo::PEOPLE;
use common::{bounded, connect_as, search, Server, ROOT_DN, ROOT_PW, SUFFIX};
use futures_util::StreamExt;
use ldap3::Scope;
use ldap3_proto::proto::{LdapDerefAliases, LdapMsg, LdapOp, LdapResultCode, LdapSearchRequest, LdapSearchScope};
use ldap3_proto::LdapCodec;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Encoder, FramedRead};

const LIMIT: Duration = Duration::from_secs(120);
const NOTICE_OID: &str = "1.3.6.1.4.1.1466.20036";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A subtree search of `base` for every entry.
fn search_msg(msgid: i32, base: &str, attrs: &[&str]) -> LdapMsg {
    search_scoped(msgid, base, LdapSearchScope::Subtree, attrs)
}

fn search_scoped(msgid: i32, base: &str, scope: LdapSearchScope, attrs: &[&str]) -> LdapMsg {
    LdapMsg {
        msgid,
        op: LdapOp::SearchRequest(LdapSearchRequest {
            base: base.into(),
            scope,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: ldap3_proto::parse_ldap_filter_str("(objectClass=*)").expect("filter"),
            attrs: attrs.iter().map(|a| a.to_string()).collect(),
        }),
        ctrl: vec![],
    }
}

/// A client codec that takes large responses (entries with photos).
fn codec() -> LdapCodec {
    LdapCodec::new(Some(8 << 20), None)
}

fn encode(msgs: impl IntoIterator<Item = LdapMsg>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut codec = LdapCodec::default();
    for m in msgs {
        codec.encode(m, &mut buf).expect("encode");
    }
    buf.to_vec()
}

/// A raw TCP connection to the server from the loopback address `from` (127.0.0.x).
async fn connect_from(from: &str, port: u16) -> TcpStream {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind(format!("{from}:0").parse::<SocketAddr>().expect("addr")).expect("bind source address");
    sock.connect(([127, 0, 0, 1], port).into()).await.expect("connect")
}

/// What the server does with a connection: the messages it sends until it closes it.
async fn messages_until_close(stream: TcpStream) -> Vec<LdapMsg> {
    let mut frames = FramedRead::new(stream, codec());
    let mut got = Vec::new();
    while let Some(Ok(m)) = frames.next().await {
        got.push(m);
    }
    got
}

/// Asserts that `stream` is turned away: one Notice of Disconnection with busy (51), then
/// the connection closes.
async fn assert_refused(stream: TcpStream, why: &str) {
    let got = tokio::time::timeout(Duration::from_secs(30), messages_until_close(stream))
        .await
        .expect("a refused connection is closed");
    assert_eq!(got.len(), 1, "{got:?}");
    match &got[0].op {
        LdapOp::ExtendedResponse(r) => {
            assert_eq!(got[0].msgid, 0);
            assert_eq!(r.name.as_deref(), Some(NOTICE_OID));
            assert_eq!(r.res.code, LdapResultCode::Busy);
            assert!(r.res.message.contains(why), "{}", r.res.message);
        }
        other => panic!("expected a notice of disconnection, got {other:?}"),
    }
}

/// A search of the root DSE (which anyone may read).
fn rootdse_msg(msgid: i32) -> LdapMsg {
    search_scoped(msgid, "", LdapSearchScope::Base, &["1.1"])
}

/// One search of the root DSE on a raw connection; asserts it succeeds.
async fn raw_search_ok(stream: &mut TcpStream, msgid: i32) {
    stream.write_all(&encode([rootdse_msg(msgid)])).await.expect("write");
    let mut frames = FramedRead::new(stream, codec());
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), frames.next())
            .await
            .expect("answer in time")
            .expect("connection open")
            .expect("decodable");
        if m.msgid != msgid {
            continue;
        }
        if let LdapOp::SearchResultDone(r) = m.op {
            assert_eq!(r.code, LdapResultCode::Success);
            return;
        }
    }
}

/// A root bind (msgid 1) on a raw connection; waits for its success.
async fn raw_root_bind(stream: &mut TcpStream) {
    let bind = LdapMsg {
        msgid: 1,
        op: LdapOp::BindRequest(ldap3_proto::proto::LdapBindRequest {
            version: 3,
            dn: ROOT_DN.into(),
            cred: ldap3_proto::proto::LdapBindCred::Simple(ROOT_PW.into()),
        }),
        ctrl: vec![],
    };
    stream.write_all(&encode([bind])).await.expect("write");
    let mut frames = FramedRead::new(stream, codec());
    let m = tokio::time::timeout(Duration::from_secs(20), frames.next())
        .await
        .expect("answer in time")
        .expect("connection open")
        .expect("decodable");
    match m.op {
        LdapOp::BindResponse(r) => assert_eq!(r.res.code, LdapResultCode::Success),
        other => panic!("expected a bind response, got {other:?}"),
    }
}

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Resident memory of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// A person with a jpegPhoto of `size` bytes.
fn photo_entry(uid: &str, size: usize) -> Vec<(Vec<u8>, HashSet<Vec<u8>>)> {
    let one = |v: &[u8]| HashSet::from([v.to_vec()]);
    vec![
        (b"objectClass".to_vec(), one(b"inetOrgPerson")),
        (b"uid".to_vec(), one(uid.as_bytes())),
        (b"cn".to_vec(), one(uid.as_bytes())),
        (b"sn".to_vec(), one(b"Photo")),
        (b"jpegPhoto".to_vec(), HashSet::from([vec![0x5a; size]])),
    ]
}

// ---------------------------------------------------------------------------------------
// Connection limits
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn connection_flood_beyond_the_limit_is_refused_while_clients_keep_working() {
    let s = Server::start_with("[connections]\nmax_connections = 6\nmax_per_address = 4\n", true);
    bounded(LIMIT, async {
        // Four from 127.0.0.1 fill that address's share; they work.
        let mut mine = Vec::new();
        for i in 0..4 {
            let mut c = connect_from("127.0.0.1", s.port).await;
            raw_search_ok(&mut c, i + 1).await;
            mine.push(c);
        }
        // A fifth from the same address is refused; another address still gets in.
        assert_refused(connect_from("127.0.0.1", s.port).await, "from your address").await;
        let mut other = Vec::new();
        for i in 0..2 {
            let mut c = connect_from("127.0.0.2", s.port).await;
            raw_search_ok(&mut c, i + 1).await;
            other.push(c);
        }
        // Six open: the server is full for everyone.
        for _ in 0..20 {
            assert_refused(connect_from("127.0.0.3", s.port).await, "too many connections to this server").await;
        }
        // The clients inside keep working, with ldap3 too once a place is free.
        for (i, c) in mine.iter_mut().chain(other.iter_mut()).enumerate() {
            raw_search_ok(c, 100 + i as i32).await;
        }
        drop(mine.pop());
        // The server notices the close asynchronously: retry until the place is free.
        let mut tries = 0;
        let mut l = loop {
            let settings = ldap3::LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
            if let Ok((conn, mut l)) = ldap3::LdapConnAsync::with_settings(settings, &s.url()).await {
                ldap3::drive!(conn);
                if l.with_timeout(Duration::from_secs(10)).simple_bind(ROOT_DN, ROOT_PW).await.is_ok_and(|r| r.rc == 0)
                {
                    break l;
                }
            }
            tries += 1;
            assert!(tries < 200, "no place became free after a client left");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (entries, res) = search(&mut l, PEOPLE, Scope::OneLevel, "(uid=alice)", &["uid"]).await;
        assert_eq!((res.rc, entries.len()), (0, 1));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Idle connections and slow clients
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_and_stalled_requests_are_closed() {
    let s = Server::start_with("[connections]\nidle_timeout = 1\n", true);
    bounded(LIMIT, async {
        // A client that connects and says nothing.
        let silent = connect_from("127.0.0.1", s.port).await;
        // A slowloris: the first bytes of a request, then nothing more (a partial request
        // is not activity).
        let mut slow = connect_from("127.0.0.1", s.port).await;
        let request = encode([rootdse_msg(1)]);
        slow.write_all(&request[..3]).await.expect("write");
        // A client that used the connection and then went quiet.
        let mut used = connect_from("127.0.0.1", s.port).await;
        raw_search_ok(&mut used, 1).await;
        for (name, c) in [("silent", silent), ("slowloris", slow), ("used", used)] {
            let got = tokio::time::timeout(Duration::from_secs(60), messages_until_close(c))
                .await
                .unwrap_or_else(|_| panic!("{name} connection was not closed"));
            assert!(got.is_empty(), "{name}: {got:?}");
        }
        // The server itself is fine.
        let mut l = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let (entries, res) = search(&mut l, PEOPLE, Scope::OneLevel, "(uid=bob)", &["uid"]).await;
        assert_eq!((res.rc, entries.len()), (0, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_reads_is_disconnected_and_memory_stays_bounded() {
    let s = Server::start_with("[connections]\nwrite_timeout = 2\nmax_ops_per_connection = 8\n", true);
    let pid = s.pid();
    bounded(Duration::from_secs(300), async {
        // Eight entries with a 256 KiB photo each: one search of them is 2 MiB of results.
        let mut admin = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        for i in 0..8 {
            let uid = format!("photo{i}");
            let res = admin.add(&format!("uid={uid},{PEOPLE}"), photo_entry(&uid, 256 * 1024)).await.expect("add");
            assert_eq!(res.rc, 0, "{res}");
        }
        let rss_before = rss_kib(pid);
        // The greedy client: authenticates, then asks for 500 searches (1 GiB of results)
        // and never reads a byte.
        let mut greedy = connect_from("127.0.0.1", s.port).await;
        raw_root_bind(&mut greedy).await;
        raw_search_ok(&mut greedy, 2).await;
        let fds_with_greedy = open_fds(pid);
        let requests = encode((0..500).map(|i| search_msg(10 + i, PEOPLE, &["jpegPhoto"])));
        // Written from a task: once the server stops reading, this write blocks too.
        let (mut rd, mut wr) = greedy.into_split();
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&requests).await;
            wr
        });
        // Wait (without reading) until the server has closed its side, watching its memory.
        let mut peak = rss_before;
        while open_fds(pid) >= fds_with_greedy {
            peak = peak.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak = peak.max(rss_kib(pid));
        // Generous: the results are 1 GiB; what a stalled connection may hold is the
        // response queue and the operations in flight.
        assert!(peak < rss_before + 256 * 1024, "RSS grew from {rss_before} KiB to {peak} KiB");
        // Reading now yields what was in flight, then the end: the connection is gone.
        let mut sink = vec![0u8; 1 << 20];
        let mut total = 0usize;
        loop {
            match tokio::time::timeout(Duration::from_secs(60), rd.read(&mut sink)).await.expect("read ends") {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        eprintln!(
            "never-reading client: RSS {rss_before} KiB before, {peak} KiB at most; {total} bytes were in flight"
        );
        assert!(total < 500 * 2 * 1024 * 1024, "all results arrived: the connection was not cut");
        writer.abort();
        // Everyone else is served.
        let (entries, res) = search(&mut admin, PEOPLE, Scope::OneLevel, "(uid=photo3)", &["uid"]).await;
        assert_eq!((res.rc, entries.len()), (0, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_beyond_the_connection_limit_are_answered_busy() {
    let s = Server::start_with("[connections]\nmax_ops_per_connection = 1\nwrite_timeout = 0\n", true);
    bounded(LIMIT, async {
        // A large result that the client does not read keeps the first search outstanding
        // (blocked on its output); every other request meanwhile is answered busy.
        let mut admin = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        // 200 entries of 64 KiB: 12.5 MiB of results, more than the response queue and
        // the socket buffers hold while nobody reads.
        for i in 0..200 {
            let uid = format!("busy{i}");
            let res = admin.add(&format!("uid={uid},{PEOPLE}"), photo_entry(&uid, 64 * 1024)).await.expect("add");
            assert_eq!(res.rc, 0, "{res}");
        }
        let mut c = connect_from("127.0.0.1", s.port).await;
        raw_root_bind(&mut c).await;
        raw_search_ok(&mut c, 2).await;
        c.write_all(&encode([search_msg(3, PEOPLE, &["jpegPhoto"])])).await.expect("write");
        c.write_all(&encode((4..24).map(rootdse_msg))).await.expect("write");
        // Now read everything: msgid 3 completes, and each later one was busy or answered.
        let mut frames = FramedRead::new(c, codec());
        let mut done = std::collections::BTreeMap::new();
        // The answers that arrived before search 3's own result: requests the server read
        // while the search held the connection's only place.
        let mut before_search_done = Vec::new();
        while done.len() < 21 {
            let m = tokio::time::timeout(Duration::from_secs(30), frames.next())
                .await
                .expect("answers in time")
                .expect("open")
                .expect("decodable");
            if let LdapOp::SearchResultDone(r) = m.op {
                if !done.contains_key(&3) && m.msgid != 3 {
                    before_search_done.push(r.code.clone());
                }
                done.insert(m.msgid, r.code);
            }
        }
        // Search 3 cannot finish before the client reads; while it runs, every request is
        // answered busy at once (not queued), and at least one came in meanwhile. After it,
        // requests are served again.
        assert_eq!(done[&3], LdapResultCode::Success);
        assert!(!before_search_done.is_empty(), "{done:?}");
        assert!(before_search_done.iter().all(|c| *c == LdapResultCode::Busy), "{done:?}");
        assert!(done.values().all(|c| matches!(c, LdapResultCode::Success | LdapResultCode::Busy)), "{done:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Backup and restore
// ---------------------------------------------------------------------------------------

/// The DNs in an LDIF file (`dn:` lines; the tests use no base64 DNs).
fn ldif_dns(text: &str) -> HashSet<String> {
    text.lines().filter_map(|l| l.strip_prefix("dn: ")).map(|d| d.to_ascii_lowercase()).collect()
}

fn person(uid: &str) -> Vec<(String, HashSet<String>)> {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<String>>();
    vec![
        ("objectClass".into(), set(&["inetOrgPerson"])),
        ("uid".into(), set(&[uid])),
        ("cn".into(), set(&[uid])),
        ("sn".into(), set(&["Load"])),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_under_write_load_restores_to_a_checked_tree_with_every_acknowledged_write() {
    let mut s = Server::demo();
    let url = s.url();
    let backup_file = s.dir().join("backup.ldif");
    let restored = Server::offline("");
    let before = bounded(Duration::from_secs(300), async {
        // A subtree that a writer keeps moving between two parents.
        let mut admin = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let ou = |name: &str| {
            vec![
                ("objectClass".to_string(), HashSet::from(["organizationalUnit".to_string()])),
                ("ou".into(), HashSet::from([name.to_string()])),
            ]
        };
        for dn in [format!("ou=a,{SUFFIX}"), format!("ou=b,{SUFFIX}"), format!("ou=movers,ou=a,{SUFFIX}")] {
            let name = dn.split(',').next().and_then(|r| r.strip_prefix("ou=")).unwrap_or_default().to_string();
            assert_eq!(admin.add(&dn, ou(&name)).await.expect("add").rc, 0);
        }
        for i in 0..30 {
            let uid = format!("mover{i}");
            assert_eq!(
                admin.add(&format!("uid={uid},ou=movers,ou=a,{SUFFIX}"), person(&uid)).await.expect("add").rc,
                0
            );
        }
        let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..4 {
            let (url, acked, stop) = (url.clone(), acked.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut l = connect_as(&url, ROOT_DN, ROOT_PW).await;
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let uid = format!("load{w}x{i}");
                    let dn = format!("uid={uid},{PEOPLE}");
                    let res = l.with_timeout(Duration::from_secs(30)).add(&dn, person(&uid)).await.expect("add");
                    assert_eq!(res.rc, 0, "{res}");
                    acked.lock().unwrap().insert(dn.to_ascii_lowercase());
                    i += 1;
                }
                i
            }));
        }
        let mover = {
            let (url, stop) = (url.clone(), stop.clone());
            tokio::spawn(async move {
                let mut l = connect_as(&url, ROOT_DN, ROOT_PW).await;
                let mut under_a = true;
                let mut moves = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let (from, to) = if under_a { ("a", "b") } else { ("b", "a") };
                    let res = l
                        .with_timeout(Duration::from_secs(30))
                        .modifydn(
                            &format!("ou=movers,ou={from},{SUFFIX}"),
                            "ou=movers",
                            true,
                            Some(&format!("ou={to},{SUFFIX}")),
                        )
                        .await
                        .expect("moddn");
                    assert_eq!(res.rc, 0, "{res}");
                    under_a = !under_a;
                    moves += 1;
                }
                moves
            })
        };
        // Let the load run, then back up in the middle of it.
        while acked.lock().unwrap().len() < 100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let before: HashSet<String> = acked.lock().unwrap().clone();
        let out = s.birch_bounded(&["backup", backup_file.to_str().expect("path")], Duration::from_secs(120));
        assert!(out.status.success(), "backup: {}", String::from_utf8_lossy(&out.stderr));
        // Some writes after the backup, then stop.
        let after_backup = acked.lock().unwrap().len();
        while acked.lock().unwrap().len() < after_backup + 20 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            t.await.expect("writer");
        }
        assert!(mover.await.expect("mover") > 0);
        before
    })
    .await;
    s.stop();

    let text = std::fs::read_to_string(&backup_file).expect("backup file");
    assert!(text.starts_with("# birch-backup 1\n# suffix: dc=example,dc=org\n"), "{}", &text[..200]);
    let in_backup = ldif_dns(&text);
    // The movers are wholly under one parent: a move is never half in a backup.
    let movers: Vec<&String> = in_backup.iter().filter(|d| d.starts_with("uid=mover")).collect();
    assert_eq!(movers.len(), 30);
    let parents: HashSet<&str> = movers.iter().map(|d| d.split_once(',').map(|x| x.1).unwrap_or_default()).collect();
    assert_eq!(parents.len(), 1, "{parents:?}");

    // Restore into a new data directory; check; export; compare.
    let out = restored.birch_bounded(&["restore", backup_file.to_str().expect("path")], Duration::from_secs(120));
    assert!(out.status.success(), "restore: {}", String::from_utf8_lossy(&out.stderr));
    let out = restored.birch_bounded(&["check"], Duration::from_secs(120));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.starts_with("ok: "),
        "check: {report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("every entry has its parent, schema valid"), "{report}");
    let out = restored.birch_bounded(&["export"], Duration::from_secs(120));
    assert!(out.status.success());
    let exported = ldif_dns(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(exported, in_backup);
    let missing: Vec<&String> = before.iter().filter(|d| !exported.contains(*d)).collect();
    assert!(missing.is_empty(), "acknowledged before the backup but not restored: {missing:?}");

    // A second restore onto the now non-empty directory needs --force.
    let out = restored.birch_bounded(&["restore", backup_file.to_str().expect("path")], Duration::from_secs(120));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", String::from_utf8_lossy(&out.stderr));
    let out =
        restored.birch_bounded(&["restore", "--force", backup_file.to_str().expect("path")], Duration::from_secs(120));
    assert!(out.status.success(), "restore --force: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn backup_needs_a_running_server_and_restore_checks_the_file() {
    let s = Server::offline("");
    let file = s.dir().join("b.ldif");
    let out = s.birch_bounded(&["backup", file.to_str().expect("path")], Duration::from_secs(60));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the running server"));
    // A truncated backup (no trailer) and a backup of another suffix are refused.
    std::fs::write(&file, "# birch-backup 1\n# suffix: dc=example,dc=org\n# schema_profile: rfc2307\n# entries: 1\nversion: 1\n\ndn: dc=example,dc=org\nobjectClass: domain\ndc: example\n\n").expect("write");
    let out = s.birch_bounded(&["restore", file.to_str().expect("path")], Duration::from_secs(60));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("incomplete backup"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&file, "# birch-backup 1\n# suffix: dc=other,dc=org\n# schema_profile: rfc2307\n# entries: 0\nversion: 1\n\n# birch-backup-end entries: 0\n").expect("write");
    let out = s.birch_bounded(&["restore", file.to_str().expect("path")], Duration::from_secs(60));
    assert!(String::from_utf8_lossy(&out.stderr).contains("suffix"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!s.data_dir().exists(), "a refused restore leaves no data directory");
}

// ---------------------------------------------------------------------------------------
// Packaging: version, JSON logs
// ---------------------------------------------------------------------------------------

#[test]
fn version_is_printed() {
    let out = std::process::Command::new(common::birch_bin()).arg("--version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("birch {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn logs_can_be_json_lines() {
    let mut s = Server::offline("log_format = \"json\"");
    let mut child = std::process::Command::new(common::birch_bin())
        .args(["serve", "--config"])
        .arg(s.config_path())
        .env("BIRCH_ROOT_PASSWORD", ROOT_PW)
        .env("BIRCH_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut serving = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        if line.contains("birch is serving") {
            serving = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = serving.expect("a log line saying the server is serving");
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert!(line.contains("\"level\":\"INFO\"") && line.contains("\"message\":\"birch is serving\""), "{line}");
    assert!(line.contains("\"suffix\":\"dc=example,dc=org\""), "{line}");
    s.kill9();
}
