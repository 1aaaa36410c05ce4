//! Black-box tests of the resource limits against anonymous (and other) clients, issue 23
//! items 1, 2, 3, 7 and 8: persistent sync searches cannot take the server's operation
//! capacity or keep an anonymous connection open; sync searches pass the access checks of
//! an ordinary search in every phase; the request memos do not keep what clients send;
//! parked paged searches are bounded in bytes; requests before a bind are small and must
//! arrive whole within seconds. See docs/security.md.
mod common;

use common::demo::{ALICE, BOB, PEOPLE, STAFF};
use common::{bounded, connect_as, Server, ROOT_DN, ROOT_PW, SUFFIX};
use futures_util::StreamExt;
use ldap3::controls::{ControlType, PagedResults, RawControl};
use ldap3::{Ldap, Mod, Scope};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapMsg, LdapOp, LdapResultCode, LdapSearchRequest,
    LdapSearchScope, SyncRequestMode, SyncStateValue,
};
use ldap3_proto::LdapCodec;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Encoder, FramedRead};

const LIMIT: Duration = Duration::from_secs(120);
/// A cookie whose CSN lies in the future: the provider skips the refresh.
const FUTURE_COOKIE: &str = "rid=000,csn=99991231235959.999999Z#000000#000#000000";
const NOTICE_OID: &str = "1.3.6.1.4.1.1466.20036";

// ---------------------------------------------------------------------------------------
// Helpers: a raw LDAP client
// ---------------------------------------------------------------------------------------

fn encode(msgs: impl IntoIterator<Item = LdapMsg>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut codec = LdapCodec::default();
    for m in msgs {
        codec.encode(m, &mut buf).expect("encode");
    }
    buf.to_vec()
}

fn search_req(msgid: i32, base: &str, filter: &str, attrs: &[&str], ctrl: Vec<LdapControl>) -> LdapMsg {
    LdapMsg {
        msgid,
        op: LdapOp::SearchRequest(LdapSearchRequest {
            base: base.into(),
            scope: if base.is_empty() { LdapSearchScope::Base } else { LdapSearchScope::Subtree },
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: ldap3_proto::parse_ldap_filter_str(filter).expect("filter"),
            attrs: attrs.iter().map(|a| a.to_string()).collect(),
        }),
        ctrl,
    }
}

/// A sync search (RFC 4533) of the subtree `base`.
fn sync_req(msgid: i32, base: &str, persist: bool, cookie: Option<&str>) -> LdapMsg {
    let mode = if persist { SyncRequestMode::RefreshAndPersist } else { SyncRequestMode::RefreshOnly };
    let ctrl = LdapControl::SyncRequest {
        criticality: true,
        mode,
        cookie: cookie.map(|c| c.as_bytes().to_vec()),
        reload_hint: false,
    };
    search_req(msgid, base, "(objectClass=*)", &["cn"], vec![ctrl])
}

fn bind_req(msgid: i32, dn: &str, pw: &str) -> LdapMsg {
    LdapMsg {
        msgid,
        op: LdapOp::BindRequest(LdapBindRequest { version: 3, dn: dn.into(), cred: LdapBindCred::Simple(pw.into()) }),
        ctrl: vec![],
    }
}

/// A raw connection: writes requests, reads responses one by one.
struct Raw {
    frames: FramedRead<OwnedReadHalf, LdapCodec>,
    wr: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        let (rd, wr) = s.into_split();
        Raw { frames: FramedRead::new(rd, LdapCodec::new(Some(16 << 20), None)), wr }
    }

    async fn send(&mut self, msgs: impl IntoIterator<Item = LdapMsg>) {
        self.wr.write_all(&encode(msgs)).await.expect("write");
    }

    /// The next message; `None` when the connection is closed (or the wait is over).
    async fn next(&mut self, wait: Duration) -> Option<LdapMsg> {
        match tokio::time::timeout(wait, self.frames.next()).await {
            Ok(Some(Ok(m))) => Some(m),
            Ok(Some(Err(e))) => panic!("undecodable message: {e:?}"),
            Ok(None) => None,
            Err(_) => None,
        }
    }

    /// The next message, which must come within 20 s.
    async fn expect(&mut self) -> LdapMsg {
        match tokio::time::timeout(Duration::from_secs(20), self.frames.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => panic!("undecodable message: {e:?}"),
            Ok(None) => panic!("connection closed"),
            Err(_) => panic!("no message within 20 s"),
        }
    }

    /// Whether the server closes the connection within `wait` (messages before are skipped).
    async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.frames.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    async fn bind(&mut self, msgid: i32, dn: &str, pw: &str) {
        self.send([bind_req(msgid, dn, pw)]).await;
        match self.expect().await.op {
            LdapOp::BindResponse(r) => assert_eq!(r.res.code, LdapResultCode::Success, "bind as {dn}"),
            other => panic!("expected a bind response, got {other:?}"),
        }
    }
}

/// How a sync search started: admitted (its refresh is done and it persists), or its
/// final result (code, message).
#[derive(Debug, PartialEq)]
enum Started {
    Persisting,
    Done(LdapResultCode, String),
}

/// Reads until each of `msgids` has either reached the persist stage (a Sync Info with
/// refreshDone) or ended; entries of the refresh are skipped.
async fn started(c: &mut Raw, msgids: &[i32]) -> Vec<(i32, Started)> {
    let mut out: Vec<(i32, Started)> = Vec::new();
    while out.len() < msgids.len() {
        let m = c.expect().await;
        if !msgids.contains(&m.msgid) || out.iter().any(|(id, _)| *id == m.msgid) {
            continue;
        }
        match m.op {
            LdapOp::IntermediateResponse(_) => out.push((m.msgid, Started::Persisting)),
            LdapOp::SearchResultDone(r) => out.push((m.msgid, Started::Done(r.code, r.message))),
            _ => {}
        }
    }
    out.sort_by_key(|(id, _)| *id);
    out
}

/// Whether a sync search was answered busy, with a message containing `why`.
fn busy(why: &str) -> impl Fn(&Started) -> bool + '_ {
    move |o| matches!(o, Started::Done(LdapResultCode::Busy, t) if t.contains(why))
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

/// The DNs (lower-case) and sync states of the entries a sync connection received until
/// `sentinel` (a DN, lower-case) came, which must come within 20 s.
async fn entries_until(c: &mut Raw, sentinel: &str) -> Vec<(String, Option<SyncStateValue>)> {
    let mut dns = Vec::new();
    loop {
        let m = c.expect().await;
        let state = m.ctrl.iter().find_map(|c| match c {
            LdapControl::SyncState { state, .. } => Some(state.clone()),
            _ => None,
        });
        match m.op {
            LdapOp::SearchResultEntry(e) => {
                let dn = e.dn.to_ascii_lowercase();
                let done = dn == sentinel;
                dns.push((dn, state));
                if done {
                    return dns;
                }
            }
            LdapOp::SearchResultDone(r) => panic!("the sync search ended: {r:?}; entries so far {dns:?}"),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Item 1: persistent searches and the server's capacity
// ---------------------------------------------------------------------------------------

/// Anonymous clients open more refreshAndPersist sync searches (with a cookie from the
/// future, so no refresh runs) than the whole work queue holds: every other client is
/// still served, and the persistent searches beyond the anonymous limit are answered busy.
#[tokio::test(flavor = "multi_thread")]
async fn persistent_searches_cannot_take_the_servers_operation_capacity() {
    // Anonymous clients may search the tree (as with nslcd without a bind), and the work
    // queue is small.
    let s = Server::start_with("[access]\nanonymous_posix = true\n[connections]\nmax_pending_ops = 16\n", true);
    bounded(LIMIT, async {
        let mut attackers = Vec::new();
        let mut outcomes = Vec::new();
        for _ in 0..2 {
            let mut c = Raw::connect(s.port).await;
            let ids: Vec<i32> = (1..=12).collect();
            c.send(ids.iter().map(|&i| sync_req(i, SUFFIX, true, Some(FUTURE_COOKIE)))).await;
            outcomes.extend(started(&mut c, &ids).await.into_iter().map(|(_, o)| o));
            attackers.push(c);
        }
        // Everyone else is served at once.
        let t = Instant::now();
        let mut admin = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let (entries, res) = common::search(&mut admin, PEOPLE, Scope::OneLevel, "(uid=bob)", &["uid"]).await;
        assert_eq!((res.rc, entries.len()), (0, 1), "{res}");
        assert_eq!(common::bind_rc(&s.url(), BOB, "bob-secret").await, 0);
        let mut anon = Raw::connect(s.port).await;
        anon.send([search_req(1, "", "(objectClass=*)", &["1.1"], vec![])]).await;
        loop {
            if let LdapOp::SearchResultDone(r) = anon.expect().await.op {
                assert_eq!(r.code, LdapResultCode::Success);
                break;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(10), "served in {:?}", t.elapsed());
        // Of the 24 persistent searches, at most the anonymous limit (8 by default) run; the
        // others were answered busy, saying why.
        let persisting = outcomes.iter().filter(|o| **o == Started::Persisting).count();
        assert!((1..=8).contains(&persisting), "{outcomes:?}");
        for o in &outcomes {
            if let Started::Done(code, text) = o {
                assert_eq!(*code, LdapResultCode::Busy, "{outcomes:?}");
                assert!(text.contains("persistent searches"), "{text}");
            }
        }
        drop(attackers);
    })
    .await;
}

/// The limits on persistent searches: per connection, for anonymous clients in the whole
/// server, and in the whole server (not for the root DN and the replicators); an abandoned
/// persistent search frees its place.
#[tokio::test(flavor = "multi_thread")]
async fn persistent_search_limits_apply_per_connection_anonymous_and_server() {
    let s = Server::start_with(
        "[access]\nanonymous_posix = true\n[connections]\nmax_persistent = 5\nmax_persistent_anonymous = 2\nmax_persistent_per_connection = 3\n",
        true,
    );
    bounded(LIMIT, async {
        let mut anon = Raw::connect(s.port).await;
        anon.send((1..=3).map(|i| sync_req(i, SUFFIX, true, Some(FUTURE_COOKIE)))).await;
        let got = started(&mut anon, &[1, 2, 3]).await;
        assert_eq!(got.iter().filter(|(_, o)| *o == Started::Persisting).count(), 2, "{got:?}");
        assert_eq!(got.iter().filter(|(_, o)| busy("anonymous")(o)).count(), 1, "{got:?}");

        let mut bob = Raw::connect(s.port).await;
        bob.bind(1, BOB, "bob-secret").await;
        bob.send((2..=5).map(|i| sync_req(i, SUFFIX, true, Some(FUTURE_COOKIE)))).await;
        let got = started(&mut bob, &[2, 3, 4, 5]).await;
        assert_eq!(got.iter().filter(|(_, o)| *o == Started::Persisting).count(), 3, "{got:?}");
        assert_eq!(got.iter().filter(|(_, o)| busy("this connection")(o)).count(), 1, "{got:?}");

        // 2 + 3 = 5: the server's limit, for any other user.
        let mut alice = Raw::connect(s.port).await;
        alice.bind(1, ALICE, "alice-secret").await;
        alice.send([sync_req(2, SUFFIX, true, Some(FUTURE_COOKIE))]).await;
        let got = started(&mut alice, &[2]).await;
        assert!(busy("this server")(&got[0].1), "{got:?}");
        // An ordinary operation is not affected.
        alice.send([search_req(3, "", "(objectClass=*)", &["1.1"], vec![])]).await;
        loop {
            if let LdapOp::SearchResultDone(r) = alice.expect().await.op {
                assert_eq!(r.code, LdapResultCode::Success);
                break;
            }
        }
        // The root DN (like a `replication.replicators` DN) is not held back by others.
        let mut root = Raw::connect(s.port).await;
        root.bind(1, ROOT_DN, ROOT_PW).await;
        root.send([sync_req(2, SUFFIX, true, Some(FUTURE_COOKIE))]).await;
        assert_eq!(started(&mut root, &[2]).await[0].1, Started::Persisting);
        // Bob abandons one of his: its place is free again.
        bob.send([LdapMsg { msgid: 9, op: LdapOp::AbandonRequest(2), ctrl: vec![] }]).await;
        let mut admitted = false;
        for attempt in 0..50 {
            alice.send([sync_req(10 + attempt, SUFFIX, true, Some(FUTURE_COOKIE))]).await;
            let got = started(&mut alice, &[10 + attempt]).await;
            if got[0].1 == Started::Persisting {
                admitted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(admitted, "the abandoned search's place was not freed");
    })
    .await;
}

/// A persistent search begun anonymously does not keep its connection from the idle
/// timeout (an authenticated one, a replica's, does).
#[tokio::test(flavor = "multi_thread")]
async fn anonymous_persistent_searches_do_not_keep_a_connection_open() {
    let s = Server::start_with("[access]\nanonymous_posix = true\n[connections]\nidle_timeout = 2\n", true);
    bounded(LIMIT, async {
        let mut anon = Raw::connect(s.port).await;
        anon.send([sync_req(1, SUFFIX, true, Some(FUTURE_COOKIE))]).await;
        assert_eq!(started(&mut anon, &[1]).await[0].1, Started::Persisting);
        let mut bob = Raw::connect(s.port).await;
        bob.bind(1, BOB, "bob-secret").await;
        bob.send([sync_req(2, SUFFIX, true, Some(FUTURE_COOKIE))]).await;
        assert_eq!(started(&mut bob, &[2]).await[0].1, Started::Persisting);
        let t = Instant::now();
        assert!(anon.closed_within(Duration::from_secs(15)).await, "the anonymous connection is still open");
        eprintln!("anonymous persistent search closed after {:?}", t.elapsed());
        // Bob's connection outlives several idle timeouts.
        assert!(!bob.closed_within(Duration::from_secs(5)).await, "bob's persistent search was cut");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Item 2: sync searches pass the access checks of an ordinary search
// ---------------------------------------------------------------------------------------

/// Under the campus policy anonymous clients may not search the tree: a sync search (with
/// a cookie from the future, which skips the refresh) gets what an ordinary search gets,
/// and no change is announced to it.
#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_sync_search_gets_what_an_ordinary_search_gets() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut anon = Raw::connect(s.port).await;
        anon.send([search_req(1, SUFFIX, "(objectClass=*)", &["cn"], vec![])]).await;
        let ordinary = loop {
            if let LdapOp::SearchResultDone(r) = anon.expect().await.op {
                break r;
            }
        };
        assert_ne!(ordinary.code, LdapResultCode::Success, "anonymous may search the tree: {ordinary:?}");
        for (msgid, persist, cookie) in
            [(2, true, Some(FUTURE_COOKIE)), (3, false, Some(FUTURE_COOKIE)), (4, true, None)]
        {
            anon.send([sync_req(msgid, SUFFIX, persist, cookie)]).await;
            let m = anon.expect().await;
            assert_eq!(m.msgid, msgid);
            match m.op {
                LdapOp::SearchResultDone(r) => {
                    assert_eq!((&r.code, &r.matcheddn), (&ordinary.code, &ordinary.matcheddn), "sync {msgid}")
                }
                other => panic!("sync search {msgid}: expected its end, got {other:?}"),
            }
        }
        // Changes (a failed bind's bookkeeping, a modify) announce nothing to it.
        assert_eq!(common::bind_rc(&s.url(), BOB, "wrong").await, 49);
        let mut admin = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let res =
            admin.modify(BOB, vec![Mod::Replace("description", HashSet::from(["changed"]))]).await.expect("modify");
        assert_eq!(res.rc, 0);
        assert!(anon.next(Duration::from_secs(2)).await.is_none(), "a change was announced");
    })
    .await;
}

/// With rules that hide ou=people from anonymous clients but let them read the rest, an
/// anonymous sync search (refreshed from scratch, or with a cookie from the future) is never
/// told of a person: not in the refresh, not as a change, not as a delete. The root DN
/// (like a replicator) is told of all of it.
#[tokio::test(flavor = "multi_thread")]
async fn sync_messages_never_name_entries_hidden_from_the_requester() {
    let rules = format!(
        "[access]\nrules = [\n  'to dn.subtree=\"{PEOPLE}\" by users read by anonymous auth by * none',\n  'to * by * read',\n]\n"
    );
    let s = Server::start_with(&rules, true);
    bounded(LIMIT, async {
        // The rules do what the test needs: an ordinary anonymous search sees no person.
        let mut anon_ldap = common::connect(&s.url()).await;
        let (entries, res) = common::search(&mut anon_ldap, SUFFIX, Scope::Subtree, "(objectClass=*)", &["1.1"]).await;
        assert_eq!(res.rc, 0);
        assert!(!entries.is_empty() && entries.iter().all(|e| !e.dn.to_ascii_lowercase().contains("ou=people")));

        let mut fresh = Raw::connect(s.port).await;
        fresh.send([sync_req(1, SUFFIX, true, None)]).await;
        let mut refreshed = Vec::new();
        loop {
            let m = fresh.expect().await;
            match m.op {
                LdapOp::SearchResultEntry(e) => refreshed.push(e.dn.to_ascii_lowercase()),
                LdapOp::IntermediateResponse(_) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(!refreshed.is_empty());
        assert!(refreshed.iter().all(|d| !d.contains("ou=people")), "{refreshed:?}");
        let mut future = Raw::connect(s.port).await;
        future.send([sync_req(1, SUFFIX, true, Some(FUTURE_COOKIE))]).await;
        assert_eq!(started(&mut future, &[1]).await[0].1, Started::Persisting);
        let mut root = Raw::connect(s.port).await;
        root.bind(1, ROOT_DN, ROOT_PW).await;
        root.send([sync_req(2, SUFFIX, true, Some(FUTURE_COOKIE))]).await;
        assert_eq!(started(&mut root, &[2]).await[0].1, Started::Persisting);

        // Changes to people: a modify, an add and a delete, a failed bind; then a change
        // to a group everyone may read, which ends what the test waits for.
        let mut admin = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let res = admin.modify(BOB, vec![Mod::Replace("description", HashSet::from(["moved on"]))]).await.unwrap();
        assert_eq!(res.rc, 0);
        let temp = format!("uid=temp,{PEOPLE}");
        let attrs = vec![
            ("objectClass", HashSet::from(["inetOrgPerson"])),
            ("uid", HashSet::from(["temp"])),
            ("cn", HashSet::from(["Temp"])),
            ("sn", HashSet::from(["Temp"])),
        ];
        assert_eq!(admin.add(&temp, attrs).await.unwrap().rc, 0);
        assert_eq!(admin.delete(&temp).await.unwrap().rc, 0);
        assert_eq!(common::bind_rc(&s.url(), BOB, "wrong").await, 49);
        let res = admin.modify(STAFF, vec![Mod::Replace("description", HashSet::from(["sentinel"]))]).await.unwrap();
        assert_eq!(res.rc, 0);

        let staff = STAFF.to_ascii_lowercase();
        for (name, c) in [("fresh", &mut fresh), ("future", &mut future)] {
            let seen: Vec<String> = entries_until(c, &staff).await.into_iter().map(|(dn, _)| dn).collect();
            assert_eq!(seen, vec![staff.clone()], "{name} anonymous sync search was told of hidden entries");
        }
        let seen = entries_until(&mut root, &staff).await;
        assert!(seen.iter().any(|(dn, _)| *dn == BOB.to_ascii_lowercase()), "{seen:?}");
        let deleted = (temp.to_ascii_lowercase(), Some(SyncStateValue::Delete));
        assert!(seen.contains(&deleted), "the root DN was not told of the delete: {seen:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Item 3: the request memos keep nothing large
// ---------------------------------------------------------------------------------------

/// Searches with large attribute lists and large base DNs work, and what they sent is not
/// kept once they are answered.
#[tokio::test(flavor = "multi_thread")]
async fn large_attribute_lists_and_base_dns_are_not_remembered() {
    let s = Server::demo();
    let pid = s.pid();
    bounded(LIMIT, async {
        // Large requests need a bind (item 8); any user will do.
        let mut bob = connect_as(&s.url(), BOB, "bob-secret").await;
        let list =
            |n: usize| -> Vec<String> { (0..25_000).map(|i| format!("x-attribute-{n:03}-{i:06}-padding")).collect() };
        // Warm up (buffers, the runtime), then measure.
        let (entries, res) = common::search(&mut bob, "", Scope::Base, "(objectClass=*)", &["1.1"]).await;
        assert_eq!((res.rc, entries.len()), (0, 1));
        let first = list(999);
        let refs: Vec<&str> = first.iter().map(String::as_str).collect();
        let (_, res) = common::search(&mut bob, "", Scope::Base, "(objectClass=*)", &refs).await;
        assert_eq!(res.rc, 0);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = rss_kib(pid);
        for n in 0..30 {
            // About 1 MB of attribute names; the rootDSE has none of them but objectClass.
            let mut names = list(n);
            names.push("supportedLDAPVersion".into());
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let (entries, res) = common::search(&mut bob, "", Scope::Base, "(objectClass=*)", &refs).await;
            assert_eq!((res.rc, entries.len()), (0, 1), "{res}");
            assert_eq!(entries[0].attrs.get("supportedLDAPVersion").map(Vec::len), Some(1));
        }
        for n in 0..10 {
            // A 1 MB base DN that names nothing.
            let base = format!("cn={}{n},{PEOPLE}", "a".repeat(1 << 20));
            let (_, res) = common::search(&mut bob, &base, Scope::Base, "(objectClass=*)", &["1.1"]).await;
            assert_eq!(res.rc, 32, "{res}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_kib(pid);
        eprintln!("RSS {before} KiB before, {after} KiB after 30 1 MB attribute lists and 10 1 MB base DNs");
        // Kept whole, these would be well over 100 MB.
        assert!(after < before + 40 * 1024, "RSS grew from {before} KiB to {after} KiB");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Item 7: parked paged searches are bounded in bytes
// ---------------------------------------------------------------------------------------

/// An OR filter of `terms` equality assertions plus `(objectClass=*)` (so that every
/// person matches and a page of 1 leaves the search parked).
fn big_or_filter(terms: usize, tag: &str) -> String {
    let mut f = String::from("(|(objectClass=*)");
    for i in 0..terms {
        f.push_str(&format!("(uid={tag}{i:06})"));
    }
    f.push(')');
    f
}

/// One page of size `size` under ou=people: (result code, message, response cookie).
async fn paged(l: &mut Ldap, filter: &str, size: i32, cookie: Vec<u8>) -> (u32, String, Vec<u8>) {
    let ctrl: RawControl = PagedResults { size, cookie }.into();
    let ldap3::SearchResult(_, res) = l
        .with_timeout(common::OP_TIMEOUT)
        .with_controls(ctrl)
        .search(PEOPLE, Scope::Subtree, filter, vec!["1.1"])
        .await
        .expect("search");
    let cookie = res
        .ctrls
        .iter()
        .find_map(|c| match c {
            ldap3::controls::Control(Some(ControlType::PagedResults), raw) => Some(raw.parse::<PagedResults>().cookie),
            _ => None,
        })
        .unwrap_or_default();
    (res.rc, res.text, cookie)
}

/// With the default bounds (8 MiB per connection), a connection that parks two paged
/// searches with large filters loses the older one: its cookie answers unwillingToPerform
/// (53), as slapd answers an unknown cookie. The newer one goes on.
#[tokio::test(flavor = "multi_thread")]
async fn the_oldest_parked_paged_search_of_a_connection_is_dropped_beyond_its_bytes() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut bob = connect_as(&s.url(), BOB, "bob-secret").await;
        // 18,000 terms: about 300 KB on the wire, about 5 MB parked.
        let (f1, f2) = (big_or_filter(18_000, "a"), big_or_filter(18_000, "b"));
        let (rc, text, c1) = paged(&mut bob, &f1, 1, vec![]).await;
        assert_eq!(rc, 0, "{text}");
        assert!(!c1.is_empty());
        let (rc, text, c2) = paged(&mut bob, &f2, 1, vec![]).await;
        assert_eq!(rc, 0, "{text}");
        let (rc, text, _) = paged(&mut bob, &f1, 1, c1).await;
        assert_eq!(rc, 53, "the older parked search was kept: {text}");
        assert!(text.contains("cookie"), "{text}");
        let (rc, text, _) = paged(&mut bob, &f2, 1, c2).await;
        assert_eq!(rc, 0, "{text}");
        // Small paged searches are not affected: eight of them stay parked together.
        let mut cookies = Vec::new();
        for i in 0..8 {
            let f = format!("(|(objectClass=*)(uid=small{i}))");
            let (rc, _, c) = paged(&mut bob, &f, 1, vec![]).await;
            assert_eq!(rc, 0);
            cookies.push((f, c));
        }
        for (f, c) in cookies {
            let (rc, text, _) = paged(&mut bob, &f, 1, c).await;
            assert_eq!(rc, 0, "{text}");
        }
    })
    .await;
}

/// The server-wide bound drops the oldest parked search of any connection; a search too
/// large for the bounds on its own is answered adminLimitExceeded (11) instead of parked.
#[tokio::test(flavor = "multi_thread")]
async fn parked_paged_searches_are_bounded_in_the_whole_server() {
    let s = Server::start_with(
        "[connections]\nmax_paged_bytes = 12582912\nmax_paged_bytes_per_connection = 8388608\n",
        true,
    );
    bounded(LIMIT, async {
        let mut conns = Vec::new();
        let mut cookies = Vec::new();
        for tag in ["a", "b", "c"] {
            let mut l = connect_as(&s.url(), BOB, "bob-secret").await;
            let f = big_or_filter(18_000, tag);
            let (rc, text, c) = paged(&mut l, &f, 1, vec![]).await;
            assert_eq!(rc, 0, "{text}");
            conns.push(l);
            cookies.push((f, c));
        }
        // Three of about 5 MB each are more than 12 MiB: the first connection's went.
        let mut rcs = Vec::new();
        for (l, (f, c)) in conns.iter_mut().zip(cookies) {
            rcs.push(paged(l, &f, 1, c).await.0);
        }
        assert_eq!(rcs, vec![53, 0, 0]);
        // One larger than a connection may hold is not parked at all.
        let f = big_or_filter(40_000, "d");
        let (rc, text, c) = paged(&mut conns[0], &f, 1, vec![]).await;
        assert_eq!((rc, c.is_empty()), (11, true), "{text}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Item 8: requests before a bind are small and must arrive whole within seconds
// ---------------------------------------------------------------------------------------

/// A request larger than slapd's sockbuf_max_incoming (256 KiB) before a bind closes the
/// connection as soon as its header announces it; after a bind the same request is served.
#[tokio::test(flavor = "multi_thread")]
async fn large_requests_before_a_bind_close_the_connection() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let names: Vec<String> = (0..15_000).map(|i| format!("x-attribute-{i:06}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let big = encode([search_req(2, "", "(objectClass=*)", &refs, vec![])]);
        assert!(big.len() > 262_143 && big.len() < 1 << 20, "{}", big.len());

        // Anonymous: only the header and a few bytes are needed for the answer.
        let mut anon = Raw::connect(s.port).await;
        anon.wr.write_all(&big[..64]).await.expect("write");
        let m = anon.expect().await;
        match &m.op {
            LdapOp::ExtendedResponse(r) => {
                assert_eq!(r.name.as_deref(), Some(NOTICE_OID));
                assert_eq!(r.res.code, LdapResultCode::ProtocolError);
                assert!(r.res.message.contains("before a bind"), "{}", r.res.message);
            }
            other => panic!("expected a notice of disconnection, got {other:?}"),
        }
        assert!(anon.closed_within(Duration::from_secs(5)).await);

        // Bound: served.
        let mut bob = Raw::connect(s.port).await;
        bob.bind(1, BOB, "bob-secret").await;
        bob.wr.write_all(&big).await.expect("write");
        loop {
            let m = bob.expect().await;
            if let LdapOp::SearchResultDone(r) = m.op {
                assert_eq!(r.code, LdapResultCode::Success);
                break;
            }
        }
        // Small anonymous requests are served as ever.
        let mut anon = Raw::connect(s.port).await;
        anon.send([search_req(1, "", "(objectClass=*)", &["supportedLDAPVersion"], vec![])]).await;
        loop {
            if let LdapOp::SearchResultDone(r) = anon.expect().await.op {
                assert_eq!(r.code, LdapResultCode::Success);
                break;
            }
        }
    })
    .await;
}

/// A request that starts but does not arrive whole within `request_timeout` closes the
/// connection, long before the idle timeout, even if its bytes trickle in; a request sent
/// in pieces that arrive in time is served.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_does_not_arrive_whole_in_time_closes_the_connection() {
    let s = Server::start_with("[connections]\nrequest_timeout = 2\nidle_timeout = 600\n", true);
    bounded(LIMIT, async {
        let request =
            encode([search_req(1, "", "(objectClass=*)", &["supportedLDAPVersion", "namingContexts"], vec![])]);
        // Stops halfway.
        let mut stalled = Raw::connect(s.port).await;
        stalled.wr.write_all(&request[..10]).await.expect("write");
        // Trickles a byte every 300 ms (would take longer than the timeout).
        let trickle = Raw::connect(s.port).await;
        let t = Instant::now();
        let bytes = request.clone();
        let mut wr = trickle.wr;
        let writer = tokio::spawn(async move {
            for b in bytes.iter().take(bytes.len() - 1) {
                if wr.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        // In two pieces 500 ms apart: served.
        let mut pieces = Raw::connect(s.port).await;
        pieces.wr.write_all(&request[..20]).await.expect("write");
        tokio::time::sleep(Duration::from_millis(500)).await;
        pieces.wr.write_all(&request[20..]).await.expect("write");
        loop {
            if let LdapOp::SearchResultDone(r) = pieces.expect().await.op {
                assert_eq!(r.code, LdapResultCode::Success);
                break;
            }
        }
        assert!(stalled.closed_within(Duration::from_secs(10)).await, "the stalled request's connection is open");
        let mut frames = trickle.frames;
        let closed =
            tokio::time::timeout(Duration::from_secs(10), async { while let Some(Ok(_)) = frames.next().await {} })
                .await
                .is_ok();
        assert!(closed, "the trickling connection is open");
        assert!(t.elapsed() < Duration::from_secs(12), "{:?}", t.elapsed());
        writer.abort();
        // The piecewise connection is still usable.
        pieces.send([search_req(2, "", "(objectClass=*)", &["1.1"], vec![])]).await;
        loop {
            if let LdapOp::SearchResultDone(r) = pieces.expect().await.op {
                assert_eq!(r.code, LdapResultCode::Success);
                break;
            }
        }
    })
    .await;
}

/// Many anonymous connections each sending most of a 3 MB request: none of it is kept
/// (each connection is closed at the header), so memory does not grow with them.
#[tokio::test(flavor = "multi_thread")]
async fn incomplete_large_requests_from_anonymous_clients_hold_no_memory() {
    let s = Server::demo();
    let pid = s.pid();
    bounded(LIMIT, async {
        let names: Vec<String> = (0..130_000).map(|i| format!("x-attribute-{i:06}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let big = encode([search_req(2, "", "(objectClass=*)", &refs, vec![])]);
        assert!(big.len() > 2 << 20 && big.len() < 4 << 20, "{}", big.len());
        let partial = &big[..big.len() - 100];
        let before = rss_kib(pid);
        let mut conns = Vec::new();
        for _ in 0..30 {
            let mut s = TcpStream::connect(("127.0.0.1", s.port)).await.expect("connect");
            // The server may close the connection while this is written: that is the point.
            let _ = tokio::time::timeout(Duration::from_secs(10), s.write_all(partial)).await;
            conns.push(s);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = rss_kib(pid);
        eprintln!("RSS {before} KiB before, {during} KiB with 30 incomplete 3 MB requests");
        assert!(during < before + 30 * 1024, "RSS grew from {before} KiB to {during} KiB");
        // And every one of these connections was closed by the server.
        for mut c in conns {
            let mut sink = vec![0u8; 4096];
            let closed = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match c.read(&mut sink).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            })
            .await
            .is_ok();
            assert!(closed, "an anonymous connection with an incomplete 3 MB request is open");
        }
    })
    .await;
}
