//! Placeholder (being written).
mod common;
