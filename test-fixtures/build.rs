//! Builds the guest fixtures workspace (`guests/`) and the user-facing examples (`../examples`)
//! for wasm32-wasip2 and generates, in `$OUT_DIR/fixtures.rs`, a path constant per fixture
//! (documented with the fixture's description), a `foreach_fixture!` macro listing them all,
//! and a module `examples` with one constant per example.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const TARGET: &str = "wasm32-wasip2";

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let guests = manifest_dir.join("guests");
    let examples = manifest_dir.join("../examples");
    for watched in [
        guests.clone(),
        examples.clone(),
        manifest_dir.join("../sdk-guest"),
        manifest_dir.join("../wit"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    if env::var_os("CARGO_FEATURE_GUESTS").is_none() {
        // Built on its own (a plain `cargo build --workspace`): no guests, no fixtures.
        fs::write(
            out_dir.join("fixtures.rs"),
            "/// Calls `$mac!(fixture_name)` for every fixture: none, the crate was built without \
             its `guests` feature.\n#[macro_export]\nmacro_rules! foreach_fixture {\n    ($mac:ident) => {};\n}\n\
             /// The examples: none without the `guests` feature.\npub mod examples {}\n",
        )?;
        return Ok(());
    }
    let target_dir = shared_target_dir(&out_dir);
    ensure_target_installed()?;
    build_guests(&guests, &target_dir)?;
    // Their own target directory: an example may share a crate name with a fixture.
    let examples_target = target_dir.with_file_name("wasm-examples");
    build_guests(&examples, &examples_target)?;

    let fixtures = fixture_crates(&guests)?;
    let wasm_dir = target_dir.join(TARGET).join("release");
    let mut source = String::new();
    for (name, description) in &fixtures {
        let wasm = wasm_dir.join(format!("{name}.wasm"));
        if !wasm.exists() {
            bail!("fixture {name} was built but {} is missing", wasm.display());
        }
        writeln!(
            source,
            "#[doc = {description:?}]\npub const {}: &str = {:?};",
            name.to_uppercase(),
            wasm.display().to_string()
        )?;
    }
    let names: Vec<&str> = fixtures.iter().map(|(name, _)| name.as_str()).collect();
    writeln!(
        source,
        "/// Calls `$mac!(fixture_name)` for every fixture, e.g. to assert each has a test.\n\
         #[macro_export]\nmacro_rules! foreach_fixture {{\n    ($mac:ident) => {{\n{}    }};\n}}",
        names
            .iter()
            .map(|name| format!("        $mac!({name});\n"))
            .collect::<String>()
    )?;
    writeln!(
        source,
        "/// Every fixture as (name, path to its component).\npub const ALL: &[(&str, &str)] = &[{}];",
        names
            .iter()
            .map(|name| format!("({name:?}, {})", name.to_uppercase()))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        source,
        "/// The user-facing examples of `examples/`, built like the fixtures.\npub mod examples {{"
    )?;
    let mut all = Vec::new();
    for (name, description) in fixture_crates(&examples)? {
        let file = name.replace('-', "_");
        let wasm = examples_target
            .join(TARGET)
            .join("release")
            .join(format!("{file}.wasm"));
        if !wasm.exists() {
            bail!("example {name} was built but {} is missing", wasm.display());
        }
        writeln!(
            source,
            "    #[doc = {description:?}]\n    pub const {}: &str = {:?};",
            file.to_uppercase(),
            wasm.display().to_string()
        )?;
        all.push(format!("({name:?}, {})", file.to_uppercase()));
    }
    writeln!(
        source,
        "    /// Every example as (function name, path to its component).\n    pub const ALL: &[(&str, &str)] = &[{}];\n}}",
        all.join(", ")
    )?;
    fs::write(out_dir.join("fixtures.rs"), source)?;
    Ok(())
}

/// A target directory shared by the dev, test and release builds of this crate (beside the
/// profile directories), so the guests are compiled once rather than once per profile.
fn shared_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map_or_else(
            || out_dir.join("guests"),
            |target| target.join("wasm-fixtures"),
        )
}

/// Installs the wasm32-wasip2 standard library with rustup when it is missing, so that a plain
/// `cargo test` works on a fresh machine.
fn ensure_target_installed() -> Result<()> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
    let sysroot = PathBuf::from(String::from_utf8(sysroot.stdout)?.trim());
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return Ok(());
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .with_context(|| format!("the {TARGET} target is missing and rustup could not be run; install it with `rustup target add {TARGET}`"))?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed; the guest fixtures need it");
    }
    Ok(())
}

fn build_guests(guests: &Path, target_dir: &Path) -> Result<()> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--manifest-path")
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's settings are for the host, not for the guests.
    for variable in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        command.env_remove(variable);
    }
    let status = command
        .status()
        .with_context(|| format!("running cargo for {}", guests.display()))?;
    if !status.success() {
        bail!(
            "building {} failed (see the cargo output above)",
            guests.display()
        );
    }
    Ok(())
}

/// (crate name, description) for every member of the guests workspace, sorted by name.
fn fixture_crates(guests: &Path) -> Result<Vec<(String, String)>> {
    let mut fixtures = Vec::new();
    for entry in fs::read_dir(guests)? {
        let manifest = entry?.path().join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let text = fs::read_to_string(&manifest)?;
        let parsed: toml::Table = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
        let field = |key: &str| {
            parsed
                .get("package")
                .and_then(|package| package.get(key))
                .and_then(toml::Value::as_str)
                .map(str::to_string)
                .with_context(|| format!("{} has no package.{key}", manifest.display()))
        };
        fixtures.push((field("name")?, field("description")?));
    }
    fixtures.sort();
    Ok(fixtures)
}
