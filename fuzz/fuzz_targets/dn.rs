//! Distinguished names (RFC 4514): parsing, normalization and the string form. A DN that
//! parses prints as a string that parses to the same DN, and its normalized form is a
//! fixed point of normalization.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_schema::{Dn, Schema};
use std::sync::OnceLock;

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(Schema::builtin)
}

birch_fuzz::target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(dn) = Dn::parse(text) else { return };
    let printed = dn.to_string();
    match Dn::parse(&printed) {
        Ok(again) => assert_eq!(again, dn, "{text:?} printed as {printed:?}"),
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    }
    let ndn = dn.normalize(schema());
    match Dn::parse(&ndn) {
        Ok(again) => assert_eq!(again.normalize(schema()), ndn, "normalizing {text:?} twice"),
        Err(e) => panic!("{text:?} normalized to {ndn:?}, which does not parse: {e}"),
    }
    let _ = (dn.is_root(), dn.parent());
});
