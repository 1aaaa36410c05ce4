//! The access-rule language (OpenLDAP `olcAccess` syntax, `access.rules`): each line of the
//! input is one rule. Rules that compile are evaluated for every demo entry, for several
//! requesters, attributes and privileges.

#![cfg_attr(feature = "libfuzzer", no_main)]

use birch_acl::{Privilege, Requester, Subject};
use birch_server::access::Access;
use birch_server::fuzzing::Harness;
use birch_store::Entry;
use std::sync::OnceLock;

struct Fixture {
    harness: Harness,
    entries: Vec<Entry>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let harness = Harness::new().unwrap_or_else(|e| panic!("harness: {e:#}"));
        let store = harness.fresh_store().unwrap_or_else(|e| panic!("store: {e:#}"));
        let entries =
            store.walk().unwrap_or_else(|e| panic!("walk: {e}")).map(|r| r.unwrap_or_else(|e| panic!("{e}"))).collect();
        Fixture { harness, entries }
    })
}

const PRIVILEGES: [Privilege; 9] = [
    Privilege::Disclose,
    Privilege::Auth,
    Privilege::Compare,
    Privilege::Search,
    Privilege::Read,
    Privilege::Add,
    Privilege::Delete,
    Privilege::AddSelf,
    Privilege::DeleteSelf,
];

birch_fuzz::target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let f = fixture();
    let mut cfg = f.harness.config().clone();
    cfg.access.rules = Some(text.lines().map(str::to_string).collect());
    let Ok(access) = Access::compile(&cfg, f.harness.schema()) else { return };
    let alice = "uid=alice,ou=people,dc=example,dc=org".to_string();
    let mut member = Requester::new(Subject::User(alice.clone()));
    member.groups.insert("cn=it-admins,ou=groups,dc=example,dc=org".into());
    member.peer = Some(std::net::IpAddr::from([10, 1, 2, 3]));
    member.ssf = 128;
    let who = [Requester::new(Subject::Anonymous), Requester::new(Subject::User(alice)), member];
    for e in &f.entries {
        for r in &who {
            for attr in ["entry", "children", "uid", "userpassword", "cn", "memberof"] {
                for p in PRIVILEGES {
                    let _ = access.check(r, e, attr, p);
                }
            }
            let _ = (access.is_admin(r), access.is_service(&e.ndn));
        }
    }
});
