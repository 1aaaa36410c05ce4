//! The replication path of a multi-provider server ([`Actor::Replica`](super::Actor)
//! following a peer): each change a peer sends passes the conflict rule
//! ([`crate::replica::conflict`]) under the store's writer lock and is written with the
//! peer's contextCSN set in the same transaction; durable before the consumer reads on.

use super::{WriteError, Writer};
use crate::replica::conflict::{self, Resolution};
use birch_store::store::Verdict;
use birch_store::{Entry, Store};
use std::collections::HashSet;

/// Password-policy state and last-bind attributes: replicated unless
/// `replication.replicate_ppolicy_state = false`, when each server keeps its own.
pub const PPOLICY_STATE: &[&str] = &[
    "pwdfailuretime",
    "pwdaccountlockedtime",
    "pwdreset",
    "pwdhistory",
    "pwdchangedtime",
    "pwdlastsuccess",
    "pwdgraceusetime",
];

/// A change received from a peer.
#[derive(Debug)]
pub enum PeerChange {
    /// A version of an entry.
    Entry {
        /// The entry with the peer's operational attributes.
        entry: Entry,
        /// The peer's contextCSN set with it (empty during a refresh).
        context: Vec<String>,
        /// Keep this server's password-policy state on the entry.
        keep_ppolicy_state: bool,
    },
    /// A delete, with the delete's CSN if the peer sent it.
    Delete {
        /// The entryUUID.
        uuid: [u8; 16],
        /// The CSN of the delete.
        csn: Option<String>,
        /// The peer's contextCSN set with it.
        context: Vec<String>,
    },
    /// The end of a present phase: what the peer did not name and has seen goes.
    Absent {
        /// The sync search's base.
        base_ndn: String,
        /// The entryUUIDs the peer named.
        present: HashSet<[u8; 16]>,
        /// The peer's contextCSN set at the end of its refresh.
        context: Vec<String>,
    },
    /// The peer's contextCSN set (the end of a refresh, a new cookie).
    Context(Vec<String>),
}

impl Writer {
    /// Applies a peer's change: returns what the conflict rule decided (and, for
    /// [`PeerChange::Absent`], how many entries were deleted, as `Apply` repeated).
    /// Durable before it returns when `durable`.
    pub async fn replicate_peer(&self, change: PeerChange, durable: bool) -> Result<Vec<Resolution>, WriteError> {
        let write = move |store: &Store| -> Result<Vec<Resolution>, WriteError> {
            Ok(match change {
                PeerChange::Entry { mut entry, context, keep_ppolicy_state } => {
                    if keep_ppolicy_state {
                        keep_local_state(store, &mut entry)?;
                    }
                    let schema = store.schema();
                    vec![store.apply_peer_entry(entry, &context, |incoming, here| {
                        let (verdict, r) = conflict::on_entry(incoming, here);
                        let r = name_check(&verdict, r, schema);
                        (verdict, r)
                    })?]
                }
                PeerChange::Delete { uuid, csn, context } => {
                    vec![store.apply_peer_delete(&uuid, csn.as_deref(), &context, |here| {
                        let r = conflict::on_delete(csn.as_deref(), here);
                        (r.applies(), r)
                    })?]
                }
                PeerChange::Absent { base_ndn, present, context } => {
                    let n = store.apply_peer_absent(&base_ndn, &present, &context)?;
                    vec![Resolution::Apply; n]
                }
                PeerChange::Context(context) => {
                    store.merge_peer_context(&context)?;
                    Vec::new()
                }
            })
        };
        self.commit_if(durable, write).await
    }
}

impl Writer {
    /// Shadowed entries (add/add losers) take the DN they wait for where it is free or held
    /// by an entry created after them ([`Store::promote_shadows`]); durable before it
    /// returns. Returns how many came back.
    pub async fn promote_shadows(&self) -> Result<usize, WriteError> {
        self.commit_if(false, |store: &Store| {
            let n = store.promote_shadows(conflict::created_before)?;
            if n > 0 {
                store.sync()?;
            }
            Ok(n)
        })
        .await
    }
}

/// A merged entry whose RDN value is not among its values (a concurrent rename and change
/// of the naming attribute on two servers; both are kept) is reported as a conflict, so an
/// administrator puts the value back.
fn name_check(verdict: &Verdict, r: Resolution, schema: &birch_schema::Schema) -> Resolution {
    match verdict {
        Verdict::Write(e) if !crate::replica::merge::rdn_values_present(e, schema) => Resolution::Conflict {
            reason: "a concurrent rename and change left the entry's name out of its values",
            kept: birch_store::changes::entry_csn(e).unwrap_or_default().to_string(),
            dropped: String::new(),
            applied: true,
            attrs: Vec::new(),
        },
        _ => r,
    }
}

/// Replaces the password-policy state of a peer's entry with this server's.
fn keep_local_state(store: &Store, entry: &mut Entry) -> Result<(), WriteError> {
    let Some(uuid) = birch_store::changes::entry_uuid(entry) else { return Ok(()) };
    let local = match store.id_of_uuid(&uuid)? {
        Some(id) => store.get(id)?,
        None => None,
    };
    entry.attrs.retain(|a| !PPOLICY_STATE.contains(&a.canonical.as_str()));
    if let Some(local) = local {
        entry.attrs.extend(local.attrs.into_iter().filter(|a| PPOLICY_STATE.contains(&a.canonical.as_str())));
    }
    Ok(())
}
