//! Guest WebAssembly components for wedge's tests and benchmarks.
//!
//! Each constant is the path of one fixture from `guests/`, a real component built from Rust
//! with `wedge-sdk` for wasm32-wasip2 by this crate's build script; its doc line says what the
//! fixture does. [`foreach_fixture!`] lists them all, so a test suite can make a fixture without
//! a test fail to compile.

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

pub mod shapes;

/// Reads a fixture's bytes.
///
/// # Panics
/// If the file is missing, which means the build script did not run; fixtures are for tests.
#[allow(
    clippy::panic,
    reason = "test support: a missing fixture is a broken build"
)]
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|error| panic!("fixture {path}: {error}"))
}
