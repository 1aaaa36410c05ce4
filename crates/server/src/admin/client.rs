//! The connection of the admin commands: URL, bind identity and password, TLS, from the
//! flags and the client config (`~/.config/birch/cli.toml` or `$BIRCH_CLI_CONFIG`), and the
//! few LDAP operations the commands use, with failures mapped to exit codes.

use super::error::{Exit, Failure};
use super::Opts;
use ldap3::{LdapConn, LdapConnSettings, Mod, Scope, SearchEntry};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Environment variable naming the client config file.
pub const ENV_CONFIG: &str = "BIRCH_CLI_CONFIG";
/// Environment variable holding the bind password.
pub const ENV_PASSWORD: &str = "BIRCH_BIND_PASSWORD";
/// How long to wait for the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the answer to one operation.
const OP_TIMEOUT: Duration = Duration::from_secs(60);
/// Entries per page of a paged search.
const PAGE_SIZE: i32 = 500;

/// The client config file (TOML); every key is optional, flags win.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Server URL (`ldap://` or `ldaps://`); default `ldap://127.0.0.1:389`.
    pub url: Option<String>,
    /// DN to bind as.
    pub bind_dn: Option<String>,
    /// File holding the bind password.
    pub password_file: Option<PathBuf>,
    /// CA certificate(s) (PEM) to verify the server with.
    pub ca_file: Option<PathBuf>,
    /// Use StartTLS on an `ldap://` URL.
    pub starttls: bool,
    /// The directory's base DN (default: the server's first naming context).
    pub base: Option<String>,
    /// Where accounts live and how new ones look.
    pub accounts: Accounts,
    /// DN of the `pwdPolicy` entry that governs accounts without a pwdPolicySubentry (the
    /// server's `ppolicy_default`), for `birch account`.
    pub ppolicy_default: Option<String>,
    /// The server's built-in policy (its `[ppolicy]` section; defaults: the server's), for
    /// `birch account` when an account names no policy entry.
    pub ppolicy: crate::config::ppolicy::Policy,
}

/// `[accounts]`: where people, groups and services live, and the templates of new accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Accounts {
    /// People's subtree (default `ou=people,<base>`).
    pub people: Option<String>,
    /// Groups' subtree (default `ou=groups,<base>`).
    pub groups: Option<String>,
    /// Service accounts' subtree (default `ou=services,<base>`; the server's `access.services`).
    pub services: Option<String>,
    /// Home directory template; `{uid}` is replaced.
    pub home: String,
    /// Login shell of new accounts.
    pub shell: String,
    /// Mail address template (`{uid}@example.org`); unset: no mail unless `--mail`.
    pub mail: Option<String>,
    /// Primary group of new accounts when `--primary-group` is not given.
    pub primary_group: Option<String>,
    /// Smallest uidNumber handed out.
    pub uid_min: u32,
    /// Smallest gidNumber handed out.
    pub gid_min: u32,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            people: None,
            groups: None,
            services: None,
            home: "/home/{uid}".into(),
            shell: "/bin/bash".into(),
            mail: None,
            primary_group: None,
            uid_min: 10000,
            gid_min: 10000,
        }
    }
}

impl ClientConfig {
    /// Reads the config: `$BIRCH_CLI_CONFIG` (must exist), else
    /// `$XDG_CONFIG_HOME/birch/cli.toml` or `~/.config/birch/cli.toml` (defaults when absent).
    pub fn load() -> Result<ClientConfig, Failure> {
        if let Some(p) = std::env::var_os(ENV_CONFIG).filter(|p| !p.is_empty()) {
            return Self::read(Path::new(&p));
        }
        let dir = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        match dir.map(|d| d.join("birch").join("cli.toml")) {
            Some(p) if p.exists() => Self::read(&p),
            _ => Ok(ClientConfig::default()),
        }
    }

    fn read(path: &Path) -> Result<ClientConfig, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::other(format!("client config {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| Failure::other(format!("client config {}: {}", path.display(), e.message())))
    }
}

/// An entry as read: its DN and attributes (text values; binary ones are left out).
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The DN.
    pub dn: String,
    /// Attribute names as the server sent them, with their values.
    pub attrs: Vec<(String, Vec<String>)>,
}

impl Entry {
    /// The values of `name` (case-insensitive), or none.
    pub fn get(&self, name: &str) -> &[String] {
        self.attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map_or(&[], |(_, v)| v.as_slice())
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.get(name).first().map(String::as_str)
    }

    /// Whether the entry has object class `class`.
    pub fn has_class(&self, class: &str) -> bool {
        self.get("objectClass").iter().any(|c| c.eq_ignore_ascii_case(class))
    }

    /// Whether `name` has `value` (compared case-insensitively).
    pub fn has_value(&self, name: &str, value: &str) -> bool {
        self.get(name).iter().any(|v| v.eq_ignore_ascii_case(value))
    }

    /// The entry as a JSON object: `dn` and each attribute's values.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("dn".into(), self.dn.clone().into());
        for (n, v) in &self.attrs {
            m.insert(n.clone(), v.clone().into());
        }
        serde_json::Value::Object(m)
    }
}

/// A value set for ldap3's add and modify.
pub fn values<I: IntoIterator<Item = S>, S: Into<String>>(v: I) -> HashSet<String> {
    v.into_iter().map(Into::into).collect()
}

/// A bound connection and where things live.
pub struct Client {
    ldap: LdapConn,
    /// The bind DN.
    pub bind_dn: String,
    /// The directory's base DN.
    pub base: String,
    /// The `[accounts]` settings.
    pub accounts: Accounts,
    /// How to open another connection like this one.
    how: Reconnect,
}

/// What a connection was opened with, to open another one.
#[derive(Clone)]
struct Reconnect {
    url: String,
    bind_dn: String,
    password: String,
    starttls: bool,
    ca_file: Option<PathBuf>,
}

impl Reconnect {
    /// Connects and binds.
    fn open(&self) -> Result<LdapConn, Failure> {
        let url = &self.url;
        let mut settings = LdapConnSettings::new().set_conn_timeout(CONNECT_TIMEOUT).set_starttls(self.starttls);
        if let Some(ca) = self.ca_file.as_deref() {
            settings = settings.set_config(tls_config(ca)?);
        }
        let mut ldap =
            LdapConn::with_settings(settings, url).map_err(|e| Failure::connection(&format!("connect {url}"), e))?;
        let res = ldap
            .with_timeout(OP_TIMEOUT)
            .simple_bind(&self.bind_dn, &self.password)
            .map_err(|e| Failure::connection("bind", e))?;
        if res.rc != 0 {
            let f = Failure::ldap(&format!("bind as {}", self.bind_dn), &res);
            return Err(Failure::new(Exit::Connection, f.message));
        }
        Ok(ldap)
    }
}

impl Client {
    /// Connects and binds as the flags and the client config say.
    pub fn connect(opts: &Opts) -> Result<Client, Failure> {
        let cfg = ClientConfig::load()?;
        let url = opts.url.clone().or(cfg.url).unwrap_or_else(|| "ldap://127.0.0.1:389".into());
        let bind_dn = opts.bind_dn.clone().or(cfg.bind_dn).ok_or_else(|| {
            Failure::other("no identity: give --bind-dn or set bind_dn in the client config (docs/admin.md)")
        })?;
        let password = bind_password(opts.password_file.as_deref().or(cfg.password_file.as_deref()), &bind_dn)?;
        let starttls = opts.starttls || cfg.starttls;
        let ca_file = opts.ca_file.clone().or(cfg.ca_file);
        let how = Reconnect { url, bind_dn, password, starttls, ca_file };
        let ldap = how.open()?;
        let mut c = Client { ldap, bind_dn: how.bind_dn.clone(), base: String::new(), accounts: cfg.accounts, how };
        c.base = match opts.base.clone().or(cfg.base) {
            Some(b) => b,
            None => c.naming_context()?,
        };
        Ok(c)
    }

    /// Another connection to the same server with the same identity and settings (for
    /// commands that keep several operations in flight, such as `user import`).
    pub fn another(&self) -> Result<Client, Failure> {
        let ldap = self.how.open()?;
        Ok(Client {
            ldap,
            bind_dn: self.bind_dn.clone(),
            base: self.base.clone(),
            accounts: self.accounts.clone(),
            how: self.how.clone(),
        })
    }

    /// The server's first naming context (rootDSE).
    fn naming_context(&mut self) -> Result<String, Failure> {
        let es = self.search("", Scope::Base, "(objectClass=*)", &["namingContexts"])?;
        es.first()
            .and_then(|e| e.first("namingContexts"))
            .map(String::from)
            .ok_or_else(|| Failure::other("the server names no naming context: give --base"))
    }

    /// People's subtree.
    pub fn people(&self) -> String {
        self.accounts.people.clone().unwrap_or_else(|| format!("ou=people,{}", self.base))
    }

    /// Groups' subtree.
    pub fn groups(&self) -> String {
        self.accounts.groups.clone().unwrap_or_else(|| format!("ou=groups,{}", self.base))
    }

    /// Service accounts' subtree.
    pub fn services(&self) -> String {
        self.accounts.services.clone().unwrap_or_else(|| format!("ou=services,{}", self.base))
    }

    /// Entries matching `filter` (none when `base` does not exist).
    pub fn search(&mut self, base: &str, scope: Scope, filter: &str, attrs: &[&str]) -> Result<Vec<Entry>, Failure> {
        let res = self
            .ldap
            .with_timeout(OP_TIMEOUT)
            .search(base, scope, filter, attrs.to_vec())
            .map_err(|e| Failure::connection("search", e))?;
        match res.1.rc {
            0 => {}
            32 => return Ok(Vec::new()),
            _ => return Err(Failure::ldap(&format!("search {filter} under {base}"), &res.1)),
        }
        Ok(res
            .0
            .into_iter()
            .map(|r| {
                let e = SearchEntry::construct(r);
                let mut attrs: Vec<(String, Vec<String>)> = e.attrs.into_iter().collect();
                attrs.sort_by_key(|(n, _)| n.to_ascii_lowercase());
                Entry { dn: e.dn, attrs }
            })
            .collect())
    }

    /// Entries matching `filter`, fetched in pages (the simple paged results control,
    /// RFC 2696) so that a listing of many accounts does not reach the size limit.
    pub fn search_paged(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<Entry>, Failure> {
        use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
        let adapters: Vec<Box<dyn Adapter<String, Vec<String>>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(PAGE_SIZE))];
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        let mut stream = self
            .ldap
            .with_timeout(OP_TIMEOUT)
            .streaming_search_with(adapters, base, scope, filter, attrs)
            .map_err(|e| Failure::connection("search", e))?;
        let mut out = Vec::new();
        while let Some(r) = stream.next().map_err(|e| Failure::connection("search", e))? {
            let e = SearchEntry::construct(r);
            let mut attrs: Vec<(String, Vec<String>)> = e.attrs.into_iter().collect();
            attrs.sort_by_key(|(n, _)| n.to_ascii_lowercase());
            out.push(Entry { dn: e.dn, attrs });
        }
        let res = stream.result();
        match res.rc {
            0 => Ok(out),
            32 => Ok(Vec::new()),
            _ => Err(Failure::ldap(&format!("search {filter} under {base}"), &res)),
        }
    }

    /// The entry at `dn`, or None.
    pub fn read(&mut self, dn: &str, attrs: &[&str]) -> Result<Option<Entry>, Failure> {
        Ok(self.search(dn, Scope::Base, "(objectClass=*)", attrs)?.into_iter().next())
    }

    /// Adds an entry.
    pub fn add(&mut self, dn: &str, attrs: Vec<(String, HashSet<String>)>) -> Result<(), Failure> {
        let res = self.try_add(dn, attrs)?;
        check(&format!("add {dn}"), &res)
    }

    /// Modifies an entry.
    pub fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Result<(), Failure> {
        let res = self.try_modify(dn, mods)?;
        check(&format!("modify {dn}"), &res)
    }

    /// Modifies an entry, returning the result whatever its code (only a broken
    /// connection is an error).
    pub fn try_modify(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Result<ldap3::LdapResult, Failure> {
        self.ldap.with_timeout(OP_TIMEOUT).modify(dn, mods).map_err(|e| Failure::connection("modify", e))
    }

    /// Adds an entry, returning the result whatever its code.
    pub fn try_add(&mut self, dn: &str, attrs: Vec<(String, HashSet<String>)>) -> Result<ldap3::LdapResult, Failure> {
        self.ldap.with_timeout(OP_TIMEOUT).add(dn, attrs).map_err(|e| Failure::connection("add", e))
    }

    /// Renames an entry within its parent.
    pub fn rename(&mut self, dn: &str, new_rdn: &str) -> Result<(), Failure> {
        let res = self
            .ldap
            .with_timeout(OP_TIMEOUT)
            .modifydn(dn, new_rdn, true, None)
            .map_err(|e| Failure::connection("rename", e))?;
        check(&format!("rename {dn} to {new_rdn}"), &res)
    }

    /// Deletes an entry.
    pub fn delete(&mut self, dn: &str) -> Result<(), Failure> {
        let res = self.ldap.with_timeout(OP_TIMEOUT).delete(dn).map_err(|e| Failure::connection("delete", e))?;
        check(&format!("delete {dn}"), &res)
    }

    /// Whether the bound identity is one with no entry in the tree (the root DN).
    pub fn bound_as_root(&mut self) -> Result<bool, Failure> {
        let dn = self.bind_dn.clone();
        Ok(self.read(&dn, &["1.1"])?.is_none())
    }
}

/// Ok for success, else the failure naming `what`.
fn check(what: &str, res: &ldap3::LdapResult) -> Result<(), Failure> {
    match res.rc {
        0 => Ok(()),
        _ => Err(Failure::ldap(what, res)),
    }
}

/// The bind password: from `file`, else `$BIRCH_BIND_PASSWORD`, else asked on the terminal.
fn bind_password(file: Option<&Path>, dn: &str) -> Result<String, Failure> {
    if let Some(f) = file {
        let file = std::fs::File::open(f).map_err(|e| Failure::other(format!("password file {}: {e}", f.display())))?;
        return super::secret::first_line(std::io::BufReader::new(file))
            .map_err(|e| Failure::other(format!("password file {}: {e}", f.display())));
    }
    if let Ok(pw) = std::env::var(ENV_PASSWORD) {
        return Ok(pw);
    }
    rpassword::prompt_password(format!("Password for {dn}: ")).map_err(|e| {
        Failure::other(format!("no bind password: give --password-file or set {ENV_PASSWORD} (no terminal: {e})"))
    })
}

/// A TLS client config trusting the CA certificates in `ca` (PEM).
fn tls_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, Failure> {
    crate::tls::client_config("ca_file", ca).map_err(|e| Failure::other(e.to_string()))
}

/// Escapes a value for a search filter (RFC 4515).
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a value for an RDN (RFC 4514).
pub fn rdn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let lead = i == 0 && (c == ' ' || c == '#');
        let trail = i == last && c == ' ';
        if lead || trail || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_and_rdn_escaping() {
        assert_eq!(escape("a*(b)\\"), "a\\2a\\28b\\29\\5c");
        assert_eq!(rdn_value("a,b+c"), "a\\,b\\+c");
        assert_eq!(rdn_value(" x "), "\\ x\\ ");
    }

    #[test]
    fn config_keys() {
        let c: ClientConfig = toml::from_str(
            "url = \"ldaps://ldap\"\nbind_dn = \"uid=a\"\nstarttls = true\n[accounts]\nhome = \"/u/{uid}\"\nuid_min = 20000\n",
        )
        .expect("parse");
        assert_eq!(c.url.as_deref(), Some("ldaps://ldap"));
        assert_eq!(c.accounts.home, "/u/{uid}");
        assert_eq!(c.accounts.uid_min, 20000);
        assert_eq!(c.accounts.shell, "/bin/bash");
        assert!(toml::from_str::<ClientConfig>("nope = 1").is_err());
    }
}
