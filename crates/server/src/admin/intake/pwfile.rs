//! The file of generated temporary passwords (`uid,password` lines) that `user import`
//! writes for distribution: created with mode 0600 (readable only by the operator), never
//! over an existing file unless `--force`, each line flushed as soon as its account exists.
//! `-` writes to standard output instead (only when asked).

use crate::admin::error::Failure;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the passwords go.
pub struct PasswordFile {
    path: Option<PathBuf>,
    out: Box<dyn Write>,
    lines: u64,
}

impl PasswordFile {
    /// Creates `path` (mode 0600); an existing file is refused unless `force` (then it is
    /// replaced by a new file, so its old mode does not carry over). `-`: standard output.
    pub fn create(path: &Path, force: bool) -> Result<PasswordFile, Failure> {
        if path == Path::new("-") {
            return Ok(PasswordFile { path: None, out: Box::new(std::io::stdout()), lines: 0 });
        }
        let name = path.display();
        if force {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Failure::other(format!("password file {name}: {e}"))),
            }
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Failure::other(format!(
                    "password file {name} exists: give another file (the passwords of an earlier run are in it) or --force"
                ))
            } else {
                Failure::other(format!("password file {name}: {e}"))
            }
        })?;
        Ok(PasswordFile { path: Some(path.to_path_buf()), out: Box::new(file), lines: 0 })
    }

    /// Writes `uid,password` and flushes it to the file.
    pub fn write(&mut self, uid: &str, password: &str) -> Result<(), Failure> {
        let name = self.path.as_deref().map_or_else(|| "-".into(), |p| p.display().to_string());
        writeln!(self.out, "{uid},{password}")
            .and_then(|()| self.out.flush())
            .map_err(|e| Failure::other(format!("password file {name}: {e}")))?;
        self.lines += 1;
        Ok(())
    }

    /// Self when it holds passwords; an empty file (nothing was created) is removed.
    pub fn keep_if_written(self) -> Option<PasswordFile> {
        if self.lines > 0 {
            return Some(self);
        }
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
        None
    }

    /// Lines written.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The file (None: standard output).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}
