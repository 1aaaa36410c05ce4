//! Black-box tests of string matching (RFC 4518 preparation) through the server: Unicode
//! case folding and normalization in filters, DNs and compare.
mod common;

use common::demo::PEOPLE;
use common::{bounded, connect, connect_as, search, search_dns, Server, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::{Ldap, Scope};
use std::collections::HashSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
const EMILE: &str = "cn=Émile Dupont,ou=people,dc=example,dc=org";
const STRASSE: &str = "cn=Hauptstraße Büro,ou=people,dc=example,dc=org";

async fn add_person(l: &mut Ldap, dn: &str, cn: &str, sn: &str, extra: Vec<(&str, HashSet<&str>)>) {
    let mut attrs = vec![
        ("objectClass", HashSet::from(["inetOrgPerson"])),
        ("cn", HashSet::from([cn])),
        ("sn", HashSet::from([sn])),
    ];
    attrs.extend(extra);
    let res = l.add(dn, attrs).await.expect("add");
    assert_eq!(res.rc, 0, "add {dn}: {res}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unicode_case_folding_in_filters_dns_and_compare() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        add_person(&mut root, EMILE, "Émile Dupont", "Dupont", vec![("description", HashSet::from(["ﬁle ＡＢＣ"]))])
            .await;
        add_person(&mut root, STRASSE, "Hauptstraße Büro", "Straße", vec![]).await;
        let mut l = common::reader(&s.url()).await;
        // Upper case, a decomposed É (E + U+0301), extra and no-break spaces, a soft hyphen.
        for f in [
            "(cn=ÉMILE DUPONT)",
            "(cn=E\u{301}mile dupont)",
            "(cn=  émile\u{a0}\u{a0}DUPONT )",
            "(cn=Émi\u{ad}le Dupont)",
            "(cn=ÉMILE*)",
            "(cn=*DUP*)",
            "(cn=é*ont)",
            "(sn=DUPONT)",
        ] {
            assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, f).await, vec![EMILE.to_string()], "{f}");
        }
        // ß folds to ss; the ﬁ ligature and fullwidth letters are their NFKC forms.
        for f in ["(sn=STRASSE)", "(cn=hauptstrasse büro)", "(cn=*STRASSE*)"] {
            assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, f).await, vec![STRASSE.to_string()], "{f}");
        }
        for f in ["(description=FILE abc)", "(description=*le a*)"] {
            assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, f).await, vec![EMILE.to_string()], "{f}");
        }
        // A DN written with other case, a decomposed accent and extra spaces names the
        // same entry.
        let base = "CN=E\u{301}MILE  DUPONT , OU=People,DC=Example,DC=Org";
        assert_eq!(search_dns(&mut l, base, Scope::Base, "(objectClass=*)").await, vec![EMILE.to_string()]);
        let res = root.compare(base, "cn", "émile dupont").await.expect("compare");
        assert_eq!(res.0.rc, 6, "compareTrue: {}", res.0);
        // Its parent's one-level search finds it under the stored DN.
        assert!(search_dns(&mut l, PEOPLE, Scope::OneLevel, "(cn=émile dupont)").await.contains(&EMILE.to_string()));
        // Adding the same name in another form collides.
        let mut attrs = vec![("objectClass", HashSet::from(["inetOrgPerson"]))];
        attrs.push(("cn", HashSet::from(["émile dupont"])));
        attrs.push(("sn", HashSet::from(["x"])));
        let res = root.add("cn=ÉMILE DUPONT,ou=people,dc=example,dc=org", attrs).await.expect("add");
        assert_eq!(res.rc, 68, "entryAlreadyExists: {res}");
        // A value with a private-use character is stored (as slapd does) but matches no
        // assertion; an assertion with one (RFC 4518 prohibits it) is Undefined, and so is
        // its negation.
        let odd = "cn=odd,ou=people,dc=example,dc=org";
        add_person(&mut root, odd, "odd", "x\u{E000}", vec![]).await;
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(sn=x\u{E000})").await.is_empty());
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(!(sn=x\u{E000}))").await.is_empty());
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(&(cn=odd)(!(sn=x)))").await == vec![odd.to_string()]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn substring_spaces_follow_rfc_4518() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let dn = "cn=Anna Maria Berg,ou=people,dc=example,dc=org";
        add_person(&mut root, dn, "Anna Maria Berg", "Berg", vec![]).await;
        let mut l = common::reader(&s.url()).await;
        for f in [
            "(cn=anna *)",            // a trailing space in the initial part
            "(cn=* berg)",            // a leading space in the final part
            "(cn=*a *)",              // a space inside the value
            "(cn=*a * m*)",           // one separator consumed by two parts
            "(cn=anna maria berg *)", // a trailing space at the end of the value
        ] {
            assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, f).await, vec![dn.to_string()], "{f}");
        }
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(cn=*a   b*)").await, vec![dn.to_string()]);
        for f in ["(cn=annam*)", "(cn=* aria*)", "(cn=*ab*)"] {
            assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, f).await.is_empty(), "{f}");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Attribute options: language tags (RFC 4512 section 2.5, RFC 3866).
// ---------------------------------------------------------------------------------------

const ANNE: &str = "cn=Anne Berg,ou=people,dc=example,dc=org";

/// The attributes of one entry as `(description as returned, sorted values)`, sorted.
async fn read_attrs(l: &mut Ldap, dn: &str, attrs: &[&str]) -> Vec<(String, Vec<String>)> {
    let (entries, res) = common::search(l, dn, Scope::Base, "(objectClass=*)", attrs).await;
    assert_eq!(res.rc, 0, "read {dn}: {res}");
    assert_eq!(entries.len(), 1, "read {dn}");
    let mut out: Vec<(String, Vec<String>)> = entries[0]
        .attrs
        .iter()
        .map(|(k, vs)| {
            let mut vs = vs.clone();
            vs.sort();
            (k.clone(), vs)
        })
        .collect();
    out.sort();
    out
}

fn owned(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    pairs.iter().map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect())).collect()
}

async fn modify_rc(l: &mut Ldap, dn: &str, mods: Vec<ldap3::Mod<&str>>) -> u32 {
    l.with_timeout(common::OP_TIMEOUT).modify(dn, mods).await.expect("modify").rc
}

#[tokio::test(flavor = "multi_thread")]
async fn language_tagged_attributes_are_kept_searched_and_modified_apart() {
    use ldap3::Mod;
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let extra = vec![
            ("cn;lang-en", HashSet::from(["Anne Hill"])),
            ("CN;Lang-DE", HashSet::from(["Anna Berg"])),
            ("description", HashSet::from(["A person"])),
            ("description;lang-de", HashSet::from(["Eine Person"])),
        ];
        add_person(&mut root, ANNE, "Anne Berg", "Berg", extra).await;
        let mut l = common::reader(&s.url()).await;

        // Each description is its own attribute, returned as written; asking for the type
        // returns its tagged descriptions too, asking for a tagged one only that.
        let cn = owned(&[("CN;Lang-DE", &["Anna Berg"]), ("cn", &["Anne Berg"]), ("cn;lang-en", &["Anne Hill"])]);
        assert_eq!(read_attrs(&mut l, ANNE, &["cn"]).await, cn);
        assert_eq!(read_attrs(&mut l, ANNE, &["commonName"]).await, cn);
        assert_eq!(read_attrs(&mut l, ANNE, &["cn;lang-en"]).await, owned(&[("cn;lang-en", &["Anne Hill"])]));
        assert_eq!(read_attrs(&mut l, ANNE, &["CN;LANG-de"]).await, owned(&[("CN;Lang-DE", &["Anna Berg"])]));
        assert_eq!(read_attrs(&mut l, ANNE, &["cn;lang-fr"]).await, vec![]);
        assert_eq!(read_attrs(&mut l, ANNE, &["cn;x-unknown"]).await, vec![]);
        let all = read_attrs(&mut l, ANNE, &["*"]).await;
        assert!(all.contains(&("description;lang-de".to_string(), vec!["Eine Person".to_string()])), "{all:?}");
        assert!(all.contains(&("description".to_string(), vec!["A person".to_string()])), "{all:?}");

        // Filters (cn is equality- and substring-indexed): the type matches tagged values,
        // a tagged description only its own.
        for f in [
            "(cn=anne hill)",
            "(cn=anna berg)",
            "(cn;lang-en=ANNE HILL)",
            "(CN;LANG-EN=anne hill)",
            "(cn;lang-de=anna*)",
            "(cn;lang-en=*)",
            "(name;lang-en=anne hill)",
            "(description=eine person)",
            "(description;lang-de=*person)",
            "(&(cn;lang-en=anne hill)(cn;lang-de=anna berg))",
        ] {
            assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, f).await, vec![ANNE.to_string()], "{f}");
        }
        for f in [
            "(cn;lang-en=anne berg)",
            "(cn;lang-en=anna berg)",
            "(cn;lang-fr=*)",
            "(description;lang-de=a person)",
            "(cn;x-unknown=anne hill)",
            "(!(cn;x-unknown=anne hill))",
        ] {
            assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, f).await.is_empty(), "{f}");
        }

        // Compare: the type reads tagged values, a tagged description only its own.
        let cmp = |a: &'static str, v: &'static str| {
            let url = s.url();
            async move {
                let mut c = connect_as(&url, ROOT_DN, ROOT_PW).await;
                c.compare(ANNE, a, v).await.expect("compare").0.rc
            }
        };
        assert_eq!(cmp("cn", "anne hill").await, 6);
        assert_eq!(cmp("cn;lang-en", "anne hill").await, 6);
        assert_eq!(cmp("cn;lang-en", "anne berg").await, 5);
        assert_eq!(cmp("cn;lang-fr", "anne berg").await, 16);

        // Modify: a tagged description changes only its values; the type only untagged ones.
        let rc = modify_rc(&mut root, ANNE, vec![Mod::Replace("cn;lang-en", HashSet::from(["Anne Hillside"]))]).await;
        assert_eq!(rc, 0);
        // Options compare case-insensitively: this adds to `cn;lang-en`, named as it was.
        let rc = modify_rc(&mut root, ANNE, vec![Mod::Add("Cn;Lang-EN", HashSet::from(["Annie"]))]).await;
        assert_eq!(rc, 0);
        let rc = modify_rc(&mut root, ANNE, vec![Mod::Delete("cn;lang-de", HashSet::from(["anna berg"]))]).await;
        assert_eq!(rc, 0);
        assert_eq!(
            read_attrs(&mut l, ANNE, &["cn"]).await,
            owned(&[("cn", &["Anne Berg"]), ("cn;lang-en", &["Anne Hillside", "Annie"])])
        );
        // `cn` has no value "Annie" (only cn;lang-en has): noSuchAttribute, as slapd.
        assert_eq!(modify_rc(&mut root, ANNE, vec![Mod::Delete("cn", HashSet::from(["Annie"]))]).await, 16);
        // Replacing `description` keeps `description;lang-de`.
        let rc = modify_rc(&mut root, ANNE, vec![Mod::Replace("description", HashSet::from(["Someone"]))]).await;
        assert_eq!(rc, 0);
        assert_eq!(
            read_attrs(&mut l, ANNE, &["description"]).await,
            owned(&[("description", &["Someone"]), ("description;lang-de", &["Eine Person"])])
        );
        // The old tagged value is gone from the index, the new one is found.
        assert!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(cn=anne hill)").await.is_empty());
        assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, "(cn=annie)").await, vec![ANNE.to_string()]);
        // The RDN value must stay an untagged value, whatever the tagged ones hold.
        let rc = modify_rc(&mut root, ANNE, vec![Mod::Delete("cn", HashSet::from(["Anne Berg"]))]).await;
        assert_eq!(rc, 64, "namingViolation");
        // Unrecognized options: undefinedAttributeType; tagged passwords: constraintViolation.
        assert_eq!(modify_rc(&mut root, ANNE, vec![Mod::Add("cn;x-foo", HashSet::from(["x"]))]).await, 17);
        assert_eq!(modify_rc(&mut root, ANNE, vec![Mod::Add("cn;", HashSet::from(["x"]))]).await, 17);
        let rc = modify_rc(&mut root, ANNE, vec![Mod::Add("userPassword;lang-en", HashSet::from(["pw"]))]).await;
        assert_eq!(rc, 19);
        // SINGLE-VALUE counts per description (displayName is single-valued).
        let rc = modify_rc(
            &mut root,
            ANNE,
            vec![
                Mod::Add("displayName", HashSet::from(["Anne"])),
                Mod::Add("displayName;lang-de", HashSet::from(["Anna"])),
            ],
        )
        .await;
        assert_eq!(rc, 0);
        let rc = modify_rc(&mut root, ANNE, vec![Mod::Add("displayName;lang-de", HashSet::from(["Änne"]))]).await;
        assert_eq!(rc, 19);

        // ldapsearch shows the descriptions; the root DSE advertises language tag options.
        let out = s.ldap_tool(
            "ldapsearch",
            &["-x", "-LLL", "-D", ROOT_DN, "-w", ROOT_PW, "-b", ANNE, "-s", "base", "cn;lang-en", "displayName"],
        );
        assert!(out.status.success(), "ldapsearch: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout,
            format!("dn: {ANNE}\ncn;lang-en: Anne Hillside\ncn;lang-en: Annie\ndisplayName: Anne\ndisplayName;lang-de: Anna\n\n")
        );
        let out = s.ldap_tool("ldapsearch", &["-x", "-LLL", "-b", "", "-s", "base", "supportedFeatures"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("supportedFeatures: 1.3.6.1.4.1.4203.1.5.4\n"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn access_rules_on_a_type_cover_its_tagged_descriptions() {
    use common::demo::{ALICE, BOB};
    use ldap3::Mod;
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        // displayName is personal under the campus policy: the owner and the service accounts
        // read it, other users do not. Its tagged descriptions follow the same rule.
        let mods = vec![
            Mod::Add("displayName;lang-en", HashSet::from(["Alice L."])),
            Mod::Add("cn;lang-en", HashSet::from(["Alice of Wonderland"])),
        ];
        assert_eq!(modify_rc(&mut root, ALICE, mods).await, 0);
        let mut bob = connect_as(&s.url(), BOB, "bob-secret").await;
        let seen = read_attrs(&mut bob, ALICE, &["displayName;lang-en", "cn;lang-en"]).await;
        assert_eq!(seen, owned(&[("cn;lang-en", &["Alice of Wonderland"])]));
        for f in ["(displayName;lang-en=Alice L.)", "(displayName=Alice L.)", "(displayName;lang-en=*)"] {
            assert!(search_dns(&mut bob, SUFFIX, Scope::Subtree, f).await.is_empty(), "{f}");
        }
        assert_eq!(
            search_dns(&mut bob, SUFFIX, Scope::Subtree, "(cn;lang-en=alice of*)").await,
            vec![ALICE.to_string()]
        );
        let mut alice = connect_as(&s.url(), ALICE, "alice-secret").await;
        let own = read_attrs(&mut alice, ALICE, &["displayName;lang-en"]).await;
        assert_eq!(own, owned(&[("displayName;lang-en", &["Alice L."])]));
        let mut svc = common::reader(&s.url()).await;
        assert_eq!(
            search_dns(&mut svc, SUFFIX, Scope::Subtree, "(displayName=alice l.)").await,
            vec![ALICE.to_string()]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tagged_attributes_round_trip_through_import_and_export() {
    const CMD: Duration = Duration::from_secs(60);
    let ldif = format!(
        "version: 1\n\n\
         dn: dc=example,dc=org\nobjectClass: domain\ndc: example\n\n\
         dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: {ANNE}\nobjectClass: inetOrgPerson\ncn: Anne Berg\ncn;lang-EN: Anne Hill\n\
         CN;Lang-de: Anna Berg\nsn: Berg\ndescription;lang-de:: w4RydGVzdGUgUGVyc29u\n\
         displayName;lang-ja;lang-en: Anne\n\n"
    );
    let mut a = Server::offline("");
    let file = a.dir().join("tagged.ldif");
    std::fs::write(&file, &ldif).expect("write ldif");
    let out = a.birch_bounded(&["import", file.to_str().expect("utf-8 path")], CMD);
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    let first = a.birch_bounded(&["export"], CMD);
    assert!(first.status.success(), "export: {}", String::from_utf8_lossy(&first.stderr));
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    // Descriptions as written, values as given (base64 where LDIF needs it).
    for line in [
        "cn: Anne Berg\ncn;lang-EN: Anne Hill\nCN;Lang-de: Anna Berg\nsn: Berg\n",
        "description;lang-de:: w4RydGVzdGUgUGVyc29u\n",
        "displayName;lang-ja;lang-en: Anne\n",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    let b = Server::offline("");
    let copy = b.dir().join("first.ldif");
    std::fs::write(&copy, &first.stdout).expect("write export");
    let out = b.birch_bounded(&["import", copy.to_str().expect("utf-8 path")], CMD);
    assert!(out.status.success(), "re-import: {}", String::from_utf8_lossy(&out.stderr));
    let second = b.birch_bounded(&["export"], CMD);
    assert!(second.status.success());
    assert!(first.stdout == second.stdout, "export → import → export differs:\n{text}");
    // An unrecognized option is refused with the file and line.
    let bad = a.dir().join("bad.ldif");
    std::fs::write(&bad, ldif.replace("cn;lang-EN", "cn;x-foo")).expect("write ldif");
    let c = Server::offline("");
    let out = c.birch_bounded(&["import", bad.to_str().expect("utf-8 path")], CMD);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cn;x-foo: AttributeDescription contains unrecognized option"),
        "{err}"
    );

    // Every index agrees with the entries.
    let out = a.birch_bounded(&["check"], CMD);
    assert!(out.status.success(), "check: {}", String::from_utf8_lossy(&out.stderr));
    // Served: the tagged values are there, indexed under their type.
    a.start_existing();
    bounded(LIMIT, async {
        let mut root = connect_as(&a.url(), ROOT_DN, ROOT_PW).await;
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, "(cn=anne hill)").await, vec![ANNE.to_string()]);
        assert_eq!(
            read_attrs(&mut root, ANNE, &["description", "displayName;lang-en"]).await,
            owned(&[("description;lang-de", &["Ärteste Person"]), ("displayName;lang-ja;lang-en", &["Anne"])])
        );
    })
    .await;
    let out = a.ldap_tool("ldapsearch", &["-x", "-LLL", "-D", ROOT_DN, "-w", ROOT_PW, "-b", ANNE, "-s", "base", "cn"]);
    assert!(out.status.success(), "ldapsearch: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("dn: {ANNE}\ncn: Anne Berg\ncn;lang-EN: Anne Hill\nCN;Lang-de: Anna Berg\n\n")
    );
}

/// generalizedTimeMatch and its ordering compare instants: offsets, reduced precision and
/// fractions are the same moment as the UTC form.
#[tokio::test(flavor = "multi_thread")]
async fn generalized_time_compares_instants() {
    let s = Server::demo();
    bounded(Duration::from_secs(60), async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let dn = "uid=tina,ou=people,dc=example,dc=org";
        let extra = vec![("uid", HashSet::from(["tina"]))];
        add_person(&mut root, dn, "Tina Time", "Time", extra).await;
        // pwdStartTime is an administrator's attribute with generalizedTime matching.
        let mods = vec![ldap3::Mod::Replace("pwdStartTime", ["20300101120000Z"].into_iter().collect())];
        assert_eq!(modify_rc(&mut root, dn, mods).await, 0);
        for (filter, found) in [
            ("(pwdStartTime=20300101130000+0100)", true),
            ("(pwdStartTime=203001011200Z)", true),
            ("(pwdStartTime=20300101120000.000Z)", true),
            ("(pwdStartTime=20300101120000.5Z)", false),
            ("(pwdStartTime>=20300101063000-0530)", true),
            ("(pwdStartTime>=20300101120000.000001Z)", false),
            ("(pwdStartTime<=20300101115959.999999Z)", false),
            ("(pwdStartTime<=2030010112Z)", true),
        ] {
            let dns = search_dns(&mut root, PEOPLE, Scope::OneLevel, &format!("(&(uid=tina){filter})")).await;
            assert_eq!(!dns.is_empty(), found, "{filter}");
        }
    })
    .await;
}

/// A GeneralizedTime whose instant in UTC lies past the year 9999 (`99991231235959-0100`)
/// is no valid time: in a bind DN, a filter or a search base it names and matches nothing,
/// and ends no connection (converting it to UTC panicked, which closed the connection of
/// whoever sent it, unauthenticated included).
#[tokio::test(flavor = "multi_thread")]
async fn generalized_times_past_the_year_9999_end_no_connection() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let late = "99991231235959-0100";
        let mut l = connect(&s.url()).await;
        let res = l.with_timeout(LIMIT).simple_bind(&format!("createTimestamp={late},{SUFFIX}"), "x").await.unwrap();
        assert_eq!(res.rc, 49, "{res}");
        // The same connection goes on.
        let res = l.with_timeout(LIMIT).simple_bind(ROOT_DN, ROOT_PW).await.unwrap();
        assert_eq!(res.rc, 0, "{res}");
        for filter in [format!("(createTimestamp={late})"), format!("(modifyTimestamp>={late})")] {
            assert_eq!(search_dns(&mut l, SUFFIX, Scope::Subtree, &filter).await, Vec::<String>::new(), "{filter}");
        }
        let base = format!("createTimestamp={late},{SUFFIX}");
        let (entries, res) = search(&mut l, &base, Scope::Base, "(objectClass=*)", &["1.1"]).await;
        assert_eq!((entries.len(), res.rc), (0, 32), "{res}");
        // A valid time next to it still matches.
        let dns = search_dns(&mut l, SUFFIX, Scope::Base, "(createTimestamp<=99991231235959Z)").await;
        assert_eq!(dns, vec![SUFFIX.to_string()]);
    })
    .await;
}
