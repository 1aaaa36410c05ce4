//! Multi-provider conflict resolution: pure functions that decide, for a change received
//! from a peer, given what this server holds, what to write. Every server decides the same
//! way from the same versions, so all converge whatever the order in which changes arrive
//! (property tests check it).
//!
//! The rule, as slapd's multi-provider replication:
//! - **Modify vs modify, rename vs modify**: per attribute (and the DN), the latest change
//!   wins ([`merge`]): concurrent changes of different attributes of one entry both stay;
//!   of two changes of one attribute the one with the later CSN stays.
//! - **Delete vs change**: a delete wins over every change older than it; a change later
//!   than the delete brings the entry back (with every change made to it merged in: the
//!   tombstone keeps the deleted entry's state and the changes that lost to the delete).
//! - **Add vs add** of two different entries at one DN: the one created first stays
//!   (createTimestamp, then entryUUID), wherever it is compared; the other is shadowed (kept
//!   out of sight) and takes the DN if the winner leaves it.
//!
//! A change (or part of one) that had to be dropped — or whose arrival drops a concurrent
//! one here — is a [`Resolution::Conflict`]: logged and counted.

use super::merge::{self, Merged};
use birch_store::csn;
use birch_store::store::{Landing, Verdict};
use birch_store::Entry;

/// What the rule decided about a peer's change (for the log and the counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Newer than what is here: applied.
    Apply,
    /// Already here, or superseded by a later change of the same server: skipped quietly.
    Duplicate,
    /// A concurrent change lost, whole or in part: `dropped` (the incoming change, or the
    /// local entry it replaces when `applied`) is gone (`attrs`: only these attributes of
    /// it, when not empty); `kept` is the CSN of the winner.
    Conflict {
        /// Why (for the log).
        reason: &'static str,
        /// The CSN of the version kept.
        kept: String,
        /// The CSN of the version dropped.
        dropped: String,
        /// Whether the incoming change was applied (in part, when `attrs` is not empty).
        applied: bool,
        /// The attributes of the incoming change that lost (empty: the whole change).
        attrs: Vec<String>,
    },
}

impl Resolution {
    /// Whether the change is written (in part, for a per-attribute conflict).
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

/// Decides on a peer's version of an entry landing on what is here: what to write, and
/// what happened.
pub fn on_entry(incoming: &Entry, here: &Landing<'_>) -> (Verdict, Resolution) {
    let i = csn_of(incoming);
    if let Some(local) = here.same {
        return on_same(merge::merge(local, incoming), local, here, i);
    }
    if let Some(t) = here.tombstone {
        let m = match here.tomb_state {
            Some(state) => merge::merge(state, incoming),
            None => Merged { entry: incoming.clone(), changed: true, dropped: Vec::new() },
        };
        if csn_of(&m.entry) <= t {
            // The delete is later than every change of the entry: it stays deleted, and
            // the change joins its state (should a later change bring it back).
            let verdict = if m.changed { Verdict::Bury(m.entry) } else { Verdict::Skip };
            if same_origin(i, t) || !m.changed {
                return (verdict, Resolution::Duplicate);
            }
            return (verdict, conflict("the entry was deleted by a later change", t, i, false, Vec::new()));
        }
        // A change later than the delete: the entry comes back, with all its changes.
        return place(m.entry, here);
    }
    // Not here and no tombstone: new here, even if the contextCSN covers its CSN (an add/add
    // loser another server shadowed before sending anything, and sends when the winner
    // left its DN).
    place(incoming.clone(), here)
}

/// The entry is here: the merged version is written if it differs.
fn on_same(m: Merged, local: &Entry, here: &Landing<'_>, i: &str) -> (Verdict, Resolution) {
    if m.entry.ndn != local.ndn {
        if let Some(other) = here.other_at(&m.entry.ndn) {
            // A rename onto another entry's DN: the add/add order decides; a loser stays
            // where it is here (the rename is dropped).
            return match add_add(m.entry, other, i) {
                (Verdict::Shadow(_), r) => (Verdict::Skip, r),
                decided => decided,
            };
        }
    }
    let resolution = if !m.dropped.is_empty() {
        let kept = m.dropped.iter().map(|(_, c)| c.as_str()).max().unwrap_or_default();
        let attrs = m.dropped.iter().map(|(a, _)| a.clone()).collect();
        conflict("a later change of these attributes is here", kept, i, m.changed, attrs)
    } else if m.changed {
        Resolution::Apply
    } else {
        Resolution::Duplicate
    };
    (if m.changed { Verdict::Write(m.entry) } else { Verdict::Skip }, resolution)
}

/// An entry not here (new, or back after a delete): written unless another entry holds
/// its DN and was created first.
fn place(entry: Entry, here: &Landing<'_>) -> (Verdict, Resolution) {
    match here.other_at(&entry.ndn) {
        Some(other) => {
            let i = csn_of(&entry).to_string();
            add_add(entry, other, &i)
        }
        None => (Verdict::Write(entry), Resolution::Apply),
    }
}

/// Whether `a` was created before `b`: of two entries added at one DN, `a` stays.
pub fn created_before(a: &Entry, b: &Entry) -> bool {
    creation_key(a) < creation_key(b)
}

/// The add/add rule: `entry` lands on another entry's DN. The loser is shadowed, not
/// dropped: it takes the DN should the winner leave it.
fn add_add(entry: Entry, other: &Entry, i: &str) -> (Verdict, Resolution) {
    const WHY: &str = "two entries at one DN: the one created first stays";
    if created_before(&entry, other) {
        let r = conflict(WHY, csn_of(&entry), csn_of(other), true, Vec::new());
        (Verdict::Write(entry), r)
    } else {
        (Verdict::Shadow(entry), conflict(WHY, csn_of(other), i, false, Vec::new()))
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
                conflict("the entry changed after the delete: it stays", l, d, false, Vec::new())
            }
        }
        // Shadowed here (an add/add loser, no delete CSN): alive unless the delete is as
        // late as its last change, like an entry that is here.
        None if here.tombstone == Some("") && here.tomb_state.is_some() => {
            let l = here.tomb_state.map(csn_of).unwrap_or_default();
            if d >= l {
                Resolution::Apply
            } else {
                conflict("the entry changed after the delete: it stays", l, d, false, Vec::new())
            }
        }
        None if csn::covers(here.context, d) || here.tombstone.is_some_and(|t| t >= d) => Resolution::Duplicate,
        // Not here: only the tombstone is written.
        None => Resolution::Apply,
    }
}

fn conflict(reason: &'static str, kept: &str, dropped: &str, applied: bool, attrs: Vec<String>) -> Resolution {
    Resolution::Conflict { reason, kept: kept.to_string(), dropped: dropped.to_string(), applied, attrs }
}

#[cfg(test)]
mod tests {
    use super::*;
    use birch_store::attr_csn::record_change;
    use birch_store::changes::set_entry_csn;
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

    fn land<'a>(same: Option<&'a Entry>, others: &'a [Entry], tomb: Option<&'a str>) -> Landing<'a> {
        Landing { same, others, tombstone: tomb, tomb_state: None, context: &[] }
    }

    fn resolution(v: (Verdict, Resolution)) -> Resolution {
        v.1
    }

    #[test]
    fn the_latest_version_wins_and_duplicates_are_quiet() {
        let (a1, b2) = (csn_at(1, 1), csn_at(2, 2));
        let old = entry("cn=x", 1, &a1, 1);
        let mut new = entry("cn=x", 1, &b2, 1);
        new.add_values("description", "description", [b"d".to_vec()]);
        record_change(&old, &mut new, &b2);
        assert_eq!(resolution(on_entry(&new, &land(Some(&old), &[], None))), Resolution::Apply);
        // The older version brings nothing: its description was never set.
        assert_eq!(resolution(on_entry(&old, &land(Some(&new), &[], None))), Resolution::Duplicate);
        assert!(matches!(on_entry(&new, &land(Some(&new), &[], None)), (Verdict::Skip, Resolution::Duplicate)));
        // Not here, no tombstone: placed, even though the context covers it (an add/add
        // loser shadowed elsewhere before it was ever sent, and sent when it took the DN).
        let ctx = vec![a1.clone()];
        let here = Landing { same: None, others: &[], tombstone: None, tomb_state: None, context: &ctx };
        assert_eq!(resolution(on_entry(&old, &here)), Resolution::Apply);
    }

    #[test]
    fn deletes_win_when_later_and_lose_to_later_changes() {
        let (m1, d2, m3) = (csn_at(1, 1), csn_at(2, 2), csn_at(3, 1));
        let e1 = entry("cn=x", 1, &m1, 1);
        let e3 = entry("cn=x", 1, &m3, 1);
        assert_eq!(on_delete(Some(&d2), &land(Some(&e1), &[], None)), Resolution::Apply);
        assert!(matches!(on_delete(Some(&d2), &land(Some(&e3), &[], None)), Resolution::Conflict { .. }));
        // An older change meets the tombstone: it joins the state, the entry stays deleted.
        let e1b = entry("cn=x", 1, &csn_at(1, 3), 1);
        assert!(matches!(
            on_entry(&e1b, &land(None, &[], Some(&d2))),
            (Verdict::Bury(_), Resolution::Conflict { applied: false, .. })
        ));
        assert!(matches!(on_entry(&e3, &land(None, &[], Some(&d2))), (Verdict::Write(_), Resolution::Apply)));
    }

    #[test]
    fn of_two_adds_at_one_dn_the_first_created_stays() {
        let first = entry("cn=x", 1, &csn_at(5, 1), 1);
        let second = entry("cn=x", 2, &csn_at(4, 2), 2);
        let o = [second.clone()];
        assert!(matches!(
            on_entry(&first, &land(None, &o, None)),
            (Verdict::Write(_), Resolution::Conflict { applied: true, .. })
        ));
        let o = [first];
        assert!(matches!(
            on_entry(&second, &land(None, &o, None)),
            (Verdict::Shadow(_), Resolution::Conflict { applied: false, .. })
        ));
    }

    /// An operation a server makes on its own state.
    #[derive(Debug, Clone)]
    enum Op {
        /// Add entry `uuid` (if it is not there).
        Add { uuid: u8 },
        /// Set attribute `attr` of entry `uuid` to `value` (or remove it: value 0).
        Set { uuid: u8, attr: u8, value: u8 },
        /// Rename entry `uuid` to its DN number `to`.
        Rename { uuid: u8, to: u8 },
        /// Delete entry `uuid`.
        Delete { uuid: u8 },
    }

    /// A change as sent to the peers: a version of an entry, or a delete.
    #[derive(Debug, Clone)]
    enum Message {
        Version(Entry),
        Delete { uuid: u8, csn: String },
    }

    /// A model server: entries by entryUUID, tombstones with their states; local writes
    /// record attribute CSNs as the store does, peers' changes go through the real rules.
    #[derive(Default, Debug, Clone)]
    struct Model {
        entries: BTreeMap<u8, Entry>,
        tombs: BTreeMap<u8, (String, Option<Entry>)>,
    }

    fn uuid_of(e: &Entry) -> u8 {
        e.get("entryuuid").map_or(0, |a| a.values[0][0] - b'0')
    }

    fn dn_of(shared: bool, uuid: u8, n: u8) -> String {
        if shared {
            "cn=shared".to_string()
        } else {
            format!("cn=u{uuid}n{n}")
        }
    }

    impl Model {
        fn delete_local(&mut self, uuid: u8, csn: &str) {
            if let Some(old) = self.entries.remove(&uuid) {
                self.tombs.insert(uuid, (csn.to_string(), Some(old)));
            }
        }

        /// A local write at `csn`; returns the message for the peers.
        fn local(&mut self, op: &Op, csn: &str, created: u8, shared: bool) -> Option<Message> {
            let uuid = match op {
                Op::Add { uuid } | Op::Set { uuid, .. } | Op::Rename { uuid, .. } | Op::Delete { uuid } => *uuid,
            };
            let old = self.entries.get(&uuid).cloned();
            let new = match (op, old.as_ref()) {
                (Op::Add { .. }, None) => {
                    let dn = dn_of(shared, uuid, 0);
                    if self.entries.values().any(|e| e.ndn == dn) || self.tombs.contains_key(&uuid) {
                        return None;
                    }
                    let e = entry(&dn, uuid, csn, created);
                    self.entries.insert(uuid, e.clone());
                    return Some(Message::Version(e));
                }
                (Op::Set { attr, value, .. }, Some(o)) => {
                    let mut e = o.clone();
                    let name = format!("a{attr}");
                    let values = if *value == 0 { vec![] } else { vec![vec![b'0' + value]] };
                    e.replace_values(&name, &name, values);
                    e
                }
                (Op::Rename { to, .. }, Some(o)) if !shared => {
                    let mut e = o.clone();
                    e.dn = dn_of(shared, uuid, *to);
                    e.ndn = e.dn.clone();
                    e
                }
                (Op::Delete { .. }, Some(_)) => {
                    self.delete_local(uuid, csn);
                    return Some(Message::Delete { uuid, csn: csn.to_string() });
                }
                _ => return None,
            };
            let old = old?;
            let mut new = new;
            set_entry_csn(&mut new, csn);
            record_change(&old, &mut new, csn);
            self.entries.insert(uuid, new.clone());
            Some(Message::Version(new))
        }

        fn receive(&mut self, m: &Message) {
            match m {
                Message::Version(incoming) => {
                    let uuid = uuid_of(incoming);
                    let same = self.entries.get(&uuid).cloned();
                    let (tomb, state) = match (&same, self.tombs.get(&uuid)) {
                        (None, Some((t, s))) => (Some(t.clone()), s.clone()),
                        _ => (None, None),
                    };
                    let ndns: Vec<String> =
                        [Some(&incoming.ndn), same.as_ref().map(|e| &e.ndn), state.as_ref().map(|e| &e.ndn)]
                            .into_iter()
                            .flatten()
                            .cloned()
                            .collect();
                    let others: Vec<Entry> = self
                        .entries
                        .iter()
                        .filter(|(u, e)| **u != uuid && ndns.contains(&e.ndn))
                        .map(|(_, e)| e.clone())
                        .collect();
                    let here = Landing {
                        same: same.as_ref(),
                        others: &others,
                        tombstone: tomb.as_deref(),
                        tomb_state: state.as_ref(),
                        context: &[],
                    };
                    match on_entry(incoming, &here).0 {
                        Verdict::Skip => {}
                        Verdict::Write(e) => {
                            let gone: Vec<u8> = self
                                .entries
                                .iter()
                                .filter(|(u, o)| **u != uuid && o.ndn == e.ndn)
                                .map(|(u, _)| *u)
                                .collect();
                            for u in gone {
                                if let Some(o) = self.entries.remove(&u) {
                                    self.tombs.insert(u, (String::new(), Some(o)));
                                }
                            }
                            self.tombs.remove(&uuid);
                            self.entries.insert(uuid, e);
                        }
                        Verdict::Bury(state) => {
                            if let Some(t) = self.tombs.get_mut(&uuid) {
                                t.1 = Some(state);
                            }
                        }
                        Verdict::Shadow(state) => {
                            self.tombs.insert(uuid, (String::new(), Some(state)));
                        }
                    }
                }
                Message::Delete { uuid, csn } => {
                    let same = self.entries.get(uuid).cloned();
                    let (tomb, state) = match (&same, self.tombs.get(uuid)) {
                        (None, Some((t, s))) => (Some(t.clone()), s.clone()),
                        _ => (None, None),
                    };
                    let here = Landing {
                        same: same.as_ref(),
                        others: &[],
                        tombstone: tomb.as_deref(),
                        tomb_state: state.as_ref(),
                        context: &[],
                    };
                    let r = on_delete(Some(csn), &here);
                    if r.applies() {
                        if same.is_some() {
                            self.delete_local(*uuid, csn);
                        } else {
                            let t = self.tombs.entry(*uuid).or_insert((String::new(), None));
                            t.0 = csn.clone();
                        }
                    }
                }
            }
        }

        /// What `Store::promote_shadows` does: of the entries shadowed at a DN and the one
        /// there, the first created holds it.
        fn promote_shadows(&mut self) {
            let mut waiting: BTreeMap<String, Vec<(u8, Entry)>> = BTreeMap::new();
            for (u, (t, state)) in &self.tombs {
                if let (true, Some(s)) = (t.is_empty(), state) {
                    waiting.entry(s.ndn.clone()).or_default().push((*u, s.clone()));
                }
            }
            for (ndn, w) in waiting {
                let mut best = 0;
                for i in 1..w.len() {
                    if created_before(&w[i].1, &w[best].1) {
                        best = i;
                    }
                }
                let (u, e) = w[best].clone();
                let occupant = self.entries.iter().find(|(_, o)| o.ndn == ndn).map(|(u, o)| (*u, o.clone()));
                if let Some((ou, o)) = occupant {
                    if !created_before(&e, &o) {
                        continue;
                    }
                    self.entries.remove(&ou);
                    self.tombs.insert(ou, (String::new(), Some(o)));
                }
                self.tombs.remove(&u);
                self.entries.insert(u, e);
            }
        }

        /// The entries, bookkeeping included, in a comparable form.
        fn dump(&self) -> BTreeMap<u8, Dumped> {
            self.entries
                .iter()
                .map(|(u, e)| {
                    let mut attrs: Vec<(String, Vec<Vec<u8>>)> = e
                        .attrs
                        .iter()
                        .map(|a| {
                            let mut v = a.values.clone();
                            v.sort();
                            (a.canonical.clone(), v)
                        })
                        .collect();
                    attrs.sort();
                    (*u, (e.dn.clone(), attrs))
                })
                .collect()
        }
    }

    /// An entry as compared: its DN and its sorted attributes with sorted values.
    type Dumped = (String, Vec<(String, Vec<Vec<u8>>)>);

    /// A step of a run: server `at` makes `op`, or receives its pending message number `pick`.
    #[derive(Debug, Clone)]
    enum Step {
        Local { at: usize, op: Op },
        Deliver { at: usize, pick: usize },
    }

    fn steps(shared: bool) -> impl Strategy<Value = Vec<Step>> {
        let op = prop_oneof![
            (0u8..3).prop_map(|uuid| Op::Add { uuid }),
            (0u8..3, 0u8..3, 0u8..3).prop_map(|(uuid, attr, value)| Op::Set { uuid, attr, value }),
            (0u8..3, 0u8..2).prop_map(move |(uuid, to)| if shared {
                Op::Add { uuid }
            } else {
                Op::Rename { uuid, to }
            }),
            (0u8..3).prop_map(|uuid| Op::Delete { uuid }),
        ];
        let step = prop_oneof![
            (0usize..3, op).prop_map(|(at, op)| Step::Local { at, op }),
            (0usize..3, any::<usize>()).prop_map(|(at, pick)| Step::Deliver { at, pick }),
        ];
        prop::collection::vec(step, 1..40)
    }

    /// Three servers make changes and receive each other's in any order (each message
    /// possibly twice); once everything is delivered they hold the same entries.
    fn converge(run: &[Step], shared: bool, seed: u64) -> Result<(), TestCaseError> {
        let mut servers = vec![Model::default(), Model::default(), Model::default()];
        let mut inbox: Vec<Vec<Message>> = vec![Vec::new(), Vec::new(), Vec::new()];
        // Every server starts with entry 0 as created by server 0 and known to all.
        let e0 = entry(&dn_of(shared, 0, 0), 0, &csn_at(0, 1), 0);
        for s in &mut servers {
            s.entries.insert(0, e0.clone());
        }
        let mut created = std::collections::HashSet::from([0u8]);
        for (t, step) in run.iter().enumerate() {
            match step {
                Step::Local { at, op } => {
                    // An entryUUID is created once, on one server.
                    if let Op::Add { uuid } = op {
                        if !created.insert(*uuid) {
                            continue;
                        }
                    }
                    let csn = csn_at(t as u64 + 1, *at as u16 + 1);
                    if let Some(m) = servers[*at].local(op, &csn, t as u8 + 1, shared) {
                        for (i, b) in inbox.iter_mut().enumerate() {
                            if i != *at {
                                b.push(m.clone());
                            }
                        }
                    }
                }
                Step::Deliver { at, pick } => {
                    if !inbox[*at].is_empty() {
                        let n = inbox[*at].len();
                        let m = inbox[*at].remove(pick % n);
                        servers[*at].receive(&m);
                        if pick % 3 == 0 {
                            servers[*at].promote_shadows();
                        }
                        if pick % 5 == 0 {
                            // Delivered again later (through another peer).
                            inbox[*at].push(m);
                        }
                    }
                }
            }
        }
        let mut s = seed;
        for (at, b) in inbox.iter_mut().enumerate() {
            while !b.is_empty() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let m = b.remove((s >> 33) as usize % b.len());
                servers[at].receive(&m);
            }
        }
        for s in &mut servers {
            s.promote_shadows();
        }
        prop_assert_eq!(servers[0].dump(), servers[1].dump());
        prop_assert_eq!(servers[0].dump(), servers[2].dump());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn modifies_renames_and_deletes_converge_in_any_order(run in steps(false), seed in any::<u64>()) {
            converge(&run, false, seed)?;
        }

        #[test]
        fn adds_at_one_dn_converge_in_any_order(run in steps(true), seed in any::<u64>()) {
            converge(&run, true, seed)?;
        }
    }
}
