//! The LDAP PDU decoder (`BirchCodec`): any bytes, read as a stream of PDUs. A request that
//! decodes must encode again and decode to the same message; an undecodable one must get
//! an encodable error response (or a disconnect).

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_proto::codec::{response_for_invalid, BirchCodec, Decoded};
use birch_proto::ldap3_proto::proto::{LdapBindCred, LdapOp};
use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

birch_fuzz::target!(|data: &[u8]| {
    let mut codec = BirchCodec::new(1 << 20);
    let mut buf = BytesMut::from(data);
    // Each step consumes a PDU or stops: bounded by the input length.
    while let Ok(Some(decoded)) = codec.decode(&mut buf) {
        match decoded {
            Decoded::Msg(msg) => {
                let _ = birch_proto::codec::request_tag(&msg.op);
                for c in &msg.ctrl {
                    let _ = (birch_proto::control::control_oid(c), birch_proto::control::is_critical(c));
                }
                // ldap3_proto reads an authentication choice it does not know as
                // `Unsupported` (the server answers authMethodNotSupported) and cannot write
                // it back as it was.
                if matches!(&msg.op, LdapOp::BindRequest(b) if b.cred == LdapBindCred::Unsupported) {
                    continue;
                }
                let mut out = BytesMut::new();
                if let Err(e) = codec.encode(msg.clone(), &mut out) {
                    panic!("a decoded message does not encode: {e}");
                }
                let encoded = out.to_vec();
                match codec.decode(&mut out) {
                    Ok(Some(Decoded::Msg(again))) => assert_eq!(again, msg, "re-encoded message decodes differently"),
                    other => panic!("{msg:?} re-encoded as {encoded:02x?} does not decode: {other:?}"),
                }
            }
            Decoded::Invalid { msgid, op_tag, reason } => {
                if let Some(resp) = msgid.and_then(|id| response_for_invalid(id, op_tag, &reason)) {
                    let mut out = BytesMut::new();
                    if let Err(e) = codec.encode(resp, &mut out) {
                        panic!("an error response does not encode: {e}");
                    }
                }
            }
        }
    }
});
