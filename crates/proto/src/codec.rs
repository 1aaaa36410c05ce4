//! LDAP message framing.
//!
//! `ldap3_proto`'s own codec learns a PDU's size only after parsing it and buffers up to
//! twice its limit first; it also turns any undecodable message into a connection error.
//! This codec reads the BER header itself, refuses an oversized PDU before buffering its
//! body, and reports a well-framed but undecodable message (non-UTF-8 DN, bad message id,
//! unknown operation) as [`Decoded::Invalid`] so the server can answer protocolError and keep
//! the connection. The frequent requests are decoded by [`crate::decode`] without
//! `ldap3_proto`'s tag tree; the rest, and anything it is unsure about, as before.

use bytes::{Buf, BytesMut};
use ldap3_lber::common::TagClass;
use ldap3_lber::parse::{Parser, DEFAULT_MAX_BER_DEPTH};
use ldap3_lber::structure::{StructureTag, PL};
use ldap3_lber::write as lber_write;
use ldap3_proto::proto::{LdapBindResponse, LdapExtendedResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode};
use tokio_util::codec::{Decoder, Encoder};

use crate::result::ldap_result;

/// BER tag of the LDAPMessage envelope: universal, constructed, SEQUENCE.
const SEQUENCE_TAG: u8 = 0x30;
/// Most length octets accepted in a long-form length (4 octets: up to 4 GiB).
const MAX_LENGTH_OCTETS: usize = 4;
/// Deepest BER nesting accepted (filters nest); the same limit as `ldap3_proto`'s codec.
const MAX_BER_DEPTH: usize = DEFAULT_MAX_BER_DEPTH;

/// Why the byte stream cannot continue.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The PDU announces more bytes than the configured maximum.
    #[error("request of {len} bytes exceeds the maximum PDU size of {max} bytes")]
    TooLarge {
        /// Announced size, header included.
        len: u64,
        /// Configured maximum.
        max: usize,
    },
    /// The bytes are not a BER-encoded LDAPMessage.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One decoded frame.
#[derive(Debug)]
pub enum Decoded {
    /// A valid LDAP message.
    Msg(LdapMsg),
    /// A well-framed BER message that is not a valid LDAP message. The connection can go
    /// on: answer it with [`response_for_invalid`] when `msgid` is known, else disconnect.
    Invalid {
        /// Its message id, when present and in 1..=2^31-1.
        msgid: Option<i32>,
        /// The APPLICATION tag number of its operation, when present.
        op_tag: Option<u64>,
        /// What is wrong.
        reason: String,
    },
}

/// The LDAP codec with a PDU size limit.
#[derive(Debug, Clone)]
pub struct BirchCodec {
    max_pdu: usize,
}

impl BirchCodec {
    /// A codec accepting PDUs of at most `max_pdu` bytes (header included).
    pub fn new(max_pdu: usize) -> Self {
        BirchCodec { max_pdu }
    }

    /// The largest PDU accepted, in bytes.
    pub fn max_pdu(&self) -> usize {
        self.max_pdu
    }
}

/// Reads a BER SEQUENCE header: returns (header length, content length), `None` if more
/// bytes are needed.
fn read_header(buf: &[u8]) -> Result<Option<(usize, u64)>, ProtoError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag != SEQUENCE_TAG {
        return Err(ProtoError::Malformed(format!("expected a SEQUENCE, got tag 0x{tag:02x}")));
    }
    let Some(&first) = buf.get(1) else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some((2, u64::from(first))));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 {
        return Err(ProtoError::Malformed("indefinite length is not allowed".into()));
    }
    if n > MAX_LENGTH_OCTETS {
        return Err(ProtoError::Malformed(format!("length of {n} octets is too long")));
    }
    let Some(octets) = buf.get(2..2 + n) else {
        return Ok(None);
    };
    let len = octets.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Ok(Some((2 + n, len)))
}

/// Reads the message id (the leading INTEGER, two's complement) and the operation's
/// APPLICATION tag number of an LDAPMessage.
fn peek_ids(tag: &StructureTag) -> (Option<i64>, Option<u64>) {
    let PL::C(children) = &tag.payload else {
        return (None, None);
    };
    let msgid = children.first().and_then(|t| match (&t.class, t.id, &t.payload) {
        (TagClass::Universal, 2, PL::P(bytes)) => ber_integer(bytes),
        _ => None,
    });
    let op = children.get(1).and_then(|t| (t.class == TagClass::Application).then_some(t.id));
    (msgid, op)
}

/// A BER INTEGER's value, `None` if empty or wider than 64 bits.
fn ber_integer(bytes: &[u8]) -> Option<i64> {
    let first = *bytes.first()?;
    if bytes.len() > 8 {
        return None;
    }
    let init: i64 = if first & 0x80 != 0 { -1 } else { 0 };
    Some(bytes.iter().fold(init, |v, &b| (v << 8) | i64::from(b)))
}

impl Decoder for BirchCodec {
    type Item = Decoded;
    type Error = ProtoError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ProtoError> {
        let Some((header, len)) = read_header(buf)? else {
            return Ok(None);
        };
        // header <= 6 and len < 2^32: no overflow.
        let total = header as u64 + len;
        let total = match usize::try_from(total) {
            Ok(t) if t <= self.max_pdu => t,
            _ => return Err(ProtoError::TooLarge { len: total, max: self.max_pdu }),
        };
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let Some(frame) = buf.get(..total) else {
            return Ok(None);
        };
        // The common requests without the tag tree; anything else, and anything the fast
        // path is unsure about, through ldap3_proto as before.
        let decoded = match crate::decode::decode_request(frame) {
            Some(msg) => Decoded::Msg(msg),
            None => decode_with_ldap3(frame)?,
        };
        buf.advance(total);
        Ok(Some(decoded))
    }
}

/// Decodes one complete frame (envelope header included) with `ldap3_proto`'s parser only:
/// what [`BirchCodec`] does for the requests its direct decoder leaves alone. Public for the
/// property tests, the differential fuzz target and the benchmark.
pub fn decode_with_ldap3(frame: &[u8]) -> Result<Decoded, ProtoError> {
    let tag = match Parser::new(MAX_BER_DEPTH).parse(frame) {
        Ok(([], tag)) => tag,
        Ok(_) => return Err(ProtoError::Malformed("trailing bytes inside the PDU".into())),
        Err(e) => return Err(ProtoError::Malformed(described("BER: ", &e))),
    };
    let (msgid, op_tag) = peek_ids(&tag);
    let Some(msgid) = msgid.filter(|&m| m >= 1).and_then(|m| i32::try_from(m).ok()) else {
        return Ok(Decoded::Invalid { msgid: None, op_tag, reason: "invalid message id".into() });
    };
    Ok(match LdapMsg::try_from(tag) {
        Ok(msg) => Decoded::Msg(msg),
        Err(e) => Decoded::Invalid { msgid: Some(msgid), op_tag, reason: described("undecodable request: ", &e) },
    })
}

/// Most bytes of a parser error's description kept in a reason. The descriptions can dump
/// the input (a 3.9 MB over-nested filter made a 19.5 MB one), and a reason is logged and
/// sent back to the client.
pub const MAX_REASON_BYTES: usize = 256;

/// `prefix` and the Debug description of `e`, cut at [`MAX_REASON_BYTES`]: the formatting
/// stops there, so a huge description is never built.
fn described(prefix: &str, e: &dyn std::fmt::Debug) -> String {
    struct Bounded {
        out: String,
        cut: bool,
    }
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let left = MAX_REASON_BYTES.saturating_sub(self.out.len());
            if s.len() <= left {
                self.out.push_str(s);
                return Ok(());
            }
            let mut end = left;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.out.push_str(&s[..end]);
            self.cut = true;
            // Stops the formatting.
            Err(std::fmt::Error)
        }
    }
    let mut b = Bounded { out: String::new(), cut: false };
    let _ = std::fmt::Write::write_fmt(&mut b, format_args!("{prefix}{e:?}"));
    if b.cut {
        b.out.push_str(" …(cut)");
    }
    b.out
}

impl Encoder<LdapMsg> for BirchCodec {
    type Error = ProtoError;

    fn encode(&mut self, msg: LdapMsg, buf: &mut BytesMut) -> Result<(), ProtoError> {
        if crate::encode::encode_response(&msg, buf) {
            return Ok(());
        }
        let tag: StructureTag = msg.into();
        lber_write::encode_into(buf, tag)?;
        Ok(())
    }
}

/// The APPLICATION tag number of a request operation; `None` for response operations.
pub fn request_tag(op: &LdapOp) -> Option<u64> {
    Some(match op {
        LdapOp::BindRequest(_) => 0,
        LdapOp::UnbindRequest => 2,
        LdapOp::SearchRequest(_) => 3,
        LdapOp::ModifyRequest(_) => 6,
        LdapOp::AddRequest(_) => 8,
        LdapOp::DelRequest(_) => 10,
        LdapOp::ModifyDNRequest(_) => 12,
        LdapOp::CompareRequest(_) => 14,
        LdapOp::AbandonRequest(_) => 16,
        LdapOp::ExtendedRequest(_) => 23,
        _ => return None,
    })
}

/// The response operation answering a request with tag `request_tag`, carrying `res`;
/// `None` for requests without a response (unbind, abandon) and unknown tags.
pub fn response_op(request_tag: u64, res: LdapResult) -> Option<LdapOp> {
    Some(match request_tag {
        0 => LdapOp::BindResponse(LdapBindResponse { res, saslcreds: None }),
        3 => LdapOp::SearchResultDone(res),
        6 => LdapOp::ModifyResponse(res),
        8 => LdapOp::AddResponse(res),
        10 => LdapOp::DelResponse(res),
        12 => LdapOp::ModifyDNResponse(res),
        14 => LdapOp::CompareResult(res),
        23 => LdapOp::ExtendedResponse(LdapExtendedResponse { res, name: None, value: None }),
        _ => return None,
    })
}

/// The protocolError response to an undecodable request with operation tag `op_tag`;
/// `None` when the request has no response (unbind, abandon) or its type is unknown.
pub fn response_for_invalid(msgid: i32, op_tag: Option<u64>, message: &str) -> Option<LdapMsg> {
    let op = response_op(op_tag?, ldap_result(LdapResultCode::ProtocolError, "", message))?;
    Some(LdapMsg { msgid, op, ctrl: vec![] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::control::LdapControl;
    use ldap3_proto::proto::{
        LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapExtendedRequest, LdapFilter, LdapSearchRequest,
        LdapSearchResultEntry, LdapSearchScope,
    };
    use proptest::prelude::*;

    #[test]
    fn reasons_are_bounded() {
        let huge = vec![7u8; 1 << 20];
        let r = described("undecodable request: ", &huge);
        assert!(
            r.len() <= MAX_REASON_BYTES + 16 && r.starts_with("undecodable request: [7, 7") && r.ends_with("(cut)")
        );
        assert_eq!(described("BER: ", &"short"), "BER: \"short\"");
    }

    fn encode(msg: LdapMsg) -> BytesMut {
        let mut buf = BytesMut::new();
        BirchCodec::new(1 << 20).encode(msg, &mut buf).unwrap();
        buf
    }

    fn bind(msgid: i32, dn: &str) -> LdapMsg {
        LdapMsg {
            msgid,
            op: LdapOp::BindRequest(LdapBindRequest {
                version: 3,
                dn: dn.into(),
                cred: LdapBindCred::Simple("pw".into()),
            }),
            ctrl: vec![],
        }
    }

    fn search(msgid: i32, filter: LdapFilter) -> LdapMsg {
        LdapMsg {
            msgid,
            op: LdapOp::SearchRequest(LdapSearchRequest {
                base: "dc=example,dc=org".into(),
                scope: LdapSearchScope::Subtree,
                aliases: LdapDerefAliases::Never,
                sizelimit: 10,
                timelimit: 0,
                typesonly: false,
                filter,
                attrs: vec!["cn".into(), "+".into()],
            }),
            ctrl: vec![LdapControl::ManageDsaIT { criticality: true }],
        }
    }

    /// A primitive BER element.
    fn prim(class: TagClass, id: u64, bytes: &[u8]) -> StructureTag {
        StructureTag { class, id, payload: PL::P(bytes.to_vec()) }
    }

    /// A constructed BER element.
    fn cons(class: TagClass, id: u64, children: Vec<StructureTag>) -> StructureTag {
        StructureTag { class, id, payload: PL::C(children) }
    }

    /// An LDAPMessage envelope around `msgid` bytes and `op`, encoded.
    fn envelope(msgid: &[u8], op: StructureTag) -> BytesMut {
        let mut buf = BytesMut::new();
        let msg = cons(TagClass::Universal, 16, vec![prim(TagClass::Universal, 2, msgid), op]);
        lber_write::encode_into(&mut buf, msg).unwrap();
        buf
    }

    fn decode_one(bytes: &[u8]) -> Result<Option<Decoded>, ProtoError> {
        BirchCodec::new(1 << 16).decode(&mut BytesMut::from(bytes))
    }

    #[test]
    fn messages_round_trip() {
        let msgs = vec![
            bind(1, "cn=a,dc=example,dc=org"),
            bind(i32::MAX, ""),
            LdapMsg { msgid: 2, op: LdapOp::UnbindRequest, ctrl: vec![] },
            LdapMsg { msgid: 3, op: LdapOp::AbandonRequest(2), ctrl: vec![] },
            search(
                4,
                LdapFilter::And(vec![
                    LdapFilter::Equality("uid".into(), "alice".into()),
                    LdapFilter::Not(Box::new(LdapFilter::Present("mail".into()))),
                ]),
            ),
            LdapMsg {
                msgid: 5,
                op: LdapOp::ExtendedRequest(LdapExtendedRequest { name: crate::oids::WHOAMI.into(), value: None }),
                ctrl: vec![],
            },
            LdapMsg {
                msgid: 6,
                op: LdapOp::SearchResultEntry(LdapSearchResultEntry { dn: "cn=a".into(), attributes: vec![] }),
                ctrl: vec![],
            },
            response_for_invalid(7, Some(3), "bad").unwrap(),
        ];
        // All in one buffer: each decode takes exactly one frame.
        let mut buf = BytesMut::new();
        let mut c = BirchCodec::new(1 << 20);
        for m in &msgs {
            c.encode(m.clone(), &mut buf).unwrap();
        }
        for m in &msgs {
            match c.decode(&mut buf).unwrap() {
                Some(Decoded::Msg(got)) => assert_eq!(&got, m),
                other => panic!("{other:?}"),
            }
        }
        assert!(buf.is_empty());
        assert!(c.decode(&mut buf).unwrap().is_none());
    }

    #[test]
    fn truncated_frames_wait_for_more_bytes() {
        let full = encode(bind(7, "cn=a"));
        let mut c = BirchCodec::new(1 << 20);
        for cut in 0..full.len() {
            let mut part = BytesMut::from(&full[..cut]);
            assert!(c.decode(&mut part).unwrap().is_none(), "cut at {cut}");
            assert_eq!(part.len(), cut, "nothing consumed");
        }
        // Fed byte by byte, the message comes out once complete.
        let mut buf = BytesMut::new();
        for (i, &b) in full.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            let got = c.decode(&mut buf).unwrap();
            assert_eq!(got.is_some(), i + 1 == full.len());
        }
    }

    #[test]
    fn oversized_header_is_refused_at_once() {
        let mut buf = BytesMut::from(&[0x30u8, 0x84, 0x7f, 0xff, 0xff, 0xff][..]);
        match BirchCodec::new(4096).decode(&mut buf) {
            Err(ProtoError::TooLarge { len, max }) => {
                assert_eq!(len, 0x7fff_ffff + 6);
                assert_eq!(max, 4096);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn size_limit_counts_the_header() {
        let full = encode(bind(1, "cn=a"));
        let n = full.len();
        let mut ok = full.clone();
        assert!(matches!(BirchCodec::new(n).decode(&mut ok), Ok(Some(Decoded::Msg(_)))));
        let mut big = full.clone();
        assert!(matches!(BirchCodec::new(n - 1).decode(&mut big), Err(ProtoError::TooLarge { .. })));
    }

    #[test]
    fn garbage_wrong_tag_and_bad_lengths_are_errors() {
        assert!(decode_one(b"GET / HTTP/1.1\r\n").is_err());
        // An APPLICATION tag where the SEQUENCE should be.
        assert!(matches!(decode_one(&[0x60, 0x00]), Err(ProtoError::Malformed(_))));
        // Indefinite length.
        assert!(matches!(decode_one(&[0x30, 0x80, 0, 0]), Err(ProtoError::Malformed(_))));
        // Five length octets.
        assert!(matches!(decode_one(&[0x30, 0x85, 0, 0, 0, 0, 1, 0]), Err(ProtoError::Malformed(_))));
        // An inner element running past the end of the envelope: the BER parser keeps the
        // complete prefix, leaving no message id; or it fails. Either way no reply is possible.
        match decode_one(&[0x30, 0x03, 0xff, 0xff, 0xff]) {
            Err(_) | Ok(Some(Decoded::Invalid { msgid: None, .. })) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_utf8_bind_dn_is_invalid_with_msgid_and_op() {
        let op = cons(
            TagClass::Application,
            0,
            vec![
                prim(TagClass::Universal, 2, &[3]),
                prim(TagClass::Universal, 4, b"cn=\xff\xfe"),
                prim(TagClass::Context, 0, b"pw"),
            ],
        );
        let mut buf = envelope(&[5], op);
        match BirchCodec::new(4096).decode(&mut buf).unwrap() {
            Some(Decoded::Invalid { msgid, op_tag, .. }) => {
                assert_eq!(msgid, Some(5));
                assert_eq!(op_tag, Some(0));
                let resp = response_for_invalid(5, op_tag, "x").unwrap();
                assert_eq!(resp.msgid, 5);
                match resp.op {
                    LdapOp::BindResponse(r) => assert_eq!(r.res.code, LdapResultCode::ProtocolError),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        assert!(buf.is_empty(), "the invalid frame is consumed");
    }

    #[test]
    fn non_utf8_filter_value_is_invalid_search() {
        let mut buf = encode(search(9, LdapFilter::Equality("cn".into(), "XX".into())));
        let pos = buf.windows(2).position(|w| w == b"XX").unwrap();
        buf[pos] = 0xc3;
        buf[pos + 1] = 0x28;
        match BirchCodec::new(4096).decode(&mut buf).unwrap() {
            Some(Decoded::Invalid { msgid: Some(9), op_tag: Some(3), .. }) => {
                let resp = response_for_invalid(9, Some(3), "x").unwrap();
                assert!(matches!(resp.op, LdapOp::SearchResultDone(_)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_operation_is_invalid_without_response() {
        let mut buf = envelope(&[4], cons(TagClass::Application, 30, vec![]));
        match BirchCodec::new(4096).decode(&mut buf).unwrap() {
            Some(Decoded::Invalid { msgid: Some(4), op_tag: Some(30), .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(response_for_invalid(4, Some(30), "x").is_none());
        assert!(response_for_invalid(4, None, "x").is_none());
    }

    #[test]
    fn bad_message_ids_are_invalid_without_id() {
        // -1, 0, -2^31, 2^31 and an empty INTEGER.
        for id in [&[0xff][..], &[0x00], &[0x80, 0, 0, 0], &[0x00, 0x80, 0, 0, 0], &[]] {
            let mut buf = envelope(id, cons(TagClass::Application, 2, vec![]));
            // An unbind is a primitive NULL-like element; constructed or not, the id decides.
            match BirchCodec::new(4096).decode(&mut buf).unwrap() {
                Some(Decoded::Invalid { msgid: None, op_tag: Some(2), .. }) => {}
                other => panic!("{id:?}: {other:?}"),
            }
        }
        // The same change on an encoded request: msgid 1 becomes -1.
        let mut buf = encode(bind(1, "cn=a"));
        assert_eq!(&buf[2..5], &[0x02, 0x01, 0x01]);
        buf[4] = 0xff;
        assert!(matches!(
            BirchCodec::new(4096).decode(&mut buf).unwrap(),
            Some(Decoded::Invalid { msgid: None, op_tag: Some(0), .. })
        ));
        // The largest id is fine.
        let mut buf = envelope(&[0x7f, 0xff, 0xff, 0xff], prim(TagClass::Application, 2, &[]));
        match BirchCodec::new(4096).decode(&mut buf).unwrap() {
            Some(Decoded::Msg(m)) => assert_eq!((m.msgid, m.op), (i32::MAX, LdapOp::UnbindRequest)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_request_tag_has_the_right_response() {
        for (tag, expect) in [
            (0, Some("BindResponse")),
            (2, None),
            (3, Some("SearchResultDone")),
            (6, Some("ModifyResponse")),
            (8, Some("AddResponse")),
            (10, Some("DelResponse")),
            (12, Some("ModifyDNResponse")),
            (14, Some("CompareResult")),
            (16, None),
            (23, Some("ExtendedResponse")),
            (1, None),
        ] {
            let got = response_for_invalid(1, Some(tag), "m").map(|m| format!("{:?}", m.op));
            match (got, expect) {
                (None, None) => {}
                (Some(g), Some(e)) => assert!(g.starts_with(e), "{tag}: {g}"),
                (g, e) => panic!("{tag}: {g:?} vs {e:?}"),
            }
        }
    }

    /// Arbitrary BER trees (tag numbers below 31, which the parser reads in one octet).
    fn ber_tree() -> impl Strategy<Value = StructureTag> {
        let class = prop_oneof![
            Just(TagClass::Universal),
            Just(TagClass::Application),
            Just(TagClass::Context),
            Just(TagClass::Private)
        ];
        let leaf = (class.clone(), 0u64..31, proptest::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(c, id, b)| StructureTag { class: c, id, payload: PL::P(b) });
        leaf.prop_recursive(6, 48, 6, move |inner| {
            (class.clone(), 0u64..31, proptest::collection::vec(inner, 0..6)).prop_map(|(c, id, v)| StructureTag {
                class: c,
                id,
                payload: PL::C(v),
            })
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = BytesMut::from(&bytes[..]);
            let mut c = BirchCodec::new(1024);
            for _ in 0..10 {
                match c.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    _ => break,
                }
            }
        }

        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            // A valid envelope and message id around arbitrary bytes, so the BER parser and
            // the LDAP conversion both see them.
            let mut bytes = vec![0x30, 0x81, (body.len() + 3) as u8, 0x02, 0x01, 0x01];
            bytes.extend_from_slice(&body);
            let _ = decode_one(&bytes);
        }

        #[test]
        fn arbitrary_ber_operations_never_panic(op in ber_tree(), ctrls in proptest::option::of(ber_tree())) {
            let mut children = vec![prim(TagClass::Universal, 2, &[1]), op];
            children.extend(ctrls);
            let mut buf = BytesMut::new();
            lber_write::encode_into(&mut buf, cons(TagClass::Universal, 16, children)).unwrap();
            match BirchCodec::new(1 << 20).decode(&mut buf) {
                Ok(Some(Decoded::Msg(m))) => prop_assert_eq!(m.msgid, 1),
                Ok(Some(Decoded::Invalid { msgid, .. })) => prop_assert_eq!(msgid, Some(1)),
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn mutated_requests_never_panic(cut in 0usize..40, flip in 0usize..60, val in any::<u8>()) {
            let mut buf = encode(search(3, LdapFilter::Substring("cn".into(), "a*b*c".into())));
            if flip < buf.len() { buf[flip] = val; }
            let mut part = BytesMut::from(&buf[..buf.len().saturating_sub(cut)]);
            let _ = BirchCodec::new(1024).decode(&mut part);
        }
    }
}
