//! Black-box tests of LDAP matching semantics against the demo campus, with the answers
//! OpenLDAP slapd gives on the same data (core, cosine, inetorgperson and Debian's nis.schema;
//! checked side by side with slapd 2.5): a filter item whose matching rule does not exist is
//! Undefined (RFC 4511 section 4.5.1.7), extensible match reads DN values with `:dn:` and
//! every applicable type without a type (section 4.5.1.7.7), and WhoAmI names the bound
//! entry as stored (RFC 4532).
mod common;

use common::demo::{ALICE, BOB, CHENWEI, GROUPS, IT_ADMINS, NSLCD, PEOPLE, SERVICES, STAFF, STUDENTS};
use common::{bounded, connect, connect_as, search, search_dns, sorted, Server, ROOT_DN, ROOT_PW, SUFFIX};
use ldap3::exop::WhoAmI;
use ldap3::Scope;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Every entry of the demo campus.
const ALL: [&str; 11] = [SUFFIX, PEOPLE, GROUPS, SERVICES, ALICE, BOB, CHENWEI, STAFF, STUDENTS, IT_ADMINS, NSLCD];

/// The demo entries but these.
fn all_but(these: &[&str]) -> Vec<String> {
    sorted(&ALL.iter().copied().filter(|d| !these.contains(d)).collect::<Vec<_>>())
}

/// Asserts what each filter finds under the suffix (as the root DN, which reads everything).
async fn expect(l: &mut ldap3::Ldap, cases: &[(&str, Vec<String>)]) {
    for (filter, want) in cases {
        assert_eq!(&search_dns(l, SUFFIX, Scope::Subtree, filter).await, want, "{filter}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn items_without_the_matching_rule_they_need_are_undefined() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let none = Vec::new;
        expect(
            &mut root,
            &[
                // No ORDERING rule: cn, description, loginShell; shadowWarning has only
                // EQUALITY integerMatch in nis.schema (slapd: 0 for each; Birch gave 7, 1, 3, 11).
                ("(cn>=m)", none()),
                ("(!(cn>=m))", none()),
                ("(description>=a)", none()),
                ("(loginShell>=/bin/c)", none()),
                ("(!(shadowWarning<=100))", none()),
                ("(shadowWarning<=100)", none()),
                // No SUBSTR rule: loginShell, homeDirectory, objectClass, member.
                ("(loginShell=*zsh)", none()),
                ("(!(loginShell=*zsh))", none()),
                ("(homeDirectory=/home/*)", none()),
                ("(objectClass=posix*)", none()),
                ("(!(objectClass=posix*))", none()),
                ("(member=*org)", none()),
                // No EQUALITY rule: facsimileTelephoneNumber, jpegPhoto.
                ("(!(facsimileTelephoneNumber=1))", none()),
                ("(!(jpegPhoto=x))", none()),
                // An Undefined term in an Or leaves the others; in an And it never matches.
                ("(|(cn>=m)(uid=alice))", sorted(&[ALICE])),
                ("(&(cn>=m)(uid=alice))", none()),
                // The rules that exist still work: uidNumber and gidNumber have integerOrderingMatch,
                // memberUid caseExactIA5SubstringsMatch.
                ("(uidNumber>=10002)", sorted(&[BOB, CHENWEI])),
                ("(!(gidNumber<=10001))", all_but(&[ALICE, BOB, STAFF])),
                ("(memberUid=al*)", sorted(&[STAFF])),
                ("(memberUid=Al*)", none()),
                ("(mail=*example*)", sorted(&[ALICE, BOB, CHENWEI])),
            ],
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn extensible_match_with_dn_reads_the_dn_values() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        let groups = || sorted(&[GROUPS, STAFF, STUDENTS, IT_ADMINS]);
        expect(
            &mut root,
            &[
                // slapd: 4, 1, 7 (Birch gave 0, 0, 0).
                ("(ou:dn:=groups)", groups()),
                ("(uid:dn:=alice)", sorted(&[ALICE])),
                ("(!(ou:dn:=groups))", all_but(&[GROUPS, STAFF, STUDENTS, IT_ADMINS])),
                // The type's equality rule; a supertype covers its subtypes.
                ("(ou:dn:=GROUPS)", groups()),
                ("(uid:dn:=ALICE)", sorted(&[ALICE])),
                ("(name:dn:=groups)", groups()),
                ("(dc:dn:=example)", sorted(&ALL)),
                ("(!(dc:dn:=example))", Vec::new()),
                // Values of the entry count as well as those of its DN.
                ("(gidNumber:dn:=10001)", sorted(&[ALICE, BOB, STAFF])),
                ("(memberUid:dn:=alice)", sorted(&[STAFF])),
                // With a rule: caseExactMatch compares the DN's values as written.
                ("(cn:dn:caseExactMatch:=staff)", sorted(&[STAFF])),
                ("(cn:dn:caseExactMatch:=Staff)", Vec::new()),
                ("(:dn:caseIgnoreMatch:=people)", sorted(&[PEOPLE, ALICE, BOB, CHENWEI])),
                ("(:dn:2.5.13.2:=groups)", groups()),
                ("(!(:dn:caseIgnoreMatch:=people))", all_but(&[PEOPLE, ALICE, BOB, CHENWEI])),
                // Unknown attribute or rule: Undefined, negation included.
                ("(!(noSuchAttr:dn:=x))", Vec::new()),
                ("(!(ou:dn:1.2.3.4:=groups))", Vec::new()),
            ],
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn extensible_match_with_a_rule_only_reads_every_type_it_applies_to() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        expect(
            &mut root,
            &[
                // caseExactMatch applies to Directory Strings: uid, cn, givenName, ...
                ("(:caseExactMatch:=x)", Vec::new()),
                ("(!(:caseExactMatch:=x))", sorted(&ALL)),
                ("(:caseExactMatch:=Alice)", sorted(&[ALICE])),
                ("(:caseExactMatch:=alice)", sorted(&[ALICE])),
                ("(!(:caseExactMatch:=alice))", all_but(&[ALICE])),
                ("(:2.5.13.2:=ALICE)", sorted(&[ALICE])),
                // ... not to IA5 strings (mail, loginShell), which the IA5 rules read.
                ("(:caseExactMatch:=/bin/zsh)", Vec::new()),
                ("(:caseExactIA5Match:=/bin/zsh)", sorted(&[CHENWEI])),
                ("(:caseIgnoreIA5Match:=ALICE@example.org)", sorted(&[ALICE])),
                ("(:distinguishedNameMatch:=uid=alice,ou=people,dc=example,dc=org)", sorted(&[IT_ADMINS])),
                // integerMatch reads uidNumber and gidNumber; an invalid integer is Undefined.
                ("(:integerMatch:=10001)", sorted(&[ALICE, BOB, STAFF])),
                ("(!(:integerMatch:=abc))", Vec::new()),
                // An ordering rule matches values below the assertion (X.501), as in slapd.
                ("(:integerOrderingMatch:=10002)", sorted(&[ALICE, BOB, STAFF])),
                ("(uidNumber:integerOrderingMatch:=10002)", sorted(&[ALICE])),
                ("(cn:caseIgnoreOrderingMatch:=bob)", sorted(&[ALICE])),
                // A rule that does not apply to the type: Undefined, negation included.
                ("(!(mail:caseIgnoreMatch:=alice@example.org))", Vec::new()),
                ("(!(cn:integerMatch:=5))", Vec::new()),
                ("(!(uid:octetStringMatch:=alice))", Vec::new()),
                // A substrings rule is no extensible assertion here (slapd: Undefined).
                ("(!(cn:caseIgnoreSubstringsMatch:=alice liddell))", Vec::new()),
                ("(!(:noSuchMatch:=x))", Vec::new()),
            ],
        )
        .await;
    })
    .await;
}

/// A rule-only filter is no oracle either: a term on an attribute the requester may not search
/// is Undefined, as when the filter names it. Under the campus policy bob may not search
/// alice's mail (a personal attribute), nor anyone's but his own.
#[tokio::test(flavor = "multi_thread")]
async fn a_rule_only_filter_is_no_oracle_for_what_the_requester_may_not_search() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let alice_mail = "(:caseIgnoreIA5Match:=alice@example.org)";
        let mut root = connect_as(&s.url(), ROOT_DN, ROOT_PW).await;
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, alice_mail).await, sorted(&[ALICE]));
        let mut bob = connect_as(&s.url(), BOB, "bob-secret").await;
        assert_eq!(search_dns(&mut bob, SUFFIX, Scope::Subtree, alice_mail).await, Vec::<String>::new());
        let not_alice_mail = format!("(!{alice_mail})");
        assert_eq!(search_dns(&mut bob, SUFFIX, Scope::Subtree, &not_alice_mail).await, sorted(&[BOB]));
        assert_eq!(search_dns(&mut root, SUFFIX, Scope::Subtree, &not_alice_mail).await, all_but(&[ALICE]));
        let own = "(:caseIgnoreIA5Match:=BOB@example.org)";
        assert_eq!(search_dns(&mut bob, SUFFIX, Scope::Subtree, own).await, sorted(&[BOB]));
        // With the type named, a term bob may not search is Undefined, negation included.
        let typed = "(!(mail:caseIgnoreIA5Match:=alice@example.org))";
        assert!(!search_dns(&mut bob, SUFFIX, Scope::Subtree, typed).await.contains(&ALICE.to_string()));
    })
    .await;
}

async fn whoami(l: &mut ldap3::Ldap) -> String {
    let (exop, res) =
        l.with_timeout(common::OP_TIMEOUT).extended(WhoAmI).await.expect("whoami").success().expect("whoami rc");
    assert_eq!(res.rc, 0);
    String::from_utf8(exop.val.unwrap_or_default()).expect("authzid utf-8")
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_names_the_entry_as_stored_whatever_the_bind_dn_looked_like() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let url = s.url();
        for dn in [
            "UID=Alice, OU=People, DC=Example, DC=Org",
            "uid=alice,ou=people,dc=example,dc=org",
            "0.9.2342.19200300.100.1.1=ALICE,ou=people,dc=example,dc=org",
        ] {
            let mut l = connect_as(&url, dn, "alice-secret").await;
            assert_eq!(whoami(&mut l).await, format!("dn:{ALICE}"), "bound as {dn}");
        }
        let mut l = connect_as(&url, "CN=NSLCD, OU=Services, DC=EXAMPLE, DC=ORG", "nslcd-secret").await;
        assert_eq!(whoami(&mut l).await, format!("dn:{NSLCD}"));
        let mut l = connect_as(&url, "CN=Admin, DC=Example, DC=Org", ROOT_PW).await;
        assert_eq!(whoami(&mut l).await, format!("dn:{ROOT_DN}"));
        let mut l = connect(&url).await;
        assert_eq!(whoami(&mut l).await, "");
    })
    .await;
}

/// cn=Subschema says the same: the NIS integers other than uidNumber and gidNumber have no
/// ORDERING rule, and matchingRuleUse lists the types an extensible match without a type reads.
#[tokio::test(flavor = "multi_thread")]
async fn the_subschema_publishes_the_rules_filters_use() {
    let s = Server::demo();
    bounded(LIMIT, async {
        let mut l = connect(&s.url()).await;
        let (entries, res) =
            search(&mut l, "cn=Subschema", Scope::Base, "(objectClass=*)", &["attributeTypes", "matchingRuleUse"])
                .await;
        assert_eq!(res.rc, 0);
        let values = |name: &str| {
            entries[0]
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let types = values("attributeTypes");
        let def =
            |name: &str| types.iter().find(|d| d.contains(&format!("NAME '{name}'"))).cloned().unwrap_or_default();
        assert!(def("shadowWarning").contains("EQUALITY integerMatch"), "{}", def("shadowWarning"));
        assert!(!def("shadowWarning").contains("ORDERING"), "{}", def("shadowWarning"));
        assert!(def("uidNumber").contains("ORDERING integerOrderingMatch"));
        let uses = values("matchingRuleUse");
        let use_of =
            |rule: &str| uses.iter().find(|u| u.contains(&format!("NAME '{rule}'"))).cloned().unwrap_or_default();
        let exact = use_of("caseExactMatch");
        assert!(exact.contains(" uid ") && exact.contains(" cn ") && !exact.contains(" mail "), "{exact}");
        assert!(use_of("caseExactIA5Match").contains(" loginShell "));
        assert!(use_of("integerOrderingMatch").contains(" shadowWarning "), "applies by syntax");
    })
    .await;
}
