//! The changes the write pipeline applies, in Birch's own terms: what the LDAP codec's
//! requests, LDIF change records, the bind's bookkeeping and the replication consumer turn
//! into. ldap3_proto's wire structs stop at the operation handlers (`ops/`).

use birch_store::{Entry, Filter};
use std::time::SystemTime;

/// What a modification does (RFC 4511 section 4.6, RFC 4525 increment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModOp {
    /// Add values.
    Add,
    /// Delete the values given (all values when none are given).
    Delete,
    /// Replace all values with those given.
    Replace,
    /// Add the one integer value given to every value.
    Increment,
}

/// One modification of a Modify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mod {
    /// What it does.
    pub op: ModOp,
    /// The attribute description as the requester wrote it.
    pub attr: String,
    /// The values.
    pub values: Vec<Vec<u8>>,
}

/// A change to the tree.
#[derive(Debug, Clone)]
pub enum Change {
    /// Add an entry; attributes as the requester listed them.
    Add {
        /// The new entry's DN.
        dn: String,
        /// Attribute descriptions with their values.
        attrs: Vec<(String, Vec<Vec<u8>>)>,
    },
    /// Delete a leaf entry (or a subtree, with [`Options::tree_delete`]).
    Delete {
        /// The entry's DN.
        dn: String,
    },
    /// Modify an entry's attributes, all or nothing.
    Modify {
        /// The entry's DN.
        dn: String,
        /// The modifications, applied in order.
        mods: Vec<Mod>,
    },
    /// Rename and/or move an entry with its subtree (Modify DN).
    Rename {
        /// The entry's DN.
        dn: String,
        /// The new RDN.
        new_rdn: String,
        /// Whether the old RDN's values are removed.
        delete_old: bool,
        /// The new parent, if it moves.
        new_superior: Option<String>,
    },
    /// Set a password (RFC 3062 Password Modify): `old` is verified when given (a wrong one
    /// counts as a failed bind); `new` is the cleartext new password.
    SetPassword {
        /// The account's DN.
        dn: String,
        /// The old password as the requester gave it.
        old: Option<Vec<u8>>,
        /// The new password.
        new: Vec<u8>,
    },
}

impl Change {
    /// The target DN as the requester wrote it.
    pub fn dn(&self) -> &str {
        match self {
            Change::Add { dn, .. }
            | Change::Delete { dn }
            | Change::Modify { dn, .. }
            | Change::Rename { dn, .. }
            | Change::SetPassword { dn, .. } => dn,
        }
    }

    /// The kind, as the audit log names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Add { .. } => "add",
            Change::Delete { .. } => "delete",
            Change::Modify { .. } => "modify",
            Change::Rename { .. } => "modrdn",
            Change::SetPassword { .. } => "password_modify",
        }
    }
}

/// Controls that change how a write runs.
#[derive(Default)]
pub struct Options {
    /// The Assertion control's filter (RFC 4528): the change goes ahead only if the entry
    /// matches it (122 assertionFailed).
    pub assertion: Option<Filter>,
    /// Permissive Modify: adding a present value or deleting an absent one is no error.
    pub permissive: bool,
    /// Tree Delete: a delete takes the whole subtree.
    pub tree_delete: bool,
}

/// What a successful write did: the target before and after (for Pre-/Post-Read).
#[derive(Debug, Default)]
pub struct Done {
    /// The entry before the change (modify, rename, delete, password).
    pub before: Option<Entry>,
    /// The entry after the change (add, modify, rename, password).
    pub after: Option<Entry>,
}

/// The server's own bookkeeping on an account, written by [`crate::write::Actor::Server`].
#[derive(Debug, Clone)]
pub enum Bookkeeping {
    /// A failed bind (or wrong old password) under `policy`: failure times, and a lock
    /// when they reach pwdMaxFailure.
    Failure {
        /// The policy in force for the account.
        policy: crate::ppolicy::Policy,
        /// When it failed.
        now: SystemTime,
    },
    /// What a successful bind changes: failures forgotten, an expired lock lifted, a grace
    /// bind counted; and the last-bind time when it is due.
    Success {
        /// What the bind decided.
        success: crate::ppolicy::Success,
        /// When it succeeded.
        now: SystemTime,
        /// Record `now` in pwdLastSuccess too (see [`crate::write::lastbind`]).
        last_bind: bool,
    },
    /// A legacy hash that verified replaced by an argon2id hash of the same password.
    Rehash {
        /// The stored value that matched.
        old: Vec<u8>,
        /// Its replacement.
        new: Vec<u8>,
    },
}

/// A write the replication consumer applies as the provider sent it.
#[derive(Debug)]
pub enum Replicated {
    /// Add or replace the entry with this entryUUID (and the consumer's cookie with it).
    Entry {
        /// The entry, with the provider's operational attributes.
        entry: Entry,
        /// The cookie to keep with it.
        cookie: Option<Vec<u8>>,
    },
    /// Delete the entry with this entryUUID (and its subtree).
    Delete {
        /// The entryUUID.
        uuid: [u8; 16],
        /// The cookie to keep with it.
        cookie: Option<Vec<u8>>,
    },
    /// Delete what is held under `base_ndn` and was not named in a present phase.
    DeleteAbsent {
        /// The sync search's base.
        base_ndn: String,
        /// The entryUUIDs the provider named.
        present: std::collections::HashSet<[u8; 16]>,
    },
    /// Keep a new cookie (and the provider's contextCSN).
    Cookie {
        /// The cookie.
        cookie: Vec<u8>,
        /// The contextCSN it carries.
        csn: Option<String>,
    },
}
