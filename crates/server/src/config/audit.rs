//! `[audit]`: where the audit log (`crate::audit`) goes and how it rotates.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[audit]`: where audit records go.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSection {
    /// The audit file; unset: `audit.log` in the data directory. An empty path turns the
    /// audit log off.
    pub file: Option<PathBuf>,
    /// Rotate when the file grows past this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: u32,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection { file: None, max_bytes: 100 << 20, keep: 10 }
    }
}

impl AuditSection {
    /// The audit file for a data directory (None: off).
    pub fn path(&self, data_dir: &Path) -> Option<PathBuf> {
        match &self.file {
            Some(p) if p.as_os_str().is_empty() => None,
            Some(p) => Some(p.clone()),
            None => Some(data_dir.join("audit.log")),
        }
    }
}
