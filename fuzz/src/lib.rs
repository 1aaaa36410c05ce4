//! What the fuzz targets share: the [`target!`] macro and the replay driver.
//!
//! With the `libfuzzer` feature (the default, what `cargo fuzz` builds) a target is a
//! libFuzzer target. Without it, it is a plain program ([`replay::main`]) that runs the
//! target on the files it is given and on deterministic mutations of them: the smoke run of
//! `scripts/test`, which needs neither nightly Rust, cargo-fuzz nor a C++ compiler, and a
//! way to replay a crash file under a debugger.

pub mod replay;

/// Defines a fuzz target: `birch_fuzz::target!(|data: &[u8]| { ... });`
#[macro_export]
macro_rules! target {
    (|$data:ident: &[u8]| $body:block) => {
        #[cfg(feature = "libfuzzer")]
        libfuzzer_sys::fuzz_target!(|$data: &[u8]| $body);

        #[cfg(not(feature = "libfuzzer"))]
        fn main() -> std::process::ExitCode {
            $crate::replay::main(env!("CARGO_BIN_NAME"), |$data: &[u8]| $body)
        }
    };
}
