//! The direct decoder against `ldap3_proto`'s parser: generated requests, structural
//! mutations of their BER trees, byte mutations, and the quirks of `ldap3_proto` that the
//! direct decoder leaves to it.

use super::decode_request;
use crate::codec::{decode_with_ldap3, BirchCodec, Decoded};
use bytes::BytesMut;
use ldap3_lber::common::TagClass;
use ldap3_lber::structure::{StructureTag, PL};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapCompareRequest, LdapDerefAliases, LdapFilter, LdapMatchingRuleAssertion,
    LdapModify, LdapModifyRequest, LdapModifyType, LdapMsg, LdapOp, LdapPartialAttribute, LdapSearchRequest,
    LdapSearchScope, LdapSubstringFilter, SaslCredentials,
};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

fn ber(tag: StructureTag) -> Vec<u8> {
    let mut buf = BytesMut::new();
    ldap3_lber::write::encode_into(&mut buf, tag).unwrap();
    buf.to_vec()
}

fn encode(msg: &LdapMsg) -> Vec<u8> {
    ber(msg.clone().into())
}

/// Checks the direct decoder against `ldap3_proto` on one frame: whatever it decodes must be
/// what `ldap3_proto` decodes. Returns whether it decoded the frame.
fn agrees(frame: &[u8]) -> Result<bool, TestCaseError> {
    let Some(fast) = decode_request(frame) else {
        return Ok(false);
    };
    match decode_with_ldap3(frame) {
        Ok(Decoded::Msg(slow)) => prop_assert_eq!(fast, slow, "frame {:02x?}", frame),
        other => prop_assert!(false, "direct decoder took {:02x?} as {:?}, ldap3_proto: {:?}", frame, fast, other),
    }
    Ok(true)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-zA-Z0-9=,;-]{1,12}", "\\PC{0,20}"]
}

fn filters() -> impl Strategy<Value = LdapFilter> {
    let substrings =
        (proptest::option::of(text()), proptest::collection::vec(text(), 0..3), proptest::option::of(text()))
            .prop_map(|(initial, any, final_)| LdapSubstringFilter { initial, any, final_ });
    let extensible = (proptest::option::of(text()), proptest::option::of(text()), text(), any::<bool>()).prop_map(
        |(matching_rule, type_, match_value, dn_attributes)| LdapMatchingRuleAssertion {
            matching_rule,
            type_,
            match_value,
            dn_attributes,
        },
    );
    let leaf = prop_oneof![
        (text(), text()).prop_map(|(a, v)| LdapFilter::Equality(a, v)),
        (text(), substrings).prop_map(|(a, s)| LdapFilter::Substring(a, s)),
        (text(), text()).prop_map(|(a, v)| LdapFilter::GreaterOrEqual(a, v)),
        (text(), text()).prop_map(|(a, v)| LdapFilter::LessOrEqual(a, v)),
        text().prop_map(LdapFilter::Present),
        (text(), text()).prop_map(|(a, v)| LdapFilter::Approx(a, v)),
        extensible.prop_map(LdapFilter::Extensible),
    ];
    leaf.prop_recursive(6, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(LdapFilter::And),
            proptest::collection::vec(inner.clone(), 0..5).prop_map(LdapFilter::Or),
            inner.prop_map(|f| LdapFilter::Not(Box::new(f))),
        ]
    })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..20)
}

fn controls() -> impl Strategy<Value = LdapControl> {
    let oid = prop_oneof![
        Just(crate::oids::ASSERTION.to_string()),
        Just(crate::oids::PRE_READ.to_string()),
        Just(crate::oids::PERMISSIVE_MODIFY.to_string()),
        "[0-9.]{0,20}",
    ];
    prop_oneof![
        any::<bool>().prop_map(|criticality| LdapControl::ManageDsaIT { criticality }),
        any::<bool>().prop_map(|criticality| LdapControl::PasswordPolicyRequest { criticality }),
        any::<bool>().prop_map(|criticality| LdapControl::ShowDeleted { criticality }),
        (prop_oneof![0i64..1000, any::<i64>()], bytes())
            .prop_map(|(size, cookie)| LdapControl::SimplePagedResults { size, cookie }),
        (oid, any::<bool>(), proptest::option::of(bytes()))
            .prop_map(|(oid, criticality, value)| LdapControl::Unknown { oid, criticality, value }),
    ]
}

fn attribute() -> impl Strategy<Value = LdapPartialAttribute> {
    (text(), proptest::collection::vec(bytes(), 0..3)).prop_map(|(atype, vals)| LdapPartialAttribute { atype, vals })
}

fn operations() -> impl Strategy<Value = LdapOp> {
    let scope = prop_oneof![
        Just(LdapSearchScope::Base),
        Just(LdapSearchScope::OneLevel),
        Just(LdapSearchScope::Subtree),
        Just(LdapSearchScope::Children)
    ];
    let aliases = prop_oneof![
        Just(LdapDerefAliases::Never),
        Just(LdapDerefAliases::InSearching),
        Just(LdapDerefAliases::FindingBaseObj),
        Just(LdapDerefAliases::Always)
    ];
    let limit = prop_oneof![0i32..1000, any::<i32>()];
    let search = (
        text(),
        scope,
        aliases,
        limit.clone(),
        limit,
        any::<bool>(),
        filters(),
        proptest::collection::vec(text(), 0..6),
    )
        .prop_map(|(base, scope, aliases, sizelimit, timelimit, typesonly, filter, attrs)| {
            LdapOp::SearchRequest(LdapSearchRequest {
                base,
                scope,
                aliases,
                sizelimit,
                timelimit,
                typesonly,
                filter,
                attrs,
            })
        });
    let cred = prop_oneof![
        text().prop_map(LdapBindCred::Simple),
        (text(), bytes())
            .prop_map(|(mechanism, credentials)| LdapBindCred::SASL(SaslCredentials { mechanism, credentials })),
    ];
    let bind = (prop_oneof![Just(3i64), any::<i64>()], text(), cred)
        .prop_map(|(version, dn, cred)| LdapOp::BindRequest(LdapBindRequest { version, dn, cred }));
    let change = (0..4u8, attribute()).prop_map(|(op, modification)| LdapModify {
        operation: match op {
            0 => LdapModifyType::Add,
            1 => LdapModifyType::Delete,
            2 => LdapModifyType::Replace,
            _ => LdapModifyType::Increment,
        },
        modification,
    });
    let modify = (text(), proptest::collection::vec(change, 0..4))
        .prop_map(|(dn, changes)| LdapOp::ModifyRequest(LdapModifyRequest { dn, changes }));
    let compare = (text(), text(), bytes())
        .prop_map(|(dn, atype, val)| LdapOp::CompareRequest(LdapCompareRequest { dn, atype, val }));
    prop_oneof![
        4 => search,
        2 => bind,
        1 => Just(LdapOp::UnbindRequest),
        1 => modify,
        1 => compare,
        1 => text().prop_map(LdapOp::DelRequest),
        1 => any::<i32>().prop_map(LdapOp::AbandonRequest),
    ]
}

fn messages() -> impl Strategy<Value = LdapMsg> {
    (prop_oneof![1i32..300, 1..=i32::MAX], operations(), proptest::collection::vec(controls(), 0..3))
        .prop_map(|(msgid, op, ctrl)| LdapMsg { msgid, op, ctrl })
}

fn count(t: &StructureTag) -> usize {
    1 + match &t.payload {
        PL::C(children) => children.iter().map(count).sum(),
        PL::P(_) => 0,
    }
}

/// The `n`th element of the tree, in pre-order.
fn nth<'a>(t: &'a mut StructureTag, n: &mut usize) -> Option<&'a mut StructureTag> {
    if *n == 0 {
        return Some(t);
    }
    *n -= 1;
    if let PL::C(children) = &mut t.payload {
        for c in children.iter_mut() {
            if let Some(found) = nth(c, n) {
                return Some(found);
            }
        }
    }
    None
}

/// One structural change to a BER tree: class, tag number, a child or octet removed,
/// duplicated or added, primitive and constructed swapped, children reversed or two
/// neighbours swapped.
fn mutate(tree: &mut StructureTag, at: usize, kind: u8, x: u8) {
    let mut n = at % count(tree);
    let Some(t) = nth(tree, &mut n) else { return };
    let classes = [TagClass::Universal, TagClass::Application, TagClass::Context, TagClass::Private];
    match (kind % 8, &mut t.payload) {
        (0, _) => t.class = classes[usize::from(x % 4)],
        (1, _) => t.id = u64::from(x % 31),
        (2, PL::C(c)) if !c.is_empty() => {
            let i = usize::from(x) % c.len();
            c.remove(i);
        }
        (2, PL::P(p)) => {
            p.pop();
        }
        (3, PL::C(c)) if !c.is_empty() => {
            let i = usize::from(x) % c.len();
            let dup = c[i].clone();
            c.insert(i, dup);
        }
        (3, PL::P(p)) => p.push(x),
        (4, PL::P(p)) => {
            let inner = StructureTag { class: TagClass::Universal, id: 4, payload: PL::P(p.clone()) };
            t.payload = PL::C(vec![inner]);
        }
        (4, PL::C(_)) => t.payload = PL::P(vec![x]),
        (5, PL::C(c)) => {
            let leaf =
                StructureTag { class: classes[usize::from(x % 4)], id: u64::from(x % 10), payload: PL::P(vec![x]) };
            let i = usize::from(x) % (c.len() + 1);
            c.insert(i, leaf);
        }
        (5, PL::P(p)) => *p = vec![x],
        (6, PL::C(c)) => c.reverse(),
        (7, PL::C(c)) if c.len() >= 2 => {
            let i = usize::from(x) % (c.len() - 1);
            c.swap(i, i + 1);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every generated request is taken by the direct decoder, and decoded as ldap3_proto
    /// decodes it.
    #[test]
    fn same_messages_as_ldap3_proto(msg in messages()) {
        let frame = encode(&msg);
        prop_assert!(agrees(&frame)?, "not taken: {:?}", msg);
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10000))]

    /// Changed BER trees: where the direct decoder takes one, ldap3_proto decodes the same.
    #[test]
    fn mutated_trees_agree(
        msg in messages(),
        changes in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let mut tree: StructureTag = msg.into();
        for (at, kind, x) in changes {
            mutate(&mut tree, at, kind, x);
        }
        agrees(&ber(tree))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Changed, cut and extended bytes: the direct decoder never panics, and agrees where it
    /// decodes; the codec gives the same as framing plus ldap3_proto alone.
    #[test]
    fn mutated_bytes_agree(
        msg in messages(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0..3u8), 0..4),
        cut in 0usize..8,
    ) {
        let mut frame = encode(&msg);
        for (at, x, how) in edits {
            let i = at % frame.len();
            match how {
                0 => frame[i] = x,
                1 => frame.insert(i, x),
                _ => { frame.remove(i); }
            }
            if frame.is_empty() { break; }
        }
        frame.truncate(frame.len().saturating_sub(cut));
        agrees(&frame)?;
        let mut buf = BytesMut::from(&frame[..]);
        let got = BirchCodec::new(1 << 16).decode(&mut buf);
        if let Ok(Some(d)) = got {
            let consumed = frame.len() - buf.len();
            let reference = decode_with_ldap3(&frame[..consumed]);
            prop_assert_eq!(format!("{:?}", Ok::<_, ()>(d)), format!("{:?}", reference.map_err(|_| ())));
        }
    }

    #[test]
    fn arbitrary_bytes_agree(frame in proptest::collection::vec(any::<u8>(), 0..100)) {
        agrees(&frame)?;
    }
}

/// Runs `agrees` outside proptest.
fn check(frame: &[u8]) -> bool {
    match agrees(frame) {
        Ok(taken) => taken,
        Err(e) => panic!("{e}"),
    }
}

/// The frame of message 1 with operation `op` (already encoded).
fn frame(op: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x01];
    body.extend_from_slice(op);
    tlv(0x30, &body)
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if body.len() < 0x80 {
        out.push(body.len() as u8);
    } else {
        out.extend_from_slice(&[0x82, (body.len() >> 8) as u8, body.len() as u8]);
    }
    out.extend_from_slice(body);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A search request with `filter` (encoded) and no attributes.
fn search_with(filter: &[u8]) -> Vec<u8> {
    let body = cat(&[
        &tlv(0x04, b"dc=x"),
        &[0x0a, 1, 2, 0x0a, 1, 0, 0x02, 1, 0, 0x02, 1, 0, 0x01, 1, 0],
        filter,
        &tlv(0x30, &[]),
    ]);
    frame(&tlv(0x63, &body))
}

fn eq(a: &[u8], v: &[u8]) -> Vec<u8> {
    tlv(0xa3, &cat(&[&tlv(0x04, a), &tlv(0x04, v)]))
}

#[test]
fn plain_requests_are_taken() {
    assert!(check(&search_with(&eq(b"uid", b"alice"))));
    assert!(check(&frame(&[0x42, 0x00])));
    // Non-minimal length octets read as ldap3_lber reads them.
    let mut long = search_with(&eq(b"uid", b"alice"));
    long.splice(1..2, [0x84, 0, 0, 0, long[1]]);
    assert!(check(&long));
}

#[test]
fn quirks_of_ldap3_proto_are_left_to_it() {
    // Elements ldap3_proto ignores or reads loosely: a third element in an equality
    // filter, two under a NOT, an initial substring in second place, five elements of an
    // extensible match, a constructed unbind.
    let third = tlv(0xa3, &cat(&[&tlv(0x04, b"a"), &tlv(0x04, b"b"), &tlv(0x04, b"c")]));
    let not2 = tlv(0xa2, &cat(&[&eq(b"a", b"b"), &eq(b"c", b"d")]));
    let subs = tlv(0xa4, &cat(&[&tlv(0x04, b"cn"), &tlv(0x30, &cat(&[&tlv(0x81, b"x"), &tlv(0x80, b"y")]))]));
    let ext = tlv(0xa9, &[0x83, 1, b'v', 0x83, 1, b'v', 0x83, 1, b'v', 0x83, 1, b'v', 0x83, 1, b'v']);
    for f in [third, not2, subs, ext] {
        assert!(!check(&search_with(&f)), "{f:02x?}");
    }
    assert!(!check(&frame(&[0x62, 0x00])));
    // Indefinite length (ldap3_lber reads it as 0), a trailing fourth envelope element.
    assert!(!check(&search_with(&[0xa3, 0x80])));
    assert!(!check(&cat(&[&frame(&[0x42, 0x00]), &[0x04, 0x00]])));
}

#[test]
fn integers_read_as_ldap3_proto_reads_them() {
    // No sign extension: sizelimit 0xff is 255; an empty INTEGER is 0.
    let body = cat(&[
        &tlv(0x04, b""),
        &[0x0a, 1, 0, 0x0a, 0, 0x02, 1, 0xff, 0x02, 0, 0x01, 1, 7],
        &tlv(0x87, b"objectClass"),
        &tlv(0x30, &[]),
    ]);
    let f = frame(&tlv(0x63, &body));
    assert!(check(&f));
    match decode_request(&f).map(|m| m.op) {
        Some(LdapOp::SearchRequest(s)) => assert_eq!((s.sizelimit, s.timelimit, s.typesonly), (255, 0, true)),
        other => panic!("{other:?}"),
    }
    // Message ids outside 1..=2^31-1 are the codec's to answer.
    let mut neg = frame(&[0x42, 0x00]);
    neg[4] = 0xff;
    assert!(decode_request(&neg).is_none());
}

#[test]
fn controls_read_as_ldap3_proto_reads_them() {
    let ctl = |parts: &[&[u8]]| tlv(0x30, &cat(parts));
    let oid = tlv(0x04, b"1.3.6.1.1.12");
    let paged = tlv(0x04, b"1.2.840.113556.1.4.319");
    let value = tlv(0x04, &tlv(0x30, &[0x02, 1, 5, 0x04, 0]));
    let with = |c: Vec<u8>| cat(&[&frame(&[0x42, 0x00])[..], &tlv(0xa0, &c)]);
    let fix = |mut f: Vec<u8>| {
        let len = f.len() - 2;
        f[1] = len as u8;
        f
    };
    // Criticality alone, value alone, both; an empty BOOLEAN is false.
    for c in [
        ctl(&[&oid, &[0x01, 1, 0xff]]),
        ctl(&[&oid, &[0x04, 1, 9]]),
        ctl(&[&oid, &[0x01, 1, 0], &[0x04, 0]]),
        ctl(&[&oid, &[0x01, 0]]),
        ctl(&[&paged, &value]),
        ctl(&[&paged, &[0x01, 1, 0xff], &value]),
    ] {
        assert!(check(&fix(with(c.clone()))), "{c:02x?}");
    }
    // A value after an element that is not a BOOLEAN, trailing bytes after the paged
    // results value, the sort control.
    for c in [
        ctl(&[&oid, &[0x02, 1, 1], &[0x04, 0]]),
        ctl(&[&paged, &tlv(0x04, &cat(&[&tlv(0x30, &[0x02, 1, 5, 0x04, 0]), &[0]]))]),
        ctl(&[&tlv(0x04, b"1.2.840.113556.1.4.473"), &tlv(0x04, &tlv(0x30, &tlv(0x30, &tlv(0x04, b"cn"))))]),
    ] {
        assert!(!check(&fix(with(c.clone()))), "{c:02x?}");
    }
}

#[test]
fn deep_filters_are_left_to_ldap3_proto() {
    let mut f = tlv(0x87, b"cn");
    for _ in 0..40 {
        f = tlv(0xa2, &f);
    }
    assert!(!check(&search_with(&f)));
}
