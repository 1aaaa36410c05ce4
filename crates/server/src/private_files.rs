//! Files only the server's user may read. The store, the audit log, backups and exports
//! hold password hashes and personal data, so Birch creates every file and directory
//! without group or other permissions (0600 and 0700), whatever the umask it was started
//! with: the packaged unit sets `UMask=0077`, and [`restrict_umask`] makes a server started
//! by hand (umask 022) do the same, which also covers what sled creates. Files Birch opens
//! itself (the audit log, backups) are created with mode 0600 explicitly too.

use std::path::Path;

/// The umask every birch command runs with: nothing for group and others.
pub const UMASK: u32 = 0o077;

/// The mode of files Birch creates.
pub const FILE_MODE: u32 = 0o600;

/// Sets the process's umask to [`UMASK`] (before anything is created).
#[cfg(unix)]
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK));
}

/// No umask outside Unix.
#[cfg(not(unix))]
pub fn restrict_umask() {}

/// Why `path` (an existing directory or file) is open to others, if it is: its mode grants
/// group or other users some access. A data directory made before this version, or by hand,
/// may be; Birch does not change it, but says so.
#[cfg(unix)]
pub fn open_to_others(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| format!("{} has mode {mode:04o}: other users may read it (chmod 700)", path.display()))
}

/// Nothing to check outside Unix.
#[cfg(not(unix))]
pub fn open_to_others(_: &Path) -> Option<String> {
    None
}

/// Options that create a file with mode [`FILE_MODE`] (Unix) for writing.
pub fn create_options() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, FILE_MODE);
    o
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_files_are_private_and_shared_ones_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        create_options().truncate(true).open(&f).unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(open_to_others(&f).is_none());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(open_to_others(&f).is_some_and(|w| w.contains("0644")));
    }
}
