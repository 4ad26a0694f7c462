//! Raw config → validated config. Each check names the key it looked at.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::Uri;
use wedge_runtime::{Allocation, RuntimeConfig};
use wedge_types::check::Checker;

use super::raw::{RawAdmin, RawCache, RawConfig, RawControlPlane, RawLimits, RawListener, RawNode};
use super::*;

fn address(check: &Checker<'_>, key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value
        .parse()
        .map_err(|_| check.invalid(key, format!("`{value}` is not an IP:port address")))
}

pub(super) fn validate(raw: RawConfig, file: &Path) -> Result<NodeConfig, ConfigError> {
    let check = Checker::local(file);
    let (node_id, access_log) = node_section(&check, &raw.node)?;
    let listeners = listeners(&check, &raw.listeners)?;
    let limits = limits(&check, &raw.limits)?;
    let admin = admin(&check, raw.admin.as_ref())?;
    let cache = cache(&check, &raw.cache)?;
    let runtime = runtime_config(&check, &raw)?;
    if raw.distributions.is_empty() && raw.control_plane.is_none() {
        return Err(check.invalid(
            "distributions",
            "at least one [[distributions]] entry is required (or a [control_plane] to take them from)",
        ));
    }
    let distributions = distributions(&check, raw.distributions, runtime.fuel_metering)?;
    let control_plane = raw
        .control_plane
        .map(|section| control_plane(&check, section))
        .transpose()?;
    let published =
        associations(&distributions).find(|a| matches!(a.function, FunctionRef::Published(_)));
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

/// `[node]`: the node's id and where its access log goes.
fn node_section(
    check: &Checker<'_>,
    raw: &RawNode,
) -> Result<(String, AccessLogTarget), ConfigError> {
    let node_id = raw.id.clone().unwrap_or_else(|| DEFAULT_NODE_ID.to_owned());
    wedge_types::names::node_id(&node_id).map_err(|problem| check.invalid("node.id", problem))?;
    let access_log = match raw.access_log.as_deref() {
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

    Ok((node_id, access_log))
}

/// `[[listeners]]`.
fn listeners(check: &Checker<'_>, raw: &[RawListener]) -> Result<Vec<ListenerConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(check.invalid("listeners", "at least one [[listeners]] entry is required"));
    }
    let mut listeners = Vec::new();
    for (index, listener) in raw.iter().enumerate() {
        let key = format!("listeners[{index}]");
        let address = address(check, &format!("{key}.address"), &listener.address)?;
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

    Ok(listeners)
}

/// `[limits]`.
fn limits(check: &Checker<'_>, l: &RawLimits) -> Result<ServerLimits, ConfigError> {
    Ok(ServerLimits {
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
    })
}

/// `[admin]`.
fn admin(check: &Checker<'_>, raw: Option<&RawAdmin>) -> Result<Option<AdminConfig>, ConfigError> {
    let admin = match raw {
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
                address: address(check, "admin.address", &admin.address)?,
                token: admin.token.clone(),
            })
        }
        None => None,
    };

    Ok(admin)
}

/// `[cache]`.
fn cache(check: &Checker<'_>, c: &RawCache) -> Result<CacheConfig, ConfigError> {
    Ok(CacheConfig {
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
    })
}

/// `[[distributions]]`: each validated, ids unique, no domain claimed twice.
fn distributions(
    check: &Checker<'_>,
    raw: Vec<DistributionSpec>,
    fuel_metering: bool,
) -> Result<Vec<DistributionConfig>, ConfigError> {
    let mut ids = HashSet::new();
    let mut distributions = Vec::new();
    for (index, distribution) in raw.into_iter().enumerate() {
        let key = format!("distributions[{index}]");
        if !ids.insert(distribution.id.clone()) {
            return Err(check.invalid(
                format!("{key}.id"),
                format!("`{}` is used twice", distribution.id),
            ));
        }
        distributions.push(distribution.validate(check, &key, fuel_metering)?);
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

    Ok(distributions)
}

/// `[control_plane]`.
fn control_plane(
    check: &Checker<'_>,
    control: RawControlPlane,
) -> Result<ControlPlaneConfig, ConfigError> {
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
    Ok(ControlPlaneConfig {
        url,
        token: control.token,
        data_dir: check.path(&control.data_dir),
        public_key,
    })
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
