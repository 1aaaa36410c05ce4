//! LDIF (RFC 2849) reading and writing. (Being written.)
