//! Black-box protocol tests: the real `birch` binary spoken to with ldap3, ldap-utils and
//! hand-built BER.
mod common;

use common::demo::{ALICE, BOB, CHENWEI, GROUPS, IT_ADMINS, NSLCD, PEOPLE, STAFF, STUDENTS};

use common::{bounded, connect, connect_as, search, search_dns, sorted, Server, ROOT_DN, ROOT_PW, SUFFIX};
use futures_util::StreamExt;
use ldap3::controls::RawControl;
use ldap3::exop::{Exop, WhoAmI};
use ldap3::{Scope, SearchEntry, SearchOptions};
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapExtendedRequest, LdapMsg, LdapOp, LdapResultCode,
    LdapSearchRequest, LdapSearchScope,
};
use ldap3_proto::LdapCodec;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Encoder, Framed};

const WHOAMI_OID: &str = "1.3.6.1.4.1.4203.1.11.3";
const NOTICE_OID: &str = "1.3.6.1.4.1.1466.20036";
const LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The values of attribute `name` (compared case-insensitively), if returned.
fn attr<'a>(e: &'a SearchEntry, name: &str) -> Option<&'a Vec<String>> {
    e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The returned attribute names, lower-cased and sorted.
fn names(e: &SearchEntry) -> Vec<String> {
    let mut v: Vec<String> = e.attrs.keys().chain(e.bin_attrs.keys()).map(|k| k.to_ascii_lowercase()).collect();
    v.sort();
    v
}

/// The single value of attribute `name`.
fn one<'a>(e: &'a SearchEntry, name: &str) -> &'a str {
    match attr(e, name).map(|v| v.as_slice()) {
        Some([v]) => v,
        other => panic!("{name} of {}: expected one value, got {other:?}", e.dn),
    }
}

async fn whoami(l: &mut ldap3::Ldap) -> String {
    let (exop, res) =
        l.with_timeout(common::OP_TIMEOUT).extended(WhoAmI).await.expect("whoami").success().expect("whoami rc");
    assert_eq!(res.rc, 0);
    String::from_utf8(exop.val.unwrap_or_default()).expect("authzid utf-8")
}

/// A raw LDAP connection: hand-built requests, decoded responses.
struct Raw {
    io: Framed<TcpStream, LdapCodec>,
}

#[derive(Debug)]
enum Got {
    Msg(Box<LdapMsg>),
    Closed,
}

impl Raw {
    async fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        Raw { io: Framed::new(stream, LdapCodec::new(Some(64 << 20), None)) }
    }

    async fn write(&mut self, bytes: &[u8]) {
        let s = self.io.get_mut();
        s.write_all(bytes).await.expect("write");
        s.flush().await.expect("flush");
    }

    /// The next message or the end of the connection; panics if nothing comes within 5 s.
    async fn recv(&mut self) -> Got {
        match tokio::time::timeout(Duration::from_secs(5), self.io.next()).await {
            Err(_) => panic!("no response and no close within 5 s"),
            Ok(Some(Ok(m))) => Got::Msg(Box::new(m)),
            Ok(None) | Ok(Some(Err(_))) => Got::Closed,
        }
    }

    /// Binds as the workstation service account (anonymous clients see nothing under the
    /// campus policy) and waits for the answer, so that later requests run bound.
    async fn login(&mut self) {
        self.write(&encode(vec![bind_msg(1000, NSLCD, "nslcd-secret")])).await;
        let m = self.recv_msg().await;
        assert!(matches!(&m.op, LdapOp::BindResponse(r) if r.res.code == LdapResultCode::Success), "{m:?}");
    }

    async fn recv_msg(&mut self) -> LdapMsg {
        match self.recv().await {
            Got::Msg(m) => *m,
            Got::Closed => panic!("connection closed, expected a response"),
        }
    }

    /// Asserts that the server closes the connection (a Notice of Disconnection may come
    /// first) within 5 s.
    async fn expect_closed(&mut self) {
        for _ in 0..4 {
            match self.recv().await {
                Got::Closed => return,
                Got::Msg(m) => match (m.msgid, &m.op) {
                    (0, LdapOp::ExtendedResponse(r)) => {
                        assert_eq!(r.name.as_deref(), Some(NOTICE_OID), "unsolicited notification {r:?}");
                        assert_eq!(r.res.code, LdapResultCode::ProtocolError);
                    }
                    _ => panic!("expected the connection to be closed, got {m:?}"),
                },
            }
        }
        panic!("connection not closed");
    }
}

fn encode(msgs: Vec<LdapMsg>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut codec = LdapCodec::default();
    for m in msgs {
        codec.encode(m, &mut buf).expect("encode");
    }
    buf.to_vec()
}

fn search_msg(msgid: i32, base: &str, filter: &str) -> LdapMsg {
    LdapMsg {
        msgid,
        op: LdapOp::SearchRequest(LdapSearchRequest {
            base: base.into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: ldap3_proto::parse_ldap_filter_str(filter).expect("filter"),
            attrs: vec!["1.1".into()],
        }),
        ctrl: vec![],
    }
}

fn whoami_msg(msgid: i32) -> LdapMsg {
    LdapMsg {
        msgid,
        op: LdapOp::ExtendedRequest(LdapExtendedRequest { name: WHOAMI_OID.into(), value: None }),
        ctrl: vec![],
    }
}

fn bind_msg(msgid: i32, dn: &str, pw: &str) -> LdapMsg {
    LdapMsg {
        msgid,
        op: LdapOp::BindRequest(LdapBindRequest { version: 3, dn: dn.into(), cred: LdapBindCred::Simple(pw.into()) }),
        ctrl: vec![],
    }
}

// ---------------------------------------------------------------------------------------
// 1. Root DSE
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn rootdse_operational_attributes() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let (es, res) = search(&mut l, "", Scope::Base, "(objectClass=*)", &["+"]).await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(es.len(), 1);
        let e = &es[0];
        assert_eq!(e.dn, "");
        assert_eq!(attr(e, "namingContexts"), Some(&vec![SUFFIX.to_string()]));
        assert_eq!(attr(e, "supportedLDAPVersion"), Some(&vec!["3".to_string()]));
        let ext = attr(e, "supportedExtension").expect("supportedExtension");
        assert!(ext.iter().any(|x| x == WHOAMI_OID), "{ext:?}");
        assert_eq!(attr(e, "subschemaSubentry"), Some(&vec!["cn=Subschema".to_string()]));
        assert_eq!(attr(e, "vendorName"), Some(&vec!["Birch".to_string()]));
        let version = one(e, "vendorVersion");
        assert!(version.starts_with("Birch "), "{version}");
        assert!(attr(e, "objectClass").is_none(), "+ must not return user attributes: {:?}", names(e));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rootdse_user_attributes_are_only_object_class() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let (es, res) = search(&mut l, "", Scope::Base, "(objectClass=*)", &["*"]).await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(es.len(), 1);
        assert_eq!(names(&es[0]), vec!["objectclass"]);
        assert!(attr(&es[0], "objectClass").unwrap().iter().any(|v| v == "top"));
        // No attribute list at all means all user attributes too.
        let (es, _) = search(&mut l, "", Scope::Base, "(objectClass=*)", &[]).await;
        assert_eq!(names(&es[0]), vec!["objectclass"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rootdse_via_ldapsearch() {
    let s = Server::demo();
    let out = s.ldap_tool("ldapsearch", &["-x", "-LLL", "-b", "", "-s", "base", "+"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ldapsearch: {out:?}");
    for line in [
        "namingContexts: dc=example,dc=org",
        "supportedLDAPVersion: 3",
        "supportedExtension: 1.3.6.1.4.1.4203.1.11.3",
        "subschemaSubentry: cn=Subschema",
        "vendorName: Birch",
    ] {
        assert!(stdout.lines().any(|l| l == line), "missing {line:?} in\n{stdout}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("vendorVersion: Birch ")), "{stdout}");
}

// ---------------------------------------------------------------------------------------
// 2. Search
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn search_by_uid_returns_the_entry() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let (es, res) = search(&mut l, SUFFIX, Scope::Subtree, "(uid=alice)", &[]).await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(es.len(), 1);
        let e = &es[0];
        assert_eq!(e.dn, ALICE);
        assert_eq!(one(e, "cn"), "Alice Liddell");
        assert_eq!(one(e, "sn"), "Liddell");
        assert_eq!(one(e, "mail"), "alice@example.org");
        assert_eq!(one(e, "uidNumber"), "10001");
        assert_eq!(one(e, "homeDirectory"), "/home/alice");
        let mut oc = attr(e, "objectClass").unwrap().clone();
        oc.sort();
        assert_eq!(oc, vec!["inetOrgPerson", "posixAccount", "shadowAccount"]);
        assert_eq!(
            names(e),
            sorted(&[
                "cn",
                "gidnumber",
                "givenname",
                "homedirectory",
                "loginshell",
                "mail",
                "objectclass",
                "sn",
                "uid",
                "uidnumber"
            ]),
            "no userPassword, no operational attributes"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn user_password_is_never_returned() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let url = s.url();
        // Anonymous clients see nothing at all under the campus policy.
        let mut anon = connect(&url).await;
        let (es, res) = search(&mut anon, PEOPLE, Scope::Subtree, "(objectClass=*)", &["*"]).await;
        assert_eq!((res.rc, es.len()), (32, 0), "{res}");
        let mut nslcd = common::reader(&url).await;
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let mut alice = connect_as(&url, ALICE, "alice-secret").await;
        for (who, l) in [("nslcd", &mut nslcd), ("root", &mut root), ("alice", &mut alice)] {
            for attrs in [&["userPassword"][..], &["userpassword", "cn"], &["*", "+"], &[], &["*", "userPassword"]] {
                let (es, res) = search(l, PEOPLE, Scope::Subtree, "(objectClass=*)", attrs).await;
                assert_eq!(res.rc, 0, "{res}");
                assert_eq!(es.len(), 4, "{who} {attrs:?}");
                for e in &es {
                    assert!(
                        !names(e).iter().any(|n| n == "userpassword"),
                        "{who} got userPassword of {} asking for {attrs:?}",
                        e.dn
                    );
                }
            }
            let (es, _) = search(l, ALICE, Scope::Base, "(objectClass=*)", &["userPassword"]).await;
            assert_eq!(es.len(), 1);
            assert!(es[0].attrs.is_empty() && es[0].bin_attrs.is_empty(), "{who}: {:?}", es[0]);
        }
        let (es, _) = search(&mut root, NSLCD, Scope::Base, "(objectClass=*)", &["userPassword", "description"]).await;
        assert_eq!(names(&es[0]), vec!["description"]);
    })
    .await;
}

/// Filtering on userPassword would be an oracle for the hash (substring by substring):
/// like OpenLDAP's default ACL, such filter items must match nothing.
#[tokio::test(flavor = "multi_thread")]
async fn user_password_cannot_be_probed_with_filters() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut nslcd = common::reader(&s.url()).await;
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        for l in [&mut nslcd, &mut root] {
            for f in
                ["(userPassword=*)", "(userPassword={ARGON2}*)", "(userPassword=*argon2id*)", "(userPassword>=\\00)"]
            {
                let dns = search_dns(l, SUFFIX, Scope::Subtree, f).await;
                assert_eq!(dns, Vec::<String>::new(), "filter {f} matched entries by their password hash");
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        assert_eq!(search_dns(&mut l, PEOPLE, Scope::Base, "(objectClass=*)").await, vec![PEOPLE]);
        assert_eq!(
            search_dns(&mut l, PEOPLE, Scope::OneLevel, "(objectClass=*)").await,
            sorted(&[ALICE, BOB, CHENWEI])
        );
        assert_eq!(
            search_dns(&mut l, PEOPLE, Scope::Subtree, "(objectClass=*)").await,
            sorted(&[PEOPLE, ALICE, BOB, CHENWEI])
        );
        assert_eq!(
            search_dns(&mut l, SUFFIX, Scope::OneLevel, "(objectClass=*)").await,
            sorted(&[PEOPLE, GROUPS, "ou=services,dc=example,dc=org"])
        );
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(objectClass=*)").await.len(), 11);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Base, "(objectClass=*)").await, vec![SUFFIX]);
        // A base-scope search whose filter does not match the base.
        assert_eq!(search_dns(&mut l, ALICE, Scope::Base, "(uid=bob)").await, Vec::<String>::new());
        // Base DN matching is case- and space-insensitive.
        assert_eq!(
            search_dns(&mut l, "UID=Alice, OU=People, DC=Example, DC=Org", Scope::Base, "(objectClass=*)").await,
            vec![ALICE]
        );
        // Indexed filter, one-level scope: only children of the base.
        assert_eq!(search_dns(&mut l, GROUPS, Scope::OneLevel, "(cn=staff)").await, vec![STAFF]);
        assert_eq!(search_dns(&mut l, PEOPLE, Scope::OneLevel, "(cn=staff)").await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attribute_selection() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        // `+`: the operational attributes only.
        let (es, res) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &["+"]).await;
        assert_eq!(res.rc, 0);
        let e = &es[0];
        assert_eq!(one(e, "entryDN"), ALICE);
        assert_eq!(one(e, "hasSubordinates"), "FALSE");
        assert_eq!(one(e, "subschemaSubentry"), "cn=Subschema");
        assert!(attr(e, "cn").is_none() && attr(e, "objectClass").is_none(), "{:?}", names(e));
        let (es, _) = search(&mut l, PEOPLE, Scope::Base, "(objectClass=*)", &["hasSubordinates"]).await;
        assert_eq!(names(&es[0]), vec!["hassubordinates"]);
        assert_eq!(one(&es[0], "hasSubordinates"), "TRUE");
        // `*` and `+` together.
        let (es, _) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &["*", "+"]).await;
        for n in ["cn", "uid", "entrydn", "hassubordinates", "subschemasubentry"] {
            assert!(names(&es[0]).iter().any(|x| x == n), "{n} missing: {:?}", names(&es[0]));
        }
        // An operational attribute by name, with a user attribute.
        let (es, _) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &["entryDN", "uid"]).await;
        assert_eq!(names(&es[0]), vec!["entrydn", "uid"]);
        // `1.1`: no attributes.
        let (es, _) = search(&mut l, PEOPLE, Scope::OneLevel, "(objectClass=*)", &["1.1"]).await;
        assert_eq!(es.len(), 3);
        for e in &es {
            assert!(e.attrs.is_empty() && e.bin_attrs.is_empty(), "{e:?}");
        }
        // Unknown attribute names are ignored.
        let (es, res) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &["noSuchAttr", "mail"]).await;
        assert_eq!(res.rc, 0);
        assert_eq!(names(&es[0]), vec!["mail"]);
        // typesOnly: names without values.
        let ldap3::SearchResult(raw, res) = l
            .with_search_options(SearchOptions::new().typesonly(true))
            .search(ALICE, Scope::Base, "(objectClass=*)", vec!["cn", "uid", "objectClass"])
            .await
            .expect("search");
        assert_eq!(res.rc, 0);
        let e = SearchEntry::construct(raw.into_iter().next().expect("entry"));
        assert_eq!(names(&e), vec!["cn", "objectclass", "uid"]);
        for (k, v) in &e.attrs {
            assert!(v.is_empty(), "typesOnly returned values for {k}: {v:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attribute_names_are_case_insensitive_and_aliases_resolve() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        assert_eq!(search_dns(&mut l, GROUPS, Scope::Subtree, "(memberuid=alice)").await, vec![STAFF]);
        assert_eq!(search_dns(&mut l, GROUPS, Scope::Subtree, "(MEMBERUID=bob)").await, vec![STAFF]);
        // memberUid uses caseExactIA5Match: the value's case matters.
        assert_eq!(search_dns(&mut l, GROUPS, Scope::Subtree, "(memberUid=Alice)").await, Vec::<String>::new());
        // uid uses caseIgnoreMatch.
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(UID=ALICE)").await, vec![ALICE]);
        assert_eq!(
            search_dns(&mut l, SUFFIX, Scope::Subtree, "(objectclass=INETORGPERSON)").await,
            sorted(&[ALICE, BOB, CHENWEI])
        );
        let (es, _) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &["CN"]).await;
        assert_eq!(names(&es[0]), vec!["cn"]);
        assert_eq!(one(&es[0], "cn"), "Alice Liddell");
        // Aliases: commonName is cn, surname is sn, userid is uid.
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(commonName=Alice Liddell)").await, vec![ALICE]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(surname=Baker)").await, vec![BOB]);
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(userid=chenwei)").await, vec![CHENWEI]);
        let (es, _) = search(&mut l, ALICE, Scope::Base, "(objectClass=*)", &["commonName"]).await;
        assert_eq!(names(&es[0]), vec!["cn"]);
        // caseIgnoreMatch folds case and insignificant spaces.
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(cn=  alice   LIDDELL )").await, vec![ALICE]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_filter_type() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let cases: &[(&str, &[&str])] = &[
            ("(&(objectClass=posixAccount)(gidNumber=10001))", &[ALICE, BOB]),
            ("(|(uid=alice)(uid=chenwei))", &[ALICE, CHENWEI]),
            ("(&(objectClass=posixAccount)(!(uid=alice)))", &[BOB, CHENWEI]),
            ("(!(objectClass=*))", &[]),
            ("(&(uid=alice)(|(sn=Liddell)(sn=Baker))(!(mail=bob@example.org)))", &[ALICE]),
            ("(uid=bob)", &[BOB]),
            ("(gidNumber=10002)", &[CHENWEI, STUDENTS]),
            // Substrings, indexed (uid, cn, mail) and not (sn).
            ("(uid=al*)", &[ALICE]),
            ("(uid=*e*)", &[ALICE, CHENWEI]),
            ("(cn=*wei)", &[CHENWEI]),
            ("(mail=*@example.org)", &[ALICE, BOB, CHENWEI]),
            ("(cn=b*b*ker)", &[BOB]),
            ("(sn=Lid*)", &[ALICE]),
            ("(sn=*dd*)", &[ALICE]),
            ("(sn=*er)", &[BOB]),
            ("(sn=l*d*l)", &[ALICE]),
            ("(sn=*x*)", &[]),
            // homeDirectory has no SUBSTR rule (RFC 2307): Undefined, as in slapd.
            ("(homeDirectory=/home/*)", &[]),
            // Ordering on an integer attribute compares numbers, not strings.
            ("(uidNumber>=10002)", &[BOB, CHENWEI]),
            ("(uidNumber<=10001)", &[ALICE]),
            ("(uidNumber>=9999)", &[ALICE, BOB, CHENWEI]),
            ("(&(uidNumber>=10002)(uidNumber<=10002))", &[BOB]),
            ("(uidNumber<=9999)", &[]),
            // Presence.
            ("(mail=*)", &[ALICE, BOB, CHENWEI]),
            ("(description=*)", &[NSLCD]),
            ("(member=*)", &[IT_ADMINS]),
            // Approximate match.
            ("(cn~=alice liddell)", &[ALICE]),
            // Extensible match with a matching rule (cn with caseExactMatch: see
            // extensible_match_with_another_rule_on_an_indexed_attribute).
            ("(sn:caseExactMatch:=Liddell)", &[ALICE]),
            ("(sn:caseExactMatch:=liddell)", &[]),
            ("(sn:2.5.13.5:=Baker)", &[BOB]),
            ("(cn:caseExactMatch:=alice liddell)", &[]),
            ("(cn:2.5.13.2:=ALICE LIDDELL)", &[ALICE]),
            ("(cn:caseIgnoreMatch:=alice liddell)", &[ALICE]),
            ("(uid:caseExactMatch:=ALICE)", &[]),
            ("(cn:dn:=people)", &[]),
            ("(member=UID=Alice,OU=People,DC=Example,DC=Org)", &[IT_ADMINS]),
            // Unicode.
            ("(cn=陈伟)", &[CHENWEI]),
            ("(cn=Chen Wei)", &[CHENWEI]),
            ("(cn=陈*)", &[CHENWEI]),
            // Unknown attributes, classes, rules: Undefined, and so is their negation.
            ("(unknownAttr=x)", &[]),
            ("(!(unknownAttr=x))", &[]),
            ("(unknownAttr=*)", &[]),
            ("(objectClass=noSuchClass)", &[]),
            ("(!(objectClass=noSuchClass))", &[]),
            ("(cn:1.2.3.4.5:=Alice Liddell)", &[]),
            ("(|(unknownAttr=x)(uid=alice))", &[ALICE]),
            ("(&(unknownAttr=x)(uid=alice))", &[]),
            // Not(And(Undefined, False)) = Not(False) = True for everyone but alice, for
            // whom it is Not(Undefined).
            (
                "(!(&(unknownAttr=x)(uid=alice)))",
                &[
                    SUFFIX,
                    PEOPLE,
                    GROUPS,
                    "ou=services,dc=example,dc=org",
                    BOB,
                    CHENWEI,
                    STAFF,
                    STUDENTS,
                    IT_ADMINS,
                    NSLCD,
                ],
            ),
            ("(!(|(unknownAttr=x)(uid=alice)))", &[]),
        ];
        for (filter, want) in cases {
            let got = search_dns(&mut l, SUFFIX, Scope::Subtree, filter).await;
            assert_eq!(got, sorted(want), "filter {filter}");
        }
        // And one that excludes only entries where it is False (not Undefined):
        let got = search_dns(&mut l, PEOPLE, Scope::OneLevel, "(!(uid=alice))").await;
        assert_eq!(got, sorted(&[BOB, CHENWEI]));
    })
    .await;
}

/// `(cn:caseExactMatch:=Alice Liddell)`: cn is equality-indexed with its own rule
/// (caseIgnoreMatch); the extensible filter with another rule must still match.
#[tokio::test(flavor = "multi_thread")]
async fn extensible_match_with_another_rule_on_an_indexed_attribute() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let cases: &[(&str, &[&str])] = &[
            ("(cn:caseExactMatch:=Alice Liddell)", &[ALICE]),
            ("(cn:2.5.13.5:=Bob Baker)", &[BOB]),
            ("(mail:caseExactIA5Match:=alice@example.org)", &[ALICE]),
            ("(&(objectClass=inetOrgPerson)(cn:caseExactMatch:=Chen Wei))", &[CHENWEI]),
        ];
        for (filter, want) in cases {
            let got = search_dns(&mut l, SUFFIX, Scope::Subtree, filter).await;
            assert_eq!(got, sorted(want), "filter {filter}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unicode_values_round_trip() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let (es, res) = search(&mut l, SUFFIX, Scope::Subtree, "(cn=陈伟)", &["cn"]).await;
        assert_eq!(res.rc, 0);
        assert_eq!(es.len(), 1);
        let mut cn = attr(&es[0], "cn").unwrap().clone();
        cn.sort();
        assert_eq!(cn, vec!["Chen Wei".to_string(), "陈伟".to_string()]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_size_limit() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let ldap3::SearchResult(es, res) = l
            .with_search_options(SearchOptions::new().sizelimit(2))
            .search(SUFFIX, Scope::Subtree, "(objectClass=inetOrgPerson)", vec!["1.1"])
            .await
            .expect("search");
        assert_eq!(res.rc, 4, "{res}");
        assert_eq!(es.len(), 2);
        // A limit equal to the number of matches is not exceeded.
        let ldap3::SearchResult(es, res) = l
            .with_search_options(SearchOptions::new().sizelimit(3))
            .search(SUFFIX, Scope::Subtree, "(objectClass=inetOrgPerson)", vec!["1.1"])
            .await
            .expect("search");
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(es.len(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_size_limits_apply_by_requester() {
    // Users get size_limit, anonymous clients and service accounts [limits]; the root DN
    // and the admins group are never limited.
    let s = Server::start_with(
        "size_limit = 2\n[limits]\nanonymous = 1\nservices = 2\n[access]\nanonymous_posix = true\n",
        true,
    );
    bounded(LIMIT, async {
        let url = s.url();
        let filter = "(objectClass=inetOrgPerson)";
        let mut anon = connect(&url).await;
        let (es, res) = search(&mut anon, SUFFIX, Scope::Subtree, filter, &["1.1"]).await;
        assert_eq!((res.rc, es.len()), (4, 1), "{res}");
        for mut l in [connect_as(&url, BOB, "bob-secret").await, connect_as(&url, NSLCD, "nslcd-secret").await] {
            let (es, res) = search(&mut l, SUFFIX, Scope::Subtree, filter, &["1.1"]).await;
            assert_eq!(res.rc, 4, "{res}");
            assert_eq!(es.len(), 2);
            // The client cannot raise it.
            let ldap3::SearchResult(es, res) = l
                .with_search_options(SearchOptions::new().sizelimit(100))
                .search(SUFFIX, Scope::Subtree, filter, vec!["1.1"])
                .await
                .expect("search");
            assert_eq!((res.rc, es.len()), (4, 2));
        }
        for mut l in [connect_as(&url, ROOT_DN, ROOT_PW).await, connect_as(&url, ALICE, "alice-secret").await] {
            let (es, res) = search(&mut l, SUFFIX, Scope::Subtree, filter, &["1.1"]).await;
            assert_eq!(res.rc, 0, "{res}");
            assert_eq!(es.len(), 3);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_and_invalid_bases() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let (es, res) =
            search(&mut l, "uid=nobody,ou=people,dc=example,dc=org", Scope::Subtree, "(objectClass=*)", &[]).await;
        assert_eq!(res.rc, 32, "{res}");
        assert_eq!(res.matched, PEOPLE);
        assert!(es.is_empty());
        let (_, res) =
            search(&mut l, "cn=x,uid=nobody,ou=people,dc=example,dc=org", Scope::Base, "(objectClass=*)", &[]).await;
        assert_eq!((res.rc, res.matched.as_str()), (32, PEOPLE));
        let (es, res) = search(&mut l, "dc=other,dc=com", Scope::Subtree, "(objectClass=*)", &[]).await;
        assert_eq!(res.rc, 32, "{res}");
        assert_eq!(res.matched, "");
        assert!(es.is_empty());
        let (es, res) = search(&mut l, "this is not a dn", Scope::Subtree, "(objectClass=*)", &[]).await;
        assert_eq!(res.rc, 34, "{res}");
        assert!(es.is_empty());
        // The connection is still fine.
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(uid=alice)").await, vec![ALICE]);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 3. Bind
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn binds() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let url = s.url();
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        assert_eq!(whoami(&mut root).await, format!("dn:{ROOT_DN}"));
        // DNs are compared normalized.
        assert_eq!(common::bind_rc(&url, "CN=Admin, DC=Example, DC=Org", ROOT_PW).await, 0);
        assert_eq!(common::bind_rc(&url, "UID=alice,ou=People,dc=example,dc=org", "alice-secret").await, 0);
        let mut alice = connect_as(&url, ALICE, "alice-secret").await;
        assert_eq!(whoami(&mut alice).await, "dn:uid=alice,ou=people,dc=example,dc=org");
        let mut anon = connect(&url).await;
        assert_eq!(whoami(&mut anon).await, "");
        assert_eq!(common::bind_rc(&url, ALICE, "wrong").await, 49);
        assert_eq!(common::bind_rc(&url, ROOT_DN, "wrong").await, 49);
        assert_eq!(common::bind_rc(&url, "uid=nobody,ou=people,dc=example,dc=org", "x").await, 49);
        assert_eq!(common::bind_rc(&url, "uid=nobody,dc=elsewhere", "x").await, 49);
        // An entry without a password cannot bind.
        assert_eq!(common::bind_rc(&url, PEOPLE, "x").await, 49);
        assert_eq!(common::bind_rc(&url, ALICE, "").await, 53);
        assert_eq!(common::bind_rc(&url, "", "some-password").await, 49);
        assert_eq!(common::bind_rc(&url, "", "").await, 0);
        assert_eq!(common::bind_rc(&url, "not a dn", "x").await, 34);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_bind_leaves_the_connection_anonymous() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = connect_as(&s.url(), ALICE, "alice-secret").await;
        let res = l.simple_bind(BOB, "wrong").await.expect("bind");
        assert_eq!(res.rc, 49);
        assert_eq!(whoami(&mut l).await, "");
        let res = l.simple_bind(BOB, "bob-secret").await.expect("bind");
        assert_eq!(res.rc, 0);
        assert_eq!(whoami(&mut l).await, format!("dn:{BOB}"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sasl_bind_is_not_supported() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let res = l.sasl_external_bind().await.expect("bind");
        assert_eq!(res.rc, 7, "{res}");
        assert_eq!(whoami(&mut l).await, "");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ldapwhoami_as_root() {
    let s = Server::demo();
    let out = s.ldap_tool("ldapwhoami", &["-x", "-D", ROOT_DN, "-w", ROOT_PW]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "dn:cn=admin,dc=example,dc=org");
    let out = s.ldap_tool("ldapwhoami", &["-x", "-D", ROOT_DN, "-w", "wrong"]);
    assert_eq!(out.status.code(), Some(49), "{out:?}");
    let out = s.ldap_tool("ldapwhoami", &["-x"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "anonymous");
}

// ---------------------------------------------------------------------------------------
// 4. Extended operations and controls
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn unknown_extended_operation() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let ldap3::result::ExopResult(_, res) =
            l.extended(Exop { name: Some("1.2.3.4.5.6.7".into()), val: Some(b"x".to_vec()) }).await.expect("exop");
        assert_eq!(res.rc, 2, "{res}");
        assert_eq!(whoami(&mut l).await, format!("dn:{NSLCD}"), "the connection is unharmed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn critical_controls() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let ctrl = |crit| RawControl { ctype: "1.2.3.4.5.6.7.8".into(), crit, val: None };
        let ldap3::SearchResult(es, res) = l
            .with_controls(ctrl(true))
            .search(SUFFIX, Scope::Subtree, "(uid=alice)", vec!["1.1"])
            .await
            .expect("search");
        assert_eq!(res.rc, 12, "{res}");
        assert!(es.is_empty());
        let ldap3::SearchResult(es, res) = l
            .with_controls(ctrl(false))
            .search(SUFFIX, Scope::Subtree, "(uid=alice)", vec!["1.1"])
            .await
            .expect("search");
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(es.len(), 1);
        // A critical unknown control on a bind is refused too, and the bind does not happen.
        let res = l.with_controls(ctrl(true)).simple_bind(ALICE, "alice-secret").await.expect("bind");
        assert_eq!(res.rc, 12, "{res}");
        assert_eq!(whoami(&mut l).await, format!("dn:{NSLCD}"), "the bind did not happen");
        // ManageDsaIT is supported: critical is fine.
        let ldap3::SearchResult(es, res) = l
            .with_controls(RawControl { ctype: "2.16.840.1.113730.3.4.2".into(), crit: true, val: None })
            .search(SUFFIX, Scope::Subtree, "(uid=alice)", vec!["1.1"])
            .await
            .expect("search");
        assert_eq!((res.rc, es.len()), (0, 1));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 5. Writes
// ---------------------------------------------------------------------------------------

fn dave() -> Vec<(&'static str, HashSet<&'static str>)> {
    vec![
        ("objectClass", HashSet::from(["inetOrgPerson", "posixAccount"])),
        ("uid", HashSet::from(["dave"])),
        ("cn", HashSet::from(["Dave Duck"])),
        ("sn", HashSet::from(["Duck"])),
        ("uidNumber", HashSet::from(["10004"])),
        ("gidNumber", HashSet::from(["10001"])),
        ("homeDirectory", HashSet::from(["/home/dave"])),
        ("userPassword", HashSet::from(["dave-secret"])),
    ]
}

const DAVE: &str = "uid=dave,ou=people,dc=example,dc=org";

#[tokio::test(flavor = "multi_thread")]
async fn writes_by_root() {
    let mut s = Server::demo();
    bounded(LIMIT, async {
        let url = s.url();
        let mut root = connect_as(&url, ROOT_DN, ROOT_PW).await;
        let res = root.add(DAVE, dave()).await.expect("add");
        assert_eq!(res.rc, 0, "{res}");
        let mut anon = connect(&url).await;
        let mut reader = common::reader(&url).await;
        let (es, _) = search(&mut reader, SUFFIX, Scope::Subtree, "(uid=dave)", &[]).await;
        assert_eq!(es.len(), 1);
        assert_eq!(es[0].dn, DAVE);
        assert_eq!(one(&es[0], "cn"), "Dave Duck");
        assert!(attr(&es[0], "userPassword").is_none());
        assert_eq!(search_dns(&mut reader, SUFFIX, Scope::Subtree, "(uidNumber>=10004)").await, vec![DAVE]);
        assert_eq!(search_dns(&mut reader, SUFFIX, Scope::Subtree, "(cn=dav*)").await, vec![DAVE]);
        // The cleartext password was stored hashed; binding with it works.
        assert_eq!(common::bind_rc(&url, DAVE, "dave-secret").await, 0);
        assert_eq!(common::bind_rc(&url, DAVE, "dave-secreT").await, 49);
        // Again: already exists (also with a differently written DN).
        let res = root.add(DAVE, dave()).await.expect("add");
        assert_eq!(res.rc, 68, "{res}");
        let res = root.add("UID=Dave,ou=People,dc=example,dc=org", dave()).await.expect("add");
        assert_eq!(res.rc, 68, "{res}");
        // Missing parent: noSuchObject with the deepest existing ancestor.
        let res = root.add("uid=dave,ou=nowhere,ou=people,dc=example,dc=org", dave()).await.expect("add");
        assert_eq!(res.rc, 32, "{res}");
        assert_eq!(res.matched, PEOPLE);
        let res = root.add("uid=dave,ou=nowhere,dc=example,dc=org", dave()).await.expect("add");
        assert_eq!((res.rc, res.matched.as_str()), (32, SUFFIX));
        let res = root.add("uid=dave,dc=other,dc=com", dave()).await.expect("add");
        assert_eq!(res.rc, 32, "{res}");
        let res = root.add("not a dn", dave()).await.expect("add");
        assert_eq!(res.rc, 34, "{res}");

        // Without the right: insufficientAccessRights for users (alice is an IT admin in the
        // demo; bob is not); anonymous clients, who may not learn that ou=people exists, get
        // a missing entry's answer (issue #23 item 10).
        let res = anon.add("uid=eve,ou=people,dc=example,dc=org", dave()).await.expect("add");
        assert_eq!(res.rc, 32, "{res}");
        let mut bob = connect_as(&url, BOB, "bob-secret").await;
        let res = bob.add("uid=eve,ou=people,dc=example,dc=org", dave()).await.expect("add");
        assert_eq!(res.rc, 50, "{res}");
        assert_eq!(bob.delete(CHENWEI).await.expect("delete").rc, 50);
        assert_eq!(anon.delete(CHENWEI).await.expect("delete").rc, 32);
        assert_eq!(search_dns(&mut reader, SUFFIX, Scope::Subtree, "(uid=eve)").await, Vec::<String>::new());
        assert_eq!(search_dns(&mut reader, SUFFIX, Scope::Subtree, "(uid=bob)").await, vec![BOB]);
        // Delete: non-leaf refused, leaf removed, missing one is noSuchObject.
        assert_eq!(root.delete(PEOPLE).await.expect("delete").rc, 66);
        assert_eq!(root.delete(DAVE).await.expect("delete").rc, 0);
        let (es, res) = search(&mut reader, DAVE, Scope::Base, "(objectClass=*)", &[]).await;
        assert_eq!((res.rc, es.len()), (32, 0));
        assert_eq!(search_dns(&mut reader, SUFFIX, Scope::Subtree, "(uid=dave)").await, Vec::<String>::new());
        assert_eq!(search_dns(&mut reader, SUFFIX, Scope::Subtree, "(cn=dav*)").await, Vec::<String>::new());
        assert_eq!(common::bind_rc(&url, DAVE, "dave-secret").await, 49);
        let res = root.delete(DAVE).await.expect("delete");
        assert_eq!((res.rc, res.matched.as_str()), (32, PEOPLE));
        // Adding it again after the delete works.
        assert_eq!(root.add(DAVE, dave()).await.expect("add").rc, 0);
        assert_eq!(search_dns(&mut reader, SUFFIX, Scope::Subtree, "(uid=dave)").await, vec![DAVE]);
    })
    .await;
    // Offline: the stored value is an argon2id hash, not the cleartext.
    s.stop();
    let out = s.birch_bounded(&["export"], Duration::from_secs(30));
    assert!(out.status.success(), "{out:?}");
    let ldif = String::from_utf8(out.stdout).expect("utf-8 export");
    assert!(!ldif.contains("dave-secret"), "cleartext password stored:\n{ldif}");
    let record = ldif.split("\n\n").find(|r| r.starts_with(&format!("dn: {DAVE}\n"))).expect("dave exported");
    let pw: Vec<&str> = record.lines().filter(|l| l.to_ascii_lowercase().starts_with("userpassword:")).collect();
    assert_eq!(pw.len(), 1, "{record}");
    assert!(pw[0].starts_with("userPassword: {ARGON2}$argon2id$"), "{record}");
}

// ---------------------------------------------------------------------------------------
// 6. Bad input
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn garbage_closes_only_that_connection() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut alice = connect_as(&s.url(), ALICE, "alice-secret").await;
        let mut raw = Raw::connect(s.port).await;
        raw.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        raw.expect_closed().await;
        // Bytes that start like a SEQUENCE but hold junk.
        let mut raw = Raw::connect(s.port).await;
        raw.write(&[0x30, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff]).await;
        raw.expect_closed().await;
        // Indefinite length.
        let mut raw = Raw::connect(s.port).await;
        raw.write(&[0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00]).await;
        raw.expect_closed().await;
        assert_eq!(whoami(&mut alice).await, format!("dn:{ALICE}"));
        assert_eq!(search_dns(&mut alice, SUFFIX, Scope::Subtree, "(uid=bob)").await, vec![BOB]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_pdu_header_closes_at_once() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut other = common::reader(&s.url()).await;
        let mut raw = Raw::connect(s.port).await;
        // SEQUENCE of 100 MiB, 4-octet length; no body is sent.
        raw.write(&[0x30, 0x84, 0x06, 0x40, 0x00, 0x00]).await;
        raw.expect_closed().await;
        // Just above the configured maximum (default 4 MiB) too.
        let mut raw = Raw::connect(s.port).await;
        raw.write(&[0x30, 0x83, 0x40, 0x00, 0x01]).await;
        raw.expect_closed().await;
        assert_eq!(search_dns(&mut other, SUFFIX, Scope::Subtree, "(uid=alice)").await, vec![ALICE]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_pdu_then_close() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut other = common::reader(&s.url()).await;
        for cut in [1, 2, 5, 20] {
            let bytes = encode(vec![search_msg(1, SUFFIX, "(uid=alice)")]);
            let mut raw = Raw::connect(s.port).await;
            raw.write(&bytes[..bytes.len() - cut]).await;
            drop(raw);
        }
        assert_eq!(search_dns(&mut other, SUFFIX, Scope::Subtree, "(uid=alice)").await, vec![ALICE]);
        let mut fresh = common::reader(&s.url()).await;
        assert_eq!(search_dns(&mut fresh, SUFFIX, Scope::Subtree, "(uid=bob)").await, vec![BOB]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn non_utf8_bind_dn_is_a_protocol_error_and_the_connection_survives() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut raw = Raw::connect(s.port).await;
        let mut bytes = encode(vec![bind_msg(5, "cn=XX", "pw")]);
        let pos = bytes.windows(5).position(|w| w == b"cn=XX").expect("dn bytes");
        bytes[pos + 3] = 0xff;
        bytes[pos + 4] = 0xfe;
        raw.write(&bytes).await;
        let m = raw.recv_msg().await;
        assert_eq!(m.msgid, 5, "{m:?}");
        match &m.op {
            LdapOp::BindResponse(r) => {
                assert_eq!(r.res.code, LdapResultCode::ProtocolError, "{r:?}")
            }
            other => panic!("expected a BindResponse, got {other:?}"),
        }
        raw.write(&encode(vec![whoami_msg(6)])).await;
        let m = raw.recv_msg().await;
        assert_eq!(m.msgid, 6);
        match &m.op {
            LdapOp::ExtendedResponse(r) => {
                assert_eq!(r.res.code, LdapResultCode::Success);
                assert_eq!(r.value.as_deref().unwrap_or_default(), b"");
            }
            other => panic!("expected an ExtendedResponse, got {other:?}"),
        }
        // And a real bind still works on the same connection.
        raw.write(&encode(vec![bind_msg(7, ALICE, "alice-secret")])).await;
        let m = raw.recv_msg().await;
        assert_eq!(m.msgid, 7);
        assert!(matches!(&m.op, LdapOp::BindResponse(r) if r.res.code == LdapResultCode::Success), "{m:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn negative_message_id_closes_the_connection() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut other = common::reader(&s.url()).await;
        let mut bytes = encode(vec![bind_msg(1, "cn=a", "pw")]);
        // The message id INTEGER follows the 2-byte SEQUENCE header: 02 01 01 -> 02 01 ff (-1).
        assert_eq!(&bytes[2..5], &[0x02, 0x01, 0x01]);
        bytes[4] = 0xff;
        let mut raw = Raw::connect(s.port).await;
        raw.write(&bytes).await;
        raw.expect_closed().await;
        assert_eq!(whoami(&mut other).await, format!("dn:{NSLCD}"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_with_protocol_version_2_is_refused() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut raw = Raw::connect(s.port).await;
        let mut m = bind_msg(1, ALICE, "alice-secret");
        if let LdapOp::BindRequest(b) = &mut m.op {
            b.version = 2;
        }
        raw.write(&encode(vec![m])).await;
        let r = raw.recv_msg().await;
        assert_eq!(r.msgid, 1);
        assert!(matches!(&r.op, LdapOp::BindResponse(b) if b.res.code == LdapResultCode::ProtocolError), "{r:?}");
        raw.write(&encode(vec![whoami_msg(2)])).await;
        let r = raw.recv_msg().await;
        assert_eq!(r.msgid, 2);
        assert!(
            matches!(&r.op, LdapOp::ExtendedResponse(x) if x.value.as_deref().unwrap_or_default().is_empty()),
            "{r:?}"
        );
    })
    .await;
}

/// AddRequest attributes need at least one value (RFC 4511 AttributeList: vals SIZE(1..MAX)).
#[tokio::test(flavor = "multi_thread")]
async fn add_with_an_attribute_without_values_is_a_protocol_error() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut raw = Raw::connect(s.port).await;
        raw.write(&encode(vec![bind_msg(1, ROOT_DN, ROOT_PW)])).await;
        let r = raw.recv_msg().await;
        assert!(matches!(&r.op, LdapOp::BindResponse(b) if b.res.code == LdapResultCode::Success), "{r:?}");
        let attr = |t: &str, v: &[&str]| ldap3_proto::proto::LdapPartialAttribute {
            atype: t.into(),
            vals: v.iter().map(|x| x.as_bytes().to_vec()).collect(),
        };
        let add = LdapMsg {
            msgid: 2,
            op: LdapOp::AddRequest(ldap3_proto::proto::LdapAddRequest {
                dn: "uid=empty,ou=people,dc=example,dc=org".into(),
                attributes: vec![attr("objectClass", &["account"]), attr("uid", &["empty"]), attr("description", &[])],
            }),
            ctrl: vec![],
        };
        raw.write(&encode(vec![add])).await;
        let r = raw.recv_msg().await;
        assert_eq!(r.msgid, 2);
        assert!(matches!(&r.op, LdapOp::AddResponse(x) if x.code == LdapResultCode::ProtocolError), "{r:?}");
        raw.write(&encode(vec![search_msg(3, SUFFIX, "(uid=empty)")])).await;
        let r = raw.recv_msg().await;
        assert!(
            matches!(&r.op, LdapOp::SearchResultDone(x) if x.code == LdapResultCode::Success),
            "entry was added: {r:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unbind_closes_the_connection_without_a_response() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut raw = Raw::connect(s.port).await;
        let unbind = LdapMsg { msgid: 2, op: LdapOp::UnbindRequest, ctrl: vec![] };
        raw.write(&encode(vec![whoami_msg(1), unbind])).await;
        let r = raw.recv_msg().await;
        assert_eq!(r.msgid, 1, "{r:?}");
        match raw.recv().await {
            Got::Closed => {}
            Got::Msg(m) => panic!("response after unbind: {m:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn children_scope() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut raw = Raw::connect(s.port).await;
        raw.login().await;
        let mut m = search_msg(1, PEOPLE, "(objectClass=*)");
        if let LdapOp::SearchRequest(r) = &mut m.op {
            r.scope = LdapSearchScope::Children;
        }
        raw.write(&encode(vec![m])).await;
        let mut dns = Vec::new();
        for _ in 0..10 {
            let r = raw.recv_msg().await;
            match r.op {
                LdapOp::SearchResultEntry(e) => dns.push(e.dn),
                LdapOp::SearchResultDone(d) => {
                    assert_eq!(d.code, LdapResultCode::Success);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        dns.sort();
        assert_eq!(dns, sorted(&[ALICE, BOB, CHENWEI]));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// 7. Abandon, 8. several operations per connection, 9. concurrency
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn abandoned_search_sends_no_result() {
    const USERS: usize = 1000;
    let mut s = Server::offline("");
    let ldif = s.dir().join("users.ldif");
    std::fs::write(&ldif, common::users_ldif(USERS, |_| "{SSHA}i4gvXpGd4gYaurq5q0k//nw+lJlso9tr".into())).unwrap();
    let out = s.birch_bounded(&["import", ldif.to_str().unwrap()], Duration::from_secs(60));
    assert!(out.status.success(), "import: {out:?}");
    s.start_existing();
    bounded(LIMIT, async {
        let mut raw = Raw::connect(s.port).await;
        raw.write(&encode(vec![bind_msg(1, ROOT_DN, ROOT_PW)])).await;
        let m = raw.recv_msg().await;
        assert!(matches!(&m.op, LdapOp::BindResponse(r) if r.res.code == LdapResultCode::Success), "{m:?}");
        // One write: the search, the abandon of it, a WhoAmI.
        let abandon = LdapMsg { msgid: 3, op: LdapOp::AbandonRequest(2), ctrl: vec![] };
        raw.write(&encode(vec![search_msg(2, SUFFIX, "(objectClass=*)"), abandon, whoami_msg(4)])).await;
        let mut entries = 0usize;
        let mut whoami_seen = false;
        for _ in 0..USERS + 10 {
            let m = raw.recv_msg().await;
            match (m.msgid, &m.op) {
                (2, LdapOp::SearchResultEntry(_)) => entries += 1,
                (2, LdapOp::SearchResultDone(r)) => {
                    panic!("abandoned search completed after {entries} entries: {r:?}")
                }
                (4, LdapOp::ExtendedResponse(r)) => {
                    assert_eq!(r.res.code, LdapResultCode::Success);
                    assert_eq!(r.value.as_deref(), Some(format!("dn:{ROOT_DN}").as_bytes()));
                    whoami_seen = true;
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(whoami_seen, "no WhoAmI response");
        assert!(entries < USERS + 2, "all {entries} entries were sent");
        // The connection goes on; the abandoned search still says nothing.
        raw.write(&encode(vec![search_msg(5, SUFFIX, "(uid=user00001)")])).await;
        for _ in 0..USERS + 10 {
            let m = raw.recv_msg().await;
            match (m.msgid, &m.op) {
                (2, LdapOp::SearchResultEntry(_)) => {}
                (5, LdapOp::SearchResultEntry(e)) => {
                    assert_eq!(e.dn, "uid=user00001,ou=people,dc=example,dc=org")
                }
                (5, LdapOp::SearchResultDone(r)) => {
                    assert_eq!(r.code, LdapResultCode::Success);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // A client that goes away in the middle of a large search does not disturb others.
        for _ in 0..3 {
            let mut gone = Raw::connect(s.port).await;
            gone.write(&encode(vec![bind_msg(1, ROOT_DN, ROOT_PW), search_msg(2, SUFFIX, "(objectClass=*)")])).await;
            let _ = gone.recv_msg().await;
            let _ = gone.recv_msg().await;
            drop(gone);
        }
        let mut l = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let (es, res) = search(&mut l, SUFFIX, Scope::Subtree, "(objectClass=*)", &["1.1"]).await;
        assert_eq!((res.rc, es.len()), (0, USERS + 2));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_searches_on_one_connection() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut raw = Raw::connect(s.port).await;
        raw.login().await;
        let searches: [(i32, &str, Vec<String>); 5] = [
            (11, "(uid=alice)", sorted(&[ALICE])),
            (12, "(uid=bob)", sorted(&[BOB])),
            (13, "(cn=陈伟)", sorted(&[CHENWEI])),
            (14, "(memberUid=alice)", sorted(&[STAFF])),
            (15, "(objectClass=posixGroup)", sorted(&[STAFF, STUDENTS])),
        ];
        raw.write(&encode(searches.iter().map(|(id, f, _)| search_msg(*id, SUFFIX, f)).collect())).await;
        let mut got: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        let mut done: BTreeMap<i32, LdapResultCode> = BTreeMap::new();
        for _ in 0..100 {
            if done.len() == searches.len() {
                break;
            }
            let m = raw.recv_msg().await;
            assert!((11..=15).contains(&m.msgid), "{m:?}");
            assert!(!done.contains_key(&m.msgid), "message after SearchResultDone: {m:?}");
            match m.op {
                LdapOp::SearchResultEntry(e) => got.entry(m.msgid).or_default().push(e.dn),
                LdapOp::SearchResultDone(r) => {
                    done.insert(m.msgid, r.code);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(done.len(), 5, "{done:?}");
        for (id, filter, want) in &searches {
            assert_eq!(done[id], LdapResultCode::Success, "{filter}");
            let mut dns = got.remove(id).unwrap_or_default();
            dns.sort();
            assert_eq!(&dns, want, "{filter}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn many_concurrent_connections() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let url = s.url();
        let mut tasks = Vec::new();
        for c in 0..64usize {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut l = connect_as(&url, NSLCD, "nslcd-secret").await;
                for i in 0..20usize {
                    let uid = ["alice", "bob", "chenwei"][(c + i) % 3];
                    let (es, res) =
                        search(&mut l, SUFFIX, Scope::Subtree, &format!("(uid={uid})"), &["uid", "uidNumber"]).await;
                    assert_eq!(res.rc, 0, "{res}");
                    assert_eq!(es.len(), 1, "connection {c} search {i}");
                    assert_eq!(es[0].dn, format!("uid={uid},ou=people,dc=example,dc=org"));
                    assert_eq!(one(&es[0], "uid"), uid);
                }
                assert_eq!(whoami(&mut l).await, format!("dn:{NSLCD}"));
                let _ = l.unbind().await;
            }));
        }
        for t in tasks {
            t.await.expect("client task");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_connections_open_at_once() {
    // The test process needs the descriptors too; the server raises its own limit.
    let _ = rlimit::increase_nofile_limit(8192);
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut conns = Vec::with_capacity(1000);
        for _ in 0..1000 {
            conns.push(Raw::connect(s.port).await);
        }
        for c in conns.iter_mut() {
            c.login().await;
        }
        // Every connection is open at once; each asks the same question.
        for c in conns.iter_mut() {
            c.write(&encode(vec![search_msg(1, "ou=people,dc=example,dc=org", "(uid=alice)")])).await;
        }
        for (i, c) in conns.iter_mut().enumerate() {
            let entry = c.recv_msg().await;
            match &entry.op {
                LdapOp::SearchResultEntry(e) => assert_eq!(e.dn, "uid=alice,ou=people,dc=example,dc=org"),
                other => panic!("connection {i}: expected the entry, got {other:?}"),
            }
            let done = c.recv_msg().await;
            assert!(
                matches!(&done.op, LdapOp::SearchResultDone(r) if r.code == LdapResultCode::Success),
                "connection {i}: {done:?}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_maintains_operational_attributes() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let dn = "uid=opattr,ou=people,dc=example,dc=org";
        let add = root
            .add(dn, vec![("objectClass", HashSet::from(["account"])), ("uid", HashSet::from(["opattr"]))])
            .await
            .expect("add");
        assert_eq!(add.rc, 0);
        let ops = ["entryUUID", "creatorsName", "createTimestamp", "modifiersName", "modifyTimestamp"];
        let (es, _) = search(&mut root, dn, Scope::Base, "(objectClass=*)", &ops).await;
        let e = &es[0];
        assert_eq!(e.attrs["creatorsName"], vec![ROOT_DN.to_string()]);
        assert_eq!(e.attrs["entryUUID"][0].len(), 36);
        let created = e.attrs["createTimestamp"][0].clone();
        assert!(created.len() == 15 && created.ends_with('Z'), "{created}");
        // Not returned for "*".
        let (es, _) = search(&mut root, dn, Scope::Base, "(objectClass=*)", &["*"]).await;
        assert!(!es[0].attrs.contains_key("createTimestamp"), "{:?}", es[0].attrs);
        // A modify stamps the modifier; the creation stays.
        let m = root.modify(dn, vec![ldap3::Mod::Add("host", HashSet::from(["ws1"]))]).await.expect("modify");
        assert_eq!(m.rc, 0);
        let (es, _) = search(&mut root, dn, Scope::Base, "(objectClass=*)", &ops).await;
        assert_eq!(es[0].attrs["modifiersName"], vec![ROOT_DN.to_string()]);
        assert_eq!(es[0].attrs["createTimestamp"], vec![created]);
        // Clients may not provide them.
        let bad = root
            .add(
                "uid=opattr2,ou=people,dc=example,dc=org",
                vec![
                    ("objectClass", HashSet::from(["account"])),
                    ("uid", HashSet::from(["opattr2"])),
                    ("createTimestamp", HashSet::from(["20200101000000Z"])),
                ],
            )
            .await
            .expect("add");
        assert_eq!(bad.rc, 19, "{bad}");
        let bad =
            root.modify(dn, vec![ldap3::Mod::Replace("modifyTimestamp", HashSet::from(["20200101000000Z"]))]).await;
        assert_eq!(bad.expect("modify").rc, 19);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn object_class_filters_match_superclasses() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let people = sorted(&[
            "uid=alice,ou=people,dc=example,dc=org",
            "uid=bob,ou=people,dc=example,dc=org",
            "uid=chenwei,ou=people,dc=example,dc=org",
        ]);
        // inetOrgPerson -> organizationalPerson -> person -> top, by name, alias case and OID.
        for f in [
            "(objectClass=person)",
            "(objectclass=PERSON)",
            "(objectClass=2.5.6.6)",
            "(objectClass=organizationalPerson)",
        ] {
            assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, f).await, people, "{f}");
        }
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(objectClass=top)").await.len(), 11);
        assert_eq!(
            search_dns(&mut l, SUFFIX, Scope::Subtree, "(&(objectClass=person)(!(objectClass=posixAccount)))").await,
            Vec::<String>::new()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subschema_is_published_and_computed_attributes_are_returned() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        let want = ["attributeTypes", "objectClasses", "ldapSyntaxes", "matchingRules", "matchingRuleUse"];
        let (es, res) = search(&mut l, "cn=Subschema", Scope::Base, "(objectClass=subschema)", &want).await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(es.len(), 1);
        let e = &es[0];
        for a in want {
            assert!(e.attrs.get(a).is_some_and(|v| !v.is_empty()), "{a} missing");
        }
        assert!(e.attrs["attributeTypes"].iter().any(|d| d.starts_with("( 2.5.4.3 NAME ( 'cn' 'commonName' )")));
        assert!(e.attrs["objectClasses"].iter().any(|d| d.contains("NAME 'inetOrgPerson'")));
        // Operational: not returned for "*".
        let (es, _) = search(&mut l, "cn=subschema", Scope::Base, "(objectClass=*)", &["*"]).await;
        assert!(!es[0].attrs.contains_key("attributeTypes"));
        // The same through ldapsearch, as tools such as Directory Studio read it.
        let out = s.ldap_tool("ldapsearch", &["-x", "-LLL", "-b", "cn=Subschema", "-s", "base", "objectClasses"]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("objectClasses: ( 2.5.6.6 NAME 'person'"));

        let ops = ["structuralObjectClass", "numSubordinates", "hasSubordinates", "subschemaSubentry"];
        let (es, _) = search(&mut l, "ou=people,dc=example,dc=org", Scope::Base, "(objectClass=*)", &ops).await;
        assert_eq!(es[0].attrs["structuralObjectClass"], vec!["organizationalUnit"]);
        assert_eq!(es[0].attrs["numSubordinates"], vec!["3"]);
        assert_eq!(es[0].attrs["hasSubordinates"], vec!["TRUE"]);
        assert_eq!(es[0].attrs["subschemaSubentry"], vec!["cn=Subschema"]);
        let (es, _) =
            search(&mut l, "uid=alice,ou=people,dc=example,dc=org", Scope::Base, "(objectClass=*)", &ops).await;
        assert_eq!(es[0].attrs["structuralObjectClass"], vec!["inetOrgPerson"]);
        assert_eq!(es[0].attrs["numSubordinates"], vec!["0"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_on_a_supertype_match_its_subtypes() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = common::reader(&s.url()).await;
        // name is the supertype of cn, sn, givenName, ou, ...
        let alice = vec!["uid=alice,ou=people,dc=example,dc=org".to_string()];
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(name=Liddell)").await, alice, "sn");
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(name=alice liddell)").await, alice, "cn");
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(name=Alic*)").await, alice, "givenName/cn substrings");
        assert_eq!(
            search_dns(&mut l, SUFFIX, Scope::Subtree, "(name=people)").await,
            vec!["ou=people,dc=example,dc=org".to_string()],
            "ou"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unicode_case_folding_in_filters_and_dns() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let dn = "cn=Zoë Ångström,ou=people,dc=example,dc=org";
        let add = root
            .add(
                dn,
                vec![
                    ("objectClass", HashSet::from(["person"])),
                    ("cn", HashSet::from(["Zoë Ångström", "ΣΟΦΊΑ"])),
                    ("sn", HashSet::from(["Ångström"])),
                ],
            )
            .await
            .expect("add");
        assert_eq!(add.rc, 0, "{add}");
        let want = vec![dn.to_string()];
        for f in ["(cn=ZOË ÅNGSTRÖM)", "(cn=zoë  ångström)", "(sn=ångström)", "(cn=σοφία)", "(cn=*ÖM)", "(cn=zo*)"]
        {
            assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, f).await, want, "{f}");
        }
        // The DN itself compares case-insensitively, non-ASCII included.
        let (es, res) =
            search(&mut root, "CN=ZOË ÅNGSTRÖM,OU=People,DC=Example,DC=Org", Scope::Base, "(objectClass=*)", &["1.1"])
                .await;
        assert_eq!(res.rc, 0, "{res}");
        assert_eq!(es[0].dn, dn);
        assert_eq!(
            root.compare("cn=zoë ångström,ou=people,dc=example,dc=org", "sn", "ÅNGSTRÖM").await.expect("compare").0.rc,
            6
        );
    })
    .await;
}
