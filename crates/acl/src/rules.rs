//! The rule language: OpenLDAP `olcAccess` syntax, one rule per string.
//!
//! ```text
//! to <what> by <who> [<condition>...] <level> [stop|continue|break] [by ...]
//! what:  * | dn.base="DN" | dn.exact="DN" | dn.one="DN" | dn.subtree="DN" | dn.children="DN"
//!        | dn.regex="RE"   [filter=(...)]   [attrs=a,b,entry,children]
//! who:   * | anonymous | users | self | dn.exact="DN" (may use $1.. from dn.regex)
//!        | dn.subtree="DN" | dn.one="DN" | group="DN" | dnattr=ATTR
//! condition: peername.ip=ADDR[/BITS] | ssf=N (N > 0: TLS required)
//! level: none | disclose | auth | compare | search | read | add | delete | write | selfwrite
//! ```
//!
//! A leading `access` is accepted (slapd.conf form), as is a leading `{N}` (olcAccess).
//! Hand-written: the grammar is small and OpenLDAP's; no crate parses it.

use crate::{Level, RuleError};
use std::net::IpAddr;

/// The DN part of a rule's target.
#[derive(Debug, Clone)]
pub enum DnScope {
    /// Every entry.
    Any,
    /// Exactly this normalized DN.
    Base(String),
    /// Immediate children of this DN.
    One(String),
    /// This DN and everything below.
    Subtree(String),
    /// Everything below, not the DN itself.
    Children(String),
    /// Normalized DNs matching the expression (anchored); its captures may be used by
    /// `dn.exact` subjects as `$1`...
    Regex(regex::Regex),
}

/// A rule's target.
#[derive(Debug, Clone)]
pub struct What {
    /// Which entries.
    pub dn: DnScope,
    /// An LDAP filter the entry must match (the index into the policy's filters).
    pub filter: Option<usize>,
    /// Which attributes (canonical names, with the pseudo-attributes `entry` and
    /// `children`); `None` means all.
    pub attrs: Option<Vec<String>>,
}

/// Who a `by` clause is about.
#[derive(Debug, Clone)]
pub enum Who {
    /// Anyone.
    Any,
    /// Not bound.
    Anonymous,
    /// Any bound subject.
    Users,
    /// The entry itself.
    SelfEntry,
    /// This normalized DN (with `$N` replaced by the target's captures).
    DnExact(String),
    /// This DN and below.
    DnSubtree(String),
    /// Immediate children of this DN.
    DnOne(String),
    /// Members (direct or nested) of this group.
    Group(String),
    /// The subjects whose DN is a value of this attribute of the target.
    DnAttr(String),
}

/// What happens after a clause that matched the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// The clause decides.
    Stop,
    /// If the clause does not grant, try the next clauses of the same rule.
    Continue,
    /// If the clause does not grant, try the next rules.
    Break,
}

/// One `by` clause.
#[derive(Debug, Clone)]
pub struct By {
    /// The subjects.
    pub who: Who,
    /// Peer address range required.
    pub peer: Option<(IpAddr, u8)>,
    /// Minimum security strength (> 0 means the connection must use TLS).
    pub ssf: u32,
    /// The access granted.
    pub level: Level,
    /// Then what.
    pub control: Control,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written (for messages).
    pub text: String,
    /// The target.
    pub what: What,
    /// The clauses, in order.
    pub by: Vec<By>,
}

/// How the parser resolves names: attribute names to canonical names (None: unknown), DNs
/// to normalized DNs, and filters to an index of the caller's compiled filters.
pub trait Resolver {
    /// Canonical attribute name.
    fn attr(&self, name: &str) -> Option<String>;
    /// Normalized DN.
    fn dn(&self, dn: &str) -> Result<String, String>;
    /// Compiles a filter, returning its index.
    fn filter(&mut self, text: &str) -> Result<usize, String>;
}

/// Splits a rule into words; a quoted value (`dn="a b"`) or a parenthesized filter stays
/// one word.
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut depth) = (false, 0i32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => quoted = !quoted,
            '(' if !quoted => {
                depth += 1;
                cur.push(c);
            }
            ')' if !quoted => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn parse_level(w: &str) -> Option<Level> {
    Some(match w {
        "none" => Level::NONE,
        "disclose" => Level::DISCLOSE,
        "auth" => Level::AUTH,
        "compare" => Level::COMPARE,
        "search" => Level::SEARCH,
        "read" => Level::READ,
        "add" => Level::ADD,
        "delete" => Level::DELETE,
        "write" => Level::WRITE,
        "selfwrite" => Level::SELFWRITE,
        _ => return None,
    })
}

fn parse_peer(v: &str) -> Result<(IpAddr, u8), String> {
    let (addr, bits) = v.split_once('/').unwrap_or((v, ""));
    let ip: IpAddr = addr.parse().map_err(|_| format!("peername.ip: {addr:?} is not an address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits =
        if bits.is_empty() { max } else { bits.parse::<u8>().map_err(|_| format!("bad prefix length {bits:?}"))? };
    if bits > max {
        return Err(format!("prefix length {bits} is too long"));
    }
    Ok((ip, bits))
}

/// Parses one rule.
pub fn parse(text: &str, resolve: &mut dyn Resolver) -> Result<Rule, RuleError> {
    let err = |m: String| RuleError { rule: text.to_string(), message: m };
    // olcAccess values start with an ordering prefix `{N}`.
    let body = match text.trim_start().strip_prefix('{').and_then(|t| t.split_once('}')) {
        Some((n, rest)) if n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => text,
    };
    let mut ws = words(body).map_err(err)?.into_iter().peekable();
    if ws.peek().is_some_and(|w| w.eq_ignore_ascii_case("access")) {
        ws.next();
    }
    if !ws.next().is_some_and(|w| w.eq_ignore_ascii_case("to")) {
        return Err(err("a rule starts with `to`".into()));
    }
    let mut what = What { dn: DnScope::Any, filter: None, attrs: None };
    while let Some(w) = ws.peek().cloned() {
        if w.eq_ignore_ascii_case("by") {
            break;
        }
        ws.next();
        let (key, value) = w.split_once('=').unwrap_or((w.as_str(), ""));
        let dn = |v: &str| resolve.dn(v);
        match key.to_ascii_lowercase().as_str() {
            "*" if value.is_empty() => {}
            "dn" | "dn.base" | "dn.exact" => what.dn = DnScope::Base(dn(value).map_err(err)?),
            "dn.one" | "dn.onelevel" => what.dn = DnScope::One(dn(value).map_err(err)?),
            "dn.sub" | "dn.subtree" => what.dn = DnScope::Subtree(dn(value).map_err(err)?),
            "dn.children" => what.dn = DnScope::Children(dn(value).map_err(err)?),
            "dn.regex" => {
                let re = regex::Regex::new(&format!("^(?:{})$", value.to_ascii_lowercase()))
                    .map_err(|e| err(format!("dn.regex: {e}")))?;
                what.dn = DnScope::Regex(re);
            }
            "filter" => what.filter = Some(resolve.filter(value).map_err(|e| err(format!("filter: {e}")))?),
            "attrs" | "attr" => {
                let mut list = Vec::new();
                for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let lower = name.to_ascii_lowercase();
                    if lower == "entry" || lower == "children" {
                        list.push(lower);
                    } else {
                        list.push(resolve.attr(name).ok_or_else(|| err(format!("attrs: unknown attribute {name}")))?);
                    }
                }
                what.attrs = Some(list);
            }
            _ => return Err(err(format!("unknown target {w:?}"))),
        }
    }
    let mut by = Vec::new();
    while let Some(w) = ws.next() {
        if !w.eq_ignore_ascii_case("by") {
            return Err(err(format!("expected `by`, found {w:?}")));
        }
        let who_word = ws.peek().cloned().ok_or_else(|| err("`by` without a subject".into()))?;
        let (key, value) = who_word.split_once('=').unwrap_or((who_word.as_str(), ""));
        let key = key.to_ascii_lowercase();
        // A clause may name only conditions (`by peername.ip=10.0.0.0/8 read`): anyone.
        let only_conditions = ["peername.ip", "ssf", "tls_ssf"].contains(&key.as_str());
        if !only_conditions {
            ws.next();
        }
        let who = match key.as_str() {
            _ if only_conditions => Who::Any,
            "*" => Who::Any,
            "anonymous" => Who::Anonymous,
            "users" => Who::Users,
            "self" => Who::SelfEntry,
            // A `$N` reference is normalized when it is filled in.
            "dn" | "dn.exact" | "dn.base" if value.contains('$') => Who::DnExact(value.to_ascii_lowercase()),
            "dn" | "dn.exact" | "dn.base" => Who::DnExact(resolve.dn(value).map_err(err)?),
            "dn.sub" | "dn.subtree" => Who::DnSubtree(resolve.dn(value).map_err(err)?),
            "dn.one" | "dn.onelevel" => Who::DnOne(resolve.dn(value).map_err(err)?),
            "group" | "group/groupofnames/member" | "group/groupofuniquenames/uniquemember" => {
                Who::Group(resolve.dn(value).map_err(err)?)
            }
            "dnattr" => {
                Who::DnAttr(resolve.attr(value).ok_or_else(|| err(format!("dnattr: unknown attribute {value}")))?)
            }
            _ => return Err(err(format!("unknown subject {who_word:?}"))),
        };
        let mut clause = By { who, peer: None, ssf: 0, level: Level::NONE, control: Control::Stop };
        let mut level = None;
        while let Some(w) = ws.peek().cloned() {
            if w.eq_ignore_ascii_case("by") {
                break;
            }
            ws.next();
            let lower = w.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("peername.ip=") {
                clause.peer = Some(parse_peer(v).map_err(err)?);
            } else if let Some(v) = lower.strip_prefix("ssf=").or_else(|| lower.strip_prefix("tls_ssf=")) {
                clause.ssf = v.parse().map_err(|_| err(format!("ssf: {v:?} is not a number")))?;
            } else if let Some(l) = parse_level(&lower) {
                if level.is_some() {
                    return Err(err(format!("two access levels in one clause ({w})")));
                }
                level = Some(l);
            } else if lower == "stop" || lower == "continue" || lower == "break" {
                clause.control = match lower.as_str() {
                    "stop" => Control::Stop,
                    "continue" => Control::Continue,
                    _ => Control::Break,
                };
            } else {
                return Err(err(format!("unknown word {w:?} in a `by` clause")));
            }
        }
        clause.level = level.ok_or_else(|| err("a `by` clause needs an access level".into()))?;
        by.push(clause);
    }
    if by.is_empty() {
        return Err(err("a rule needs at least one `by` clause".into()));
    }
    Ok(Rule { text: text.to_string(), what, by })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain(Vec<String>);
    impl Resolver for Plain {
        fn attr(&self, name: &str) -> Option<String> {
            (name != "bogus").then(|| name.to_ascii_lowercase())
        }
        fn dn(&self, dn: &str) -> Result<String, String> {
            if dn.is_empty() {
                return Err("empty DN".into());
            }
            Ok(dn.to_ascii_lowercase().replace(", ", ","))
        }
        fn filter(&mut self, text: &str) -> Result<usize, String> {
            self.0.push(text.to_string());
            Ok(self.0.len() - 1)
        }
    }

    #[test]
    fn parses_olcaccess_rules() {
        let mut r = Plain(vec![]);
        let rule = parse(
            r#"{0}to dn.subtree="ou=people,dc=x" filter=(objectClass=posixAccount) attrs=userPassword,entry by self write by anonymous auth by group="cn=admins,dc=x" write by * none"#,
            &mut r,
        )
        .unwrap();
        assert!(matches!(rule.what.dn, DnScope::Subtree(ref d) if d == "ou=people,dc=x"));
        assert_eq!(rule.what.attrs.as_deref(), Some(&["userpassword".to_string(), "entry".to_string()][..]));
        assert_eq!(r.0, vec!["(objectClass=posixAccount)"]);
        assert_eq!(rule.by.len(), 4);
        assert!(matches!(rule.by[2].who, Who::Group(ref g) if g == "cn=admins,dc=x"));
        assert_eq!(rule.by[1].level, Level::AUTH);
        let rule = parse(r#"access to * by peername.ip=10.0.0.0/8 ssf=128 read break"#, &mut r).unwrap();
        assert_eq!(rule.by[0].control, Control::Break);
        assert_eq!(rule.by[0].ssf, 128);
    }

    #[test]
    fn errors_name_the_problem() {
        let mut r = Plain(vec![]);
        for (text, needle) in [
            ("by * read", "starts with `to`"),
            ("to *", "at least one `by`"),
            ("to attrs=bogus by * read", "unknown attribute bogus"),
            ("to * by * reed", "unknown word"),
            ("to * by someone read", "unknown subject"),
            ("to * by *", "needs an access level"),
            (r#"to dn="unterminated by * read"#, "unterminated quote"),
            ("to dn.regex=( by * read", "unbalanced"),
            ("to * by peername.ip=300.1.1.1 read", "not an address"),
        ] {
            let e = parse(text, &mut r).unwrap_err();
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }
}
