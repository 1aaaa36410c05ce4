//! birch-acl: the access-control evaluator. Pure: no I/O, decisions from the inputs only.
//!
//! The foundation policy: the root DN may do everything; everyone else may read every
//! attribute that is not secret; secret attributes (`userPassword`) are never returned to
//! anyone, the root DN included. The access-control issue replaces this with a rule language.

use std::collections::HashSet;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Not bound (or bound anonymously).
    Anonymous,
    /// The configured root DN.
    Root,
    /// A directory entry, by normalized DN.
    User(String),
}

/// What is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read an attribute's values.
    Read,
    /// Add, change or remove entries and values.
    Write,
}

/// The access policy.
#[derive(Debug, Clone)]
pub struct Policy {
    secret: HashSet<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { secret: ["userpassword".to_string()].into_iter().collect() }
    }
}

impl Policy {
    /// Whether `subject` may have `access` to attribute `attr` (canonical name) of the
    /// entry `target` (normalized DN).
    pub fn allows(&self, subject: &Subject, access: Access, _target: &str, attr: &str) -> bool {
        match access {
            Access::Read => !self.secret.contains(attr),
            Access::Write => *subject == Subject::Root,
        }
    }

    /// Whether `subject` may write the entry `target` at all (add, delete, rename).
    pub fn may_write_entry(&self, subject: &Subject, _target: &str) -> bool {
        *subject == Subject::Root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_readable() {
        let p = Policy::default();
        for s in [Subject::Anonymous, Subject::Root, Subject::User("uid=a".into())] {
            assert!(!p.allows(&s, Access::Read, "uid=a", "userpassword"));
            assert!(p.allows(&s, Access::Read, "uid=a", "cn"));
        }
    }

    #[test]
    fn only_root_writes() {
        let p = Policy::default();
        assert!(p.may_write_entry(&Subject::Root, "uid=a"));
        assert!(p.allows(&Subject::Root, Access::Write, "uid=a", "cn"));
        assert!(!p.may_write_entry(&Subject::Anonymous, "uid=a"));
        assert!(!p.may_write_entry(&Subject::User("uid=a".into()), "uid=a"));
        assert!(!p.allows(&Subject::User("uid=a".into()), Access::Write, "uid=a", "cn"));
    }
}
