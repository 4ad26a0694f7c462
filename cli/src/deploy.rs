//! `wedge deploy`: attach a function to a hook of a distribution's behavior, or create and
//! replace distributions from a file; `wedge distribution ls|rm`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use http::Method;
use serde_json::{Value, json};
use wedge_control::distribution::Attachment;
use wedge_types::check::{Checker, parse_toml_strict};
use wedge_types::distribution::DistributionSpec;
use wedge_types::{Hook, PublishedRef, Selector, names};

use crate::Output;
use crate::client::Client;
use crate::remote::{Distributions, Functions, Remote, Written, typed};

/// Shown after `wedge deploy --help`.
pub(crate) const AFTER_HELP: &str = "\
Examples:
  wedge deploy --file site.toml
  wedge deploy hello@live --distribution www --event viewer-request
  wedge deploy auth@3 -d www -b '/api/*' -e viewer-request --on-error fail
  wedge deploy --detach -d www -b '/api/*' -e viewer-request

A distribution file holds [[distributions]] entries exactly as in a node config (id, domains,
origins, behaviors, default_behavior); functions are referenced as NAME@ALIAS or NAME@VERSION.";

/// `wedge deploy`.
#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    /// NAME@ALIAS or NAME@VERSION.
    #[arg(required_unless_present_any = ["file", "detach"], conflicts_with_all = ["file", "detach"])]
    function: Option<String>,
    /// Remove the function on `--event` of the behavior instead.
    #[arg(long, requires_all = ["distribution", "event"], conflicts_with = "file")]
    detach: bool,
    /// The distribution.
    #[arg(long, short, required_unless_present = "file")]
    distribution: Option<String>,
    /// The behavior's path pattern, or `default`.
    #[arg(long, short, default_value = "default")]
    behavior: String,
    /// The hook (default: the only one the version exports).
    #[arg(long, short)]
    event: Option<Hook>,
    /// What a failure of the function does: fail, bypass or stale.
    #[arg(long)]
    on_error: Option<String>,
    /// A distribution file: `[[distributions]]` entries as in a node config, or one
    /// distribution with its `id` at the top level.
    #[arg(long, short)]
    file: Option<PathBuf>,
    #[command(flatten)]
    remote: Remote,
}

/// `wedge distribution ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum DistributionCommand {
    /// List distributions with their behaviors and functions.
    Ls {
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a distribution (every node stops serving it).
    Rm {
        /// The distribution's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) async fn run(args: &DeployArgs, out: Output) -> anyhow::Result<()> {
    let client = args.remote.client()?;
    let answer = match (&args.file, &args.function, &args.distribution) {
        (Some(file), _, _) => apply_file(&client, file).await?,
        (None, None, Some(distribution)) if args.detach => {
            let event = args.event.context("--detach needs --event")?;
            detach(&client, distribution, &args.behavior, event).await?
        }
        (None, Some(function), Some(distribution)) => {
            attach(&client, args, function, distribution).await?
        }
        _ => bail!("give FUNCTION@ALIAS with --distribution, or --file"),
    };
    out.print(&answer, || human(&answer));
    Ok(())
}

pub(crate) async fn distribution(command: &DistributionCommand, out: Output) -> anyhow::Result<()> {
    match command {
        DistributionCommand::Ls { remote } => {
            let (_, answer) = remote
                .client()?
                .call(Method::GET, "/v1/distributions", "")
                .await?;
            let listed: Distributions = typed(&answer)?;
            out.print(&answer, || {
                if listed.distributions.is_empty() {
                    return "no distributions".to_owned();
                }
                listed
                    .distributions
                    .iter()
                    .map(|(id, spec)| format!("{id}\n{}", summary(spec)))
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            });
        }
        DistributionCommand::Rm { id, remote } => {
            names::distribution_id(id).map_err(anyhow::Error::msg)?;
            let (_, answer) = remote
                .client()?
                .call(Method::DELETE, &format!("/v1/distributions/{id}"), "")
                .await?;
            let written: Written = typed(&answer)?;
            out.print(&answer, || {
                format!("removed distribution {id} {}", written.suffix())
            });
        }
    }
    Ok(())
}

/// Attaches the function; the hook defaults to the only one the version exports.
async fn attach(
    client: &Client,
    args: &DeployArgs,
    function: &str,
    distribution: &str,
) -> anyhow::Result<Value> {
    let reference: PublishedRef = function.parse().map_err(anyhow::Error::msg)?;
    names::distribution_id(distribution).map_err(anyhow::Error::msg)?;
    let event = match args.event {
        Some(event) => event,
        None => only_hook(client, &reference).await?,
    };
    let attachment = Attachment {
        behavior: args.behavior.clone(),
        event,
        function: reference.function.clone(),
        alias: match &reference.selector {
            Selector::Alias(alias) => Some(alias.clone()),
            Selector::Version(_) => None,
        },
        version: match reference.selector {
            Selector::Version(version) => Some(version),
            Selector::Alias(_) => None,
        },
        on_error: args.on_error.clone(),
    };
    let path = format!("/v1/distributions/{distribution}/deploy");
    let body = serde_json::to_string(&attachment)?;
    let (_, answer) = client.call(Method::POST, &path, body).await?;
    let written: Written = typed(&answer)?;
    Ok(json!({
        "revision": written.revision,
        "changed": written.changed,
        "deployed": [{
            "distribution": distribution,
            "behavior": args.behavior,
            "event": event,
            "function": reference.to_string(),
        }],
    }))
}

/// Removes the function on `event` of `behavior`.
async fn detach(
    client: &Client,
    distribution: &str,
    behavior: &str,
    event: Hook,
) -> anyhow::Result<Value> {
    names::distribution_id(distribution).map_err(anyhow::Error::msg)?;
    let body = json!({"behavior": behavior, "event": event});
    let path = format!("/v1/distributions/{distribution}/detach");
    let (_, answer) = client.call(Method::POST, &path, body.to_string()).await?;
    let written: Written = typed(&answer)?;
    Ok(json!({
        "revision": written.revision,
        "changed": written.changed,
        "detached": [{"distribution": distribution, "behavior": behavior, "event": event}],
    }))
}

/// The hook `reference` exports, when it exports exactly one.
async fn only_hook(client: &Client, reference: &PublishedRef) -> anyhow::Result<Hook> {
    let (_, listed) = client.call(Method::GET, "/v1/functions", "").await?;
    let listed: Functions = typed(&listed)?;
    let state = wedge_types::revision::State {
        functions: listed.functions,
        ..Default::default()
    };
    let version = state.resolve(reference)?;
    match version.hooks.as_slice() {
        [hook] => Ok(*hook),
        hooks => {
            let names: Vec<&str> = hooks.iter().map(|h| h.as_str()).collect();
            bail!(
                "{reference} exports {}: choose one with --event",
                names.join(", ")
            )
        }
    }
}

/// Validates every distribution of `file` here (errors point into the file), then PUTs each.
async fn apply_file(client: &Client, file: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    if text.contains("{demo_origin:") {
        bail!(
            "{}: `{{demo_origin:…}}` placeholders are filled in by `wedge dev` only; put your origins' URLs in their place to deploy this file",
            file.display()
        );
    }
    let specs = parse_file(&text, file)?;
    let mut ids = Vec::new();
    let mut last: Option<Written> = None;
    let mut changed = false;
    for spec in specs {
        let id = spec.id.clone();
        let source = toml::to_string(&spec)?;
        let path = format!("/v1/distributions/{id}");
        let (_, answer) = client
            .call(Method::PUT, &path, source)
            .await
            .with_context(|| format!("{}: distribution {id}", file.display()))?;
        let written: Written = typed(&answer)?;
        changed |= written.changed;
        last = Some(written);
        ids.push(id);
    }
    Ok(json!({
        "revision": last.map(|w| w.revision),
        "changed": changed,
        "distributions": ids,
    }))
}

/// The distributions of a file, parsed and validated as the control plane will (strictly:
/// unknown keys are errors with their path, syntax errors with the file's own lines).
fn parse_file(text: &str, file: &Path) -> anyhow::Result<Vec<DistributionSpec>> {
    #[derive(serde::Deserialize)]
    struct Many {
        distributions: Vec<DistributionSpec>,
    }
    let table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| anyhow::anyhow!("{}: {error}", file.display()))?;
    let specs = if table.contains_key("distributions") {
        parse_toml_strict::<Many>(text, file)?.distributions
    } else {
        vec![parse_toml_strict::<DistributionSpec>(text, file)?]
    };
    if specs.is_empty() {
        bail!("{}: no distributions in the file", file.display());
    }
    for (index, spec) in specs.iter().enumerate() {
        let key = if table.contains_key("distributions") {
            format!("distributions[{index}]")
        } else {
            "distribution".to_owned()
        };
        if spec.id.is_empty() {
            bail!("{}: {key}: `id` is required", file.display());
        }
        spec.validate(&Checker::remote(file), &key, true)?;
    }
    Ok(specs)
}

/// The human answer of a deploy.
pub(crate) fn human(answer: &Value) -> String {
    let field = |entry: &Value, key: &str| entry[key].as_str().unwrap_or("?").to_owned();
    let lines = |key: &str, line: &dyn Fn(&Value) -> String| -> Option<String> {
        let entries = answer[key].as_array()?;
        let suffix = if answer["changed"] == Value::Bool(false) {
            format!(
                "(nothing changed: it was already so in revision {})",
                answer["revision"]
            )
        } else {
            format!("(revision {})", answer["revision"])
        };
        let text: Vec<String> = entries
            .iter()
            .map(|entry| format!("{} {suffix}", line(entry)))
            .collect();
        Some(text.join("\n"))
    };
    let detached = lines("detached", &|d| {
        format!(
            "removed the {} function of {} behavior {}",
            field(d, "event"),
            field(d, "distribution"),
            field(d, "behavior")
        )
    });
    let deployed = lines("deployed", &|d| {
        format!(
            "deployed {} on {} of {} behavior {}",
            field(d, "function"),
            field(d, "event"),
            field(d, "distribution"),
            field(d, "behavior")
        )
    });
    if let Some(text) = detached.or(deployed) {
        return text;
    }
    let ids: Vec<&str> = answer["distributions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if answer["changed"] == Value::Bool(false) {
        return format!(
            "distributions {} are already as in the file: nothing changed (revision {})",
            ids.join(", "),
            answer["revision"]
        );
    }
    format!(
        "applied distributions {} (revision {})",
        ids.join(", "),
        answer["revision"]
    )
}

/// A distribution's behaviors and their functions, indented, for `wedge ls`.
pub(crate) fn summary(spec: &DistributionSpec) -> String {
    let mut out = format!("    domains {}\n", spec.domains.join(", "));
    let behaviors = spec.behaviors.iter().chain(&spec.default_behavior);
    for behavior in behaviors {
        let path = behavior.path.as_deref().unwrap_or("default");
        let functions: Vec<String> = behavior
            .functions
            .iter()
            .map(|f| format!("{}={}", f.event, f.function))
            .collect();
        out.push_str(&format!("    {path:<16} {}\n", functions.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "domains = [\"*\"]\n[origins.app]\nurl = \"http://127.0.0.1:9\"\n[default_behavior]\norigin = \"app\"\n";

    #[test]
    fn reads_node_style_and_single_distribution_files() {
        let file = Path::new("site.toml");
        let node_style = format!(
            "[[distributions]]\nid = \"a\"\n{}[[distributions]]\nid = \"b\"\n{}",
            SITE.replace("[origins", "[distributions.origins")
                .replace("[default", "[distributions.default"),
            SITE.replace("[origins", "[distributions.origins")
                .replace("[default", "[distributions.default"),
        );
        let ids: Vec<String> = parse_file(&node_style, file)
            .unwrap()
            .into_iter()
            .map(|spec| spec.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        let single = parse_file(&format!("id = \"www\"\n{SITE}"), file).unwrap();
        assert_eq!(single[0].id, "www");
        assert!(parse_file(SITE, file).is_err(), "an id is required");
        let typo = format!("id = \"www\"\n{SITE}cach = 1\n");
        let error = parse_file(&typo, file).unwrap_err().to_string();
        assert!(
            error.contains("site.toml") && error.contains("cach"),
            "{error}"
        );
        let error = parse_file("id = \"www\"\n\ndomains = 7\n", file)
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 3"), "{error}");
    }
}
