//! birch-ldif: LDIF (RFC 2849) reading and writing, for `birch import`/`export`, backups,
//! the audit log and the demo data. Knows nothing of the store or the schema: records are
//! DNs and attribute values as written.
//!
//! Hand-written: the LDIF crates on crates.io do not keep line numbers for errors or
//! stream large files record by record, both of which `birch import` needs.
//!
//! Reading: [`LdifReader`] yields one [`LdifRecord`] at a time from any [`BufRead`];
//! [`parse_str`] parses a whole string. Writing: [`write_version`], [`write_entry`] and
//! [`write_record`]. Everything written by the writers is read back unchanged.

// No panic reachable from an LDIF file: tests may unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::io::{BufRead, Write};

/// Maximum length of a written physical line, in bytes (RFC 2849 recommends 76).
pub const LINE_WIDTH: usize = 76;

/// A parse error; `line` is the 1-based line where the offending record/line starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LdifError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One attribute value line: name as written (options kept, e.g. "cn;lang-en"), value bytes.
pub type LdifAttr = (String, Vec<u8>);

/// A modification of a `changetype: modify` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdifMod {
    /// add / delete / replace / increment.
    pub op: LdifModOp,
    /// The attribute, as written in the `op: attr` line.
    pub attr: String,
    /// Values; may be empty (an empty delete deletes the whole attribute).
    pub values: Vec<Vec<u8>>,
}

/// The kind of a modification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdifModOp {
    /// `add:`
    Add,
    /// `delete:`
    Delete,
    /// `replace:`
    Replace,
    /// `increment:` (RFC 4525)
    Increment,
}

impl LdifModOp {
    /// The LDIF keyword of this operation (`add`, `delete`, ...).
    pub fn keyword(self) -> &'static str {
        match self {
            LdifModOp::Add => "add",
            LdifModOp::Delete => "delete",
            LdifModOp::Replace => "replace",
            LdifModOp::Increment => "increment",
        }
    }
}

/// One LDIF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdifRecord {
    /// A content record (no changetype): dn + attribute values in file order.
    Content {
        /// Line of the `dn:` line.
        line: usize,
        /// The entry's DN, as written.
        dn: String,
        /// Attribute values in file order (at least one).
        attrs: Vec<LdifAttr>,
    },
    /// `changetype: add`.
    Add {
        /// Line of the `dn:` line.
        line: usize,
        /// The new entry's DN.
        dn: String,
        /// Attribute values in file order (at least one).
        attrs: Vec<LdifAttr>,
    },
    /// `changetype: delete`.
    Delete {
        /// Line of the `dn:` line.
        line: usize,
        /// The DN to delete.
        dn: String,
    },
    /// `changetype: modify`.
    Modify {
        /// Line of the `dn:` line.
        line: usize,
        /// The DN to modify.
        dn: String,
        /// Modifications in file order (possibly none).
        mods: Vec<LdifMod>,
    },
    /// `changetype: modrdn` / `moddn`.
    ModDn {
        /// Line of the `dn:` line.
        line: usize,
        /// The DN to rename.
        dn: String,
        /// `newrdn:`
        new_rdn: String,
        /// `deleteoldrdn:` (0 or 1).
        delete_old_rdn: bool,
        /// `newsuperior:`, if given.
        new_superior: Option<String>,
    },
}

impl LdifRecord {
    /// Line of the record's `dn:` line.
    pub fn line(&self) -> usize {
        match self {
            LdifRecord::Content { line, .. }
            | LdifRecord::Add { line, .. }
            | LdifRecord::Delete { line, .. }
            | LdifRecord::Modify { line, .. }
            | LdifRecord::ModDn { line, .. } => *line,
        }
    }

    /// The record's DN.
    pub fn dn(&self) -> &str {
        match self {
            LdifRecord::Content { dn, .. }
            | LdifRecord::Add { dn, .. }
            | LdifRecord::Delete { dn, .. }
            | LdifRecord::Modify { dn, .. }
            | LdifRecord::ModDn { dn, .. } => dn,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// A logical (unfolded) line with the number of its first physical line.
struct Line {
    no: usize,
    text: Vec<u8>,
}

/// Streaming LDIF reader: yields one record at a time, so only the current record is held
/// in memory. After the first error the iterator ends.
pub struct LdifReader<R: BufRead> {
    input: R,
    /// Number of physical lines read so far.
    line_no: usize,
    /// A physical line read ahead (the next logical line's start).
    pending: Option<(usize, Vec<u8>)>,
    /// Whether the first record (which may be the version line) has been read.
    started: bool,
    /// Set after an error or the end of input.
    done: bool,
}

impl<R: BufRead> LdifReader<R> {
    /// Reads LDIF from `input`.
    pub fn new(input: R) -> Self {
        LdifReader { input, line_no: 0, pending: None, started: false, done: false }
    }

    /// The next physical line without its line terminator (LF or CRLF).
    fn physical(&mut self) -> Result<Option<(usize, Vec<u8>)>, LdifError> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        let buf =
            self.read_line().map_err(|e| LdifError { line: self.line_no + 1, message: format!("read error: {e}") })?;
        let Some(mut buf) = buf else {
            return Ok(None);
        };
        self.line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        } else if buf.last() == Some(&b'\r') {
            // Last line of the input, CRLF-style but without the LF.
            buf.pop();
        }
        if self.line_no == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
            // UTF-8 byte order mark.
            buf.drain(..3);
        }
        Ok(Some((self.line_no, buf)))
    }

    /// The next physical line with its LF, `None` at end of input. Most lines lie whole in
    /// the reader's buffer and are copied out with one allocation of their size
    /// (`read_until` into an empty `Vec` grew it several times per line).
    fn read_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut line: Option<Vec<u8>> = None;
        loop {
            let avail = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(line);
            }
            let (part, done) = match memchr::memchr(b'\n', avail) {
                Some(i) => (&avail[..=i], true),
                None => (avail, false),
            };
            match &mut line {
                Some(l) => l.extend_from_slice(part),
                None => line = Some(part.to_vec()),
            }
            let n = part.len();
            self.input.consume(n);
            if done {
                return Ok(line);
            }
        }
    }

    /// The next logical line: continuation lines joined; `None` at end of input.
    /// Blank lines come back as empty lines.
    fn logical(&mut self) -> Result<Option<Line>, LdifError> {
        let Some((no, mut text)) = self.physical()? else {
            return Ok(None);
        };
        if text.first() == Some(&b' ') {
            return Err(LdifError {
                line: no,
                message: "continuation line (starting with a space) without a line to continue".into(),
            });
        }
        if text.is_empty() {
            return Ok(Some(Line { no, text }));
        }
        loop {
            match self.physical()? {
                Some((_, next)) if next.first() == Some(&b' ') => text.extend_from_slice(&next[1..]),
                Some(other) => {
                    self.pending = Some(other);
                    break;
                }
                None => break,
            }
        }
        Ok(Some(Line { no, text }))
    }

    /// Lines of the next record (comments dropped), `None` at end of input.
    fn record_lines(&mut self) -> Result<Option<Vec<Line>>, LdifError> {
        // Room for a typical entry's lines: no growing from empty per record.
        let mut lines = Vec::with_capacity(32);
        loop {
            match self.logical()? {
                None => break,
                Some(l) if l.text.is_empty() => {
                    if lines.is_empty() {
                        continue;
                    }
                    break;
                }
                Some(l) if l.text.first() == Some(&b'#') => continue,
                Some(l) => lines.push(l),
            }
        }
        Ok(if lines.is_empty() { None } else { Some(lines) })
    }

    fn next_record(&mut self) -> Result<Option<LdifRecord>, LdifError> {
        let Some(mut lines) = self.record_lines()? else {
            return Ok(None);
        };
        if !self.started {
            self.started = true;
            let first = &lines[0];
            let (name, value) = split_line(first)?;
            if name.eq_ignore_ascii_case("version") {
                if value.trim_ascii() != b"1" {
                    return Err(err(
                        first,
                        format!(
                            "unsupported LDIF version {:?} (only version 1 is supported)",
                            String::from_utf8_lossy(&value)
                        ),
                    ));
                }
                lines.remove(0);
                if lines.is_empty() {
                    // `version: 1` followed by a blank line.
                    return match self.record_lines()? {
                        Some(lines) => parse_record(&lines).map(Some),
                        None => Ok(None),
                    };
                }
            }
        }
        parse_record(&lines).map(Some)
    }
}

impl<R: BufRead> Iterator for LdifReader<R> {
    type Item = Result<LdifRecord, LdifError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: BufRead> std::iter::FusedIterator for LdifReader<R> {}

/// Parses a whole string (convenience for tests); stops at the first error.
pub fn parse_str(s: &str) -> Result<Vec<LdifRecord>, LdifError> {
    LdifReader::new(s.as_bytes()).collect()
}

fn err(line: &Line, message: impl Into<String>) -> LdifError {
    LdifError { line: line.no, message: message.into() }
}

/// The bytes of a descriptor after its first letter: letters, digits and hyphens.
const DESCR_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'-';
        c += 1;
    }
    t
};

/// Whether `name` is an attribute description: a descriptor (`[A-Za-z][A-Za-z0-9-]*`) or
/// a numeric OID, followed by any number of `;option`s (`[A-Za-z0-9-]+`).
fn valid_attr_name(name: &str) -> bool {
    // Almost every name is a descriptor without options: one pass over a table.
    let b = name.as_bytes();
    if b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(|&c| DESCR_CHAR[usize::from(c)]) {
        return true;
    }
    // Byte loops rather than `split`: this runs for every line of an import, twice.
    let (base, options) = match name.bytes().position(|b| b == b';') {
        Some(i) => (&name[..i], Some(&name[i + 1..])),
        None => (name, None),
    };
    let b = base.as_bytes();
    let descr =
        b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-');
    let oid = || base.split('.').all(|arc| !arc.is_empty() && arc.bytes().all(|c| c.is_ascii_digit()));
    (descr || oid())
        && options.is_none_or(|o| {
            o.split(';').all(|o| !o.is_empty() && o.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
        })
}

/// Skips leading spaces (RFC 2849 FILL).
fn skip_fill(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| c != b' ').unwrap_or(b.len());
    &b[start..]
}

/// Decodes a base64 value, ignoring spaces.
fn decode_b64(line: &Line, name: &str, b64: &[u8]) -> Result<Vec<u8>, LdifError> {
    let b64: Vec<u8> = b64.iter().copied().filter(|b| *b != b' ').collect();
    STANDARD.decode(&b64).map_err(|e| err(line, format!("{name}: invalid base64 value ({e})")))
}

/// Splits `name: value` or `name:: base64` into name and value bytes; refuses `name:< url`.
fn split_line(line: &Line) -> Result<(String, Vec<u8>), LdifError> {
    let colon = line.text.iter().position(|&b| b == b':').ok_or_else(|| {
        err(
            line,
            format!(
                "expected \"attribute: value\", found a line without a colon: {:?}",
                String::from_utf8_lossy(&line.text)
            ),
        )
    })?;
    let name = std::str::from_utf8(&line.text[..colon]).map_err(|_| err(line, "attribute name is not valid UTF-8"))?;
    if !valid_attr_name(name) {
        return Err(err(
            line,
            format!(
                "invalid attribute name {name:?} (allowed: letters, digits and '-', or a \
                 numeric OID, optionally followed by ;options)"
            ),
        ));
    }
    let rest = &line.text[colon + 1..];
    let value = match rest.first() {
        Some(b':') => decode_b64(line, name, &rest[1..])?,
        Some(b'<') => {
            return Err(err(
                line,
                format!(
                    "{name}: file URLs are not supported (\"{name}:< URL\"); inline the value \
                     or give it base64-encoded with \"{name}::\""
                ),
            ));
        }
        _ => skip_fill(rest).to_vec(),
    };
    Ok((name.to_string(), value))
}

fn utf8(line: &Line, what: &str, v: Vec<u8>) -> Result<String, LdifError> {
    String::from_utf8(v).map_err(|_| err(line, format!("{what} is not valid UTF-8")))
}

/// Checks a `control: oid [true|false] [: value | :: base64]` line (the value is ignored).
fn check_control(line: &Line) -> Result<(), LdifError> {
    let bad = |why: &str| {
        err(line, format!("malformed control line ({why}); expected \"control: OID [true|false] [: value]\""))
    };
    let colon = line.text.iter().position(|&b| b == b':').unwrap_or(0);
    let rest = &line.text[colon + 1..];
    if matches!(rest.first(), Some(b':' | b'<')) {
        return Err(bad("the OID must be given as plain text"));
    }
    let rest = skip_fill(rest);
    let oid_end = rest.iter().position(|&b| b == b' ' || b == b':').unwrap_or(rest.len());
    let oid = &rest[..oid_end];
    let oid_ok = oid.split(|&b| b == b'.').all(|arc| !arc.is_empty() && arc.iter().all(|b| b.is_ascii_digit()));
    if !oid_ok {
        return Err(bad(&format!("{:?} is not a numeric OID", String::from_utf8_lossy(oid))));
    }
    let mut rest = skip_fill(&rest[oid_end..]);
    let word_end = rest.iter().position(|&b| b == b':').unwrap_or(rest.len());
    let word = rest[..word_end].trim_ascii_end();
    match word {
        b"" => {}
        b"true" | b"false" => rest = &rest[word_end..],
        _ => return Err(bad("criticality must be true or false")),
    }
    match rest {
        [] => Ok(()),
        [b':', b':', b64 @ ..] => decode_b64(line, "control", b64).map(|_| ()),
        [b':', v @ ..] if skip_fill(v).first() == Some(&b'<') => {
            Err(err(line, "control: file URLs are not supported (\"control: OID :< URL\")"))
        }
        [b':', ..] => Ok(()),
        _ => Err(bad("unexpected text after the OID")),
    }
}

fn parse_record(lines: &[Line]) -> Result<LdifRecord, LdifError> {
    let Some((first, mut rest)) = lines.split_first() else {
        return Err(LdifError { line: 0, message: "empty record".into() });
    };
    let (name, value) = split_line(first)?;
    if !name.eq_ignore_ascii_case("dn") {
        return Err(err(first, format!("record must start with \"dn:\", found \"{name}:\"")));
    }
    let dn = utf8(first, "dn", value)?;
    let line = first.no;

    // Controls come between the dn and the changetype; they are checked and ignored.
    let mut first_control = None;
    while let Some((l, tail)) = rest.split_first() {
        if !split_line(l)?.0.eq_ignore_ascii_case("control") {
            break;
        }
        check_control(l)?;
        first_control.get_or_insert(l);
        rest = tail;
    }
    let mut changetype = None;
    if let Some((l, tail)) = rest.split_first() {
        let (n, v) = split_line(l)?;
        if n.eq_ignore_ascii_case("changetype") {
            changetype = Some((l, utf8(l, "changetype", v)?));
            rest = tail;
        }
    }
    let body = rest;

    let Some((ct_line, ct)) = changetype else {
        if let Some(c) = first_control {
            return Err(err(c, "control line without a following \"changetype:\""));
        }
        if body.is_empty() {
            return Err(err(first, format!("entry {dn:?} has no attributes")));
        }
        return Ok(LdifRecord::Content { line, dn, attrs: attrs_of(body)? });
    };
    match ct.trim_ascii_end().to_ascii_lowercase().as_str() {
        "add" => {
            if body.is_empty() {
                return Err(err(ct_line, "changetype add without attributes"));
            }
            Ok(LdifRecord::Add { line, dn, attrs: attrs_of(body)? })
        }
        "delete" => {
            if let Some(l) = body.first() {
                return Err(err(l, "changetype delete takes no further lines"));
            }
            Ok(LdifRecord::Delete { line, dn })
        }
        "modify" => Ok(LdifRecord::Modify { line, dn, mods: mods_of(body)? }),
        "modrdn" | "moddn" => moddn_of(line, dn, ct_line, body),
        _ => Err(err(ct_line, format!("unknown changetype {ct:?} (expected add, delete, modify, modrdn or moddn)"))),
    }
}

fn attrs_of(lines: &[Line]) -> Result<Vec<LdifAttr>, LdifError> {
    // Allocated once at its size (collecting into a `Result` grows the vector from empty).
    let mut attrs = Vec::with_capacity(lines.len());
    for l in lines {
        let (n, v) = split_line(l)?;
        if n.eq_ignore_ascii_case("dn") {
            return Err(err(l, "a second \"dn:\" in one record (missing blank line?)"));
        }
        attrs.push((n, v));
    }
    Ok(attrs)
}

fn mods_of(lines: &[Line]) -> Result<Vec<LdifMod>, LdifError> {
    let mut mods = Vec::new();
    let mut i = 0;
    while let Some(l) = lines.get(i) {
        let (n, v) = split_line(l)?;
        let op = match n.to_ascii_lowercase().as_str() {
            "add" => LdifModOp::Add,
            "delete" => LdifModOp::Delete,
            "replace" => LdifModOp::Replace,
            "increment" => LdifModOp::Increment,
            _ => return Err(err(l, format!("expected add:, delete:, replace: or increment:, found \"{n}:\""))),
        };
        let attr = utf8(l, "attribute name", v)?;
        if !valid_attr_name(&attr) {
            return Err(err(l, format!("{n}: invalid attribute name {attr:?}")));
        }
        let mut values = Vec::new();
        i += 1;
        // RFC 2849 wants a "-" after every modification; like ldapmodify, a missing one at
        // the very end of the record is accepted.
        while let Some(vl) = lines.get(i) {
            i += 1;
            if vl.text.trim_ascii_end() == b"-" {
                break;
            }
            let (vn, vv) = split_line(vl)?;
            if !vn.eq_ignore_ascii_case(&attr) {
                return Err(err(
                    vl,
                    format!(
                        "\"{vn}:\" inside \"{n}: {attr}\" (attribute names must match; \
                         missing \"-\" line?)"
                    ),
                ));
            }
            values.push(vv);
        }
        mods.push(LdifMod { op, attr, values });
    }
    Ok(mods)
}

fn moddn_of(line: usize, dn: String, ct_line: &Line, body: &[Line]) -> Result<LdifRecord, LdifError> {
    let mut new_rdn = None;
    let mut delete_old_rdn = None;
    let mut new_superior = None;
    for l in body {
        let (n, v) = split_line(l)?;
        let lower = n.to_ascii_lowercase();
        let duplicate = match lower.as_str() {
            "newrdn" => new_rdn.replace(utf8(l, "newrdn", v)?).is_some(),
            "deleteoldrdn" => {
                let flag = match v.trim_ascii_end() {
                    b"0" => false,
                    b"1" => true,
                    other => {
                        return Err(err(
                            l,
                            format!("deleteoldrdn must be 0 or 1, found {:?}", String::from_utf8_lossy(other)),
                        ))
                    }
                };
                delete_old_rdn.replace(flag).is_some()
            }
            "newsuperior" => new_superior.replace(utf8(l, "newsuperior", v)?).is_some(),
            _ => {
                return Err(err(
                    l,
                    format!(
                        "unexpected \"{n}:\" in a modrdn record (expected newrdn, \
                         deleteoldrdn, newsuperior)"
                    ),
                ))
            }
        };
        if duplicate {
            return Err(err(l, format!("\"{n}:\" given twice")));
        }
    }
    let new_rdn = match new_rdn {
        Some(r) if !r.is_empty() => r,
        Some(_) => return Err(err(ct_line, "modrdn with an empty newrdn")),
        None => return Err(err(ct_line, "modrdn without \"newrdn:\"")),
    };
    let delete_old_rdn = delete_old_rdn.ok_or_else(|| err(ct_line, "modrdn without \"deleteoldrdn:\""))?;
    Ok(LdifRecord::ModDn { line, dn, new_rdn, delete_old_rdn, new_superior })
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// Whether a value may be written as-is (RFC 2849 SAFE-STRING, and no trailing space).
fn is_safe(v: &[u8]) -> bool {
    match v.first() {
        None => true,
        Some(b' ' | b':' | b'<') => false,
        // A fold without early exit, which the compiler vectorizes.
        Some(_) => {
            v.last() != Some(&b' ')
                && !v.iter().fold(false, |bad, &b| bad | (b == 0) | (b > 127) | (b == b'\n') | (b == b'\r'))
        }
    }
}

/// Appends `name: value` (or `name:: base64`), folded at [`LINE_WIDTH`] columns.
fn push_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    let start = out.len();
    out.extend_from_slice(name.as_bytes());
    if value.is_empty() {
        out.push(b':');
    } else if is_safe(value) {
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
    } else {
        out.extend_from_slice(b":: ");
        let at = out.len();
        out.resize(at + value.len().div_ceil(3) * 4, 0);
        // The room is exactly the padded length, so encoding cannot fail; should it, the
        // value is written through the allocating encoder instead.
        match STANDARD.encode_slice(value, &mut out[at..]) {
            Ok(n) => out.truncate(at + n),
            Err(_) => {
                out.truncate(at);
                out.extend_from_slice(STANDARD.encode(value).as_bytes());
            }
        }
    }
    // Only ASCII is ever written (unsafe values are base64), so folding at any byte is fine.
    // Continuation lines are one space plus LINE_WIDTH - 1 bytes.
    if out.len() - start > LINE_WIDTH {
        let tail = out.split_off(start + LINE_WIDTH);
        for chunk in tail.chunks(LINE_WIDTH - 1) {
            out.extend_from_slice(b"\n ");
            out.extend_from_slice(chunk);
        }
    }
    out.push(b'\n');
}

/// Writes `name: value` (or `name:: base64`), folded at [`LINE_WIDTH`] columns.
fn write_line<W: Write>(out: &mut W, name: &str, value: &[u8]) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(name.len() + value.len() * 4 / 3 + 8);
    push_line(&mut line, name, value);
    out.write_all(&line)
}

fn invalid_input(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

/// Checks that attribute lines can be written and read back as the same attributes.
fn check_attr_names<'a>(names: impl Iterator<Item = &'a str>, after_changetype: bool) -> std::io::Result<()> {
    for (i, name) in names.enumerate() {
        if !valid_attr_name(name) {
            return Err(invalid_input(format!("cannot write LDIF: invalid attribute name {name:?}")));
        }
        let reserved = name.eq_ignore_ascii_case("dn")
            || (i == 0
                && !after_changetype
                && (name.eq_ignore_ascii_case("changetype") || name.eq_ignore_ascii_case("control")));
        if reserved {
            return Err(invalid_input(format!(
                "cannot write LDIF: attribute {name:?} would be read as a record keyword"
            )));
        }
    }
    Ok(())
}

/// Writes one content record (dn + attributes) followed by a blank line.
///
/// Values that are not SAFE-STRING per RFC 2849 (leading space/colon/'<', trailing space,
/// non-ASCII, NUL/CR/LF) are written base64 with `::`; the dn likewise. Lines are folded at
/// 76 columns (continuation lines begin with one space). Fails with `InvalidInput`, writing
/// nothing, if there are no attributes or a name could not be read back as written (invalid
/// characters, `dn`, or `changetype`/`control` as the first attribute).
pub fn write_entry<W: Write>(out: &mut W, dn: &str, attrs: &[(&str, &[u8])]) -> std::io::Result<()> {
    let mut record = Vec::with_capacity(256);
    push_entry(&mut record, dn, attrs)?;
    out.write_all(&record)
}

/// Appends one content record to `out`, as [`write_entry`] writes it: for a caller that
/// gathers many records in one buffer (export) and writes them at once. Fails like
/// [`write_entry`], leaving `out` as it was.
pub fn push_entry(out: &mut Vec<u8>, dn: &str, attrs: &[(&str, &[u8])]) -> std::io::Result<()> {
    if attrs.is_empty() {
        return Err(invalid_input(format!("cannot write LDIF: entry {dn:?} has no attributes")));
    }
    // The values of one attribute usually come together with the very same name (one
    // string): it is checked once.
    let mut last: Option<&str> = None;
    let names = attrs.iter().map(|(n, _)| *n).filter(|&n| !last.replace(n).is_some_and(|l| std::ptr::eq(l, n)));
    check_attr_names(names, false)?;
    push_line(out, "dn", dn.as_bytes());
    for (name, value) in attrs {
        push_line(out, name, value);
    }
    out.push(b'\n');
    Ok(())
}

/// Writes any record (content or change record) followed by a blank line, in the form
/// [`LdifReader`] reads back as the same record (apart from `line`, and `moddn`, which is
/// written as `modrdn`). Fails with `InvalidInput`, writing nothing, on an attribute name that
/// could not be read back or an add/content record without attributes.
pub fn write_record<W: Write>(out: &mut W, record: &LdifRecord) -> std::io::Result<()> {
    match record {
        LdifRecord::Content { dn, attrs, .. } => {
            let attrs: Vec<(&str, &[u8])> = attrs.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
            write_entry(out, dn, &attrs)
        }
        LdifRecord::Add { dn, attrs, .. } => {
            if attrs.is_empty() {
                return Err(invalid_input(format!("cannot write LDIF: add of {dn:?} has no attributes")));
            }
            // After the changetype line, "changetype"/"control" are ordinary names.
            check_attr_names(attrs.iter().map(|(n, _)| n.as_str()), true)?;
            write_line(out, "dn", dn.as_bytes())?;
            write_line(out, "changetype", b"add")?;
            for (name, value) in attrs {
                write_line(out, name, value)?;
            }
            out.write_all(b"\n")
        }
        LdifRecord::Delete { dn, .. } => {
            write_line(out, "dn", dn.as_bytes())?;
            write_line(out, "changetype", b"delete")?;
            out.write_all(b"\n")
        }
        LdifRecord::Modify { dn, mods, .. } => {
            for m in mods {
                if !valid_attr_name(&m.attr) {
                    return Err(invalid_input(format!("cannot write LDIF: invalid attribute name {:?}", m.attr)));
                }
            }
            write_line(out, "dn", dn.as_bytes())?;
            write_line(out, "changetype", b"modify")?;
            for m in mods {
                write_line(out, m.op.keyword(), m.attr.as_bytes())?;
                for v in &m.values {
                    write_line(out, &m.attr, v)?;
                }
                out.write_all(b"-\n")?;
            }
            out.write_all(b"\n")
        }
        LdifRecord::ModDn { dn, new_rdn, delete_old_rdn, new_superior, .. } => {
            if new_rdn.is_empty() {
                return Err(invalid_input(format!("cannot write LDIF: modrdn of {dn:?} has an empty newrdn")));
            }
            write_line(out, "dn", dn.as_bytes())?;
            write_line(out, "changetype", b"modrdn")?;
            write_line(out, "newrdn", new_rdn.as_bytes())?;
            write_line(out, "deleteoldrdn", if *delete_old_rdn { b"1" } else { b"0" })?;
            if let Some(sup) = new_superior {
                write_line(out, "newsuperior", sup.as_bytes())?;
            }
            out.write_all(b"\n")
        }
    }
}

/// Writes the `version: 1` header line followed by a blank line.
pub fn write_version<W: Write>(out: &mut W) -> std::io::Result<()> {
    out.write_all(b"version: 1\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn content(rec: &LdifRecord) -> (usize, &str, &[LdifAttr]) {
        match rec {
            LdifRecord::Content { line, dn, attrs } => (*line, dn, attrs),
            other => panic!("expected a content record, got {other:?}"),
        }
    }

    fn attr(name: &str, value: &[u8]) -> LdifAttr {
        (name.to_string(), value.to_vec())
    }

    fn error(text: &str) -> LdifError {
        match parse_str(text) {
            Ok(recs) => panic!("expected an error, got {recs:?}"),
            Err(e) => e,
        }
    }

    /// Asserts the error's line and that its message contains `needle`.
    fn assert_error(text: &str, line: usize, needle: &str) {
        let e = error(text);
        assert_eq!(e.line, line, "wrong line for {text:?}: {e}");
        assert!(e.message.contains(needle), "message {:?} lacks {needle:?}", e.message);
        assert!(e.to_string().starts_with(&format!("line {line}: ")));
    }

    #[test]
    fn content_records_with_comments_folding_and_base64() {
        let text = "version: 1\n# a comment\n#  folded\n comment\ndn: cn=Chen,dc=x\r\n\
                    objectClass: person\ncn:: 6ZmI5Lyf\ndescription: a long\n  value\n\
                    sn:   spaced\r\n\n\r\n\ndn:: Y249YixkYz14\ncn: b\n";
        let recs = parse_str(text).unwrap();
        assert_eq!(recs.len(), 2);
        let (line, dn, attrs) = content(&recs[0]);
        assert_eq!(line, 5);
        assert_eq!(dn, "cn=Chen,dc=x");
        assert_eq!(
            attrs,
            [
                attr("objectClass", b"person"),
                attr("cn", "陈伟".as_bytes()),
                attr("description", b"a long value"),
                attr("sn", b"spaced"),
            ]
        );
        let (line, dn, attrs) = content(&recs[1]);
        assert_eq!((line, dn), (14, "cn=b,dc=x"));
        assert_eq!(attrs, [attr("cn", b"b")]);
        assert_eq!(recs[1].line(), 14);
        assert_eq!(recs[1].dn(), "cn=b,dc=x");
    }

    #[test]
    fn version_line_is_optional_and_may_directly_precede_a_record() {
        let recs = parse_str("version: 1\ndn: cn=a\ncn: a\n").unwrap();
        assert_eq!(content(&recs[0]).0, 2);
        let recs = parse_str("dn: cn=a\ncn: a\n").unwrap();
        assert_eq!(content(&recs[0]).0, 1);
        assert_eq!(parse_str("version: 1\n").unwrap(), vec![]);
        assert_eq!(parse_str("version: 1\n\n# only comments\n\n").unwrap(), vec![]);
        assert_eq!(parse_str("").unwrap(), vec![]);
        assert_eq!(parse_str("\n\n\n").unwrap(), vec![]);
        // A byte order mark is skipped.
        let recs = parse_str("\u{feff}version: 1\n\ndn: cn=a\ncn: a\n").unwrap();
        assert_eq!(content(&recs[0]).0, 3);
        // Comments between records and inside records are dropped.
        let recs = parse_str("# c\ndn: cn=a\n# inside\ncn: a\n# after\n\n# x\ndn: cn=b\ncn: b").unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(content(&recs[0]).2, [attr("cn", b"a")]);
        assert_eq!(content(&recs[1]).0, 8);
    }

    #[test]
    fn values_and_names() {
        let text = "dn:\ncn;lang-en: x\n2.5.4.3: y\nempty:\nempty2: \n\
                    colon: a:b: c\ntrailing: t  \nb64::   AAEC\nraw: caf\u{e9}\nDN-ish: dn: x\n";
        let recs = parse_str(text).unwrap();
        let (_, dn, attrs) = content(&recs[0]);
        assert_eq!(dn, "");
        assert_eq!(
            attrs,
            [
                attr("cn;lang-en", b"x"),
                attr("2.5.4.3", b"y"),
                attr("empty", b""),
                attr("empty2", b""),
                attr("colon", b"a:b: c"),
                attr("trailing", b"t  "),
                attr("b64", &[0, 1, 2]),
                attr("raw", "caf\u{e9}".as_bytes()),
                attr("DN-ish", b"dn: x"),
            ]
        );
        // A folded base64 value, folded in the middle of the encoding.
        let recs = parse_str("dn: cn=a\ncn:: 6ZmI\n 5Lyf\n").unwrap();
        assert_eq!(content(&recs[0]).2, [attr("cn", "陈伟".as_bytes())]);
        // A folded dn.
        let recs = parse_str("dn: cn=a,\n dc=example\ncn: a\n").unwrap();
        assert_eq!(content(&recs[0]).1, "cn=a,dc=example");
    }

    #[test]
    fn change_records() {
        let text = "version: 1\n\n\
            dn: cn=a,dc=x\nchangetype: modify\nadd: mail\nmail: a@x\nmail:: YkB4\n-\n\
            delete: description\n-\ndelete: telephoneNumber\ntelephoneNumber: 1\n-\n\
            replace: sn\nsn: A\n-\nreplace: seeAlso\n-\nincrement: uidNumber\nuidNumber: 1\n-\n\n\
            dn: cn=a,dc=x\nchangetype: modrdn\nnewrdn: cn=b\ndeleteoldrdn: 1\n\
            newsuperior: ou=y,dc=x\n\n\
            dn: cn=b,dc=x\nchangetype: moddn\nnewrdn:: Y249w6k=\ndeleteoldrdn: 0\n\n\
            dn: cn=b,ou=y,dc=x\nchangetype: delete\n\n\
            dn: cn=c,dc=x\ncontrol: 1.2.840.113556.1.4.805 true\ncontrol: 1.2.3 false: v\n\
            control: 1.2.3:: AAE=\ncontrol: 1.2.3\nchangetype: add\ncn: c\nchangetype: x\n\n\
            dn: cn=d,dc=x\nchangetype: modify\n";
        let recs = parse_str(text).unwrap();
        assert_eq!(recs.len(), 6);
        let LdifRecord::Modify { line, dn, mods } = &recs[0] else {
            panic!("{:?}", recs[0]);
        };
        assert_eq!((*line, dn.as_str()), (3, "cn=a,dc=x"));
        let m = |op, attr: &str, values: &[&[u8]]| LdifMod {
            op,
            attr: attr.to_string(),
            values: values.iter().map(|v| v.to_vec()).collect(),
        };
        assert_eq!(
            mods,
            &[
                m(LdifModOp::Add, "mail", &[b"a@x", b"b@x"]),
                m(LdifModOp::Delete, "description", &[]),
                m(LdifModOp::Delete, "telephoneNumber", &[b"1"]),
                m(LdifModOp::Replace, "sn", &[b"A"]),
                m(LdifModOp::Replace, "seeAlso", &[]),
                m(LdifModOp::Increment, "uidNumber", &[b"1"]),
            ]
        );
        assert_eq!(
            recs[1],
            LdifRecord::ModDn {
                line: 23,
                dn: "cn=a,dc=x".into(),
                new_rdn: "cn=b".into(),
                delete_old_rdn: true,
                new_superior: Some("ou=y,dc=x".into()),
            }
        );
        assert_eq!(
            recs[2],
            LdifRecord::ModDn {
                line: 29,
                dn: "cn=b,dc=x".into(),
                new_rdn: "cn=é".into(),
                delete_old_rdn: false,
                new_superior: None,
            }
        );
        assert_eq!(recs[3], LdifRecord::Delete { line: 34, dn: "cn=b,ou=y,dc=x".into() });
        assert_eq!(
            recs[4],
            LdifRecord::Add {
                line: 37,
                dn: "cn=c,dc=x".into(),
                attrs: vec![attr("cn", b"c"), attr("changetype", b"x")],
            }
        );
        assert_eq!(recs[5], LdifRecord::Modify { line: 46, dn: "cn=d,dc=x".into(), mods: vec![] });
    }

    #[test]
    fn record_not_starting_with_dn() {
        assert_error("cn: a\n", 1, "must start with \"dn:\"");
        // A value line before the dn.
        assert_error("dn: cn=a\ncn: a\n\n\n# c\ncn: b\ndn: cn=b\n", 6, "\"cn:\"");
        assert_error("version: 1\n\nobjectClass: top\n", 3, "dn:");
        // version is only allowed first.
        assert_error("dn: cn=a\ncn: a\n\nversion: 1\n", 4, "dn:");
    }

    #[test]
    fn line_without_colon() {
        assert_error("dn: cn=a\ncn: a\n\ndn: cn=b\nnocolon\n", 5, "without a colon");
        assert_error("nocolon\n", 1, "without a colon");
        assert_error("dn: cn=a\nchangetype: modify\nadd: cn\ncn: x\n-x\n", 5, "colon");
    }

    #[test]
    fn continuation_lines_out_of_place() {
        assert_error(" folded\n", 1, "continuation");
        assert_error("\n\n folded\n", 3, "continuation");
        assert_error("dn: cn=a\ncn: a\n\n cont\n", 4, "continuation");
    }

    #[test]
    fn invalid_attribute_names() {
        for name in ["bad name", "c_n", "1cn", "cn;", "-cn", "cn;a_b", "1..2", ".1", "é", ""] {
            assert_error(&format!("dn: cn=a\nsn: x\n{name}: x\n"), 3, "invalid attribute name");
        }
        assert_error("dn: cn=a\nchangetype: modify\nadd: bad_name\nbad_name: x\n-\n", 3, "invalid attribute name");
        assert_error("dn: cn=a\ncn : x\n", 2, "invalid attribute name");
        assert_error("dn: cn=a\nc\u{ff}n: x\n", 2, "invalid attribute name");
    }

    #[test]
    fn base64_and_url_values() {
        assert_error("dn: cn=a\ncn:: !!!\n", 2, "cn: invalid base64");
        assert_error("dn: cn=a\ncn:: YQ\n", 2, "invalid base64");
        assert_error("dn:: !!\ncn: a\n", 1, "invalid base64");
        let e = error("dn: cn=a\ncn: a\njpegPhoto:< file:///etc/passwd\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("jpegPhoto"), "{e}");
        assert!(e.message.contains("file URLs are not supported"), "{e}");
        assert_error("dn:< file:///x\ncn: a\n", 1, "dn: file URLs are not supported");
        // dn:: must decode to UTF-8.
        assert_error("dn:: /w==\ncn: a\n", 1, "dn is not valid UTF-8");
        assert!(parse_str("dn: cn=\u{e9}\ncn: a\n").is_ok());
    }

    #[test]
    fn versions() {
        assert_error("version: 2\ndn: cn=a\ncn: a\n", 1, "version");
        assert_error("# hello\nversion: 0\n\ndn: cn=a\ncn: a\n", 2, "only version 1");
    }

    #[test]
    fn records_without_attributes() {
        assert_error("dn: cn=a\n", 1, "no attributes");
        assert_error("dn: cn=a\ncn: a\n\ndn: cn=b\n\n", 4, "no attributes");
        assert_error("dn: cn=a\n# comment\n\ndn: cn=b\ncn: b\n", 1, "no attributes");
        assert_error("dn: cn=a\nchangetype: add\n", 2, "without attributes");
        assert!(parse_str("dn: cn=a\nchangetype: delete\n").is_ok());
        assert_error("dn: cn=a\nchangetype: delete\ncn: a\n", 3, "delete takes no");
        assert_error("dn: cn=a\ncn: a\ndn: cn=b\n", 3, "second \"dn:\"");
        assert_error("dn: cn=a\nchangetype: add\ncn: a\nDN: cn=b\n", 4, "second");
    }

    #[test]
    fn changetype_errors() {
        assert_error("dn: cn=a\ncn: a\n\ndn: cn=b\nchangetype: frobnicate\n", 5, "unknown changetype \"frobnicate\"");
        assert_error("dn: cn=a\nchangetype:: /w==\n", 2, "changetype is not valid UTF-8");
    }

    #[test]
    fn control_errors() {
        assert_error("dn: cn=a\ncontrol: 1.2.3\ncn: a\n", 2, "without a following \"changetype:\"");
        assert_error("dn: cn=a\ncontrol: abc\nchangetype: delete\n", 2, "numeric OID");
        assert_error("dn: cn=a\ncontrol: 1.2.3 maybe\nchangetype: delete\n", 2, "criticality");
        assert_error("dn: cn=a\ncontrol: 1.2.3 true:: !!\nchangetype: delete\n", 2, "base64");
        assert_error("dn: cn=a\ncontrol:: MS4y\nchangetype: delete\n", 2, "plain text");
        assert_error("dn: cn=a\ncontrol: 1.2.3 :< file:///x\nchangetype: delete\n", 2, "file URLs");
        assert_error("dn: cn=a\ncontrol: 1.2.3 true x\nchangetype: delete\n", 2, "criticality");
    }

    #[test]
    fn modify_errors() {
        // Missing "-" at the end of the record: reported at the block's first line.
        // Like ldapmodify, a missing "-" at the very end of a record is accepted.
        let recs = parse_str("dn: cn=a\nchangetype: modify\nadd: mail\nmail: x\n").unwrap();
        assert!(
            matches!(&recs[0], LdifRecord::Modify { mods, .. } if mods.len() == 1 && mods[0].values == vec![b"x".to_vec()])
        );
        // Missing "-" before the next block: reported where the "-" was expected.
        assert_error("dn: cn=a\nchangetype: modify\nadd: mail\nmail: x\nreplace: sn\nsn: y\n-\n", 5, "missing \"-\"");
        // Value line for another attribute.
        assert_error("dn: cn=a\nchangetype: modify\nadd: mail\ncn: x\n-\n", 4, "attribute names must match");
        assert_error(
            "dn: cn=a\nchangetype: modify\nfrob: mail\n-\n",
            3,
            "expected add:, delete:, replace: or increment:",
        );
        assert_error("dn: cn=a\nchangetype: modify\ndelete: mail\n-\nmail: x\n", 5, "expected add:");
        // Name match is case-insensitive; a "-" with trailing spaces is accepted.
        let recs = parse_str("dn: cn=a\nchangetype: modify\nadd: mail\nMAIL: x\n-  \n").unwrap();
        assert!(matches!(&recs[0], LdifRecord::Modify { mods, .. } if mods.len() == 1));
    }

    #[test]
    fn modrdn_errors() {
        assert_error("dn: cn=a\nchangetype: modrdn\nnewrdn: cn=b\ndeleteoldrdn: 2\n", 4, "deleteoldrdn must be 0 or 1");
        assert_error("dn: cn=a\nchangetype: modrdn\nnewrdn: cn=b\ndeleteoldrdn: yes\n", 4, "deleteoldrdn");
        assert_error("dn: cn=a\nchangetype: modrdn\ndeleteoldrdn: 1\n", 2, "without \"newrdn:\"");
        assert_error("dn: cn=a\nchangetype: modrdn\nnewrdn: cn=b\n", 2, "without \"deleteoldrdn:\"");
        assert_error("dn: cn=a\nchangetype: moddn\nnewrdn:\ndeleteoldrdn: 1\n", 2, "empty newrdn");
        assert_error("dn: cn=a\nchangetype: modrdn\nnewrdn: cn=b\nnewrdn: cn=c\ndeleteoldrdn: 1\n", 4, "given twice");
        assert_error("dn: cn=a\nchangetype: modrdn\nnewrdn: cn=b\ndeleteoldrdn: 1\ncn: x\n", 5, "unexpected \"cn:\"");
    }

    #[test]
    fn reader_streams_and_stops_after_an_error() {
        /// An endless LDIF stream: a reader that holds it all would never return.
        struct Endless(u64, Vec<u8>);
        impl std::io::Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.1.is_empty() {
                    self.0 += 1;
                    self.1 = format!("dn: cn=u{}\ncn: u{}\n\n", self.0, self.0).into_bytes();
                }
                let n = buf.len().min(self.1.len());
                buf[..n].copy_from_slice(&self.1[..n]);
                self.1.drain(..n);
                Ok(n)
            }
        }
        let reader = LdifReader::new(std::io::BufReader::new(Endless(0, Vec::new())));
        let recs: Vec<_> = reader.take(1000).collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 1000);
        assert_eq!(recs[999].dn(), "cn=u1000");
        assert_eq!(recs[999].line(), 2998);

        let mut r = LdifReader::new("dn: cn=a\ncn: a\n\nbad\n\ndn: cn=b\ncn: b\n".as_bytes());
        assert!(matches!(r.next(), Some(Ok(_))));
        assert_eq!(r.next().unwrap().unwrap_err().line, 4);
        assert!(r.next().is_none());
        assert!(r.next().is_none());
    }

    #[test]
    fn read_errors_are_reported() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let input = std::io::Read::chain("dn: cn=a\ncn: a\n".as_bytes(), Failing);
        let mut r = LdifReader::new(std::io::BufReader::new(input));
        let e = r.next().unwrap().unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("disk on fire"), "{e}");
        assert!(r.next().is_none());
    }

    fn written(dn: &str, attrs: &[(&str, &[u8])]) -> String {
        let mut out = Vec::new();
        write_entry(&mut out, dn, attrs).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writer_uses_base64_only_for_unsafe_values() {
        let text = written(
            "cn=a,dc=x",
            &[
                ("cn", b"plain value: with colon"),
                ("a", b" leading space"),
                ("b", b":colon"),
                ("c", b"<angle"),
                ("d", b"trailing "),
                ("e", "é".as_bytes()),
                ("f", b"nul\0"),
                ("g", b"cr\r"),
                ("h", b"lf\nx"),
                ("i", b""),
                ("j", b"#not a comment"),
                ("k", b"inner < : space"),
            ],
        );
        assert_eq!(
            text,
            "dn: cn=a,dc=x\ncn: plain value: with colon\na:: IGxlYWRpbmcgc3BhY2U=\n\
             b:: OmNvbG9u\nc:: PGFuZ2xl\nd:: dHJhaWxpbmcg\ne:: w6k=\nf:: bnVsAA==\n\
             g:: Y3IN\nh:: bGYKeA==\ni:\nj: #not a comment\nk: inner < : space\n\n"
        );
        assert_eq!(written("cn=é", &[("cn", b"x")]), "dn:: Y249w6k=\ncn: x\n\n");
        assert_eq!(written("", &[("cn", b"x")]), "dn:\ncn: x\n\n");
        let mut out = Vec::new();
        write_version(&mut out).unwrap();
        assert_eq!(out, b"version: 1\n\n");
    }

    #[test]
    fn writer_refuses_what_cannot_be_read_back() {
        let refused = |dn: &str, attrs: &[(&str, &[u8])]| {
            let mut out = Vec::new();
            let e = write_entry(&mut out, dn, attrs).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert!(out.is_empty(), "wrote {:?}", String::from_utf8_lossy(&out));
        };
        refused("cn=a", &[]);
        refused("cn=a", &[("cn", b"a"), ("bad name", b"x")]);
        refused("cn=a", &[("cn", b"a"), ("x:\ny", b"x")]);
        refused("cn=a", &[("cn", b"a"), ("DN", b"cn=b")]);
        refused("cn=a", &[("changetype", b"delete")]);
        refused("cn=a", &[("control", b"1.2.3")]);
        // Later in the list those two are ordinary attributes.
        let text = written("cn=a", &[("cn", b"a"), ("changetype", b"delete")]);
        let recs = parse_str(&text).unwrap();
        assert_eq!(content(&recs[0]).2[1], attr("changetype", b"delete"));
    }

    #[test]
    fn folds_at_76_columns() {
        let long = "x".repeat(300);
        let binary: Vec<u8> = (0..=255).collect();
        let long_name = format!("a{}", "b".repeat(100));
        let dn = format!("cn={},dc=example,dc=com", "ü".repeat(80));
        let attrs: [(&str, &[u8]); 4] =
            [("description", long.as_bytes()), ("jpegPhoto", &binary), (&long_name, b"v"), ("cn", b"short")];
        let text = written(&dn, &attrs);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.len() <= LINE_WIDTH), "{text}");
        assert!(lines.iter().any(|l| l.len() == LINE_WIDTH), "{text}");
        assert!(lines.iter().filter(|l| l.starts_with(' ')).count() >= 10);
        assert!(lines.iter().all(|l| !l.starts_with("  ") || l.len() > 1));
        assert!(lines.contains(&"cn: short"));
        let recs = parse_str(&text).unwrap();
        let (_, read_dn, read_attrs) = content(&recs[0]);
        assert_eq!(read_dn, dn);
        let expected: Vec<LdifAttr> = attrs.iter().map(|(n, v)| attr(n, v)).collect();
        assert_eq!(read_attrs, expected);

        // Exactly LINE_WIDTH bytes: not folded; one more: folded.
        let v = "y".repeat(LINE_WIDTH - 4);
        assert_eq!(written("cn=a", &[("cn", v.as_bytes())]).lines().count(), 3);
        let v = "y".repeat(LINE_WIDTH - 3);
        let text = written("cn=a", &[("cn", v.as_bytes())]);
        assert_eq!(text, format!("dn: cn=a\ncn: {}\n y\n\n", &v[..LINE_WIDTH - 4]));
    }

    #[test]
    fn write_record_round_trips_change_records() {
        let records = vec![
            LdifRecord::Content { line: 3, dn: "cn=a".into(), attrs: vec![attr("cn", b"a"), attr("x", b" y")] },
            LdifRecord::Add {
                line: 7,
                dn: "cn=b".into(),
                attrs: vec![attr("control", b"c"), attr("cn;lang-de", "ö".as_bytes())],
            },
            LdifRecord::Delete { line: 12, dn: "cn=ü".into() },
            LdifRecord::Modify {
                line: 15,
                dn: "cn=c".into(),
                mods: vec![
                    LdifMod { op: LdifModOp::Add, attr: "mail".into(), values: vec![b"a@x".to_vec(), b":b".to_vec()] },
                    LdifMod { op: LdifModOp::Delete, attr: "sn".into(), values: vec![] },
                    LdifMod { op: LdifModOp::Replace, attr: "2.5.4.3".into(), values: vec![b"".to_vec()] },
                    LdifMod { op: LdifModOp::Increment, attr: "n".into(), values: vec![b"1".to_vec()] },
                ],
            },
            LdifRecord::ModDn {
                line: 30,
                dn: "cn=d".into(),
                new_rdn: "cn=ë".into(),
                delete_old_rdn: true,
                new_superior: Some("ou=x".into()),
            },
            LdifRecord::ModDn {
                line: 36,
                dn: "cn=e".into(),
                new_rdn: "cn=f".into(),
                delete_old_rdn: false,
                new_superior: None,
            },
            LdifRecord::Modify { line: 41, dn: "cn=g".into(), mods: vec![] },
        ];
        let mut out = Vec::new();
        write_version(&mut out).unwrap();
        for r in &records {
            write_record(&mut out, r).unwrap();
        }
        let back: Vec<LdifRecord> = LdifReader::new(out.as_slice()).collect::<Result<_, _>>().unwrap();
        assert_eq!(back, records, "{}", String::from_utf8_lossy(&out));

        let mut sink = Vec::new();
        let bad = LdifRecord::Modify {
            line: 1,
            dn: "cn=a".into(),
            mods: vec![LdifMod { op: LdifModOp::Add, attr: "a b".into(), values: vec![] }],
        };
        assert!(write_record(&mut sink, &bad).is_err());
        let bad = LdifRecord::Add { line: 1, dn: "cn=a".into(), attrs: vec![] };
        assert!(write_record(&mut sink, &bad).is_err());
        assert!(sink.is_empty());
    }

    fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
        let prefix = prop::sample::select(vec![
            &b""[..],
            b" ",
            b"  ",
            b":",
            b"::",
            b"<",
            b"#",
            b"-",
            b"\n",
            b"\r\n",
            b"\0",
            b"\xff",
            "é".as_bytes(),
        ]);
        let body = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..60),
            "[ -~]{0,59}".prop_map(String::into_bytes),
            "[a-z :<\n\r]{0,59}".prop_map(String::into_bytes),
            "\\PC{0,20}".prop_map(String::into_bytes),
        ];
        (prefix, body).prop_map(|(p, b)| {
            let mut v = p.to_vec();
            v.extend(b);
            v.truncate(59);
            v
        })
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9-]{0,12}".prop_filter("reserved LDIF keyword", |n| {
            !["dn", "changetype", "control"].iter().any(|k| n.eq_ignore_ascii_case(k))
        })
    }

    /// The line writer before export appended lines to one buffer: the reference for
    /// [`push_line`], which must write the same bytes (exports stay byte for byte the same).
    fn write_line_reference(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        let safe = match value.first() {
            None => true,
            Some(b' ' | b':' | b'<') => false,
            Some(_) => {
                value.last() != Some(&b' ') && value.iter().all(|&b| (1..=127).contains(&b) && b != b'\n' && b != b'\r')
            }
        };
        let mut line = Vec::new();
        line.extend_from_slice(name.as_bytes());
        if value.is_empty() {
            line.push(b':');
        } else if safe {
            line.extend_from_slice(b": ");
            line.extend_from_slice(value);
        } else {
            line.extend_from_slice(b":: ");
            line.extend_from_slice(STANDARD.encode(value).as_bytes());
        }
        let (head, tail) = line.split_at(line.len().min(LINE_WIDTH));
        out.extend_from_slice(head);
        out.push(b'\n');
        for chunk in tail.chunks(LINE_WIDTH - 1) {
            out.push(b' ');
            out.extend_from_slice(chunk);
            out.push(b'\n');
        }
    }

    /// The first, `split`-based form of [`valid_attr_name`]: the reference for the faster one.
    fn valid_attr_name_reference(name: &str) -> bool {
        let mut parts = name.split(';');
        let base = parts.next().unwrap_or("");
        let descr = base.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let oid = base.split('.').all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
        (descr || oid) && parts.all(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    }

    proptest! {
        #[test]
        fn attribute_name_check_agrees_with_the_reference(name in "[a-zA-Z0-9;.\\-_ ]{0,12}") {
            prop_assert_eq!(valid_attr_name(&name), valid_attr_name_reference(&name));
        }

        #[test]
        fn lines_are_written_as_before(
            name in name_strategy(),
            value in prop_oneof![value_strategy(), proptest::collection::vec(any::<u8>(), 0..300)],
            before in proptest::collection::vec(any::<u8>(), 0..10),
        ) {
            let mut expected = before.clone();
            write_line_reference(&mut expected, &name, &value);
            let mut out = before;
            push_line(&mut out, &name, &value);
            prop_assert_eq!(out, expected);
        }

        #[test]
        fn push_entry_appends_what_write_entry_writes(
            names in proptest::collection::vec(prop::sample::select(vec!["cn", "sn", "dn", "changetype", "c n"]), 0..5),
            value in value_strategy(),
        ) {
            let attrs: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, value.as_slice())).collect();
            let mut written = Vec::new();
            let w = write_entry(&mut written, "cn=a", &attrs);
            let mut pushed = b"before".to_vec();
            let p = push_entry(&mut pushed, "cn=a", &attrs);
            prop_assert_eq!(w.is_ok(), p.is_ok());
            prop_assert_eq!(&pushed[..6], b"before");
            prop_assert_eq!(&pushed[6..], written.as_slice());
        }

        #[test]
        fn write_then_read_round_trips(
            entries in prop::collection::vec(
                (
                    prop::collection::vec(
                        (prop::sample::select(vec!["cn", "uid", "ou", "dc", "o"]), "\\PC{1,12}"),
                        1..4,
                    ),
                    prop::collection::vec((name_strategy(), value_strategy()), 1..8),
                ),
                1..4,
            ),
        ) {
            let entries: Vec<(String, Vec<LdifAttr>)> = entries
                .into_iter()
                .map(|(rdns, attrs)| {
                    let dn = rdns
                        .iter()
                        .map(|(t, v)| format!("{t}={v}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    (dn, attrs)
                })
                .collect();
            let mut out = Vec::new();
            write_version(&mut out).unwrap();
            for (dn, attrs) in &entries {
                let refs: Vec<(&str, &[u8])> =
                    attrs.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
                write_entry(&mut out, dn, &refs).unwrap();
            }
            for l in out.split(|&b| b == b'\n') {
                prop_assert!(l.len() <= LINE_WIDTH);
            }
            let recs: Vec<LdifRecord> =
                LdifReader::new(out.as_slice()).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(recs.len(), entries.len());
            for (rec, (dn, attrs)) in recs.iter().zip(&entries) {
                match rec {
                    LdifRecord::Content { dn: d, attrs: a, .. } => {
                        prop_assert_eq!(d, dn);
                        prop_assert_eq!(a, attrs);
                    }
                    other => prop_assert!(false, "not a content record: {:?}", other),
                }
            }
        }

        #[test]
        fn arbitrary_input_never_panics(input in prop::collection::vec(any::<u8>(), 0..400)) {
            for rec in LdifReader::new(input.as_slice()) {
                let _ = rec;
            }
        }

        #[test]
        fn ldif_like_input_never_panics(
            lines in prop::collection::vec(
                prop_oneof![
                    Just("dn: cn=a".to_string()),
                    Just("changetype: modify".to_string()),
                    Just("changetype: modrdn".to_string()),
                    Just("control: 1.2.3 true".to_string()),
                    Just("-".to_string()),
                    Just(String::new()),
                    "(add|delete|replace|increment|cn|newrdn|deleteoldrdn|version)::? ?[ -~]{0,8}",
                    "[ #]?[ -~]{0,10}",
                ],
                0..30,
            ),
        ) {
            let text = lines.join("\n");
            let _ = parse_str(&text);
        }
    }
}
