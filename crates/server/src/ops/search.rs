//! Search (RFC 4511 section 4.5): base lookup, planning through the store, limits,
//! abandon, attribute selection and access control per entry, and paging (RFC 2696).

use super::controls::RequestControls;
use super::paged::{self, CookieError, PagedSearch, SearchKey};
use super::{monitor, result, rootdse, store_failure, subschema};
use crate::context::ServerCtx;
use crate::query::attrs::{self, Selection};
use crate::query::filter;
use crate::session::{Responder, Session};
use birch_acl::{Privilege, Requester, Subject};
use birch_proto::ldap3_proto::proto::{
    LdapMsg, LdapOp, LdapResult, LdapResultCode, LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope,
};
use birch_schema::Dn;
use birch_store::{Scope, Tri};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How many candidates are examined between checks of abandon and the time limit (and a
/// cooperative yield to the runtime).
const CHECK_EVERY: usize = 64;

/// The end of a search: its result and, for a paged search, the cookie of the response
/// control (empty on the last page).
struct Done {
    res: LdapResult,
    cookie: Option<Vec<u8>>,
}

impl Done {
    fn plain(code: LdapResultCode, matched: &str, message: &str) -> Option<Done> {
        Some(Done { res: result(code, matched, message), cookie: None })
    }
}

/// Runs a search, streaming entries and the final SearchResultDone. An abandoned search
/// stops and sends nothing more.
pub async fn handle(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    msgid: i32,
    req: LdapSearchRequest,
    tx: &Responder,
    cancel: &CancellationToken,
    controls: &RequestControls,
) -> Option<i32> {
    if let Some(sync) = &controls.sync {
        return super::syncprov::handle(ctx, session, msgid, req, tx, cancel, sync, controls.paged.is_some()).await;
    }
    let mut out = Results { tx, msgid, held: None };
    let done = run(ctx, session, req, &mut out, cancel, controls).await;
    let Done { res, cookie } = done?;
    let code = birch_proto::result::code_number(&res.code);
    if cancel.is_cancelled() {
        // Abandoned: what was queued goes out now rather than with a later response.
        let _ = tx.flush().await;
    } else {
        let ctrl = cookie.map(paged::response).into_iter().collect();
        out.finish(LdapMsg { msgid, op: LdapOp::SearchResultDone(res), ctrl }).await;
    }
    Some(code)
}

/// The entries of one search on their way to the client. Entries are queued in the
/// stream's buffer (written out when it fills) and the latest one is held back until the
/// next one (or the SearchResultDone) is ready, so that a search's last entry and its done
/// message leave in one write: a one-entry search (the common uid lookup) costs one system
/// call and one wake-up of the client instead of two.
struct Results<'a> {
    tx: &'a Responder,
    msgid: i32,
    held: Option<LdapMsg>,
}

impl Results<'_> {
    /// Queues an entry; `None` when the connection's writer has stopped.
    async fn entry(&mut self, op: LdapOp) -> Option<()> {
        let msg = LdapMsg { msgid: self.msgid, op, ctrl: vec![] };
        if let Some(previous) = self.held.replace(msg) {
            self.tx.queue(previous).await.ok()?;
        }
        Some(())
    }

    /// Sends the held entry (if any) together with the final message.
    async fn finish(mut self, done: LdapMsg) {
        let _ = match self.held.take() {
            Some(last) => self.tx.send_many(vec![last, done]).await,
            None => self.tx.send(done).await,
        };
    }
}

async fn run(
    ctx: &Arc<ServerCtx>,
    session: &Session,
    req: LdapSearchRequest,
    out: &mut Results<'_>,
    cancel: &CancellationToken,
    controls: &RequestControls,
) -> Option<Done> {
    let who = session.requester();
    let subject = who.subject.clone();
    let access = ctx.access();
    let schema = &ctx.schema();
    // Access to the filter's attributes is decided per entry (filter::visible).
    let filter = filter::convert(&req.filter, schema, &|_| true);
    let sel = ctx.selection(&req.attrs);
    let everything = |_: &str| true;
    // RFC 2696 section 3: a first page at least as large as the client's size limit is
    // the whole result; the control is ignored (as slapd does).
    let client_limit = usize::try_from(req.sizelimit).ok().filter(|&l| l > 0);
    let paging =
        controls.paged.as_ref().filter(|p| !(p.cookie.is_empty() && client_limit.is_some_and(|l| p.size >= l)));
    // Every result of a paged search that ran carries the response control.
    let last_page =
        |code, message: &str| Some(Done { res: result(code, "", message), cookie: paging.map(|_| Vec::new()) });

    if req.base.trim().is_empty() {
        if req.scope != LdapSearchScope::Base {
            return Done::plain(LdapResultCode::NoSuchObject, "", "");
        }
        let dse = rootdse::entry(ctx);
        if filter.eval(&dse, schema) == Tri::True {
            let attributes = attrs::project(&dse, &sel, schema, &everything, req.typesonly);
            let msg = LdapOp::SearchResultEntry(LdapSearchResultEntry { dn: String::new(), attributes });
            out.entry(msg).await?;
        }
        return last_page(LdapResultCode::Success, "");
    }

    let Some(base_ndn) = ctx.normalized_dn(&req.base) else {
        return Done::plain(LdapResultCode::InvalidDNSyntax, "", "invalid DN");
    };
    let base_ndn = &*base_ndn;
    if base_ndn == subschema::NDN {
        // The subschema subentry: only base (or subtree) scope includes it; readable by anyone.
        if matches!(req.scope, LdapSearchScope::Base | LdapSearchScope::Subtree) {
            let e = subschema::entry(schema);
            if filter.eval(&e, schema) == Tri::True {
                let attributes = attrs::project(&e, &sel, schema, &everything, req.typesonly);
                let msg = LdapOp::SearchResultEntry(LdapSearchResultEntry { dn: e.dn, attributes });
                out.entry(msg).await?;
            }
        }
        return last_page(LdapResultCode::Success, "");
    }
    if monitor::contains(base_ndn) {
        // cn=Monitor: for the root DN and the admins group; as absent for anyone else.
        let all = monitor::entries(ctx);
        if !unlimited(ctx, &who) || !all.iter().any(|e| e.ndn == base_ndn) {
            return last_page(LdapResultCode::NoSuchObject, "");
        }
        let scope = store_scope(&req.scope);
        for e in all.into_iter().filter(|e| birch_schema::ndn::in_scope(&e.ndn, base_ndn, scope)) {
            if filter.eval(&e, schema) == Tri::True {
                let attributes = attrs::project(&e, &sel, schema, &everything, req.typesonly);
                let msg = LdapOp::SearchResultEntry(LdapSearchResultEntry { dn: e.dn, attributes });
                out.entry(msg).await?;
            }
        }
        return last_page(LdapResultCode::Success, "");
    }
    // Subtree moves and tree deletes wait until this search (or page) is done (taken
    // before the base is looked up, so base and subtree are seen in the same state).
    let _tree = ctx.writer().read_tree().await;
    // The base is read for the access decision on it (and the assertion control): only
    // the attributes the policy looks at, unless an assertion needs more.
    let base_found = match &controls.assertion {
        Some(_) => ctx.store().get_by_ndn(base_ndn).map(|found| found.map(|(id, e)| (id, Arc::new(e)))),
        None => access.search_base(ctx.store(), base_ndn),
    };
    let (base_id, base) = match base_found {
        Ok(Some(found)) => found,
        Ok(None) => {
            let matched =
                Dn::parse(&req.base).map(|d| access.visible_matched(ctx.store(), &who, &d)).unwrap_or_default();
            return Done::plain(LdapResultCode::NoSuchObject, &matched, "");
        }
        Err(e) => return Some(Done { res: store_failure(&e), cookie: None }),
    };
    let checks = access.remembering(&session.decisions, &who);
    if !checks.check(&base, "entry", Privilege::Search) {
        // A base the requester may not see answers as if it did not exist, unless the
        // policy lets it learn that the entry exists.
        if access.check(&who, &base, "entry", Privilege::Disclose) {
            return Done::plain(LdapResultCode::InsufficentAccessRights, "", "");
        }
        let matched = Dn::parse(&req.base).map(|d| access.visible_matched(ctx.store(), &who, &d)).unwrap_or_default();
        return Done::plain(LdapResultCode::NoSuchObject, &matched, "");
    }
    if let Some(assertion) = &controls.assertion {
        if filter::visible(assertion, &base, &access, &who).eval(&base, schema) != Tri::True {
            return Done::plain(LdapResultCode::AssertionFailed, "", "assertion control failed");
        }
    }
    let scope = store_scope(&req.scope);
    let unlimited = unlimited(ctx, &who);
    let requester_limit = size_limit_for(ctx, &who);
    let server_limit = (!unlimited && requester_limit > 0).then_some(requester_limit);
    // Unpaged, the size limit is the client's capped by the server's (for the requester,
    // see `[limits]`). Paged, the client's limit counts the entries of all pages and the
    // server's caps each page (docs/configuration.md, `size_limit`).
    let (total_limit, page_limit) = match paging {
        None => (effective_limit(req.sizelimit, requester_limit, unlimited), None),
        Some(p) => (client_limit, Some(server_limit.map_or(p.size, |s| p.size.min(s)))),
    };
    let time_limit = effective_limit(req.timelimit, time_limit_for(ctx, &who), unlimited);
    let deadline = time_limit.map(|s| Instant::now() + Duration::from_secs(s as u64));
    let wants_computed = sel.all_operational || sel.names.iter().any(|n| COMPUTED.contains(&n.as_str()));

    let key = paging.map(|_| SearchKey::new(&req, base_ndn, &subject));
    let resumed = match (paging, &key) {
        (Some(p), Some(key)) if !p.cookie.is_empty() => match session.paged.take(&p.cookie, key) {
            Ok(search) => Some(search),
            Err(CookieError::Malformed) => {
                return Done::plain(LdapResultCode::ProtocolError, "", "paged results cookie is invalid")
            }
            Err(CookieError::Unknown) => {
                return Done::plain(LdapResultCode::UnwillingToPerform, "", "paged results cookie is invalid or old")
            }
        },
        _ => None,
    };
    // Page size 0 abandons the paged search (its state was just taken out and is dropped).
    if paging.is_some_and(|p| p.size == 0) {
        return last_page(LdapResultCode::Success, "");
    }
    let (mut iter, mut sent) = match resumed {
        Some(search) => (search.iter, search.sent),
        None => match ctx.store().search(base_id, &base, scope, filter.clone()) {
            Ok(mut it) => {
                if let Some((types, filter_only)) = access
                    .needed_types(&req.attrs, &filter, || needed_types(schema, &sel, &filter, &access, wants_computed))
                {
                    it.only(types);
                    it.read_for_filter(&filter_only);
                }
                (it, 0)
            }
            Err(e) => return Some(Done { res: store_failure(&e), cookie: None }),
        },
    };
    let mut page_sent = 0usize;
    let mut examined = 0usize;
    loop {
        examined += 1;
        if examined.is_multiple_of(CHECK_EVERY) {
            if cancel.is_cancelled() {
                return None;
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                return last_page(LdapResultCode::TimeLimitExceeded, "");
            }
            // Store reads are synchronous: give other tasks on this worker a turn.
            tokio::task::yield_now().await;
        }
        let entry = match iter.step() {
            None => break,
            Some(Ok(Some(e))) => e,
            Some(Ok(None)) => continue,
            Some(Err(e)) => return Some(Done { res: store_failure(&e), cookie: None }),
        };
        if !checks.check(&entry, "entry", Privilege::Read) {
            continue;
        }
        // The store matched the entry with the full filter: evaluate again only when access
        // hides some of the filter's attributes from this requester.
        let searchable = |a: &str| checks.check(&entry, a, Privilege::Search);
        if let std::borrow::Cow::Owned(masked) = filter::visible_with(&filter, &searchable) {
            // A match read without the types only its filter needed is read whole for this.
            let whole = if iter.last_reduced() {
                match iter.reread_last() {
                    Ok(Some(e)) => Some(e),
                    Ok(None) => continue,
                    Err(e) => return Some(Done { res: store_failure(&e), cookie: None }),
                }
            } else {
                None
            };
            if masked.eval(whole.as_ref().unwrap_or(&entry), schema) != Tri::True {
                continue;
            }
        }
        if let (Some(limit), Some(key)) = (page_limit, &key) {
            if page_sent >= limit {
                // The page is full and another entry matches: keep the search for the
                // next page, starting with this entry.
                iter.unstep();
                return match session.paged.park(PagedSearch { key: key.clone(), iter, sent }, &ctx.budgets().paged) {
                    Some(cookie) => Some(Done { res: result(LdapResultCode::Success, "", ""), cookie: Some(cookie) }),
                    // Too large to keep between pages (connections.max_paged_bytes*).
                    None => last_page(
                        LdapResultCode::AdminLimitExceeded,
                        "paged search too large to keep between pages; narrow the filter",
                    ),
                };
            }
        }
        if total_limit.is_some_and(|l| sent >= l) {
            return last_page(LdapResultCode::SizeLimitExceeded, "");
        }
        let readable = |a: &str| checks.check(&entry, a, Privilege::Read);
        let mask = attrs::selection_mask(&entry, &sel, schema, &readable);
        let computed = wants_computed.then(|| {
            let mut extra = Vec::new();
            add_computed(ctx, &entry, &sel, req.typesonly, &mut extra);
            extra
        });
        let (dn, mut attributes) = attrs::project_owned(entry, &mask, req.typesonly);
        attributes.extend(computed.into_iter().flatten());
        let op = LdapOp::SearchResultEntry(LdapSearchResultEntry { dn, attributes });
        out.entry(op).await?;
        sent += 1;
        page_sent += 1;
    }
    if cancel.is_cancelled() {
        return None;
    }
    if deadline.is_some_and(|d| Instant::now() > d) {
        return last_page(LdapResultCode::TimeLimitExceeded, "");
    }
    last_page(LdapResultCode::Success, "")
}

/// The attribute types a search must read from each entry, when that is not all of them:
/// the selected ones, the filter's, and those the access policy decides on (with their
/// subtypes, lower-case names without options); and, second, those of them only the filter
/// needs. `None` (read everything) for `*`, `+` and computed attributes. Reading a few
/// attributes of a large entry (a group's hundreds of member values) skips decoding the rest.
fn needed_types(
    schema: &birch_schema::Schema,
    sel: &Selection,
    filter: &birch_store::Filter,
    access: &crate::access::Access,
    wants_computed: bool,
) -> Option<(Vec<String>, Vec<String>)> {
    if sel.all_user || sel.all_operational || wants_computed {
        return None;
    }
    let expand = |bases: &[&str], types: &mut Vec<String>| {
        for &b in bases {
            let subtypes = if schema.has_subtypes(b) { schema.subtypes(b) } else { vec![b] };
            for t in subtypes {
                if !types.iter().any(|k| k == t) {
                    types.push(t.to_string());
                }
            }
        }
    };
    let mut bases: Vec<&str> = sel.names.iter().map(|n| birch_schema::desc::base(n)).collect();
    bases.extend(access.decision_types().iter().map(String::as_str));
    let mut types = Vec::with_capacity(bases.len() + 2);
    expand(&bases, &mut types);
    let mut in_filter = Vec::new();
    filter.attributes(&mut in_filter);
    let mut filter_types = Vec::new();
    expand(&in_filter, &mut filter_types);
    let filter_only: Vec<String> = filter_types.into_iter().filter(|t| !types.contains(t)).collect();
    types.extend(filter_only.iter().cloned());
    Some((types, filter_only))
}

/// Operational attributes computed on the fly rather than stored.
const COMPUTED: &[&str] =
    &["entrydn", "subschemasubentry", "hassubordinates", "numsubordinates", "structuralobjectclass", "contextcsn"];

fn add_computed(
    ctx: &ServerCtx,
    entry: &birch_store::Entry,
    sel: &Selection,
    types_only: bool,
    out: &mut Vec<birch_proto::ldap3_proto::proto::LdapPartialAttribute>,
) {
    if entry.ndn == ctx.suffix_ndn() && (sel.all_operational || sel.names.contains("contextcsn")) {
        // The store's contextCSN (pushed below), not a stale one imported from slapcat.
        out.retain(|a| !a.atype.eq_ignore_ascii_case("contextCSN"));
    }
    let mut push = |name: &str, canonical: &str, value: String| {
        if sel.all_operational || sel.names.contains(canonical) {
            out.push(birch_proto::ldap3_proto::proto::LdapPartialAttribute {
                atype: name.to_string(),
                vals: if types_only { vec![] } else { vec![value.into_bytes()] },
            });
        }
    };
    push("entryDN", "entrydn", entry.dn.clone());
    push("subschemaSubentry", "subschemasubentry", "cn=Subschema".to_string());
    let wants = |c: &str| sel.all_operational || sel.names.contains(c);
    // The suffix shows the store's contextCSN, as slapd's suffix entry does.
    // A multi-provider server shows one value per server id, as slapd does.
    if wants("contextcsn") && entry.ndn == ctx.suffix_ndn() {
        if ctx.store().is_multi_provider() {
            for csn in ctx.store().context_csns().unwrap_or_default() {
                push("contextCSN", "contextcsn", csn);
            }
        } else if let Ok(Some(csn)) = ctx.store().context_csn() {
            push("contextCSN", "contextcsn", csn);
        }
    }
    if wants("hassubordinates") || wants("numsubordinates") {
        let children = ctx
            .store()
            .id_of(&entry.ndn)
            .ok()
            .flatten()
            .and_then(|id| ctx.store().children(id).ok())
            .map_or(0, |c| c.len());
        push("hasSubordinates", "hassubordinates", if children > 0 { "TRUE" } else { "FALSE" }.to_string());
        push("numSubordinates", "numsubordinates", children.to_string());
    }
    if wants("structuralobjectclass") {
        let classes: Vec<String> = entry
            .get("objectclass")
            .map(|a| a.values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect())
            .unwrap_or_default();
        let names: Vec<&str> = classes.iter().map(String::as_str).collect();
        if let Ok(c) = ctx.schema().structural_class(&names) {
            let name = c.names.first().cloned().unwrap_or_else(|| c.oid.clone());
            push("structuralObjectClass", "structuralobjectclass", name);
        }
    }
}

/// Whether the requester's searches are never limited by the server: the root DN and the
/// campus admins group.
fn unlimited(ctx: &ServerCtx, who: &Requester) -> bool {
    match &who.subject {
        Subject::Root => true,
        Subject::User(_) => ctx.access().is_admin(who),
        Subject::Anonymous => false,
    }
}

/// The store's scope for a protocol scope.
fn store_scope(scope: &LdapSearchScope) -> Scope {
    match scope {
        LdapSearchScope::Base => Scope::Base,
        LdapSearchScope::OneLevel => Scope::One,
        LdapSearchScope::Subtree => Scope::Sub,
        LdapSearchScope::Children => Scope::Children,
    }
}

/// The kinds of requester `[limits]` distinguishes.
enum Kind {
    Anonymous,
    Service,
    User,
    Root,
}

/// Which kind of requester `who` is for `[limits]`.
fn kind_of(ctx: &ServerCtx, who: &Requester) -> Kind {
    match &who.subject {
        Subject::Anonymous => Kind::Anonymous,
        Subject::User(ndn) => {
            if ctx.access().is_service(ndn) {
                Kind::Service
            } else {
                Kind::User
            }
        }
        Subject::Root => Kind::Root,
    }
}

/// The server's size limit for a requester: `[limits]` for anonymous clients and service
/// accounts, `size_limit` for other users.
fn size_limit_for(ctx: &ServerCtx, who: &Requester) -> usize {
    match kind_of(ctx, who) {
        Kind::Anonymous => ctx.config().limits.anonymous,
        Kind::Service => ctx.config().limits.services,
        Kind::User => ctx.config().size_limit,
        Kind::Root => 0,
    }
}

/// The server's time limit in seconds for a requester: `[limits]` `anonymous_time` and
/// `services_time` where set, `time_limit` otherwise.
fn time_limit_for(ctx: &ServerCtx, who: &Requester) -> usize {
    let l = &ctx.config().limits;
    let secs = match kind_of(ctx, who) {
        Kind::Anonymous => l.anonymous_time.unwrap_or(ctx.config().time_limit),
        Kind::Service => l.services_time.unwrap_or(ctx.config().time_limit),
        Kind::User => ctx.config().time_limit,
        Kind::Root => 0,
    };
    usize::try_from(secs).unwrap_or(usize::MAX)
}

/// The limit in force: the client's, capped by the server's for everyone but the root DN.
/// `None` is unlimited.
fn effective_limit(client: i32, server: usize, unlimited: bool) -> Option<usize> {
    let client = usize::try_from(client).ok().filter(|&c| c > 0);
    let server = (!unlimited && server > 0).then_some(server);
    match (client, server) {
        (Some(c), Some(s)) => Some(c.min(s)),
        (c, s) => c.or(s),
    }
}

#[cfg(test)]
mod tests {
    use super::effective_limit;

    #[test]
    fn limits_combine() {
        assert_eq!(effective_limit(0, 500, false), Some(500));
        assert_eq!(effective_limit(10, 500, false), Some(10));
        assert_eq!(effective_limit(1000, 500, false), Some(500));
        assert_eq!(effective_limit(0, 500, true), None);
        assert_eq!(effective_limit(7, 500, true), Some(7));
        assert_eq!(effective_limit(-1, 0, false), None);
    }
}
