//! The direct request decoder (`birch_proto::decode`) against `ldap3_proto`'s parser: any
//! bytes, read as one frame and as a stream of PDUs by `BirchCodec`. Whatever the direct
//! decoder takes must be the message `ldap3_proto` decodes from the same bytes, and every
//! frame the codec returns must be what framing plus `ldap3_proto` alone return.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_proto::codec::{decode_with_ldap3, BirchCodec, Decoded};
use birch_proto::decode::decode_request;
use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// The direct decoder on `frame`, checked against ldap3_proto.
fn check_direct(frame: &[u8]) {
    if let Some(fast) = decode_request(frame) {
        match decode_with_ldap3(frame) {
            Ok(Decoded::Msg(slow)) => assert_eq!(fast, slow, "the decoders disagree on {frame:02x?}"),
            other => panic!("direct decoder took {frame:02x?} as {fast:?}; ldap3_proto: {other:?}"),
        }
    }
}

birch_fuzz::target!(|data: &[u8]| {
    check_direct(data);
    let mut codec = BirchCodec::new(1 << 20);
    let mut buf = BytesMut::from(data);
    // Each step consumes a PDU or stops: bounded by the input length.
    loop {
        let before = buf.clone();
        let Ok(Some(decoded)) = codec.decode(&mut buf) else { break };
        let Some(frame) = before.get(..before.len() - buf.len()) else { break };
        check_direct(frame);
        let reference = decode_with_ldap3(frame);
        let (got, want) = (format!("{decoded:?}"), format!("{reference:?}"));
        assert_eq!(format!("Ok({got})"), want, "the codec and ldap3_proto disagree on {frame:02x?}");
    }
});
