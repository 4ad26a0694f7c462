//! The guest SDK lives outside the host workspace (see ../../Cargo.toml); its documentation
//! examples run here, on the host, in its own workspace and target directory, so that
//! `cargo test --workspace` still runs them.

use std::path::Path;
use std::process::Command;

#[test]
fn the_sdk_documentation_examples_compile_and_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(env!("CARGO"))
        .args(["test", "--doc", "--locked", "--manifest-path"])
        .arg(root.join("sdk-guest/Cargo.toml"))
        .env("CARGO_TARGET_DIR", root.join("target/sdk-guest"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("test result: ok") && !report.contains("ok. 0 passed"),
        "the SDK's documentation examples did not run: {report}"
    );
}
