//! Errors of opening the data directory, each as one line that names the directory and the
//! fix: the lock held by another process, permission denied.

use std::io::ErrorKind;
use std::path::Path;

/// Name of the pid file a running server keeps in the data directory.
pub const PID_FILE: &str = "birch.pid";

/// The error of creating the data directory `dir` (`create_dir_all`).
pub fn create_error(dir: &Path, e: &std::io::Error) -> anyhow::Error {
    if e.kind() == ErrorKind::PermissionDenied {
        return anyhow::anyhow!(
            "cannot create the data directory {}: permission denied — create it for the user birch runs as \
             (e.g. `install -d -m 0700 -o birch {}`) or run as a user that may write its parent",
            dir.display(),
            dir.display()
        );
    }
    anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display())
}

/// The error of opening the store in `dir`: a held lock and permission denied get their
/// own one-line message; anything else is shown with the store's own words.
pub fn open_error(dir: &Path, e: birch_store::StoreError) -> anyhow::Error {
    if e.is_lock_held() || e.io_kind() == Some(ErrorKind::WouldBlock) {
        let pid = lock_holder(dir).map(|p| format!(" (pid {p})")).unwrap_or_default();
        return anyhow::anyhow!("another birch process holds the lock on {}{pid}: stop it first", dir.display());
    }
    match e.io_kind() {
        Some(ErrorKind::PermissionDenied) => {
            let owner = owner_of(dir).map(|o| format!(" ({o})")).unwrap_or_default();
            anyhow::anyhow!(
                "cannot write {}: permission denied — run as the user that owns it{owner} or fix its permissions",
                dir.display()
            )
        }
        _ => anyhow::anyhow!("cannot open the store in {}: {e}", dir.display()),
    }
}

/// The process holding the store's lock (sled's `flock` on `<dir>/db`), from
/// `/proc/locks`, else from the pid file a running server writes.
fn lock_holder(dir: &Path) -> Option<u32> {
    lock_holder_from_proc(&dir.join("db")).or_else(|| {
        let text = std::fs::read_to_string(dir.join(PID_FILE)).ok()?;
        text.trim().parse().ok()
    })
}

/// The pid `/proc/locks` gives for a lock on `file` (Linux).
#[cfg(unix)]
fn lock_holder_from_proc(file: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(file).ok()?;
    let (dev, ino) = (m.dev(), m.ino());
    // The kernel's encoding of a device number (major, minor), as /proc/locks prints it.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        // `1: FLOCK  ADVISORY  WRITE 7128 fe:00:10010913 0 EOF`; waiters have `->` after the number.
        let fields: Vec<&str> = l.split_whitespace().filter(|f| *f != "->").collect();
        (fields.get(5) == Some(&want.as_str())).then(|| fields.get(4)?.parse().ok()).flatten()
    })
}

#[cfg(not(unix))]
fn lock_holder_from_proc(_: &Path) -> Option<u32> {
    None
}

/// Who owns the store in `dir` (its `db` file, else the directory): the user name from
/// /etc/passwd, else the uid.
#[cfg(unix)]
fn owner_of(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(dir.join("db")).or_else(|_| std::fs::metadata(dir)).ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid.to_string()).then(|| name.to_string())
    });
    Some(match name {
        Some(n) => format!("user {n}"),
        None => format!("uid {uid}"),
    })
}

#[cfg(not(unix))]
fn owner_of(_: &Path) -> Option<String> {
    None
}
