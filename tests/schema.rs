//! Black-box tests of string matching (RFC 4518 preparation) through the server: Unicode
//! case folding and normalization in filters, DNs and compare.
mod common;

use common::demo::PEOPLE;
use common::{bounded, connect_as, search_dns, Server, ROOT_DN, ROOT_PW, SUFFIX};
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
