//! The semester workflows: `birch user import` creates a whole intake of accounts from a CSV
//! file, `birch user retire` disables a graduating class. Both go through LDAP with the
//! operator's identity like every admin command, report progress and a summary, and are
//! restartable: a second run creates or changes nothing the first one did.
//!
//! - [`csvfile`]: the bounded CSV reader and the header names;
//! - [`pwfile`]: the file of temporary passwords (mode 0600);
//! - [`import`], [`retire`]: the two commands.

pub mod csvfile;
pub mod import;
pub mod pwfile;
pub mod retire;

use clap::Args;
use std::path::PathBuf;

pub use import::import;
pub use retire::retire;

/// `birch user import FILE`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The CSV file; its header names the columns (docs/admin.md).
    pub file: PathBuf,
    /// Where to write the `uid,password` lines of the new accounts (created with mode 0600;
    /// `-` prints them on standard output).
    #[arg(long, value_name = "FILE")]
    pub passwords: PathBuf,
    /// Replace an existing password file.
    #[arg(long)]
    pub force: bool,
    /// Map a column whose header is not an accepted name: COLUMN=ATTRIBUTE (COLUMN=- ignores it).
    #[arg(long = "map", value_name = "COLUMN=ATTRIBUTE")]
    pub map: Vec<String>,
    /// A group every account of the file joins (repeatable).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Primary group of rows without one (default: accounts.primary_group).
    #[arg(long)]
    pub primary_group: Option<String>,
    /// Separator of the groups in the groups column.
    #[arg(long, default_value_t = ';')]
    pub group_separator: char,
    /// Field delimiter of the CSV file.
    #[arg(long, default_value_t = ',')]
    pub delimiter: char,
    /// Refuse files with more rows than this.
    #[arg(long, default_value_t = 100_000)]
    pub max_rows: usize,
    /// Connections to the server that add accounts in parallel.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub connections: u16,
}

/// `birch user retire --from FILE`.
#[derive(Args, Debug)]
pub struct RetireArgs {
    /// A CSV file with a uid column (other columns are ignored).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Why (stored in birchDisabledReason); default "retired YYYY-MM-DD".
    #[arg(long)]
    pub reason: Option<String>,
    /// Field delimiter of the CSV file.
    #[arg(long, default_value_t = ',')]
    pub delimiter: char,
    /// Map the uid column when its header is not an accepted name: COLUMN=uid.
    #[arg(long = "map", value_name = "COLUMN=uid")]
    pub map: Vec<String>,
    /// Refuse files with more rows than this.
    #[arg(long, default_value_t = 100_000)]
    pub max_rows: usize,
}

/// A one-byte delimiter.
fn delimiter(c: char) -> Result<u8, crate::admin::error::Failure> {
    u8::try_from(c)
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| crate::admin::error::Failure::other(format!("--delimiter {c:?}: one ASCII character")))
}
