//! `cn=Monitor`: the server's figures as a read-only LDAP subtree, as slapd's back-monitor
//! offers them (connections, operations initiated and completed per kind, entries, failed
//! binds, the hashing queue, uptime, replication with one entry per peer). Readable by
//! the root DN and the admins group only. The counters are operational attributes
//! (`monitorCounter`, `monitorOpInitiated`, `monitorOpCompleted`): ask for them by name or
//! with `+`.

use crate::context::ServerCtx;
use birch_store::Entry;
use std::sync::atomic::Ordering;

/// The normalized DN of the subtree's root.
pub const NDN: &str = "cn=monitor";

/// Whether a normalized DN is in the monitor subtree.
pub fn contains(ndn: &str) -> bool {
    birch_schema::ndn::is_under(ndn, NDN)
}

fn entry(rdn: &str, parent: &str, classes: &[&str]) -> Entry {
    let dn = if parent.is_empty() { rdn.to_string() } else { format!("{rdn},{parent}") };
    let mut e = Entry { ndn: dn.to_ascii_lowercase(), dn, parent: 0, attrs: vec![] };
    e.add_values("objectClass", "objectclass", classes.iter().map(|c| c.as_bytes().to_vec()));
    let cn = rdn.strip_prefix("cn=").unwrap_or(rdn);
    e.add_values("cn", "cn", [cn.as_bytes().to_vec()]);
    e
}

fn counter(rdn: &str, parent: &str, value: impl ToString) -> Entry {
    let mut e = entry(rdn, parent, &["monitorCounterObject"]);
    e.add_values("monitorCounter", "monitorcounter", [value.to_string().into_bytes()]);
    e
}

/// Every entry of the subtree, parents before children.
pub fn entries(ctx: &ServerCtx) -> Vec<Entry> {
    let m = &ctx.metrics();
    let root = "cn=Monitor";
    let mut out = Vec::new();
    let mut server = entry(root, "", &["monitorServer"]);
    server.add_values("description", "description", [format!("Birch {}", env!("CARGO_PKG_VERSION")).into_bytes()]);
    out.push(server);
    let conns = "cn=Connections,cn=Monitor";
    out.push(entry("cn=Connections", root, &["monitorContainer"]));
    out.push(counter("cn=Current", conns, m.connections.load(Ordering::Relaxed)));
    out.push(counter("cn=Total", conns, m.connections_total.load(Ordering::Relaxed)));
    let ops = "cn=Operations,cn=Monitor";
    let counts = m.op_counts();
    let mut all = entry("cn=Operations", root, &["monitorOperation"]);
    all.add_values(
        "monitorOpInitiated",
        "monitoropinitiated",
        [counts.iter().map(|c| c.initiated).sum::<u64>().to_string().into_bytes()],
    );
    all.add_values(
        "monitorOpCompleted",
        "monitoropcompleted",
        [counts.iter().map(|c| c.completed).sum::<u64>().to_string().into_bytes()],
    );
    out.push(all);
    for kind in ["bind", "search", "compare", "add", "delete", "modify", "modrdn", "extended"] {
        let c = counts.iter().find(|c| c.op == kind);
        let mut name = kind.to_string();
        name[..1].make_ascii_uppercase();
        let mut e = entry(&format!("cn={name}"), ops, &["monitorOperation"]);
        e.add_values(
            "monitorOpInitiated",
            "monitoropinitiated",
            [c.map_or(0, |c| c.initiated).to_string().into_bytes()],
        );
        e.add_values(
            "monitorOpCompleted",
            "monitoropcompleted",
            [c.map_or(0, |c| c.completed).to_string().into_bytes()],
        );
        out.push(e);
    }
    let stats = "cn=Statistics,cn=Monitor";
    out.push(entry("cn=Statistics", root, &["monitorContainer"]));
    out.push(counter("cn=Entries", stats, ctx.store().len()));
    out.push(counter("cn=Bind Failures", stats, m.bind_failures.load(Ordering::Relaxed)));
    out.push(counter("cn=Hash Queue", stats, m.hash_waiting.load(Ordering::Relaxed).max(0)));
    out.push(counter("cn=Uptime", stats, m.uptime().as_secs()));
    let repl = "cn=Replication,cn=Monitor";
    let mut r = entry("cn=Replication", root, &["monitorContainer"]);
    let context = ctx.store().context_csn().ok().flatten().unwrap_or_default();
    r.add_values("description", "description", [format!("contextCSN {context}").into_bytes()]);
    if let Some(p) = &ctx.config().replication.provider {
        r.add_values("labeledURI", "labeleduri", [p.clone().into_bytes()]);
    }
    out.push(r);
    for (name, value) in m.replication.monitor_counters() {
        out.push(counter(name, repl, value));
    }
    peer_entries(ctx, repl, &mut out);
    out
}

/// One entry per provider or peer followed, below `cn=Replication` (`cn=Peer N`, N its
/// position in `[[replication.providers]]`; `cn=Provider` for a read-only replica's): its
/// URL as `labeledURI` and its figures as counters (server id once known; connected; lag
/// in microseconds; last contact and the tombstones of its deletes kept; conflicts).
fn peer_entries(ctx: &ServerCtx, repl: &str, out: &mut Vec<Entry>) {
    let stats = &ctx.metrics().replication;
    for up in ctx.config().replication.upstreams() {
        let p = stats.peer(&up.url);
        let rdn = if up.peer { format!("cn=Peer {}", up.rid) } else { "cn=Provider".to_string() };
        let dn = format!("{rdn},{repl}");
        let mut e = entry(&rdn, repl, &["monitorContainer", "labeledURIObject"]);
        e.add_values("labeledURI", "labeleduri", [up.url.clone().into_bytes()]);
        out.push(e);
        let sid = p.server_id.load(Ordering::Relaxed);
        if sid != 0 {
            out.push(counter("cn=Server ID", &dn, sid));
            out.push(counter("cn=Tombstones", &dn, stats.tombstones_of(sid as u16)));
        }
        out.push(counter("cn=Connected", &dn, p.connected.load(Ordering::Relaxed)));
        out.push(counter("cn=Lag Microseconds", &dn, p.lag_micros.load(Ordering::Relaxed)));
        out.push(counter("cn=Last Contact", &dn, p.last_contact.load(Ordering::Relaxed)));
        out.push(counter("cn=Conflicts", &dn, p.conflicts.load(Ordering::Relaxed)));
    }
}

#[cfg(test)]
mod tests {
    use birch_schema::ndn::{in_scope, Scope};

    /// The scope test of a search below cn=Monitor (it used to count commas, so an escaped
    /// comma in an RDN value made a child look two levels down, and a top entry whose value
    /// ends in ",cn=Monitor" look like part of the subtree).
    #[test]
    fn one_level_counts_rdns_not_commas() {
        assert!(in_scope(r"cn=a\,b,cn=monitor", "cn=monitor", Scope::One));
        assert!(!in_scope(r"cn=x,cn=a\,b,cn=monitor", "cn=monitor", Scope::One));
        assert!(!in_scope(r"cn=a\,cn=monitor", "cn=monitor", Scope::Sub));
        assert!(!super::contains(r"cn=a\,cn=monitor"));
    }
}
