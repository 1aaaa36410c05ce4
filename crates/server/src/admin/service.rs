//! `birch service`: accounts of workstations, devices and daemons (nslcd, SSSD, a printer)
//! under the services subtree: applicationProcess + simpleSecurityObject entries with a long
//! random password, shown once. The server never applies lockout or must-change to
//! accounts under the services subtree (`access.services`, `ppolicy.lockout_exempt`).

use super::client::{escape, rdn_value, values, Client, Entry};
use super::error::{Exit, Failure};
use super::output::{record, Out};
use super::secret;
use clap::Subcommand;
use ldap3::{Mod, Scope};
use serde_json::json;

/// `birch service ...`.
#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Create a service account with a generated password, shown once.
    Add {
        /// The service's name (cn).
        name: String,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Show a service account.
    Show {
        /// The service's name.
        name: String,
    },
    /// Set a new generated password, shown once.
    Passwd {
        /// The service's name.
        name: String,
    },
    /// Delete a service account.
    Delete {
        /// The service's name.
        name: String,
    },
}

/// Writes a generated service secret with `write`, given the userPassword value to send:
/// hashed here with the fast salted scheme (`{SSHA512}`), so the server neither sees the
/// secret nor spends argon2 on each of the service's binds (rehash-on-bind keeps it;
/// docs/passwords.md). A policy that refuses pre-hashed values (`check_quality = 2`) gets
/// the cleartext instead, which the server hashes with argon2id.
fn with_secret(secret: &str, mut write: impl FnMut(String) -> Result<(), Failure>) -> Result<(), Failure> {
    match write(crate::password::hash_generated_secret(secret.as_bytes())) {
        Err(f) if f.code == Exit::Refused => write(secret.to_string()),
        done => done,
    }
}

fn find(c: &mut Client, name: &str) -> Result<Entry, Failure> {
    let base = c.services();
    let filter = format!("(cn={})", escape(name));
    c.search(&base, Scope::Subtree, &filter, &["*", "pwdChangedTime", "pwdReset", "pwdAccountLockedTime"])?
        .into_iter()
        .find(|e| !e.dn.eq_ignore_ascii_case(&base))
        .ok_or_else(|| Failure::not_found(format!("service {name}")))
}

/// Runs a service command.
pub fn run(c: &mut Client, cmd: ServiceCmd, out: &Out) -> Result<(), Failure> {
    match cmd {
        ServiceCmd::Add { name, description } => {
            match find(c, &name) {
                Ok(_) => return Err(Failure::new(Exit::Exists, format!("service {name}: already exists"))),
                Err(f) if f.code == Exit::NotFound => {}
                Err(f) => return Err(f),
            }
            let dn = format!("cn={},{}", rdn_value(&name), c.services());
            let pw = secret::generate(secret::SERVICE_LEN);
            let attrs = |password: String| {
                let mut attrs = vec![
                    ("objectClass".to_string(), values(["applicationProcess", "simpleSecurityObject"])),
                    ("cn".into(), values([name.clone()])),
                    ("userPassword".into(), values([password])),
                ];
                if let Some(d) = &description {
                    attrs.push(("description".into(), values([d.clone()])));
                }
                attrs
            };
            with_secret(&pw, |value| c.add(&dn, attrs(value)))?;
            out.emit(
                record(&[("dn", vec![dn.clone()]), ("password", vec![pw.clone()])]),
                json!({"dn": dn, "name": name, "password": pw}),
            );
            Ok(())
        }
        ServiceCmd::Show { name } => {
            let e = find(c, &name)?;
            let fields = vec![
                ("dn", vec![e.dn.clone()]),
                ("name", e.get("cn").to_vec()),
                ("description", e.get("description").to_vec()),
                ("password changed", e.get("pwdChangedTime").to_vec()),
            ];
            out.emit(record(&fields), e.to_json());
            Ok(())
        }
        ServiceCmd::Passwd { name } => {
            let e = find(c, &name)?;
            let pw = secret::generate(secret::SERVICE_LEN);
            with_secret(&pw, |value| c.modify(&e.dn, vec![Mod::Replace("userPassword".into(), values([value]))]))?;
            out.emit(
                record(&[("dn", vec![e.dn.clone()]), ("password", vec![pw.clone()])]),
                json!({"dn": e.dn, "password": pw}),
            );
            Ok(())
        }
        ServiceCmd::Delete { name } => {
            let e = find(c, &name)?;
            c.delete(&e.dn)?;
            out.emit(format!("deleted service {name} ({})", e.dn), json!({"deleted": e.dn}));
            Ok(())
        }
    }
}
