//! Parser for schema files in OpenLDAP's `.schema` syntax, and for RFC 4512 definitions written
//! as LDIF (`attributeTypes:` / `objectClasses:` lines, also cn=config's `olcAttributeTypes:`
//! with its `{n}` prefixes).
//!
//! Hand-written: the one Rust crate that parses RFC 4512 descriptions (`ldap-types`) parses only
//! the parenthesized body, rejects legal forms (a numeric OID after SUP or EQUALITY, extensions
//! such as `X-ORIGIN`) and knows nothing of the file syntax around it (keywords, continuation
//! lines, comments, `objectidentifier` macros) nor of source lines, which every error here must
//! name. The grammar is a few dozen lines of RFC 4512 section 4.1.
//!
//! File syntax: a statement starts at column 0 with `attributetype`, `objectclass` or
//! `objectidentifier`; lines starting with white space continue it; lines starting with `#` are
//! comments. `objectidentifier NAME OID` defines a macro usable as `NAME` or `NAME:suffix` for
//! the OID (and the SYNTAX) of later definitions, in this file and in files loaded after it.

use crate::error::SchemaError;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// RFC 4512 attribute usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Usage {
    /// `userApplications`: a user attribute.
    #[default]
    UserApplications,
    /// `directoryOperation`: operational, shared by the directory.
    DirectoryOperation,
    /// `distributedOperation`: operational, shared between servers.
    DistributedOperation,
    /// `dSAOperation`: operational, specific to one server.
    DsaOperation,
}

impl Usage {
    /// The RFC 4512 keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::UserApplications => "userApplications",
            Usage::DirectoryOperation => "directoryOperation",
            Usage::DistributedOperation => "distributedOperation",
            Usage::DsaOperation => "dSAOperation",
        }
    }

    /// Whether attributes of this usage are operational (returned only with `+` or by name).
    pub fn is_operational(self) -> bool {
        self != Usage::UserApplications
    }

    fn parse(s: &str) -> Option<Usage> {
        [Usage::UserApplications, Usage::DirectoryOperation, Usage::DistributedOperation, Usage::DsaOperation]
            .into_iter()
            .find(|u| u.as_str().eq_ignore_ascii_case(s))
    }
}

/// RFC 4512 object class kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ObjectClassKind {
    /// `ABSTRACT`: only a superclass of other classes (such as `top`).
    Abstract,
    /// `STRUCTURAL` (the default): an entry has exactly one structural class chain.
    #[default]
    Structural,
    /// `AUXILIARY`: mixed into entries of any structural class.
    Auxiliary,
}

impl ObjectClassKind {
    /// The RFC 4512 keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectClassKind::Abstract => "ABSTRACT",
            ObjectClassKind::Structural => "STRUCTURAL",
            ObjectClassKind::Auxiliary => "AUXILIARY",
        }
    }
}

/// An `X-` extension of a definition, such as `X-ORIGIN 'RFC 4519'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The keyword, `X-` included.
    pub name: String,
    /// Its quoted values.
    pub values: Vec<String>,
}

/// An attribute type definition as written (RFC 4512 `AttributeTypeDescription`). Names of
/// rules and supertypes are kept as written; the registry resolves them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttributeTypeDef {
    /// File the definition came from.
    pub file: String,
    /// Line where the definition starts.
    pub line: usize,
    /// Numeric OID (macros expanded).
    pub oid: String,
    /// NAMEs, the first is the primary name.
    pub names: Vec<String>,
    /// DESC.
    pub desc: Option<String>,
    /// OBSOLETE.
    pub obsolete: bool,
    /// SUP: name or OID of the supertype.
    pub sup: Option<String>,
    /// EQUALITY rule name or OID.
    pub equality: Option<String>,
    /// ORDERING rule name or OID.
    pub ordering: Option<String>,
    /// SUBSTR rule name or OID.
    pub substr: Option<String>,
    /// SYNTAX numeric OID (macros expanded).
    pub syntax: Option<String>,
    /// The `{length}` bound of the SYNTAX.
    pub syntax_len: Option<u32>,
    /// SINGLE-VALUE.
    pub single_value: bool,
    /// COLLECTIVE.
    pub collective: bool,
    /// NO-USER-MODIFICATION.
    pub no_user_modification: bool,
    /// USAGE (userApplications when absent).
    pub usage: Usage,
    /// `X-` extensions.
    pub extensions: Vec<Extension>,
}

/// An object class definition as written (RFC 4512 `ObjectClassDescription`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectClassDef {
    /// File the definition came from.
    pub file: String,
    /// Line where the definition starts.
    pub line: usize,
    /// Numeric OID (macros expanded).
    pub oid: String,
    /// NAMEs, the first is the primary name.
    pub names: Vec<String>,
    /// DESC.
    pub desc: Option<String>,
    /// OBSOLETE.
    pub obsolete: bool,
    /// SUP: names or OIDs of the superclasses.
    pub sup: Vec<String>,
    /// ABSTRACT, STRUCTURAL (the default) or AUXILIARY.
    pub kind: ObjectClassKind,
    /// MUST: names or OIDs of required attribute types.
    pub must: Vec<String>,
    /// MAY: names or OIDs of allowed attribute types.
    pub may: Vec<String>,
    /// `X-` extensions.
    pub extensions: Vec<Extension>,
}

/// One definition of a schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Definition {
    /// `attributetype ( ... )`.
    AttributeType(AttributeTypeDef),
    /// `objectclass ( ... )`.
    ObjectClass(ObjectClassDef),
}

impl AttributeTypeDef {
    /// How error messages name the definition: `attributetype 'cn'` (or its OID if unnamed).
    pub fn label(&self) -> String {
        label("attributetype", &self.names, &self.oid)
    }
}

impl ObjectClassDef {
    /// How error messages name the definition: `objectclass 'person'` (or its OID if unnamed).
    pub fn label(&self) -> String {
        label("objectclass", &self.names, &self.oid)
    }
}

fn label(kind: &str, names: &[String], oid: &str) -> String {
    match names.first() {
        Some(n) => format!("{kind} '{n}'"),
        None => format!("{kind} {oid}"),
    }
}

/// Parses schema text with a fresh set of `objectidentifier` macros.
pub fn parse(file: &str, text: &str) -> Result<Vec<Definition>, SchemaError> {
    Parser::new().parse(file, text)
}

/// A schema-file parser. It keeps the `objectidentifier` macros defined so far, so that files
/// parsed one after another by the same parser can use the macros of earlier files.
#[derive(Debug, Clone, Default)]
pub struct Parser {
    macros: HashMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    AttributeType,
    ObjectClass,
    ObjectIdentifier,
    Ignored,
}

impl Kind {
    fn keyword(self) -> &'static str {
        match self {
            Kind::AttributeType => "attributetype",
            Kind::ObjectClass => "objectclass",
            Kind::ObjectIdentifier => "objectidentifier",
            Kind::Ignored => "",
        }
    }
}

/// One statement, its continuation lines joined.
struct Statement {
    kind: Kind,
    ldif: bool,
    line: usize,
    text: String,
    /// (byte offset in `text`, source line) for each source line joined into `text`.
    lines: Vec<(usize, usize)>,
}

impl Statement {
    fn push(&mut self, part: &str, line: usize, separator: bool) {
        if separator {
            self.text.push(' ');
        }
        self.lines.push((self.text.len(), line));
        self.text.push_str(part);
    }

    fn line_at(&self, offset: usize) -> usize {
        self.lines.iter().take_while(|(o, _)| *o <= offset).last().map_or(self.line, |(_, l)| *l)
    }

    /// Parentheses still open (outside quotes) in the text so far.
    fn open_parens(&self) -> i64 {
        let mut depth = 0;
        let mut quoted = false;
        for c in self.text.chars() {
            match c {
                '\'' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth -= 1,
                _ => {}
            }
        }
        depth
    }
}

const KEYWORDS: [&str; 5] = ["attributetype", "attributetypes", "objectclass", "objectclasses", "objectidentifier"];

fn first_word(line: &str) -> (&str, &str) {
    let end = line.find(|c: char| c.is_whitespace() || c == ':').unwrap_or(line.len());
    line.split_at(end)
}

impl Parser {
    /// A parser with no macros defined.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parses the text of one file; `file` is the name errors give.
    pub fn parse(&mut self, file: &str, text: &str) -> Result<Vec<Definition>, SchemaError> {
        let mut defs = Vec::new();
        let mut current: Option<Statement> = None;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            if raw.starts_with('#') || raw.trim().is_empty() {
                continue;
            }
            if raw.starts_with([' ', '\t']) {
                let Some(stmt) = current.as_mut() else {
                    return Err(SchemaError::new(file, n, "line starts with white space but continues no definition"));
                };
                if stmt.ldif {
                    // LDIF folding: exactly one leading space is removed, no separator added.
                    stmt.push(&raw[1..], n, false);
                } else {
                    stmt.push(raw, n, true);
                }
                continue;
            }
            if let Some(stmt) = current.as_mut() {
                // Be lenient with a definition whose continuation lines are not indented: a
                // column-0 line that starts no statement continues a definition still open.
                let word = first_word(raw).0.to_ascii_lowercase();
                let open = matches!(stmt.kind, Kind::AttributeType | Kind::ObjectClass) && !stmt.ldif;
                if open && stmt.open_parens() > 0 && !KEYWORDS.contains(&word.as_str()) {
                    stmt.push(raw, n, true);
                    continue;
                }
            }
            if let Some(stmt) = current.take() {
                self.finish(file, stmt, &mut defs)?;
            }
            current = Some(start(file, raw, n)?);
        }
        if let Some(stmt) = current.take() {
            self.finish(file, stmt, &mut defs)?;
        }
        Ok(defs)
    }

    fn finish(&mut self, file: &str, mut stmt: Statement, defs: &mut Vec<Definition>) -> Result<(), SchemaError> {
        match stmt.kind {
            Kind::Ignored => Ok(()),
            Kind::ObjectIdentifier => self.object_identifier(file, &stmt),
            Kind::AttributeType | Kind::ObjectClass => {
                if stmt.ldif {
                    blank_ordering_prefix(&mut stmt.text);
                }
                let tokens = tokenize(file, &stmt)?;
                let what = describe(stmt.kind, &tokens);
                check_parens(file, &stmt, &tokens, &what)?;
                let mut cur = Cursor { file, tokens: &tokens, pos: 0, what, start: stmt.line, macros: &self.macros };
                defs.push(match stmt.kind {
                    Kind::AttributeType => Definition::AttributeType(cur.attribute_type()?),
                    _ => Definition::ObjectClass(cur.object_class()?),
                });
                Ok(())
            }
        }
    }

    fn object_identifier(&mut self, file: &str, stmt: &Statement) -> Result<(), SchemaError> {
        let parts: Vec<&str> = stmt.text.split_whitespace().collect();
        let err = |msg: String| SchemaError::new(file, stmt.line, msg);
        let [name, value] = parts[..] else {
            return Err(err(format!("objectidentifier needs a name and an OID, found {:?}", stmt.text.trim())));
        };
        if !is_descr(name) {
            return Err(err(format!("objectidentifier {name:?} is not a valid name")));
        }
        let oid = expand_oid(&self.macros, value).ok_or_else(|| {
            err(format!("objectidentifier '{name}': '{value}' is neither a numeric OID nor a known objectidentifier"))
        })?;
        match self.macros.get(&name.to_ascii_lowercase()) {
            Some(old) if *old != oid => Err(err(format!("objectidentifier '{name}' is already defined as {old}"))),
            _ => {
                self.macros.insert(name.to_ascii_lowercase(), oid);
                Ok(())
            }
        }
    }
}

/// Starts a statement at a column-0 line.
fn start(file: &str, raw: &str, n: usize) -> Result<Statement, SchemaError> {
    let (word, rest) = first_word(raw);
    let lower = word.to_ascii_lowercase();
    let mut stmt = Statement { kind: Kind::Ignored, ldif: false, line: n, text: String::new(), lines: Vec::new() };
    if let Some(value) = rest.strip_prefix(':') {
        // An LDIF attribute line: schema definitions or something to skip (dn:, cn:, ...).
        stmt.ldif = true;
        stmt.kind = match lower.as_str() {
            "attributetypes" | "olcattributetypes" => Kind::AttributeType,
            "objectclasses" | "olcobjectclasses" => Kind::ObjectClass,
            _ => Kind::Ignored,
        };
        if stmt.kind != Kind::Ignored && value.starts_with(':') {
            return Err(SchemaError::new(file, n, format!("base64-encoded {word} values are not supported")));
        }
        stmt.push(value, n, false);
        return Ok(stmt);
    }
    stmt.kind = match lower.as_str() {
        "attributetype" | "attributetypes" => Kind::AttributeType,
        "objectclass" | "objectclasses" => Kind::ObjectClass,
        "objectidentifier" => Kind::ObjectIdentifier,
        // The separator of LDIF change records.
        "-" if rest.trim().is_empty() => Kind::Ignored,
        _ => {
            return Err(SchemaError::new(
                file,
                n,
                format!("unknown keyword '{word}' (expected attributetype, objectclass or objectidentifier)"),
            ))
        }
    };
    stmt.push(rest, n, false);
    Ok(stmt)
}

/// Replaces cn=config's `{n}` ordering prefix by spaces (keeping offsets for line numbers).
fn blank_ordering_prefix(text: &mut String) {
    let lead = text.len() - text.trim_start().len();
    let rest = &text[lead..];
    if let Some(inner) = rest.strip_prefix('{') {
        if let Some(close) = inner.find('}') {
            if inner[..close].bytes().all(|b| b.is_ascii_digit()) {
                let end = lead + close + 2;
                text.replace_range(lead..end, &" ".repeat(end - lead));
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Dollar,
    Quoted(String),
    Word(String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Open => f.write_str("'('"),
            Tok::Close => f.write_str("')'"),
            Tok::Dollar => f.write_str("'$'"),
            Tok::Quoted(s) => write!(f, "quoted string '{s}'"),
            Tok::Word(w) => write!(f, "'{w}'"),
        }
    }
}

#[derive(Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn tokenize(file: &str, stmt: &Statement) -> Result<Vec<Token>, SchemaError> {
    let text = stmt.text.as_str();
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let line = stmt.line_at(at);
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::Open,
            ')' => Tok::Close,
            '$' => Tok::Dollar,
            '\'' => {
                let body_start = at + 1;
                let Some(len) = text[body_start..].find('\'') else {
                    return Err(SchemaError::new(
                        file,
                        line,
                        format!("{}: unterminated quoted string", stmt.kind.keyword()),
                    ));
                };
                let end = body_start + len;
                while chars.peek().is_some_and(|(i, _)| *i <= end) {
                    chars.next();
                }
                Tok::Quoted(unescape(&text[body_start..end]))
            }
            _ => {
                let mut end = text.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '$' | '\'') {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                Tok::Word(text[at..end].to_string())
            }
        };
        out.push(Token { tok, line });
    }
    Ok(out)
}

/// RFC 4512 `qdstring` escapes: `\27` is a quote, `\5C` a backslash.
/// Other backslashes are kept as they are.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let code = after.get(..2).unwrap_or("");
        if code == "27" {
            out.push('\'');
            rest = &after[2..];
        } else if code.eq_ignore_ascii_case("5c") {
            out.push('\\');
            rest = &after[2..];
        } else {
            out.push('\\');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\5C").replace('\'', "\\27")
}

/// How error messages name a definition before it is parsed.
fn describe(kind: Kind, tokens: &[Token]) -> String {
    let keyword = kind.keyword();
    let name_at = tokens.iter().position(|t| matches!(&t.tok, Tok::Word(w) if w.eq_ignore_ascii_case("NAME")));
    if let Some(i) = name_at {
        let name = tokens[i + 1..].iter().take(2).find_map(|t| match &t.tok {
            Tok::Quoted(s) => Some(s.clone()),
            _ => None,
        });
        if let Some(name) = name {
            return format!("{keyword} '{name}'");
        }
    }
    match tokens.get(1).map(|t| &t.tok) {
        Some(Tok::Word(oid)) if matches!(tokens.first().map(|t| &t.tok), Some(Tok::Open)) => format!("{keyword} {oid}"),
        _ => keyword.to_string(),
    }
}

fn check_parens(file: &str, stmt: &Statement, tokens: &[Token], what: &str) -> Result<(), SchemaError> {
    let mut depth = 0i64;
    for t in tokens {
        match t.tok {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth < 0 {
                    return Err(SchemaError::new(
                        file,
                        t.line,
                        format!("{what}: unbalanced parentheses: unexpected ')'"),
                    ));
                }
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(SchemaError::new(file, stmt.line, format!("{what}: unbalanced parentheses: missing ')'")));
    }
    Ok(())
}

/// RFC 4512 `descr`: a letter followed by letters, digits and hyphens.
fn is_descr(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic()) && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// RFC 4512 `numericoid`: at least two arcs, no leading zeros.
pub(crate) fn is_numeric_oid(s: &str) -> bool {
    let mut arcs = 0;
    for arc in s.split('.') {
        let ok = !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()) && (arc == "0" || !arc.starts_with('0'));
        if !ok {
            return false;
        }
        arcs += 1;
    }
    arcs >= 2
}

/// Expands `macro`, `macro:suffix` or a numeric OID to a numeric OID.
fn expand_oid(macros: &HashMap<String, String>, s: &str) -> Option<String> {
    let oid = match s.split_once(':') {
        Some((prefix, suffix)) => format!("{}.{suffix}", macros.get(&prefix.to_ascii_lowercase())?),
        None if is_numeric_oid(s) => s.to_string(),
        None => macros.get(&s.to_ascii_lowercase())?.clone(),
    };
    is_numeric_oid(&oid).then_some(oid)
}

struct Cursor<'a> {
    file: &'a str,
    tokens: &'a [Token],
    pos: usize,
    what: String,
    start: usize,
    macros: &'a HashMap<String, String>,
}

impl<'a> Cursor<'a> {
    fn line(&self) -> usize {
        self.tokens.get(self.pos).or(self.tokens.last()).map_or(self.start, |t| t.line)
    }

    fn err(&self, line: usize, msg: impl fmt::Display) -> SchemaError {
        SchemaError::new(self.file, line, format!("{}: {msg}", self.what))
    }

    fn next(&mut self) -> Option<&'a Token> {
        let tokens: &'a [Token] = self.tokens;
        let t = tokens.get(self.pos);
        self.pos += 1;
        t
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn expect(&mut self, want: Tok, context: &str) -> Result<(), SchemaError> {
        let line = self.line();
        match self.next() {
            Some(t) if t.tok == want => Ok(()),
            Some(t) => Err(self.err(t.line, format!("expected {want} {context}, found {}", t.tok))),
            None => Err(self.err(line, format!("expected {want} {context}"))),
        }
    }

    /// A bare word (an OID or a name); OpenLDAP also accepts it quoted.
    fn word(&mut self, after: &str) -> Result<(String, usize), SchemaError> {
        let line = self.line();
        match self.next() {
            Some(Token { tok: Tok::Word(w) | Tok::Quoted(w), line }) => Ok((w.clone(), *line)),
            Some(t) => Err(self.err(t.line, format!("expected a name or OID after {after}, found {}", t.tok))),
            None => Err(self.err(line, format!("expected a name or OID after {after}"))),
        }
    }

    fn qdstring(&mut self, after: &str) -> Result<String, SchemaError> {
        let line = self.line();
        match self.next() {
            Some(Token { tok: Tok::Quoted(s), .. }) => Ok(s.clone()),
            Some(t) => Err(self.err(t.line, format!("expected a quoted string after {after}, found {}", t.tok))),
            None => Err(self.err(line, format!("expected a quoted string after {after}"))),
        }
    }

    /// `'a'` or `( 'a' 'b' ... )`.
    fn qdstrings(&mut self, after: &str) -> Result<Vec<String>, SchemaError> {
        if self.peek() != Some(&Tok::Open) {
            return Ok(vec![self.qdstring(after)?]);
        }
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(&Tok::Close) {
                self.pos += 1;
                break;
            }
            out.push(self.qdstring(after)?);
        }
        if out.is_empty() {
            return Err(self.err(self.line(), format!("empty list after {after}")));
        }
        Ok(out)
    }

    fn names(&mut self) -> Result<Vec<String>, SchemaError> {
        let line = self.line();
        let names = self.qdstrings("NAME")?;
        if let Some(bad) = names.iter().find(|n| !is_descr(n)) {
            return Err(self.err(line, format!("'{bad}' is not a valid NAME (a letter, then letters, digits, '-')")));
        }
        Ok(names)
    }

    /// `oid` or `( oid $ oid ... )`.
    fn oids(&mut self, after: &str) -> Result<Vec<String>, SchemaError> {
        if self.peek() != Some(&Tok::Open) {
            return Ok(vec![self.word(after)?.0]);
        }
        self.pos += 1;
        let mut out = vec![self.word(after)?.0];
        loop {
            let line = self.line();
            match self.next().map(|t| (&t.tok, t.line)) {
                Some((Tok::Close, _)) => return Ok(out),
                Some((Tok::Dollar, _)) => out.push(self.word(after)?.0),
                Some((tok, line)) => {
                    return Err(self.err(line, format!("expected '$' or ')' in the {after} list, found {tok}")))
                }
                None => return Err(self.err(line, format!("unterminated {after} list"))),
            }
        }
    }

    fn oid(&mut self, what: &str) -> Result<String, SchemaError> {
        let (w, line) = self.word(what)?;
        expand_oid(self.macros, &w)
            .ok_or_else(|| self.err(line, format!("'{w}' is neither a numeric OID nor a known objectidentifier")))
    }

    /// The keyword at the cursor, or `None` at the closing parenthesis.
    fn keyword(&mut self, seen: &mut HashSet<String>) -> Result<Option<(String, usize)>, SchemaError> {
        let line = self.line();
        let (kw, line) = match self.next() {
            Some(Token { tok: Tok::Close, .. }) => {
                if let Some(t) = self.tokens.get(self.pos) {
                    return Err(self.err(t.line, format!("unexpected {} after the closing parenthesis", t.tok)));
                }
                return Ok(None);
            }
            Some(Token { tok: Tok::Word(w), line }) => (w.to_ascii_uppercase(), *line),
            Some(t) => return Err(self.err(t.line, format!("expected a keyword, found {}", t.tok))),
            None => return Err(self.err(line, "unbalanced parentheses: missing ')'")),
        };
        if !seen.insert(kw.clone()) {
            return Err(self.err(line, format!("{kw} given twice")));
        }
        Ok(Some((kw, line)))
    }

    fn extension(&mut self, kw: &str) -> Result<Extension, SchemaError> {
        Ok(Extension { name: kw.to_string(), values: self.qdstrings(kw)? })
    }

    fn attribute_type(&mut self) -> Result<AttributeTypeDef, SchemaError> {
        self.expect(Tok::Open, "at the start of the definition")?;
        let mut def = AttributeTypeDef { file: self.file.to_string(), line: self.start, ..Default::default() };
        def.oid = self.oid("'('")?;
        let mut seen = HashSet::new();
        while let Some((kw, line)) = self.keyword(&mut seen)? {
            match kw.as_str() {
                "NAME" => def.names = self.names()?,
                "DESC" => def.desc = Some(self.qdstring("DESC")?),
                "OBSOLETE" => def.obsolete = true,
                "SUP" => def.sup = Some(self.word("SUP")?.0),
                "EQUALITY" => def.equality = Some(self.word("EQUALITY")?.0),
                "ORDERING" => def.ordering = Some(self.word("ORDERING")?.0),
                "SUBSTR" => def.substr = Some(self.word("SUBSTR")?.0),
                "SYNTAX" => {
                    let (w, line) = self.word("SYNTAX")?;
                    let (oid, len) = match w.split_once('{') {
                        Some((oid, rest)) => {
                            let len = rest.strip_suffix('}').and_then(|n| n.parse::<u32>().ok());
                            let Some(len) = len else {
                                return Err(self.err(line, format!("bad length bound in SYNTAX '{w}'")));
                            };
                            (oid, Some(len))
                        }
                        None => (w.as_str(), None),
                    };
                    def.syntax = Some(expand_oid(self.macros, oid).ok_or_else(|| {
                        self.err(line, format!("SYNTAX '{oid}' is neither a numeric OID nor a known objectidentifier"))
                    })?);
                    def.syntax_len = len;
                }
                "SINGLE-VALUE" => def.single_value = true,
                "COLLECTIVE" => def.collective = true,
                "NO-USER-MODIFICATION" => def.no_user_modification = true,
                "USAGE" => {
                    let (w, line) = self.word("USAGE")?;
                    def.usage = Usage::parse(&w).ok_or_else(|| {
                        self.err(line, format!("unknown USAGE '{w}' (expected userApplications, directoryOperation, distributedOperation or dSAOperation)"))
                    })?;
                }
                x if x.starts_with("X-") => def.extensions.push(self.extension(x)?),
                _ => return Err(self.err(line, format!("unknown keyword '{kw}'"))),
            }
        }
        Ok(def)
    }

    fn object_class(&mut self) -> Result<ObjectClassDef, SchemaError> {
        self.expect(Tok::Open, "at the start of the definition")?;
        let mut def = ObjectClassDef { file: self.file.to_string(), line: self.start, ..Default::default() };
        def.oid = self.oid("'('")?;
        let mut seen = HashSet::new();
        let mut kind = None;
        while let Some((kw, line)) = self.keyword(&mut seen)? {
            match kw.as_str() {
                "NAME" => def.names = self.names()?,
                "DESC" => def.desc = Some(self.qdstring("DESC")?),
                "OBSOLETE" => def.obsolete = true,
                "SUP" => def.sup = self.oids("SUP")?,
                "MUST" => def.must = self.oids("MUST")?,
                "MAY" => def.may = self.oids("MAY")?,
                "ABSTRACT" | "STRUCTURAL" | "AUXILIARY" => {
                    if let Some(other) = kind.replace(kw.clone()) {
                        return Err(self.err(line, format!("both {other} and {kw} given")));
                    }
                    def.kind = match kw.as_str() {
                        "ABSTRACT" => ObjectClassKind::Abstract,
                        "AUXILIARY" => ObjectClassKind::Auxiliary,
                        _ => ObjectClassKind::Structural,
                    };
                }
                x if x.starts_with("X-") => def.extensions.push(self.extension(x)?),
                _ => return Err(self.err(line, format!("unknown keyword '{kw}'"))),
            }
        }
        Ok(def)
    }
}

fn write_qdescrs(f: &mut fmt::Formatter<'_>, keyword: &str, names: &[String]) -> fmt::Result {
    match names {
        [] => Ok(()),
        [one] => write!(f, " {keyword} '{}'", escape(one)),
        many => {
            write!(f, " {keyword} (")?;
            for n in many {
                write!(f, " '{}'", escape(n))?;
            }
            f.write_str(" )")
        }
    }
}

fn write_oids(f: &mut fmt::Formatter<'_>, keyword: &str, oids: &[String]) -> fmt::Result {
    match oids {
        [] => Ok(()),
        [one] => write!(f, " {keyword} {one}"),
        many => write!(f, " {keyword} ( {} )", many.join(" $ ")),
    }
}

fn write_common(
    f: &mut fmt::Formatter<'_>,
    oid: &str,
    names: &[String],
    desc: &Option<String>,
    obsolete: bool,
) -> fmt::Result {
    write!(f, "( {oid}")?;
    write_qdescrs(f, "NAME", names)?;
    if let Some(d) = desc {
        write!(f, " DESC '{}'", escape(d))?;
    }
    if obsolete {
        f.write_str(" OBSOLETE")?;
    }
    Ok(())
}

fn write_extensions(f: &mut fmt::Formatter<'_>, extensions: &[Extension]) -> fmt::Result {
    for e in extensions {
        write_qdescrs(f, &e.name, &e.values)?;
    }
    f.write_str(" )")
}

impl fmt::Display for AttributeTypeDef {
    /// The RFC 4512 `AttributeTypeDescription`, as published in `attributeTypes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_common(f, &self.oid, &self.names, &self.desc, self.obsolete)?;
        for (kw, v) in
            [("SUP", &self.sup), ("EQUALITY", &self.equality), ("ORDERING", &self.ordering), ("SUBSTR", &self.substr)]
        {
            if let Some(v) = v {
                write!(f, " {kw} {v}")?;
            }
        }
        if let Some(s) = &self.syntax {
            write!(f, " SYNTAX {s}")?;
            if let Some(n) = self.syntax_len {
                write!(f, "{{{n}}}")?;
            }
        }
        for (kw, set) in [
            ("SINGLE-VALUE", self.single_value),
            ("COLLECTIVE", self.collective),
            ("NO-USER-MODIFICATION", self.no_user_modification),
        ] {
            if set {
                write!(f, " {kw}")?;
            }
        }
        if self.usage != Usage::UserApplications {
            write!(f, " USAGE {}", self.usage.as_str())?;
        }
        write_extensions(f, &self.extensions)
    }
}

impl fmt::Display for ObjectClassDef {
    /// The RFC 4512 `ObjectClassDescription`, as published in `objectClasses`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_common(f, &self.oid, &self.names, &self.desc, self.obsolete)?;
        write_oids(f, "SUP", &self.sup)?;
        write!(f, " {}", self.kind.as_str())?;
        write_oids(f, "MUST", &self.must)?;
        write_oids(f, "MAY", &self.may)?;
        write_extensions(f, &self.extensions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(text: &str) -> Definition {
        let mut defs = parse("t.schema", text).unwrap();
        assert_eq!(defs.len(), 1, "{defs:?}");
        defs.remove(0)
    }

    fn at(text: &str) -> AttributeTypeDef {
        match one(text) {
            Definition::AttributeType(a) => a,
            d => panic!("not an attribute type: {d:?}"),
        }
    }

    fn err(text: &str) -> String {
        parse("t.schema", text).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_multi_line_attribute_type_with_comments() {
        let a = at("# a comment\n\nattributetype ( 2.5.4.3 NAME ( 'cn' 'commonName' )\n# inside\n\tDESC 'a desc'\n  SUP name SYNTAX 1.2.3{64} X-ORIGIN 'RFC 4519' )\n");
        assert_eq!(a.oid, "2.5.4.3");
        assert_eq!(a.names, ["cn", "commonName"]);
        assert_eq!(a.line, 3);
        assert_eq!(a.sup.as_deref(), Some("name"));
        assert_eq!(a.syntax.as_deref(), Some("1.2.3"));
        assert_eq!(a.syntax_len, Some(64));
        assert_eq!(a.extensions, [Extension { name: "X-ORIGIN".into(), values: vec!["RFC 4519".into()] }]);
    }

    #[test]
    fn expands_objectidentifier_macros() {
        let text = "objectidentifier campus 1.3.6.1.4.1.99999\nobjectidentifier campusAttr campus:1\n\
                    attributetype ( campusAttr:7 NAME 'x' SYNTAX campus:0.3 )";
        let a = at(text);
        assert_eq!(a.oid, "1.3.6.1.4.1.99999.1.7");
        assert_eq!(a.syntax.as_deref(), Some("1.3.6.1.4.1.99999.0.3"));
        assert!(err("objectidentifier a 1.2\nobjectidentifier a 1.3").contains("already defined as 1.2"));
        assert!(
            err("attributetype ( nope:1 NAME 'x' )").starts_with("t.schema:1: attributetype 'x': 'nope:1' is neither")
        );
    }

    #[test]
    fn parses_ldif_forms() {
        let text = "dn: cn=schema\nobjectClass: top\nattributeTypes: ( 1.2.3 NAME 'fo\n o' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )\n\
                    olcObjectClasses: {4}( 1.2.4 NAME 'bar' SUP top AUXILIARY\n  MAY foo )\n";
        let defs = parse("t.ldif", text).unwrap();
        assert_eq!(defs.len(), 2);
        let Definition::AttributeType(a) = &defs[0] else { panic!() };
        assert_eq!(a.names, ["foo"]);
        let Definition::ObjectClass(c) = &defs[1] else { panic!() };
        assert_eq!((c.line, c.kind, c.may.as_slice()), (5, ObjectClassKind::Auxiliary, &["foo".to_string()][..]));
    }

    #[test]
    fn errors_name_file_line_and_definition() {
        assert_eq!(
            err("attributetype ( 1.2.3 NAME 'x'\n  SYNTAX 1.2 \nobjectclass ( 1.2.4 NAME 'y' )"),
            "t.schema:1: attributetype 'x': unbalanced parentheses: missing ')'"
        );
        assert_eq!(
            err("objectclass ( 1.2.4 NAME 'y' ) )"),
            "t.schema:1: objectclass 'y': unbalanced parentheses: unexpected ')'"
        );
        assert_eq!(
            err("\n\nattributetype ( 1.2.3 NAME 'x'\n  BOGUS )"),
            "t.schema:4: attributetype 'x': unknown keyword 'BOGUS'"
        );
        assert_eq!(
            err("attributetype ( 1.2.3 NAME 'x' SUP a SUP b )"),
            "t.schema:1: attributetype 'x': SUP given twice"
        );
        assert_eq!(
            err("objectclass ( 1.2.3 NAME 'x' MAY ( a b ) )"),
            "t.schema:1: objectclass 'x': expected '$' or ')' in the MAY list, found 'b'"
        );
        assert_eq!(
            err("attributetyp ( 1.2.3 )"),
            "t.schema:1: unknown keyword 'attributetyp' (expected attributetype, objectclass or objectidentifier)"
        );
        assert_eq!(err("  ( 1.2.3 )"), "t.schema:1: line starts with white space but continues no definition");
        assert_eq!(
            err("attributetype ( 1.2.3 NAME 'x' DESC 'open )"),
            "t.schema:1: attributetype: unterminated quoted string"
        );
        assert_eq!(
            err("attributetype ( 1.2.3 NAME '1x' )"),
            "t.schema:1: attributetype '1x': '1x' is not a valid NAME (a letter, then letters, digits, '-')"
        );
        assert_eq!(
            err("objectclass ( 1.2.3 NAME 'x' ABSTRACT AUXILIARY )"),
            "t.schema:1: objectclass 'x': both ABSTRACT and AUXILIARY given"
        );
        assert_eq!(
            err("attributetype ( 01.2 NAME 'x' )"),
            "t.schema:1: attributetype 'x': '01.2' is neither a numeric OID nor a known objectidentifier"
        );
        assert_eq!(err("attributetype ( 1.2 NAME 'x' USAGE everyone )").split(": ").nth(2), Some("unknown USAGE 'everyone' (expected userApplications, directoryOperation, distributedOperation or dSAOperation)"));
        assert!(err("attributeTypes:: KDEuMiAp").contains("base64"));
    }

    #[test]
    fn accepts_crlf_and_a_byte_order_mark() {
        let a = at("\u{feff}attributetype ( 1.2.3 NAME 'x'\r\n  SUP name )\r\n");
        assert_eq!(a.sup.as_deref(), Some("name"));
    }

    #[test]
    fn lenient_about_unindented_continuations() {
        let a = at("attributetype ( 1.2.3 NAME 'x'\nSYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )");
        assert_eq!(a.syntax.as_deref(), Some("1.3.6.1.4.1.1466.115.121.1.15"));
    }

    #[test]
    fn display_is_rfc4512_and_parses_back() {
        let a = at("attributetype ( 1.2.3 NAME 'x' DESC 'a \\27quoted\\27 \\5C' EQUALITY caseIgnoreMatch SYNTAX 1.2.4{5} SINGLE-VALUE USAGE dSAOperation )");
        assert_eq!(a.desc.as_deref(), Some("a 'quoted' \\"));
        assert_eq!(
            a.to_string(),
            "( 1.2.3 NAME 'x' DESC 'a \\27quoted\\27 \\5C' EQUALITY caseIgnoreMatch SYNTAX 1.2.4{5} SINGLE-VALUE USAGE dSAOperation )"
        );
    }

    fn descr() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9-]{0,12}"
    }

    fn oid() -> impl Strategy<Value = String> {
        proptest::collection::vec(0u32..100_000, 2..8)
            .prop_map(|arcs| arcs.iter().map(u32::to_string).collect::<Vec<_>>().join("."))
    }

    prop_compose! {
        fn attribute_type()(
            oid in oid(), names in proptest::collection::vec(descr(), 0..3), desc in proptest::option::of("[^\u{0}\n\r]{0,20}"),
            obsolete: bool, sup in proptest::option::of(descr()), equality in proptest::option::of(descr()),
            ordering in proptest::option::of(oid()), substr in proptest::option::of(descr()),
            syntax in proptest::option::of(oid()), len in proptest::option::of(0u32..100_000),
            single_value: bool, collective: bool, no_user_modification: bool, usage in 0usize..4,
            ext in proptest::collection::vec(("X-[A-Z-]{1,8}", proptest::collection::vec("[^\u{0}\n\r]{0,8}", 1..3)), 0..2),
        ) -> AttributeTypeDef {
            let usage = [Usage::UserApplications, Usage::DirectoryOperation, Usage::DistributedOperation, Usage::DsaOperation][usage];
            let syntax_len = syntax.as_ref().and(len);
            let extensions = ext.into_iter().map(|(name, values)| Extension { name, values }).collect();
            AttributeTypeDef { file: "p".into(), line: 1, oid, names, desc, obsolete, sup, equality, ordering, substr, syntax,
                syntax_len, single_value, collective, no_user_modification, usage, extensions }
        }
    }

    proptest! {
        #[test]
        fn attribute_types_round_trip(a in attribute_type()) {
            let text = format!("attributetype {a}");
            let back = parse("p", &text).unwrap();
            prop_assert_eq!(back, vec![Definition::AttributeType(a.clone())]);
            let ldif = format!("attributeTypes: {a}");
            let back = parse("p", &ldif).unwrap();
            prop_assert_eq!(back, vec![Definition::AttributeType(a)]);
        }

        #[test]
        fn object_classes_round_trip(
            oid in oid(), names in proptest::collection::vec(descr(), 1..3), sup in proptest::collection::vec(descr(), 0..3),
            kind in 0usize..3, must in proptest::collection::vec(descr(), 0..4), may in proptest::collection::vec(oid(), 0..4),
        ) {
            let kind = [ObjectClassKind::Abstract, ObjectClassKind::Structural, ObjectClassKind::Auxiliary][kind];
            let c = ObjectClassDef { file: "p".into(), line: 1, oid, names, sup, kind, must, may, ..Default::default() };
            let back = parse("p", &format!("objectclass {c}")).unwrap();
            prop_assert_eq!(back, vec![Definition::ObjectClass(c)]);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[\\PC\t\n]{0,200}") {
            let _ = parse("p", &text);
        }

        #[test]
        fn schema_shaped_text_never_panics(words in proptest::collection::vec(proptest::sample::select(&[
            "attributetype", "objectclass", "objectidentifier", "attributeTypes:", "olcObjectClasses:", "(", ")", "$",
            "'", "'x'", "NAME", "SUP", "MUST", "MAY", "SYNTAX", "1.2.3", "1.2.3{4}", "1.2{", "m", "m:1", "\n", "\n ",
            "\n#", "{1}", "é", "X-A", "\\27", "AUXILIARY", "USAGE", "-",
        ][..]), 0..40)) {
            let text = words.join(" ");
            let _ = parse("p", &text);
            let _ = crate::Schema::from_sources([("p", text.as_str())]);
        }
    }
}
