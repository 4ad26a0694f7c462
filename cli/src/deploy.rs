//! `wedge deploy`: attach a function to a hook of a distribution's behavior, or create and
//! replace distributions from a file.

use std::path::Path;

use anyhow::{Context, bail};
use http::Method;
use serde_json::{Value, json};

use crate::client::Client;

/// Shown after `wedge deploy --help`.
pub(crate) const AFTER_HELP: &str = "\
Examples:
  wedge deploy --file site.toml
  wedge deploy hello@live --distribution www --event viewer-request
  wedge deploy auth@3 -d www -b '/api/*' -e viewer-request --on-error fail
  wedge deploy --detach -d www -b '/api/*' -e viewer-request

A distribution file holds [[distributions]] entries exactly as in a node config (id, domains,
origins, behaviors, default_behavior); functions are referenced as NAME@ALIAS or NAME@VERSION.";

/// What `wedge deploy FUNCTION@SELECTOR` attaches where.
pub(crate) struct Attach<'a> {
    pub(crate) function: &'a str,
    pub(crate) distribution: &'a str,
    pub(crate) behavior: &'a str,
    pub(crate) event: Option<&'a str>,
    pub(crate) on_error: Option<&'a str>,
}

/// Attaches the function; the hook defaults to the only one the version exports.
pub(crate) async fn attach(client: &Client, request: &Attach<'_>) -> anyhow::Result<Value> {
    let reference = request
        .function
        .strip_prefix("control:")
        .unwrap_or(request.function);
    let Some((name, selector)) = reference
        .split_once('@')
        .filter(|(n, s)| !n.is_empty() && !s.is_empty())
    else {
        bail!(
            "`{}`: expected NAME@ALIAS or NAME@VERSION",
            request.function
        );
    };
    let event = match request.event {
        Some(event) => event.to_owned(),
        None => only_hook(client, name, selector).await?,
    };
    let mut body = json!({
        "behavior": request.behavior,
        "event": event,
        "function": name,
    });
    match selector.parse::<u32>() {
        Ok(version) => body["version"] = json!(version),
        Err(_) => body["alias"] = json!(selector),
    }
    if let Some(on_error) = request.on_error {
        body["on_error"] = json!(on_error);
    }
    let path = format!("/v1/distributions/{}/deploy", request.distribution);
    let (_, answer) = client.call(Method::POST, &path, body.to_string()).await?;
    Ok(json!({
        "revision": answer["revision"],
        "deployed": [{
            "distribution": request.distribution,
            "behavior": request.behavior,
            "event": event,
            "function": format!("{name}@{selector}"),
        }],
    }))
}

/// Removes the function on `event` of `behavior`.
pub(crate) async fn detach(
    client: &Client,
    distribution: &str,
    behavior: &str,
    event: &str,
) -> anyhow::Result<Value> {
    let body = json!({"behavior": behavior, "event": event});
    let path = format!("/v1/distributions/{distribution}/detach");
    let (_, answer) = client.call(Method::POST, &path, body.to_string()).await?;
    Ok(json!({
        "revision": answer["revision"],
        "detached": [{"distribution": distribution, "behavior": behavior, "event": event}],
    }))
}

/// The hook `name@selector` exports, when it exports exactly one.
async fn only_hook(client: &Client, name: &str, selector: &str) -> anyhow::Result<String> {
    let (_, listed) = client.call(Method::GET, "/v1/functions", "").await?;
    let function = &listed["functions"][name];
    if function.is_null() {
        bail!("no function `{name}` is published");
    }
    let number = match selector.parse::<u64>() {
        Ok(number) => number,
        Err(_) => function["aliases"][selector]
            .as_u64()
            .with_context(|| format!("function `{name}` has no alias `{selector}`"))?,
    };
    let version = function["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["number"].as_u64() == Some(number))
        .with_context(|| format!("function `{name}` has no version {number}"))?;
    let hooks: Vec<&str> = crate::strings(&version["hooks"]);
    match hooks.as_slice() {
        [hook] => Ok((*hook).to_owned()),
        _ => bail!(
            "{name}@{selector} exports {}: choose one with --event",
            hooks.join(", ")
        ),
    }
}

/// PUTs every distribution of `file`; returns the last revision and the ids.
pub(crate) async fn apply_file(client: &Client, file: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut ids = Vec::new();
    let mut revision = Value::Null;
    for (id, source) in split(&text).with_context(|| format!("{}", file.display()))? {
        let path = format!("/v1/distributions/{id}");
        let (_, answer) = client
            .call(Method::PUT, &path, source)
            .await
            .with_context(|| format!("{}: distribution {id}", file.display()))?;
        revision = answer["revision"].clone();
        ids.push(id);
    }
    Ok(json!({"revision": revision, "distributions": ids}))
}

/// The distributions of a file as (id, TOML of that one distribution).
fn split(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let table: toml::Table = text.parse()?;
    let entries: Vec<toml::Table> = match table.get("distributions") {
        Some(toml::Value::Array(entries)) => {
            if table.len() > 1 {
                bail!("a distribution file with [[distributions]] may hold nothing else");
            }
            entries
                .iter()
                .map(|entry| {
                    entry
                        .as_table()
                        .cloned()
                        .context("[[distributions]] entries are tables")
                })
                .collect::<anyhow::Result<_>>()?
        }
        Some(_) => bail!("`distributions` must be a list of [[distributions]] tables"),
        None => vec![table],
    };
    if entries.is_empty() {
        bail!("no distributions in the file");
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let id = entry
                .get("id")
                .and_then(toml::Value::as_str)
                .with_context(|| format!("distribution {index} has no `id`"))?
                .to_owned();
            Ok((id, toml::to_string(&entry)?))
        })
        .collect()
}

/// The human answer of a deploy.
pub(crate) fn human(answer: &Value) -> String {
    let field = |entry: &Value, key: &str| entry[key].as_str().unwrap_or("?").to_owned();
    let lines = |key: &str, line: &dyn Fn(&Value) -> String| -> Option<String> {
        let entries = answer[key].as_array()?;
        let text: Vec<String> = entries
            .iter()
            .map(|entry| format!("{} (revision {})", line(entry), answer["revision"]))
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
    let ids: Vec<&str> = crate::strings(&answer["distributions"]);
    format!(
        "applied distributions {} (revision {})",
        ids.join(", "),
        answer["revision"]
    )
}

/// A distribution's behaviors and their functions, indented, for `wedge ls`.
pub(crate) fn summary(source: &str) -> String {
    let Ok(table) = source.parse::<toml::Table>() else {
        return String::new();
    };
    let domains: Vec<&str> = table
        .get("domains")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .collect();
    let mut out = format!("    domains {}\n", domains.join(", "));
    let behaviors = table
        .get("behaviors")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .chain(table.get("default_behavior"));
    for behavior in behaviors {
        let path = behavior
            .get("path")
            .and_then(toml::Value::as_str)
            .unwrap_or("default");
        let functions: Vec<String> = behavior
            .get("functions")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .map(|f| {
                format!(
                    "{}={}",
                    f.get("event").and_then(toml::Value::as_str).unwrap_or("?"),
                    f.get("function")
                        .and_then(toml::Value::as_str)
                        .unwrap_or("?")
                )
            })
            .collect();
        out.push_str(&format!("    {path:<16} {}\n", functions.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_node_style_and_single_distribution_files() {
        let node_style = "[[distributions]]\nid = \"a\"\ndomains = [\"*\"]\n[[distributions]]\nid = \"b\"\ndomains = [\"b\"]\n";
        let split_ids: Vec<String> = split(node_style)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(split_ids, ["a", "b"]);
        let single = split("id = \"www\"\ndomains = [\"*\"]\n").unwrap();
        assert_eq!(single[0].0, "www");
        assert!(split("domains = [\"*\"]\n").is_err());
        assert!(split("[[distributions]]\nid = \"a\"\n[node]\nid = \"x\"\n").is_err());
    }
}
