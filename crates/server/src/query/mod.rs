//! What requests ask for, resolved against the schema and the access rules: filters
//! (search, compare, the Assertion control, access rules' own filters) and attribute
//! selections (search results, Pre-/Post-Read, sync). Shared by the operation handlers,
//! the access policy and the write pipeline; depends on none of them.

pub mod attrs;
pub mod filter;
