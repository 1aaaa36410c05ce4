//! The whole request path: the bytes are what one client sends on one connection to a fresh
//! server (in-memory store with the demo campus, `birch_server::fuzzing`). Whatever the
//! server writes back must be well-formed LDAP messages.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_proto::ldap3_lber::parse::Parser;
use birch_proto::ldap3_proto::proto::LdapMsg;
use birch_server::fuzzing::Harness;
use std::sync::OnceLock;

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| match Harness::new() {
        Ok(h) => h,
        Err(e) => panic!("cannot set up the harness: {e:#}"),
    })
}

birch_fuzz::target!(|data: &[u8]| {
    let out = match harness().respond(data) {
        Ok(out) => out,
        Err(e) => panic!("the harness failed: {e:#}"),
    };
    // The requests' decoder would refuse message id 0, which a Notice of Disconnection
    // rightly carries: parse the responses with ldap3's own parser.
    let mut rest = &out[..];
    while !rest.is_empty() {
        match Parser::new(64).parse(rest) {
            Ok((tail, tag)) => {
                if let Err(e) = LdapMsg::try_from(tag) {
                    panic!("the server wrote a message ldap3_proto cannot read: {e:?}");
                }
                rest = tail;
            }
            Err(e) => panic!("the server wrote something that is not BER: {e:?} at {rest:02x?}"),
        }
    }
});
