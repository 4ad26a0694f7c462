//! `wedge history`, `wedge rollback`, `wedge ls`: the revision log and what is in effect.

use bytes::Bytes;
use http::Method;
use serde_json::json;
use wedge_control::model::Change;

use crate::remote::{Distributions, Functions, History, Nodes, Remote, Written, typed};
use crate::{Output, deploy};

/// `wedge history`.
#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// How many revisions to show, newest first.
    #[arg(long, short = 'n', default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    remote: Remote,
}

/// `wedge rollback`.
#[derive(Debug, clap::Args)]
pub(crate) struct RollbackArgs {
    /// The revision to restore (default: the one before the revision in effect, so rolling
    /// back twice goes two steps back).
    #[arg(long)]
    to: Option<u64>,
    #[command(flatten)]
    remote: Remote,
}

/// One line for a change.
fn describe(change: &Change) -> String {
    match change {
        Change::Publish {
            function, version, ..
        } => format!("publish {function} version {version}"),
        Change::SetAlias {
            function,
            alias,
            version,
        } => format!("alias {function}@{alias} -> version {version}"),
        Change::RemoveAlias { function, alias } => format!("remove alias {function}@{alias}"),
        Change::SetConfig {
            function, alias, ..
        } => format!("config of {function}@{alias}"),
        Change::PutDistribution { id } => format!("put distribution {id}"),
        Change::DeleteDistribution { id } => format!("delete distribution {id}"),
        Change::Deploy {
            distribution,
            behavior,
            event,
            function,
        } => format!("deploy {function} on {event} of {distribution} behavior {behavior}"),
        Change::Detach {
            distribution,
            behavior,
            event,
        } => format!("detach {event} of {distribution} behavior {behavior}"),
        Change::Rollback { to } => format!("rollback to revision {to}"),
        Change::Other => "a change this CLI does not know".to_owned(),
    }
}

pub(crate) async fn history(args: &HistoryArgs, out: Output) -> anyhow::Result<()> {
    let path = format!("/v1/revisions?limit={}", args.limit);
    let (_, answer) = args
        .remote
        .client()?
        .call(Method::GET, &path, Bytes::new())
        .await?;
    let history: History = typed(&answer)?;
    out.print(&answer, || {
        if history.revisions.is_empty() {
            return "no revisions yet".to_owned();
        }
        let now = wedge_control::model::now_ms();
        history
            .revisions
            .iter()
            .map(|entry| {
                format!(
                    "{:>6}  {:>8} ago  {}",
                    entry.number,
                    ago(now.saturating_sub(entry.at_ms)),
                    describe(&entry.change)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// `90s`, `12m`, `5h`, `3d`.
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

pub(crate) async fn rollback(args: &RollbackArgs, out: Output) -> anyhow::Result<()> {
    let body = match args.to {
        Some(to) => json!({ "to": to }),
        None => json!({}),
    };
    let (_, answer) = args
        .remote
        .client()?
        .call(Method::POST, "/v1/rollback", body.to_string())
        .await?;
    let written: Written = typed(&answer)?;
    let restored = answer["restored"].as_u64().unwrap_or_default();
    out.print(&answer, || {
        if written.changed {
            format!(
                "restored revision {restored} as revision {}",
                written.revision
            )
        } else {
            format!(
                "revision {restored} is what is in effect already {}",
                written.suffix()
            )
        }
    });
    Ok(())
}

pub(crate) async fn ls(remote: &Remote, out: Output) -> anyhow::Result<()> {
    let client = remote.client()?;
    let (_, mut listed) = client
        .call(Method::GET, "/v1/functions", Bytes::new())
        .await?;
    let (_, distributions) = client
        .call(Method::GET, "/v1/distributions", Bytes::new())
        .await?;
    let (_, nodes) = client.call(Method::GET, "/v1/nodes", Bytes::new()).await?;
    let functions: Functions = typed(&listed)?;
    let distributions_typed: Distributions = typed(&distributions)?;
    let nodes_typed: Nodes = typed(&nodes)?;
    listed["distributions"] = distributions["distributions"].clone();
    listed["nodes"] = nodes["nodes"].clone();
    out.print(&listed, || {
        human_listing(&functions, &distributions_typed, &nodes_typed)
    });
    Ok(())
}

fn human_listing(functions: &Functions, distributions: &Distributions, nodes: &Nodes) -> String {
    let mut out = format!("revision {}\n", functions.revision);
    for (name, function) in &functions.functions {
        out.push_str(&format!("{name}\n"));
        for version in &function.versions {
            let digest = &version.digest;
            let hooks: Vec<&str> = version.hooks.iter().map(|h| h.as_str()).collect();
            out.push_str(&format!(
                "  v{:<4} {}  {:>8} B  {}\n",
                version.number,
                &digest[..digest.len().min(12)],
                version.size,
                hooks.join(",")
            ));
        }
        for (alias, version) in &function.aliases {
            out.push_str(&format!("  @{alias} -> v{version}\n"));
        }
    }
    if !distributions.distributions.is_empty() {
        out.push_str("distributions\n");
        for (id, spec) in &distributions.distributions {
            out.push_str(&format!("  {id}\n"));
            out.push_str(&deploy::summary(spec));
        }
    }
    if !nodes.nodes.is_empty() {
        out.push_str("nodes\n");
        let now = wedge_control::model::now_ms();
        for (id, node) in &nodes.nodes {
            let ago = now.saturating_sub(node.last_contact_ms);
            out.push_str(&format!(
                "  {id:<20} revision {:<6} last contact {:.1}s ago\n",
                node.revision,
                ago as f64 / 1000.0
            ));
            for (distribution, problem) in &node.not_served {
                out.push_str(&format!("    not serving {distribution}: {problem}\n"));
            }
        }
    }
    out
}
