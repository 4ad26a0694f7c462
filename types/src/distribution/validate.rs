//! [`DistributionSpec`] → [`DistributionConfig`]. Each check names the key it looked at.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};

use super::*;
use crate::check::{Checker, ConfigError};
use crate::pattern::DomainConflict;
use crate::{LimitsSpec, names};

/// The first domain two of `distributions` both claim.
pub fn distributions_conflict<'a>(
    distributions: impl IntoIterator<Item = &'a DistributionConfig>,
) -> Option<DomainConflict> {
    crate::pattern::domain_conflict(
        distributions
            .into_iter()
            .map(|d| (d.id.as_str(), d.domains.as_slice())),
    )
}

impl DistributionSpec {
    /// Validates the distribution. `key` is where it sits in its file (e.g.
    /// `distributions[0]`); `check` says which file and whether it is local (function files and
    /// CA files allowed, relative to it) or from the control plane (published functions only,
    /// `control:` optional). `fuel_metering` is the runtime setting fuel budgets are checked
    /// against.
    pub fn validate(
        &self,
        check: &Checker<'_>,
        key: &str,
        fuel_metering: bool,
    ) -> Result<DistributionConfig, ConfigError> {
        validate_distribution(check, key, self.clone(), fuel_metering)
    }
}

fn validate_distribution(
    check: &Checker<'_>,
    key: &str,
    raw: DistributionSpec,
    fuel_metering: bool,
) -> Result<DistributionConfig, ConfigError> {
    names::distribution_id(&raw.id)
        .map_err(|problem| check.invalid(format!("{key}.id"), problem))?;
    if raw.domains.is_empty() {
        return Err(check.invalid(
            format!("{key}.domains"),
            "at least one domain (or \"*\") is required",
        ));
    }
    let mut domains = Vec::new();
    for (index, domain) in raw.domains.iter().enumerate() {
        let pattern = DomainPattern::parse(domain).ok_or_else(|| {
            check.invalid(
                format!("{key}.domains[{index}]"),
                format!("`{domain}`: expected a host name, `*.suffix` or `*`"),
            )
        })?;
        domains.push(pattern);
    }
    let mut origins = BTreeMap::new();
    for (name, origin) in raw.origins {
        names::origin_name(&name)
            .map_err(|problem| check.invalid(format!("{key}.origins.{name}"), problem))?;
        let origin = validate_origin(check, &format!("{key}.origins.{name}"), &name, origin)?;
        origins.insert(name, origin);
    }
    if origins.is_empty() {
        return Err(check.invalid(format!("{key}.origins"), "at least one origin is required"));
    }
    let mut behaviors = Vec::new();
    for (index, behavior) in raw.behaviors.into_iter().enumerate() {
        let behavior_key = format!("{key}.behaviors[{index}]");
        behaviors.push(validate_behavior(
            check,
            &behavior_key,
            behavior,
            &origins,
            fuel_metering,
            false,
        )?);
    }
    let default_key = format!("{key}.default_behavior");
    let default = raw
        .default_behavior
        .ok_or_else(|| check.invalid(&default_key, "a default behavior is required"))?;
    let default_behavior =
        validate_behavior(check, &default_key, default, &origins, fuel_metering, true)?;
    Ok(DistributionConfig {
        id: raw.id,
        domains,
        origins,
        behaviors,
        default_behavior,
    })
}

fn validate_origin(
    check: &Checker<'_>,
    key: &str,
    name: &str,
    raw: OriginSpec,
) -> Result<OriginConfig, ConfigError> {
    let url: Uri = raw
        .url
        .parse()
        .map_err(|error| check.invalid(format!("{key}.url"), format!("`{}`: {error}", raw.url)))?;
    let scheme_ok = matches!(url.scheme_str(), Some("http" | "https"));
    let Some(authority) = url.authority().filter(|_| scheme_ok) else {
        return Err(check.invalid(
            format!("{key}.url"),
            format!(
                "`{}`: expected an http:// or https:// URL with a host",
                raw.url
            ),
        ));
    };
    if url.query().is_some() {
        return Err(check.invalid(format!("{key}.url"), "an origin URL may not have a query"));
    }
    let host_text = raw
        .host_header
        .clone()
        .unwrap_or_else(|| authority.as_str().to_owned());
    let host_header = HeaderValue::from_str(&host_text).map_err(|_| {
        check.invalid(
            format!("{key}.host_header"),
            format!("`{host_text}` is not a valid header value"),
        )
    })?;
    let connect_timeout = check.positive_ms(
        &format!("{key}.connect_timeout_ms"),
        raw.connect_timeout_ms,
        DEFAULT_CONNECT_TIMEOUT,
    )?;
    let first_byte_timeout = check.positive_ms(
        &format!("{key}.first_byte_timeout_ms"),
        raw.first_byte_timeout_ms,
        DEFAULT_FIRST_BYTE_TIMEOUT,
    )?;
    let total_timeout = check.positive_ms(
        &format!("{key}.total_timeout_ms"),
        raw.total_timeout_ms,
        DEFAULT_TOTAL_TIMEOUT,
    )?;
    if total_timeout < first_byte_timeout {
        return Err(check.invalid(
            format!("{key}.total_timeout_ms"),
            "must not be below first_byte_timeout_ms",
        ));
    }
    if check.is_remote() && raw.ca_file.is_some() {
        return Err(check.invalid(
            format!("{key}.ca_file"),
            "a control-plane distribution cannot name files on the nodes; use a public CA",
        ));
    }
    Ok(OriginConfig {
        name: name.to_owned(),
        url,
        host_header,
        connect_timeout,
        first_byte_timeout,
        total_timeout,
        ca_file: raw.ca_file.as_deref().map(|path| check.path(path)),
    })
}

fn validate_behavior(
    check: &Checker<'_>,
    key: &str,
    raw: BehaviorSpec,
    origins: &BTreeMap<String, OriginConfig>,
    fuel_metering: bool,
    is_default: bool,
) -> Result<BehaviorConfig, ConfigError> {
    let pattern = match (raw.path, is_default) {
        (None, true) => PathPattern::new("*"),
        (Some(_), true) => {
            return Err(check.invalid(
                format!("{key}.path"),
                "the default behavior matches every path; remove `path`",
            ));
        }
        (None, false) => {
            return Err(check.invalid(
                format!("{key}.path"),
                "a path pattern is required, e.g. \"/api/*\"",
            ));
        }
        (Some(path), false) if path == "*" || path.starts_with('/') => PathPattern::new(path),
        (Some(path), false) => {
            return Err(check.invalid(
                format!("{key}.path"),
                format!("`{path}`: a pattern starts with `/` (or is `*`)"),
            ));
        }
    };
    if !origins.contains_key(&raw.origin) {
        let known: Vec<&str> = origins.keys().map(String::as_str).collect();
        return Err(check.invalid(
            format!("{key}.origin"),
            format!(
                "no origin named `{}` (known: {})",
                raw.origin,
                known.join(", ")
            ),
        ));
    }
    let cache = validate_cache_policy(check, &format!("{key}.cache"), raw.cache)?;
    let mut functions: Vec<AssociationConfig> = Vec::new();
    for (index, association) in raw.functions.into_iter().enumerate() {
        let association_key = format!("{key}.functions[{index}]");
        let association =
            validate_association(check, &association_key, association, fuel_metering)?;
        if functions.iter().any(|other| other.hook == association.hook) {
            return Err(check.invalid(
                format!("{association_key}.event"),
                format!(
                    "a second function for {}: one per event type",
                    association.hook
                ),
            ));
        }
        functions.push(association);
    }
    let origin_request = validate_origin_request(
        check,
        &format!("{key}.origin_request"),
        &cache,
        raw.origin_request,
    )?;
    Ok(BehaviorConfig {
        pattern,
        origin: raw.origin,
        cache,
        functions,
        origin_request,
        allow_trace: raw.allow_trace.unwrap_or(false),
    })
}

/// A behavior's origin request policy: written parts replace the default's, and the default
/// depends on whether the behavior caches.
fn validate_origin_request(
    check: &Checker<'_>,
    key: &str,
    cache: &CachePolicyConfig,
    raw: Option<OriginRequestSpec>,
) -> Result<OriginRequestPolicy, ConfigError> {
    let mut policy = if cache.enabled {
        OriginRequestPolicy::cache_key_only()
    } else {
        OriginRequestPolicy::forward_all()
    };
    let Some(raw) = raw else {
        return Ok(policy);
    };
    let names = |field: &str, raw: NamesSpec| match raw {
        NamesSpec::Keyword(word) if word == "all" => Ok(Forward::All),
        NamesSpec::Keyword(word) if word == "none" => Ok(Forward::Only(Vec::new())),
        NamesSpec::Keyword(word) => Err(check.invalid(
            format!("{key}.{field}"),
            format!("`{word}`: expected \"all\", \"none\" or a list of names"),
        )),
        NamesSpec::Names(names) => Ok(Forward::Only(names)),
    };
    if let Some(headers) = raw.headers {
        policy.headers = match names("headers", headers)? {
            Forward::All => Forward::All,
            Forward::Only(names) => {
                let mut headers = Vec::new();
                for (index, name) in names.iter().enumerate() {
                    let header = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|_| {
                            check.invalid(
                                format!("{key}.headers[{index}]"),
                                format!("`{name}` is not a header name"),
                            )
                        })?;
                    headers.push(header);
                }
                headers.extend(
                    DEFAULT_FORWARDED_HEADERS
                        .iter()
                        .map(|name| HeaderName::from_static(name)),
                );
                Forward::Only(headers)
            }
        };
    }
    if let Some(cookies) = raw.cookies {
        policy.cookies = names("cookies", cookies)?;
    }
    if let Some(query_strings) = raw.query_strings {
        policy.query_strings = names("query_strings", query_strings)?;
    }
    Ok(policy)
}

fn validate_cache_policy(
    check: &Checker<'_>,
    key: &str,
    raw: CachePolicySpec,
) -> Result<CachePolicyConfig, ConfigError> {
    let min_ttl = Duration::from_secs(raw.min_ttl_s.unwrap_or(0));
    let max_ttl = raw.max_ttl_s.map_or(DEFAULT_MAX_TTL, Duration::from_secs);
    let default_ttl = raw
        .default_ttl_s
        .map_or(DEFAULT_TTL.min(max_ttl), Duration::from_secs);
    if min_ttl > max_ttl {
        return Err(check.invalid(format!("{key}.min_ttl_s"), "must not exceed max_ttl_s"));
    }
    if default_ttl < min_ttl || default_ttl > max_ttl {
        return Err(check.invalid(
            format!("{key}.default_ttl_s"),
            "must lie between min_ttl_s and max_ttl_s",
        ));
    }
    let query_strings = match raw.query_strings {
        None => QueryStrings::All,
        Some(NamesSpec::Keyword(word)) if word == "all" => QueryStrings::All,
        Some(NamesSpec::Keyword(word)) if word == "none" => QueryStrings::None,
        Some(NamesSpec::Keyword(word)) => {
            return Err(check.invalid(
                format!("{key}.query_strings"),
                format!("`{word}`: expected \"all\", \"none\" or a list of names"),
            ));
        }
        Some(NamesSpec::Names(names)) => QueryStrings::Only(names),
    };
    let mut headers = Vec::new();
    for (index, name) in raw.headers.iter().enumerate() {
        let header =
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
                check.invalid(
                    format!("{key}.headers[{index}]"),
                    format!("`{name}` is not a header name"),
                )
            })?;
        headers.push(header);
    }
    Ok(CachePolicyConfig {
        enabled: raw.enabled.unwrap_or(true),
        default_ttl,
        min_ttl,
        max_ttl,
        query_strings,
        headers,
        cookies: raw.cookies,
    })
}

fn validate_association(
    check: &Checker<'_>,
    key: &str,
    raw: AssociationSpec,
    fuel_metering: bool,
) -> Result<AssociationConfig, ConfigError> {
    let hook = raw.event;
    let function = if check.is_remote() {
        FunctionRef::parse_remote(&raw.function)
    } else {
        FunctionRef::parse_local(&raw.function, |path| check.path(path))
    }
    .map_err(|problem| check.invalid(format!("{key}.function"), problem))?;
    let on_error = match raw.on_error.as_deref() {
        None | Some("fail") => FailurePolicy::Fail,
        Some("bypass") => FailurePolicy::Bypass,
        Some("stale") => FailurePolicy::Stale,
        Some(other) => {
            return Err(check.invalid(
                format!("{key}.on_error"),
                format!("`{other}`: expected \"fail\", \"bypass\" or \"stale\""),
            ));
        }
    };
    let spec = LimitsSpec {
        timeout: raw.timeout_ms.map(Duration::from_millis),
        memory_bytes: raw.memory_mb.map(|mb| mb.saturating_mul(1024 * 1024)),
        fuel: raw.fuel,
        max_generated_response_bytes: None,
    };
    let limits = Limits::new(hook, spec, fuel_metering)
        .map_err(|error| check.invalid(key, error.to_string()))?;
    Ok(AssociationConfig {
        hook,
        function,
        include_body: raw.include_body.unwrap_or(false),
        on_error,
        limits,
        config: raw.config,
    })
}
