//! The schema registry: attribute types and object classes resolved from parsed definitions,
//! lookup by any name or OID, inheritance, value normalization.

use crate::builtin::{self, Profile};
use crate::error::SchemaError;
use crate::matching::MatchingRule;
use crate::parse::{AttributeTypeDef, Definition, ObjectClassDef, ObjectClassKind, Parser, Usage};
use crate::rules::{self, MatchingRuleInfo, RuleUsage, SyntaxInfo};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Lower-cased names and OIDs to indexes: looked up for every attribute of every entry a
/// search returns, so with a fast hash rather than SipHash (the keys are the schema's own).
type NameMap = foldhash::HashMap<String, usize>;
use std::path::Path;

/// One attribute type, with what it inherits from its supertypes resolved.
#[derive(Debug, Clone)]
pub struct AttributeType {
    /// Numeric OID.
    pub oid: String,
    /// NAMEs, the first is the primary name.
    pub names: Vec<String>,
    /// Lower-cased primary name (the OID if the type has no name): the key under which the
    /// store keeps and indexes values.
    pub canonical: String,
    /// The comparison for equality (filters, compare, index keys): the EQUALITY rule, inherited
    /// from the supertype when absent; for a type with no EQUALITY rule at all, the natural
    /// comparison of its syntax (see [`SyntaxInfo::fallback`]).
    pub rule: MatchingRule,
    /// SINGLE-VALUE.
    pub single_value: bool,
    /// Operational (USAGE other than userApplications).
    pub operational: bool,
    /// NO-USER-MODIFICATION.
    pub no_user_modification: bool,
    /// Canonical name of the direct supertype (SUP).
    pub sup: Option<String>,
    /// The EQUALITY rule, inherited when absent; `None` when neither the type nor a supertype
    /// has one (RFC 4512: equality assertions on it are then Undefined).
    pub equality: Option<MatchingRule>,
    /// The ORDERING rule, inherited when absent.
    pub ordering: Option<MatchingRule>,
    /// The SUBSTR rule, inherited when absent.
    pub substr: Option<MatchingRule>,
    /// The syntax OID, inherited when absent.
    pub syntax: String,
    /// The syntax's `{length}` bound, inherited with the syntax.
    pub syntax_len: Option<u32>,
    /// USAGE.
    pub usage: Usage,
    /// COLLECTIVE.
    pub collective: bool,
    /// OBSOLETE.
    pub obsolete: bool,
    /// The definition as written (its `Display` is the RFC 4512 form for `attributeTypes`).
    pub definition: AttributeTypeDef,
}

/// One object class, with its superclasses and attributes resolved to canonical names.
#[derive(Debug, Clone)]
pub struct ObjectClass {
    /// Numeric OID.
    pub oid: String,
    /// NAMEs, the first is the primary name.
    pub names: Vec<String>,
    /// Lower-cased primary name (the OID if the class has no name).
    pub canonical: String,
    /// ABSTRACT, STRUCTURAL or AUXILIARY.
    pub kind: ObjectClassKind,
    /// Canonical names of the direct superclasses; `top` when the definition names none.
    pub sup: Vec<String>,
    /// Canonical names of the attribute types the class itself requires (not its superclasses).
    pub must: Vec<String>,
    /// Canonical names of the attribute types the class itself allows.
    pub may: Vec<String>,
    /// OBSOLETE.
    pub obsolete: bool,
    /// The definition as written (its `Display` is the RFC 4512 form for `objectClasses`).
    pub definition: ObjectClassDef,
}

/// Why an entry's object classes do not give it one structural class (see
/// [`Schema::structural_class`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StructuralError {
    /// No structural class among the classes and their superclasses.
    #[error("no structural object class provided")]
    Missing,
    /// Two structural classes, neither a superclass of the other.
    #[error("invalid structural object class chain ({0}/{1})")]
    Chains(String, String),
}

/// Attribute types and object classes the server knows.
#[derive(Debug, Clone)]
pub struct Schema {
    types: Vec<AttributeType>,
    by_name: NameMap,
    subtypes: Vec<Vec<usize>>,
    classes: Vec<ObjectClass>,
    class_by_name: NameMap,
    /// The class rules of object-class sets seen by [`Schema::validate_entry`].
    pub(crate) rules_memo: crate::validate::RulesMemo,
}

impl Default for Schema {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Schema {
    /// The standard schema of the default profile (RFC 2307), from the schema files built into
    /// the binary: core, cosine, inetorgperson, nis and birch.
    pub fn builtin() -> Schema {
        Self::embedded(Profile::default())
    }

    /// The standard schema of a profile, from the schema files built into the binary.
    pub fn embedded(profile: Profile) -> Schema {
        builtin::schema(profile)
    }

    /// Loads the standard files of `profile` from `dir` (a standard file missing from `dir` is
    /// taken from the copy built into the binary), then every other `*.schema` file of `dir` in
    /// name order, so that a site can drop in its own extensions. Files of the other profile
    /// (e.g. `rfc2307bis.schema` under the RFC 2307 profile) are not loaded.
    pub fn load(dir: &Path, profile: Profile) -> Result<Schema, SchemaError> {
        let dir_err = |e: std::io::Error| SchemaError::new(&dir.display().to_string(), 0, e.to_string());
        let mut extra = Vec::new();
        let mut present = HashSet::new();
        for entry in std::fs::read_dir(dir).map_err(dir_err)? {
            let path = entry.map_err(dir_err)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
            if !name.ends_with(".schema") || !path.is_file() {
                continue;
            }
            if builtin::STANDARD_FILES.iter().any(|(n, _)| *n == name) {
                present.insert(name);
            } else {
                extra.push((name, path));
            }
        }
        extra.sort();
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| SchemaError::new(&path.display().to_string(), 0, e.to_string()))
        };
        let mut sources = Vec::new();
        for name in profile.files() {
            if present.contains(*name) {
                let path = dir.join(name);
                sources.push((path.display().to_string(), read(&path)?));
            } else {
                sources.push((name.to_string(), builtin::text(name).unwrap_or_default().to_string()));
            }
        }
        for (_, path) in extra {
            sources.push((path.display().to_string(), read(&path)?));
        }
        Self::from_sources(sources.iter().map(|(f, t)| (f.as_str(), t.as_str())))
    }

    /// Builds a schema from `(file name, text)` pairs, parsed in order (macros defined by
    /// `objectidentifier` carry over to later files); a definition may refer to one of any file.
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Schema, SchemaError> {
        let mut parser = Parser::new();
        let mut defs = Vec::new();
        for (file, text) in sources {
            defs.extend(parser.parse(file, text)?);
        }
        Self::from_definitions(defs)
    }

    /// Builds a schema from parsed definitions, checking that every reference resolves.
    pub fn from_definitions(defs: Vec<Definition>) -> Result<Schema, SchemaError> {
        let mut attr_defs = Vec::new();
        let mut class_defs = Vec::new();
        for d in defs {
            match d {
                Definition::AttributeType(a) => attr_defs.push(a),
                Definition::ObjectClass(c) => class_defs.push(c),
            }
        }
        let mut oids: HashMap<String, String> = HashMap::new();
        let mut claim_oid = |oid: &str, label: &str, file: &str, line: usize| match oids.get(oid) {
            Some(other) => Err(SchemaError::new(file, line, format!("{label}: duplicate OID {oid} (also {other})"))),
            None => {
                oids.insert(oid.to_string(), format!("{label} at {file}:{line}"));
                Ok(())
            }
        };
        for a in &attr_defs {
            claim_oid(&a.oid, &a.label(), &a.file, a.line)?;
        }
        for c in &class_defs {
            claim_oid(&c.oid, &c.label(), &c.file, c.line)?;
        }
        let (types, by_name, subtypes) = resolve_attribute_types(attr_defs)?;
        let mut schema = Schema {
            types,
            by_name,
            subtypes,
            classes: Vec::new(),
            class_by_name: NameMap::default(),
            rules_memo: Default::default(),
        };
        let (classes, class_by_name) = resolve_object_classes(&schema, class_defs)?;
        schema.classes = classes;
        schema.class_by_name = class_by_name;
        Ok(schema)
    }

    /// Looks up an attribute type by name or OID, case-insensitively. Attribute options
    /// (`;binary`, `;lang-en`) are ignored.
    pub fn attr(&self, name: &str) -> Option<&AttributeType> {
        // A byte search rather than `split(';')`: this runs for every value of an import.
        let base = match name.bytes().position(|b| b == b';') {
            Some(i) => &name[..i],
            None => name,
        };
        lookup(&self.by_name, base).map(|i| &self.types[i])
    }

    /// The canonical description of an attribute: the type's lower-cased primary name, then
    /// its options normalized ([`crate::desc`]: `CN;Lang-EN` gives `cn;lang-en`,
    /// `userCertificate;binary` gives `usercertificate`). Unknown types are lower-cased as
    /// they are.
    pub fn canonical(&self, name: &str) -> String {
        if !name.as_bytes().contains(&b';') {
            if let Some(t) = self.attr(name) {
                return t.canonical.clone();
            }
        }
        let base = match self.attr(name) {
            Some(t) => t.canonical.clone(),
            None => crate::desc::base(name).to_ascii_lowercase(),
        };
        base + &crate::desc::options_suffix(name)
    }

    /// The equality matching rule of an attribute ([`AttributeType::rule`]); unknown
    /// attributes compare case-insensitively.
    pub fn rule(&self, canonical: &str) -> MatchingRule {
        self.attr(canonical).map_or(MatchingRule::CaseIgnore, |t| t.rule)
    }

    /// The EQUALITY, ORDERING and SUBSTR rules of a type as its definition names them,
    /// inherited along SUP (`None` where neither the type nor a supertype has one).
    pub fn rules_of(&self, t: &AttributeType) -> [Option<&'static MatchingRuleInfo>; 3] {
        let (mut eq, mut ord, mut sub) = (None, None, None);
        let mut cur = Some(t);
        // A SUP chain cannot loop (the schema was checked); the bound is only a guard.
        for _ in 0..32 {
            let Some(c) = cur else { break };
            let d = &c.definition;
            let find = |n: &Option<String>| n.as_deref().and_then(rules::matching_rule);
            eq = eq.or_else(|| find(&d.equality));
            ord = ord.or_else(|| find(&d.ordering));
            sub = sub.or_else(|| find(&d.substr));
            cur = d.sup.as_deref().and_then(|s| self.attr(s));
        }
        [eq, ord, sub]
    }

    /// Whether `rule` applies to the attribute type `t` (RFC 4512 section 4.1.4,
    /// matchingRuleUse): it is one of the type's own rules, or it can compare values of the
    /// type's syntax ([`MatchingRuleInfo::applies_to_syntax`]). An extensible match with a rule
    /// that does not apply to its type is Undefined; one without a type reads the types the
    /// rule applies to.
    pub fn rule_applies(&self, rule: &MatchingRuleInfo, t: &AttributeType) -> bool {
        rule.applies_to_syntax(&t.syntax) || self.rules_of(t).iter().flatten().any(|r| r.oid == rule.oid)
    }

    /// Whether the object class is known (by name or OID, case-insensitively).
    pub fn has_object_class(&self, name: &str) -> bool {
        self.object_class(name).is_some()
    }

    /// Normalizes a value of the attribute for equality and index keys.
    pub fn normalize_value(&self, rule: MatchingRule, value: &[u8]) -> Option<Vec<u8>> {
        match rule {
            MatchingRule::DistinguishedName => {
                let s = std::str::from_utf8(value).ok()?;
                crate::dn::normalize_str(s, self).ok().map(String::into_bytes)
            }
            r => r.normalize(value),
        }
    }

    /// Whether the stored `value` equals an assertion value normalized with `rule` (see
    /// [`MatchingRule::matches_normalized`]; DNs are parsed and normalized).
    pub fn value_matches(&self, rule: MatchingRule, value: &[u8], normalized: &[u8]) -> bool {
        match rule {
            MatchingRule::DistinguishedName => self.normalize_value(rule, value).is_some_and(|n| n == normalized),
            r => r.matches_normalized(value, normalized),
        }
    }

    /// All attribute types, in the order they were defined.
    pub fn attribute_types(&self) -> &[AttributeType] {
        &self.types
    }

    /// The canonical names of an attribute type and of all its subtypes, transitively, the type
    /// itself first (`name` gives name, cn, sn, c, l, ...): the attributes a filter on the type
    /// Whether an attribute type has subtypes (`name` has, `uid` has not); false for an
    /// unknown type.
    pub fn has_subtypes(&self, name: &str) -> bool {
        let base = name.split(';').next().unwrap_or(name);
        lookup(&self.by_name, base).is_some_and(|i| !self.subtypes[i].is_empty())
    }
    /// matches (RFC 4511 section 4.5.1.7). Empty for an unknown type.
    pub fn subtypes(&self, name: &str) -> Vec<&str> {
        let Some(t) = self.attr(name) else { return Vec::new() };
        let Some(&root) = self.by_name.get(&t.oid) else { return Vec::new() };
        let mut out = vec![root];
        let mut i = 0;
        while let Some(&at) = out.get(i) {
            out.extend(self.subtypes[at].iter().copied());
            i += 1;
        }
        out.into_iter().map(|i| self.types[i].canonical.as_str()).collect()
    }

    /// Whether `sub` is `sup` or one of its subtypes.
    pub fn is_subtype(&self, sub: &str, sup: &str) -> bool {
        let Some(target) = self.attr(sup).map(|t| t.oid.as_str()) else { return false };
        let mut current = self.attr(sub);
        while let Some(t) = current {
            if t.oid == target {
                return true;
            }
            current = t.sup.as_deref().and_then(|s| self.attr(s));
        }
        false
    }

    /// Looks up an object class by name or OID, case-insensitively.
    pub fn object_class(&self, name: &str) -> Option<&ObjectClass> {
        let name = name.trim();
        lookup(&self.class_by_name, name).map(|i| &self.classes[i])
    }

    /// All object classes, in the order they were defined.
    pub fn object_classes(&self) -> &[ObjectClass] {
        &self.classes
    }

    /// The class and all its superclasses, transitively: the class first, then nearer
    /// superclasses before farther ones, each once (inetOrgPerson gives inetOrgPerson,
    /// organizationalPerson, person, top). Empty for an unknown class.
    pub fn superclasses(&self, name: &str) -> Vec<&ObjectClass> {
        let mut out: Vec<&ObjectClass> = self.object_class(name).into_iter().collect();
        let mut i = 0;
        while let Some(c) = out.get(i).copied() {
            for s in &c.sup {
                if let Some(sc) = self.object_class(s) {
                    if !out.iter().any(|o| std::ptr::eq(*o, sc)) {
                        out.push(sc);
                    }
                }
            }
            i += 1;
        }
        out
    }

    /// The attributes an entry of these object classes must and may have: the union of MUST
    /// and of MAY over the classes and all their superclasses, as canonical attribute names. An
    /// attribute both required and allowed is only in the first set. Unknown classes add
    /// nothing (validating that the classes exist is the caller's business).
    pub fn must_may(&self, classes: &[&str]) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut must = BTreeSet::new();
        let mut may = BTreeSet::new();
        for name in classes {
            for c in self.superclasses(name) {
                must.extend(c.must.iter().cloned());
                may.extend(c.may.iter().cloned());
            }
        }
        may.retain(|a| !must.contains(a));
        (must, may)
    }

    /// The structural object class of an entry with these object classes (X.501: the most
    /// subordinate structural class, of which every other structural class present is a
    /// superclass). Unknown classes are ignored.
    pub fn structural_class(&self, classes: &[&str]) -> Result<&ObjectClass, StructuralError> {
        let mut best: Option<&ObjectClass> = None;
        for name in classes {
            let Some(c) = self.object_class(name) else { continue };
            if c.kind != ObjectClassKind::Structural {
                continue;
            }
            best = Some(match best {
                None => c,
                Some(b) if self.superclasses(&c.oid).iter().any(|s| s.oid == b.oid) => c,
                Some(b) if self.superclasses(&b.oid).iter().any(|s| s.oid == c.oid) => b,
                Some(b) => return Err(StructuralError::Chains(b.names_or_oid(), c.names_or_oid())),
            });
        }
        best.ok_or(StructuralError::Missing)
    }

    /// The matching rules Birch implements (for `matchingRules` in cn=Subschema).
    pub fn matching_rules(&self) -> &'static [MatchingRuleInfo] {
        rules::MATCHING_RULES
    }

    /// The syntaxes Birch knows (for `ldapSyntaxes` in cn=Subschema).
    pub fn syntaxes(&self) -> &'static [SyntaxInfo] {
        rules::SYNTAXES
    }
}

impl ObjectClass {
    fn names_or_oid(&self) -> String {
        self.names.first().cloned().unwrap_or_else(|| self.oid.clone())
    }
}

fn canonical_of(names: &[String], oid: &str) -> String {
    names.first().map_or_else(|| oid.to_string(), |n| n.to_ascii_lowercase())
}

/// What the name index needs of a definition.
trait Named {
    fn oid(&self) -> &str;
    fn names(&self) -> &[String];
    fn label(&self) -> String;
    fn place(&self) -> (&str, usize);
}

impl Named for AttributeTypeDef {
    fn oid(&self) -> &str {
        &self.oid
    }
    fn names(&self) -> &[String] {
        &self.names
    }
    fn label(&self) -> String {
        AttributeTypeDef::label(self)
    }
    fn place(&self) -> (&str, usize) {
        (&self.file, self.line)
    }
}

impl Named for ObjectClassDef {
    fn oid(&self) -> &str {
        &self.oid
    }
    fn names(&self) -> &[String] {
        &self.names
    }
    fn label(&self) -> String {
        ObjectClassDef::label(self)
    }
    fn place(&self) -> (&str, usize) {
        (&self.file, self.line)
    }
}

/// Looks a name up case-insensitively: as written when it has no upper-case letter (the
/// keys are lower-case), else lower-cased in a stack buffer, so that a lookup never
/// allocates.
fn lookup(map: &NameMap, name: &str) -> Option<usize> {
    // The keys are lower-case: a name with an upper-case letter can only match lower-cased.
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return map.get(name).copied();
    }
    let mut buf = [0u8; 64];
    match buf.get_mut(..name.len()) {
        Some(lower) => {
            lower.copy_from_slice(name.as_bytes());
            lower.make_ascii_lowercase();
            // Lower-casing ASCII bytes keeps UTF-8 valid.
            std::str::from_utf8(lower).ok().and_then(|l| map.get(l).copied())
        }
        None => map.get(&name.to_ascii_lowercase()).copied(),
    }
}

/// Lower-cased OID and NAME → index; a NAME defined twice is an error naming both places.
fn name_index<D: Named>(defs: &[D]) -> Result<NameMap, SchemaError> {
    let mut by_name = NameMap::default();
    for (i, d) in defs.iter().enumerate() {
        by_name.insert(d.oid().to_ascii_lowercase(), i);
    }
    for (i, d) in defs.iter().enumerate() {
        for n in d.names() {
            if let Some(&j) = by_name.get(&n.to_ascii_lowercase()) {
                let o = &defs[j];
                let ((file, line), (ofile, oline)) = (d.place(), o.place());
                return Err(SchemaError::new(
                    file,
                    line,
                    format!("{}: duplicate NAME '{n}' (also {} at {ofile}:{oline})", d.label(), o.label()),
                ));
            }
            by_name.insert(n.to_ascii_lowercase(), i);
        }
    }
    Ok(by_name)
}

type Resolved = (Vec<AttributeType>, NameMap, Vec<Vec<usize>>);

fn resolve_attribute_types(defs: Vec<AttributeTypeDef>) -> Result<Resolved, SchemaError> {
    let by_name = name_index(&defs)?;
    let err = |d: &AttributeTypeDef, msg: String| SchemaError::new(&d.file, d.line, format!("{}: {msg}", d.label()));
    let mut parent = vec![None; defs.len()];
    for (i, d) in defs.iter().enumerate() {
        if let Some(sup) = &d.sup {
            match by_name.get(&sup.to_ascii_lowercase()) {
                Some(&p) => parent[i] = Some(p),
                None => return Err(err(d, format!("unknown SUP '{sup}'"))),
            }
        }
    }
    // Resolve supertypes before subtypes; a SUP chain that loops is an error.
    let mut order = Vec::with_capacity(defs.len());
    let mut state = vec![0u8; defs.len()]; // 0 new, 1 on the current chain, 2 done
    for (start, def) in defs.iter().enumerate() {
        let mut chain = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at {
            match state[i] {
                2 => break,
                1 => return Err(err(def, "its SUP chain loops".to_string())),
                _ => {
                    state[i] = 1;
                    chain.push(i);
                    at = parent[i];
                }
            }
        }
        for &i in chain.iter().rev() {
            state[i] = 2;
            order.push(i);
        }
    }
    let mut resolved: Vec<Option<AttributeType>> = vec![None; defs.len()];
    for i in order {
        let d = &defs[i];
        let sup = parent[i].and_then(|p| resolved[p].as_ref());
        let rule =
            |name: &Option<String>, usage: RuleUsage, keyword: &str| -> Result<Option<MatchingRule>, SchemaError> {
                let Some(name) = name else { return Ok(None) };
                let Some(r) = rules::matching_rule(name) else {
                    return Err(err(d, format!("unknown matching rule '{name}' in {keyword}")));
                };
                if r.usage != usage {
                    return Err(err(d, format!("'{name}' is not an {keyword} matching rule")));
                }
                Ok(Some(r.kind))
            };
        let equality = rule(&d.equality, RuleUsage::Equality, "EQUALITY")?.or(sup.and_then(|s| s.equality));
        let ordering = rule(&d.ordering, RuleUsage::Ordering, "ORDERING")?.or(sup.and_then(|s| s.ordering));
        let substr = rule(&d.substr, RuleUsage::Substrings, "SUBSTR")?.or(sup.and_then(|s| s.substr));
        let (syntax, syntax_len) = match (&d.syntax, sup) {
            (Some(s), _) => (s.clone(), d.syntax_len),
            (None, Some(s)) => (s.syntax.clone(), s.syntax_len),
            (None, None) => return Err(err(d, "has neither SYNTAX nor SUP".to_string())),
        };
        let Some(syntax_info) = rules::syntax(&syntax) else {
            return Err(err(d, format!("unknown SYNTAX {syntax}")));
        };
        if let Some(s) = sup {
            if s.usage != d.usage {
                return Err(err(
                    d,
                    format!("USAGE {} differs from that of its SUP '{}'", d.usage.as_str(), s.canonical),
                ));
            }
            if s.collective && !d.collective {
                return Err(err(d, format!("a subtype of the collective '{}' must be COLLECTIVE", s.canonical)));
            }
        }
        if d.no_user_modification && !d.usage.is_operational() {
            return Err(err(d, "NO-USER-MODIFICATION requires an operational USAGE".to_string()));
        }
        if d.collective && d.usage.is_operational() {
            return Err(err(d, "COLLECTIVE requires USAGE userApplications".to_string()));
        }
        resolved[i] = Some(AttributeType {
            oid: d.oid.clone(),
            names: d.names.clone(),
            canonical: canonical_of(&d.names, &d.oid),
            rule: equality.unwrap_or(syntax_info.fallback),
            single_value: d.single_value,
            operational: d.usage.is_operational(),
            no_user_modification: d.no_user_modification,
            sup: sup.map(|s| s.canonical.clone()),
            equality,
            ordering,
            substr,
            syntax,
            syntax_len,
            usage: d.usage,
            collective: d.collective,
            obsolete: d.obsolete,
            definition: d.clone(),
        });
    }
    let types: Vec<AttributeType> = resolved.into_iter().flatten().collect();
    let mut subtypes = vec![Vec::new(); types.len()];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = p {
            subtypes[*p].push(i);
        }
    }
    Ok((types, by_name, subtypes))
}

fn resolve_object_classes(
    schema: &Schema,
    defs: Vec<ObjectClassDef>,
) -> Result<(Vec<ObjectClass>, NameMap), SchemaError> {
    let by_name = name_index(&defs)?;
    let err = |d: &ObjectClassDef, msg: String| SchemaError::new(&d.file, d.line, format!("{}: {msg}", d.label()));
    let top = by_name.get("2.5.6.0").copied();
    let mut parents: Vec<Vec<usize>> = Vec::with_capacity(defs.len());
    for (i, d) in defs.iter().enumerate() {
        let mut ps = Vec::new();
        for s in &d.sup {
            match by_name.get(&s.to_ascii_lowercase()) {
                Some(&p) => ps.push(p),
                None => return Err(err(d, format!("unknown SUP '{s}'"))),
            }
        }
        if ps.is_empty() {
            ps.extend(top.filter(|&t| t != i));
        }
        for &p in &ps {
            let (kind, pkind) = (d.kind, defs[p].kind);
            let allowed = pkind == ObjectClassKind::Abstract || pkind == kind;
            if !allowed {
                return Err(err(
                    d,
                    format!(
                        "a {} class cannot have the {} superclass '{}'",
                        kind.as_str(),
                        pkind.as_str(),
                        canonical_of(&defs[p].names, &defs[p].oid)
                    ),
                ));
            }
        }
        parents.push(ps);
    }
    // A superclass chain must not loop.
    let mut state = vec![0u8; defs.len()];
    fn visit(i: usize, parents: &[Vec<usize>], state: &mut [u8]) -> bool {
        match state[i] {
            2 => true,
            1 => false,
            _ => {
                state[i] = 1;
                let ok = parents[i].iter().all(|&p| visit(p, parents, state));
                state[i] = 2;
                ok
            }
        }
    }
    for (i, d) in defs.iter().enumerate() {
        if !visit(i, &parents, &mut state) {
            return Err(err(d, "its SUP chain loops".to_string()));
        }
    }
    let mut classes = Vec::with_capacity(defs.len());
    for (i, d) in defs.iter().enumerate() {
        let attrs = |list: &[String], keyword: &str| -> Result<Vec<String>, SchemaError> {
            list.iter()
                .map(|a| {
                    schema
                        .attr(a)
                        .map(|t| t.canonical.clone())
                        .ok_or_else(|| err(d, format!("unknown {keyword} attribute '{a}'")))
                })
                .collect()
        };
        classes.push(ObjectClass {
            oid: d.oid.clone(),
            names: d.names.clone(),
            canonical: canonical_of(&d.names, &d.oid),
            kind: d.kind,
            sup: parents[i].iter().map(|&p| canonical_of(&defs[p].names, &defs[p].oid)).collect(),
            must: attrs(&d.must, "MUST")?,
            may: attrs(&d.may, "MAY")?,
            obsolete: d.obsolete,
            definition: d.clone(),
        });
    }
    Ok((classes, by_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_oids_resolve_to_one_type() {
        let s = Schema::builtin();
        assert_eq!(s.canonical("commonName"), "cn");
        assert_eq!(s.canonical("2.5.4.3"), "cn");
        assert_eq!(s.canonical("CN;Lang-EN"), "cn;lang-en");
        assert_eq!(s.canonical("userCertificate;binary"), "usercertificate");
        assert_eq!(s.canonical("memberuid"), "memberuid");
        assert_eq!(s.canonical("NoSuchThing;binary"), "nosuchthing");
        assert_eq!(s.rule("uidnumber"), MatchingRule::Integer);
        assert_eq!(s.rule("nosuchthing"), MatchingRule::CaseIgnore);
        assert!(s.has_object_class("PosixAccount"));
        assert!(s.has_object_class("2.5.6.6"));
        assert!(!s.has_object_class("nonsense"));
    }

    #[test]
    fn rules_apply_by_syntax_or_as_the_types_own() {
        let s = Schema::builtin();
        let applies =
            |rule: &str, attr: &str| s.rule_applies(rules::matching_rule(rule).unwrap(), s.attr(attr).unwrap());
        assert!(applies("caseExactMatch", "cn"));
        assert!(applies("caseExactMatch", "uid"));
        assert!(!applies("caseExactMatch", "mail"));
        assert!(applies("caseIgnoreIA5Match", "mail"));
        assert!(applies("caseExactIA5Match", "loginShell"));
        assert!(applies("integerOrderingMatch", "shadowMax"), "by syntax, though shadowMax has no ORDERING");
        assert!(!applies("integerMatch", "cn"));
        assert!(applies("objectIdentifierFirstComponentMatch", "ldapSyntaxes"), "its own EQUALITY");
        let memberuid = s.attr("memberUid").unwrap();
        assert_eq!(
            s.rules_of(memberuid).map(|r| r.map(|r| r.name)),
            [Some("caseExactIA5Match"), None, Some("caseExactIA5SubstringsMatch")]
        );
    }

    #[test]
    fn types_without_equality_use_their_syntax() {
        let s = Schema::builtin();
        let jpeg = s.attr("jpegPhoto").unwrap();
        assert_eq!((jpeg.equality, jpeg.rule), (None, MatchingRule::OctetString));
        assert_eq!(s.rule("facsimileTelephoneNumber"), MatchingRule::TelephoneNumber);
        assert_eq!(s.rule("namingContexts"), MatchingRule::DistinguishedName);
        assert_eq!(s.rule("supportedLDAPVersion"), MatchingRule::Integer);
    }
}
