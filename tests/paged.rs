//! Black-box tests of the Simple Paged Results control (RFC 2696): the ldap3 adapter,
//! hand-driven pages, cookies, abandon with size 0, limits, and `ldapsearch -E pr=`.
mod common;

use common::demo::{ALICE, PEOPLE};
use common::{bounded, connect_as, search_dns, Server, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults as PagedAdapter};
use ldap3::controls::{ControlType, PagedResults, RawControl};
use ldap3::{Ldap, Scope, SearchEntry, SearchOptions};
use std::collections::BTreeSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);
const PAGED_OID: &str = "1.2.840.113556.1.4.319";
/// Users in the generated data set.
const USERS: usize = 1200;

/// One page: the DNs returned, the result code and the response control's cookie (`None`
/// when the result carries no paged results control).
struct Page {
    dns: Vec<String>,
    rc: u32,
    text: String,
    cookie: Option<Vec<u8>>,
}

async fn page_with(l: &mut Ldap, base: &str, filter: &str, ctrl: RawControl, opts: SearchOptions) -> Page {
    let ldap3::SearchResult(entries, res) = l
        .with_timeout(common::OP_TIMEOUT)
        .with_search_options(opts)
        .with_controls(ctrl)
        .search(base, Scope::Subtree, filter, vec!["1.1"])
        .await
        .expect("search");
    let cookie = res.ctrls.iter().find_map(|c| match c {
        ldap3::controls::Control(Some(ControlType::PagedResults), raw) => Some(raw.parse::<PagedResults>().cookie),
        _ => None,
    });
    Page {
        dns: entries.into_iter().map(|e| SearchEntry::construct(e).dn).collect(),
        rc: res.rc,
        text: res.text,
        cookie,
    }
}

async fn page(l: &mut Ldap, base: &str, filter: &str, size: i32, cookie: Vec<u8>) -> Page {
    page_with(l, base, filter, PagedResults { size, cookie }.into(), SearchOptions::new()).await
}

/// Walks a search page by page; returns the DNs in the order received and the page sizes.
/// Every page but the last must carry a non-empty cookie and succeed.
async fn walk(l: &mut Ldap, base: &str, filter: &str, size: i32) -> (Vec<String>, Vec<usize>) {
    let (mut dns, mut sizes, mut cookie) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let p = page(l, base, filter, size, cookie).await;
        assert_eq!(p.rc, 0, "page {}: {}", sizes.len() + 1, p.text);
        sizes.push(p.dns.len());
        dns.extend(p.dns);
        match p.cookie {
            Some(c) if c.is_empty() => return (dns, sizes),
            Some(c) => cookie = c,
            None => panic!("page {} has no paged results control", sizes.len()),
        }
        assert!(sizes.len() <= 10_000, "paging does not end");
    }
}

/// Asserts that `dns` holds every DN of `expected` exactly once.
fn exactly_once(dns: &[String], expected: &[String]) {
    let set: BTreeSet<&String> = dns.iter().collect();
    assert_eq!(set.len(), dns.len(), "an entry came back twice");
    let want: BTreeSet<&String> = expected.iter().collect();
    assert_eq!(set, want);
}

/// A server holding the suffix, ou=people with `USERS` users and nothing else, with extra
/// config lines.
fn generated(extra: &str) -> Server {
    let mut s = Server::offline(extra);
    let file = s.dir().join("users.ldif");
    std::fs::write(&file, common::users_ldif(USERS, |_| "secret".to_string())).expect("write ldif");
    let out = s.birch_bounded(&["import", file.to_str().expect("utf-8")], Duration::from_secs(60));
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    s.start_existing();
    s
}

/// A user of the generated data (password "secret"): anonymous clients see nothing under
/// the campus policy.
const USER1: &str = "uid=user00001,ou=people,dc=example,dc=org";

fn user_dns() -> Vec<String> {
    (1..=USERS).map(|i| format!("uid=user{i:05},ou=people,dc=example,dc=org")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ldap3_adapter_walks_the_demo() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let all = search_dns(&mut root, SUFFIX, Scope::Subtree, "(objectClass=*)").await;
        assert!(all.len() > 5, "{all:?}");
        for size in [1, 2, 3, 1000] {
            let adapters: Vec<Box<dyn Adapter<_, _>>> =
                vec![Box::new(EntriesOnly::new()), Box::new(PagedAdapter::new(size))];
            let mut stream = root
                .streaming_search_with(adapters, SUFFIX, Scope::Subtree, "(objectClass=*)", vec!["1.1"])
                .await
                .expect("paged search");
            let mut dns = Vec::new();
            while let Some(e) = stream.next().await.expect("entry") {
                dns.push(SearchEntry::construct(e).dn);
            }
            let res = stream.finish().await;
            assert_eq!(res.rc, 0, "page size {size}: {res}");
            exactly_once(&dns, &all);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_of_a_generated_directory() {
    let s = generated("");
    bounded(LIMIT, async {
        let mut l = connect_as(&s.url(), "uid=user00001,ou=people,dc=example,dc=org", "secret").await;
        let (dns, sizes) = walk(&mut l, PEOPLE, "(objectClass=posixAccount)", 100).await;
        exactly_once(&dns, &user_dns());
        // Full pages of 100, and no empty trailing page: the last full page already ends
        // the search when nothing else matches.
        assert_eq!(sizes, vec![100; 12]);
        let (dns, sizes) = walk(&mut l, PEOPLE, "(objectClass=posixAccount)", 500).await;
        exactly_once(&dns, &user_dns());
        assert_eq!(sizes, vec![500, 500, 200]);
        // An unindexed filter (a scan of the scope) pages the same way.
        let (dns, sizes) = walk(&mut l, SUFFIX, "(sn=Imp*)", 7).await;
        exactly_once(&dns, &user_dns());
        assert_eq!(sizes.len(), USERS.div_ceil(7));
        assert!(sizes.iter().all(|&n| n <= 7));
        // Page size 1.
        let (dns, sizes) = walk(&mut l, PEOPLE, "(uid=user0000*)", 1).await;
        assert_eq!(dns.len(), 9);
        assert_eq!(sizes, vec![1; 9]);
    })
    .await;
}

/// SSSD runs several paged searches on one connection at the same time (users and groups
/// enumerations interleave): the requests are in flight together, each walks to its end.
#[tokio::test(flavor = "multi_thread")]
async fn paged_searches_in_flight_together_on_one_connection() {
    let s = generated("");
    bounded(LIMIT, async {
        let l = connect_as(&s.url(), USER1, "secret").await;
        let (mut a, mut b, mut c) = (l.clone(), l.clone(), l);
        let (x, y, z) = tokio::join!(
            walk(&mut a, PEOPLE, "(objectClass=posixAccount)", 7),
            walk(&mut b, PEOPLE, "(uid=user000*)", 3),
            walk(&mut c, SUFFIX, "(sn=Imp*)", 50),
        );
        exactly_once(&x.0, &user_dns());
        assert_eq!(x.1.len(), USERS.div_ceil(7));
        let first_99: Vec<String> = user_dns().into_iter().take(99).collect();
        exactly_once(&y.0, &first_99);
        assert_eq!(y.1, vec![3; 33]);
        exactly_once(&z.0, &user_dns());
        assert_eq!(z.1, vec![50; USERS / 50]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_between_pages_are_seen() {
    let s = generated("");
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let f = "(objectClass=posixAccount)";
        let first = page(&mut root, PEOPLE, f, 100, vec![]).await;
        assert_eq!((first.rc, first.dns.len()), (0, 100));
        // Delete every user the first page did not return but one, and the entry the next
        // page would have started with: the walk goes on with what is left.
        let left: Vec<String> = user_dns().into_iter().filter(|d| !first.dns.contains(d)).collect();
        for dn in &left[..left.len() - 1] {
            root.delete(dn).await.unwrap().success().unwrap();
        }
        let next = page(&mut root, PEOPLE, f, 100, first.cookie.expect("control")).await;
        assert_eq!((next.rc, next.dns, next.cookie), (0, vec![left[left.len() - 1].clone()], Some(vec![])));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_size_limit_caps_pages_not_the_walk() {
    // The default size limit (500) applies to users' searches.
    let s = generated("");
    bounded(LIMIT, async {
        let mut user = connect_as(&s.url(), USER1, "secret").await;
        let (dns, sizes) = walk(&mut user, PEOPLE, "(objectClass=posixAccount)", 1000).await;
        exactly_once(&dns, &user_dns());
        assert_eq!(sizes, vec![500, 500, 200]);
        // Unpaged, the limit still stops the search.
        let ldap3::SearchResult(es, res) =
            user.search(PEOPLE, Scope::Subtree, "(objectClass=posixAccount)", vec!["1.1"]).await.unwrap();
        assert_eq!((res.rc, es.len()), (4, 500));
        // The root DN has no server limit: one page of 1000.
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let (_, sizes) = walk(&mut root, PEOPLE, "(objectClass=posixAccount)", 1000).await;
        assert_eq!(sizes, vec![1000, 200]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_size_limit_counts_all_pages() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let filter = "(objectClass=*)";
        let all = search_dns(&mut root, SUFFIX, Scope::Subtree, filter).await;
        let opts = || SearchOptions::new().sizelimit(3);
        let p = page_with(&mut root, SUFFIX, filter, PagedResults { size: 2, cookie: vec![] }.into(), opts()).await;
        assert_eq!((p.rc, p.dns.len()), (0, 2));
        let cookie = p.cookie.expect("control");
        assert!(!cookie.is_empty());
        let p = page_with(&mut root, SUFFIX, filter, PagedResults { size: 2, cookie }.into(), opts()).await;
        assert_eq!((p.rc, p.dns.len()), (4, 1), "{}", p.text);
        assert_eq!(p.cookie, Some(vec![]));
        // A first page at least as large as the size limit ignores the control (RFC 2696
        // section 3): a plain search limited to 3 entries, no response control.
        let p = page_with(&mut root, SUFFIX, filter, PagedResults { size: 3, cookie: vec![] }.into(), opts()).await;
        assert_eq!((p.rc, p.dns.len(), p.cookie), (4, 3, None));
        assert!(all.len() > 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cookies_are_checked() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let f = "(objectClass=*)";
        let p = page(&mut l, SUFFIX, f, 2, vec![]).await;
        let cookie = p.cookie.expect("control");
        assert_eq!((p.rc, p.dns.len(), cookie.len()), (0, 2, 8));
        // A cookie this server never hands out (wrong length): protocolError.
        let p = page(&mut l, SUFFIX, f, 2, b"abc".to_vec()).await;
        assert_eq!((p.rc, p.text.as_str(), p.dns.len()), (2, "paged results cookie is invalid", 0));
        // Well formed but unknown: unwillingToPerform.
        let p = page(&mut l, SUFFIX, f, 2, vec![0xff; 8]).await;
        assert_eq!((p.rc, p.text.as_str(), p.dns.len()), (53, "paged results cookie is invalid or old", 0));
        // The cookie of another search (other filter, other base, other attributes).
        let p = page(&mut l, SUFFIX, "(uid=*)", 2, cookie.clone()).await;
        assert_eq!(p.rc, 53, "{}", p.text);
        // ... which spends it.
        let p = page(&mut l, SUFFIX, f, 2, cookie).await;
        assert_eq!(p.rc, 53, "{}", p.text);
        // A cookie is good once, and on its own connection only.
        let first = page(&mut l, SUFFIX, f, 2, vec![]).await;
        let cookie = first.cookie.expect("control");
        let mut other = common::reader(&s.url()).await;
        let p = page(&mut other, SUFFIX, f, 2, cookie.clone()).await;
        assert_eq!(p.rc, 53, "{}", p.text);
        let second = page(&mut l, SUFFIX, f, 2, cookie.clone()).await;
        assert_eq!((second.rc, second.dns.len()), (0, 2));
        assert!(first.dns.iter().all(|d| !second.dns.contains(d)));
        let p = page(&mut l, SUFFIX, f, 2, cookie).await;
        assert_eq!(p.rc, 53, "{}", p.text);
        // After a bind as someone else the cookie no longer applies.
        let p = page(&mut l, SUFFIX, f, 2, vec![]).await;
        let cookie = p.cookie.expect("control");
        l.simple_bind(ALICE, "alice-secret").await.unwrap().success().unwrap();
        let p = page(&mut l, SUFFIX, f, 2, cookie).await;
        assert_eq!(p.rc, 53, "{}", p.text);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn size_zero_abandons_the_paged_search() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let f = "(objectClass=*)";
        let p = page(&mut l, SUFFIX, f, 2, vec![]).await;
        let cookie = p.cookie.expect("control");
        let p = page(&mut l, SUFFIX, f, 0, cookie.clone()).await;
        assert_eq!((p.rc, p.dns.len(), p.cookie), (0, 0, Some(vec![])));
        // It is gone.
        let p = page(&mut l, SUFFIX, f, 2, cookie).await;
        assert_eq!(p.rc, 53, "{}", p.text);
        // Size 0 without a cookie: nothing to abandon, no entries.
        let p = page(&mut l, SUFFIX, f, 0, vec![]).await;
        assert_eq!((p.rc, p.dns.len(), p.cookie), (0, 0, Some(vec![])));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_keeps_eight_paged_searches() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let f = "(objectClass=*)";
        let mut cookies = Vec::new();
        for _ in 0..9 {
            cookies.push(page(&mut l, SUFFIX, f, 1, vec![]).await.cookie.expect("control"));
        }
        // The oldest was forgotten; the other eight go on.
        let p = page(&mut l, SUFFIX, f, 1, cookies[0].clone()).await;
        assert_eq!(p.rc, 53, "{}", p.text);
        for c in &cookies[1..] {
            let p = page(&mut l, SUFFIX, f, 1, c.clone()).await;
            assert_eq!((p.rc, p.dns.len()), (0, 1), "{}", p.text);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn critical_paged_control_and_root_dse() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let mut ctrl: RawControl = PagedResults { size: 2, cookie: vec![] }.into();
        ctrl.crit = true;
        let p = page_with(&mut l, SUFFIX, "(objectClass=*)", ctrl, SearchOptions::new()).await;
        assert_eq!((p.rc, p.dns.len()), (0, 2), "{}", p.text);
        assert!(!p.cookie.expect("control").is_empty());
        // The root DSE lists the control and is a single (last) page itself.
        let ldap3::SearchResult(es, res) = l
            .with_controls(PagedResults { size: 5, cookie: vec![] })
            .search("", Scope::Base, "(objectClass=*)", vec!["supportedControl"])
            .await
            .unwrap();
        assert_eq!(res.rc, 0);
        let e = SearchEntry::construct(es.into_iter().next().expect("root DSE"));
        assert!(e.attrs["supportedControl"].iter().any(|c| c == PAGED_OID), "{:?}", e.attrs);
        assert!(res.ctrls.iter().any(|c| matches!(c.0, Some(ControlType::PagedResults))));
    })
    .await;
}

/// `ldapsearch -E pr=N/noprompt` (as SSSD and nslcd page) walks everything.
#[test]
fn ldapsearch_pages() {
    let s = generated("");
    for ext in ["pr=100/noprompt", "!pr=250/noprompt"] {
        let out = s.ldap_tool(
            "ldapsearch",
            &[
                "-x",
                "-D",
                USER1,
                "-w",
                "secret",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-E",
                ext,
                "-b",
                PEOPLE,
                "(objectClass=posixAccount)",
                "1.1",
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{ext}: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
        let dns: Vec<String> = stdout.lines().filter_map(|l| l.strip_prefix("dn: ")).map(str::to_string).collect();
        exactly_once(&dns, &user_dns());
    }
    // Without -LLL ldapsearch prints the paged results control of each page.
    let out = s.ldap_tool(
        "ldapsearch",
        &["-x", "-D", USER1, "-w", "secret", "-E", "pr=500/noprompt", "-b", PEOPLE, "(uid=user0000*)", "1.1"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("# numEntries: 9"), "{stdout}");
    assert!(stdout.contains("pagedresults: cookie="), "{stdout}");
}
