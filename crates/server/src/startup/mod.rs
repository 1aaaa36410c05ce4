//! What `birch serve` (and the offline commands) settle about the data directory before
//! anything is served: the data directory can be used ([`data_dir`]), it holds the suffix
//! the configuration names ([`suffix`]), and which root password is in force
//! ([`root_password`]). Nothing here writes entries: the suffix entry is the write
//! pipeline's (`write::placeholder`).

pub mod data_dir;
pub mod root_password;
pub mod suffix;

use crate::config::Config;
use anyhow::{bail, Result};

/// Checks what the configuration names outside the store that a start would otherwise
/// find only after creating the data directory: the audit log's directory (the log file
/// itself is created by the start).
pub fn check_paths(cfg: &Config) -> Result<()> {
    if let Some(path) = cfg.audit.path(&cfg.data_dir) {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        // The data directory (and what is below it) is created by the start.
        if !parent.starts_with(&cfg.data_dir) && !parent.is_dir() {
            bail!("audit.file {}: the directory {} does not exist", path.display(), parent.display());
        }
    }
    Ok(())
}
