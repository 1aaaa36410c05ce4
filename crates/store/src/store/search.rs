//! Searches: a filter planned against the indexes ([`crate::plan`]) and a cursor
//! ([`SearchIter`]) over the candidates, checking scope and filter on each.

use super::dn_tree::decode_id;
use super::Store;
use crate::entry::Entry;
use crate::filter::{Filter, Tri};
use crate::plan::{self, Plan};
use crate::StoreError;
use birch_schema::ndn::{self, Scope};

impl Store {
    /// Plans a filter (exposed for tests and benchmarks).
    pub fn plan(&self, filter: &Filter) -> Result<Plan, StoreError> {
        plan::plan(filter, &self.inner.index, &self.inner.cfg, self.schema())
    }

    /// Starts a search below the base entry `(base_id, base)`.
    pub fn search(&self, base_id: u64, base: &Entry, scope: Scope, filter: Filter) -> Result<SearchIter, StoreError> {
        // Taken before the index is read: while nothing is written after it, candidates are
        // checked against the part of the filter the index did not answer exactly.
        let stamp = self.quiet_stamp();
        let (planned, rest) = match scope {
            Scope::Base => (Plan::Ids(vec![base_id]), None),
            _ => plan::plan_with_rest(&filter, &self.inner.index, &self.inner.cfg, self.schema())?,
        };
        let source = match scope {
            Scope::Base => Source::Ids(vec![base_id].into_iter()),
            _ => match planned {
                Plan::Ids(ids) => Source::Ids(ids.into_iter()),
                Plan::Scan if scope == Scope::One => Source::Ids(self.children(base_id)?.into_iter()),
                Plan::Scan if base.parent == 0 => Source::All(Box::new(self.inner.entries.iter())),
                Plan::Scan => {
                    let mut stack = self.children(base_id)?;
                    if scope == Scope::Sub {
                        stack.push(base_id);
                    }
                    Source::Dfs(stack)
                }
            },
        };
        Ok(SearchIter {
            store: self.clone(),
            filter,
            scope,
            base_id,
            base_ndn: base.ndn.clone(),
            source,
            rest: rest.zip(stamp),
            last: None,
            again: None,
            only: None,
            reduced: None,
            last_reduced: false,
        })
    }
}

enum Source {
    Ids(std::vec::IntoIter<u64>),
    All(Box<sled::Iter>),
    Dfs(Vec<u64>),
}

/// A running search: yields the matching entries in scope.
pub struct SearchIter {
    store: Store,
    filter: Filter,
    scope: Scope,
    base_id: u64,
    base_ndn: String,
    source: Source,
    /// What is left of the filter once the index answered part of it exactly, and the
    /// stamp ([`Store::quiet_stamp`]) taken before the index was read: valid for an entry
    /// read while no write has begun since.
    rest: Option<(Filter, u64)>,
    /// The id of the last match [`SearchIter::step`] returned.
    last: Option<u64>,
    /// An id to examine again before the source continues (see [`SearchIter::unstep`]).
    again: Option<u64>,
    /// When set, only these attribute types (lower-case names) are read from each entry.
    only: Option<std::sync::Arc<[String]>>,
    /// The types read from an entry checked against the rest of the filter (see
    /// [`SearchIter::read_for_filter`]), when fewer than `only`.
    reduced: Option<std::sync::Arc<[String]>>,
    /// Whether the last match was read with the `reduced` types.
    last_reduced: bool,
}

impl SearchIter {
    fn in_scope(&self, id: u64, e: &Entry) -> bool {
        match self.scope {
            Scope::Base => id == self.base_id,
            Scope::One => e.parent == self.base_id && ndn::parent(&e.ndn) == self.base_ndn,
            Scope::Sub => id == self.base_id || ndn::is_below(&e.ndn, &self.base_ndn),
            Scope::Children => ndn::is_below(&e.ndn, &self.base_ndn),
        }
    }

    /// Reads only the attribute types named (lower-case names, without options; subtypes
    /// are not implied) from each entry: the filter's, and whatever the caller needs. The
    /// entries returned then carry just those attributes.
    pub fn only(&mut self, types: std::sync::Arc<[String]>) {
        self.only = Some(types);
    }

    /// Of the types given to [`SearchIter::only`], those read only to evaluate the filter:
    /// an entry the index answered those terms for (and nothing was written meanwhile) is
    /// read without them. Such a match lacks them; [`SearchIter::reread_last`] reads it whole.
    pub fn read_for_filter(&mut self, filter_only: &[String]) {
        let (Some(only), Some((rest, _))) = (&self.only, &self.rest) else { return };
        let schema = self.store.schema();
        let mut used = Vec::new();
        rest.attributes(&mut used);
        // A type the rest asserts on, or a subtype of one, is still needed.
        let needed =
            |t: &str| used.iter().any(|&u| u == t || (schema.has_subtypes(u) && schema.subtypes(u).contains(&t)));
        let skipped: Vec<&String> = filter_only.iter().filter(|t| !needed(t)).collect();
        if skipped.is_empty() {
            return;
        }
        let kept: Vec<String> = only.iter().filter(|t| !skipped.contains(t)).cloned().collect();
        self.reduced = Some(kept.into());
    }

    fn load(&self, id: u64) -> Result<Option<(u64, sled::IVec)>, StoreError> {
        Ok(self.store.inner.entries.get(id.to_be_bytes())?.map(|v| (id, v)))
    }

    fn decode(&self, v: &[u8], types: Option<&[String]>) -> Result<Entry, StoreError> {
        match types {
            Some(types) => Entry::decode_only(v, types),
            None => Entry::decode(v),
        }
    }

    /// Reads the last match again with all the types given to [`SearchIter::only`] (for a
    /// caller that must evaluate the whole filter on it); `None` if it is gone.
    pub fn reread_last(&self) -> Result<Option<Entry>, StoreError> {
        let Some(id) = self.last else { return Ok(None) };
        match self.load(id)? {
            Some((_, v)) => Ok(Some(self.decode(&v, self.only.as_deref())?)),
            None => Ok(None),
        }
    }

    /// Whether the last match was read without the types only its filter needed (see
    /// [`SearchIter::read_for_filter`]).
    pub fn last_reduced(&self) -> bool {
        self.last_reduced
    }

    /// The next candidate, as stored; `Ok(None)` skips an id whose entry vanished meanwhile.
    #[allow(clippy::type_complexity)]
    fn next_candidate(&mut self) -> Option<Result<Option<(u64, sled::IVec)>, StoreError>> {
        if let Some(id) = self.again.take() {
            return Some(self.load(id));
        }
        match &mut self.source {
            Source::Ids(it) => {
                let id = it.next()?;
                Some(self.load(id))
            }
            Source::All(it) => {
                let kv = it.next()?;
                Some(kv.map_err(StoreError::from).map(|(k, v)| Some((decode_id(&k).unwrap_or_default(), v))))
            }
            Source::Dfs(stack) => {
                let id = stack.pop()?;
                // The base's children were pushed when the search started.
                if id != self.base_id {
                    match self.store.children(id) {
                        Ok(mut kids) => {
                            kids.reverse();
                            stack.extend(kids);
                        }
                        Err(e) => return Some(Err(e)),
                    }
                }
                Some(self.load(id))
            }
        }
    }
}

impl SearchIter {
    /// Examines one candidate: `Some(Ok(Some(entry)))` for a match, `Some(Ok(None))` for a
    /// candidate that does not match, `None` when the search is exhausted. Lets a caller
    /// check limits and cancellation even while long stretches of candidates fail.
    pub fn step(&mut self) -> Option<Result<Option<Entry>, StoreError>> {
        let (id, raw) = match self.next_candidate()? {
            Ok(Some(c)) => c,
            Ok(None) => return Some(Ok(None)),
            Err(e) => return Some(Err(e)),
        };
        // Checked after the read: the index and the entry were both read before any write
        // began, so the terms the index answered hold for this entry.
        let (filter, reduced) = match &self.rest {
            Some((rest, stamp)) if self.store.unchanged_since(*stamp) => (rest, self.reduced.is_some()),
            _ => (&self.filter, false),
        };
        let types = if reduced { self.reduced.as_deref() } else { self.only.as_deref() };
        let entry = match self.decode(&raw, types) {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        // Always checked: an entry may have moved since the candidates were planned.
        if !self.in_scope(id, &entry) {
            return Some(Ok(None));
        }
        if filter.eval(&entry, self.store.schema()) == Tri::True {
            self.last = Some(id);
            self.last_reduced = reduced;
            Some(Ok(Some(entry)))
        } else {
            Some(Ok(None))
        }
    }
}

impl SearchIter {
    /// Puts the last match back: the next [`SearchIter::step`] examines that entry again,
    /// re-read from the store (so a change or delete in between is seen), then the search
    /// goes on where it was. A paged search keeps its iterator between pages and calls this
    /// for the match that did not fit in the page, so a whole walk reads each candidate
    /// once.
    pub fn unstep(&mut self) {
        self.again = self.last.take();
    }
}

impl Iterator for SearchIter {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.step()? {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{attrs, store};

    #[test]
    fn add_search_delete() {
        let (_d, s) = store();
        let root = s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap();
        let root_id = s.add(root, true).unwrap();
        let e = s.make_entry("uid=a,dc=x", attrs(&[("objectClass", "account"), ("uid", "a")])).unwrap();
        s.add(e.clone(), false).unwrap();
        assert!(matches!(s.add(e, false), Err(StoreError::AlreadyExists(_))));
        let orphan = s.make_entry("uid=b,ou=none,dc=x", attrs(&[("uid", "b")])).unwrap();
        assert!(matches!(s.add(orphan, false), Err(StoreError::NoParent(_))));
        let base = s.get(root_id).unwrap().unwrap();
        let f = Filter::equality(s.schema(), "uid", b"A", None);
        let found: Vec<_> = s.search(root_id, &base, Scope::Sub, f).unwrap().map(|e| e.unwrap().dn).collect();
        assert_eq!(found, vec!["uid=a,dc=x"]);
        assert!(matches!(s.delete("dc=x"), Err(StoreError::NotLeaf(_))));
        s.delete("uid=a,dc=x").unwrap();
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn unstep_resumes_with_the_last_match_reread() {
        let (_d, s) = store();
        let root_id =
            s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        for u in ["a", "b", "c"] {
            let e = s.make_entry(&format!("uid={u},dc=x"), attrs(&[("objectClass", "account"), ("uid", u)])).unwrap();
            s.add(e, false).unwrap();
        }
        let base = s.get(root_id).unwrap().unwrap();
        let f = Filter::equality(s.schema(), "objectclass", b"account", None);
        let mut it = s.search(root_id, &base, Scope::Sub, f).unwrap();
        let first = it.next().unwrap().unwrap().dn;
        let second = it.next().unwrap().unwrap().dn;
        it.unstep();
        // The put-back entry is read again: once deleted, it is skipped.
        s.delete(&second).unwrap();
        let rest: Vec<String> = it.map(|e| e.unwrap().dn).collect();
        assert_eq!(rest.len(), 1);
        assert!(![first.as_str(), second.as_str()].contains(&rest[0].as_str()));
    }

    #[test]
    fn an_escaped_comma_does_not_put_an_entry_below_another() {
        let (_d, s) = store();
        s.add(s.make_entry("dc=x", attrs(&[("objectClass", "domain"), ("dc", "x")])).unwrap(), true).unwrap();
        let p_id = s.add(s.make_entry("ou=p,dc=x", attrs(&[("objectClass", "organizationalUnit")])).unwrap(), false);
        // The value "a,ou=p": one RDN, so a child of dc=x whose DN ends in ",ou=p,dc=x".
        let e = s.make_entry(r"uid=a\,ou=p,dc=x", attrs(&[("objectClass", "account"), ("uid", "a,ou=p")])).unwrap();
        s.add(e, false).unwrap();
        let p_id = p_id.unwrap();
        let p = s.get(p_id).unwrap().unwrap();
        for scope in [Scope::Sub, Scope::Children, Scope::One] {
            let f = Filter::equality(s.schema(), "uid", b"a,ou=p", None);
            assert!(matches!(s.plan(&f).unwrap(), Plan::Ids(_)));
            let found: Vec<_> = s.search(p_id, &p, scope, f).unwrap().map(|e| e.unwrap().dn).collect();
            assert!(found.is_empty(), "{scope:?}: {found:?}");
        }
    }
}
