//! `wedge publish`, `wedge alias set|ls|rm`, `wedge config`: functions, their versions,
//! aliases and the config values aliases carry.

use std::path::PathBuf;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use wedge_types::names;

use crate::remote::{Functions, Remote, Written, typed};
use crate::{Output, client, project, spinner, upload_bar};

/// `wedge publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct PublishArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Publish this component file instead of building the project.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The function name (default: wedge.toml's).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// `wedge alias ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AliasCommand {
    /// Point an alias (e.g. `live`) of a function at a version.
    Set {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
        /// The version number.
        #[arg(value_name = "VERSION")]
        number: u32,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the aliases of every function (or of one) and the versions they point at.
    Ls {
        /// Only this function.
        function: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove an alias (refused while a distribution follows it).
    Rm {
        /// The function.
        function: String,
        /// The alias.
        alias: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `wedge config`.
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    /// The function.
    function: String,
    /// The alias.
    alias: String,
    /// KEY=VALUE pairs.
    values: Vec<String>,
    /// Secret KEY=VALUE pairs (repeatable).
    #[arg(long = "secret", value_name = "KEY=VALUE")]
    secrets: Vec<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Checks the token may publish before anything is built.
async fn check_admin(client: &client::Client) -> anyhow::Result<()> {
    let (_, whoami) = client
        .call(Method::GET, "/v1/token", Bytes::new())
        .await
        .context("checking the token before building")?;
    match whoami["role"].as_str() {
        Some("admin") => Ok(()),
        Some(role) => bail!("the token has the {role} role; publishing needs an admin token"),
        None => bail!("unexpected answer from the control plane: {whoami}"),
    }
}

pub(crate) async fn publish(args: &PublishArgs, out: Output) -> anyhow::Result<()> {
    let manifest = if args.name.is_none() || args.file.is_none() {
        Some(project::Manifest::load(&args.path)?)
    } else {
        None
    };
    let name = match (&args.name, &manifest) {
        (Some(name), _) => name.clone(),
        (None, Some(manifest)) => manifest.function.name.clone(),
        (None, None) => bail!("name the function with --name or a wedge.toml"),
    };
    names::function_name(&name).map_err(anyhow::Error::msg)?;
    let client = args.remote.client()?;
    check_admin(&client).await?;
    let component = match &args.file {
        Some(file) => file.clone(),
        None => {
            let bar = spinner("building", out.json);
            let built = project::build(&args.path, &bar);
            bar.finish_and_clear();
            built?
        }
    };
    let declared = manifest
        .as_ref()
        .map(|m| m.function.hooks.clone())
        .unwrap_or_default();
    let bytes =
        std::fs::read(&component).with_context(|| format!("reading {}", component.display()))?;
    let bar = upload_bar(&component.display().to_string(), out.json);
    let result = client
        .send(
            Method::POST,
            &format!("/v1/functions/{name}/versions"),
            client::Upload::with_progress(Bytes::from(bytes), bar.clone()),
        )
        .await;
    bar.finish_and_clear();
    let (status, published) = result?;
    let answer: wedge_control::service::Published = typed(&published)?;
    let exported = &answer.version.hooks;
    out.print(&published, || {
        let verb = if status == 201 {
            "published"
        } else {
            "already published"
        };
        let mut line = format!(
            "{verb} {name} version {} (sha256 {}) in revision {}",
            answer.version.number, answer.version.digest, answer.revision
        );
        if !declared.is_empty() && declared != *exported {
            let names = |hooks: &[wedge_types::Hook]| {
                hooks
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            line.push_str(&format!(
                "\nwarning: wedge.toml declares hooks [{}], the component exports [{}]",
                names(&declared),
                names(exported)
            ));
        }
        line
    });
    Ok(())
}

pub(crate) async fn alias(command: &AliasCommand, out: Output) -> anyhow::Result<()> {
    match command {
        AliasCommand::Set {
            function,
            alias,
            number,
            remote,
        } => {
            names::function_name(function).map_err(anyhow::Error::msg)?;
            names::alias_name(alias).map_err(anyhow::Error::msg)?;
            let body = json!({"version": number}).to_string();
            let path = format!("/v1/functions/{function}/aliases/{alias}");
            let (_, answer) = remote.client()?.call(Method::PUT, &path, body).await?;
            let written: Written = typed(&answer)?;
            out.print(&answer, || {
                format!(
                    "{function}@{alias} -> version {number} {}",
                    written.suffix()
                )
            });
        }
        AliasCommand::Ls { function, remote } => {
            let (_, listed) = remote
                .client()?
                .call(Method::GET, "/v1/functions", Bytes::new())
                .await?;
            let listed: Functions = typed(&listed)?;
            let mut rows = Vec::new();
            for (name, entry) in &listed.functions {
                if function.as_ref().is_some_and(|f| f != name) {
                    continue;
                }
                for (alias, version) in &entry.aliases {
                    rows.push(json!({"function": name, "alias": alias, "version": version}));
                }
            }
            let value = Value::from(rows.clone());
            out.print(&value, || {
                if rows.is_empty() {
                    return "no aliases".to_owned();
                }
                rows.iter()
                    .map(|row| {
                        format!(
                            "{}@{} -> version {}",
                            row["function"].as_str().unwrap_or("?"),
                            row["alias"].as_str().unwrap_or("?"),
                            row["version"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AliasCommand::Rm {
            function,
            alias,
            remote,
        } => {
            names::function_name(function).map_err(anyhow::Error::msg)?;
            names::alias_name(alias).map_err(anyhow::Error::msg)?;
            let path = format!("/v1/functions/{function}/aliases/{alias}");
            let (_, answer) = remote
                .client()?
                .call(Method::DELETE, &path, Bytes::new())
                .await?;
            let written: Written = typed(&answer)?;
            out.print(&answer, || {
                format!("removed {function}@{alias} {}", written.suffix())
            });
        }
    }
    Ok(())
}

/// `KEY=VALUE` items as a JSON object.
fn pairs(items: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    items
        .iter()
        .map(|item| {
            let (key, value) = item
                .split_once('=')
                .with_context(|| format!("`{item}`: expected KEY=VALUE"))?;
            Ok((key.to_owned(), Value::String(value.to_owned())))
        })
        .collect()
}

/// "1 value", "2 values".
pub(crate) fn count(n: u64, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

pub(crate) async fn config(args: &ConfigArgs, out: Output) -> anyhow::Result<()> {
    names::function_name(&args.function).map_err(anyhow::Error::msg)?;
    names::alias_name(&args.alias).map_err(anyhow::Error::msg)?;
    let body = json!({"values": pairs(&args.values)?, "secrets": pairs(&args.secrets)?});
    let path = format!(
        "/v1/functions/{}/aliases/{}/config",
        args.function, args.alias
    );
    let (_, answer) = args
        .remote
        .client()?
        .call(Method::PUT, &path, body.to_string())
        .await?;
    let written: Written = typed(&answer)?;
    out.print(&answer, || {
        format!(
            "{}@{}: {}, {} {}",
            args.function,
            args.alias,
            count(args.values.len() as u64, "value", "values"),
            count(args.secrets.len() as u64, "secret", "secrets"),
            written.suffix()
        )
    });
    Ok(())
}
