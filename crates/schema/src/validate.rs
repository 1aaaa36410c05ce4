//! Entry validation against the schema (RFC 4512 section 3.3-4), with OpenLDAP's result
//! codes and messages.

use crate::registry::{Schema, StructuralError};
use crate::{Dn, Rdn};

/// Why an entry does not conform to the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// An attribute type the schema does not define (17 undefinedAttributeType).
    #[error("{0}: attribute type undefined")]
    UndefinedAttribute(String),
    /// An attribute description with a refused option (17 undefinedAttributeType).
    #[error("{0}: {1}")]
    BadOption(String, crate::desc::OptionError),
    /// An unknown object class or a value that breaks its syntax (21 invalidAttributeSyntax).
    #[error("{0}: value #{1} invalid per syntax")]
    Syntax(String, usize),
    /// Object-class rules broken: no or several structural chains, a MUST attribute missing,
    /// an attribute no class allows (65 objectClassViolation).
    #[error("{0}")]
    ObjectClass(String),
    /// Options on an attribute that takes none, `userPassword` (19 constraintViolation).
    #[error("{0}: attribute options not allowed")]
    NoOptions(String),
    /// Several values of a SINGLE-VALUE attribute (19 constraintViolation).
    #[error("attribute '{0}' cannot have multiple values")]
    SingleValue(String),
    /// The RDN's value is not in the entry (64 namingViolation).
    #[error("naming attribute '{0}' is not present in entry")]
    Naming(String),
}

impl Violation {
    /// The LDAP result code (RFC 4511 numbering).
    pub fn code(&self) -> u32 {
        match self {
            Violation::UndefinedAttribute(_) | Violation::BadOption(..) => 17,
            Violation::Syntax(..) => 21,
            Violation::ObjectClass(_) => 65,
            Violation::SingleValue(_) | Violation::NoOptions(_) => 19,
            Violation::Naming(_) => 64,
        }
    }
}

/// One attribute of the entry being checked: name as written, canonical name, values.
pub type AttrView<'a> = (&'a str, &'a str, &'a [Vec<u8>]);

/// What an entry's object classes allow: computed once per set of classes.
#[derive(Debug, Clone)]
pub struct ClassRules {
    must: std::collections::BTreeSet<String>,
    may: std::collections::BTreeSet<String>,
    extensible: bool,
}

/// Class rules by set of object-class values, for checking many entries (an import): entries
/// share a handful of class combinations.
#[derive(Debug, Default)]
pub struct ValidationCache {
    rules: std::collections::HashMap<Vec<Vec<u8>>, ClassRules>,
}

impl ValidationCache {
    /// [`Schema::validate_entry`], reusing the class rules of earlier entries.
    pub fn validate(&mut self, schema: &Schema, dn: &Dn, attrs: &[AttrView<'_>]) -> Result<(), Violation> {
        let classes = object_classes(attrs)?;
        let rules = match self.rules.get(classes) {
            Some(r) => r,
            None => {
                let r = schema.class_rules(classes)?;
                self.rules.entry(classes.to_vec()).or_insert(r)
            }
        };
        schema.validate_with(rules, dn, attrs)
    }
}

fn object_classes<'a>(attrs: &[AttrView<'a>]) -> Result<&'a [Vec<u8>], Violation> {
    match attrs.iter().find(|(_, c, v)| *c == "objectclass" && !v.is_empty()) {
        Some((_, _, classes)) => Ok(classes),
        None => Err(Violation::ObjectClass("no objectClass attribute".into())),
    }
}

/// The most object-class sets a schema remembers the rules of ([`RulesMemo`]).
const MEMO_SETS: usize = 256;
/// The most classes in a set whose rules are remembered (longer lists are computed each time).
const MEMO_CLASSES: usize = 16;

/// The class rules of the object-class sets a schema has validated entries with, shared
/// by every check on that schema (the write pipeline's schema stage): a directory's entries
/// share a handful of class combinations, and working out MUST and MAY over the
/// superclasses was a fifth of a modify's instructions. Bounded ([`MEMO_SETS`] sets of at
/// most [`MEMO_CLASSES`] classes; others are computed each time), holding only sets whose
/// classes are all known. A clone of the schema starts with an empty memo.
#[derive(Default)]
pub(crate) struct RulesMemo(std::sync::Mutex<std::collections::HashMap<Vec<Vec<u8>>, std::sync::Arc<ClassRules>>>);

impl Clone for RulesMemo {
    fn clone(&self) -> Self {
        RulesMemo::default()
    }
}

impl std::fmt::Debug for RulesMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RulesMemo")
    }
}

impl RulesMemo {
    fn sets(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Vec<Vec<u8>>, std::sync::Arc<ClassRules>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Schema {
    /// Checks an entry: object classes, MUST/MAY (extensibleObject allows anything),
    /// SINGLE-VALUE, value syntaxes, and that the RDN's values are present. The rules of
    /// the entry's classes are remembered for the next entry with the same classes.
    pub fn validate_entry(&self, dn: &Dn, attrs: &[AttrView<'_>]) -> Result<(), Violation> {
        let rules = self.remembered_class_rules(object_classes(attrs)?)?;
        self.validate_with(&rules, dn, attrs)
    }

    /// [`Schema::class_rules`], remembered per set of class values (see [`RulesMemo`]).
    fn remembered_class_rules(&self, classes: &[Vec<u8>]) -> Result<std::sync::Arc<ClassRules>, Violation> {
        if let Some(r) = self.rules_memo.sets().get(classes) {
            return Ok(r.clone());
        }
        let rules = std::sync::Arc::new(self.class_rules(classes)?);
        let mut sets = self.rules_memo.sets();
        if classes.len() <= MEMO_CLASSES && sets.len() < MEMO_SETS {
            sets.insert(classes.to_vec(), rules.clone());
        }
        Ok(rules)
    }

    /// The rules of a set of object-class values: all known, exactly one structural chain.
    pub fn class_rules(&self, classes: &[Vec<u8>]) -> Result<ClassRules, Violation> {
        let mut names = Vec::with_capacity(classes.len());
        for (i, v) in classes.iter().enumerate() {
            let name = std::str::from_utf8(v).map_err(|_| Violation::Syntax("objectClass".into(), i))?;
            if self.object_class(name).is_none() {
                return Err(Violation::Syntax("objectClass".into(), i));
            }
            names.push(name);
        }
        match self.structural_class(&names) {
            Ok(_) => {}
            Err(StructuralError::Missing) => {
                return Err(Violation::ObjectClass("no structural object class provided".into()))
            }
            Err(e @ StructuralError::Chains(..)) => return Err(Violation::ObjectClass(e.to_string())),
        }
        let extensible = names.iter().any(|n| self.superclasses(n).iter().any(|c| c.canonical == "extensibleobject"));
        let (must, may) = self.must_may(&names);
        Ok(ClassRules { must, may, extensible })
    }

    /// Checks an entry's attributes against the rules of its classes.
    pub fn validate_with(&self, rules: &ClassRules, dn: &Dn, attrs: &[AttrView<'_>]) -> Result<(), Violation> {
        let ClassRules { must, may, extensible } = rules;
        for (name, canonical, values) in attrs {
            let Some(t) = self.attr(name) else { return Err(Violation::UndefinedAttribute(name.to_string())) };
            crate::desc::options(name).map_err(|e| Violation::BadOption(name.to_string(), e))?;
            // Rules are about the type: `cn;lang-en` is allowed, and satisfies MUST, as `cn`.
            let tagged = canonical.as_bytes().contains(&b';');
            let canonical = crate::desc::base(canonical);
            if tagged && canonical == "userpassword" {
                // Only `userPassword` itself is hashed, checked by the password policy and
                // verified by bind: a tagged password would be a cleartext side door.
                return Err(Violation::NoOptions(name.to_string()));
            }
            for (i, v) in values.iter().enumerate() {
                if !valid_syntax(self, &t.syntax, v) {
                    return Err(Violation::Syntax(name.to_string(), i));
                }
            }
            if t.single_value && values.len() > 1 {
                return Err(Violation::SingleValue(name.to_string()));
            }
            if !t.operational && !extensible && !must.contains(canonical) && !may.contains(canonical) {
                return Err(Violation::ObjectClass(format!("attribute '{name}' not allowed")));
            }
        }
        for m in must {
            if !attrs.iter().any(|(_, c, v)| crate::desc::base(c) == m && !v.is_empty()) {
                let shown = self.attr(m).and_then(|t| t.names.first().cloned()).unwrap_or_else(|| m.clone());
                return Err(Violation::ObjectClass(format!("object class requires attribute '{shown}'")));
            }
        }
        if let Some(rdn) = dn.rdns.first() {
            self.check_rdn(rdn, attrs)?;
        }
        Ok(())
    }

    /// The RDN's values must be values of the untagged type (`cn`, not `cn;lang-en`), as
    /// slapd checks.
    fn check_rdn(&self, rdn: &Rdn, attrs: &[AttrView<'_>]) -> Result<(), Violation> {
        for ava in &rdn.avas {
            let canonical = self.canonical(crate::desc::base(&ava.attr));
            let rule = self.rule(&canonical);
            let want = self.normalize_value(rule, ava.value.as_bytes());
            let present = attrs
                .iter()
                .filter(|(_, c, _)| *c == canonical)
                .any(|(_, _, vs)| vs.iter().any(|v| self.normalize_value(rule, v) == want));
            if !present {
                return Err(Violation::Naming(ava.attr.clone()));
            }
        }
        Ok(())
    }
}

/// Whether a value is valid for the syntax OID (the common RFC 4517 syntaxes are checked;
/// others are accepted).
pub fn valid_syntax(schema: &Schema, syntax: &str, v: &[u8]) -> bool {
    const P: &str = "1.3.6.1.4.1.1466.115.121.1.";
    let Some(n) = syntax.strip_prefix(P) else { return true };
    let text = std::str::from_utf8(v);
    match n {
        // Integer
        "27" => text.is_ok_and(|s| {
            let d = s.strip_prefix('-').unwrap_or(s);
            !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
        }),
        // Boolean
        "7" => matches!(v, b"TRUE" | b"FALSE"),
        // DN, Name and Optional UID
        // (A plain DN, the usual member value, is checked by the cheaper normalizer, which
        // accepts only DNs the parser accepts; the parser decides the others.)
        "12" => text.is_ok_and(|s| crate::dn::normalize_plain(s, schema).is_some() || Dn::parse(s).is_ok()),
        // Generalized Time
        "24" => text.is_ok_and(generalized_time),
        // IA5 String
        "26" => v.is_ascii(),
        // Directory String, Postal Address, Telephone Number: non-empty UTF-8
        "15" | "41" | "50" => text.is_ok_and(|s| !s.is_empty()),
        // Printable String
        "44" => !v.is_empty() && v.iter().all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(b)),
        // Numeric String
        "36" => !v.is_empty() && v.iter().all(|b| b.is_ascii_digit() || *b == b' '),
        // OID: numericoid or descr (known names resolve)
        "38" => text.is_ok_and(|s| {
            let s = s.trim();
            (!s.is_empty() && s.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
                || schema.attr(s).is_some()
                || schema.object_class(s).is_some()
                || (s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        }),
        _ => true,
    }
}

/// YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|(+|-)HH[MM]) — RFC 4517 section 3.3.13.
fn generalized_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 11 || !b[..10].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let month = (b[4] - b'0') * 10 + (b[5] - b'0');
    let day = (b[6] - b'0') * 10 + (b[7] - b'0');
    let hour = (b[8] - b'0') * 10 + (b[9] - b'0');
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 {
        return false;
    }
    let zone_at = s.find(['Z', '+', '-']);
    let Some(z) = zone_at else { return false };
    let middle = &s[10..z];
    let middle_ok = middle.split(['.', ',']).enumerate().all(|(i, p)| {
        p.bytes().all(|c| c.is_ascii_digit()) && if i == 0 { matches!(p.len(), 0 | 2 | 4) } else { !p.is_empty() }
    });
    let zone = &s[z..];
    let zone_ok = zone == "Z" || (zone.len() == 3 || zone.len() == 5) && zone[1..].bytes().all(|c| c.is_ascii_digit());
    middle_ok && zone_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn check(dn: &str, attrs: &[(&str, Vec<&str>)]) -> Result<(), Violation> {
        let s = Schema::builtin();
        let owned: Vec<(String, String, Vec<Vec<u8>>)> =
            attrs.iter().map(|(n, vs)| (n.to_string(), s.canonical(n), vs.iter().map(|x| v(x)).collect())).collect();
        let view: Vec<AttrView<'_>> = owned.iter().map(|(n, c, vs)| (n.as_str(), c.as_str(), vs.as_slice())).collect();
        s.validate_entry(&Dn::parse(dn).unwrap(), &view)
    }

    #[test]
    fn a_correct_person_passes() {
        let r = check(
            "uid=a,dc=x",
            &[
                ("objectClass", vec!["inetOrgPerson", "posixAccount"]),
                ("uid", vec!["a"]),
                ("cn", vec!["A"]),
                ("sn", vec!["B"]),
                ("uidNumber", vec!["1001"]),
                ("gidNumber", vec!["1001"]),
                ("homeDirectory", vec!["/home/a"]),
            ],
        );
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn remembered_class_rules_decide_as_fresh_ones() {
        let s = Schema::builtin();
        let check = |attrs: &[(&str, Vec<&str>)]| {
            let owned: Vec<(String, String, Vec<Vec<u8>>)> = attrs
                .iter()
                .map(|(n, vs)| (n.to_string(), s.canonical(n), vs.iter().map(|x| v(x)).collect()))
                .collect();
            let view: Vec<AttrView<'_>> =
                owned.iter().map(|(n, c, vs)| (n.as_str(), c.as_str(), vs.as_slice())).collect();
            s.validate_entry(&Dn::parse("cn=a,dc=x").unwrap(), &view)
        };
        let person = |extra: (&'static str, Vec<&'static str>)| {
            vec![("objectClass", vec!["person"]), ("cn", vec!["a"]), ("sn", vec!["b"]), extra]
        };
        for _ in 0..2 {
            assert_eq!(check(&person(("description", vec!["d"]))), Ok(()));
            assert!(matches!(check(&person(("uidNumber", vec!["1"]))), Err(Violation::ObjectClass(_))));
            assert!(matches!(
                check(&[("objectClass", vec!["person"]), ("cn", vec!["a"])]),
                Err(Violation::ObjectClass(_))
            ));
            assert!(matches!(
                check(&[("objectClass", vec!["nosuchclass"]), ("cn", vec!["a"])]),
                Err(Violation::Syntax(..))
            ));
        }
        // Unknown classes are not remembered; a clone starts empty.
        assert_eq!(s.rules_memo.sets().len(), 1);
        assert_eq!(s.clone().rules_memo.sets().len(), 0);
    }

    #[test]
    fn violations_have_slapd_codes() {
        let base = |extra: (&str, Vec<&str>)| {
            let mut a = vec![("objectClass", vec!["person"]), ("cn", vec!["A"]), ("sn", vec!["B"])];
            a.push(extra);
            check("cn=A,dc=x", &a)
        };
        assert_eq!(base(("fooBar", vec!["x"])).unwrap_err().code(), 17);
        assert_eq!(base(("uid", vec!["x"])).unwrap_err().code(), 65, "uid not allowed in person");
        assert_eq!(base(("telephoneNumber", vec![""])).unwrap_err().code(), 21);
        assert_eq!(check("cn=A,dc=x", &[("objectClass", vec!["person"]), ("cn", vec!["A"])]).unwrap_err().code(), 65);
        assert_eq!(check("cn=A,dc=x", &[("objectClass", vec!["nope"]), ("cn", vec!["A"])]).unwrap_err().code(), 21);
        assert_eq!(
            check(
                "cn=A,dc=x",
                &[
                    ("objectClass", vec!["person", "organizationalUnit"]),
                    ("cn", vec!["A"]),
                    ("sn", vec!["B"]),
                    ("ou", vec!["o"])
                ]
            )
            .unwrap_err()
            .code(),
            65,
            "two structural chains"
        );
        assert_eq!(
            check("cn=Z,dc=x", &[("objectClass", vec!["person"]), ("cn", vec!["A"]), ("sn", vec!["B"])])
                .unwrap_err()
                .code(),
            64
        );
        let single = check(
            "uid=a,dc=x",
            &[
                ("objectClass", vec!["account", "posixAccount"]),
                ("uid", vec!["a"]),
                ("cn", vec!["a"]),
                ("uidNumber", vec!["1", "2"]),
                ("gidNumber", vec!["1"]),
                ("homeDirectory", vec!["/h"]),
            ],
        );
        assert_eq!(single.unwrap_err().code(), 19);
        let badint = check(
            "uid=a,dc=x",
            &[
                ("objectClass", vec!["account", "posixAccount"]),
                ("uid", vec!["a"]),
                ("cn", vec!["a"]),
                ("uidNumber", vec!["abc"]),
                ("gidNumber", vec!["1"]),
                ("homeDirectory", vec!["/h"]),
            ],
        );
        assert_eq!(badint.unwrap_err().code(), 21);
        // extensibleObject allows any known attribute.
        assert_eq!(base(("objectClass", vec!["extensibleObject"])).map(|_| ()), Ok(()));
    }

    #[test]
    fn tagged_attributes_count_as_their_type() {
        let person = |extra: Vec<(&'static str, Vec<&'static str>)>| {
            let mut a = vec![("objectClass", vec!["inetOrgPerson"]), ("cn", vec!["A"]), ("sn", vec!["B"])];
            a.extend(extra);
            check("cn=A,dc=x", &a)
        };
        assert_eq!(person(vec![("cn;lang-en", vec!["Anne"]), ("description;LANG-de", vec!["x"])]), Ok(()));
        // SINGLE-VALUE counts per description, as slapd does.
        assert_eq!(person(vec![("displayName", vec!["a"]), ("displayName;lang-en", vec!["b"])]), Ok(()));
        assert_eq!(person(vec![("displayName;lang-en", vec!["a", "b"])]).unwrap_err().code(), 19);
        // A tagged value satisfies MUST; it is allowed only where its type is.
        let tagged_sn =
            check("cn=A,dc=x", &[("objectClass", vec!["person"]), ("cn", vec!["A"]), ("sn;lang-en", vec!["B"])]);
        assert_eq!(tagged_sn, Ok(()));
        assert_eq!(person(vec![("uidNumber;lang-en", vec!["1"])]).unwrap_err().code(), 65);
        // Unrecognized or malformed options: undefinedAttributeType.
        let bad = person(vec![("cn;x-foo", vec!["a"])]).unwrap_err();
        assert_eq!(
            (bad.code(), bad.to_string()),
            (17, "cn;x-foo: AttributeDescription contains unrecognized option".into())
        );
        assert_eq!(person(vec![("cn;", vec!["a"])]).unwrap_err().code(), 17);
        // No tagged passwords: only userPassword itself is hashed and verified.
        assert_eq!(person(vec![("userPassword;lang-en", vec!["secret"])]).unwrap_err().code(), 19);
        // The RDN value must be an untagged value.
        let rdn = check("cn=A,dc=x", &[("objectClass", vec!["person"]), ("cn;lang-en", vec!["A"]), ("sn", vec!["B"])]);
        assert_eq!(rdn.unwrap_err().code(), 64);
    }

    #[test]
    fn generalized_times() {
        for ok in ["20261123091500Z", "2026112309Z", "20261123091500.5Z", "20261123091500+0100"] {
            assert!(generalized_time(ok), "{ok}");
        }
        for bad in ["2026", "20261323091500Z", "20261123091500", "20261123091500X", "abcdefghijZ"] {
            assert!(!generalized_time(bad), "{bad}");
        }
    }
}
