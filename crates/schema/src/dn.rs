//! Distinguished names (RFC 4514): parsing, printing and schema-aware normalization.
//!
//! Hand-written: the DN grammar is small, and normalization must use Birch's own schema
//! (attribute aliases, matching rules), which no DN crate offers.

use crate::registry::Schema;
use std::fmt;

/// Why a DN string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    /// An RDN has no `=`.
    #[error("invalid DN syntax: RDN {0:?} has no '='")]
    MissingEquals(String),
    /// An attribute type is empty or has characters outside `[A-Za-z0-9-.]`.
    #[error("invalid DN syntax: bad attribute type {0:?}")]
    BadAttributeType(String),
    /// A `\` escape is not followed by a special character or two hex digits.
    #[error("invalid DN syntax: bad escape in {0:?}")]
    BadEscape(String),
    /// A `#` value is not an even number of hex digits.
    #[error("invalid DN syntax: bad hex value {0:?}")]
    BadHex(String),
    /// Escaped bytes do not form UTF-8.
    #[error("invalid DN syntax: value is not UTF-8")]
    NotUtf8,
    /// An empty RDN (`a=b,,c=d`).
    #[error("invalid DN syntax: empty RDN")]
    EmptyRdn,
}

/// One attribute-value assertion of an RDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ava {
    /// Attribute type as written.
    pub attr: String,
    /// Unescaped value (a `#hex` value is kept as written, `#` included).
    pub value: String,
}

/// A relative distinguished name: one or more AVAs joined by `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rdn {
    /// The AVAs in the order written.
    pub avas: Vec<Ava>,
}

/// A parsed DN, most specific RDN first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dn {
    /// RDNs, leaf first.
    pub rdns: Vec<Rdn>,
}

impl Dn {
    /// Parses an RFC 4514 string (also accepts `;` separators and spaces around `,`, `+`, `=`).
    pub fn parse(s: &str) -> Result<Dn, DnError> {
        let mut rdns = Vec::new();
        if s.trim().is_empty() {
            return Ok(Dn { rdns });
        }
        let mut avas = Vec::new();
        let mut rest = s;
        loop {
            let (ava, sep, tail) = parse_ava(rest)?;
            avas.push(ava);
            rest = tail;
            match sep {
                Some('+') => continue,
                Some(_) => {
                    rdns.push(Rdn { avas: std::mem::take(&mut avas) });
                    if rest.trim().is_empty() {
                        return Err(DnError::EmptyRdn);
                    }
                }
                None => {
                    rdns.push(Rdn { avas });
                    return Ok(Dn { rdns });
                }
            }
        }
    }

    /// Whether this is the empty (root) DN.
    pub fn is_root(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The parent DN (the root's parent is the root).
    pub fn parent(&self) -> Dn {
        Dn { rdns: self.rdns.iter().skip(1).cloned().collect() }
    }

    /// The schema-normalized string form: canonical attribute names, values normalized by
    /// their equality rule, AVAs of a multi-valued RDN sorted, no insignificant spaces.
    /// Two DNs are equal under distinguishedNameMatch iff their normalized forms are equal.
    pub fn normalize(&self, schema: &Schema) -> String {
        let mut out = String::with_capacity(self.rdns.iter().flat_map(|r| &r.avas).map(|a| a.value.len() + 8).sum());
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // The common single-AVA RDN needs no sorting (nor the vector to sort in).
            if let [a] = rdn.avas.as_slice() {
                push_ava(&mut out, &canonical_type(schema, &a.attr), &normalized_value(schema, a));
                continue;
            }
            let mut parts: Vec<(std::borrow::Cow<'_, str>, String)> =
                rdn.avas.iter().map(|a| (canonical_type(schema, &a.attr), normalized_value(schema, a))).collect();
            parts.sort();
            for (j, (attr, value)) in parts.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                push_ava(&mut out, attr, value);
            }
        }
        out
    }
}

/// The normalized form of a "plain" DN string without parsing it into a [`Dn`]: one AVA per
/// RDN, `,` separators, known attribute types whose equality rule is caseIgnore-like or
/// caseExact, values of printable ASCII other than spaces and the characters RFC 4514
/// escapes. Most DNs are plain (`uid=jdoe,ou=people,dc=example,dc=org`); for them this
/// equals `Dn::parse(s)?.normalize(schema)` and is several times cheaper (an import
/// normalizes every member DN). `None` when the DN is not plain.
pub fn normalize_plain(s: &str, schema: &Schema) -> Option<String> {
    use crate::MatchingRule as R;
    // Built as bytes: every byte pushed is ASCII (checked below) or from a canonical name.
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    // Byte searches rather than `split`/`split_once` (char searchers): the separators
    // are ASCII, so the slices fall on character boundaries.
    let mut rest = Some(s);
    let mut i = 0;
    while let Some(r) = rest {
        let rdn = match r.bytes().position(|b| b == b',') {
            Some(p) => {
                rest = Some(&r[p + 1..]);
                &r[..p]
            }
            None => {
                rest = None;
                r
            }
        };
        let eq = rdn.bytes().position(|b| b == b'=')?;
        let (attr, value) = (&rdn[..eq], &rdn[eq + 1..]);
        let value_ok =
            |b: u8| b.is_ascii_graphic() && !matches!(b, b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' | b'#' | b'=');
        if attr.is_empty() || value.is_empty() || !value.bytes().all(value_ok) {
            return None;
        }
        if !attr.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
            return None;
        }
        let t = schema.attr(attr)?;
        let fold = match t.rule {
            R::CaseIgnore | R::DistinguishedName | R::ObjectIdentifier => true,
            R::CaseExact => false,
            _ => return None,
        };
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(t.canonical.as_bytes());
        out.push(b'=');
        let at = out.len();
        out.extend_from_slice(value.as_bytes());
        if fold {
            out[at..].make_ascii_lowercase();
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `Dn::parse(s)?.normalize(schema)`, through [`normalize_plain`] when the DN is plain.
pub fn normalize_str(s: &str, schema: &Schema) -> Result<String, DnError> {
    match normalize_plain(s, schema) {
        Some(n) => Ok(n),
        None => Ok(Dn::parse(s)?.normalize(schema)),
    }
}

/// The canonical name of an RDN's attribute type, borrowed from the schema when it knows
/// the type (a DN's types carry no options).
fn canonical_type<'a>(schema: &'a Schema, attr: &str) -> std::borrow::Cow<'a, str> {
    match schema.attr(attr) {
        Some(t) if !attr.contains(';') => std::borrow::Cow::Borrowed(t.canonical.as_str()),
        _ => std::borrow::Cow::Owned(schema.canonical(attr)),
    }
}

/// An AVA's value normalized by its type's equality rule (DN-valued types compare
/// case-insensitively inside a DN; `#hex` values are lower-cased).
fn normalized_value(schema: &Schema, a: &Ava) -> String {
    if a.value.starts_with('#') {
        return a.value.to_ascii_lowercase();
    }
    let rule = match schema.attr(&a.attr).filter(|_| !a.attr.contains(';')) {
        Some(t) => t.rule,
        None => schema.rule(&schema.canonical(&a.attr)),
    };
    let rule = match rule {
        crate::MatchingRule::DistinguishedName => crate::MatchingRule::CaseIgnore,
        r => r,
    };
    match rule.normalize(a.value.as_bytes()) {
        Some(v) => String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        None => crate::matching::fold_spaces(&a.value, true),
    }
}

fn push_ava(out: &mut String, attr: &str, value: &str) {
    out.push_str(attr);
    out.push('=');
    escape_value_into(value, out);
}

impl fmt::Display for Dn {
    /// RFC 4514 string form, keeping attribute names and value case as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, ava) in rdn.avas.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                out.push_str(&ava.attr);
                out.push('=');
                if ava.value.starts_with('#') && is_hex_form(&ava.value) {
                    out.push_str(&ava.value);
                } else {
                    escape_value(&ava.value, &mut out, true);
                }
            }
        }
        f.write_str(&out)
    }
}

fn is_hex_form(v: &str) -> bool {
    v.len() > 1 && v.len() % 2 == 1 && v[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Escapes an attribute value as RFC 4514 section 2.4 requires (the form normalized DNs,
/// which are stored as keys, are written in).
pub fn escape_value_into(value: &str, out: &mut String) {
    // Nothing to escape (nearly always): copied whole.
    let plain = !value.bytes().any(|b| matches!(b, b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\' | 0))
        && !value.starts_with(['#', ' '])
        && !value.ends_with(' ');
    if plain {
        out.push_str(value);
    } else {
        escape_value(value, out, false);
    }
}

/// Escapes a value; `printable` also hex-escapes control characters and a leading
/// whitespace character (which [`Dn::parse`] would take for insignificant space), so that
/// the string form of any parsed DN parses back to the same DN.
fn escape_value(value: &str, out: &mut String, printable: bool) {
    // Fast path: printable ASCII with nothing to escape (most values) is copied as is.
    let b = value.as_bytes();
    let plain = |c: &u8| (0x21..0x7f).contains(c) && !matches!(c, b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\');
    let (first, last) = (b.first(), b.last());
    if first.is_some_and(|c| plain(c) && *c != b'#')
        && last.is_some_and(plain)
        && b.iter().all(|c| plain(c) || *c == b' ')
    {
        out.push_str(value);
        return;
    }
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c if printable && (c.is_control() || (i == 0 && c.is_whitespace())) => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            _ => out.push(c),
        }
    }
}

/// Parses `type=value` up to the next unescaped `,`, `;` or `+`; returns the AVA, the
/// separator found and the rest.
fn parse_ava(s: &str) -> Result<(Ava, Option<char>, &str), DnError> {
    let eq = s.find('=').ok_or_else(|| DnError::MissingEquals(s.to_string()))?;
    let attr = s[..eq].trim();
    if attr.is_empty() || !attr.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return Err(DnError::BadAttributeType(attr.to_string()));
    }
    if attr.contains([',', '+', ';']) {
        return Err(DnError::MissingEquals(s.to_string()));
    }
    let raw = &s[eq + 1..];
    let trimmed = raw.trim_start();
    let lead = raw.len() - trimmed.len();
    let bytes = trimmed.as_bytes();

    // `#hex` BER-encoded value.
    if bytes.first() == Some(&b'#') {
        let end = bytes.iter().position(|&b| b == b',' || b == b';' || b == b'+').unwrap_or(bytes.len());
        let hex = trimmed[..end].trim_end();
        if !is_hex_form(hex) {
            return Err(DnError::BadHex(hex.to_string()));
        }
        let sep = trimmed[end..].chars().next();
        let rest = if end < bytes.len() { &raw[lead + end + 1..] } else { "" };
        return Ok((Ava { attr: attr.to_string(), value: hex.to_string() }, sep, rest));
    }

    // Quoted value (RFC 1779 legacy form).
    let mut value: Vec<u8> = Vec::new();
    let mut i = 0;
    let mut last_significant = 0; // length of value up to the last escaped or non-space byte
    if bytes.first() == Some(&b'"') {
        i = 1;
        loop {
            match bytes.get(i) {
                None => return Err(DnError::BadEscape(s.to_string())),
                Some(b'"') => {
                    i += 1;
                    break;
                }
                Some(b'\\') => {
                    let (b, used) = unescape(&bytes[i..]).ok_or_else(|| DnError::BadEscape(s.to_string()))?;
                    value.push(b);
                    i += used;
                }
                Some(&b) => {
                    value.push(b);
                    i += 1;
                }
            }
        }
        last_significant = value.len();
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    let mut sep = None;
    while i < bytes.len() {
        match bytes[i] {
            b',' | b';' | b'+' => {
                sep = Some(bytes[i] as char);
                i += 1;
                break;
            }
            b'\\' => {
                let (b, used) = unescape(&bytes[i..]).ok_or_else(|| DnError::BadEscape(s.to_string()))?;
                value.push(b);
                last_significant = value.len();
                i += used;
            }
            b => {
                value.push(b);
                if b != b' ' {
                    last_significant = value.len();
                }
                i += 1;
            }
        }
    }
    value.truncate(last_significant);
    let value = String::from_utf8(value).map_err(|_| DnError::NotUtf8)?;
    let rest = &trimmed[i..];
    Ok((Ava { attr: attr.to_string(), value }, sep, rest))
}

/// Decodes one escape starting at `\`; returns the byte and how many input bytes it used.
fn unescape(b: &[u8]) -> Option<(u8, usize)> {
    let c = *b.get(1)?;
    if c.is_ascii_hexdigit() {
        let d = *b.get(2)?;
        let hi = (c as char).to_digit(16)?;
        let lo = (d as char).to_digit(16)?;
        return Some(((hi * 16 + lo) as u8, 3));
    }
    if matches!(c, b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\') {
        return Some((c, 2));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(s: &str) -> String {
        Dn::parse(s).unwrap().normalize(&Schema::builtin())
    }

    #[test]
    fn normalizes_aliases_case_and_spaces() {
        assert_eq!(norm("UID=Alice , OU=People,DC=Example,dc=org"), "uid=alice,ou=people,dc=example,dc=org");
        assert_eq!(norm("commonName=John  Smith,dc=x"), "cn=john smith,dc=x");
        assert_eq!(norm("cn=b+uid=a,dc=x"), norm("uid=A+cn=B,dc=x"));
        assert_eq!(norm(""), "");
    }

    #[test]
    fn escapes_round_trip() {
        let d = Dn::parse(r"cn=Smith\, John,dc=x").unwrap();
        assert_eq!(d.rdns[0].avas[0].value, "Smith, John");
        assert_eq!(d.to_string(), r"cn=Smith\, John,dc=x");
        let d = Dn::parse(r"cn=\E9\99\88,dc=x").unwrap();
        assert_eq!(d.rdns[0].avas[0].value, "陈");
        let d = Dn::parse("cn=\"a,b\",dc=x").unwrap();
        assert_eq!(d.rdns[0].avas[0].value, "a,b");
        assert_eq!(Dn::parse(r"cn=\ lead\ ,dc=x").unwrap().rdns[0].avas[0].value, " lead ");
    }

    /// Found by the `dn` fuzz target: an escaped newline at the start of a value printed
    /// as a raw newline, which parsing then dropped as leading space.
    #[test]
    fn control_and_leading_whitespace_print_escaped() {
        for s in [r"c=\0and0 lead and trail\20,dc=x", r"cn=\E3\80\80x,dc=x", r"cn=a\09\0d,dc=x"] {
            let d = Dn::parse(s).unwrap();
            assert_eq!(Dn::parse(&d.to_string()).unwrap(), d, "{s} printed as {d}");
        }
        assert_eq!(Dn::parse(r"c=\0and0,dc=x").unwrap().to_string(), r"c=\0And0,dc=x");
        assert_eq!(Dn::parse(r"c=\0and0,dc=x").unwrap().rdns[0].avas[0].value, "\nnd0");
    }

    #[test]
    fn rejects_bad_dns() {
        assert!(Dn::parse("nonsense").is_err());
        assert!(Dn::parse("cn=a,,dc=x").is_err());
        assert!(Dn::parse(r"cn=a\zz").is_err());
        assert!(Dn::parse("c n=a").is_err());
        assert!(Dn::parse("cn=a,").is_err());
        assert!(Dn::parse(r"cn=\ff\fe").is_err());
    }

    #[test]
    fn parent_drops_the_leaf() {
        let d = Dn::parse("uid=a,ou=people,dc=x").unwrap();
        assert_eq!(d.parent().to_string(), "ou=people,dc=x");
    }

    #[test]
    fn unicode_values_fold_per_rfc_4518() {
        assert_eq!(norm("CN=ÉMILE DUPONT,dc=x"), norm("cn=Émile Dupont,dc=x"));
        assert_eq!(norm("cn=E\\CC\\81mile,dc=x"), norm("cn=émile,dc=x"), "decomposed accent");
        assert_eq!(norm("cn=STRASSE,dc=x"), norm("cn=straße,dc=x"));
        assert_eq!(norm("cn=ＡＢＣ,dc=x"), "cn=abc,dc=x");
        assert_ne!(norm("cn=ı,dc=x"), norm("cn=i,dc=x"));
    }

    /// `Dn::normalize` as it was before its single-AVA and plain-value shortcuts.
    fn normalize_reference(dn: &Dn, schema: &Schema) -> String {
        let mut out = String::new();
        for (i, rdn) in dn.rdns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mut parts: Vec<(String, String)> = rdn
                .avas
                .iter()
                .map(|a| {
                    let canon = schema.canonical(&a.attr);
                    let value = if a.value.starts_with('#') {
                        a.value.to_ascii_lowercase()
                    } else {
                        let rule = match schema.rule(&canon) {
                            crate::MatchingRule::DistinguishedName => crate::MatchingRule::CaseIgnore,
                            r => r,
                        };
                        match rule.normalize(a.value.as_bytes()) {
                            Some(v) => String::from_utf8(v)
                                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                            None => crate::matching::fold_spaces(&a.value, true),
                        }
                    };
                    (canon, value)
                })
                .collect();
            parts.sort();
            for (j, (attr, value)) in parts.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                out.push_str(attr);
                out.push('=');
                escape_value(value, &mut out, false);
            }
        }
        out
    }

    fn avas() -> impl Strategy<Value = Ava> {
        let attr = prop_oneof![
            Just("cn"),
            Just("CN"),
            Just("commonName"),
            Just("2.5.4.3"),
            Just("uid"),
            Just("member"),
            Just("telephoneNumber"),
            Just("uidNumber"),
            Just("unknownAttr"),
            Just("x-Odd"),
        ];
        let value = prop_oneof!["[a-zA-Z0-9 ]{0,10}", "[#a-z ,+=;<>\\\\\"\0]{0,8}", "\\PC{0,10}", "#[0-9a-fA-F]{0,6}"];
        (attr, value).prop_map(|(attr, value)| Ava { attr: attr.to_string(), value })
    }

    #[test]
    fn plain_dns_normalize_like_parsed_ones() {
        let schema = Schema::builtin();
        for s in ["uid=JDoe,ou=People,dc=Example,dc=ORG", "CN=Admin,DC=x", "2.5.4.3=A,dc=x", "uidNumber=12,dc=x"] {
            let slow = Dn::parse(s).unwrap().normalize(&schema);
            assert_eq!(normalize_str(s, &schema).unwrap(), slow, "{s}");
            if let Some(fast) = normalize_plain(s, &schema) {
                assert_eq!(fast, slow, "{s}");
            }
        }
        assert_eq!(normalize_plain("uid=JDoe,dc=X", &schema).as_deref(), Some("uid=jdoe,dc=x"));
        // Not plain: left to the parser.
        for s in [
            "",
            "cn=a b,dc=x",
            "cn=a+sn=b,dc=x",
            r"cn=a\,b,dc=x",
            "cn=#04,dc=x",
            "cn=,dc=x",
            "cn=a,,dc=x",
            "x-unknown=a",
        ] {
            assert_eq!(normalize_plain(s, &schema), None, "{s}");
        }
        assert!(normalize_str("cn=a,,dc=x", &schema).is_err());
    }

    proptest! {
        #[test]
        fn escape_shortcut_matches_the_general_path(v in prop_oneof!["\\PC{0,12}", "[a-z #,+;<>\\\\\"\0]{0,6}"]) {
            let (mut fast, mut general) = (String::new(), String::new());
            escape_value_into(&v, &mut fast);
            escape_value(&v, &mut general, false);
            prop_assert_eq!(fast, general);
        }

        #[test]
        fn normalize_matches_the_reference(rdns in proptest::collection::vec(proptest::collection::vec(avas(), 1..3), 0..4)) {
            let dn = Dn { rdns: rdns.into_iter().map(|avas| Rdn { avas }).collect() };
            let schema = Schema::builtin();
            prop_assert_eq!(dn.normalize(&schema), normalize_reference(&dn, &schema));
        }

        #[test]
        fn plain_normalization_agrees_with_the_parser(
            rdns in proptest::collection::vec(("(uid|CN|ou|dc|o|mail|uidNumber|gidNumber|description|member|c|2\\.5\\.4\\.3)", "([a-zA-Z0-9._@:/-]{1,8}|[!-~ ]{0,6})"), 1..5)
        ) {
            let schema = Schema::builtin();
            let s = rdns.iter().map(|(a, v)| format!("{a}={v}")).collect::<Vec<_>>().join(",");
            if let Some(fast) = normalize_plain(&s, &schema) {
                prop_assert_eq!(Ok(fast), Dn::parse(&s).map(|d| d.normalize(&schema)));
            }
        }

        #[test]
        fn unicode_print_parse_normalize_is_stable(vals in proptest::collection::vec("[a-zA-Z ,+=ßİıÉé\u{0301}\u{00A8}\u{00AD}\u{00A0}陈伟ﬁＡ]{1,8}", 1..4)) {
            let dn = Dn { rdns: vals.iter().map(|v| Rdn { avas: vec![Ava { attr: "cn".into(), value: v.trim().to_string() }] }).filter(|r| !r.avas[0].value.is_empty()).collect() };
            let printed = dn.to_string();
            let reparsed = Dn::parse(&printed).unwrap();
            prop_assert_eq!(&reparsed, &dn);
            let schema = Schema::builtin();
            let n = dn.normalize(&schema);
            prop_assert_eq!(Dn::parse(&n).unwrap().normalize(&schema), n);
        }

        #[test]
        fn print_parse_is_stable(vals in proptest::collection::vec("\\PC{1,12}", 1..4)) {
            let dn = Dn { rdns: vals.iter().map(|v| Rdn { avas: vec![Ava { attr: "cn".into(), value: v.trim().to_string() }] }).filter(|r| !r.avas[0].value.is_empty() && !r.avas[0].value.starts_with('#')).collect() };
            let printed = dn.to_string();
            let reparsed = Dn::parse(&printed).unwrap();
            prop_assert_eq!(&reparsed, &dn);
            let schema = Schema::builtin();
            let n = dn.normalize(&schema);
            prop_assert_eq!(Dn::parse(&n).unwrap().normalize(&schema), n);
        }
    }
}
