//! Function projects: `wedge init` scaffolds one, `wedge build` builds its component. A
//! project is a Rust cdylib crate with a `wedge.toml` manifest naming the function.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use indicatif::ProgressBar;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The target guests are built for.
const TARGET: &str = "wasm32-wasip2";

/// `wedge.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) function: FunctionSection,
    /// Limits `wedge dev` attaches the function with (the node's defaults otherwise).
    #[serde(default)]
    pub(crate) limits: LimitsSection,
    /// Config values `wedge dev` sets on its alias (production values are set with
    /// `wedge config`, secrets with `--secret`).
    #[serde(default)]
    pub(crate) config: std::collections::BTreeMap<String, String>,
}

/// `[limits]` of `wedge.toml`: the association keys of the node config.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) memory_mb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fuel: Option<u64>,
}

/// `[function]` of `wedge.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FunctionSection {
    /// The name it is published under.
    pub(crate) name: String,
    /// The hooks it is written for (informational; the component's exports decide).
    #[serde(default)]
    pub(crate) hooks: Vec<wedge_types::Hook>,
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
    if let Err(problem) = wedge_types::names::function_name(name) {
        bail!("{problem}");
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
            "# The function's manifest: read by `wedge build`, `wedge publish` and `wedge dev`.\n[function]\nname = \"{name}\"\nhooks = [\"viewer-request\"]\n\n# Limits `wedge dev` attaches it with (a node config sets them in production).\n[limits]\ntimeout_ms = 50\n# memory_mb = 16\n\n# Values the function reads with wedge_sdk::config::get, set on the `dev` alias by\n# `wedge dev`; in production: `wedge config {name} live KEY=VALUE`.\n[config]\n"
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

/// Builds the project's component and returns its path. Progress (the crate being compiled
/// and how many are done) goes to `bar`; compiler errors and warnings to stderr as usual.
pub(crate) fn build(project: &Path, bar: &ProgressBar) -> anyhow::Result<PathBuf> {
    let manifest = Manifest::load(project)?;
    ensure_target()?;
    let wanted = manifest.function.name.replace('-', "_");
    let mut child = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--quiet",
            "--message-format=json-render-diagnostics",
            "--target",
            TARGET,
            "--manifest-path",
        ])
        .arg(project.join("Cargo.toml"))
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo")?;
    let mut component = None;
    let mut compiled = 0_u64;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo's output")?;
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            compiled += 1;
            let crate_name = message["target"]["name"].as_str().unwrap_or("?");
            bar.set_message(format!(
                "building {} ({} done, last {crate_name})",
                manifest.function.name,
                crate::functions::count(compiled, "crate", "crates")
            ));
            bar.tick();
            let wasm = message["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
                .find(|f| f.ends_with(".wasm"));
            if let Some(wasm) = wasm.filter(|_| crate_name.replace('-', "_") == wanted) {
                component = Some(PathBuf::from(wasm));
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let Some(path) = component else {
        bail!(
            "cargo succeeded but built no {wanted}.wasm (is the crate a cdylib named after the function?)"
        );
    };
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
