//! LDIF (RFC 2849) reading and writing.
//!
//! Hand-written: the LDIF crates on crates.io do not keep line numbers for errors or
//! stream large files record by record, both of which `birch import` needs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::io::{BufRead, Write};

/// A parse error; `line` is the 1-based line where the offending line starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LdifError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One attribute value line: name as written (options kept), value bytes.
pub type LdifAttr = (String, Vec<u8>);

/// A modification of a `changetype: modify` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdifMod {
    /// add / delete / replace / increment.
    pub op: LdifModOp,
    /// The attribute.
    pub attr: String,
    /// Values (may be empty for delete and replace).
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

/// One LDIF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdifRecord {
    /// A content record (no changetype).
    Content {
        line: usize,
        dn: String,
        attrs: Vec<LdifAttr>,
    },
    /// `changetype: add`.
    Add {
        line: usize,
        dn: String,
        attrs: Vec<LdifAttr>,
    },
    /// `changetype: delete`.
    Delete { line: usize, dn: String },
    /// `changetype: modify`.
    Modify {
        line: usize,
        dn: String,
        mods: Vec<LdifMod>,
    },
    /// `changetype: modrdn` / `moddn`.
    ModDn {
        line: usize,
        dn: String,
        new_rdn: String,
        delete_old_rdn: bool,
        new_superior: Option<String>,
    },
}

/// A logical (unfolded) line with the number of its first physical line.
struct Line {
    no: usize,
    text: Vec<u8>,
}

/// Streaming LDIF reader: yields one record at a time.
pub struct LdifReader<R: BufRead> {
    input: R,
    line_no: usize,
    /// A physical line read ahead (the next logical line's start).
    pending: Option<(usize, Vec<u8>)>,
    started: bool,
    failed: bool,
}

impl<R: BufRead> LdifReader<R> {
    /// Reads LDIF from `input`.
    pub fn new(input: R) -> Self {
        LdifReader {
            input,
            line_no: 0,
            pending: None,
            started: false,
            failed: false,
        }
    }

    fn physical(&mut self) -> Result<Option<(usize, Vec<u8>)>, LdifError> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        let mut buf = Vec::new();
        let n = self
            .input
            .read_until(b'\n', &mut buf)
            .map_err(|e| LdifError {
                line: self.line_no + 1,
                message: format!("read error: {e}"),
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some((self.line_no, buf)))
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
                message: "continuation line without a line to continue".into(),
            });
        }
        if text.is_empty() {
            return Ok(Some(Line { no, text }));
        }
        loop {
            match self.physical()? {
                Some((_, next)) if next.first() == Some(&b' ') => {
                    text.extend_from_slice(&next[1..])
                }
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
        let mut lines = Vec::new();
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
            let (name, value) = split_line(&lines[0])?;
            if name.eq_ignore_ascii_case("version") {
                if value != b"1" {
                    return Err(err(&lines[0], "unsupported LDIF version (only 1 is)"));
                }
                lines.remove(0);
                if lines.is_empty() {
                    return self.next_record();
                }
            }
        }
        parse_record(&lines).map(Some)
    }
}

impl<R: BufRead> Iterator for LdifReader<R> {
    type Item = Result<LdifRecord, LdifError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_record() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Parses a whole string.
pub fn parse_str(s: &str) -> Result<Vec<LdifRecord>, LdifError> {
    LdifReader::new(s.as_bytes()).collect()
}

fn err(line: &Line, message: &str) -> LdifError {
    LdifError {
        line: line.no,
        message: message.to_string(),
    }
}

fn valid_attr_name(name: &str) -> bool {
    let base = name.split(';').next().unwrap_or("");
    let descr = base.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let oid = !base.is_empty() && base.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    (descr || oid)
        && name
            .split(';')
            .skip(1)
            .all(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Splits `name: value`, `name:: base64` or `name:< url` into name and value bytes.
fn split_line(line: &Line) -> Result<(String, Vec<u8>), LdifError> {
    let colon = line
        .text
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| err(line, "expected \"attribute: value\" (no colon)"))?;
    let name = std::str::from_utf8(&line.text[..colon])
        .map_err(|_| err(line, "attribute name is not UTF-8"))?
        .trim_end();
    if !valid_attr_name(name) {
        return Err(err(line, &format!("invalid attribute name {name:?}")));
    }
    let rest = &line.text[colon + 1..];
    let value = match rest.first() {
        Some(b':') => {
            let b64: Vec<u8> = rest[1..].iter().copied().filter(|b| *b != b' ').collect();
            STANDARD
                .decode(&b64)
                .map_err(|e| err(line, &format!("{name}: invalid base64 value ({e})")))?
        }
        Some(b'<') => {
            return Err(err(
                line,
                &format!(
                    "{name}: URL values (\"{name}:< ...\") are not supported; inline the value"
                ),
            ));
        }
        _ => {
            let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
            rest[start..].to_vec()
        }
    };
    Ok((name.to_string(), value))
}

fn utf8(line: &Line, what: &str, v: Vec<u8>) -> Result<String, LdifError> {
    String::from_utf8(v).map_err(|_| err(line, &format!("{what} is not valid UTF-8")))
}

fn parse_record(lines: &[Line]) -> Result<LdifRecord, LdifError> {
    let first = &lines[0];
    let (name, value) = split_line(first)?;
    if !name.eq_ignore_ascii_case("dn") {
        return Err(err(
            first,
            &format!("record must start with \"dn:\", found {name:?}"),
        ));
    }
    let dn = utf8(first, "dn", value)?;
    let line = first.no;
    let mut i = 1;
    // Controls come before the changetype; they are accepted and ignored.
    while i < lines.len() && split_line(&lines[i])?.0.eq_ignore_ascii_case("control") {
        i += 1;
    }
    let changetype = match lines.get(i) {
        Some(l) => {
            let (n, v) = split_line(l)?;
            if n.eq_ignore_ascii_case("changetype") {
                i += 1;
                Some((l, utf8(l, "changetype", v)?))
            } else {
                None
            }
        }
        None => None,
    };
    let body = &lines[i..];
    let Some((ct_line, ct)) = changetype else {
        if body.is_empty() {
            return Err(err(first, "entry has no attributes"));
        }
        return Ok(LdifRecord::Content {
            line,
            dn,
            attrs: attrs_of(body)?,
        });
    };
    match ct.to_ascii_lowercase().as_str() {
        "add" => {
            if body.is_empty() {
                return Err(err(ct_line, "changetype add without attributes"));
            }
            Ok(LdifRecord::Add {
                line,
                dn,
                attrs: attrs_of(body)?,
            })
        }
        "delete" => {
            if let Some(l) = body.first() {
                return Err(err(l, "changetype delete takes no attributes"));
            }
            Ok(LdifRecord::Delete { line, dn })
        }
        "modify" => Ok(LdifRecord::Modify {
            line,
            dn,
            mods: mods_of(body)?,
        }),
        "modrdn" | "moddn" => {
            let mut new_rdn = None;
            let mut delete_old_rdn = None;
            let mut new_superior = None;
            for l in body {
                let (n, v) = split_line(l)?;
                match n.to_ascii_lowercase().as_str() {
                    "newrdn" => new_rdn = Some(utf8(l, "newrdn", v)?),
                    "deleteoldrdn" => {
                        delete_old_rdn = Some(match v.as_slice() {
                            b"0" => false,
                            b"1" => true,
                            _ => return Err(err(l, "deleteoldrdn must be 0 or 1")),
                        })
                    }
                    "newsuperior" => new_superior = Some(utf8(l, "newsuperior", v)?),
                    other => {
                        return Err(err(l, &format!("unexpected {other:?} in a modrdn record")))
                    }
                }
            }
            let new_rdn = new_rdn.ok_or_else(|| err(ct_line, "modrdn without newrdn"))?;
            let delete_old_rdn =
                delete_old_rdn.ok_or_else(|| err(ct_line, "modrdn without deleteoldrdn"))?;
            Ok(LdifRecord::ModDn {
                line,
                dn,
                new_rdn,
                delete_old_rdn,
                new_superior,
            })
        }
        other => Err(err(ct_line, &format!("unknown changetype {other:?}"))),
    }
}

fn attrs_of(lines: &[Line]) -> Result<Vec<LdifAttr>, LdifError> {
    lines
        .iter()
        .map(|l| {
            let (n, v) = split_line(l)?;
            if n.eq_ignore_ascii_case("dn") {
                return Err(err(l, "a second dn in one record (missing blank line?)"));
            }
            Ok((n, v))
        })
        .collect()
}

fn mods_of(lines: &[Line]) -> Result<Vec<LdifMod>, LdifError> {
    let mut mods = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        let (n, v) = split_line(l)?;
        let op = match n.to_ascii_lowercase().as_str() {
            "add" => LdifModOp::Add,
            "delete" => LdifModOp::Delete,
            "replace" => LdifModOp::Replace,
            "increment" => LdifModOp::Increment,
            other => {
                return Err(err(
                    l,
                    &format!("expected add:, delete:, replace: or increment:, found {other:?}"),
                ))
            }
        };
        let attr = utf8(l, "attribute name", v)?;
        let mut values = Vec::new();
        i += 1;
        loop {
            let Some(vl) = lines.get(i) else {
                return Err(err(
                    l,
                    &format!("modification of {attr} is not terminated by \"-\""),
                ));
            };
            if vl.text == b"-" {
                i += 1;
                break;
            }
            let (vn, vv) = split_line(vl)?;
            if !vn.eq_ignore_ascii_case(&attr) {
                return Err(err(
                    vl,
                    &format!(
                        "value of {vn:?} inside the modification of {attr:?} (missing \"-\"?)"
                    ),
                ));
            }
            values.push(vv);
            i += 1;
        }
        mods.push(LdifMod { op, attr, values });
    }
    Ok(mods)
}

/// Whether a value may be written as-is (RFC 2849 SAFE-STRING).
fn is_safe(v: &[u8]) -> bool {
    match v.first() {
        None => true,
        Some(b' ' | b':' | b'<') => false,
        Some(_) => {
            v.last() != Some(&b' ')
                && v.iter()
                    .all(|&b| (1..=127).contains(&b) && b != b'\n' && b != b'\r')
        }
    }
}

/// Writes `name: value` (or `name:: base64`), folded at 76 columns.
fn write_line<W: Write>(out: &mut W, name: &str, value: &[u8]) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(name.len() + value.len() + 4);
    line.extend_from_slice(name.as_bytes());
    if is_safe(value) {
        line.extend_from_slice(b": ");
        line.extend_from_slice(value);
    } else {
        line.extend_from_slice(b":: ");
        line.extend_from_slice(STANDARD.encode(value).as_bytes());
    }
    const WIDTH: usize = 76;
    if line.len() <= WIDTH {
        line.push(b'\n');
        return out.write_all(&line);
    }
    // Fold at byte boundaries: continuation lines carry WIDTH - 1 bytes after the space.
    // Folding may split a UTF-8 sequence; RFC 2849 unfolding restores the bytes.
    out.write_all(&line[..WIDTH])?;
    out.write_all(b"\n")?;
    for chunk in line[WIDTH..].chunks(WIDTH - 1) {
        out.write_all(b" ")?;
        out.write_all(chunk)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes one content record followed by a blank line.
pub fn write_entry<W: Write>(
    out: &mut W,
    dn: &str,
    attrs: &[(&str, &[u8])],
) -> std::io::Result<()> {
    write_line(out, "dn", dn.as_bytes())?;
    for (name, value) in attrs {
        write_line(out, name, value)?;
    }
    out.write_all(b"\n")
}

/// Writes the `version: 1` header and a blank line.
pub fn write_version<W: Write>(out: &mut W) -> std::io::Result<()> {
    out.write_all(b"version: 1\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn content_records_with_comments_folding_and_base64() {
        let text = "version: 1\n# a comment\n#  folded\n comment\ndn: cn=Chen,dc=x\r\nobjectClass: person\ncn:: 6ZmI5Lyf\ndescription: a long\n  value\nsn:   spaced\n\n\n\ndn:: Y249YixkYz14\ncn: b\n";
        let recs = parse_str(text).unwrap();
        assert_eq!(recs.len(), 2);
        match &recs[0] {
            LdifRecord::Content { line, dn, attrs } => {
                assert_eq!(*line, 5);
                assert_eq!(dn, "cn=Chen,dc=x");
                assert_eq!(attrs[1], ("cn".to_string(), "陈伟".as_bytes().to_vec()));
                assert_eq!(
                    attrs[2],
                    ("description".to_string(), b"a long value".to_vec())
                );
                assert_eq!(attrs[3], ("sn".to_string(), b"spaced".to_vec()));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&recs[1], LdifRecord::Content { line: 14, dn, .. } if dn == "cn=b,dc=x"));
    }

    #[test]
    fn change_records() {
        let text = "dn: cn=a,dc=x\nchangetype: modify\nadd: mail\nmail: a@x\n-\ndelete: description\n-\nreplace: sn\nsn: A\n-\n\ndn: cn=a,dc=x\nchangetype: modrdn\nnewrdn: cn=b\ndeleteoldrdn: 1\nnewsuperior: ou=y,dc=x\n\ndn: cn=b,ou=y,dc=x\nchangetype: delete\n\ndn: cn=c,dc=x\ncontrol: 1.2.3 true\nchangetype: add\ncn: c\n";
        let recs = parse_str(text).unwrap();
        match &recs[0] {
            LdifRecord::Modify { mods, .. } => {
                assert_eq!(mods.len(), 3);
                assert_eq!(mods[0].op, LdifModOp::Add);
                assert_eq!(
                    mods[1],
                    LdifMod {
                        op: LdifModOp::Delete,
                        attr: "description".into(),
                        values: vec![]
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &recs[1],
            LdifRecord::ModDn {
                delete_old_rdn: true,
                new_superior: Some(_),
                ..
            }
        ));
        assert!(matches!(&recs[2], LdifRecord::Delete { .. }));
        assert!(matches!(&recs[3], LdifRecord::Add { .. }));
    }

    fn error_line(text: &str) -> (usize, String) {
        let e = parse_str(text).unwrap_err();
        (e.line, e.message)
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(error_line("cn: a\n").0, 1);
        assert_eq!(error_line("dn: cn=a\ncn: a\n\ndn: cn=b\nnocolon\n").0, 5);
        assert_eq!(error_line("dn: cn=a\ncn:: !!!\n").0, 2);
        let (l, m) = error_line("dn: cn=a\njpegPhoto:< file:///etc/passwd\n");
        assert_eq!(l, 2);
        assert!(
            m.contains("jpegPhoto") && m.contains("not supported"),
            "{m}"
        );
        assert_eq!(error_line(" folded\n").0, 1);
        assert_eq!(error_line("dn: cn=a\nchangetype: frobnicate\n").0, 2);
        assert_eq!(
            error_line("dn: cn=a\nchangetype: modify\nadd: mail\nmail: x\n").0,
            3
        );
        assert_eq!(
            error_line("dn: cn=a\nchangetype: modrdn\nnewrdn: cn=b\ndeleteoldrdn: 2\n").0,
            4
        );
        assert_eq!(error_line("dn: cn=a\nbad name: x\n").0, 2);
        assert_eq!(error_line("dn: cn=a\n").0, 1);
        assert_eq!(error_line("version: 2\ndn: cn=a\ncn: a\n").0, 1);
        assert_eq!(error_line("dn: cn=a\ncn: a\ndn: cn=b\n").0, 3);
    }

    #[test]
    fn folds_at_76_columns() {
        let long = "x".repeat(300);
        let mut out = Vec::new();
        write_entry(&mut out, "cn=a,dc=x", &[("description", long.as_bytes())]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().all(|l| l.len() <= 76), "{text}");
        match &parse_str(&text).unwrap()[0] {
            LdifRecord::Content { attrs, .. } => assert_eq!(attrs[0].1, long.as_bytes()),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn write_then_read_round_trips(
            rdns in proptest::collection::vec("\\PC{1,10}", 1..3),
            attrs in proptest::collection::vec(("[a-zA-Z][a-zA-Z0-9-]{0,12}", proptest::collection::vec(any::<u8>(), 0..60)), 1..6),
        ) {
            let dn = rdns.iter().map(|r| format!("cn={r}")).collect::<Vec<_>>().join(",");
            let refs: Vec<(&str, &[u8])> = attrs.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
            let mut out = Vec::new();
            write_version(&mut out).unwrap();
            write_entry(&mut out, &dn, &refs).unwrap();
            write_entry(&mut out, &dn, &refs).unwrap();
            let recs: Vec<_> = LdifReader::new(out.as_slice()).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(recs.len(), 2);
            for r in recs {
                match r {
                    LdifRecord::Content { dn: d, attrs: a, .. } => {
                        prop_assert_eq!(d, dn.clone());
                        prop_assert_eq!(a, attrs.clone());
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
        }
    }
}
