//! Output of the admin commands: aligned tables for people, JSON for scripts.

use serde_json::Value;

/// How to print: tables or JSON.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// `--json`.
    pub json: bool,
}

impl Out {
    /// Prints `json` with `--json`, else `human` (ending in a newline unless empty).
    pub fn emit(&self, human: String, json: Value) {
        if self.json {
            println!("{json}");
        } else if !human.is_empty() {
            print!("{human}");
            if !human.ends_with('\n') {
                println!();
            }
        }
    }
}

/// Columns a character takes on a terminal: 2 for East Asian wide characters (CJK, Hangul,
/// kana, full-width forms), 0 for combining marks, else 1. Enough for names; not a full
/// implementation of UAX #11.
fn char_width(c: char) -> usize {
    match c as u32 {
        0x0300..=0x036F | 0x200B..=0x200F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// Columns `s` takes on a terminal.
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// A table: a header line and rows, columns padded to their widest cell (in terminal columns).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(width(c)) + 2;
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A record: `name  value` lines, names padded; a multi-valued field repeats its name.
pub fn record(fields: &[(&str, Vec<String>)]) -> String {
    let rows: Vec<Vec<String>> = fields
        .iter()
        .flat_map(|(name, values)| values.iter().map(move |v| vec![format!("{name}:"), v.clone()]))
        .collect();
    let widest = rows.iter().map(|r| width(&r[0])).max().unwrap_or(0);
    rows.iter().map(|r| format!("{}{}  {}\n", r[0], " ".repeat(widest - width(&r[0])), r[1])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned() {
        let t = table(&["UID", "NAME"], &[vec!["alice".into(), "Alice".into()], vec!["b".into(), "Bob".into()]]);
        assert_eq!(t, "UID    NAME\nalice  Alice\nb      Bob\n");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let t = table(&["NAME", "UID"], &[vec!["陈伟".into(), "chenwei".into()], vec!["Bob".into(), "bob".into()]]);
        assert_eq!(t, "NAME  UID\n陈伟  chenwei\nBob   bob\n");
    }

    #[test]
    fn records_repeat_names() {
        let r = record(&[("uid", vec!["x".into()]), ("group", vec!["a".into(), "b".into()])]);
        assert_eq!(r, "uid:    x\ngroup:  a\ngroup:  b\n");
    }
}
