//! The suffix a data directory holds: recorded in the store's meta, and a start whose
//! `suffix` differs refuses to run (it would otherwise create a second root entry and serve
//! an empty tree).

use crate::config::Config;
use anyhow::{bail, Result};
use birch_schema::{Dn, Schema};
use birch_store::Store;

/// Meta key holding the suffix (as configured when it was recorded).
pub const META_SUFFIX: &str = "suffix";

/// Refuses `store` when it holds another suffix than `cfg` names; records the suffix of a
/// store that has entries but no record of it (a store from before it was recorded: the
/// suffix is its first root entry). An empty store takes any suffix.
pub fn check(store: &Store, cfg: &Config, schema: &Schema) -> Result<()> {
    let recorded = store.meta_get(META_SUFFIX)?.map(|v| String::from_utf8_lossy(&v).into_owned());
    let held = match &recorded {
        Some(s) => s.clone(),
        None => match store.first_root()? {
            Some(root) => root.dn,
            None => return Ok(()),
        },
    };
    if normalized(&held, schema) != normalized(&cfg.suffix, schema) {
        bail!(
            "the data directory {} holds the suffix {held:?}, but the config says suffix = {:?}: set suffix = {held:?} \
             (a data directory serves one suffix; to move to another, export, rewrite the DNs and import into a new \
             data_dir)",
            cfg.data_dir.display(),
            cfg.suffix
        );
    }
    if recorded.is_none() {
        store.meta_set(META_SUFFIX, held.as_bytes())?;
    }
    Ok(())
}

/// Records `suffix` as the store's suffix (when its entry has just been created).
pub fn record(store: &Store, suffix: &str) -> Result<()> {
    if store.meta_get(META_SUFFIX)?.is_none() {
        store.meta_set(META_SUFFIX, suffix.as_bytes())?;
    }
    Ok(())
}

/// The normalized form of a DN (the text lower-cased when it does not parse).
fn normalized(dn: &str, schema: &Schema) -> String {
    Dn::parse(dn).map(|d| d.normalize(schema)).unwrap_or_else(|_| dn.to_ascii_lowercase())
}
