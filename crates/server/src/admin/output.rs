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

/// A table: a header line and rows, columns padded to their widest cell (in characters).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(c.chars().count()) + 2;
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
    let width = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
    rows.iter().map(|r| format!("{:<width$}  {}\n", r[0], r[1])).collect()
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
    fn records_repeat_names() {
        let r = record(&[("uid", vec!["x".into()]), ("group", vec!["a".into(), "b".into()])]);
        assert_eq!(r, "uid:    x\ngroup:  a\ngroup:  b\n");
    }
}
