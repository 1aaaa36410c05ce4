//! Attribute descriptions (RFC 4512 section 2.5): an attribute type and options, as in
//! `cn;lang-en` (language tags, RFC 3866) or `userCertificate;binary`.
//!
//! A canonical description is the type's canonical name followed by its options, lower-cased,
//! sorted and without repeats, each after a `;` (`cn;lang-de;lang-en`). The `binary` option is
//! accepted and dropped, so `userCertificate;binary` is `userCertificate`. Like slapd, only
//! `binary` and language tags (`lang-...`) are recognized.

/// Why the options of an attribute description are refused (slapd's texts; the LDAP
/// result is 17 undefinedAttributeType).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// An empty option or a character outside ALPHA / DIGIT / HYPHEN.
    #[error("AttributeDescription contains inappropriate characters")]
    Malformed,
    /// A well-formed option other than `binary` or a language tag.
    #[error("AttributeDescription contains unrecognized option")]
    Unrecognized,
}

/// The type part of a description: what precedes the first `;`.
pub fn base(desc: &str) -> &str {
    // A byte search rather than `split(';')` (a char searcher): this runs for every
    // attribute of every entry an import writes or a search returns.
    match desc.bytes().position(|b| b == b';') {
        Some(i) => &desc[..i],
        None => desc,
    }
}

/// The options of a description, normalized (lower-cased, sorted, unique, `binary` dropped),
/// or why one is refused.
pub fn options(desc: &str) -> Result<Vec<String>, OptionError> {
    let mut out = Vec::new();
    if !desc.as_bytes().contains(&b';') {
        return Ok(out);
    }
    for o in desc.split(';').skip(1) {
        if o.is_empty() || !o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(OptionError::Malformed);
        }
        let o = o.to_ascii_lowercase();
        if o == "binary" {
            continue;
        }
        if !o.starts_with("lang-") {
            return Err(OptionError::Unrecognized);
        }
        out.push(o);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The normalized options suffix of a description (`;lang-de;lang-en`, empty for none).
/// Lenient: refused options are kept lower-cased; check them with [`options`].
pub fn options_suffix(desc: &str) -> String {
    let mut opts: Vec<String> = desc
        .split(';')
        .skip(1)
        .filter(|o| !o.is_empty())
        .map(str::to_ascii_lowercase)
        .filter(|o| o != "binary")
        .collect();
    opts.sort_unstable();
    opts.dedup();
    opts.iter().fold(String::new(), |mut s, o| {
        s.push(';');
        s.push_str(o);
        s
    })
}

/// Whether the canonical description `sub` is `sup` or one of its subtypes by options: the
/// same type, and every option of `sup` among those of `sub` (RFC 4512 section 2.5.2). `cn`
/// covers `cn;lang-en`; `cn;lang-en` does not cover `cn`.
pub fn covers(sup: &str, sub: &str) -> bool {
    if sup == sub {
        return true;
    }
    let Some(rest) = sub.strip_prefix(base(sup)).and_then(|r| r.strip_prefix(';')) else {
        return false;
    };
    sup.split(';').skip(1).all(|o| rest.split(';').any(|t| t == o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_normalized() {
        assert_eq!(base("cn;lang-en"), "cn");
        assert_eq!(base("cn"), "cn");
        assert_eq!(options("cn"), Ok(vec![]));
        assert_eq!(options("cn;Lang-EN;lang-de;LANG-en"), Ok(vec!["lang-de".to_string(), "lang-en".to_string()]));
        assert_eq!(options("userCertificate;binary"), Ok(vec![]));
        assert_eq!(options("cn;BINARY;lang-fr"), Ok(vec!["lang-fr".to_string()]));
        assert_eq!(options_suffix("cn;Lang-EN;lang-de"), ";lang-de;lang-en");
        assert_eq!(options_suffix("userCertificate;binary"), "");
        assert_eq!(options_suffix("cn"), "");
    }

    #[test]
    fn bad_options_are_refused() {
        assert_eq!(options("cn;"), Err(OptionError::Malformed));
        assert_eq!(options("cn;lang_en"), Err(OptionError::Malformed));
        assert_eq!(options("cn;;lang-en"), Err(OptionError::Malformed));
        assert_eq!(options("cn;x-foo"), Err(OptionError::Unrecognized));
        assert_eq!(options("cn;foo"), Err(OptionError::Unrecognized));
    }

    #[test]
    fn subtypes_by_options() {
        assert!(covers("cn", "cn"));
        assert!(covers("cn", "cn;lang-en"));
        assert!(covers("cn;lang-en", "cn;lang-de;lang-en"));
        assert!(!covers("cn;lang-en", "cn"));
        assert!(!covers("cn;lang-en", "cn;lang-de"));
        assert!(!covers("cn", "sn;lang-en"));
        assert!(!covers("cn", "cnx"));
    }
}
