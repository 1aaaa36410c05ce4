//! What a commit tells its observers (see [`crate::hooks`]; the server's change feed, which
//! the provider's refreshAndPersist searches listen to): every committed write, in commit
//! order; and the meta keys of the replication state.

/// Meta key of the store's contextCSN: the CSN of the last committed change.
pub const META_CONTEXT_CSN: &str = "context_csn";
/// Meta key of a replica's sync cookie (what it last received from its provider).
pub const META_SYNC_COOKIE: &str = "sync_cookie";

/// Meta key of the contextCSN set of a multi-provider server: one CSN per server id
/// (`;`-separated), each the newest change of that server known to be here.
pub const META_CONTEXT_CSNS: &str = "context_csns";
/// Meta key prefix of a tombstone (a multi-provider server remembers deleted entryUUIDs
/// with the CSN of their delete, so an older change arriving later cannot bring them back).
pub const META_TOMB_PREFIX: &[u8] = b"tomb:";
/// Meta key prefix of a tombstone's state: the deleted entry as it was, merged with every
/// peer's change of it that arrived after the delete and lost to it; a change later than
/// the delete brings the entry back as that state merged with the change (so every server
/// ends with the same entry, whatever the order the changes arrive in).
pub const META_TOMB_STATE_PREFIX: &[u8] = b"tombstate:";
/// Meta key prefix of a shadowed entry: one that lost an add/add conflict to an entry
/// created before it at its DN, kept as a tombstone with an empty CSN and its state, and
/// indexed here by DN (`shadow:<ndn>\0<entryUUID>`) so that it takes the DN when the
/// winner leaves it (every server does the same, whatever order the changes arrive in).
pub const META_SHADOW_PREFIX: &[u8] = b"shadow:";

/// The meta key indexing a shadowed entry.
pub fn shadow_key(ndn: &str, uuid: &[u8; 16]) -> Vec<u8> {
    [META_SHADOW_PREFIX, ndn.as_bytes(), b"\0", uuid.as_slice()].concat()
}

/// Meta key of the CSN of the last offline load (see `Store::sync_epoch`).
pub const META_SYNC_EPOCH: &str = "sync_epoch";

/// One committed write: its CSN and every entry it changed.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    /// The largest CSN of the write.
    pub csn: String,
    /// The entries changed, parents before children (children before parents for
    /// deletes), each with its CSN.
    pub items: Vec<ChangeItem>,
    /// The contextCSN set after this write, on a multi-provider server (empty otherwise):
    /// what a consumer may store as its cookie once it has applied this write.
    pub context: Vec<String>,
}

/// One entry a write changed.
#[derive(Debug, Clone)]
pub struct ChangeItem {
    /// The entry's id.
    pub id: u64,
    /// Its entryUUID (16 bytes), if it has one.
    pub uuid: Option<[u8; 16]>,
    /// The CSN of this entry's change (its new entryCSN; every entry a write changes has
    /// its own, in the order of the items).
    pub csn: String,
    /// Its normalized DN before the write (`None`: added).
    pub old_ndn: Option<String>,
    /// Its normalized DN after the write (`None`: deleted).
    pub new_ndn: Option<String>,
}

/// The entryUUID of an entry as 16 bytes.
pub fn entry_uuid(e: &crate::Entry) -> Option<[u8; 16]> {
    let v = e.get("entryuuid")?.values.first()?;
    parse_uuid(v)
}

/// Parses an entryUUID value (the RFC 4122 string form).
pub fn parse_uuid(v: &[u8]) -> Option<[u8; 16]> {
    let s = std::str::from_utf8(v).ok()?;
    uuid::Uuid::parse_str(s).ok().map(|u| *u.as_bytes())
}

/// Sets the entryCSN of an entry, in place if it has one (so that re-stamping keeps the
/// order of its attributes, and an export re-imports byte for byte).
pub fn set_entry_csn(e: &mut crate::Entry, csn: &str) {
    match e.get_mut("entrycsn") {
        Some(a) => a.values = vec![csn.as_bytes().to_vec()],
        None => e.add_values("entryCSN", "entrycsn", [csn.as_bytes().to_vec()]),
    }
}

/// The entryCSN of an entry.
pub fn entry_csn(e: &crate::Entry) -> Option<&str> {
    std::str::from_utf8(e.get("entrycsn")?.values.first()?).ok()
}
