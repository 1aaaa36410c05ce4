//! Attribute index key prefixes. All indexes share one sled tree; each prefix owns a
//! posting list stored as chunks under `prefix ++ first id` (see [`crate::postings`]):
//! - equality: `e attr 0x00 normalized-value 0x00`
//! - presence: `p attr 0x00`
//! - substring trigram: `s attr 0x00 gram(3 bytes)`, grams of `0x01 value 0x02`

use crate::entry::Entry;
use birch_schema::Schema;
use std::collections::{BTreeSet, HashSet};

const EQ: u8 = b'e';
const PRES: u8 = b'p';
const SUB: u8 = b's';
/// Start-of-value anchor for trigrams.
pub const ANCHOR_START: u8 = 0x01;
/// End-of-value anchor for trigrams.
pub const ANCHOR_END: u8 = 0x02;

/// A set of attribute names, hashed with foldhash rather than SipHash: the sets of an
/// [`IndexConfig`] are asked about every attribute of every entry written or planned for.
pub type NameSet = HashSet<String, foldhash::fast::RandomState>;

/// Which attributes are indexed, by canonical name.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// Equality and presence indexes.
    pub equality: NameSet,
    /// Substring (trigram) indexes.
    pub substring: NameSet,
    /// Attributes whose values must be unique within the store (they are also
    /// equality-indexed, which is how uniqueness is checked).
    pub unique: NameSet,
}

impl IndexConfig {
    /// Builds a config from attribute names, canonicalized through the schema.
    pub fn new(schema: &Schema, equality: &[String], substring: &[String], unique: &[String]) -> IndexConfig {
        let unique: NameSet = unique.iter().map(|a| schema.canonical(a)).collect();
        IndexConfig {
            equality: equality.iter().map(|a| schema.canonical(a)).chain(unique.iter().cloned()).collect(),
            substring: substring.iter().map(|a| schema.canonical(a)).collect(),
            unique,
        }
    }

    /// Whether an index prefix is an equality prefix (one list per distinct value).
    pub fn is_eq_prefix(prefix: &[u8]) -> bool {
        prefix.first() == Some(&EQ)
    }

    /// The attribute of an equality index prefix, if the prefix is one.
    pub fn eq_prefix_attr(prefix: &[u8]) -> Option<&str> {
        let rest = prefix.strip_prefix(&[EQ])?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }
}

impl Default for IndexConfig {
    fn default() -> Self {
        let eq = [
            "objectclass",
            "uid",
            "cn",
            "mail",
            "uidnumber",
            "gidnumber",
            "memberuid",
            "member",
            "uniquemember",
            "memberof",
        ];
        let sub = ["uid", "cn", "mail"];
        IndexConfig {
            equality: eq.iter().map(|s| s.to_string()).collect(),
            substring: sub.iter().map(|s| s.to_string()).collect(),
            unique: ["uid", "uidnumber", "mail"].iter().map(|s| s.to_string()).collect(),
        }
    }
}

fn head(kind: u8, attr: &str, extra: usize) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + attr.len() + extra + 8);
    k.push(kind);
    k.extend_from_slice(attr.as_bytes());
    k.push(0);
    k
}

/// Prefix of the equality posting list of `attr = value` (value normalized).
pub fn eq_prefix(attr: &str, value: &[u8]) -> Vec<u8> {
    let mut k = head(EQ, attr, value.len() + 1);
    k.extend_from_slice(value);
    k.push(0);
    k
}

/// Prefix of the presence posting list of `attr`.
pub fn pres_prefix(attr: &str) -> Vec<u8> {
    head(PRES, attr, 0)
}

/// Prefix of the trigram posting list.
pub fn sub_prefix(attr: &str, gram: &[u8; 3]) -> Vec<u8> {
    let mut k = head(SUB, attr, 3);
    k.extend_from_slice(gram);
    k
}

/// The trigrams of a byte string.
pub fn grams(s: &[u8]) -> impl Iterator<Item = [u8; 3]> + '_ {
    s.windows(3).map(|w| [w[0], w[1], w[2]])
}

/// Reads the id at the end of a key (children index keys end with the child id).
pub fn id_of_key(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// The index key prefixes (posting lists) an entry belongs to.
pub fn entry_prefixes(entry: &Entry, cfg: &IndexConfig, schema: &Schema) -> BTreeSet<Vec<u8>> {
    let mut keys = BTreeSet::new();
    for_each_prefix(entry, cfg, schema, |k| {
        keys.insert(k.to_vec());
    });
    keys
}

/// The index key prefixes an entry changing from `old` to `new` leaves and joins (`None`:
/// absent): (left, joined). Only the attribute types whose values changed are looked at —
/// a prefix depends on the values of its own type alone — so a modify of one attribute
/// does not re-derive the trigrams and classes of the whole entry (twice).
pub fn prefix_changes(
    old: Option<&Entry>,
    new: Option<&Entry>,
    cfg: &IndexConfig,
    schema: &Schema,
) -> (BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>) {
    let changed = match (old, new) {
        (Some(o), Some(n)) => Some(changed_types(o, n, cfg)),
        _ => None,
    };
    let prefixes = |e: Option<&Entry>| {
        let mut keys = BTreeSet::new();
        if let Some(e) = e {
            let wanted = |attr: &str| changed.as_ref().is_none_or(|c| c.contains(&attr));
            for_each_prefix_where(e, cfg, schema, wanted, |k| {
                keys.insert(k.to_vec());
            });
        }
        keys
    };
    let (before, after) = (prefixes(old), prefixes(new));
    let left = before.difference(&after).cloned().collect();
    let joined = after.difference(&before).cloned().collect();
    (left, joined)
}

/// The indexed attribute types (canonical names without options) whose values differ
/// between two versions of an entry: an attribute description present in one only, or
/// with other values (in another order counts as changed).
fn changed_types<'a>(old: &'a Entry, new: &'a Entry, cfg: &IndexConfig) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    let sides = old.attrs.iter().map(|a| (a, new)).chain(new.attrs.iter().map(|a| (a, old)));
    for (a, other) in sides {
        let attr = birch_schema::desc::base(&a.canonical);
        if out.contains(&attr) || !cfg.equality.contains(attr) && !cfg.substring.contains(attr) {
            continue;
        }
        if other.get(&a.canonical).map(|o| &o.values) != Some(&a.values) {
            out.push(attr);
        }
    }
    out
}

/// Calls `f` with each index key prefix of an entry, unsorted and possibly more than once
/// (two values with the same trigram): the bulk loader's cheaper form of
/// [`entry_prefixes`], which drops repeats itself. The prefixes are built in one buffer
/// (the caller copies those it keeps).
pub fn for_each_prefix(entry: &Entry, cfg: &IndexConfig, schema: &Schema, f: impl FnMut(&[u8])) {
    for_each_prefix_where(entry, cfg, schema, |_| true, f)
}

/// [`for_each_prefix`] over the attributes whose type (canonical name without options)
/// `wanted` accepts.
fn for_each_prefix_where(
    entry: &Entry,
    cfg: &IndexConfig,
    schema: &Schema,
    wanted: impl Fn(&str) -> bool,
    mut f: impl FnMut(&[u8]),
) {
    let mut key = Vec::with_capacity(64);
    for a in &entry.attrs {
        // Tagged values (`cn;lang-en`) are indexed under their type: the index narrows, the
        // filter evaluated on the entry decides which descriptions match.
        let attr = birch_schema::desc::base(&a.canonical);
        if !wanted(attr) {
            continue;
        }
        let eq = cfg.equality.contains(attr);
        let sub = cfg.substring.contains(attr);
        if !eq && !sub || a.values.is_empty() {
            continue;
        }
        let rule = schema.rule(attr);
        if eq {
            start(&mut key, PRES, attr);
            f(&key);
        }
        if eq && attr == "objectclass" {
            // An entry is indexed under each of its classes and their superclasses, by
            // canonical class name, as objectClass equality filters match.
            for v in &a.values {
                for c in schema.superclasses(&String::from_utf8_lossy(v)) {
                    start(&mut key, EQ, attr);
                    key.extend_from_slice(c.canonical.as_bytes());
                    key.push(0);
                    f(&key);
                }
            }
            continue;
        }
        for v in &a.values {
            let Some(n) = schema.normalize_value(rule, v) else {
                continue;
            };
            if eq {
                start(&mut key, EQ, attr);
                key.extend_from_slice(&n);
                key.push(0);
                f(&key);
            }
            if sub {
                let mut anchored = Vec::with_capacity(n.len() + 2);
                anchored.push(ANCHOR_START);
                anchored.extend_from_slice(&n);
                anchored.push(ANCHOR_END);
                for g in grams(&anchored) {
                    start(&mut key, SUB, attr);
                    key.extend_from_slice(&g);
                    f(&key);
                }
            }
        }
    }
}

/// Empties `key` and writes the head of a prefix (kind, attribute, 0x00) into it: what
/// [`eq_prefix`], [`pres_prefix`] and [`sub_prefix`] start with.
fn start(key: &mut Vec<u8>, kind: u8, attr: &str) {
    key.clear();
    key.push(kind);
    key.extend_from_slice(attr.as_bytes());
    key.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{attrs, store};

    /// The prefixes left and joined, computed over whole entries (what `prefix_changes`
    /// must equal).
    fn full_diff(
        old: &Entry,
        new: &Entry,
        cfg: &IndexConfig,
        schema: &Schema,
    ) -> (BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>) {
        let (before, after) = (entry_prefixes(old, cfg, schema), entry_prefixes(new, cfg, schema));
        (before.difference(&after).cloned().collect(), after.difference(&before).cloned().collect())
    }

    #[test]
    fn prefix_changes_equal_the_difference_of_whole_entries() {
        let (_d, s) = store();
        let cfg = IndexConfig::default();
        let old = s
            .make_entry(
                "uid=ann,dc=x",
                attrs(&[
                    ("objectClass", "inetOrgPerson"),
                    ("uid", "ann"),
                    ("cn", "Ann Lee"),
                    ("cn;lang-fr", "Anne Lee"),
                    ("sn", "Lee"),
                    ("mail", "ann@x"),
                    ("description", "one"),
                ]),
            )
            .unwrap();
        type Edit = Box<dyn Fn(&mut Entry)>;
        let edits: Vec<Edit> = vec![
            Box::new(|e| e.replace_values("description", "description", [b"two".to_vec()])),
            Box::new(|e| e.replace_values("cn", "cn", [b"Ann Smith".to_vec()])),
            Box::new(|e| e.replace_values("cn;lang-fr", "cn;lang-fr", [])),
            Box::new(|e| e.add_values("cn;lang-de", "cn;lang-de", [b"Anna".to_vec()])),
            Box::new(|e| e.replace_values("mail", "mail", [])),
            Box::new(|e| e.add_values("objectClass", "objectclass", [b"posixAccount".to_vec()])),
            // Same values, another position: nothing changes in the indexes.
            Box::new(|e| {
                let uid = e.attrs.remove(1);
                e.attrs.push(uid);
            }),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut new = old.clone();
            edit(&mut new);
            let got = prefix_changes(Some(&old), Some(&new), &cfg, s.schema());
            assert_eq!(got, full_diff(&old, &new, &cfg, s.schema()), "edit #{i}");
        }
        let (left, joined) = prefix_changes(Some(&old), None, &cfg, s.schema());
        assert_eq!((left, joined.is_empty()), (entry_prefixes(&old, &cfg, s.schema()), true));
        let (left, joined) = prefix_changes(None, Some(&old), &cfg, s.schema());
        assert_eq!((left.is_empty(), joined), (true, entry_prefixes(&old, &cfg, s.schema())));
    }
}
