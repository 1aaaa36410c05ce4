//! The operational-attributes stage: what the server maintains on every write (RFC 4512 section 3.4,
//! RFC 4530): entryUUID, creatorsName, createTimestamp, modifiersName, modifyTimestamp.

use birch_schema::{gtime, Schema};
use birch_store::Entry;

fn set(e: &mut Entry, name: &str, value: String) {
    e.replace_values(name, &name.to_ascii_lowercase(), [value.into_bytes()]);
}

/// Stamps a new entry: a fresh entryUUID, creator and modifier, creation and modification
/// times (values already present, e.g. from an import of `slapcat` output, are kept).
pub fn on_add(e: &mut Entry, by: &str) {
    let now = gtime::now();
    if e.get("entryuuid").is_none() {
        set(e, "entryUUID", uuid::Uuid::new_v4().to_string());
    }
    for (name, value) in [
        ("creatorsName", by.to_string()),
        ("createTimestamp", now.clone()),
        ("modifiersName", by.to_string()),
        ("modifyTimestamp", now),
    ] {
        if e.get(&name.to_ascii_lowercase()).is_none() {
            set(e, name, value);
        }
    }
}

/// Stamps a changed entry with its modifier and modification time.
pub fn on_modify(e: &mut Entry, by: &str) {
    set(e, "modifiersName", by.to_string());
    set(e, "modifyTimestamp", gtime::now());
}

/// The NO-USER-MODIFICATION attribute a client tried to provide, if any.
pub fn forbidden_in_add<'a>(names: impl IntoIterator<Item = &'a str>, schema: &Schema) -> Option<&'a str> {
    names.into_iter().find(|n| schema.attr(n).is_some_and(|t| t.no_user_modification))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_stamps_without_overwriting_imported_values() {
        let mut e = Entry::default();
        e.add_values("createTimestamp", "createtimestamp", [b"20200101000000Z".to_vec()]);
        on_add(&mut e, "cn=admin");
        assert_eq!(e.get("createtimestamp").unwrap().values, vec![b"20200101000000Z".to_vec()]);
        assert_eq!(e.get("creatorsname").unwrap().values, vec![b"cn=admin".to_vec()]);
        assert_eq!(e.get("entryuuid").unwrap().values[0].len(), 36);
        let uuid = e.get("entryuuid").unwrap().values.clone();
        on_modify(&mut e, "uid=bob");
        assert_eq!(e.get("modifiersname").unwrap().values, vec![b"uid=bob".to_vec()]);
        assert_eq!(e.get("entryuuid").unwrap().values, uuid);
    }
}
