//! The error of loading a schema: where (file and line) and why.

/// A schema file could not be read, parsed or resolved. Displayed as `file:line: reason`; the
/// reason names the definition at fault (e.g. `attributetype 'studentNumber': unknown matching
/// rule 'numericMatch'`). `line` is 0 when the whole file is at fault (it could not be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct SchemaError {
    /// The file, as given to the loader (a path, or the name of a built-in file).
    pub file: String,
    /// 1-based line number where the faulty statement or token starts.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl SchemaError {
    /// Builds an error.
    pub fn new(file: &str, line: usize, reason: impl Into<String>) -> SchemaError {
        SchemaError { file: file.to_string(), line, reason: reason.into() }
    }
}
