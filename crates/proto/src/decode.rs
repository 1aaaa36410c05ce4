//! A direct BER decoder for the requests a server receives most: search (filter, attribute
//! list and the common controls), simple and SASL bind, unbind, modify, compare, delete and
//! abandon.
//!
//! Hand-written because `ldap3_proto`'s parser goes through a generic tag tree first
//! (`ldap3_lber`'s `StructureTag`: a `Vec` per constructed element, a copied `Vec<u8>` per
//! primitive one), which it then converts into an `LdapMsg`, reversing and draining those
//! vectors: decoding a search by uid that way cost about 9% of the whole operation. Here
//! the frame's bytes are read once, straight into the `LdapMsg` and its strings.
//!
//! It decides nothing on its own. For anything it is not sure to read exactly as
//! `ldap3_proto` does (other operations, other controls, unusual encodings such as
//! indefinite lengths or elements `ldap3_proto` would skip, and every malformed input) it
//! returns `None`, and the codec runs `ldap3_proto`'s parser, which gives the message or the
//! error as before. What it does return is the `LdapMsg` `ldap3_proto` returns for the same
//! bytes: a property test and the `decode` fuzz target compare the two.

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapCompareRequest, LdapDerefAliases, LdapFilter, LdapMatchingRuleAssertion,
    LdapModify, LdapModifyRequest, LdapModifyType, LdapMsg, LdapOp, LdapPartialAttribute, LdapSearchRequest,
    LdapSearchScope, LdapSubstringFilter, SaslCredentials,
};

/// Deepest filter nesting taken here; deeper filters go to `ldap3_proto` (which allows 63
/// levels), so this decoder never meets its limits nor `ldap3_lber`'s BER depth limit.
const MAX_FILTER_DEPTH: usize = 32;

/// Decodes one complete LDAPMessage frame (envelope header included) if it is a request
/// this decoder covers and it is encoded in a way it is sure to read as `ldap3_proto`
/// does; `None` otherwise (the caller then falls back to `ldap3_proto`).
pub fn decode_request(frame: &[u8]) -> Option<LdapMsg> {
    let mut outer = Ber(frame);
    let mut msg = Ber(outer.expect(0x30)?);
    outer.end()?;
    let msgid = message_id(msg.expect(0x02)?)?;
    let (tag, body) = msg.next()?;
    let op = operation(tag, body)?;
    let ctrl = if msg.is_empty() { Vec::new() } else { controls(msg.expect(0xa0)?)? };
    msg.end()?;
    Some(LdapMsg { msgid, op, ctrl })
}

/// A cursor over the contents of one constructed BER element.
#[derive(Clone, Copy)]
struct Ber<'a>(&'a [u8]);

impl<'a> Ber<'a> {
    /// The next element's tag octet and contents; `None` at the end and for encodings left
    /// to `ldap3_lber` (multi-octet tags, indefinite or over-long lengths, an element
    /// running past its parent).
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let len = rest.get(..n)?.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            (usize::try_from(len).ok()?, rest.get(n..)?)
        };
        let content = rest.get(..len)?;
        self.0 = rest.get(len..)?;
        Some((tag, content))
    }

    /// The contents of the next element, which must have tag octet `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (t, content) = self.next()?;
        (t == tag).then_some(content)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Some` if every element was read.
    fn end(&self) -> Option<()> {
        self.is_empty().then_some(())
    }
}

/// An INTEGER or ENUMERATED as `ldap3_proto` reads it: up to 8 octets, big-endian, not
/// sign-extended (`[0xff]` is 255); empty is 0.
fn integer(bytes: &[u8]) -> Option<i64> {
    if bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)) as i64)
}

/// A BOOLEAN as `ldap3_proto` reads it: its first octet, non-zero is true; empty is `None`.
fn boolean(bytes: &[u8]) -> Option<bool> {
    bytes.first().map(|&b| b != 0)
}

fn utf8(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// The message id, only in the range the codec accepts (1..=2^31-1, two's complement):
/// other ids are answered by the codec itself.
fn message_id(bytes: &[u8]) -> Option<i32> {
    if bytes.first()? & 0x80 != 0 {
        return None;
    }
    i32::try_from(integer(bytes)?).ok().filter(|&id| id >= 1)
}

fn operation(tag: u8, body: &[u8]) -> Option<LdapOp> {
    Some(match tag {
        0x60 => LdapOp::BindRequest(bind(body)?),
        // Any contents: ldap3_proto ignores them.
        0x42 => LdapOp::UnbindRequest,
        0x63 => LdapOp::SearchRequest(search(body)?),
        0x66 => LdapOp::ModifyRequest(modify(body)?),
        0x4a => LdapOp::DelRequest(utf8(body)?),
        0x6e => LdapOp::CompareRequest(compare(body)?),
        0x50 => LdapOp::AbandonRequest(integer(body)? as i32),
        _ => return None,
    })
}

fn bind(body: &[u8]) -> Option<LdapBindRequest> {
    let mut r = Ber(body);
    let version = integer(r.expect(0x02)?)?;
    let dn = utf8(r.expect(0x04)?)?;
    let cred = match r.next()? {
        (0x80, password) => LdapBindCred::Simple(utf8(password)?),
        (0xa3, sasl) => {
            let mut s = Ber(sasl);
            let mechanism = utf8(s.expect(0x04)?)?;
            let credentials = if s.is_empty() { Vec::new() } else { s.expect(0x04)?.to_vec() };
            s.end()?;
            LdapBindCred::SASL(SaslCredentials { mechanism, credentials })
        }
        _ => return None,
    };
    r.end()?;
    Some(LdapBindRequest { version, dn, cred })
}

fn search(body: &[u8]) -> Option<LdapSearchRequest> {
    let mut r = Ber(body);
    let base = utf8(r.expect(0x04)?)?;
    let scope = match integer(r.expect(0x0a)?)? {
        0 => LdapSearchScope::Base,
        1 => LdapSearchScope::OneLevel,
        2 => LdapSearchScope::Subtree,
        3 => LdapSearchScope::Children,
        _ => return None,
    };
    let aliases = match integer(r.expect(0x0a)?)? {
        0 => LdapDerefAliases::Never,
        1 => LdapDerefAliases::InSearching,
        2 => LdapDerefAliases::FindingBaseObj,
        3 => LdapDerefAliases::Always,
        _ => return None,
    };
    let sizelimit = integer(r.expect(0x02)?)? as i32;
    let timelimit = integer(r.expect(0x02)?)? as i32;
    let typesonly = boolean(r.expect(0x01)?)?;
    let (tag, f) = r.next()?;
    let filter = filter(tag, f, 1)?;
    let mut a = Ber(r.expect(0x30)?);
    r.end()?;
    let mut attrs = Vec::new();
    while !a.is_empty() {
        attrs.push(utf8(a.expect(0x04)?)?);
    }
    Some(LdapSearchRequest { base, scope, aliases, sizelimit, timelimit, typesonly, filter, attrs })
}

/// A filter element with tag octet `tag` at nesting level `depth` (1 at the top).
fn filter(tag: u8, body: &[u8], depth: usize) -> Option<LdapFilter> {
    if depth > MAX_FILTER_DEPTH {
        return None;
    }
    Some(match tag {
        0xa0 => LdapFilter::And(filter_set(body, depth)?),
        0xa1 => LdapFilter::Or(filter_set(body, depth)?),
        0xa2 => {
            let mut r = Ber(body);
            let (t, inner) = r.next()?;
            r.end()?;
            LdapFilter::Not(Box::new(filter(t, inner, depth + 1)?))
        }
        0xa3 => {
            let (a, v) = assertion(body)?;
            LdapFilter::Equality(a, v)
        }
        0xa4 => substrings(body)?,
        0xa5 => {
            let (a, v) = assertion(body)?;
            LdapFilter::GreaterOrEqual(a, v)
        }
        0xa6 => {
            let (a, v) = assertion(body)?;
            LdapFilter::LessOrEqual(a, v)
        }
        0x87 => LdapFilter::Present(utf8(body)?),
        0xa8 => {
            let (a, v) = assertion(body)?;
            LdapFilter::Approx(a, v)
        }
        0xa9 => LdapFilter::Extensible(extensible(body)?),
        _ => return None,
    })
}

fn filter_set(body: &[u8], depth: usize) -> Option<Vec<LdapFilter>> {
    let mut r = Ber(body);
    let mut set = Vec::new();
    while !r.is_empty() {
        let (t, inner) = r.next()?;
        set.push(filter(t, inner, depth + 1)?);
    }
    Some(set)
}

/// An AttributeValueAssertion: two UTF-8 OCTET STRINGs (`ldap3_proto` reads the value as
/// UTF-8 too).
fn assertion(body: &[u8]) -> Option<(String, String)> {
    let mut r = Ber(body);
    let attr = utf8(r.expect(0x04)?)?;
    let value = utf8(r.expect(0x04)?)?;
    r.end()?;
    Some((attr, value))
}

fn substrings(body: &[u8]) -> Option<LdapFilter> {
    let mut r = Ber(body);
    let attr = utf8(r.expect(0x04)?)?;
    let mut s = Ber(r.expect(0x30)?);
    r.end()?;
    let mut sub = LdapSubstringFilter::default();
    let mut first = true;
    while !s.is_empty() {
        match s.next()? {
            (0x80, v) if first => sub.initial = Some(utf8(v)?),
            (0x81, v) => sub.any.push(utf8(v)?),
            (0x82, v) if s.is_empty() => sub.final_ = Some(utf8(v)?),
            _ => return None,
        }
        first = false;
    }
    Some(LdapFilter::Substring(attr, sub))
}

/// A MatchingRuleAssertion. `ldap3_proto` takes its elements in any order (a repeated one
/// overrides) and ignores any after the fourth: more than four go to it.
fn extensible(body: &[u8]) -> Option<LdapMatchingRuleAssertion> {
    let mut r = Ber(body);
    let mut m = LdapMatchingRuleAssertion::default();
    for _ in 0..4 {
        if r.is_empty() {
            break;
        }
        match r.next()? {
            (0x81, v) => m.matching_rule = Some(utf8(v)?),
            (0x82, v) => m.type_ = Some(utf8(v)?),
            (0x83, v) => m.match_value = utf8(v)?,
            (0x84, v) => m.dn_attributes = boolean(v).unwrap_or(false),
            _ => return None,
        }
    }
    r.end()?;
    Some(m)
}

fn modify(body: &[u8]) -> Option<LdapModifyRequest> {
    let mut r = Ber(body);
    let dn = utf8(r.expect(0x04)?)?;
    let mut c = Ber(r.expect(0x30)?);
    r.end()?;
    let mut changes = Vec::new();
    while !c.is_empty() {
        let mut m = Ber(c.expect(0x30)?);
        let operation = match integer(m.expect(0x0a)?)? {
            0 => LdapModifyType::Add,
            1 => LdapModifyType::Delete,
            2 => LdapModifyType::Replace,
            3 => LdapModifyType::Increment,
            _ => return None,
        };
        let modification = partial_attribute(m.expect(0x30)?)?;
        m.end()?;
        changes.push(LdapModify { operation, modification });
    }
    Some(LdapModifyRequest { dn, changes })
}

fn partial_attribute(body: &[u8]) -> Option<LdapPartialAttribute> {
    let mut r = Ber(body);
    let atype = utf8(r.expect(0x04)?)?;
    let mut v = Ber(r.expect(0x31)?);
    r.end()?;
    let mut vals = Vec::new();
    while !v.is_empty() {
        vals.push(v.expect(0x04)?.to_vec());
    }
    Some(LdapPartialAttribute { atype, vals })
}

fn compare(body: &[u8]) -> Option<LdapCompareRequest> {
    let mut r = Ber(body);
    let dn = utf8(r.expect(0x04)?)?;
    let mut ava = Ber(r.expect(0x30)?);
    r.end()?;
    let atype = utf8(ava.expect(0x04)?)?;
    let val = ava.expect(0x04)?.to_vec();
    ava.end()?;
    Some(LdapCompareRequest { dn, atype, val })
}

/// The controls `[0]`: each one a SEQUENCE.
fn controls(body: &[u8]) -> Option<Vec<LdapControl>> {
    let mut r = Ber(body);
    let mut ctrl = Vec::new();
    while !r.is_empty() {
        ctrl.push(control(r.expect(0x30)?)?);
    }
    Some(ctrl)
}

/// One control: the ones without a value that `ldap3_proto` knows, paged results, and
/// the ones it does not know (`Unknown`, which carries the value as is). Its other
/// controls (sync, sort, Active Directory ones) go to it.
fn control(body: &[u8]) -> Option<LdapControl> {
    let mut r = Ber(body);
    let oid = std::str::from_utf8(r.expect(0x04)?).ok()?;
    let (mut criticality, mut value) = (None, None);
    if !r.is_empty() {
        match r.next()? {
            (0x01, c) => {
                criticality = Some(c);
                if !r.is_empty() {
                    value = Some(r.expect(0x04)?);
                }
            }
            (0x04, v) => value = Some(v),
            _ => return None,
        }
    }
    r.end()?;
    // An empty BOOLEAN counts as false.
    let criticality = criticality.and_then(boolean).unwrap_or(false);
    Some(match oid {
        "2.16.840.1.113730.3.4.2" => LdapControl::ManageDsaIT { criticality },
        "1.3.6.1.4.1.42.2.27.8.5.1" => LdapControl::PasswordPolicyRequest { criticality },
        "1.2.840.113556.1.4.417" => LdapControl::ShowDeleted { criticality },
        "1.2.840.113556.1.4.319" => paged_results(value?)?,
        "1.3.6.1.4.1.4203.1.9.1.1"
        | "1.3.6.1.4.1.4203.1.9.1.2"
        | "1.3.6.1.4.1.4203.1.9.1.3"
        | "1.2.840.113556.1.4.841"
        | "1.2.840.113556.1.4.473"
        | "1.2.840.113556.1.4.474"
        | "1.2.840.113556.1.4.1338"
        | "1.2.840.113556.1.4.801"
        | "1.2.840.113556.1.4.529" => return None,
        _ => LdapControl::Unknown { oid: oid.to_owned(), criticality, value: value.map(<[u8]>::to_vec) },
    })
}

/// The simple paged results control value (RFC 2696): SEQUENCE { size INTEGER, cookie
/// OCTET STRING }, nothing after it.
fn paged_results(value: &[u8]) -> Option<LdapControl> {
    let mut outer = Ber(value);
    let mut r = Ber(outer.expect(0x30)?);
    outer.end()?;
    let size = integer(r.expect(0x02)?)?;
    let cookie = r.expect(0x04)?.to_vec();
    r.end()?;
    Some(LdapControl::SimplePagedResults { size, cookie })
}

#[cfg(test)]
mod tests;
