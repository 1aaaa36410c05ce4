//! Converts ldap3_proto filters into store filters resolved against the schema.

use birch_proto::ldap3_proto::proto::LdapFilter;
use birch_schema::{desc, Schema};
use birch_store::{Entry, Filter};

/// Resolves a protocol filter. Unknown attributes, object classes and matching rules
/// become `Filter::Undefined`, and so does any assertion on an attribute the subject may
/// not read (a filter must not become an oracle for, say, password hashes).
///
/// An assertion on a supertype covers its subtypes: `(name=x)` matches cn, sn, givenName...
/// and an assertion on a type covers its tagged descriptions (`(cn=x)` matches `cn;lang-en`;
/// the store evaluates that). Access is decided on the type, without options.
pub fn convert(f: &LdapFilter, schema: &Schema, readable: &dyn Fn(&str) -> bool) -> Filter {
    let attr_of = |a: &str| schema.attr(a).map(|t| t.canonical.as_str());
    let hidden = |a: &str| attr_of(a).is_some_and(|c| !readable(c));
    let over = |a: &str, build: &dyn Fn(&str) -> Filter| -> Filter {
        let subs = schema.subtypes(a);
        if subs.len() <= 1 {
            return build(a);
        }
        // `(name;lang-en=x)` asserts on `cn;lang-en`, `sn;lang-en`, ...
        let options = a.find(';').map_or("", |i| &a[i..]);
        Filter::Or(subs.into_iter().filter(|s| readable(s)).map(|s| build(&format!("{s}{options}"))).collect())
    };
    match f {
        LdapFilter::And(fs) => Filter::And(fs.iter().map(|f| convert(f, schema, readable)).collect()),
        LdapFilter::Or(fs) => Filter::Or(fs.iter().map(|f| convert(f, schema, readable)).collect()),
        LdapFilter::Not(f) => Filter::Not(Box::new(convert(f, schema, readable))),
        LdapFilter::Equality(a, _)
        | LdapFilter::Approx(a, _)
        | LdapFilter::Substring(a, _)
        | LdapFilter::GreaterOrEqual(a, _)
        | LdapFilter::LessOrEqual(a, _)
        | LdapFilter::Present(a)
            if hidden(a) =>
        {
            Filter::Undefined
        }
        LdapFilter::Extensible(m) if m.type_.as_deref().is_some_and(hidden) => Filter::Undefined,
        LdapFilter::Equality(a, v) | LdapFilter::Approx(a, v) => {
            over(a, &|t| Filter::equality(schema, t, v.as_bytes(), None))
        }
        LdapFilter::Substring(a, s) => {
            let any: Vec<&[u8]> = s.any.iter().map(|v| v.as_bytes()).collect();
            let (initial, fin) = (s.initial.as_deref().map(str::as_bytes), s.final_.as_deref().map(str::as_bytes));
            over(a, &|t| Filter::substring(schema, t, initial, &any, fin))
        }
        LdapFilter::GreaterOrEqual(a, v) => over(a, &|t| Filter::ordering(schema, t, v.as_bytes(), true)),
        LdapFilter::LessOrEqual(a, v) => over(a, &|t| Filter::ordering(schema, t, v.as_bytes(), false)),
        LdapFilter::Present(a) => over(a, &|t| Filter::present(schema, t)),
        LdapFilter::Extensible(m) => {
            let rule = match &m.matching_rule {
                Some(r) => match birch_schema::rules::matching_rule(r) {
                    Some(rule) => Some(rule),
                    None => return Filter::Undefined,
                },
                None => None,
            };
            let (value, dn) = (m.match_value.as_bytes(), m.dn_attributes);
            match (&m.type_, rule) {
                (Some(a), rule) => over(a, &|t| Filter::extensible(schema, t, rule, value, dn)),
                // No type: every attribute type the rule applies to (RFC 4511 section
                // 4.5.1.7.7), as matchingRuleUse lists them.
                (None, Some(rule)) => Filter::Or(
                    schema
                        .attribute_types()
                        .iter()
                        .filter(|t| schema.rule_applies(rule, t) && readable(&t.canonical))
                        .map(|t| Filter::extensible(schema, &t.canonical, Some(rule), value, dn))
                        .collect(),
                ),
                // Neither a type nor a rule: not a valid filter item.
                (None, None) => Filter::Undefined,
            }
        }
    }
}

/// The filter with every assertion on an attribute type in `hidden` (canonical names without
/// options) replaced by Undefined (also the terms of an extensible match that named no type:
/// Undefined rather than false keeps the masking monotone, which the store's pre-filter with
/// the full filter relies on).
pub fn mask(f: &Filter, hidden: &[&str]) -> Filter {
    match f {
        Filter::And(fs) => Filter::And(fs.iter().map(|f| mask(f, hidden)).collect()),
        Filter::Or(fs) => Filter::Or(fs.iter().map(|f| mask(f, hidden)).collect()),
        Filter::Not(f) => Filter::Not(Box::new(mask(f, hidden))),
        Filter::Equality { attr, .. }
        | Filter::Substring { attr, .. }
        | Filter::GreaterOrEqual { attr, .. }
        | Filter::LessOrEqual { attr, .. }
        | Filter::Extensible { attr, .. }
        | Filter::Present { attr }
            if hidden.contains(&desc::base(attr)) =>
        {
            Filter::Undefined
        }
        other => other.clone(),
    }
}

/// The filter as `who` may apply it to `entry`: assertions on attributes it may not
/// search become Undefined, so a filter is never an oracle for hidden values. Kleene logic
/// is monotone, so an entry the masked filter matches also matches the full one: the store
/// can plan and pre-filter with the full filter.
pub fn visible<'a>(
    f: &'a Filter,
    entry: &Entry,
    access: &crate::access::Access,
    who: &birch_acl::Requester,
) -> std::borrow::Cow<'a, Filter> {
    visible_with(f, &|a: &str| access.check(who, entry, a, birch_acl::Privilege::Search))
}

/// [`visible`] with the access decision given: `searchable` says whether the requester may
/// search with an attribute of the entry.
pub fn visible_with<'a>(f: &'a Filter, searchable: &dyn Fn(&str) -> bool) -> std::borrow::Cow<'a, Filter> {
    let mut attrs = Vec::new();
    f.attributes(&mut attrs);
    attrs.sort_unstable();
    attrs.dedup();
    attrs.retain(|a| !searchable(a));
    if attrs.is_empty() {
        std::borrow::Cow::Borrowed(f)
    } else {
        std::borrow::Cow::Owned(mask(f, &attrs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_proto::ldap3_proto::parse_ldap_filter_str;
    use birch_schema::MatchingRule;

    #[test]
    fn unknown_names_become_undefined() {
        let s = Schema::builtin();
        let all = |_: &str| true;
        let f = parse_ldap_filter_str("(&(uid=a)(fooBar=1))").unwrap();
        match convert(&f, &s, &all) {
            Filter::And(v) => assert_eq!(v[1], Filter::Undefined),
            other => panic!("{other:?}"),
        }
        let f = parse_ldap_filter_str("(cn:1.2.3.4:=x)").unwrap();
        assert_eq!(convert(&f, &s, &all), Filter::Undefined);
        let f = parse_ldap_filter_str("(cn:caseExactMatch:=Alice)").unwrap();
        assert!(matches!(convert(&f, &s, &all), Filter::Equality { rule: MatchingRule::CaseExact, .. }));
    }

    #[test]
    fn unreadable_attributes_become_undefined() {
        let s = Schema::builtin();
        let no_pw = |a: &str| a != "userpassword";
        for text in ["(userPassword=*)", "(userpassword=x*)", "(userPassword>=a)", "(userPassword:octetStringMatch:=x)"]
        {
            let f = parse_ldap_filter_str(text).unwrap();
            assert_eq!(convert(&f, &s, &no_pw), Filter::Undefined, "{text}");
        }
        let f = parse_ldap_filter_str("(!(userPassword=*))").unwrap();
        assert_eq!(convert(&f, &s, &no_pw), Filter::Not(Box::new(Filter::Undefined)));
    }

    #[test]
    fn a_rule_only_extensible_match_reads_every_type_the_rule_applies_to() {
        let s = Schema::builtin();
        let all = |_: &str| true;
        let f = parse_ldap_filter_str("(:octetStringMatch:=x)").unwrap();
        let Filter::Or(terms) = convert(&f, &s, &all) else { panic!("an Or") };
        let mut attrs = Vec::new();
        terms.iter().for_each(|t| t.attributes(&mut attrs));
        assert!(attrs.contains(&"userpassword"), "{attrs:?}");
        // Masked for a requester who may not search userPassword: that term is Undefined.
        let masked = mask(&Filter::Or(terms), &["userpassword"]);
        let Filter::Or(terms) = &masked else { panic!("an Or") };
        assert!(terms.contains(&Filter::Undefined));
        // Attributes the requester may not read are not even asked about.
        let no_pw = |a: &str| a != "userpassword";
        let Filter::Or(terms) = convert(&f, &s, &no_pw) else { panic!("an Or") };
        let mut attrs = Vec::new();
        terms.iter().for_each(|t| t.attributes(&mut attrs));
        assert!(!attrs.contains(&"userpassword"), "{attrs:?}");
        let f = parse_ldap_filter_str("(:caseExactMatch:=x)").unwrap();
        let Filter::Or(terms) = convert(&f, &s, &all) else { panic!("an Or") };
        let mut attrs = Vec::new();
        terms.iter().for_each(|t| t.attributes(&mut attrs));
        assert!(attrs.contains(&"uid") && attrs.contains(&"cn") && !attrs.contains(&"mail"), "{attrs:?}");
    }

    use proptest::prelude::*;

    fn arb_filter() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            prop::sample::select(&["uid", "mail", "cn"][..]).prop_map(|a| format!("({a}=*)")),
            (prop::sample::select(&["uid", "mail", "cn"][..]), prop::sample::select(&["bob", "x@y", "b*"][..]))
                .prop_map(|(a, v)| format!("({a}={v})")),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..3).prop_map(|v| format!("(&{})", v.concat())),
                prop::collection::vec(inner.clone(), 1..3).prop_map(|v| format!("(|{})", v.concat())),
                inner.prop_map(|f| format!("(!{f})")),
            ]
        })
    }

    fn entry(mail: Option<&str>) -> Entry {
        let mut e = Entry { dn: "uid=bob,dc=x".into(), ndn: "uid=bob,dc=x".into(), parent: 0, attrs: vec![] };
        e.add_values("uid", "uid", [b"bob".to_vec()]);
        e.add_values("cn", "cn", [b"Bob".to_vec()]);
        if let Some(m) = mail {
            e.add_values("mail", "mail", [m.as_bytes().to_vec()]);
        }
        e
    }

    proptest! {
        /// A filter on an attribute the requester may not search gives the same results as
        /// the filter with that term Undefined, whatever the hidden values are: no oracle.
        #[test]
        fn hidden_attributes_are_undefined_terms(text in arb_filter(), mail in prop::option::of(prop::sample::select(&["x@y", "bob", "z"][..]))) {
            let schema = std::sync::Arc::new(Schema::builtin());
            let access = crate::config::AccessSection {
                rules: Some(vec!["to attrs=mail by self read by * none".into(), "to * by users read".into()]),
                ..Default::default()
            };
            let cfg = crate::config::Config { suffix: "dc=x".into(), access, ..Default::default() };
            let access = crate::access::Access::compile(&cfg, &schema).expect("rules");
            let other = birch_acl::Requester::new(birch_acl::Subject::User("uid=alice,dc=x".into()));
            let f = convert(&parse_ldap_filter_str(&text).expect("filter"), &schema, &|_| true);
            let masked = mask(&f, &["mail"]);
            let e = entry(mail);
            let seen = visible(&f, &e, &access, &other).eval(&e, &schema);
            prop_assert_eq!(seen, masked.eval(&e, &schema));
            // ... and so the outcome does not depend on the hidden value.
            let without = entry(None);
            prop_assert_eq!(seen, visible(&f, &without, &access, &other).eval(&without, &schema));
        }
    }
}
