//! The operational-attributes stage: what the server maintains on every write (RFC 4512 section 3.4,
//! RFC 4530): entryUUID, creatorsName, createTimestamp, modifiersName, modifyTimestamp; and
//! who disabled an account and when (birchDisabledBy, birchDisabledTime; docs/passwords.md).

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

/// Whether the entry is disabled: its pwdAccountLockedTime is the disabling value
/// (000001010000Z; [`crate::ppolicy::state::is_disabled_value`]).
pub fn is_disabled(e: &Entry) -> bool {
    e.get("pwdaccountlockedtime")
        .and_then(|a| a.values.first())
        .is_some_and(|v| crate::ppolicy::state::is_disabled_value(v))
}

/// Records who disabled an account: when a write leaves the entry disabled and it was not
/// before (`was_disabled`), birchDisabledBy is `by` and birchDisabledTime now; while it stays
/// disabled they are kept; when it is not disabled they are removed (so they are there
/// exactly while the account is disabled). birchDisabledReason is the administrator's and
/// stays as written.
pub fn on_disable(was_disabled: bool, e: &mut Entry, by: &str) {
    if !is_disabled(e) {
        e.replace_values("birchDisabledBy", "birchdisabledby", []);
        e.replace_values("birchDisabledTime", "birchdisabledtime", []);
    } else if !was_disabled {
        set(e, "birchDisabledBy", by.to_string());
        set(e, "birchDisabledTime", gtime::now());
    }
}

/// Forgets the failed binds when a write lifts a lock (`was_locked`, and the entry has no
/// pwdAccountLockedTime now): an administrator's unlock or enable. pwdFailureTime is
/// NO-USER-MODIFICATION, so the administrator cannot remove it; kept, the failures still in
/// pwdFailureCountInterval would lock the account again at the next failed bind.
/// (OpenLDAP's ppolicy clears them only when the password is changed; docs/passwords.md.)
pub fn on_unlock(was_locked: bool, e: &mut Entry) {
    if was_locked && e.get("pwdaccountlockedtime").is_none() && e.get("pwdfailuretime").is_some() {
        e.replace_values("pwdFailureTime", "pwdfailuretime", []);
    }
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

    #[test]
    fn lifting_a_lock_forgets_the_failures() {
        let mut e = Entry::default();
        e.add_values("pwdFailureTime", "pwdfailuretime", [b"20260101000000Z".to_vec()]);
        on_unlock(false, &mut e);
        assert!(e.get("pwdfailuretime").is_some(), "no lock lifted: failures stay");
        e.add_values("pwdAccountLockedTime", "pwdaccountlockedtime", [b"20260101000000Z".to_vec()]);
        on_unlock(true, &mut e);
        assert!(e.get("pwdfailuretime").is_some(), "still locked: failures stay");
        e.replace_values("pwdAccountLockedTime", "pwdaccountlockedtime", []);
        on_unlock(true, &mut e);
        assert!(e.get("pwdfailuretime").is_none());
    }

    #[test]
    fn disabling_is_recorded_while_it_lasts() {
        let by = |e: &Entry| e.get("birchdisabledby").map(|a| a.values.clone());
        let mut e = Entry::default();
        on_disable(false, &mut e, "cn=admin");
        assert_eq!(by(&e), None);
        e.replace_values("pwdAccountLockedTime", "pwdaccountlockedtime", [b"000001010000Z".to_vec()]);
        on_disable(false, &mut e, "uid=alice");
        assert_eq!(by(&e), Some(vec![b"uid=alice".to_vec()]));
        assert!(e.get("birchdisabledtime").is_some());
        // Still disabled: the first record stays.
        on_disable(true, &mut e, "uid=bob");
        assert_eq!(by(&e), Some(vec![b"uid=alice".to_vec()]));
        // A lock with a time is not a disabled account.
        e.replace_values("pwdAccountLockedTime", "pwdaccountlockedtime", [b"20260101000000Z".to_vec()]);
        on_disable(true, &mut e, "uid=bob");
        assert_eq!((by(&e), e.get("birchdisabledtime").is_some()), (None, false));
    }
}
