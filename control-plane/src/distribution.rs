//! Distributions in the control plane: parsed and validated with the model and validator the
//! nodes use (wedge-types), checked against the published functions, and edited by `deploy`
//! and `detach`, which attach or remove one function on one hook of one behavior.

use std::path::Path;

use wedge_types::check::{Checker, parse_toml_strict};
use wedge_types::distribution::{AssociationSpec, DistributionSpec, associations};
use wedge_types::revision::State;
use wedge_types::{Hook, PublishedRef, Selector, names};

use crate::service::ServiceError;

/// Parses `source` (the TOML of one distribution, as the user wrote it) for storage under `id`:
/// unknown keys are refused, and errors point into the user's own text. The `id` key is filled
/// in when absent and must match when present. The result is validated by [`check`].
pub(crate) fn parse(id: &str, source: &str) -> Result<DistributionSpec, ServiceError> {
    names::distribution_id(id).map_err(ServiceError::Invalid)?;
    let label = format!("distribution `{id}`");
    let mut spec: DistributionSpec = parse_toml_strict(source, Path::new(&label))
        .map_err(|error| ServiceError::Invalid(error.to_string()))?;
    if spec.id.is_empty() {
        spec.id = id.to_owned();
    } else if spec.id != id {
        return Err(ServiceError::Invalid(format!(
            "distribution `{id}`: its `id` key says `{}`; it must match the id it is stored under",
            spec.id
        )));
    }
    Ok(spec)
}

/// Checks every distribution of `state`: it validates as the nodes validate it, each function
/// it references is published, and the version each reference means exports the hook it is
/// attached to. Run before any change is stored, so an alias move cannot break a site.
pub(crate) fn check(state: &State) -> Result<(), ServiceError> {
    let mut validated = Vec::new();
    for (id, spec) in &state.distributions {
        let label = format!("distribution {id}");
        // Fuel budgets are accepted here; a node that does not meter fuel refuses them.
        let parsed = spec
            .validate(&Checker::remote(Path::new(&label)), "distribution", true)
            .map_err(|error| ServiceError::Invalid(error.to_string()))?;
        for association in associations(std::slice::from_ref(&parsed)) {
            let Some(reference) = association.function.published() else {
                continue;
            };
            let version = state
                .resolve(reference)
                .map_err(|error| ServiceError::Invalid(format!("distribution {id}: {error}")))?;
            let hook = association.hook;
            if !version.hooks.contains(&hook) {
                let exported: Vec<&str> = version.hooks.iter().map(|h| h.as_str()).collect();
                return Err(ServiceError::Invalid(format!(
                    "distribution {id} attaches {reference} to {hook}, but version {} of `{}` exports only [{}]",
                    version.number,
                    reference.function,
                    exported.join(", ")
                )));
            }
        }
        validated.push(parsed);
    }
    match wedge_types::distribution::distributions_conflict(&validated) {
        Some(conflict) => Err(ServiceError::Invalid(conflict.to_string())),
        None => Ok(()),
    }
}

/// What `deploy` attaches.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The behavior's path pattern, or `default` (the default) for the default behavior.
    #[serde(default = "default_behavior")]
    pub behavior: String,
    /// The hook.
    pub event: Hook,
    /// The function's name.
    pub function: String,
    /// The alias to follow (give this or `version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The version to pin (give this or `alias`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// `fail` (default), `bypass` or `stale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
}

fn default_behavior() -> String {
    "default".to_owned()
}

impl Attachment {
    /// `NAME@ALIAS` or `NAME@VERSION`, names checked.
    pub fn reference(&self) -> Result<PublishedRef, ServiceError> {
        names::function_name(&self.function).map_err(ServiceError::Invalid)?;
        let selector = match (&self.alias, self.version) {
            (Some(alias), None) => {
                names::alias_name(alias).map_err(ServiceError::Invalid)?;
                Selector::Alias(alias.clone())
            }
            (None, Some(version)) => Selector::Version(version),
            _ => {
                return Err(ServiceError::Invalid(
                    "give exactly one of `alias` and `version`".into(),
                ));
            }
        };
        Ok(PublishedRef {
            function: self.function.clone(),
            selector,
        })
    }
}

/// Which hook of which behavior `detach` empties.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detachment {
    /// The behavior's path pattern, or `default`.
    #[serde(default = "default_behavior")]
    pub behavior: String,
    /// The hook.
    pub event: Hook,
}

/// `spec` with `attachment` in place of whatever its behavior had on that hook (limits and
/// config of an association already there are kept).
pub(crate) fn attach(
    spec: &DistributionSpec,
    attachment: &Attachment,
) -> Result<DistributionSpec, ServiceError> {
    let reference = attachment.reference()?;
    let mut spec = spec.clone();
    let functions = behavior_functions(&mut spec, &attachment.behavior)?;
    let entry = match functions.iter().position(|a| a.event == attachment.event) {
        Some(index) => &mut functions[index],
        None => {
            functions.push(AssociationSpec::new(attachment.event, String::new()));
            functions
                .last_mut()
                .ok_or_else(|| ServiceError::Invalid("the association could not be added".into()))?
        }
    };
    entry.function = reference.to_string();
    if attachment.on_error.is_some() {
        entry.on_error.clone_from(&attachment.on_error);
    }
    Ok(spec)
}

/// `spec` without the function its behavior had on the hook of `detachment`.
pub(crate) fn detach(
    spec: &DistributionSpec,
    detachment: &Detachment,
) -> Result<DistributionSpec, ServiceError> {
    let mut spec = spec.clone();
    let id = spec.id.clone();
    let functions = behavior_functions(&mut spec, &detachment.behavior)?;
    let before = functions.len();
    functions.retain(|a| a.event != detachment.event);
    if functions.len() == before {
        return Err(ServiceError::Invalid(format!(
            "distribution {id}: behavior `{}` has nothing on {}",
            detachment.behavior, detachment.event
        )));
    }
    Ok(spec)
}

fn behavior_functions<'a>(
    spec: &'a mut DistributionSpec,
    pattern: &str,
) -> Result<&'a mut Vec<AssociationSpec>, ServiceError> {
    let id = spec.id.clone();
    let behavior = spec.behavior_mut(pattern).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "distribution {id} has no behavior `{pattern}` (use `default` or one of its path patterns)"
        ))
    })?;
    Ok(&mut behavior.functions)
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

    fn validate(spec: &DistributionSpec) -> wedge_types::distribution::DistributionConfig {
        spec.validate(&Checker::remote(Path::new("test")), "distribution", false)
            .unwrap()
    }

    #[test]
    fn parse_fills_in_and_checks_the_id_and_refuses_unknown_keys() {
        assert_eq!(parse("www", SITE).unwrap().id, "www");
        let renamed = format!("id = \"other\"\n{SITE}");
        assert!(parse("www", &renamed).is_err());
        assert!(parse("bad id", SITE).is_err());
        assert!(parse("www", "domains = [").is_err());
        let typo = format!("{SITE}cach = {{ enabled = false }}\n");
        let error = parse("www", &typo).unwrap_err().to_string();
        assert!(error.contains("default_behavior.cach"), "{error}");
        // Errors point at the user's own lines.
        let error = parse("www", "\n\ndomains = 7\n").unwrap_err().to_string();
        assert!(error.contains("line 3"), "{error}");
    }

    #[test]
    fn attach_replaces_the_hook_of_one_behavior() {
        let stored = parse("www", SITE).unwrap();
        let attachment = |function: &str, behavior: &str| Attachment {
            behavior: behavior.into(),
            event: Hook::ViewerRequest,
            function: function.into(),
            alias: Some("live".into()),
            version: None,
            on_error: None,
        };
        let once = attach(&stored, &attachment("a", "/api/*")).unwrap();
        let twice = attach(&once, &attachment("b", "/api/*")).unwrap();
        let parsed = validate(&twice);
        let functions = &parsed.behaviors[0].functions;
        assert_eq!(functions.len(), 1);
        assert_eq!(functions[0].function.to_string(), "control:b@live");
        assert!(parsed.default_behavior.functions.is_empty());
        assert!(attach(&stored, &attachment("a", "/nope/*")).is_err());
        assert!(attach(&stored, &attachment("Bad Name", "/api/*")).is_err());
        let default = attach(&stored, &attachment("a", "default")).unwrap();
        assert_eq!(validate(&default).default_behavior.functions.len(), 1);
        assert_eq!(attach(&once, &attachment("a", "/api/*")).unwrap(), once);

        let detachment = Detachment {
            behavior: "/api/*".into(),
            event: Hook::ViewerRequest,
        };
        let detached = detach(&twice, &detachment).unwrap();
        assert!(validate(&detached).behaviors[0].functions.is_empty());
        assert!(detach(&detached, &detachment).is_err());
    }
}
