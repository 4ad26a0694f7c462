//! Function projects: `wedge init` scaffolds one, `wedge build` builds its component. A
//! project is a Rust cdylib crate with a `wedge.toml` manifest naming the function.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The target guests are built for.
const TARGET: &str = "wasm32-wasip2";

/// `wedge.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) function: FunctionSection,
}

/// `[function]` of `wedge.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FunctionSection {
    /// The name it is published under.
    pub(crate) name: String,
    /// The hooks it is written for (informational; the component's exports decide).
    #[serde(default)]
    pub(crate) hooks: Vec<String>,
}

impl Manifest {
    pub(crate) fn load(project: &Path) -> anyhow::Result<Self> {
        let path = project.join("wedge.toml");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: not a wedge project (run `wedge init NAME`)",
                path.display()
            )
        })?;
        toml::from_str(&text).with_context(|| format!("{}", path.display()))
    }
}

/// Writes a new project `name` in `dir/name`.
pub(crate) fn init(dir: &Path, name: &str, sdk: &Path) -> anyhow::Result<PathBuf> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid {
        bail!("`{name}`: a function name is lower-case letters, digits, `-` and `_`");
    }
    let root = dir.join(name);
    if root.exists() {
        bail!("{} already exists", root.display());
    }
    std::fs::create_dir_all(root.join("src"))?;
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nwedge-sdk = {{ path = \"{}\" }}\n\n[profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\n\n[workspace]\n",
            sdk.display()
        ),
    )?;
    std::fs::write(
        root.join("wedge.toml"),
        format!(
            "# The function's manifest: read by `wedge build` and `wedge publish`.\n[function]\nname = \"{name}\"\nhooks = [\"viewer-request\"]\n"
        ),
    )?;
    std::fs::write(
        root.join("src/lib.rs"),
        format!(
            r#"//! {name}: a wedge edge function (viewer-request).

use wedge_sdk::{{Error, Request, RequestAction, Response, ViewerRequest}};

struct Function;

impl ViewerRequest for Function {{
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {{
        if request.path() == "/hello" {{
            return Ok(Response::text(200, "hello from {name}").into());
        }}
        request.headers_mut().set("x-{name}", "1");
        Ok(RequestAction::Continue(request))
    }}
}}

wedge_sdk::export!(Function: viewer_request);
"#
        ),
    )?;
    Ok(root)
}

/// Builds the project's component and returns its path.
pub(crate) fn build(project: &Path) -> anyhow::Result<PathBuf> {
    let manifest = Manifest::load(project)?;
    ensure_target()?;
    let status = Command::new("cargo")
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(project.join("Cargo.toml"))
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let file = format!("{}.wasm", manifest.function.name.replace('-', "_"));
    let path = project
        .join("target")
        .join(TARGET)
        .join("release")
        .join(&file);
    if !path.exists() {
        bail!(
            "cargo succeeded but {} is missing (is the crate a cdylib named after the function?)",
            path.display()
        );
    }
    Ok(path)
}

fn ensure_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == TARGET)
    {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .context("running rustup")?;
    if !status.success() {
        bail!("rustup target add {TARGET} failed");
    }
    Ok(())
}
