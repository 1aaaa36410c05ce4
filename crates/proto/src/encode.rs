//! A direct BER encoder for the responses a server sends most: search result entries,
//! search/modify/add/delete/modrdn/compare results and bind responses, without controls or
//! referrals.
//!
//! Hand-written because `ldap3_lber` encodes through an intermediate tag tree and a fresh
//! buffer at every constructed level (each level copied into its parent): encoding a
//! search result entry that way cost about as much as finding it in the store. Here the
//! lengths are computed first and every byte is written once, into the output buffer.
//! The bytes are identical to `ldap3_lber`'s (a property test compares the two), and any
//! message this module does not cover is left to `ldap3_lber`.

use bytes::{BufMut, BytesMut};
use ldap3_proto::proto::{LdapMsg, LdapOp, LdapPartialAttribute, LdapResult};

/// Encodes `msg` into `buf` if it is a message this encoder covers; returns false (and
/// writes nothing) otherwise.
pub fn encode_response(msg: &LdapMsg, buf: &mut BytesMut) -> bool {
    if !msg.ctrl.is_empty() || msg.msgid < 0 {
        return false;
    }
    let (tag, body) = match &msg.op {
        LdapOp::SearchResultEntry(e) => (0x64, Body::Entry(&e.dn, &e.attributes)),
        LdapOp::SearchResultDone(r) => (0x65, Body::Result(r)),
        LdapOp::BindResponse(b) if b.saslcreds.is_none() => (0x61, Body::Result(&b.res)),
        LdapOp::ModifyResponse(r) => (0x67, Body::Result(r)),
        LdapOp::AddResponse(r) => (0x69, Body::Result(r)),
        LdapOp::DelResponse(r) => (0x6b, Body::Result(r)),
        LdapOp::ModifyDNResponse(r) => (0x6d, Body::Result(r)),
        LdapOp::CompareResult(r) => (0x6f, Body::Result(r)),
        _ => return false,
    };
    if let Body::Result(r) = body {
        if !r.referral.is_empty() {
            return false;
        }
    }
    let id = integer_len(i64::from(msg.msgid));
    let body_len = body.len();
    let op_len = tlv_len(body_len);
    let msg_len = tlv_len(id) + op_len;
    buf.reserve(tlv_len(msg_len));
    buf.put_u8(0x30);
    put_len(buf, msg_len);
    put_integer(buf, 0x02, i64::from(msg.msgid));
    buf.put_u8(tag);
    put_len(buf, body_len);
    body.put(buf);
    true
}

/// The contents of a covered protocol operation.
#[derive(Clone, Copy)]
enum Body<'a> {
    Entry(&'a str, &'a [LdapPartialAttribute]),
    Result(&'a LdapResult),
}

impl Body<'_> {
    fn len(self) -> usize {
        match self {
            Body::Entry(dn, attrs) => tlv_len(dn.len()) + tlv_len(attrs_len(attrs)),
            Body::Result(r) => result_len(r),
        }
    }

    fn put(self, buf: &mut BytesMut) {
        match self {
            Body::Entry(dn, attrs) => {
                put_octets(buf, 0x04, dn.as_bytes());
                buf.put_u8(0x30);
                put_len(buf, attrs_len(attrs));
                for a in attrs {
                    buf.put_u8(0x30);
                    put_len(buf, attr_len(a));
                    put_octets(buf, 0x04, a.atype.as_bytes());
                    buf.put_u8(0x31);
                    put_len(buf, vals_len(&a.vals));
                    for v in &a.vals {
                        put_octets(buf, 0x04, v);
                    }
                }
            }
            Body::Result(r) => {
                put_integer(buf, 0x0a, r.code.clone() as i64);
                put_octets(buf, 0x04, r.matcheddn.as_bytes());
                put_octets(buf, 0x04, r.message.as_bytes());
            }
        }
    }
}

fn result_len(r: &LdapResult) -> usize {
    tlv_len(integer_len(r.code.clone() as i64)) + tlv_len(r.matcheddn.len()) + tlv_len(r.message.len())
}

fn vals_len(vals: &[Vec<u8>]) -> usize {
    vals.iter().map(|v| tlv_len(v.len())).sum()
}

fn attr_len(a: &LdapPartialAttribute) -> usize {
    tlv_len(a.atype.len()) + tlv_len(vals_len(&a.vals))
}

fn attrs_len(attrs: &[LdapPartialAttribute]) -> usize {
    attrs.iter().map(|a| tlv_len(attr_len(a))).sum()
}

/// Size of a one-byte tag, its length octets and `content` bytes.
fn tlv_len(content: usize) -> usize {
    1 + len_octets(content) + content
}

/// How many octets the definite length `n` takes (short form below 128).
fn len_octets(n: usize) -> usize {
    if n < 128 {
        1
    } else {
        1 + (usize::BITS - n.leading_zeros()).div_ceil(8) as usize
    }
}

fn put_len(buf: &mut BytesMut, n: usize) {
    if n < 128 {
        buf.put_u8(n as u8);
    } else {
        let count = len_octets(n) - 1;
        buf.put_u8(0x80 | count as u8);
        buf.put_slice(&n.to_be_bytes()[std::mem::size_of::<usize>() - count..]);
    }
}

fn put_octets(buf: &mut BytesMut, tag: u8, v: &[u8]) {
    buf.put_u8(tag);
    put_len(buf, v.len());
    buf.put_slice(v);
}

/// Content octets of a non-negative INTEGER/ENUMERATED: minimal two's complement.
fn integer_len(v: i64) -> usize {
    let significant = 64 - v.leading_zeros() as usize;
    // One more bit for the sign; at least one octet.
    (significant + 1).div_ceil(8).max(1)
}

fn put_integer(buf: &mut BytesMut, tag: u8, v: i64) {
    let n = integer_len(v);
    buf.put_u8(tag);
    buf.put_u8(n as u8);
    buf.put_slice(&v.to_be_bytes()[8 - n..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::{LdapBindResponse, LdapResultCode, LdapSearchResultEntry};
    use proptest::prelude::*;

    fn reference(msg: LdapMsg) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let tag: ldap3_lber::structure::StructureTag = msg.into();
        ldap3_lber::write::encode_into(&mut buf, tag).unwrap();
        buf.to_vec()
    }

    fn codes() -> impl Strategy<Value = LdapResultCode> {
        prop_oneof![
            Just(LdapResultCode::Success),
            Just(LdapResultCode::NoSuchObject),
            Just(LdapResultCode::InvalidCredentials),
            Just(LdapResultCode::InsufficentAccessRights),
            Just(LdapResultCode::Busy),
            Just(LdapResultCode::Other),
            Just(LdapResultCode::SizeLimitExceeded),
        ]
    }

    fn results() -> impl Strategy<Value = LdapResult> {
        (codes(), "\\PC{0,40}", "\\PC{0,300}").prop_map(|(code, matcheddn, message)| LdapResult {
            code,
            matcheddn,
            message,
            referral: vec![],
        })
    }

    fn ops() -> impl Strategy<Value = LdapOp> {
        let attr =
            ("[a-zA-Z;-]{0,20}", proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6))
                .prop_map(|(atype, vals)| LdapPartialAttribute { atype, vals });
        prop_oneof![
            ("\\PC{0,200}", proptest::collection::vec(attr, 0..8))
                .prop_map(|(dn, attributes)| LdapOp::SearchResultEntry(LdapSearchResultEntry { dn, attributes })),
            results().prop_map(LdapOp::SearchResultDone),
            results().prop_map(|res| LdapOp::BindResponse(LdapBindResponse { res, saslcreds: None })),
            results().prop_map(LdapOp::ModifyResponse),
            results().prop_map(LdapOp::AddResponse),
            results().prop_map(LdapOp::DelResponse),
            results().prop_map(LdapOp::ModifyDNResponse),
            results().prop_map(LdapOp::CompareResult),
        ]
    }

    proptest! {
        #[test]
        fn same_bytes_as_ldap3_lber(msgid in prop_oneof![0i32..300, any::<i32>().prop_map(i32::abs)], op in ops()) {
            let msg = LdapMsg { msgid, op, ctrl: vec![] };
            let mut buf = BytesMut::new();
            prop_assert!(encode_response(&msg, &mut buf));
            prop_assert_eq!(buf.to_vec(), reference(msg));
        }
    }

    #[test]
    fn large_entries_use_long_lengths() {
        let big = LdapPartialAttribute { atype: "jpegPhoto".into(), vals: vec![vec![7u8; 70_000]] };
        let msg = LdapMsg {
            msgid: 128,
            op: LdapOp::SearchResultEntry(LdapSearchResultEntry { dn: "cn=x".into(), attributes: vec![big] }),
            ctrl: vec![],
        };
        let mut buf = BytesMut::new();
        assert!(encode_response(&msg, &mut buf));
        assert_eq!(buf.to_vec(), reference(msg));
    }

    #[test]
    fn uncovered_messages_are_left_alone() {
        let res = LdapResult {
            code: LdapResultCode::Referral,
            matcheddn: String::new(),
            message: String::new(),
            referral: vec!["ldap://x/".into()],
        };
        let mut buf = BytesMut::new();
        assert!(!encode_response(&LdapMsg { msgid: 1, op: LdapOp::ModifyResponse(res), ctrl: vec![] }, &mut buf));
        assert!(!encode_response(
            &LdapMsg {
                msgid: -1,
                op: LdapOp::SearchResultDone(LdapResult {
                    code: LdapResultCode::Success,
                    matcheddn: String::new(),
                    message: String::new(),
                    referral: vec![]
                }),
                ctrl: vec![]
            },
            &mut buf
        ));
        assert!(buf.is_empty());
    }
}
