//! Filter planning: turns a filter into a candidate id set from the indexes, or a scan.
//! Candidates are a superset of the matches; every candidate is evaluated on the entry.

use crate::filter::Filter;
use crate::index::{self, IndexConfig, ANCHOR_END, ANCHOR_START};
use crate::StoreError;
use crate::{packs, postings};
use birch_schema::desc::base;
use birch_schema::Schema;

/// How to find the candidates of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// These ids (sorted, unique) are a superset of the matching entries.
    Ids(Vec<u64>),
    /// No index helps: scan the scope.
    Scan,
}

/// An And stops intersecting once its candidate set is this small: evaluating a few
/// entries is cheaper than reading another posting list.
const SMALL_ENOUGH: usize = 16;

/// Plans a filter against the index tree.
pub fn plan(filter: &Filter, tree: &sled::Tree, cfg: &IndexConfig, schema: &Schema) -> Result<Plan, StoreError> {
    Ok(match filter {
        // Undefined matches nothing (nor does its negation, which is planned as a scan and
        // then evaluated): no candidates.
        Filter::Undefined => Plan::Ids(Vec::new()),
        // Index keys are normalized with the attribute's own equality rule; an extensible
        // match with another rule cannot use them.
        // Tagged values are indexed under their type (`cn;lang-en` under `cn`): an assertion
        // on a tagged description reads its type's lists, a superset of its matches.
        Filter::Equality { attr, value, rule } if cfg.equality.contains(base(attr)) && *rule == schema.rule(attr) => {
            Plan::Ids(packs::read(tree, &index::eq_prefix(base(attr), value))?)
        }
        Filter::Present { attr } if base(attr) != "objectclass" && cfg.equality.contains(base(attr)) => {
            Plan::Ids(postings::read(tree, &index::pres_prefix(base(attr)))?)
        }
        // Grams come from values prepared with the type's equality rule: a SUBSTR rule that
        // prepares differently cannot use them.
        Filter::Substring { attr, rule, initial, any, fin }
            if cfg.substring.contains(base(attr)) && *rule == schema.rule(base(attr)) =>
        {
            // Index grams come from prepared values; a spaced component's words, joined by
            // single spaces, are part of every value it matches.
            let core = |c: &[u8]| -> Vec<u8> {
                if crate::filter::spaced_substrings(*rule) {
                    birch_schema::prep::substring_core(&String::from_utf8_lossy(c)).into_bytes()
                } else {
                    c.to_vec()
                }
            };
            let mut parts: Vec<Vec<u8>> = Vec::new();
            if let Some(i) = initial {
                let c = core(i);
                if birch_schema::prep::starts_with_mark(&String::from_utf8_lossy(&c)) {
                    parts.push(c);
                } else {
                    parts.push([&[ANCHOR_START][..], &c].concat());
                }
            }
            parts.extend(any.iter().map(|a| core(a)));
            if let Some(f) = fin {
                parts.push([&core(f)[..], &[ANCHOR_END][..]].concat());
            }
            let lists = parts
                .iter()
                .flat_map(|p| index::grams(p))
                .map(|g| postings::read(tree, &index::sub_prefix(base(attr), &g)).map(Some));
            intersect_until_small(lists)?
        }
        Filter::And(fs) => plan_and(fs, tree, cfg, schema, &mut vec![false; fs.len()])?,
        Filter::Or(fs) => {
            let mut all = Vec::new();
            for f in fs {
                match plan(f, tree, cfg, schema)? {
                    Plan::Ids(ids) => all = union(&all, &ids),
                    Plan::Scan => return Ok(Plan::Scan),
                }
            }
            Plan::Ids(all)
        }
        _ => Plan::Scan,
    })
}

/// Plans a filter as [`plan`] does and, when the ids answer some of its terms exactly (an
/// equality on an equality-indexed type, as the index was read), also returns what is left
/// of the filter: an entry among the ids matches the filter exactly when it matches the
/// rest, as long as nothing was written since the index was read. Only a top-level
/// equality or the equalities of a top-level And are taken out; `None` when nothing is.
pub fn plan_with_rest(
    filter: &Filter,
    tree: &sled::Tree,
    cfg: &IndexConfig,
    schema: &Schema,
) -> Result<(Plan, Option<Filter>), StoreError> {
    match filter {
        Filter::And(fs) => {
            let mut exact = vec![false; fs.len()];
            let planned = plan_and(fs, tree, cfg, schema, &mut exact)?;
            let rest = (matches!(planned, Plan::Ids(_)) && exact.contains(&true))
                .then(|| Filter::And(fs.iter().zip(&exact).filter(|(_, e)| !**e).map(|(f, _)| f.clone()).collect()));
            Ok((planned, rest))
        }
        f => {
            let planned = plan(f, tree, cfg, schema)?;
            // An empty And is absolutely true (RFC 4526).
            let rest =
                (matches!(planned, Plan::Ids(_)) && answered_exactly(f, cfg, schema)).then(|| Filter::And(Vec::new()));
            Ok((planned, rest))
        }
    }
}

/// Whether the posting list [`plan`] reads for `f` holds exactly the entries `f` is true
/// for: an equality with the type's own rule on an equality-indexed type without options
/// (tagged values are indexed under their type) and without subtypes (the filter matches
/// those too). objectClass is left to the filter (superclasses, cheap to check).
fn answered_exactly(f: &Filter, cfg: &IndexConfig, schema: &Schema) -> bool {
    match f {
        Filter::Equality { attr, rule, .. } => {
            attr != "objectclass"
                && base(attr) == attr
                && cfg.equality.contains(attr.as_str())
                && *rule == schema.rule(attr)
                && !schema.has_subtypes(attr)
        }
        _ => false,
    }
}

/// Plans an And: its terms' lists intersected, likely-small ones first, until the set is
/// small. `exact[i]` is set for each term whose list was intersected and answers it exactly.
fn plan_and(
    fs: &[Filter],
    tree: &sled::Tree,
    cfg: &IndexConfig,
    schema: &Schema,
    exact: &mut [bool],
) -> Result<Plan, StoreError> {
    let mut order: Vec<usize> = (0..fs.len()).collect();
    order.sort_by_key(|&i| selectivity_rank(&fs[i]));
    let mut set: Option<Vec<u64>> = None;
    for i in order {
        let Plan::Ids(ids) = plan(&fs[i], tree, cfg, schema)? else { continue };
        let next = match set {
            None => ids,
            Some(s) => intersect(&s, &ids),
        };
        exact[i] = answered_exactly(&fs[i], cfg, schema);
        let done = next.len() <= SMALL_ENOUGH;
        set = Some(next);
        if done {
            break;
        }
    }
    Ok(set.map_or(Plan::Scan, Plan::Ids))
}

/// Intersects candidate lists (`None`: this part cannot narrow) until the set is small;
/// `Scan` when no part narrows.
fn intersect_until_small(
    lists: impl Iterator<Item = Result<Option<Vec<u64>>, StoreError>>,
) -> Result<Plan, StoreError> {
    let mut set: Option<Vec<u64>> = None;
    for ids in lists {
        let Some(ids) = ids? else { continue };
        let next = match set {
            None => ids,
            Some(s) => intersect(&s, &ids),
        };
        let done = next.len() <= SMALL_ENOUGH;
        set = Some(next);
        if done {
            break;
        }
    }
    Ok(set.map_or(Plan::Scan, Plan::Ids))
}

/// Lower ranks are planned first in an And: likely-small posting lists first.
fn selectivity_rank(f: &Filter) -> u8 {
    match f {
        Filter::Undefined => 0,
        Filter::Equality { attr, .. } if attr != "objectclass" => 1,
        Filter::Substring { .. } => 2,
        Filter::And(_) | Filter::Or(_) => 3,
        Filter::Equality { .. } => 4,
        _ => 5,
    }
}

/// Intersection of two sorted id lists.
pub fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len().min(b.len())));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Union of two sorted id lists.
pub fn union(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i] < b[j]) {
            out.push(a[i]);
            i += 1;
        } else if i == a.len() || b[j] < a[i] {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn set_ops_match_btreeset(a in proptest::collection::btree_set(0u64..50, 0..20), b in proptest::collection::btree_set(0u64..50, 0..20)) {
            let av: Vec<u64> = a.iter().copied().collect();
            let bv: Vec<u64> = b.iter().copied().collect();
            prop_assert_eq!(intersect(&av, &bv), a.intersection(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(union(&av, &bv), a.union(&b).copied().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>());
        }
    }
}
