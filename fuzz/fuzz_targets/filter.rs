//! Search filters: the bytes are a filter in BER (first byte odd) or in the RFC 4515 string
//! form (first byte even, as in access rules). A filter that parses is resolved against the
//! schema, evaluated on every demo entry, planned against the indexes and run as a subtree
//! search of an in-memory store.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_proto::ldap3_lber::parse::Parser;
use birch_proto::ldap3_proto::proto::LdapFilter;
use birch_server::fuzzing::Harness;
use birch_store::{Entry, Scope, Store};
use std::sync::OnceLock;

struct Fixture {
    harness: Harness,
    store: Store,
    base: (u64, Entry),
    entries: Vec<Entry>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let harness = Harness::new().unwrap_or_else(|e| panic!("harness: {e:#}"));
        let store = harness.fresh_store().unwrap_or_else(|e| panic!("store: {e:#}"));
        let base = store.get_by_ndn("dc=example,dc=org").ok().flatten().unwrap_or_else(|| panic!("no suffix entry"));
        let entries = store
            .walk()
            .unwrap_or_else(|e| panic!("walk: {e}"))
            .map(|r| r.unwrap_or_else(|e| panic!("walk: {e}")))
            .collect();
        Fixture { harness, store, base, entries }
    })
}

fn parse(data: &[u8]) -> Option<LdapFilter> {
    let (&first, rest) = data.split_first()?;
    if first % 2 == 1 {
        let (_, tag) = Parser::new(64).parse(rest).ok()?;
        LdapFilter::try_from(tag).ok()
    } else {
        birch_proto::ldap3_proto::parse_ldap_filter_str(std::str::from_utf8(rest).ok()?).ok()
    }
}

birch_fuzz::target!(|data: &[u8]| {
    let Some(parsed) = parse(data) else { return };
    let f = fixture();
    let schema = f.harness.schema();
    let filter = birch_server::query::filter::convert(&parsed, schema, &|a| a != "userpassword");
    let mut attrs = Vec::new();
    filter.attributes(&mut attrs);
    let _ = birch_server::query::filter::mask(&filter, &["mail"]);
    let matching = f.entries.iter().filter(|e| filter.eval(e, schema) == birch_store::Tri::True).count();
    let _ = f.store.plan(&filter);
    // The indexed search finds exactly the entries evaluation says match.
    let mut found = 0;
    match f.store.search(f.base.0, &f.base.1, Scope::Sub, filter) {
        Ok(mut it) => {
            while let Some(step) = it.step() {
                match step {
                    Ok(Some(_)) => found += 1,
                    Ok(None) => {}
                    Err(e) => panic!("search failed: {e}"),
                }
            }
        }
        Err(e) => panic!("search failed to start: {e}"),
    }
    assert_eq!(found, matching, "the indexed search and evaluation disagree");
});
