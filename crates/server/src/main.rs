//! The `birch` command: serve, import, export, check, backup, restore, reload, hash-password.

use birch_server::{audit, backup, config, logsafe, offline, panics, password, private_files, server};

use anyhow::Result;

/// mimalloc instead of glibc malloc: sled's many short-lived node copies made glibc return
/// and re-fault pages constantly (a third of import time was spent zeroing fresh pages).
/// Large blocks are mapped on their own (see the module). The `system-allocator` feature
/// (heap profiling only) leaves glibc's malloc in place.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: birch_server::allocator::Allocator = birch_server::allocator::Allocator;
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
    /// Check the store, offline: the DN, entryUUID, children and attribute indexes agree
    /// with the entries, every entry's parent exists and only the suffix is a root, every
    /// entry is valid under the schema; userPassword values with an unknown scheme are
    /// listed. Exits 1 when something is wrong.
    Check {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Take a consistent backup of the running server's directory (asks the server through
    /// `<data_dir>/birch.sock`); TARGET is a file, or a directory that gets
    /// `birch-backup-<time>.ldif`.
    Backup {
        /// Configuration file (TOML), for the data directory.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Where to write the backup.
        target: PathBuf,
    },
    /// Restore a backup into the data directory, offline: imports into a fresh directory,
    /// checks it, then puts it in place.
    Restore {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Replace a non-empty data directory (the old one is kept beside it).
        #[arg(long)]
        force: bool,
        /// Do not check entries against the schema while importing.
        #[arg(long)]
        no_schema_check: bool,
        /// The backup file.
        file: PathBuf,
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
    /// Print the argon2id hash of a password (for `root_password_hash`): asked without echo
    /// on a terminal, else read from standard input (its first line).
    HashPassword {
        /// Configuration file (TOML), for the argon2 parameters.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// `birch user|group|service ...`: account management over LDAP (docs/admin.md).
    #[command(flatten)]
    Admin(birch_server::admin::AdminCommand),
}

// `MI_OPTION_PURGE_DELAY`: mimalloc's `mi_option_purge_delay`, as the header of the linked
// mimalloc numbers it (build.rs; libmimalloc-sys exports no constant for it).
include!(concat!(env!("OUT_DIR"), "/mimalloc_options.rs"));

/// Sets mimalloc's purge delay (ms; 0: at once, -1: never) unless the environment's
/// MIMALLOC_PURGE_DELAY, which wins, sets it.
fn set_purge_delay(ms: std::os::raw::c_long) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's global options (an atomic store in the library);
        // no pointer is involved, and any option index is accepted.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms) };
    }
}

/// mimalloc returns freed pages to the system only after a delay, checked when the thread
/// that freed them allocates again: a thread that then goes idle (a tokio worker after a
/// burst, a connection's buffers) keeps them. With no delay they go back as they are freed,
/// at no measurable cost per operation (figures: docs/performance.md, "Memory").
fn return_freed_memory_at_once() {
    set_purge_delay(0);
}

/// For a batch command that ends soon (import, export): freed pages stay with mimalloc for
/// reuse. Returned at once, they came back as fresh pages the kernel had to zero (a large
/// share of an import's and an export's CPU: docs/performance.md, "Import and export"). Peak
/// RSS grows a little; the process ends when the command does.
fn keep_freed_memory() {
    set_purge_delay(-1);
}

/// Turns transparent huge pages off for the process, whatever the command, unless
/// `MIMALLOC_ALLOW_THP` is set in the environment. mimalloc asked for huge pages on its
/// regions (madvise), and with THP in `madvise` mode (Debian's default) every 2 MiB region it
/// touched then counted whole: a server with 10k users sat at 68 MiB idle, 28 MiB without
/// (docs/performance.md, "Memory"). It is now built without that (the `no_thp` feature: the
/// arena it sets up before `main` no longer gets a huge page either); this also covers the
/// large blocks mapped apart (`allocator`) where THP is `always`. For import and export the
/// kernel's cost of a fresh huge page also varied from run to run and, after another program
/// had filled the page cache, took seconds of compaction ("Import and export").
fn no_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // Only a cost if it fails (an old kernel): nothing to report.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

/// Runs the command; errors are printed as one readable chain (`birch: context: cause`).
fn main() -> std::process::ExitCode {
    no_huge_pages();
    return_freed_memory_at_once();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("birch: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    // Fault-injection builds (tests only) read their fail points from FAILPOINTS.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    // The store, the audit log, backups and exports hold hashes: nothing birch creates is
    // readable by others, whatever umask it was started with (docs/security.md).
    private_files::restrict_umask();
    let cli = Cli::parse();
    let path = match &cli.command {
        Command::Serve { config, .. }
        | Command::Import { config, .. }
        | Command::Export { config, .. }
        | Command::Check { config }
        | Command::Backup { config, .. }
        | Command::Restore { config, .. }
        | Command::Reload { config }
        | Command::Audit { config, .. }
        | Command::HashPassword { config } => config.clone(),
        Command::Admin(_) => None,
    };
    let cfg = config::Config::load(path.as_deref())?;
    init_logging(cfg.log_format)?;
    panics::install_hook();
    match cli.command {
        Command::Serve { config, demo } => {
            let audit_path = cfg.audit.path(&cfg.data_dir);
            for shared in [Some(cfg.data_dir.as_path()), audit_path.as_deref()].into_iter().flatten() {
                if let Some(why) = private_files::open_to_others(shared) {
                    tracing::warn!("{why}");
                }
            }
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let served = rt.block_on(server::run(cfg, config, demo));
            // The audit records still buffered (binds: audit::FLUSH_DELAY), however it ended.
            audit::flush_installed();
            served
        }
        Command::Import { file, no_schema_check, .. } => {
            keep_freed_memory();
            offline::import(&cfg, &file, !no_schema_check)
        }
        Command::Export { output, .. } => {
            keep_freed_memory();
            offline::export(&cfg, output.as_deref())
        }
        Command::Check { .. } => offline::check(&cfg),
        Command::Backup { target, .. } => backup::backup(&cfg, &target),
        Command::Restore { file, force, no_schema_check, .. } => backup::restore(&cfg, &file, force, !no_schema_check),
        Command::Reload { .. } => server::signal_reload(&cfg),
        Command::Audit { dn, actor, since, ldif, .. } => audit::command(&cfg, dn, actor, since, ldif),
        Command::Admin(cmd) => birch_server::admin::run(cmd),
        Command::HashPassword { .. } => {
            let pw = read_password()?;
            println!("{}", password::hash_argon2id(pw.as_bytes(), &cfg.argon2_params())?);
            Ok(())
        }
    }
}

/// The password `hash-password` hashes: asked twice without echo on a terminal, else the
/// first line of standard input.
fn read_password() -> Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let pw = rpassword::prompt_password("Password: ")?;
        if pw.is_empty() {
            anyhow::bail!("an empty password can never bind");
        }
        if rpassword::prompt_password("Again: ")? != pw {
            anyhow::bail!("the two passwords differ");
        }
        return Ok(pw);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']);
    // An empty password can never bind (RFC 4513: an unauthenticated bind).
    if pw.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(pw.to_string())
}

/// Environment variable choosing the log format (`text` or `json`), over `log_format`.
const ENV_LOG_FORMAT: &str = "BIRCH_LOG_FORMAT";

/// Logs to standard error (journald under systemd) in the chosen format, filtered by
/// `BIRCH_LOG` (default `info`).
fn init_logging(configured: config::LogFormat) -> Result<()> {
    let format = match std::env::var(ENV_LOG_FORMAT) {
        Ok(v) if v.eq_ignore_ascii_case("json") => config::LogFormat::Json,
        Ok(v) if v.eq_ignore_ascii_case("text") => config::LogFormat::Text,
        Ok(v) if !v.is_empty() => anyhow::bail!("{ENV_LOG_FORMAT}={v:?}: use text or json"),
        _ => configured,
    };
    use tracing_subscriber::prelude::*;
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("BIRCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // ldap3_proto logs every undecodable PDU at ERROR: any client could flood the log with
    // them, and the session's own warning already reports each one. Quiet unless named.
    if !std::env::var("BIRCH_LOG").is_ok_and(|v| v.contains("ldap3_proto")) {
        if let Ok(quiet) = "ldap3_proto=off".parse() {
            filter = filter.add_directive(quiet);
        }
    }
    // One line per operation (binds, writes: the `birch::audit` events at INFO) is the audit
    // log's job: the operational log shows them only at DEBUG, or when BIRCH_LOG names
    // `birch::audit`. Their warnings (failed binds, lockouts) still show.
    let verbose = filter.max_level_hint().is_some_and(|l| l >= tracing_subscriber::filter::LevelFilter::DEBUG);
    if !verbose && !std::env::var("BIRCH_LOG").is_ok_and(|v| v.contains("birch::audit")) {
        if let Ok(warnings) = "birch::audit=warn".parse() {
            filter = filter.add_directive(warnings);
        }
    }
    // Colours only for a person reading a terminal, never in a file or the journal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // The audit layer sees every `birch::audit` event, whatever BIRCH_LOG lets through.
    let audit_filter = tracing_subscriber::filter::Targets::new().with_target("birch::audit", tracing::Level::INFO);
    let audit = audit::AuditLayer.with_filter(audit_filter);
    let registry = tracing_subscriber::registry().with(audit);
    // Every field value is escaped and cut (logsafe): client input cannot forge a line or
    // make one huge, in either format.
    match format {
        config::LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(logsafe::SafeFields)
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .init(),
        config::LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(logsafe::SafeJson)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .init(),
    }
    Ok(())
}
