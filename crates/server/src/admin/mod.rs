//! The admin commands (`birch user`, `birch group`, `birch service`): day-to-day account
//! management as an ordinary LDAP client of a running Birch, bound with the operator's own
//! identity, so access control, the write pipeline, the password policy and the audit log
//! apply to every change. docs/admin.md describes the commands.
//!
//! - [`client`]: the connection (URL, bind, TLS) from flags and the client config;
//! - [`error`]: failures and the exit codes scripts can test;
//! - [`output`]: aligned tables and `--json`;
//! - [`ids`]: uidNumber/gidNumber allocation through counter entries;
//! - [`user`], [`group`], [`service`]: the commands;
//! - [`account`]: the status views and the purge of long-disabled accounts;
//! - [`intake`]: `user import` and `user retire` from CSV files (a semester's intake, a graduating class).

pub mod account;
pub mod client;
pub mod error;
pub mod group;
pub mod ids;
pub mod intake;
pub mod output;
pub mod secret;
pub mod service;
pub mod user;

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// The admin command families, flattened into `birch`'s subcommands.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Manage people's accounts (inetOrgPerson + posixAccount + shadowAccount) on a running server.
    User {
        #[command(subcommand)]
        cmd: Box<user::UserCmd>,
        #[command(flatten)]
        opts: Opts,
    },
    /// Manage groups (posixGroup memberUid and groupOfNames member kept consistent).
    Group {
        #[command(subcommand)]
        cmd: Box<group::GroupCmd>,
        #[command(flatten)]
        opts: Opts,
    },
    /// Manage service accounts (workstations, devices) under the services subtree.
    Service {
        #[command(subcommand)]
        cmd: Box<service::ServiceCmd>,
        #[command(flatten)]
        opts: Opts,
    },
    /// Account status views (status, locked, disabled, expiring, inactive) and purge.
    Account {
        #[command(subcommand)]
        cmd: Box<account::AccountCmd>,
        #[command(flatten)]
        opts: Opts,
    },
}

/// Connection and output options shared by every admin command (defaults from the client
/// config, `~/.config/birch/cli.toml` or `$BIRCH_CLI_CONFIG`).
#[derive(Args, Debug, Clone, Default)]
pub struct Opts {
    /// Server URL: ldap://host[:port] or ldaps://host[:port].
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// DN to bind as (the operator's own account).
    #[arg(long, global = true)]
    pub bind_dn: Option<String>,
    /// File holding the bind password (first line); else $BIRCH_BIND_PASSWORD, else a prompt.
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the server's certificate (LDAPS and StartTLS).
    #[arg(long, global = true)]
    pub ca_file: Option<PathBuf>,
    /// Upgrade an ldap:// connection with StartTLS.
    #[arg(long, global = true)]
    pub starttls: bool,
    /// The directory's base DN (default: the config's `base`, else the server's first naming context).
    #[arg(long, global = true)]
    pub base: Option<String>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Runs an admin command and exits with its exit code (docs/admin.md, "Exit codes").
pub fn run(cmd: AdminCommand) -> ! {
    let code = match execute(cmd) {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("birch: {}", f.message);
            f.code as i32
        }
    };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

fn execute(cmd: AdminCommand) -> Result<(), error::Failure> {
    match cmd {
        AdminCommand::User { cmd, opts } => {
            let mut c = client::Client::connect(&opts)?;
            user::run(&mut c, *cmd, &output::Out { json: opts.json })
        }
        AdminCommand::Group { cmd, opts } => {
            let mut c = client::Client::connect(&opts)?;
            group::run(&mut c, *cmd, &output::Out { json: opts.json })
        }
        AdminCommand::Service { cmd, opts } => {
            let mut c = client::Client::connect(&opts)?;
            service::run(&mut c, *cmd, &output::Out { json: opts.json })
        }
        AdminCommand::Account { cmd, opts } => {
            let mut c = client::Client::connect(&opts)?;
            account::run(&mut c, *cmd, &output::Out { json: opts.json })
        }
    }
}
