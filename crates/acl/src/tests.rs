//! Unit and property tests of the evaluator.

use super::*;
use proptest::prelude::*;

/// Names are already canonical; DNs are lower-cased; filters are recorded.
struct Plain(Vec<String>);

impl Resolver for Plain {
    fn attr(&self, name: &str) -> Option<String> {
        Some(name.to_ascii_lowercase())
    }
    fn dn(&self, dn: &str) -> Result<String, String> {
        Ok(dn.to_ascii_lowercase())
    }
    fn filter(&mut self, text: &str) -> Result<usize, String> {
        self.0.push(text.to_string());
        Ok(self.0.len() - 1)
    }
}

#[derive(Debug, Clone)]
struct Entry {
    ndn: String,
    /// Filter `i` matches when `filters[i]`.
    filters: Vec<bool>,
    /// (attribute, DN value)
    dn_values: Vec<(String, String)>,
}

impl Target for Entry {
    fn ndn(&self) -> &str {
        &self.ndn
    }
    fn matches_filter(&self, index: usize) -> bool {
        self.filters.get(index).copied().unwrap_or(false)
    }
    fn has_dn_value(&self, attr: &str, ndn: &str) -> bool {
        self.dn_values.iter().any(|(a, v)| a == attr && v == ndn)
    }
}

fn entry(ndn: &str) -> Entry {
    Entry { ndn: ndn.into(), filters: vec![], dn_values: vec![] }
}

fn policy(rules: &[&str]) -> Policy {
    Policy::compile(rules, &mut Plain(vec![])).expect("policy compiles")
}

fn user(ndn: &str) -> Requester {
    Requester::new(Subject::User(ndn.into()))
}

const ALICE: &str = "uid=alice,ou=people,dc=x";
const BOB: &str = "uid=bob,ou=people,dc=x";
const NSLCD: &str = "cn=nslcd,ou=services,dc=x";

#[test]
fn first_matching_rule_and_clause_decide() {
    let p = policy(&[
        "to attrs=userPassword by self write by anonymous auth by * none",
        "to dn.subtree=ou=people,dc=x attrs=mail by self read by dn.subtree=ou=services,dc=x read",
        "to * by users read",
    ]);
    let alice = entry(ALICE);
    assert!(p.check(&user(ALICE), &alice, "userpassword", Privilege::Add));
    assert!(!p.check(&user(BOB), &alice, "userpassword", Privilege::Add));
    assert!(p.check(&Requester::new(Subject::Anonymous), &alice, "userpassword", Privilege::Auth));
    assert!(!p.check(&user(ALICE), &alice, "userpassword", Privilege::Read), "secret: never read");
    assert!(p.check(&user(NSLCD), &alice, "mail", Privilege::Read));
    assert!(!p.check(&user(BOB), &alice, "mail", Privilege::Read), "rule 2 matched, no clause for bob");
    assert!(p.check(&user(BOB), &alice, "cn", Privilege::Read));
    assert!(!p.check(&Requester::new(Subject::Anonymous), &alice, "cn", Privilege::Read));
}

#[test]
fn root_may_do_everything_but_read_secrets() {
    let p = policy(&["to * by * none"]);
    let root = Requester::new(Subject::Root);
    assert!(p.check(&root, &entry(ALICE), "cn", Privilege::Add));
    assert!(!p.check(&root, &entry(ALICE), "userpassword", Privilege::Read));
    assert!(!p.check(&root, &entry(ALICE), "userpassword", Privilege::Search));
    // Every attribute holding a hash, whatever the rules grant.
    let open = policy(&["to * by * write"]);
    for attr in ["userpassword", "pwdhistory", "authpassword"] {
        for need in [Privilege::Read, Privilege::Search, Privilege::Compare] {
            assert!(!p.check(&root, &entry(ALICE), attr, need), "{attr} {need:?} by root");
            assert!(!open.check(&user(ALICE), &entry(ALICE), attr, need), "{attr} {need:?} by its owner");
        }
    }
}

#[test]
fn continue_and_break() {
    let p = policy(&["to * by dn.exact=uid=alice,ou=people,dc=x search continue by users read", "to * by users write"]);
    assert!(p.check(&user(ALICE), &entry(BOB), "cn", Privilege::Read), "continue reaches `users read`");
    assert!(!p.check(&user(ALICE), &entry(BOB), "cn", Privilege::Add), "`users read` stops");
    let p = policy(&["to * by users read break", "to * by users write"]);
    assert!(p.check(&user(ALICE), &entry(BOB), "cn", Privilege::Add), "break goes on to the next rule");
}

#[test]
fn groups_dnattr_regex_peer_and_ssf() {
    let p = policy(&[
        "to dn.regex=uid=([^,]+),ou=people,dc=x attrs=description by dn.exact=cn=$1-admin,dc=x write",
        "to attrs=telephoneNumber by dnattr=manager write",
        "to attrs=loginShell by group=cn=admins,dc=x write by peername.ip=10.1.0.0/16 read by ssf=128 search",
    ]);
    let alice = entry(ALICE);
    assert!(p.check(&user("cn=alice-admin,dc=x"), &alice, "description", Privilege::Add));
    assert!(!p.check(&user("cn=bob-admin,dc=x"), &alice, "description", Privilege::Add));
    let mut managed = entry(ALICE);
    managed.dn_values.push(("manager".into(), BOB.into()));
    assert!(p.check(&user(BOB), &managed, "telephonenumber", Privilege::Add));
    assert!(!p.check(&user(BOB), &alice, "telephonenumber", Privilege::Add));
    let mut admin = user(BOB);
    admin.groups.insert("cn=admins,dc=x".into());
    assert_eq!(p.groups(), &["cn=admins,dc=x".to_string()]);
    assert!(p.check(&admin, &alice, "loginshell", Privilege::Delete));
    let mut lab = user(BOB);
    lab.peer = Some("10.1.2.3".parse().unwrap());
    assert!(p.check(&lab, &alice, "loginshell", Privilege::Read));
    lab.peer = Some("10.2.2.3".parse().unwrap());
    assert!(!p.check(&lab, &alice, "loginshell", Privilege::Read));
    lab.ssf = 256;
    assert!(p.check(&lab, &alice, "loginshell", Privilege::Search));
    assert!(!p.check(&lab, &alice, "loginshell", Privilege::Read));
}

#[test]
fn scopes_and_filters() {
    let mut r = Plain(vec![]);
    let p = Policy::compile(
        &[
            "to dn.one=ou=people,dc=x filter=(objectClass=posixAccount) by * read",
            "to dn.children=ou=groups,dc=x by * search",
            "to dn.base=dc=x by * compare",
        ],
        &mut r,
    )
    .unwrap();
    let anon = Requester::new(Subject::Anonymous);
    let mut posix = entry(ALICE);
    posix.filters = vec![true];
    assert!(p.check(&anon, &posix, "cn", Privilege::Read));
    assert!(!p.check(&anon, &entry(ALICE), "cn", Privilege::Read), "filter does not match");
    assert!(!p.check(&anon, &entry("uid=x,ou=deep,ou=people,dc=x"), "cn", Privilege::Read), "not one level");
    assert!(p.check(&anon, &entry("cn=staff,ou=groups,dc=x"), "cn", Privilege::Search));
    assert!(!p.check(&anon, &entry("ou=groups,dc=x"), "cn", Privilege::Search), "children excludes the base");
    assert!(p.check(&anon, &entry("dc=x"), "cn", Privilege::Compare));
    assert!(!p.check(&anon, &entry("dc=xx"), "cn", Privilege::Compare));
}

#[test]
fn selfwrite_grants_only_ones_own_dn() {
    let p = policy(&["to attrs=member by users selfwrite"]);
    let g = entry("cn=club,dc=x");
    assert!(p.check(&user(ALICE), &g, "member", Privilege::AddSelf));
    assert!(p.check(&user(ALICE), &g, "member", Privilege::DeleteSelf));
    assert!(!p.check(&user(ALICE), &g, "member", Privilege::Add));
}

#[test]
fn escaped_commas_do_not_make_subtrees() {
    let p = policy(&["to dn.subtree=ou=people,dc=x by * write"]);
    let anyone = user(NSLCD);
    // "a,ou=people" is one RDN value: the entry is a child of dc=x, not in ou=people.
    assert!(!p.check(&anyone, &entry(r"cn=a\,ou=people,dc=x"), "cn", Privilege::Add));
    assert!(p.check(&anyone, &entry(r"cn=a\,b,ou=people,dc=x"), "cn", Privilege::Add));
    let one = policy(&["to dn.one=ou=people,dc=x by * read"]);
    assert!(one.check(&anyone, &entry(r"cn=a\,b,ou=people,dc=x"), "cn", Privilege::Read));
    let by_subtree = policy(&["to * by dn.subtree=ou=people,dc=x write"]);
    assert!(!by_subtree.check(&user(r"uid=a\,ou=people,dc=x"), &entry("dc=x"), "cn", Privilege::Add));
}

// --- properties ---------------------------------------------------------------------

const DNS: &[&str] = &[ALICE, BOB, NSLCD, "ou=people,dc=x", "cn=staff,ou=groups,dc=x", "dc=x"];
const ATTRS: &[&str] = &["cn", "mail", "userpassword", "member", "entry", "children"];
const LEVELS: &[&str] =
    &["none", "disclose", "auth", "compare", "search", "read", "add", "delete", "write", "selfwrite"];
const PRIVS: &[Privilege] = &[
    Privilege::Disclose,
    Privilege::Auth,
    Privilege::Compare,
    Privilege::Search,
    Privilege::Read,
    Privilege::Add,
    Privilege::Delete,
    Privilege::AddSelf,
    Privilege::DeleteSelf,
];

fn arb_what() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        prop::sample::select(DNS).prop_map(|d| format!("dn.subtree=\"{d}\"")),
        prop::sample::select(DNS).prop_map(|d| format!("dn.base=\"{d}\"")),
        prop::sample::select(ATTRS).prop_map(|a| format!("attrs={a}")),
        (prop::sample::select(DNS), prop::sample::select(ATTRS))
            .prop_map(|(d, a)| format!("dn.subtree=\"{d}\" attrs={a}")),
    ]
}

fn arb_who() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        Just("anonymous".to_string()),
        Just("users".to_string()),
        Just("self".to_string()),
        prop::sample::select(DNS).prop_map(|d| format!("dn.exact=\"{d}\"")),
        prop::sample::select(DNS).prop_map(|d| format!("dn.subtree=\"{d}\"")),
        Just("group=\"cn=staff,ou=groups,dc=x\"".to_string()),
    ]
}

/// A generated clause: who, level, control.
type Clause<'a> = (String, &'a str, &'a str);

/// A rule's text from its target and its clauses.
fn rule_text(what: &str, by: Vec<Clause<'_>>) -> String {
    let clauses: Vec<String> = by.into_iter().map(|(w, l, c)| format!("by {w} {l}{c}")).collect();
    format!("to {what} {}", clauses.join(" "))
}

/// The policy of generated rules (target and clauses each).
fn policy_of(rules: Vec<(String, Vec<Clause<'_>>)>) -> Policy {
    let texts: Vec<String> = rules.into_iter().map(|(what, by)| rule_text(&what, by)).collect();
    policy(&texts.iter().map(String::as_str).collect::<Vec<_>>())
}

fn arb_rule() -> impl Strategy<Value = String> {
    (
        arb_what(),
        prop::collection::vec(
            (arb_who(), prop::sample::select(LEVELS), prop::sample::select(&["", " continue", " break"][..])),
            1..4,
        ),
    )
        .prop_map(|(what, by)| rule_text(&what, by))
}

fn arb_requester() -> impl Strategy<Value = Requester> {
    (prop::option::of(prop::sample::select(DNS)), any::<bool>()).prop_map(|(dn, staff)| {
        let mut r = Requester::new(dn.map_or(Subject::Anonymous, |d| Subject::User(d.to_string())));
        if staff {
            r.groups.insert("cn=staff,ou=groups,dc=x".into());
        }
        r
    })
}

/// [`Policy::check`] as it was before the per-attribute index: every rule in order, those
/// whose attribute list does not name `attr` passed over.
fn check_every_rule(p: &Policy, who: &Requester, target: &dyn Target, attr: &str, need: Privilege) -> bool {
    if matches!(need, Privilege::Read | Privilege::Search | Privilege::Compare) && secret::is_secret_type(attr) {
        return false;
    }
    if who.subject == Subject::Root {
        return true;
    }
    p.rules
        .iter()
        .filter(|r| r.what.attrs.as_ref().is_none_or(|list| list.iter().any(|a| a == attr)))
        .find_map(|r| p.decide(r, who, target, need, &mut false))
        .unwrap_or(false)
}

/// Targets naming several attributes, as the campus policy's do.
fn arb_what_lists() -> impl Strategy<Value = String> {
    prop_oneof![
        arb_what(),
        prop::collection::vec(prop::sample::select(ATTRS), 1..4).prop_map(|a| format!("attrs={}", a.join(","))),
        (prop::sample::select(DNS), prop::collection::vec(prop::sample::select(ATTRS), 1..4))
            .prop_map(|(d, a)| format!("dn.subtree=\"{d}\" attrs={}", a.join(","))),
    ]
}

proptest! {
    /// An allow rule (its clauses `break` when they do not grant, ending in
    /// `by * none break`) inserted anywhere never takes access away.
    #[test]
    fn adding_an_allow_rule_never_removes_access(
        rules in prop::collection::vec(arb_rule(), 0..6),
        what in arb_what(), who in arb_who(), level in prop::sample::select(LEVELS),
        at in any::<prop::sample::Index>(),
        req in arb_requester(), target in prop::sample::select(DNS), attr in prop::sample::select(ATTRS),
        need in prop::sample::select(PRIVS),
    ) {
        let before = policy(&rules.iter().map(String::as_str).collect::<Vec<_>>());
        let mut more = rules.clone();
        more.insert(at.index(rules.len() + 1), format!("to {what} by {who} {level} break by * none break"));
        let after = policy(&more.iter().map(String::as_str).collect::<Vec<_>>());
        let e = entry(target);
        if before.check(&req, &e, attr, need) {
            prop_assert!(after.check(&req, &e, attr, need));
        }
    }

    /// The per-attribute index decides exactly as walking every rule does.
    #[test]
    fn the_attribute_index_decides_as_every_rule_does(
        rules in prop::collection::vec(
            (arb_what_lists(), prop::collection::vec((arb_who(), prop::sample::select(LEVELS),
                prop::sample::select(&["", " continue", " break"][..])), 1..4)),
            0..8,
        ),
        req in arb_requester(), target in prop::sample::select(DNS),
        attr in prop::sample::select(&["cn", "mail", "userpassword", "member", "entry", "children", "sn"][..]),
        need in prop::sample::select(PRIVS),
    ) {
        let p = policy_of(rules);
        let e = entry(target);
        prop_assert_eq!(p.check(&req, &e, attr, need), check_every_rule(&p, &req, &e, attr, need));
    }

    /// A deny-everything policy (or none at all) grants nothing to anyone but the root DN.
    #[test]
    fn deny_everything_grants_nothing(
        req in arb_requester(), target in prop::sample::select(DNS), attr in prop::sample::select(ATTRS),
        need in prop::sample::select(PRIVS),
    ) {
        for p in [policy(&["to * by * none"]), policy(&[])] {
            prop_assert!(!p.check(&req, &entry(target), attr, need));
        }
    }

    /// Parsing never panics, whatever the text.
    #[test]
    fn parsing_never_panics(text in "\\PC{0,80}") {
        let _ = Policy::compile(&[text], &mut Plain(vec![]));
    }
}

proptest! {
    // Enough cases that `self` clauses meet the requester's own entry (with 256 a broken
    // `self` rule was not found).
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// A decision noted as general is the same for every target: other DNs, filters that
    /// match or not, DN values that name the requester or not.
    #[test]
    fn a_general_decision_holds_for_every_target(
        rules in prop::collection::vec(
            (prop_oneof![
                arb_what_lists(),
                Just("filter=(x=1)".to_string()),
                Just("dn.regex=\"^uid=([^,]+),\" attrs=cn".to_string()),
            ],
             prop::collection::vec((prop_oneof![arb_who(), Just("dnattr=member".to_string())], prop::sample::select(LEVELS),
                prop::sample::select(&["", " continue", " break"][..])), 1..4)),
            0..8,
        ),
        req in arb_requester(),
        target in prop::sample::select(DNS), other in prop::sample::select(DNS),
        filters in any::<bool>(), names_requester in any::<bool>(), target_is_me in any::<bool>(),
        attr in prop::sample::select(&["cn", "mail", "userpassword", "member", "entry", "children", "sn"][..]),
        need in prop::sample::select(PRIVS),
    ) {
        // Half the time the requester's own entry (for `self` clauses).
        let target = match (&req.subject, target_is_me) {
            (Subject::User(n), true) => n.as_str(),
            _ => target,
        };
        let p = policy_of(rules);
        let d = p.check_noting(&req, &entry(target), attr, need);
        prop_assert_eq!(d.allowed, p.check(&req, &entry(target), attr, need));
        if d.general {
            let me = match &req.subject { Subject::User(n) => n.clone(), _ => String::new() };
            let mut o = entry(other);
            o.filters = vec![filters; 4];
            if names_requester {
                o.dn_values.push(("member".into(), me));
            }
            prop_assert_eq!(p.check(&req, &o, attr, need), d.allowed, "general for {} but not for {:?}", target, o);
        }
    }
}
