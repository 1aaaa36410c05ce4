//! Multi-provider conflict resolution: pure functions that decide, for a change received
//! from a peer, given what this server holds, whether to apply it. Every server decides
//! the same way from the same two versions, so all converge whatever the order in which
//! changes arrive (a property test checks it).
//!
//! The rule is entry-level, as slapd's plain multi-provider syncrepl: the version of an
//! entry with the latest entryCSN wins as a whole (DN included, so a rename and a modify of
//! the same entry also resolve this way); a delete wins over a version with an older or
//! equal CSN and loses to a newer one (which brings the entry back); of two different
//! entries added at the same DN the one created first wins (createTimestamp, then
//! entryUUID), wherever it is compared. A change that had to be dropped — or whose
//! arrival drops a concurrent one here — is a [`Resolution::Conflict`]: logged and counted.

use birch_store::csn;
use birch_store::store::Landing;
use birch_store::Entry;

/// What to do with a peer's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Newer than what is here: applied.
    Apply,
    /// Already here, or superseded by a later change of the same server: skipped quietly.
    Duplicate,
    /// A concurrent change lost: `dropped` (the incoming change, or the local entry it
    /// replaces when `applied`) is gone; `kept` is the CSN of the winner.
    Conflict {
        /// Why (for the log).
        reason: &'static str,
        /// The CSN of the version kept.
        kept: String,
        /// The CSN of the version dropped.
        dropped: String,
        /// Whether the incoming change was applied (the local version was the loser).
        applied: bool,
    },
}

impl Resolution {
    /// Whether the change is written.
    pub fn applies(&self) -> bool {
        matches!(self, Resolution::Apply | Resolution::Conflict { applied: true, .. })
    }
}

/// The entryCSN of an entry ("" when it has none: older than any CSN).
fn csn_of(e: &Entry) -> &str {
    birch_store::changes::entry_csn(e).unwrap_or("")
}

/// The key that decides which of two entries added at the same DN stays: the earlier
/// creation, then the smaller entryUUID (both fixed for an entry's life, so every server
/// compares the same keys).
fn creation_key(e: &Entry) -> (Vec<u8>, Vec<u8>) {
    let first = |a: &str| e.get(a).and_then(|v| v.values.first().cloned()).unwrap_or_default();
    (first("createtimestamp"), first("entryuuid"))
}

/// Whether `older` (a CSN that sorts before the version here) was made by the same server
/// as `newer`: then it is simply an earlier change, seen again.
fn same_origin(older: &str, newer: &str) -> bool {
    csn::sid_of(older).is_some() && csn::sid_of(older) == csn::sid_of(newer)
}

/// Decides on a peer's version of an entry landing on what is here.
pub fn on_entry(incoming: &Entry, here: &Landing<'_>) -> Resolution {
    let i = csn_of(incoming);
    if !i.is_empty() && csn::covers(here.context, i) && here.other.is_none() {
        return match here.same {
            Some(l) if csn_of(l) < i => Resolution::Apply,
            _ => Resolution::Duplicate,
        };
    }
    if let Some(l) = here.same {
        let l = csn_of(l);
        if i > l {
            return on_other(incoming, here);
        }
        if i == l || same_origin(i, l) {
            return Resolution::Duplicate;
        }
        return conflict("a later change of the entry is here", l, i, false);
    }
    if let Some(t) = here.tombstone {
        if i <= t {
            if same_origin(i, t) {
                return Resolution::Duplicate;
            }
            return conflict("the entry was deleted by a later change", t, i, false);
        }
    }
    on_other(incoming, here)
}

/// The add/add rule: another entry at the incoming entry's DN.
fn on_other(incoming: &Entry, here: &Landing<'_>) -> Resolution {
    let Some(other) = here.other else { return Resolution::Apply };
    if creation_key(incoming) < creation_key(other) {
        conflict("two entries at one DN: the one created first stays", csn_of(incoming), csn_of(other), true)
    } else {
        conflict("two entries at one DN: the one created first stays", csn_of(other), csn_of(incoming), false)
    }
}

/// Decides on a peer's delete (with the delete's CSN when the peer sent it).
pub fn on_delete(delete_csn: Option<&str>, here: &Landing<'_>) -> Resolution {
    let Some(d) = delete_csn else {
        return if here.same.is_some() { Resolution::Apply } else { Resolution::Duplicate };
    };
    match here.same {
        Some(l) => {
            let l = csn_of(l);
            if d >= l {
                Resolution::Apply
            } else {
                conflict("the entry changed after the delete: it stays", l, d, false)
            }
        }
        None if csn::covers(here.context, d) || here.tombstone.is_some_and(|t| t >= d) => Resolution::Duplicate,
        // Not here: only the tombstone is written.
        None => Resolution::Apply,
    }
}

fn conflict(reason: &'static str, kept: &str, dropped: &str, applied: bool) -> Resolution {
    Resolution::Conflict { reason, kept: kept.to_string(), dropped: dropped.to_string(), applied }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn entry(dn: &str, uuid: u8, csn: &str, created: u8) -> Entry {
        let mut e = Entry { dn: dn.to_string(), ndn: dn.to_ascii_lowercase(), ..Entry::default() };
        e.add_values("entryUUID", "entryuuid", [vec![b'0' + uuid]]);
        e.add_values("entryCSN", "entrycsn", [csn.as_bytes().to_vec()]);
        e.add_values("createTimestamp", "createtimestamp", [vec![b'0' + created]]);
        e
    }

    fn csn_at(t: u64, sid: u16) -> String {
        csn::format_csn(1_800_000_000_000_000 + t, 0, sid)
    }

    fn land<'a>(same: Option<&'a Entry>, other: Option<&'a Entry>, tomb: Option<&'a str>) -> Landing<'a> {
        Landing { same, other, tombstone: tomb, context: &[] }
    }

    #[test]
    fn the_latest_version_wins_and_duplicates_are_quiet() {
        let (a1, b2) = (csn_at(1, 1), csn_at(2, 2));
        let old = entry("cn=x", 1, &a1, 1);
        let new = entry("cn=x", 1, &b2, 1);
        assert_eq!(on_entry(&new, &land(Some(&old), None, None)), Resolution::Apply);
        assert!(matches!(on_entry(&old, &land(Some(&new), None, None)), Resolution::Conflict { applied: false, .. }));
        assert_eq!(on_entry(&new, &land(Some(&new), None, None)), Resolution::Duplicate);
        // Seen already (the context covers it).
        let ctx = vec![a1.clone()];
        let here = Landing { same: None, other: None, tombstone: None, context: &ctx };
        assert_eq!(on_entry(&old, &here), Resolution::Duplicate);
    }

    #[test]
    fn deletes_win_when_later_and_lose_to_later_changes() {
        let (m1, d2, m3) = (csn_at(1, 1), csn_at(2, 2), csn_at(3, 1));
        let e1 = entry("cn=x", 1, &m1, 1);
        let e3 = entry("cn=x", 1, &m3, 1);
        assert_eq!(on_delete(Some(&d2), &land(Some(&e1), None, None)), Resolution::Apply);
        assert!(matches!(on_delete(Some(&d2), &land(Some(&e3), None, None)), Resolution::Conflict { .. }));
        assert!(matches!(on_entry(&e1, &land(None, None, Some(&d2))), Resolution::Conflict { applied: false, .. }));
        assert_eq!(on_entry(&e3, &land(None, None, Some(&d2))), Resolution::Apply);
    }

    #[test]
    fn of_two_adds_at_one_dn_the_first_created_stays() {
        let first = entry("cn=x", 1, &csn_at(5, 1), 1);
        let second = entry("cn=x", 2, &csn_at(4, 2), 2);
        assert!(matches!(
            on_entry(&first, &land(None, Some(&second), None)),
            Resolution::Conflict { applied: true, .. }
        ));
        assert!(matches!(
            on_entry(&second, &land(None, Some(&first), None)),
            Resolution::Conflict { applied: false, .. }
        ));
    }

    /// A change as delivered: a version of entry `uuid` at `dn`, or its delete.
    #[derive(Debug, Clone)]
    enum Change {
        Put { uuid: u8, dn: u8, csn: String, created: u8 },
        Delete { uuid: u8, csn: String },
    }

    /// A model server: entries by entryUUID (with their DN), tombstones; applying with the
    /// real rules.
    #[derive(Default, Debug, PartialEq, Eq)]
    struct Model {
        entries: BTreeMap<u8, (u8, String, u8)>,
        tombs: BTreeMap<u8, String>,
    }

    impl Model {
        fn entry(&self, uuid: u8) -> Option<Entry> {
            self.entries.get(&uuid).map(|(dn, csn, created)| entry(&format!("cn={dn}"), uuid, csn, *created))
        }

        fn apply(&mut self, c: &Change) {
            match c {
                Change::Put { uuid, dn, csn, created } => {
                    let e = entry(&format!("cn={dn}"), *uuid, csn, *created);
                    let same = self.entry(*uuid);
                    let other_uuid = self.entries.iter().find(|(u, (d, _, _))| *u != uuid && d == dn).map(|(u, _)| *u);
                    let other = other_uuid.and_then(|u| self.entry(u));
                    let tomb = if same.is_none() { self.tombs.get(uuid).cloned() } else { None };
                    let r = on_entry(&e, &land(same.as_ref(), other.as_ref(), tomb.as_deref()));
                    if r.applies() {
                        if let Some(u) = other_uuid {
                            self.entries.remove(&u);
                        }
                        self.entries.insert(*uuid, (*dn, csn.clone(), *created));
                    }
                }
                Change::Delete { uuid, csn } => {
                    let same = self.entry(*uuid);
                    let tomb = if same.is_none() { self.tombs.get(uuid).cloned() } else { None };
                    let r = on_delete(Some(csn), &land(same.as_ref(), None, tomb.as_deref()));
                    if r.applies() {
                        self.entries.remove(uuid);
                        let t = self.tombs.entry(*uuid).or_default();
                        if *t < *csn {
                            *t = csn.clone();
                        }
                    }
                }
            }
        }
    }

    /// Changes of three entries by three servers, each CSN distinct (each change made once);
    /// an entryUUID is created once, so its creation time is a function of it. `same_dn`:
    /// every entry at one DN (add/add conflicts, no deletes); otherwise each entry at a DN
    /// of its own, renamed between two, with deletes.
    fn changes(same_dn: bool) -> impl Strategy<Value = Vec<Change>> {
        prop::collection::vec((0u8..3, 0u8..2, any::<bool>(), 1u16..4), 1..10).prop_map(move |v| {
            v.into_iter()
                .enumerate()
                .map(|(t, (uuid, rename, delete, sid))| {
                    let csn = csn_at(t as u64 * 10, sid);
                    if delete && !same_dn {
                        Change::Delete { uuid, csn }
                    } else {
                        let dn = if same_dn { 0 } else { uuid * 2 + rename };
                        Change::Put { uuid, dn, csn, created: uuid }
                    }
                })
                .collect()
        })
    }

    /// Applies the changes in order, then in another order (a shuffle from `seed`, with one
    /// change delivered twice): the same entries must result.
    fn same_in_any_order(cs: &[Change], seed: u64) -> Result<(), TestCaseError> {
        let mut in_order = Model::default();
        for c in cs {
            in_order.apply(c);
        }
        let mut shuffled = cs.to_vec();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        shuffled.push(cs[(seed as usize) % cs.len()].clone());
        let mut other = Model::default();
        for c in &shuffled {
            other.apply(c);
        }
        prop_assert_eq!(in_order.entries, other.entries);
        Ok(())
    }

    proptest! {
        #[test]
        fn modifies_renames_and_deletes_converge_in_any_order(cs in changes(false), seed in any::<u64>()) {
            same_in_any_order(&cs, seed)?;
        }

        #[test]
        fn adds_at_one_dn_converge_in_any_order(cs in changes(true), seed in any::<u64>()) {
            same_in_any_order(&cs, seed)?;
        }
    }
}
