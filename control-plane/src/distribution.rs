//! Distributions in the control plane: validated with the node's own config parser (what is
//! accepted here is what nodes can load), checked against the published functions, and edited
//! by `deploy`, which attaches one function to one hook of one behavior.

use wedge_cdn::config::{FunctionRef, NodeConfig, Selector, associations};

use crate::model::{Distribution, State};
use crate::service::ServiceError;

/// Distribution ids: the node config's rule.
fn check_id(id: &str) -> Result<(), ServiceError> {
    wedge_cdn::names::check_id("distribution id", id).map_err(ServiceError::Invalid)
}

/// Normalises `source` (the TOML of one distribution) for storage under `id`: the `id` key is
/// filled in when absent and must match when present. The result is validated by [`check`].
pub(crate) fn normalise(id: &str, source: &str) -> Result<Distribution, ServiceError> {
    check_id(id)?;
    let mut table: toml::Table = source.parse().map_err(|error: toml::de::Error| {
        ServiceError::Invalid(format!("distribution `{id}`: {}", error.to_string().trim()))
    })?;
    match table.get("id") {
        None => {
            table.insert("id".into(), toml::Value::String(id.to_owned()));
        }
        Some(toml::Value::String(given)) if given == id => {}
        Some(other) => {
            return Err(ServiceError::Invalid(format!(
                "distribution `{id}`: its `id` key says {other}; it must match the id it is stored under"
            )));
        }
    }
    let source = toml::to_string(&table)
        .map_err(|error| ServiceError::Invalid(format!("distribution `{id}`: {error}")))?;
    Ok(Distribution { source })
}

/// Checks every distribution of `state`: it parses as the nodes parse it, each function it
/// references is published, and the version each reference means exports the hook it is
/// attached to. Run before any change is stored, so an alias move cannot break a site.
pub(crate) fn check(state: &State) -> Result<(), ServiceError> {
    let mut parsed_all = Vec::new();
    for (id, distribution) in &state.distributions {
        // Fuel budgets are accepted here; a node that does not meter fuel refuses them.
        let parsed = NodeConfig::parse_distribution(
            &distribution.source,
            &format!("distribution {id}"),
            true,
        )
        .map_err(|error| ServiceError::Invalid(error.to_string()))?;
        for association in associations(std::slice::from_ref(&parsed)) {
            let FunctionRef::Published { function, selector } = &association.function else {
                continue;
            };
            let hook = association.hook.as_str();
            let entry = state.functions.get(function).ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "distribution {id}: no function `{function}` is published"
                ))
            })?;
            let number = match selector {
                Selector::Version(number) => *number,
                Selector::Alias(alias) => *entry.aliases.get(alias).ok_or_else(|| {
                    ServiceError::Invalid(format!(
                        "distribution {id}: function `{function}` has no alias `{alias}`"
                    ))
                })?,
            };
            let version = entry.version(number).ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "distribution {id}: function `{function}` has no version {number}"
                ))
            })?;
            if !version.hooks.iter().any(|h| h == hook) {
                return Err(ServiceError::Invalid(format!(
                    "distribution {id} attaches {} to {hook}, but version {number} of `{function}` exports only [{}]",
                    association.function,
                    version.hooks.join(", ")
                )));
            }
        }
        parsed_all.push(parsed);
    }
    let claims = parsed_all
        .iter()
        .map(|d| (d.id.as_str(), d.domains.as_slice()));
    match wedge_cdn::pattern::domain_conflict(claims) {
        Some(conflict) => Err(ServiceError::Invalid(conflict.to_string())),
        None => Ok(()),
    }
}

/// What `deploy` attaches.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The behavior's path pattern, or `default` (the default) for the default behavior.
    #[serde(default = "default_behavior")]
    pub behavior: String,
    /// The hook: viewer-request, origin-request, origin-response or viewer-response.
    pub event: String,
    /// The function's name.
    pub function: String,
    /// The alias to follow (give this or `version`).
    #[serde(default)]
    pub alias: Option<String>,
    /// The version to pin (give this or `alias`).
    #[serde(default)]
    pub version: Option<u32>,
    /// `fail` (default), `bypass` or `stale`.
    #[serde(default)]
    pub on_error: Option<String>,
}

fn default_behavior() -> String {
    "default".to_owned()
}

impl Attachment {
    /// `NAME@ALIAS` or `NAME@VERSION`.
    pub fn reference(&self) -> Result<String, ServiceError> {
        match (&self.alias, self.version) {
            (Some(alias), None) => Ok(format!("{}@{alias}", self.function)),
            (None, Some(version)) => Ok(format!("{}@{version}", self.function)),
            _ => Err(ServiceError::Invalid(
                "give exactly one of `alias` and `version`".into(),
            )),
        }
    }
}

/// Which hook of which behavior `detach` empties.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detachment {
    /// The behavior's path pattern, or `default`.
    #[serde(default = "default_behavior")]
    pub behavior: String,
    /// The hook.
    pub event: String,
}

/// `distribution` with `attachment` in place of whatever its behavior had on that hook.
pub(crate) fn attach(
    id: &str,
    distribution: &Distribution,
    attachment: &Attachment,
) -> Result<Distribution, ServiceError> {
    let reference = attachment.reference()?;
    edit_functions(id, distribution, &attachment.behavior, |functions| {
        functions.retain(|entry| event_of(entry) != Some(attachment.event.as_str()));
        let mut entry = toml::Table::new();
        entry.insert("event".into(), attachment.event.clone().into());
        entry.insert("function".into(), reference.into());
        if let Some(on_error) = &attachment.on_error {
            entry.insert("on_error".into(), on_error.clone().into());
        }
        functions.push(toml::Value::Table(entry));
        Ok(())
    })
}

/// `distribution` without the function its behavior had on the hook of `detachment`.
pub(crate) fn detach(
    id: &str,
    distribution: &Distribution,
    detachment: &Detachment,
) -> Result<Distribution, ServiceError> {
    edit_functions(id, distribution, &detachment.behavior, |functions| {
        let before = functions.len();
        functions.retain(|entry| event_of(entry) != Some(detachment.event.as_str()));
        if functions.len() == before {
            return Err(ServiceError::Invalid(format!(
                "distribution {id}: behavior `{}` has nothing on {}",
                detachment.behavior, detachment.event
            )));
        }
        Ok(())
    })
}

fn event_of(entry: &toml::Value) -> Option<&str> {
    entry.get("event").and_then(toml::Value::as_str)
}

/// Applies `edit` to the `functions` list of behavior `pattern` and serialises the result.
fn edit_functions(
    id: &str,
    distribution: &Distribution,
    pattern: &str,
    edit: impl FnOnce(&mut Vec<toml::Value>) -> Result<(), ServiceError>,
) -> Result<Distribution, ServiceError> {
    let mut table: toml::Table = distribution
        .source
        .parse()
        .map_err(|error| ServiceError::Invalid(format!("stored distribution {id}: {error}")))?;
    let behavior = find_behavior(&mut table, pattern).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "distribution {id} has no behavior `{pattern}` (use `default` or one of its path patterns)"
        ))
    })?;
    let functions = behavior
        .entry("functions")
        .or_insert_with(|| toml::Value::Array(Vec::new()));
    let toml::Value::Array(functions) = functions else {
        return Err(ServiceError::Invalid(format!(
            "distribution {id}: `functions` of behavior `{pattern}` is not a list"
        )));
    };
    edit(functions)?;
    let source = toml::to_string(&table)
        .map_err(|error| ServiceError::Invalid(format!("distribution {id}: {error}")))?;
    Ok(Distribution { source })
}

/// The behavior table whose `path` is `pattern`, or the default behavior for `default`.
fn find_behavior<'a>(table: &'a mut toml::Table, pattern: &str) -> Option<&'a mut toml::Table> {
    if pattern == "default" {
        return table.get_mut("default_behavior")?.as_table_mut();
    }
    table
        .get_mut("behaviors")?
        .as_array_mut()?
        .iter_mut()
        .filter_map(toml::Value::as_table_mut)
        .find(|behavior| behavior.get("path").and_then(toml::Value::as_str) == Some(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"
domains = ["*"]
[origins.app]
url = "http://127.0.0.1:9"
[[behaviors]]
path = "/api/*"
origin = "app"
[default_behavior]
origin = "app"
"#;

    #[test]
    fn normalise_fills_in_and_checks_the_id() {
        let stored = normalise("www", SITE).unwrap();
        assert!(stored.source.contains("id = \"www\""));
        let renamed = format!("id = \"other\"\n{SITE}");
        assert!(normalise("www", &renamed).is_err());
        assert!(normalise("bad id", SITE).is_err());
        assert!(normalise("www", "domains = [").is_err());
    }

    #[test]
    fn attach_replaces_the_hook_of_one_behavior() {
        let stored = normalise("www", SITE).unwrap();
        let attachment = |function: &str, behavior: &str| Attachment {
            behavior: behavior.into(),
            event: "viewer-request".into(),
            function: function.into(),
            alias: Some("live".into()),
            version: None,
            on_error: None,
        };
        let once = attach("www", &stored, &attachment("a", "/api/*")).unwrap();
        let twice = attach("www", &once, &attachment("b", "/api/*")).unwrap();
        let parsed = NodeConfig::parse_distribution(&twice.source, "test", false).unwrap();
        let functions = &parsed.behaviors[0].functions;
        assert_eq!(functions.len(), 1);
        assert_eq!(functions[0].function.to_string(), "control:b@live");
        assert!(parsed.default_behavior.functions.is_empty());
        assert!(attach("www", &stored, &attachment("a", "/nope/*")).is_err());
        let default = attach("www", &stored, &attachment("a", "default")).unwrap();
        let parsed = NodeConfig::parse_distribution(&default.source, "test", false).unwrap();
        assert_eq!(parsed.default_behavior.functions.len(), 1);

        let detachment = Detachment {
            behavior: "/api/*".into(),
            event: "viewer-request".into(),
        };
        let detached = detach("www", &twice, &detachment).unwrap();
        let parsed = NodeConfig::parse_distribution(&detached.source, "test", false).unwrap();
        assert!(parsed.behaviors[0].functions.is_empty());
        assert!(detach("www", &detached, &detachment).is_err());
    }
}
