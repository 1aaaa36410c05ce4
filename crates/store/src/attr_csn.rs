//! Per-attribute CSNs: on a multi-provider server every entry records when each of its
//! attributes (and its DN) last changed, so that concurrent changes of different
//! attributes of one entry on two servers both survive (issue #28: "per attribute, latest
//! CSN wins"). The record is the operational attribute `birchAttrCSN`, one value per
//! attribute changed since a base CSN:
//!
//! ```text
//! birchAttrCSN: * 20261207101500.000000Z#000000#001#000000
//! birchAttrCSN: mail 20261207103000.120000Z#000000#002#000000
//! birchAttrCSN: @dn 20261207104500.000000Z#000000#001#000000
//! ```
//!
//! `*` is the base: every attribute not listed last changed at or before it. An entry
//! without the attribute (added and never changed since, or written before the server was
//! a multi-provider, or sent by slapd) has its entryCSN as the base. `@dn` stands for the
//! entry's name. An attribute removed stays listed (with the CSN of its removal) until the
//! base passes it. The attribute is replication bookkeeping: it is a secret type
//! (`birch_acl::secret`), never returned to clients, only to replicas that name it.

use crate::changes;
use crate::Entry;
use std::collections::BTreeMap;

/// The attribute's name.
pub const NAME: &str = "birchAttrCSN";
/// Its canonical (lower-case) name.
pub const CANONICAL: &str = "birchattrcsn";
/// The key standing for the entry's DN.
pub const DN_KEY: &str = "@dn";
/// The key of the base CSN.
const BASE_KEY: &str = "*";

/// Whether an attribute is bookkeeping of the entry's versions (entryCSN, birchAttrCSN),
/// not part of what the versions hold.
pub fn is_bookkeeping(canonical: &str) -> bool {
    canonical == CANONICAL || canonical == "entrycsn"
}

/// The per-attribute CSNs of one version of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttrCsns {
    /// The CSN of every attribute not in `changed`.
    pub base: String,
    /// Attribute (canonical description, or [`DN_KEY`]) → the CSN of its last change.
    pub changed: BTreeMap<String, String>,
    /// Whether the entry carried a record (`false`: everything at its entryCSN).
    pub recorded: bool,
}

impl AttrCsns {
    /// The record of `e` (see the module documentation for an entry without one).
    pub fn of(e: &Entry) -> AttrCsns {
        let mut out = AttrCsns {
            base: changes::entry_csn(e).unwrap_or_default().to_string(),
            changed: BTreeMap::new(),
            recorded: false,
        };
        let Some(a) = e.get(CANONICAL) else { return out };
        out.recorded = true;
        for v in &a.values {
            let Some((key, csn)) = std::str::from_utf8(v).ok().and_then(|s| s.split_once(' ')) else { continue };
            if key == BASE_KEY {
                out.base = csn.to_string();
            } else {
                out.changed.insert(key.to_ascii_lowercase(), csn.to_string());
            }
        }
        out
    }

    /// The CSN of the last change of attribute (or [`DN_KEY`]) `key`.
    pub fn csn(&self, key: &str) -> &str {
        match self.changed.get(key) {
            Some(c) if *c > self.base => c,
            _ => &self.base,
        }
    }

    /// Whether `key` changed after the base (it is listed).
    pub fn listed(&self, key: &str) -> bool {
        self.changed.get(key).is_some_and(|c| *c > self.base)
    }

    /// Writes the record into `e` (whose entryCSN is already set): only the attributes
    /// changed after the base are listed; an entry whose every attribute is at its
    /// entryCSN gets no record at all.
    pub fn store_in(&self, e: &mut Entry) {
        let listed: Vec<(&String, &String)> = self.changed.iter().filter(|(_, c)| **c > self.base).collect();
        if listed.is_empty() && changes::entry_csn(e).unwrap_or_default() == self.base {
            e.replace_values(NAME, CANONICAL, []);
            return;
        }
        let mut values = Vec::with_capacity(listed.len() + 1);
        values.push(format!("{BASE_KEY} {}", self.base).into_bytes());
        values.extend(listed.into_iter().map(|(k, c)| format!("{k} {c}").into_bytes()));
        e.replace_values(NAME, CANONICAL, values);
    }
}

/// The attributes (and [`DN_KEY`]) whose values differ between two versions of an entry,
/// bookkeeping aside.
pub fn changed_keys(old: &Entry, new: &Entry) -> Vec<String> {
    let mut keys = Vec::new();
    if old.dn != new.dn {
        keys.push(DN_KEY.to_string());
    }
    for a in new.attrs.iter().filter(|a| !is_bookkeeping(&a.canonical)) {
        if old.get(&a.canonical).is_none_or(|o| o.values != a.values) {
            keys.push(a.canonical.clone());
        }
    }
    for a in old.attrs.iter().filter(|a| !is_bookkeeping(&a.canonical)) {
        if new.get(&a.canonical).is_none() {
            keys.push(a.canonical.clone());
        }
    }
    keys
}

/// Records a local change from `old` to `new` made at `csn` (already `new`'s entryCSN):
/// every attribute that changed now has `csn`.
pub fn record_change(old: &Entry, new: &mut Entry, csn: &str) {
    let keys = changed_keys(old, new);
    let mut record = AttrCsns::of(old);
    for k in keys {
        record.changed.insert(k, csn.to_string());
    }
    record.store_in(new);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dn: &str, csn: &str, attrs: &[(&str, &str)]) -> Entry {
        let mut e = Entry { dn: dn.into(), ndn: dn.to_ascii_lowercase(), ..Entry::default() };
        for (a, v) in attrs {
            e.add_values(a, &a.to_ascii_lowercase(), [v.as_bytes().to_vec()]);
        }
        changes::set_entry_csn(&mut e, csn);
        e
    }

    #[test]
    fn a_change_lists_what_it_changed_and_the_base_stays() {
        let old = entry("uid=a", "c1", &[("uid", "a"), ("mail", "a@x"), ("sn", "A")]);
        let mut new = entry("uid=a", "c2", &[("uid", "a"), ("mail", "b@x")]);
        record_change(&old, &mut new, "c2");
        let r = AttrCsns::of(&new);
        assert_eq!(r.base, "c1");
        assert_eq!((r.csn("mail"), r.csn("sn"), r.csn("uid"), r.csn(DN_KEY)), ("c2", "c2", "c1", "c1"));
        assert!(r.listed("sn") && !r.listed("uid"));
        // A rename lists the DN; the earlier changes stay.
        let mut moved = new.clone();
        moved.dn = "uid=b".into();
        changes::set_entry_csn(&mut moved, "c3");
        record_change(&new, &mut moved, "c3");
        let r = AttrCsns::of(&moved);
        assert_eq!((r.csn(DN_KEY), r.csn("mail"), r.base.as_str()), ("c3", "c2", "c1"));
    }

    #[test]
    fn an_entry_without_a_record_is_at_its_entry_csn() {
        let e = entry("uid=a", "c5", &[("uid", "a")]);
        let r = AttrCsns::of(&e);
        assert_eq!((r.csn("uid"), r.csn("anything"), r.recorded), ("c5", "c5", false));
        // Nothing listed and the base at the entryCSN: no record is written.
        let mut e2 = e.clone();
        r.store_in(&mut e2);
        assert!(e2.get(CANONICAL).is_none());
    }
}
