//! The suffix entry a first start creates is a placeholder: the store's meta records its
//! entryCSN ([`META_PLACEHOLDER`]). While the entry is that untouched placeholder (same
//! entryCSN) and has no children, an add of the suffix entry replaces it instead of failing
//! with entryAlreadyExists (68), so that `ldapadd -f export.ldif` (whose first record is the
//! suffix entry) loads a whole tree onto a new server, as it does onto an empty slapd
//! database. Once anything is written to or below it, the suffix entry is an entry like any
//! other. The replacement keeps the placeholder's entryUUID: for replicas and sync searches
//! it is a change of the same entry.

use birch_store::{Entry, Store, StoreError};

/// Meta key holding the entryCSN of the placeholder suffix entry while it is one.
pub const META_PLACEHOLDER: &str = "suffix_placeholder";

/// Marks the suffix entry just created (`suffix_ndn`) as the placeholder.
pub fn mark(store: &Store, suffix_ndn: &str) -> Result<(), StoreError> {
    let Some((_, e)) = store.get_by_ndn(suffix_ndn)? else { return Ok(()) };
    match birch_store::changes::entry_csn(&e) {
        Some(csn) => store.meta_set(META_PLACEHOLDER, csn.as_bytes()),
        None => Ok(()),
    }
}

/// Whether the entry `ndn` is the untouched placeholder: marked, the same entryCSN, and no
/// children.
pub fn is_placeholder(store: &Store, ndn: &str) -> Result<bool, StoreError> {
    let Some(mark) = store.meta_get(META_PLACEHOLDER)? else { return Ok(false) };
    let Some((id, e)) = store.get_by_ndn(ndn)? else { return Ok(false) };
    Ok(untouched(&e, &mark) && !store.has_children(id)?)
}

fn untouched(e: &Entry, mark: &[u8]) -> bool {
    birch_store::changes::entry_csn(e).is_some_and(|csn| csn.as_bytes() == mark)
}

/// Replaces the placeholder suffix entry with `new` (same DN) when it is still the untouched
/// placeholder, in one transaction under the store's writer lock (checked there, so a child
/// added meanwhile makes it an ordinary entry: entryAlreadyExists). Returns the entry as
/// stored, or `None` when nothing is marked as a placeholder (the add goes on as usual).
pub fn replace(store: &Store, new: &Entry) -> Result<Option<Entry>, StoreError> {
    let Some(mark) = store.meta_get(META_PLACEHOLDER)? else { return Ok(None) };
    let Some(id) = store.id_of(&new.ndn)? else { return Ok(None) };
    let (_, after) = store.modify(&new.ndn, |cur| {
        if !untouched(cur, &mark) || store.has_children(id)? {
            return Err(StoreError::AlreadyExists(cur.dn.clone()));
        }
        let uuid = cur.get("entryuuid").cloned();
        cur.attrs.clone_from(&new.attrs);
        if let Some(uuid) = uuid {
            cur.replace_values(&uuid.name, &uuid.canonical, uuid.values);
        }
        Ok(())
    })?;
    store.meta_remove(META_PLACEHOLDER)?;
    Ok(Some(after))
}

/// Removes the placeholder suffix entry (when it still is one) before an offline import
/// loads the file's suffix entry in its place ([`crate::offline::import`]: nothing else
/// writes to the store meanwhile).
pub fn remove(store: &Store, suffix_ndn: &str) -> Result<(), StoreError> {
    if is_placeholder(store, suffix_ndn)? {
        store.delete(suffix_ndn)?;
        store.meta_remove(META_PLACEHOLDER)?;
    }
    Ok(())
}
