//! Nothing to build: the file exists so that Cargo.toml may list the build-dependency that
//! pins a feature of `syn` (see the comment there).

fn main() {}
