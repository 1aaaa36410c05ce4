//! The write pipeline: every change to the tree passes here, whoever makes it — LDAP
//! writes and Password Modify, the bind's bookkeeping and rehash, `birch import` of change
//! records, the demo loader, the replication consumer, the fuzz harness. Nothing else
//! calls the store's write methods (scripts/check-layers enforces it).
//!
//! The stages, in this order (each its own module or function):
//!
//! 1. **target** — the DN parses and lies in the naming context; request bounds
//!    ([`limits`]: values per attribute, password values) for requesters who are not
//!    administrators.
//! 2. **authorize** ([`authorize`]) — the access rules on the target, its parent and every
//!    attribute touched; then the Assertion control. Only reads and the pure evaluator run
//!    before this answers: nothing expensive (hashing, policy, schema) is spent on a
//!    requester it refuses.
//! 3. **passwords, expensive part** ([`password`]) — an old password verified, the policy's
//!    checks (quality, age, history), new cleartext hashed with argon2id on the hashing
//!    pool. Runs outside the store's writer lock.
//! 4. **apply** ([`apply`]) — under the store's writer lock, on a copy of the current
//!    entry: authorize and the assertion again (the entry may have changed since stage 2),
//!    then the modifications or the new RDN's values.
//! 5. **operational attributes** ([`operational`]) — entryUUID, creators/modifiers, times;
//!    who disabled an account and when.
//! 6. **password bookkeeping** — pwdChangedTime, pwdHistory, pwdReset, failures forgotten.
//! 7. **schema** ([`schema_check`]) — the entry as it will be stored; a modify may not
//!    change the structural object class.
//! 8. **commit** — the store's transaction: first the [`groups`] stage (memberOf and
//!    referential integrity of groups, the store's write-set hook: what it derives joins
//!    the same transaction), then unique attributes, indexes, entryCSN; then fsync (group
//!    commit). A write is acknowledged only after this. The commits run on one thread
//!    ([`queue`]): writes queued while one runs follow it and share its flush.
//! 9. **audit** — the audit record (who, what, result), made durable with the audit log.
//! 10. **last bind** ([`lastbind`]) — after a successful bind, pwdLastSuccess: with the
//!     bind's other bookkeeping when there is some, else queued and written off the
//!     answer path, in batches.
//! 11. **change feed** ([`feed`]) — the commit is announced to sync searches (RFC 4533) and
//!     replicas, told by the store while its writer lock is held (a commit observer), so
//!     in commit order; Pre-/Post-Read come from [`Done`].
//!
//! Who writes is an [`Actor`]. Its kind decides which stages apply, and nothing else:
//! - [`Actor::User`]: everything above.
//! - [`Actor::Operator`]: the person at the machine, with the store's files. Change
//!   records (`birch import` of an LDIF with changetypes) run through [`Writer::run`] as a
//!   write of the root DN does: no access rules and no bounds (stages 1's bounds and 2
//!   skipped), the password policy as for the root DN (hashing and bookkeeping, no quality
//!   checks), stamps naming the root DN — so `ldapmodify -f` of the same file as the root
//!   DN gives the same tree and the same errors. Content records (the suffix entry, the
//!   demo campus, `birch import` of a whole tree) load as slapadd loads them
//!   ([`Writer::load`], [`bulk_loader`]): [`prepare_new_entry`] (cleartext hashed, stamps
//!   where missing) and the schema, no password-policy bookkeeping. The fuzz harness puts
//!   its initial entries back after each run ([`Writer::put_entries`],
//!   [`Writer::remove_except`]).
//! - [`Actor::Server`]: the bind's bookkeeping ([`Bookkeeping`], and the last-bind times
//!   of [`lastbind`]): only ppolicy state
//!   attributes change, with no access check (the bind has authorized itself), no
//!   modifiersName/modifyTimestamp (as slapd's ppolicy) and no schema check (they are
//!   operational attributes the server itself sets).
//! - [`Actor::Replica`]: the replication consumer ([`Replicated`]): entries are stored as
//!   the provider sent them — commit only, with the provider's CSN and the cookie.

pub mod apply;
pub mod authorize;
pub mod change;
pub mod error;
pub mod feed;
pub mod groups;
pub mod lastbind;
pub mod limits;
pub mod operational;
pub mod password;
pub mod peer;
pub mod placeholder;
pub mod purge;
pub mod queue;
pub mod rehash;
pub mod schema_check;

pub use change::{Bookkeeping, Change, Done, Mod, ModOp, Options, Replicated};
pub use error::WriteError;

use crate::access::Access;
use crate::passwords::Passwords;
use crate::ppolicy::{self, Changer, Policy};
use birch_acl::{Privilege, Requester, Subject};
use birch_proto::ldap3_proto::proto::LdapResultCode;
use birch_schema::{Dn, Schema};
use birch_store::{Entry, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// How long a subtree move or tree delete waits for running searches before answering
/// busy (51); new searches queue behind a waiting subtree change, so this also bounds how
/// long they can stall.
pub const TREE_LOCK_WAIT: Duration = Duration::from_secs(5);

/// Who makes a change (see the module documentation for what each kind skips).
#[derive(Clone)]
pub enum Actor {
    /// A directory user over LDAP: the access rules decide.
    User(User),
    /// The operator at the machine (import, demo loader, suffix entry, fuzz harness).
    Operator,
    /// The server's own bookkeeping after a bind.
    Server,
    /// The replication consumer.
    Replica,
}

/// A directory user making a change.
#[derive(Clone)]
pub struct User {
    /// Who, for the access rules.
    pub requester: Requester,
    /// The access policy in force when the request arrived.
    pub access: Arc<Access>,
    /// The bound DN as the client sent it (modifiersName).
    pub dn: String,
    /// The connection, for the audit record.
    pub conn: u64,
}

impl Actor {
    /// The requester and the access policy, for a user.
    fn user(&self) -> Option<&User> {
        match self {
            Actor::User(u) => Some(u),
            _ => None,
        }
    }

    /// Whether bounds and the access rules apply (a user other than the root DN).
    fn is_bounded(&self) -> bool {
        self.user().is_some_and(|u| u.requester.subject != Subject::Root && !u.access.is_admin(&u.requester))
    }
}

/// The write pipeline over one store.
pub struct Writer {
    store: Store,
    schema: Arc<Schema>,
    suffix_ndn: String,
    /// The root DN as configured: the name in stamps of [`Actor::Operator`] changes.
    root_dn: String,
    /// The `[ppolicy]` section and `ppolicy_default` (see [`ppolicy::policy_with`]).
    policy: Policy,
    policy_default: Option<String>,
    passwords: Arc<Passwords>,
    limits: limits::WriteLimits,
    /// The services subtree, normalized.
    services_ndn: Option<String>,
    /// `[ppolicy] lockout_exempt`, normalized.
    lockout_exempt: Vec<String>,
    /// Password changes of users who are not administrators, per requester.
    changes: crate::ppolicy::ratelimit::ChangeLimiter,
    /// Searches hold it shared for their duration; subtree moves and tree deletes hold it
    /// exclusively, so a search sees such a change wholly or not at all. Single-entry
    /// writes do not take it (each entry is read atomically anyway).
    tree_lock: Arc<tokio::sync::RwLock<()>>,
    /// The change feed of the store's commits.
    feed: Arc<feed::Feed>,
    /// pwdLastSuccess times waiting to be written.
    last_binds: lastbind::LastBinds,
    /// Legacy hashes being replaced after binds ([`rehash`]).
    rehashes: rehash::Rehashes,
    /// The writer thread: durable writes, one flush per batch ([`queue`]).
    queue: queue::WriteQueue,
}

/// What [`Writer::new`] needs besides the store.
pub struct WriterConfig {
    /// The suffix, normalized.
    pub suffix_ndn: String,
    /// The root DN as configured.
    pub root_dn: String,
    /// The `[ppolicy]` section.
    pub policy: Policy,
    /// `ppolicy_default`: the DN of the default pwdPolicy entry.
    pub policy_default: Option<String>,
    /// Bounds on requests of users who are not administrators.
    pub limits: limits::WriteLimits,
    /// The services subtree (its accounts' passwords are never resets).
    pub services_dn: String,
    /// Password changes per requester (`[rate_limit] password_changes_*`).
    pub rate_limit: crate::ppolicy::ratelimit::RateLimitSection,
    /// DNs others' failures never lock (`[ppolicy] lockout_exempt`, not normalized).
    pub lockout_exempt: Vec<String>,
    /// `[ppolicy] last_bind_precision` when `last_bind` is on (None: off).
    pub last_bind: Option<Duration>,
    /// Rehashes of legacy hashes started per second at most (`rehash_per_second`).
    pub rehash_per_second: f64,
}

impl WriterConfig {
    /// The pipeline's settings from the configuration; `suffix_ndn` is the normalized suffix.
    pub fn from_config(cfg: &crate::config::Config, suffix_ndn: &str) -> WriterConfig {
        WriterConfig {
            suffix_ndn: suffix_ndn.to_string(),
            root_dn: cfg.root_dn(),
            policy: cfg.ppolicy.clone(),
            policy_default: cfg.ppolicy_default.clone(),
            limits: limits::WriteLimits {
                values_per_attribute: cfg.limits.write_values_per_attribute,
                values: cfg.limits.write_values,
            },
            services_dn: cfg.access.services_dn(&cfg.suffix),
            rate_limit: cfg.rate_limit.clone(),
            lockout_exempt: crate::ppolicy::exempt::configured(cfg),
            last_bind: cfg.ppolicy.last_bind.then(|| Duration::from_secs(cfg.ppolicy.last_bind_precision)),
            rehash_per_second: cfg.rehash_per_second,
        }
    }
}

impl Writer {
    /// A pipeline writing to `store`; installs the [`groups`] stage as the store's
    /// write-set hook (once per store: later pipelines over it find it there) and its own
    /// change [`feed`] as a commit observer.
    pub fn new(store: Store, passwords: Arc<Passwords>, cfg: WriterConfig) -> Writer {
        // The stage holds no state: whichever pipeline set it first, it is the same.
        store.set_write_set_hook(Arc::new(groups::Groups));
        let schema = Arc::new(store.schema().clone());
        let services_ndn = Dn::parse(&cfg.services_dn).ok().map(|d| d.normalize(&schema));
        let lockout_exempt = crate::ppolicy::exempt::normalize(&cfg.lockout_exempt, &schema);
        Writer {
            lockout_exempt,
            services_ndn,
            changes: crate::ppolicy::ratelimit::ChangeLimiter::new(&cfg.rate_limit),
            schema,
            suffix_ndn: cfg.suffix_ndn,
            root_dn: cfg.root_dn,
            policy: cfg.policy,
            policy_default: cfg.policy_default,
            passwords,
            limits: cfg.limits,
            tree_lock: Arc::new(tokio::sync::RwLock::new(())),
            feed: feed::Feed::on(&store),
            last_binds: lastbind::LastBinds::new(store.clone(), cfg.last_bind),
            rehashes: rehash::Rehashes::new(cfg.rehash_per_second),
            queue: queue::WriteQueue::new(),
            store,
        }
    }

    /// Listens to the change feed: every write committed from now on, in commit order.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<birch_store::ChangeSet>> {
        self.feed.subscribe(&self.store)
    }

    /// The store it writes to (for reads).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The password service.
    pub fn passwords(&self) -> &Arc<Passwords> {
        &self.passwords
    }

    /// Held shared by a search for its duration: subtree changes wait for it.
    pub async fn read_tree(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.tree_lock.clone().read_owned().await
    }

    /// The password policy of an entry.
    pub fn policy_for(&self, e: &Entry) -> Policy {
        ppolicy::policy_with(&self.store, &self.schema, &self.policy, self.policy_default.as_deref(), e)
    }

    /// Runs a change through every stage; acknowledged (Ok) only once durable.
    pub async fn run(&self, actor: &Actor, change: Change, opts: &Options) -> Result<Done, WriteError> {
        if actor.is_bounded() {
            self.limits.check(&change)?;
        }
        match change {
            Change::Add { dn, attrs } => self.add(actor, &dn, attrs).await,
            Change::Delete { dn } => self.delete(actor, &dn, opts).await,
            Change::Modify { dn, mods } => self.modify(actor, &dn, mods, opts).await,
            Change::Rename { dn, new_rdn, delete_old, new_superior } => {
                self.rename(actor, &dn, &new_rdn, delete_old, new_superior.as_deref(), opts).await
            }
            Change::SetPassword { dn, old, new } => self.set_password(actor, &dn, old, new).await,
        }
    }

    /// Parses a target DN: the DN and its normalized form.
    fn target(&self, dn: &str) -> Result<(Dn, String), WriteError> {
        let dn = Dn::parse(dn).map_err(|_| WriteError::ldap(LdapResultCode::InvalidDNSyntax, "invalid DN"))?;
        let ndn = dn.normalize(&self.schema);
        Ok((dn, ndn))
    }

    /// The target's normalized DN and the entry as it is now (read without the writer lock:
    /// stage 2 decides on it, stage 4 decides again under the lock).
    fn current(&self, dn_text: &str) -> Result<(String, Entry), WriteError> {
        let (_, ndn) = self.target(dn_text)?;
        match self.store.get_by_ndn(&ndn)? {
            Some((_, e)) => Ok((ndn, e)),
            None => Err(StoreError::NoSuchEntry(ndn).into()),
        }
    }

    fn in_context(&self, ndn: &str) -> bool {
        birch_schema::ndn::is_under(ndn, &self.suffix_ndn)
    }

    /// The name in operational stamps.
    fn stamp_name(&self, actor: &Actor) -> String {
        match actor {
            Actor::User(u) => u.dn.clone(),
            _ => self.root_dn.clone(),
        }
    }

    /// Whether others' failed binds to `ndn` must neither lock nor throttle it
    /// (`[ppolicy] lockout_exempt`, normalized once).
    pub fn is_lockout_exempt(&self, ndn: &str) -> bool {
        crate::ppolicy::exempt::covers(&self.lockout_exempt, ndn)
    }

    /// Whether `ndn` is a service account (below the services subtree).
    pub fn is_service(&self, ndn: &str) -> bool {
        self.services_ndn.as_ref().is_some_and(|s| birch_schema::ndn::is_below(ndn, s))
    }

    /// Who changes a password, for the policy.
    fn changer(&self, actor: &Actor, ndn: &str) -> Changer {
        match actor {
            Actor::User(u) => Changer::of(&u.requester.subject, ndn),
            _ => Changer::Root,
        }
    }

    /// Runs a store write on a blocking thread, durable before it returns when `durable`
    /// (replication's refresh makes many durable together at its end).
    async fn commit_if<T: Send + 'static>(
        &self,
        durable: bool,
        write: impl FnOnce(&Store) -> Result<T, WriteError> + Send + 'static,
    ) -> Result<T, WriteError> {
        if durable {
            return self.commit(write).await;
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || write(&store))
            .await
            .map_err(|_| WriteError::ldap(LdapResultCode::OperationsError, "internal error"))?
    }

    /// Runs a store write on the writer thread, then makes it durable (one flush for the
    /// writes queued together: [`queue`]).
    async fn commit<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Store) -> Result<T, WriteError> + Send + 'static,
    ) -> Result<T, WriteError> {
        self.queue.commit(&self.store, write).await
    }

    /// Takes the tree lock exclusively for a subtree change, waiting at most
    /// [`TREE_LOCK_WAIT`] for running searches (51 busy after that).
    async fn tree_write(&self) -> Result<tokio::sync::OwnedRwLockWriteGuard<()>, WriteError> {
        tokio::time::timeout(TREE_LOCK_WAIT, self.tree_lock.clone().write_owned())
            .await
            .map_err(|_| WriteError::ldap(LdapResultCode::Busy, "searches are running over this subtree; try again"))
    }

    async fn add(&self, actor: &Actor, dn_text: &str, attrs: Vec<(String, Vec<Vec<u8>>)>) -> Result<Done, WriteError> {
        // 1. target
        let (dn, ndn) = self.target(dn_text)?;
        if !self.in_context(&ndn) {
            return Err(WriteError::ldap(LdapResultCode::NoSuchObject, "the entry is outside the naming context"));
        }
        if actor.user().is_some() {
            if let Some(name) = operational::forbidden_in_add(attrs.iter().map(|(n, _)| n.as_str()), &self.schema) {
                return Err(WriteError::ldap(
                    LdapResultCode::ConstraintViolation,
                    format!("{name}: no user modification allowed"),
                ));
            }
        }
        if let Some((name, _)) = attrs.iter().find(|(_, v)| v.is_empty()) {
            return Err(WriteError::ldap(LdapResultCode::ProtocolError, format!("{name}: no values")));
        }
        let mut entry = self.store.make_entry(dn_text, attrs)?;
        // 2. authorize
        let is_suffix = ndn == self.suffix_ndn;
        if let Some(u) = actor.user() {
            let parent = dn.parent().normalize(&self.schema);
            authorize::require_on_parent(&self.store, &u.access, &u.requester, &parent, Privilege::Add)?;
            authorize::add(&u.access, &u.requester, &entry)?;
            // Replacing the placeholder suffix entry deletes it, too.
            if is_suffix && placeholder::is_placeholder(&self.store, &ndn)? {
                if let Some((_, current)) = self.store.get_by_ndn(&ndn)? {
                    authorize::require(&u.access, &u.requester, &current, "entry", Privilege::Delete)?;
                }
            }
        }
        // 5. operational attributes
        operational::on_add(&mut entry, &self.stamp_name(actor));
        operational::on_disable(false, &mut entry, &self.stamp_name(actor));
        // 3 and 6. passwords
        password::on_add(self, actor, &ndn, &mut entry).await?;
        // 7. schema
        schema_check::check(&self.schema, &entry)?;
        // 8. commit (the suffix entry replaces the placeholder a first start made, if it
        // is still one: see `placeholder`)
        let added = self
            .commit(move |store| {
                if is_suffix {
                    if let Some(replaced) = placeholder::replace(store, &entry)? {
                        return Ok(replaced);
                    }
                }
                let added = entry.clone();
                store.add(entry, is_suffix)?;
                Ok(added)
            })
            .await?;
        Ok(Done { before: None, after: Some(added) })
    }

    async fn delete(&self, actor: &Actor, dn_text: &str, opts: &Options) -> Result<Done, WriteError> {
        let (dn, ndn) = self.target(dn_text)?;
        if let Some(u) = actor.user() {
            let parent = dn.parent().normalize(&self.schema);
            authorize::require_on_parent(&self.store, &u.access, &u.requester, &parent, Privilege::Delete)?;
        }
        let tree = if opts.tree_delete { Some(self.tree_write().await?) } else { None };
        let (schema, user, assertion, subtree) =
            (self.schema.clone(), actor.user().cloned(), opts.assertion.clone(), opts.tree_delete);
        let gone = self
            .commit(move |store| {
                let _tree = tree;
                store.delete_checked(&ndn, subtree, |e| {
                    if let Some(u) = &user {
                        authorize::require(&u.access, &u.requester, e, "entry", Privilege::Delete)?;
                        authorize::assertion(assertion.as_ref(), e, &schema, &u.access, &u.requester)?;
                    }
                    Ok::<(), WriteError>(())
                })
            })
            .await?;
        Ok(Done { before: Some(gone), after: None })
    }

    async fn modify(
        &self,
        actor: &Actor,
        dn_text: &str,
        mut mods: Vec<Mod>,
        opts: &Options,
    ) -> Result<Done, WriteError> {
        // Read once: under the writer lock the store takes this read again as it is when
        // no write has begun since (see `Store::modify_seen`).
        let (_, ndn) = self.target(dn_text)?;
        let seen = self.store.get_seen(&ndn)?.ok_or_else(|| StoreError::NoSuchEntry(ndn.clone()))?;
        let current = seen.entry();
        // 2. authorize, before anything expensive
        if let Some(u) = actor.user() {
            authorize::modify(&u.access, &u.requester, current, &mods, &self.schema)?;
            authorize::assertion(opts.assertion.as_ref(), current, &self.schema, &u.access, &u.requester)?;
        }
        // 3. passwords (verification, policy, hashing)
        let password = password::on_modify(self, actor, &ndn, current, &mut mods).await?;
        let (schema, user, assertion, permissive) =
            (self.schema.clone(), actor.user().cloned(), opts.assertion.clone(), opts.permissive);
        let by = self.stamp_name(actor);
        let (old, new) = self
            .commit(move |store| {
                store.modify_seen(seen, |e| {
                    // 4. apply (authorized again on the entry as it is now)
                    if let Some(u) = &user {
                        authorize::modify(&u.access, &u.requester, e, &mods, &schema)?;
                        authorize::assertion(assertion.as_ref(), e, &schema, &u.access, &u.requester)?;
                    }
                    // Only a change of objectClass can change the structural class.
                    let classes_touched =
                        mods.iter().any(|m| schema.attr(&m.attr).is_some_and(|t| t.canonical == "objectclass"));
                    let before = if classes_touched { apply::structural_class(&schema, e) } else { None };
                    let was_disabled = operational::is_disabled(e);
                    let was_locked = e.get("pwdaccountlockedtime").is_some();
                    let old_password = e.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
                    apply::modifications(e, &mods, &schema, permissive)?;
                    // 6. password bookkeeping
                    if let Some(p) = &password {
                        let new_password = e.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
                        if new_password != old_password {
                            let now = std::time::SystemTime::now();
                            ppolicy::change::record(e, &p.policy, p.changer, p.reset, &old_password, now);
                        }
                    }
                    // 5. operational attributes
                    operational::on_modify(e, &by);
                    operational::on_disable(was_disabled, e, &by);
                    operational::on_unlock(was_locked, e);
                    // 7. schema
                    let after = if classes_touched { apply::structural_class(&schema, e) } else { None };
                    if after.is_some() && after != before {
                        return Err(WriteError::ldap(
                            LdapResultCode::ObjectClassModsProhibited,
                            "structural object class modification not allowed",
                        ));
                    }
                    schema_check::check(&schema, e)
                })
            })
            .await?;
        Ok(Done { before: Some(old), after: Some(new) })
    }

    async fn rename(
        &self,
        actor: &Actor,
        dn_text: &str,
        new_rdn: &str,
        delete_old: bool,
        new_superior: Option<&str>,
        opts: &Options,
    ) -> Result<Done, WriteError> {
        let (dn, ndn) = self.target(dn_text)?;
        let new_rdn = match Dn::parse(new_rdn) {
            Ok(d) if d.rdns.len() == 1 => d.rdns[0].clone(),
            _ => return Err(WriteError::ldap(LdapResultCode::InvalidDNSyntax, "invalid new RDN")),
        };
        for ava in &new_rdn.avas {
            match self.schema.attr(&ava.attr) {
                None => {
                    return Err(WriteError::ldap(
                        LdapResultCode::UndefinedAttributeType,
                        format!("{}: attribute type undefined", ava.attr),
                    ))
                }
                Some(t) if t.no_user_modification => {
                    return Err(WriteError::ldap(
                        LdapResultCode::ConstraintViolation,
                        format!("{}: no user modification allowed", ava.attr),
                    ))
                }
                Some(_) => {}
            }
        }
        if ndn == self.suffix_ndn {
            return Err(WriteError::ldap(LdapResultCode::UnwillingToPerform, "cannot rename the suffix entry"));
        }
        let parent = match new_superior {
            Some(s) => {
                Dn::parse(s).map_err(|_| WriteError::ldap(LdapResultCode::InvalidDNSyntax, "invalid new superior"))?
            }
            None => dn.parent(),
        };
        let parent_ndn = parent.normalize(&self.schema);
        if !self.in_context(&parent_ndn) {
            return Err(WriteError::ldap(LdapResultCode::NoSuchObject, "new superior is outside the naming context"));
        }
        // 2. authorize: delete below the old parent, add below the new one (write on the
        // entry itself is checked under the lock).
        if let Some(u) = actor.user() {
            let old_parent = dn.parent().normalize(&self.schema);
            authorize::require_on_parent(&self.store, &u.access, &u.requester, &old_parent, Privilege::Delete)?;
            authorize::require_on_parent(&self.store, &u.access, &u.requester, &parent_ndn, Privilege::Add)?;
        }
        let mut new_dn = parent;
        new_dn.rdns.insert(0, new_rdn.clone());
        let old_rdn =
            dn.rdns.first().cloned().ok_or_else(|| WriteError::ldap(LdapResultCode::UnwillingToPerform, "empty DN"))?;
        let tree = self.tree_write().await?;
        let (schema, user, assertion, by) =
            (self.schema.clone(), actor.user().cloned(), opts.assertion.clone(), self.stamp_name(actor));
        let moved_to = new_dn.clone();
        let outcome = self
            .commit(move |store| {
                let _tree = tree;
                store.rename(&ndn, &moved_to, |e| {
                    if let Some(u) = &user {
                        authorize::require(&u.access, &u.requester, e, "entry", Privilege::Add)?;
                        authorize::require(&u.access, &u.requester, e, "entry", Privilege::Delete)?;
                        authorize::assertion(assertion.as_ref(), e, &schema, &u.access, &u.requester)?;
                    }
                    operational::on_modify(e, &by);
                    apply::rename(e, &old_rdn, &new_rdn, delete_old, &moved_to, &schema)?;
                    let mut renamed = e.clone();
                    renamed.dn = moved_to.to_string();
                    schema_check::check(&schema, &renamed)
                })
            })
            .await;
        match outcome {
            Ok((old, new)) => Ok(Done { before: Some(old), after: Some(new) }),
            Err(WriteError::Store(StoreError::NoParent(_))) => {
                let matched = match actor.user() {
                    Some(u) => u.access.visible_matched(&self.store, &u.requester, &new_dn),
                    None => self.store.matched_dn(&new_dn).unwrap_or_default(),
                };
                Err(WriteError::Matched(LdapResultCode::NoSuchObject, matched, "new superior does not exist".into()))
            }
            Err(e) => Err(e),
        }
    }

    async fn set_password(
        &self,
        actor: &Actor,
        dn_text: &str,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<Done, WriteError> {
        let (ndn, current) = self.current(dn_text)?;
        // 2. authorize: changing a password is writing the entry's userPassword (under the
        // campus policy its owner, the helpdesk and the admins may).
        if let Some(u) = actor.user() {
            if !u.access.check(&u.requester, &current, "userpassword", Privilege::Add) {
                let text = "insufficient access to change this password";
                return Err(authorize::refusal(&u.access, &u.requester, &current, text));
            }
        }
        // 3. passwords
        let (p, hashed) = password::on_set(self, actor, &ndn, &current, old, new).await?;
        let by = self.stamp_name(actor);
        let (old, new) = self
            .commit(move |store| {
                store.modify(&ndn, |e| {
                    let old = e.get("userpassword").map(|a| a.values.clone()).unwrap_or_default();
                    e.replace_values("userPassword", "userpassword", hashed);
                    ppolicy::change::record(e, &p.policy, p.changer, p.reset, &old, std::time::SystemTime::now());
                    operational::on_modify(e, &by);
                    Ok::<(), WriteError>(())
                })
            })
            .await?;
        Ok(Done { before: Some(old), after: Some(new) })
    }

    /// Writes the server's own bookkeeping on an account ([`Actor::Server`]): returns
    /// whether a failure locked the account.
    pub async fn record(&self, ndn: &str, what: Bookkeeping) -> Result<bool, WriteError> {
        if let Bookkeeping::Failure { policy, .. } = &what {
            if !policy.locks() {
                return Ok(false);
            }
        }
        if let Bookkeeping::Success { success, last_bind, .. } = &what {
            if !success.writes() && !last_bind {
                return Ok(false);
            }
        }
        let ndn = ndn.to_string();
        self.commit(move |store| {
            let mut locked = false;
            store.modify(&ndn, |e| {
                locked = password::bookkeep(e, &what);
                Ok::<(), WriteError>(())
            })?;
            Ok(locked)
        })
        .await
    }

    /// The bookkeeping of a successful authentication of `ndn` (a simple bind, SASL
    /// EXTERNAL, a web login), whose state before it was `account`: what the password
    /// policy decided (`success`; [`crate::ppolicy::Success::default`] when no password
    /// was checked) is written before this returns, and pwdLastSuccess when it is due
    /// ([`crate::ppolicy::Account::last_bind_due`]): in that same write, or, when there
    /// is none, queued and written off the answer path ([`lastbind`]). Returns whether
    /// the policy's bookkeeping was written. The caller skips it on a read-only replica.
    pub async fn authenticated(
        &self,
        ndn: &str,
        account: &ppolicy::Account,
        success: &ppolicy::Success,
        now: std::time::SystemTime,
    ) -> Result<bool, WriteError> {
        let last_bind = account.last_bind_due(self.last_binds.precision(), now);
        if success.writes() {
            let what = Bookkeeping::Success { success: success.clone(), now, last_bind };
            return self.record(ndn, what).await.map(|_| true);
        }
        if last_bind {
            self.last_binds.note(ndn, now);
        }
        Ok(false)
    }

    /// The rehashes of legacy hashes running after binds ([`rehash`]).
    pub fn rehashes(&self) -> &rehash::Rehashes {
        &self.rehashes
    }

    /// Finishes what binds left to do in the background (a graceful shutdown): the rehashes
    /// of legacy hashes, then the pwdLastSuccess times still queued.
    pub async fn flush_after_binds(&self) {
        self.rehashes.flush().await;
        self.last_binds.flush().await;
    }

    /// Applies what the replication consumer received ([`Actor::Replica`]): returns how many
    /// entries it deleted or wrote. Durable before it returns when `durable`; a refresh
    /// writes many and makes them durable together at its end ([`Writer::sync`]).
    pub async fn replicate(&self, what: Replicated, durable: bool) -> Result<usize, WriteError> {
        let write = move |store: &Store| -> Result<usize, WriteError> {
            Ok(match what {
                Replicated::Entry { entry, cookie } => {
                    store.apply_entry(entry, cookie.as_deref())?;
                    1
                }
                Replicated::Delete { uuid, cookie } => {
                    store.apply_delete(&uuid, cookie.as_deref())?;
                    1
                }
                Replicated::DeleteAbsent { base_ndn, present } => {
                    let mut gone: Vec<(u64, usize)> = store
                        .entries_under(&base_ndn)?
                        .into_iter()
                        .filter(|(_, uuid, _)| uuid.is_none_or(|u| !present.contains(&u)))
                        .map(|(id, _, depth)| (id, depth))
                        .collect();
                    // Deepest first, so each delete takes a leaf.
                    gone.sort_by_key(|g| std::cmp::Reverse(g.1));
                    let ids: Vec<u64> = gone.into_iter().map(|(id, _)| id).collect();
                    store.apply_delete_ids(&ids)?;
                    ids.len()
                }
                Replicated::Cookie { cookie, csn } => {
                    store.store_cookie(&cookie, csn.as_deref())?;
                    0
                }
            })
        };
        self.commit_if(durable, write).await
    }

    /// Makes every write so far durable (the end of a replica's refresh).
    pub async fn sync(&self) -> Result<(), WriteError> {
        self.commit(|_| Ok(())).await
    }

    /// Loads records as `birch import` of content records and slapadd do ([`Actor::Operator`]
    /// loading the suffix entry or the demo campus): each entry prepared
    /// ([`prepare_new_entry`]: cleartext hashed, stamps) and schema-checked, no password
    /// policy bookkeeping; then committed in order, durable at the end. Stops at the first
    /// failure: the DN and why.
    pub async fn load(&self, records: Vec<crate::demo::AddRecord>) -> Result<(), (String, WriteError)> {
        let params = self.passwords.params().clone();
        let (schema, creator, suffix) = (self.schema.clone(), self.root_dn.clone(), self.suffix_ndn.clone());
        let store = self.store.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            for (dn, attrs) in records {
                let at = |e: WriteError| (dn.clone(), e);
                let mut entry = store.make_entry(&dn, attrs).map_err(|e| at(e.into()))?;
                prepare_new_entry(&mut entry, &params, &creator)
                    .map_err(|e| at(WriteError::ldap(LdapResultCode::OperationsError, e.to_string())))?;
                schema_check::check(&schema, &entry).map_err(at)?;
                let is_suffix = entry.ndn == suffix;
                store.add(entry, is_suffix).map_err(|e| at(e.into()))?;
            }
            store.sync().map_err(|e| (String::new(), e.into()))
        })
        .await;
        loaded.map_err(|_| (String::new(), WriteError::ldap(LdapResultCode::OperationsError, "internal error")))?
    }

    /// Puts entries back exactly as given ([`Actor::Operator`] restoring a known state: the
    /// fuzz harness between runs, an import's bulk load). Entries are written as they are:
    /// the caller has prepared them ([`prepare_new_entry`]).
    pub async fn put_entries(&self, entries: Vec<(Entry, bool)>) -> Result<(), WriteError> {
        self.commit(move |store| {
            for (e, is_suffix) in entries {
                match store.get_by_ndn(&e.ndn)? {
                    None => {
                        store.add(e, is_suffix)?;
                    }
                    Some((_, cur)) if cur.dn != e.dn => {
                        store.delete_checked(&e.ndn, true, |_| Ok::<(), StoreError>(()))?;
                        store.add(e, is_suffix)?;
                    }
                    Some((_, cur)) if !same_content(&cur.attrs, &e.attrs) => {
                        store.modify(&e.ndn, |x| {
                            x.attrs.clone_from(&e.attrs);
                            Ok::<(), StoreError>(())
                        })?;
                    }
                    Some(_) => {}
                }
            }
            Ok(())
        })
        .await
    }

    /// Removes entries (with their subtrees) that are not in `keep` ([`Actor::Operator`]
    /// restoring a known state).
    pub async fn remove_except(&self, keep: std::collections::HashSet<String>) -> Result<(), WriteError> {
        self.commit(move |store| {
            let now = store.walk()?.collect::<Result<Vec<Entry>, _>>()?;
            for e in now.iter().filter(|e| !keep.contains(&e.ndn)) {
                match store.delete_checked(&e.ndn, true, |_| Ok::<(), StoreError>(())) {
                    // Already gone with a subtree deleted before it.
                    Ok(_) | Err(StoreError::NoSuchEntry(_)) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            Ok(())
        })
        .await
    }

    /// Maps a failed write to its LDAP result; `dn` is the target as sent. The matchedDN of
    /// a missing (or hidden) entry names only what `actor` may know of
    /// ([`Access::visible_matched`]).
    pub fn failure(&self, actor: &Actor, dn: &str, e: &WriteError) -> birch_proto::ldap3_proto::proto::LdapResult {
        use crate::result::result;
        match e {
            WriteError::Ldap(code, text) | WriteError::Policy(code, _, text) => result(code.clone(), "", text),
            WriteError::Matched(code, matched, text) => result(code.clone(), matched, text),
            WriteError::WrongOldPassword { .. } => {
                result(LdapResultCode::UnwillingToPerform, "", "unwilling to verify old password")
            }
            WriteError::Store(StoreError::NoSuchEntry(_) | StoreError::NoParent(_)) => {
                let matched = Dn::parse(dn)
                    .ok()
                    .and_then(|d| match actor.user() {
                        Some(u) => Some(u.access.visible_matched(&self.store, &u.requester, &d)),
                        None => self.store.matched_dn(&d).ok(),
                    })
                    .unwrap_or_default();
                result(LdapResultCode::NoSuchObject, &matched, "")
            }
            WriteError::Store(StoreError::AlreadyExists(_)) => result(LdapResultCode::EntryAlreadyExists, "", ""),
            WriteError::Store(StoreError::NotLeaf(_)) => {
                result(LdapResultCode::NotAllowedOnNonLeaf, "", "subordinate objects must be deleted first")
            }
            WriteError::Store(StoreError::Loop(_)) => {
                result(LdapResultCode::UnwillingToPerform, "", "cannot move an entry below itself")
            }
            WriteError::Store(e) => crate::result::store_failure(e),
        }
    }
}

/// The bulk loader of `birch import` ([`Actor::Operator`] loading a whole file into a
/// store nothing else uses): the import's first pass has run stages 1-7 on every entry
/// (parents, duplicates, [`prepare_new_entry`], [`schema_check`]), so the loader only
/// commits, in large batches, with memberOf from the groups.
pub fn bulk_loader(store: &Store, batch: usize) -> birch_store::store::BulkLoader {
    store.bulk_loader(batch)
}

/// An entry from an LDIF content record or a loader as it is stored when added by
/// [`Actor::Operator`] without the full pipeline (the bulk import): cleartext passwords
/// hashed (values keep their order and number), entryUUID and creation stamps where
/// missing. The one place that turns a record into a storable entry.
pub fn prepare_new_entry(
    entry: &mut Entry,
    params: &crate::password::Argon2Params,
    creator: &str,
) -> Result<(), crate::password::PasswordError> {
    for a in entry.attrs.iter_mut().filter(|a| password::is_password_type(&a.canonical)) {
        a.values = crate::passwords::hash_all(std::mem::take(&mut a.values), params)?;
    }
    operational::on_add(entry, creator);
    Ok(())
}

/// Whether two entries' attributes are the same apart from entryCSN, which the store stamps
/// afresh on every write (so a restored entry carries a new one).
pub fn same_content(a: &[birch_store::Attribute], b: &[birch_store::Attribute]) -> bool {
    let content = |x: &[birch_store::Attribute]| -> Vec<birch_store::Attribute> {
        x.iter().filter(|a| a.canonical != "entrycsn").cloned().collect()
    };
    content(a) == content(b)
}
