//! Reading the CSV files of `user import` and `user retire`, bounded: the file is streamed
//! record by record, a record may not be longer than [`MAX_RECORD`] bytes nor a field longer
//! than [`MAX_FIELD`], and a caller caps the number of rows. The header names the columns;
//! [`Column`] maps a header to what it fills (docs/admin.md lists the accepted names).

use crate::admin::error::Failure;
use std::cell::Cell;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

/// Longest field, in bytes (a name, a mail address, a list of groups).
pub const MAX_FIELD: usize = 1024;
/// Longest record, in bytes: past it the file is refused (a missing closing quote, a
/// binary file).
pub const MAX_RECORD: u64 = 64 * 1024;

/// What a column fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// The login name.
    Uid,
    /// The full name (cn).
    Cn,
    /// givenName.
    GivenName,
    /// sn.
    Sn,
    /// mail.
    Mail,
    /// Groups to join, separated by the group separator.
    Groups,
    /// The primary group (its gidNumber becomes the account's).
    PrimaryGroup,
    /// A fixed uidNumber instead of the next free one.
    UidNumber,
    /// homeDirectory instead of the template.
    Home,
    /// loginShell instead of the template.
    Shell,
    /// Any other attribute, stored as given (the server's schema checks it).
    Attr(String),
    /// A column that is read and ignored (`--map COL=-`).
    Ignore,
}

/// Attributes a column may not set: the command or the server manages them.
const MANAGED: &[&str] = &["objectclass", "userpassword", "gidnumber", "uid", "cn", "sn"];

/// `Full Name`, `full_name`, `FULL-NAME` -> `fullname`.
fn normalize(h: &str) -> String {
    h.chars().filter(|c| !matches!(c, ' ' | '_' | '-' | '.')).flat_map(char::to_lowercase).collect()
}

/// The column a header names by default (None: unknown).
pub fn known(header: &str) -> Option<Column> {
    Some(match normalize(header).as_str() {
        "uid" | "login" | "loginname" | "username" | "user" | "account" => Column::Uid,
        "cn" | "name" | "fullname" | "commonname" => Column::Cn,
        "givenname" | "firstname" | "forename" => Column::GivenName,
        "sn" | "surname" | "lastname" | "familyname" => Column::Sn,
        "mail" | "email" => Column::Mail,
        "groups" | "group" => Column::Groups,
        "primarygroup" => Column::PrimaryGroup,
        "uidnumber" => Column::UidNumber,
        "home" | "homedirectory" => Column::Home,
        "shell" | "loginshell" => Column::Shell,
        "department" | "departmentnumber" => Column::Attr("departmentNumber".into()),
        "employeenumber" | "studentnumber" | "studentid" | "matriculationnumber" => {
            Column::Attr("employeeNumber".into())
        }
        "displayname" => Column::Attr("displayName".into()),
        "title" => Column::Attr("title".into()),
        "phone" | "telephone" | "telephonenumber" => Column::Attr("telephoneNumber".into()),
        _ => return None,
    })
}

/// The target of `--map COL=TARGET`: `-` (ignore), a name [`known`] maps, or an attribute.
fn target(t: &str) -> Result<Column, String> {
    let t = t.trim();
    if t == "-" {
        return Ok(Column::Ignore);
    }
    if let Some(c) = known(t) {
        return Ok(c);
    }
    let ok = t.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let lower = t.to_ascii_lowercase();
    if !ok || MANAGED.contains(&lower.as_str()) || lower.starts_with("pwd") || lower.starts_with("birch") {
        return Err(format!("--map ...={t}: not an attribute a row may set"));
    }
    Ok(Column::Attr(t.to_string()))
}

/// Maps the header to columns: `--map COL=TARGET` first (COL compared case-insensitively),
/// else the accepted names. An unknown header is an error naming the accepted ones.
pub fn map_header(headers: &[String], maps: &[String]) -> Result<Vec<Column>, Failure> {
    let mut explicit: Vec<(String, Column)> = Vec::new();
    for m in maps {
        let (col, t) = m
            .split_once('=')
            .ok_or_else(|| Failure::other(format!("--map {m:?}: use COLUMN=ATTRIBUTE (or COLUMN=-)")))?;
        explicit.push((col.trim().to_lowercase(), target(t).map_err(Failure::other)?));
    }
    let mut out = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let lower = h.trim().to_lowercase();
        let col = match explicit.iter().find(|(c, _)| *c == lower) {
            Some((_, c)) => c.clone(),
            None => known(h).ok_or_else(|| {
                Failure::other(format!(
                    "column {} {h:?}: unknown header; accepted: uid, cn/name, givenName/first name, \
                     sn/surname, mail/email, groups, primary group, uidNumber, home, shell, department, \
                     student number, displayName, title, phone; or --map \"{h}=ATTRIBUTE\" (\"{h}=-\" to ignore it)",
                    i + 1
                ))
            })?,
        };
        if col != Column::Ignore && out.contains(&col) {
            return Err(Failure::other(format!("column {} {h:?}: a second column for the same attribute", i + 1)));
        }
        out.push(col);
    }
    if let Some((c, _)) = explicit.iter().find(|(c, _)| !headers.iter().any(|h| h.trim().to_lowercase() == *c)) {
        return Err(Failure::other(format!("--map {c}=...: the file has no column {c:?}")));
    }
    Ok(out)
}

/// Counts the bytes read and refuses a record past [`MAX_RECORD`].
struct Bounded<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    record_start: Rc<Cell<u64>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // The CSV reader reads ahead by its buffer; allow for that.
        if self.read.get().saturating_sub(self.record_start.get()) > MAX_RECORD + 64 * 1024 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a record longer than {} KiB (a missing closing quote?)", MAX_RECORD / 1024),
            ));
        }
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// One row: its line in the file and its fields; or its line and why it cannot be read
/// (naming the column).
pub type Row = Result<(u64, Vec<String>), (u64, String)>;

/// A CSV file read record by record.
pub struct CsvFile {
    name: String,
    rdr: csv::Reader<Bounded<std::fs::File>>,
    record_start: Rc<Cell<u64>>,
    read: Rc<Cell<u64>>,
    /// The header's names.
    pub headers: Vec<String>,
    record: csv::StringRecord,
    fatal: bool,
    /// The line of the last record read (for errors without a position).
    last_line: u64,
}

impl CsvFile {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path, delimiter: u8) -> Result<CsvFile, Failure> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| Failure::other(format!("{name}: {e}")))?;
        let read = Rc::new(Cell::new(0));
        let record_start = Rc::new(Cell::new(0));
        let bounded = Bounded { inner: file, read: read.clone(), record_start: record_start.clone() };
        let mut rdr = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(true).from_reader(bounded);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| Failure::other(format!("{name}:1: the header: {e}")))?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(Failure::other(format!("{name}:1: no header (the first line names the columns)")));
        }
        record_start.set(read.get());
        Ok(CsvFile {
            name,
            rdr,
            record_start,
            read,
            headers,
            record: csv::StringRecord::new(),
            fatal: false,
            last_line: 1,
        })
    }

    /// The file's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next row, None at the end. A row that cannot be read is an `Err` naming its line
    /// and column; a file that cannot be read on (an I/O error, a record too long) is a
    /// [`Failure`] and ends the reading.
    pub fn next_row(&mut self) -> Result<Option<Row>, Failure> {
        if self.fatal {
            return Ok(None);
        }
        self.record_start.set(self.read.get());
        match self.rdr.read_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let line = self.record.position().map_or(self.last_line, |p| p.line());
                self.last_line = line;
                for (i, f) in self.record.iter().enumerate() {
                    if f.len() > MAX_FIELD {
                        let h = self.headers.get(i).map(String::as_str).unwrap_or("?");
                        return Ok(Some(Err((line, format!("column {} {h:?}: longer than {MAX_FIELD} bytes", i + 1)))));
                    }
                }
                Ok(Some(Ok((line, self.record.iter().map(|f| f.trim().to_string()).collect()))))
            }
            Err(e) => {
                let line = e.position().map_or(self.last_line, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::UnequalLengths { len, expected_len, .. } => {
                        Ok(Some(Err((line, format!("{len} fields, the header has {expected_len}")))))
                    }
                    csv::ErrorKind::Utf8 { err, .. } => {
                        let col = err.field() + 1;
                        let h = self.headers.get(err.field()).map(String::as_str).unwrap_or("?");
                        Ok(Some(Err((line, format!("column {col} {h:?}: not UTF-8")))))
                    }
                    _ => {
                        self.fatal = true;
                        Err(Failure::other(format!("{}: after line {line}: {e}", self.name)))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_map_by_name_and_by_map() {
        let h: Vec<String> = ["Login", "First Name", "Surname", "E-Mail", "Groups", "Matrikel", "Notes"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let maps = vec!["matrikel=employeeNumber".to_string(), "notes=-".to_string()];
        let cols = map_header(&h, &maps).expect("mapped");
        assert_eq!(cols[0], Column::Uid);
        assert_eq!(cols[1], Column::GivenName);
        assert_eq!(cols[3], Column::Mail);
        assert_eq!(cols[5], Column::Attr("employeeNumber".into()));
        assert_eq!(cols[6], Column::Ignore);
        let e = map_header(&h, &[]).expect_err("Matrikel is unknown");
        assert!(e.message.contains("Matrikel"), "{}", e.message);
        assert!(map_header(&h, &["notes=userPassword".into()]).is_err());
        assert!(map_header(&["uid".into(), "login".into()], &[]).is_err(), "two uid columns");
    }

    #[test]
    fn a_runaway_record_stops_the_reading() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("big.csv");
        let body = format!("uid,cn\nok1,Ok One\nbad,\"unclosed\n{}", "x".repeat(100).repeat(3000));
        std::fs::write(&p, body).expect("write");
        let mut f = CsvFile::open(&p, b',').expect("open");
        assert!(matches!(f.next_row(), Ok(Some(Ok((2, _))))));
        let e = f.next_row().expect_err("too long");
        assert!(e.message.contains("after line 2: a record longer than 64 KiB"), "{}", e.message);
        assert!(matches!(f.next_row(), Ok(None)));
    }
}
