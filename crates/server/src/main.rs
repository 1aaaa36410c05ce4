//! The `birch` command: serve, import, export, check, reload, hash-password.

mod access;
mod config;
mod context;
mod demo;
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
    /// Make the running server reload its TLS certificate and key (sends SIGHUP to the pid
    /// in `<data_dir>/birch.pid`); a bad new file keeps the old one, and the server logs why.
    Reload {
        /// Configuration file (TOML), for the data directory.
        #[arg(long, short)]
        config: Option<PathBuf>,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BIRCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
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
