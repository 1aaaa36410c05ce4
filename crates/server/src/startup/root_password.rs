//! The root password: what the start was given, and the hash in force. Whatever the start
//! is given (`root_password_hash`, `BIRCH_ROOT_PASSWORD`, `root_password_file`) is stored
//! in the store's meta and used from then on, so a later start without it keeps the same
//! password; a start given a different one replaces it (the way to reset a forgotten root
//! password). Only a start given nothing, on a store without one, generates a password.

use crate::config::Config;
use crate::password::{self, Verification};
use anyhow::{bail, Context, Result};
use birch_store::Store;

/// Meta key holding the root password hash in force.
pub const META_ROOT_HASH: &str = "root_password_hash";
/// Environment variable that may carry the root password in cleartext.
pub const ENV_ROOT_PASSWORD: &str = "BIRCH_ROOT_PASSWORD";

/// The root password a start was given, read (and checked) before anything is opened.
pub enum Given {
    /// `root_password_hash` from the config, in `{SCHEME}` form.
    Hash(Vec<u8>),
    /// A cleartext password and where it came from (for the log).
    Cleartext {
        /// `BIRCH_ROOT_PASSWORD` or `root_password_file <path>`.
        source: String,
        /// The password.
        password: String,
    },
    /// Nothing: the stored hash, or a generated password on a new store.
    Nothing,
}

impl Given {
    /// Reads the root password the start was given, in this order: `root_password_hash`,
    /// `BIRCH_ROOT_PASSWORD`, `root_password_file`. A hash in no known scheme, an unreadable
    /// file or an empty first line is an error.
    pub fn read(cfg: &Config) -> Result<Given> {
        if let Some(h) = &cfg.root_password_hash {
            let h = h.trim();
            let h = if h.starts_with('{') { h.to_string() } else { format!("{{ARGON2}}{h}") };
            if password::Scheme::parse(h.as_bytes()).is_none() {
                bail!("root_password_hash: not a hash in a known scheme (make one with `birch hash-password`)");
            }
            return Ok(Given::Hash(h.into_bytes()));
        }
        if let Ok(pw) = std::env::var(ENV_ROOT_PASSWORD) {
            if !pw.is_empty() {
                return Ok(Given::Cleartext { source: ENV_ROOT_PASSWORD.into(), password: pw });
            }
        }
        if let Some(path) = &cfg.root_password_file {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("root_password_file {}", path.display()))?;
            let pw = text.lines().next().unwrap_or("").trim_end();
            if pw.is_empty() {
                bail!("root_password_file {}: first line is empty", path.display());
            }
            return Ok(Given::Cleartext {
                source: format!("root_password_file {}", path.display()),
                password: pw.to_string(),
            });
        }
        Ok(Given::Nothing)
    }
}

/// The root password hash in force on `store`, after storing what the start was given (or
/// a generated password, printed once on standard error, when it was given nothing and the
/// store has none). Durable before it returns.
pub fn settle(store: &Store, cfg: &Config, given: Given) -> Result<Vec<u8>> {
    let stored = store.meta_get(META_ROOT_HASH)?;
    let hash = match given {
        Given::Hash(h) => {
            if stored.as_deref() == Some(h.as_slice()) {
                return Ok(h);
            }
            if stored.is_some() {
                tracing::warn!("root_password_hash in the config differs from the stored root password: replaced it");
            }
            h
        }
        Given::Cleartext { source, password } => {
            if let Some(s) = stored.as_ref().filter(|s| password::verify(s, password.as_bytes()) == Verification::Match)
            {
                return Ok(s.clone());
            }
            let hash = password::hash_argon2id(password.as_bytes(), &cfg.argon2_params())?.into_bytes();
            if stored.is_some() {
                tracing::warn!(
                    source = %source,
                    "the root password given differs from the stored one: replaced it (the old one no longer binds)"
                );
            } else {
                tracing::info!(source = %source, "stored the root password given (later starts use it)");
            }
            hash
        }
        Given::Nothing => {
            if let Some(s) = stored {
                return Ok(s);
            }
            let pw = password::generate_password();
            let hash = password::hash_argon2id(pw.as_bytes(), &cfg.argon2_params())?;
            store.meta_set(META_ROOT_HASH, hash.as_bytes())?;
            store.flush()?;
            eprintln!(
                "Generated a root password for {} (shown only once; only its hash is stored):\n\n    {pw}\n",
                cfg.root_dn()
            );
            return Ok(hash.into_bytes());
        }
    };
    store.meta_set(META_ROOT_HASH, &hash)?;
    store.flush()?;
    Ok(hash)
}
