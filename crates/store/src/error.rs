//! Store errors.

/// Errors from the directory store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying sled database failed.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// Stored bytes could not be decoded.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// An entry with this DN already exists.
    #[error("entry already exists: {0}")]
    AlreadyExists(String),
    /// The parent of the entry does not exist.
    #[error("parent entry does not exist: {0}")]
    NoParent(String),
    /// The entry does not exist.
    #[error("no such entry: {0}")]
    NoSuchEntry(String),
    /// The entry has children.
    #[error("entry has children: {0}")]
    NotLeaf(String),
    /// A unique attribute's value is already taken by another entry.
    #[error("{attr}: value {value:?} is already in use")]
    NotUnique {
        /// The attribute (canonical name).
        attr: String,
        /// The normalized value.
        value: String,
    },
    /// A move would put an entry below itself.
    #[error("cannot move an entry below itself: {0}")]
    Loop(String),
    /// An earlier I/O error left the store refusing writes until it is opened again (sled
    /// cannot be trusted to write after one: further flushes may never return).
    #[error("the store refuses writes since a storage failure ({0}); restart birch once the cause is fixed")]
    Failed(String),
    /// A DN is malformed.
    #[error(transparent)]
    Dn(#[from] birch_schema::DnError),
}

impl StoreError {
    /// The kind of the I/O error underneath, when sled failed on one (the data directory's
    /// lock held by another process, permission denied, a full disk).
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            StoreError::Sled(sled::Error::Io(e)) => Some(e.kind()),
            _ => None,
        }
    }

    /// Whether opening the store failed because another process holds its lock (sled
    /// reports it as an I/O error of kind `Other` with this text).
    pub fn is_lock_held(&self) -> bool {
        matches!(self, StoreError::Sled(sled::Error::Io(e)) if e.to_string().starts_with("could not acquire lock"))
    }
}
