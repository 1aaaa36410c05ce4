//! The `birch` command: serve, import, export, check, reload, hash-password.

mod access;
mod audit;
mod config;
mod context;
mod demo;
mod metrics;
mod offline;
mod ops;
mod password;
mod ppolicy;
mod sasl_external;
mod server;
mod session;
mod tls;

use anyhow::Result;

/// mimalloc instead of glibc malloc: sled's many short-lived node copies made glibc return
/// and re-fault pages constantly (a third of import time was spent zeroing fresh pages).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Birch, an LDAPv3 directory server.
#[derive(Parser)]
#[command(name = "birch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Configuration file (TOML); every key has a default.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Load a small demo campus (people, groups, a service account) on first start.
        #[arg(long)]
        demo: bool,
    },
    /// Load an LDIF file into the store, offline (like slapadd). A file of content records is
    /// checked whole before anything is written; change records are applied one by one, like
    /// ldapmodify.
    Import {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Do not check entries against the schema (like `slapadd -s`).
        #[arg(long)]
        no_schema_check: bool,
        /// The LDIF file.
        file: PathBuf,
    },
    /// Write the whole directory as LDIF, offline (like slapcat).
    Export {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Output file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check that the indexes agree with the entries, offline.
    Check {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Make the running server reload its TLS certificate and key and its access rules, and
    /// reopen its audit log (sends SIGHUP to the pid in `<data_dir>/birch.pid`); whatever fails
    /// to load is kept as it was, and the server logs why.
    Reload {
        /// Configuration file (TOML), for the data directory.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print audit records (JSON lines, oldest first), or successful writes as LDIF changes.
    Audit {
        /// Configuration file (TOML), for the audit file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Only records about this DN.
        #[arg(long)]
        dn: Option<String>,
        /// Only records by this bound DN.
        #[arg(long)]
        actor: Option<String>,
        /// Only records since this time: RFC 3339 (`2026-11-23T08:00:00Z`) or an age (`2h`, `3days`).
        #[arg(long)]
        since: Option<String>,
        /// Print successful writes as LDIF change records (for ldapmodify).
        #[arg(long)]
        ldif: bool,
    },
    /// Print the argon2id hash of a password read from standard input (for
    /// `root_password_hash`).
    HashPassword {
        /// Configuration file (TOML), for the argon2 parameters.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// Runs the command; errors are printed as one readable chain (`birch: context: cause`).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("birch: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    use tracing_subscriber::prelude::*;
    let text_filter = tracing_subscriber::EnvFilter::try_from_env("BIRCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The audit layer sees every `birch::audit` event, whatever BIRCH_LOG lets through.
    let audit_filter = tracing_subscriber::filter::Targets::new().with_target("birch::audit", tracing::Level::INFO);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(text_filter))
        .with(audit::AuditLayer.with_filter(audit_filter))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, demo } => {
            let cfg = config::Config::load(config.as_deref())?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(server::run(cfg, config, demo))
        }
        Command::Import { config, file, no_schema_check } => {
            offline::import(&config::Config::load(config.as_deref())?, &file, !no_schema_check)
        }
        Command::Export { config, output } => {
            offline::export(&config::Config::load(config.as_deref())?, output.as_deref())
        }
        Command::Check { config } => offline::check(&config::Config::load(config.as_deref())?),
        Command::Reload { config } => server::signal_reload(&config::Config::load(config.as_deref())?),
        Command::Audit { config, dn, actor, since, ldif } => {
            let cfg = config::Config::load(config.as_deref())?;
            let path =
                cfg.audit.path(&cfg.data_dir).ok_or_else(|| anyhow::anyhow!("audit.file: the audit log is off"))?;
            let since = match since {
                None => None,
                Some(s) => Some(match humantime::parse_rfc3339_weak(&s) {
                    Ok(t) => t,
                    Err(_) => {
                        let age = humantime::parse_duration(&s)
                            .map_err(|e| anyhow::anyhow!("--since {s:?}: not a time or an age ({e})"))?;
                        std::time::SystemTime::now().checked_sub(age).unwrap_or(std::time::UNIX_EPOCH)
                    }
                }),
            };
            let q = audit::Query { dn, actor, since, ldif };
            audit::query(&path, &q, &mut std::io::stdout().lock())?;
            Ok(())
        }
        Command::HashPassword { config } => {
            let cfg = config::Config::load(config.as_deref())?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let pw = line.trim_end_matches(['\r', '\n']);
            println!("{}", password::hash_argon2id(pw.as_bytes(), &cfg.argon2_params())?);
            Ok(())
        }
    }
}
