//! Raw config → validated config. Each check names the key it looked at.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use wedge_runtime::{Allocation, Hook, Limits, LimitsSpec, RuntimeConfig};

use super::raw::{
    RawAssociation, RawBehavior, RawCachePolicy, RawConfig, RawDistribution, RawOrigin,
    RawOriginRequest, RawQueryStrings,
};
use super::*;
use crate::forwarding::{DEFAULT_FORWARDED_HEADERS, Forward};

/// The first domain two of `distributions` both claim.
pub(crate) fn distributions_conflict<'a>(
    distributions: impl IntoIterator<Item = &'a DistributionConfig>,
) -> Option<crate::pattern::DomainConflict> {
    crate::pattern::domain_conflict(
        distributions
            .into_iter()
            .map(|d| (d.id.as_str(), d.domains.as_slice())),
    )
}

/// Collects the file name so every error can name it.
struct Checker<'a> {
    file: &'a Path,
    dir: PathBuf,
    /// A distribution from the control plane: it may not name local files, and its functions
    /// are control-plane references with or without the `control:` prefix.
    remote: bool,
}

impl Checker<'_> {
    fn invalid(&self, key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    fn path(&self, value: &str) -> PathBuf {
        let path = Path::new(value);
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.dir.join(path)
        }
    }

    fn address(&self, key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
        value
            .parse()
            .map_err(|_| self.invalid(key, format!("`{value}` is not an IP:port address")))
    }

    fn positive_ms(
        &self,
        key: &str,
        value: Option<u64>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(0) => Err(self.invalid(key, "must be at least 1 ms")),
            Some(ms) => Ok(Duration::from_millis(ms)),
        }
    }

    fn at_least<T: PartialOrd + std::fmt::Display + Copy>(
        &self,
        key: &str,
        value: Option<T>,
        default: T,
        min: T,
    ) -> Result<T, ConfigError> {
        let value = value.unwrap_or(default);
        if value < min {
            return Err(self.invalid(key, format!("{value} is below the minimum of {min}")));
        }
        Ok(value)
    }
}

pub(super) fn validate(raw: RawConfig, file: &Path) -> Result<NodeConfig, ConfigError> {
    let dir = file.parent().map(Path::to_owned).unwrap_or_default();
    let check = Checker {
        file,
        dir,
        remote: false,
    };

    let node_id = raw
        .node
        .id
        .clone()
        .unwrap_or_else(|| DEFAULT_NODE_ID.to_owned());
    crate::names::check_id("node id", &node_id)
        .map_err(|problem| check.invalid("node.id", problem))?;
    let access_log = match raw.node.access_log.as_deref() {
        None | Some("stdout") => AccessLogTarget::Stdout,
        Some("off") => AccessLogTarget::Off,
        Some("") => {
            return Err(check.invalid(
                "node.access_log",
                "expected \"stdout\", \"off\" or a file path",
            ));
        }
        Some(path) => AccessLogTarget::File(check.path(path)),
    };

    if raw.listeners.is_empty() {
        return Err(check.invalid("listeners", "at least one [[listeners]] entry is required"));
    }
    let mut listeners = Vec::new();
    for (index, listener) in raw.listeners.iter().enumerate() {
        let key = format!("listeners[{index}]");
        let address = check.address(&format!("{key}.address"), &listener.address)?;
        let tls = match (&listener.tls_cert, &listener.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key_file)) => Some(TlsFiles {
                cert: check.path(cert),
                key: check.path(key_file),
            }),
            _ => {
                return Err(check.invalid(
                    &key,
                    "tls_cert and tls_key go together: set both or neither",
                ));
            }
        };
        let mut trusted_proxies = Vec::new();
        for (n, text) in listener.trusted_proxies.iter().enumerate() {
            let net = text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    check.invalid(
                        format!("{key}.trusted_proxies[{n}]"),
                        format!("`{text}` is not an address or CIDR block (e.g. 10.0.0.0/8)"),
                    )
                })?;
            trusted_proxies.push(net.trunc());
        }
        listeners.push(ListenerConfig {
            address,
            tls,
            trusted_proxies,
        });
    }

    let l = &raw.limits;
    let limits = ServerLimits {
        max_connections: check.at_least(
            "limits.max_connections",
            l.max_connections,
            DEFAULT_MAX_CONNECTIONS,
            1,
        )?,
        max_fresh_connections_per_client: check.at_least(
            "limits.max_fresh_connections_per_client",
            l.max_fresh_connections_per_client,
            DEFAULT_MAX_FRESH_CONNECTIONS_PER_CLIENT,
            1,
        )?,
        header_read_timeout: check.positive_ms(
            "limits.header_read_timeout_ms",
            l.header_read_timeout_ms,
            DEFAULT_HEADER_READ_TIMEOUT,
        )?,
        idle_timeout: check.positive_ms(
            "limits.idle_timeout_ms",
            l.idle_timeout_ms,
            DEFAULT_IDLE_TIMEOUT,
        )?,
        body_read_timeout: check.positive_ms(
            "limits.body_read_timeout_ms",
            l.body_read_timeout_ms,
            DEFAULT_BODY_READ_TIMEOUT,
        )?,
        max_header_bytes: check.at_least(
            "limits.max_header_bytes",
            l.max_header_bytes,
            DEFAULT_MAX_HEADER_BYTES,
            8192,
        )?,
        max_headers: check.at_least("limits.max_headers", l.max_headers, DEFAULT_MAX_HEADERS, 1)?,
        max_uri_bytes: check.at_least(
            "limits.max_uri_bytes",
            l.max_uri_bytes,
            DEFAULT_MAX_URI_BYTES,
            1,
        )?,
        max_body_bytes: check.at_least(
            "limits.max_body_bytes",
            l.max_body_bytes,
            DEFAULT_MAX_BODY_BYTES,
            0,
        )?,
        request_timeout: check.positive_ms(
            "limits.request_timeout_ms",
            l.request_timeout_ms,
            DEFAULT_REQUEST_TIMEOUT,
        )?,
        shutdown_grace: check.positive_ms(
            "limits.shutdown_grace_ms",
            l.shutdown_grace_ms,
            DEFAULT_SHUTDOWN_GRACE,
        )?,
    };

    let admin = match &raw.admin {
        Some(admin) => {
            if admin.token.as_ref().is_some_and(|token| {
                token.len() < MIN_ADMIN_TOKEN_LEN || token.contains(char::is_whitespace)
            }) {
                return Err(check.invalid(
                    "admin.token",
                    format!("at least {MIN_ADMIN_TOKEN_LEN} characters, no whitespace"),
                ));
            }
            Some(AdminConfig {
                address: check.address("admin.address", &admin.address)?,
                token: admin.token.clone(),
            })
        }
        None => None,
    };

    let c = &raw.cache;
    let cache = CacheConfig {
        capacity_bytes: check.at_least(
            "cache.capacity_bytes",
            c.capacity_bytes,
            DEFAULT_CACHE_CAPACITY_BYTES,
            0,
        )?,
        max_object_bytes: check.at_least(
            "cache.max_object_bytes",
            c.max_object_bytes,
            DEFAULT_MAX_OBJECT_BYTES,
            1,
        )?,
        error_ttl: c.error_ttl_s.map_or(DEFAULT_ERROR_TTL, Duration::from_secs),
        stale_retention: c
            .stale_retention_s
            .map_or(DEFAULT_STALE_RETENTION, Duration::from_secs),
    };

    let runtime = runtime_config(&check, &raw)?;

    if raw.distributions.is_empty() && raw.control_plane.is_none() {
        return Err(check.invalid(
            "distributions",
            "at least one [[distributions]] entry is required (or a [control_plane] to take them from)",
        ));
    }
    let mut ids = HashSet::new();
    let mut distributions = Vec::new();
    for (index, distribution) in raw.distributions.into_iter().enumerate() {
        let key = format!("distributions[{index}]");
        if !ids.insert(distribution.id.clone()) {
            return Err(check.invalid(
                format!("{key}.id"),
                format!("`{}` is used twice", distribution.id),
            ));
        }
        distributions.push(validate_distribution(
            &check,
            &key,
            distribution,
            runtime.fuel_metering,
        )?);
    }
    if let Some(conflict) = distributions_conflict(&distributions) {
        let index = distributions
            .iter()
            .position(|d| d.id == conflict.second)
            .unwrap_or_default();
        return Err(check.invalid(
            format!("distributions[{index}].domains"),
            conflict.to_string(),
        ));
    }

    let control_plane = match raw.control_plane {
        None => None,
        Some(control) => {
            let url: Uri = control.url.parse().map_err(|_| {
                check.invalid(
                    "control_plane.url",
                    format!("`{}` is not a URL", control.url),
                )
            })?;
            if !matches!(url.scheme_str(), Some("http" | "https")) || url.authority().is_none() {
                return Err(check.invalid(
                    "control_plane.url",
                    format!("`{}`: expected an http:// or https:// URL", control.url),
                ));
            }
            if control.token.is_empty() {
                return Err(check.invalid(
                    "control_plane.token",
                    "a token with the node role is required",
                ));
            }
            let public_key = match &control.public_key {
                None => None,
                Some(text) => {
                    let bytes: Option<[u8; 32]> = hex::decode(text.trim())
                        .ok()
                        .and_then(|b| b.try_into().ok());
                    let key = bytes.and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok());
                    Some(key.ok_or_else(|| {
                        check.invalid(
                            "control_plane.public_key",
                            "expected an ed25519 public key: 64 hex characters",
                        )
                    })?)
                }
            };
            Some(ControlPlaneConfig {
                url,
                token: control.token,
                data_dir: check.path(&control.data_dir),
                public_key,
            })
        }
    };
    let published =
        associations(&distributions).find(|a| matches!(a.function, FunctionRef::Published { .. }));
    if let (Some(association), None) = (published, &control_plane) {
        return Err(check.invalid(
            "control_plane",
            format!("{} needs a [control_plane] section", association.function),
        ));
    }

    Ok(NodeConfig {
        source: file.to_owned(),
        node_id,
        access_log,
        listeners,
        limits,
        admin,
        cache,
        runtime,
        distributions,
        control_plane,
    })
}

/// Validates one distribution as the control plane stores it: the TOML of one
/// `[[distributions]]` entry. `label` names it in errors.
pub(super) fn validate_remote(
    raw: RawDistribution,
    label: &Path,
    fuel_metering: bool,
) -> Result<DistributionConfig, ConfigError> {
    let check = Checker {
        file: label,
        dir: PathBuf::new(),
        remote: true,
    };
    validate_distribution(&check, "distribution", raw, fuel_metering)
}

fn runtime_config(check: &Checker<'_>, raw: &RawConfig) -> Result<RuntimeConfig, ConfigError> {
    let r = &raw.runtime;
    let mut config = RuntimeConfig::default();
    if let Some(max) = r.max_instances {
        config.max_instances = check.at_least("runtime.max_instances", Some(max), 1, 1)?;
    }
    config.allocation = match r.allocation.as_deref() {
        None | Some("pooling") => Allocation::Pooling,
        Some("on-demand") => Allocation::OnDemand,
        Some(other) => {
            return Err(check.invalid(
                "runtime.allocation",
                format!("`{other}`: expected \"pooling\" or \"on-demand\""),
            ));
        }
    };
    config.fuel_metering = r.fuel_metering.unwrap_or(false);
    if let Some(bytes) = r.max_guest_memory_bytes {
        config.max_guest_memory_bytes = check.at_least(
            "runtime.max_guest_memory_bytes",
            Some(bytes),
            bytes,
            wedge_runtime::MIN_MEMORY_BYTES,
        )?;
    }
    if let Some(bytes) = r.memory_keep_resident_bytes {
        config.memory_keep_resident_bytes = bytes;
    }
    config.compile_cache_dir = r.compile_cache_dir.as_deref().map(|dir| check.path(dir));
    Ok(config)
}

fn validate_distribution(
    check: &Checker<'_>,
    key: &str,
    raw: RawDistribution,
    fuel_metering: bool,
) -> Result<DistributionConfig, ConfigError> {
    crate::names::check_id("distribution id", &raw.id)
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
    raw: RawOrigin,
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
    if check.remote && raw.ca_file.is_some() {
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
    raw: RawBehavior,
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
    raw: Option<RawOriginRequest>,
) -> Result<OriginRequestPolicy, ConfigError> {
    let mut policy = if cache.enabled {
        OriginRequestPolicy::cache_key_only()
    } else {
        OriginRequestPolicy::forward_all()
    };
    let Some(raw) = raw else {
        return Ok(policy);
    };
    let names = |field: &str, raw: RawQueryStrings| match raw {
        RawQueryStrings::Keyword(word) if word == "all" => Ok(Forward::All),
        RawQueryStrings::Keyword(word) if word == "none" => Ok(Forward::Only(Vec::new())),
        RawQueryStrings::Keyword(word) => Err(check.invalid(
            format!("{key}.{field}"),
            format!("`{word}`: expected \"all\", \"none\" or a list of names"),
        )),
        RawQueryStrings::Names(names) => Ok(Forward::Only(names)),
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
    raw: RawCachePolicy,
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
        Some(RawQueryStrings::Keyword(word)) if word == "all" => QueryStrings::All,
        Some(RawQueryStrings::Keyword(word)) if word == "none" => QueryStrings::None,
        Some(RawQueryStrings::Keyword(word)) => {
            return Err(check.invalid(
                format!("{key}.query_strings"),
                format!("`{word}`: expected \"all\", \"none\" or a list of names"),
            ));
        }
        Some(RawQueryStrings::Names(names)) => QueryStrings::Only(names),
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
    raw: RawAssociation,
    fuel_metering: bool,
) -> Result<AssociationConfig, ConfigError> {
    let hook: Hook = raw.event.parse().map_err(|_| {
        check.invalid(
            format!("{key}.event"),
            format!(
                "`{}`: expected viewer-request, origin-request, origin-response or viewer-response",
                raw.event
            ),
        )
    })?;
    if raw.function.is_empty() {
        return Err(check.invalid(
            format!("{key}.function"),
            "expected the path of a .wasm component",
        ));
    }
    let published = raw
        .function
        .strip_prefix("control:")
        .or(check.remote.then_some(raw.function.as_str()));
    let function = match published {
        Some(published) => {
            let Some((name, selector)) = published
                .split_once('@')
                .filter(|(n, s)| !n.is_empty() && !s.is_empty())
            else {
                return Err(check.invalid(
                    format!("{key}.function"),
                    format!(
                        "`{}`: expected [control:]NAME@ALIAS or [control:]NAME@VERSION",
                        raw.function
                    ),
                ));
            };
            let selector = match selector.parse::<u32>() {
                Ok(version) => Selector::Version(version),
                Err(_) => Selector::Alias(selector.to_owned()),
            };
            FunctionRef::Published {
                function: name.to_owned(),
                selector,
            }
        }
        None => FunctionRef::File(
            check.path(raw.function.strip_prefix("file:").unwrap_or(&raw.function)),
        ),
    };
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
