//! LDAP message framing.
//!
//! `ldap3_proto`'s own codec learns a PDU's size only after parsing it and buffers up to
//! twice its limit first; it also turns any undecodable message into a connection error.
//! This codec reads the BER header itself, refuses an oversized PDU before buffering its
//! body, and reports a well-framed but undecodable message (non-UTF-8 DN, bad message id,
//! unknown operation) as [`Decoded::Invalid`] so the server can answer protocolError and keep
//! the connection.

use bytes::{Buf, BytesMut};
use ldap3_lber::common::TagClass;
use ldap3_lber::parse::Parser;
use ldap3_lber::structure::{StructureTag, PL};
use ldap3_lber::write as lber_write;
use ldap3_proto::proto::{LdapBindResponse, LdapExtendedResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode};
use tokio_util::codec::{Decoder, Encoder};

/// Deepest BER nesting accepted (filters nest).
const MAX_BER_DEPTH: usize = 128;

/// Why the byte stream cannot continue.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The PDU announces more bytes than the configured maximum.
    #[error("request of {len} bytes exceeds the maximum PDU size of {max} bytes")]
    TooLarge {
        /// Announced size.
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
    /// A well-framed message that is not a valid LDAP request.
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
}

/// Reads a BER SEQUENCE header: returns (header length, content length), `None` if more
/// bytes are needed.
fn read_header(buf: &[u8]) -> Result<Option<(usize, u64)>, ProtoError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag != 0x30 {
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
    if n > 4 {
        return Err(ProtoError::Malformed(format!("length of {n} octets is too long")));
    }
    let Some(octets) = buf.get(2..2 + n) else {
        return Ok(None);
    };
    let len = octets.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Ok(Some((2 + n, len)))
}

/// Reads the message id (if valid) and the operation tag of an LDAPMessage.
fn peek_ids(tag: &StructureTag) -> (Option<i64>, Option<u64>) {
    let PL::C(children) = &tag.payload else {
        return (None, None);
    };
    let msgid = children.first().and_then(|t| match (&t.class, t.id, &t.payload) {
        (TagClass::Universal, 2, PL::P(bytes)) if !bytes.is_empty() && bytes.len() <= 8 => {
            let mut v: i64 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
            for &b in bytes {
                v = (v << 8) | i64::from(b);
            }
            Some(v)
        }
        _ => None,
    });
    let op = children.get(1).and_then(|t| (t.class == TagClass::Application).then_some(t.id));
    (msgid, op)
}

impl Decoder for BirchCodec {
    type Item = Decoded;
    type Error = ProtoError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ProtoError> {
        let Some((header, len)) = read_header(buf)? else {
            return Ok(None);
        };
        let total = header as u64 + len;
        if total > self.max_pdu as u64 {
            return Err(ProtoError::TooLarge { len: total, max: self.max_pdu });
        }
        let total = total as usize;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let frame = &buf[..total];
        let tag = match Parser::new(MAX_BER_DEPTH).parse(frame) {
            Ok(([], tag)) => tag,
            Ok(_) => return Err(ProtoError::Malformed("trailing bytes inside the PDU".into())),
            Err(e) => return Err(ProtoError::Malformed(format!("BER: {e:?}"))),
        };
        buf.advance(total);
        let (msgid, op_tag) = peek_ids(&tag);
        let valid_id = msgid.filter(|&m| (1..=i64::from(i32::MAX)).contains(&m)).map(|m| m as i32);
        if valid_id.is_none() {
            return Ok(Some(Decoded::Invalid { msgid: None, op_tag, reason: "invalid message id".into() }));
        }
        match LdapMsg::try_from(tag) {
            Ok(msg) => Ok(Some(Decoded::Msg(msg))),
            Err(e) => {
                Ok(Some(Decoded::Invalid { msgid: valid_id, op_tag, reason: format!("undecodable request: {e:?}") }))
            }
        }
    }
}

impl Encoder<LdapMsg> for BirchCodec {
    type Error = ProtoError;

    fn encode(&mut self, msg: LdapMsg, buf: &mut BytesMut) -> Result<(), ProtoError> {
        let tag: StructureTag = msg.into();
        lber_write::encode_into(buf, tag)?;
        Ok(())
    }
}

/// The APPLICATION tag number of a request operation.
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
    let res = LdapResult {
        code: LdapResultCode::ProtocolError,
        matcheddn: String::new(),
        message: message.to_string(),
        referral: vec![],
    };
    let op = response_op(op_tag?, res)?;
    Some(LdapMsg { msgid, op, ctrl: vec![] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::{LdapBindCred, LdapBindRequest};
    use proptest::prelude::*;

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

    #[test]
    fn round_trips_and_waits_for_whole_frames() {
        let mut buf = encode(bind(7, "cn=a"));
        let full = buf.clone();
        let mut part = BytesMut::from(&full[..full.len() - 1]);
        let mut c = BirchCodec::new(1 << 20);
        assert!(c.decode(&mut part).unwrap().is_none());
        match c.decode(&mut buf).unwrap() {
            Some(Decoded::Msg(m)) => assert_eq!(m, bind(7, "cn=a")),
            other => panic!("{other:?}"),
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_header_is_refused_at_once() {
        let mut buf = BytesMut::from(&[0x30u8, 0x84, 0x7f, 0xff, 0xff, 0xff][..]);
        assert!(matches!(BirchCodec::new(4096).decode(&mut buf), Err(ProtoError::TooLarge { .. })));
    }

    #[test]
    fn garbage_and_indefinite_length_are_errors() {
        let mut c = BirchCodec::new(4096);
        assert!(c.decode(&mut BytesMut::from(&b"GET / HTTP/1.1\r\n"[..])).is_err());
        assert!(c.decode(&mut BytesMut::from(&[0x30u8, 0x80, 0, 0][..])).is_err());
        // Garbage inside a well-formed SEQUENCE: an error, or an invalid message without id
        // (which the server answers by closing the connection).
        match c.decode(&mut BytesMut::from(&[0x30u8, 0x03, 0xff, 0xff, 0xff][..])) {
            Err(_) | Ok(Some(Decoded::Invalid { msgid: None, .. })) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_utf8_dn_is_invalid_with_msgid_and_op() {
        let mut buf = encode(bind(5, "cn=XX"));
        let pos = buf.windows(5).position(|w| w == b"cn=XX").unwrap();
        buf[pos + 3] = 0xff;
        buf[pos + 4] = 0xfe;
        match BirchCodec::new(4096).decode(&mut buf).unwrap() {
            Some(Decoded::Invalid { msgid, op_tag, .. }) => {
                assert_eq!(msgid, Some(5));
                assert_eq!(op_tag, Some(0));
                let resp = response_for_invalid(5, op_tag, "x").unwrap();
                assert!(matches!(resp.op, LdapOp::BindResponse(_)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn negative_msgid_is_invalid_without_id() {
        let mut buf = encode(bind(1, "cn=a"));
        // msgid INTEGER is at bytes 2..5: 02 01 01 -> 02 01 ff (-1)
        assert_eq!(&buf[2..5], &[0x02, 0x01, 0x01]);
        buf[4] = 0xff;
        match BirchCodec::new(4096).decode(&mut buf).unwrap() {
            Some(Decoded::Invalid { msgid: None, .. }) => {}
            other => panic!("{other:?}"),
        }
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
        fn prefixed_valid_message_bytes_never_panic(cut in 0usize..40, flip in 0usize..40, val in any::<u8>()) {
            let mut buf = encode(bind(3, "uid=alice,ou=people,dc=example,dc=org"));
            if flip < buf.len() { buf[flip] = val; }
            let mut part = BytesMut::from(&buf[..buf.len().saturating_sub(cut)]);
            let _ = BirchCodec::new(1024).decode(&mut part);
        }
    }
}
