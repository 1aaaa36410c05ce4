//! Differential: random filters evaluated by the store (index planner and evaluator, through
//! `Store::search`) and by a naive reference evaluator written here from the RFC text, which
//! shares no code with the store: RFC 4511 section 4.5.1.7 (three-valued filters, Undefined
//! for an unknown type or a type without the rule the assertion needs), RFC 4517 (the
//! matching rules of the types used), RFC 4518 section 2.6.1 (insignificant space handling for
//! values and substring components), the types as OpenLDAP's core, cosine, inetorgperson and
//! nis schema define them. Zero differences.
//!
//! The reference normalizes case-ignoring strings with Rust's Unicode lower-casing, which is
//! the Unicode case fold for the generated alphabet (ASCII, é/É, ü/Ü, Chinese characters, which
//! NFKC leaves unchanged). Seeded: the same cases run every time, in a few seconds.

use birch_schema::Schema;
use birch_store::{Filter, IndexConfig, Scope, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::collections::BTreeSet;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// The reference: types, values and filters from the RFC text.

/// An equality (or substrings) rule of RFC 4517, as far as the generated data needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// caseIgnoreMatch, caseIgnoreIA5Match (and their substrings rules).
    CaseIgnore,
    /// caseExactMatch, caseExactIA5Match (and their substrings rules).
    CaseExact,
    /// integerMatch / integerOrderingMatch.
    Integer,
}

/// An attribute type: its EQUALITY, ORDERING and SUBSTR rules (`None`: the type has none).
struct Type {
    names: &'static [&'static str],
    eq: Option<Rule>,
    ord: Option<Rule>,
    sub: Option<Rule>,
}

/// RFC 4519 (uid, cn, sn, description, ou, dc, serialNumber, telephoneNumber), RFC 4524
/// (mail), RFC 2307 as OpenLDAP ships it (loginShell, memberUid, uidNumber, shadowMax).
const TYPES: &[Type] = &[
    Type { names: &["uid", "userid"], eq: Some(Rule::CaseIgnore), ord: None, sub: Some(Rule::CaseIgnore) },
    Type { names: &["cn", "commonName"], eq: Some(Rule::CaseIgnore), ord: None, sub: Some(Rule::CaseIgnore) },
    Type { names: &["sn", "surname"], eq: Some(Rule::CaseIgnore), ord: None, sub: Some(Rule::CaseIgnore) },
    Type { names: &["description"], eq: Some(Rule::CaseIgnore), ord: None, sub: Some(Rule::CaseIgnore) },
    Type {
        names: &["ou", "organizationalUnitName"],
        eq: Some(Rule::CaseIgnore),
        ord: None,
        sub: Some(Rule::CaseIgnore),
    },
    Type { names: &["dc", "domainComponent"], eq: Some(Rule::CaseIgnore), ord: None, sub: Some(Rule::CaseIgnore) },
    Type { names: &["serialNumber"], eq: Some(Rule::CaseIgnore), ord: None, sub: Some(Rule::CaseIgnore) },
    Type { names: &["telephoneNumber"], eq: None, ord: None, sub: None }, // only ever absent
    Type { names: &["mail", "rfc822Mailbox"], eq: Some(Rule::CaseIgnore), ord: None, sub: Some(Rule::CaseIgnore) },
    Type { names: &["loginShell"], eq: Some(Rule::CaseExact), ord: None, sub: None },
    Type { names: &["memberUid"], eq: Some(Rule::CaseExact), ord: None, sub: Some(Rule::CaseExact) },
    Type { names: &["uidNumber"], eq: Some(Rule::Integer), ord: Some(Rule::Integer), sub: None },
    Type { names: &["shadowMax"], eq: Some(Rule::Integer), ord: None, sub: None },
];

/// The type a name (any case, any alias) denotes, and its canonical (first) name.
fn type_of(name: &str) -> Option<&'static Type> {
    TYPES.iter().find(|t| t.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

/// Object classes and their superclasses (RFC 4512, RFC 4519, RFC 2798, RFC 2307), by
/// name and OID.
const CLASSES: &[(&str, &str, Option<&str>)] = &[
    ("top", "2.5.6.0", None),
    ("person", "2.5.6.6", Some("top")),
    ("organizationalPerson", "2.5.6.7", Some("person")),
    ("inetOrgPerson", "2.16.840.1.113730.3.2.2", Some("organizationalPerson")),
    ("posixAccount", "1.3.6.1.1.1.2.0", Some("top")),
    ("organizationalUnit", "2.5.6.5", Some("top")),
    ("domain", "0.9.2342.19200300.100.4.13", Some("top")),
];

fn class(name: &str) -> Option<&'static (&'static str, &'static str, Option<&'static str>)> {
    CLASSES.iter().find(|(n, oid, _)| n.eq_ignore_ascii_case(name) || *oid == name)
}

/// Whether an entry of class `has` is of class `want` (itself or a superclass).
fn is_a(has: &str, want: &str) -> bool {
    let mut at = class(has);
    while let Some((name, _, sup)) = at {
        if name.eq_ignore_ascii_case(want) {
            return true;
        }
        at = sup.and_then(class);
    }
    false
}

/// RFC 4518 section 2.6.1 for attribute values and non-substring assertions: one space at
/// each end, two between words; only spaces: two spaces.
fn value_form(s: &str) -> String {
    let words: Vec<&str> = s.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return "  ".into();
    }
    format!(" {} ", words.join("  "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Initial,
    Any,
    Final,
}

/// RFC 4518 section 2.6.1 for substring components: only spaces gives one space; an initial
/// component starts with exactly one space, a final one ends with exactly one; a component
/// that starts (ends) with spaces, where it may, starts (ends) with exactly one; inner runs of
/// spaces become two.
fn substring_form(s: &str, part: Part) -> String {
    let words: Vec<&str> = s.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return " ".into();
    }
    let start = part == Part::Initial || s.starts_with(' ');
    let end = part == Part::Final || s.ends_with(' ');
    format!("{}{}{}", if start { " " } else { "" }, words.join("  "), if end { " " } else { "" })
}

/// String preparation for the rule: case folded for caseIgnore (the Unicode case fold of the
/// generated alphabet), as is otherwise.
fn fold(s: &str, rule: Rule) -> String {
    if rule == Rule::CaseIgnore {
        s.to_lowercase()
    } else {
        s.to_string()
    }
}

/// An INTEGER (RFC 4517 section 3.3.16); `None` if the string is not one.
fn integer(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether a stored value equals an assertion with an equality rule; `None` (Undefined) when
/// the assertion is not a valid value of the rule's syntax.
fn equal(rule: Rule, value: &str, assertion: &str) -> Option<bool> {
    match rule {
        Rule::Integer => {
            let a = integer(assertion)?;
            Some(integer(value) == Some(a))
        }
        _ => Some(value_form(&fold(value, rule)) == value_form(&fold(assertion, rule))),
    }
}

/// Matches substring components (already in their section 2.6.1 forms) against a value form:
/// initial at the start, final at the end, the others in order in between, none overlapping.
fn substrings(v: &str, initial: Option<&str>, any: &[String], fin: Option<&str>) -> bool {
    let mut pos = 0;
    if let Some(i) = initial {
        if !v.starts_with(i) {
            return false;
        }
        pos = i.len();
    }
    let mut limit = v.len();
    if let Some(f) = fin {
        if !v.ends_with(f) || v.len() - f.len() < pos {
            return false;
        }
        limit = v.len() - f.len();
    }
    for a in any {
        match v[pos..limit].find(a.as_str()) {
            Some(k) => pos += k + a.len(),
            None => return false,
        }
    }
    true
}

/// An entry as the reference sees it: its DN's attribute values, its classes and attributes.
#[derive(Debug, Clone)]
struct RefEntry {
    dn: String,
    dn_values: Vec<(&'static str, String)>,
    classes: Vec<&'static str>,
    attrs: Vec<(&'static str, Vec<String>)>,
}

impl RefEntry {
    fn values<'a>(&'a self, t: &'static Type) -> impl Iterator<Item = &'a String> + 'a {
        self.attrs.iter().filter(move |(n, _)| *n == t.names[0]).flat_map(|(_, vs)| vs.iter())
    }
}

/// A filter as a client writes it.
#[derive(Debug, Clone)]
enum F {
    And(Vec<F>),
    Or(Vec<F>),
    Not(Box<F>),
    Eq(&'static str, String),
    Sub(&'static str, Option<String>, Vec<String>, Option<String>),
    Ge(&'static str, String),
    Le(&'static str, String),
    Present(&'static str),
    Class(&'static str),
    /// `(attr:dn:=value)`: extensible match with the type's equality rule, on its values and
    /// on those of the entry's DN.
    DnEq(&'static str, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Undefined,
}

fn tri(b: bool) -> Tri {
    if b {
        Tri::True
    } else {
        Tri::False
    }
}

/// RFC 4511 section 4.5.1.7: any value matching makes an item True; an item whose type is
/// unknown, lacks the rule, or whose assertion is invalid is Undefined.
/// `test` answers `None` exactly when the assertion is invalid (whatever the value).
fn some_value(e: &RefEntry, t: &'static Type, rule: Option<Rule>, test: impl Fn(Rule, &str) -> Option<bool>) -> Tri {
    let Some(rule) = rule else { return Tri::Undefined };
    if test(rule, "0").is_none() {
        return Tri::Undefined;
    }
    tri(e.values(t).any(|v| test(rule, v) == Some(true)))
}

fn eval(f: &F, e: &RefEntry) -> Tri {
    match f {
        F::And(fs) => fs.iter().fold(Tri::True, |acc, f| match (acc, eval(f, e)) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::Undefined, _) | (_, Tri::Undefined) => Tri::Undefined,
            _ => Tri::True,
        }),
        F::Or(fs) => fs.iter().fold(Tri::False, |acc, f| match (acc, eval(f, e)) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::Undefined, _) | (_, Tri::Undefined) => Tri::Undefined,
            _ => Tri::False,
        }),
        F::Not(f) => match eval(f, e) {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Undefined => Tri::Undefined,
        },
        F::Present(a) if a.eq_ignore_ascii_case("objectClass") => Tri::True,
        F::Present(a) => match type_of(a) {
            Some(t) => tri(e.values(t).next().is_some()),
            None => Tri::Undefined,
        },
        F::Class(c) => match class(c) {
            Some((want, _, _)) => tri(e.classes.iter().any(|has| is_a(has, want))),
            None => Tri::Undefined,
        },
        F::Eq(a, x) => match type_of(a) {
            Some(t) => some_value(e, t, t.eq, |rule, v| equal(rule, v, x)),
            None => Tri::Undefined,
        },
        F::Ge(a, x) | F::Le(a, x) => {
            let ge = matches!(f, F::Ge(..));
            match type_of(a) {
                Some(t) => some_value(e, t, t.ord, |_, v| {
                    let x = integer(x)?;
                    Some(integer(v).is_some_and(|v| if ge { v >= x } else { v <= x }))
                }),
                None => Tri::Undefined,
            }
        }
        F::Sub(a, i, anys, fin) => match type_of(a) {
            Some(t) => some_value(e, t, t.sub, |rule, v| {
                let i = i.as_deref().map(|c| substring_form(&fold(c, rule), Part::Initial));
                let anys: Vec<String> = anys.iter().map(|c| substring_form(&fold(c, rule), Part::Any)).collect();
                let fin = fin.as_deref().map(|c| substring_form(&fold(c, rule), Part::Final));
                Some(substrings(&value_form(&fold(v, rule)), i.as_deref(), &anys, fin.as_deref()))
            }),
            None => Tri::Undefined,
        },
        F::DnEq(a, x) => match type_of(a) {
            Some(t) => match t.eq {
                None => Tri::Undefined,
                Some(rule) => {
                    let in_dn = e.dn_values.iter().any(|(n, v)| *n == t.names[0] && equal(rule, v, x) == Some(true));
                    match some_value(e, t, Some(rule), |rule, v| equal(rule, v, x)) {
                        Tri::False if in_dn => Tri::True,
                        other => other,
                    }
                }
            },
            None => Tri::Undefined,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The store's side: the same filter built with the store's constructors.

fn to_store(f: &F, s: &Schema) -> Filter {
    match f {
        F::And(fs) => Filter::And(fs.iter().map(|f| to_store(f, s)).collect()),
        F::Or(fs) => Filter::Or(fs.iter().map(|f| to_store(f, s)).collect()),
        F::Not(f) => Filter::Not(Box::new(to_store(f, s))),
        F::Eq(a, v) => Filter::equality(s, a, v.as_bytes(), None),
        F::Sub(a, i, anys, fin) => {
            let anys: Vec<&[u8]> = anys.iter().map(|c| c.as_bytes()).collect();
            Filter::substring(s, a, i.as_deref().map(str::as_bytes), &anys, fin.as_deref().map(str::as_bytes))
        }
        F::Ge(a, v) => Filter::ordering(s, a, v.as_bytes(), true),
        F::Le(a, v) => Filter::ordering(s, a, v.as_bytes(), false),
        F::Present(a) => Filter::present(s, a),
        F::Class(c) => Filter::equality(s, "objectClass", c.as_bytes(), None),
        F::DnEq(a, v) => Filter::extensible(s, a, None, v.as_bytes(), true),
    }
}

// ---------------------------------------------------------------------------------------------
// Generators.

/// Case variants, accented letters, Chinese characters and spaces (leading, trailing, runs).
fn text() -> impl Strategy<Value = String> {
    "[aAbBéÉüÜ陈伟 ]{0,4}[abAéÜ陈]"
}

/// Substring components from the same alphabet (a component may be only spaces).
fn component() -> impl Strategy<Value = String> {
    "[aAbéÉü陈 ]{1,3}"
}

/// IA5 values of the shells and member names (caseExactIA5).
fn ia5() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["/bin/zsh", "/bin/ZSH", "/bin/bash", " /bin/bash ", "alice", "Alice"])
            .prop_map(str::to_string),
        "[aAb/ ]{0,3}[ab]",
    ]
}

const OUS: &[&str] = &["people", "Ünits Staff", "陈 伟"];

#[derive(Debug, Clone)]
struct Person {
    uid: String,
    cn: Vec<String>,
    sn: Option<String>,
    description: Option<String>,
    mail: Option<String>,
    shell: Option<String>,
    member_uid: Vec<String>,
    uid_number: i64,
    shadow_max: Option<i64>,
    posix: bool,
    ou: usize,
}

fn person() -> impl Strategy<Value = Person> {
    (
        (text(), prop::collection::vec(text(), 1..3), prop::option::of(text()), prop::option::of(text())),
        (prop::option::of("[aAbB]{1,3}@[ab]\\.org"), prop::option::of(ia5()), prop::collection::vec(ia5(), 0..3)),
        (-3i64..20, prop::option::of(0i64..20), any::<bool>(), 0..OUS.len()),
    )
        .prop_map(
            |((uid, cn, sn, description), (mail, shell, member_uid), (uid_number, shadow_max, posix, ou))| Person {
                uid,
                cn,
                sn,
                description,
                mail,
                shell,
                member_uid,
                uid_number,
                shadow_max,
                posix,
                ou,
            },
        )
}

/// Attribute names as clients write them: canonical, other case, aliases, unknown.
fn name(kind: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(kind.to_vec())
}

/// Directory String types (any Unicode assertion is valid for them).
const STRINGS: &[&str] = &["uid", "UID", "userid", "cn", "commonName", "sn", "description", "fooBar"];
/// IA5 String types: assertions from the IA5 alphabet only (a non-IA5 assertion is invalid
/// for their rules, which the store does not check).
const IA5: &[&str] = &["mail", "rfc822Mailbox", "loginShell", "LOGINSHELL", "memberUid"];
const ALL: &[&str] = &[
    "uid",
    "cn",
    "CN",
    "sn",
    "description",
    "mail",
    "loginShell",
    "memberUid",
    "uidNumber",
    "shadowMax",
    "telephoneNumber",
    "serialNumber",
    "fooBar",
];

fn leaf() -> impl Strategy<Value = F> {
    let int = prop_oneof![(-4i64..22).prop_map(|n| n.to_string()), Just("x1".to_string())];
    prop_oneof![
        (name(STRINGS), text()).prop_map(|(a, v)| F::Eq(a, v)),
        (name(IA5), prop_oneof![ia5(), "[aAbB]{1,3}@[ab]\\.org"]).prop_map(|(a, v)| F::Eq(a, v)),
        (name(&["uidNumber", "UIDNUMBER", "shadowMax"]), int.clone()).prop_map(|(a, v)| F::Eq(a, v)),
        (
            name(&["uid", "cn", "sn", "description", "uidNumber", "fooBar"]),
            prop::option::of(component()),
            prop::collection::vec(component(), 0..3),
            prop::option::of(component()),
        )
            .prop_filter("a substring filter has a component", |(_, i, a, f)| i.is_some()
                || !a.is_empty()
                || f.is_some())
            .prop_map(|(a, i, anys, f)| F::Sub(a, i, anys, f)),
        (
            name(IA5),
            prop::option::of("[aAb/@. ]{1,3}"),
            prop::collection::vec("[aAb/@. ]{1,3}", 0..3),
            prop::option::of("[aAb/@. ]{1,3}"),
        )
            .prop_filter("a substring filter has a component", |(_, i, a, f)| i.is_some()
                || !a.is_empty()
                || f.is_some())
            .prop_map(|(a, i, anys, f)| F::Sub(a, i, anys, f)),
        (name(&["uidNumber", "shadowMax", "cn", "loginShell", "description"]), int.clone(), any::<bool>())
            .prop_map(|(a, v, ge)| if ge { F::Ge(a, v) } else { F::Le(a, v) }),
        (name(&["uidNumber", "UIDNUMBER"]), int).prop_map(|(a, v)| F::Le(a, v)),
        name(ALL).prop_map(F::Present),
        name(&[
            "top",
            "person",
            "PERSON",
            "inetOrgPerson",
            "posixAccount",
            "2.5.6.6",
            "organizationalUnit",
            "noSuchClass"
        ])
        .prop_map(F::Class),
        (
            name(&["ou", "dc", "serialNumber", "uid"]),
            prop::sample::select(vec!["people", "PEOPLE", "ünits  staff", "Ünits Staff ", "陈 伟", "x", "1", "a"]),
        )
            .prop_map(|(a, v)| F::DnEq(a, v.to_string())),
    ]
}

fn filter() -> impl Strategy<Value = F> {
    leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(F::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(F::Or),
            inner.prop_map(|f| F::Not(Box::new(f))),
        ]
    })
}

/// Loads the people into a fresh store under `dc=x` (one organizational unit per value of
/// [`OUS`]) and returns the store, the suffix's id and the reference's view of every entry.
fn load(people: &[Person]) -> (Store, u64, Vec<RefEntry>) {
    let names = |vs: &[&str]| vs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cfg = IndexConfig::new(
        &Schema::builtin(),
        &names(&["objectClass", "uid", "cn", "mail", "uidNumber", "memberUid", "loginShell", "shadowMax"]),
        &names(&["uid", "cn", "mail", "memberUid", "loginShell"]),
        &[],
    );
    let store = Store::open_temporary(Arc::new(Schema::builtin()), cfg).unwrap();
    let mut all = Vec::new();
    let mut add = |dn: String,
                   dn_values: Vec<(&'static str, String)>,
                   classes: Vec<&'static str>,
                   attrs: Vec<(&'static str, Vec<String>)>,
                   root: bool| {
        let mut raw: Vec<(String, Vec<Vec<u8>>)> =
            vec![("objectClass".into(), classes.iter().map(|c| c.as_bytes().to_vec()).collect())];
        raw.extend(attrs.iter().map(|(n, vs)| (n.to_string(), vs.iter().map(|v| v.clone().into_bytes()).collect())));
        let id = store.add(store.make_entry(&dn, raw).unwrap(), root).unwrap();
        all.push(RefEntry { dn, dn_values, classes, attrs });
        id
    };
    let root = add("dc=x".into(), vec![("dc", "x".into())], vec!["domain"], vec![("dc", vec!["x".into()])], true);
    for ou in OUS {
        add(
            format!("ou={ou},dc=x"),
            vec![("ou", ou.to_string()), ("dc", "x".into())],
            vec!["organizationalUnit"],
            vec![("ou", vec![ou.to_string()])],
            false,
        );
    }
    for (i, p) in people.iter().enumerate() {
        let ou = OUS[p.ou];
        let mut attrs = vec![
            ("uid", vec![p.uid.clone()]),
            ("cn", p.cn.clone()),
            ("serialNumber", vec![i.to_string()]),
            ("uidNumber", vec![p.uid_number.to_string()]),
        ];
        let optional = [("sn", &p.sn), ("description", &p.description), ("mail", &p.mail), ("loginShell", &p.shell)];
        attrs.extend(optional.into_iter().filter_map(|(n, v)| v.clone().map(|v| (n, vec![v]))));
        if let Some(m) = p.shadow_max {
            attrs.push(("shadowMax", vec![m.to_string()]));
        }
        // Distinct values only (a multi-valued attribute is a set).
        let mut member_uid: Vec<String> = Vec::new();
        for m in &p.member_uid {
            if !member_uid.iter().any(|x| equal(Rule::CaseExact, x, m) == Some(true)) {
                member_uid.push(m.clone());
            }
        }
        if !member_uid.is_empty() {
            attrs.push(("memberUid", member_uid));
        }
        let mut cn: Vec<String> = Vec::new();
        for c in &p.cn {
            if !cn.iter().any(|x| equal(Rule::CaseIgnore, x, c) == Some(true)) {
                cn.push(c.clone());
            }
        }
        attrs[1].1 = cn;
        let classes = if p.posix { vec!["inetOrgPerson", "posixAccount"] } else { vec!["inetOrgPerson"] };
        let dn_values = vec![("serialNumber", i.to_string()), ("ou", ou.to_string()), ("dc", "x".into())];
        add(format!("serialNumber={i},ou={ou},dc=x"), dn_values, classes, attrs, false);
    }
    (store, root, all)
}

proptest! {
    #![proptest_config(Config { cases: 40, rng_seed: RngSeed::Fixed(0x5eed_b12c), ..Config::default() })]

    /// The store (index plan, then the filter on each candidate) returns exactly the entries
    /// the reference evaluates to True.
    #[test]
    fn store_agrees_with_the_rfc_reference(
        people in prop::collection::vec(person(), 1..30),
        filters in prop::collection::vec(filter(), 1..16),
    ) {
        let (store, root, entries) = load(&people);
        let base = store.get(root).unwrap().unwrap();
        for f in &filters {
            let want: BTreeSet<String> = entries.iter().filter(|e| eval(f, e) == Tri::True).map(|e| e.dn.clone()).collect();
            let got: BTreeSet<String> = store
                .search(root, &base, Scope::Sub, to_store(f, store.schema()))
                .unwrap()
                .map(|e| e.unwrap().dn)
                .collect();
            prop_assert_eq!(&got, &want, "filter {:?}", f);
        }
    }
}

/// The reference itself, on the cases of RFC 4518 section 2.6.1 and the filters.
#[test]
fn reference_follows_the_rfc_examples() {
    assert_eq!(value_form("foo bar  "), " foo  bar ");
    assert_eq!(value_form("   "), "  ");
    assert_eq!(substring_form("  ", Part::Any), " ");
    assert_eq!(substring_form("foo ", Part::Initial), " foo ");
    assert_eq!(substring_form(" foo", Part::Any), " foo");
    assert_eq!(substring_form("a  b", Part::Final), "a  b ");
    let p = RefEntry {
        dn: "serialNumber=0,ou=people,dc=x".into(),
        dn_values: vec![("serialNumber", "0".into()), ("ou", "people".into()), ("dc", "x".into())],
        classes: vec!["inetOrgPerson"],
        attrs: vec![
            ("cn", vec!["Anna Maria".into()]),
            ("loginShell", vec!["/bin/zsh".into()]),
            ("shadowMax", vec!["5".into()]),
        ],
    };
    let sub = |i: Option<&str>, a: &[&str], f: Option<&str>| {
        F::Sub("cn", i.map(str::to_string), a.iter().map(|s| s.to_string()).collect(), f.map(str::to_string))
    };
    assert_eq!(eval(&sub(Some("anna "), &[], None), &p), Tri::True);
    assert_eq!(eval(&sub(None, &["a m"], None), &p), Tri::True);
    assert_eq!(eval(&sub(Some("anna"), &[], Some("ria")), &p), Tri::True);
    assert_eq!(eval(&sub(Some("anna m"), &[], Some("maria")), &p), Tri::False, "components must not overlap");
    assert_eq!(eval(&F::Sub("loginShell", None, vec![], Some("zsh".into())), &p), Tri::Undefined);
    assert_eq!(eval(&F::Ge("cn", "m".into()), &p), Tri::Undefined);
    assert_eq!(eval(&F::Not(Box::new(F::Le("shadowMax", "100".into()))), &p), Tri::Undefined);
    assert_eq!(eval(&F::Class("PERSON"), &p), Tri::True);
    assert_eq!(eval(&F::DnEq("ou", "People".into()), &p), Tri::True);
    assert_eq!(eval(&F::Eq("uidNumber", "x1".into()), &p), Tri::Undefined);
}
