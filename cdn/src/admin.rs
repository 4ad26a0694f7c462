//! The admin listener (loopback by default): `/healthz`, `/metrics`, `/status`,
//! `POST /purge` for invalidation by path, prefix or surrogate key, and `GET /logs` to read or
//! follow the access and function logs.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;
use wedge_listener::{Admission, AdmissionLimits};

use crate::cache::PurgeTarget;
use crate::node::NodeInner;

/// Largest purge request body.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// `POST /purge` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    /// Limit to one distribution (all if absent).
    distribution: Option<String>,
    /// Exact paths; a path ending in `*` purges the prefix before it.
    #[serde(default)]
    paths: Vec<String>,
    /// Surrogate keys.
    #[serde(default)]
    surrogate_keys: Vec<String>,
    /// Everything (in the distribution, if given).
    #[serde(default)]
    all: bool,
}

/// Connections the admin listener holds at once (operators and scrapers, not viewers).
const ADMIN_MAX_CONNECTIONS: u32 = 64;
/// Connections one client may hold on the admin listener before sending a request.
const ADMIN_MAX_FRESH_PER_CLIENT: u32 = 16;

/// What is checked before any admin request is served: that it was meant for this listener
/// (a page in an operator's browser reaching it by DNS rebinding names its own domain in
/// `Host`), that POST bodies are JSON (a cross-site form can only send text, urlencoded or
/// multipart bodies without a preflight), and, for `/purge` and `/logs`, a bearer token.
pub(crate) struct Guard {
    port: u16,
    tokens: Vec<String>,
}

impl Guard {
    /// A guard for the listener bound at `bound`, accepting `tokens` (the node file's admin
    /// token, the control-plane node token). With no token, `/purge` and `/logs` are closed.
    pub(crate) fn new(bound: std::net::SocketAddr, tokens: Vec<String>) -> Self {
        Self {
            port: bound.port(),
            tokens,
        }
    }

    /// The refusal for `request`, or `None` when it may be served.
    fn refusal<B>(&self, request: &Request<B>) -> Option<Response<Full<Bytes>>> {
        if !self.host_allowed(crate::intake::host_of(request)) {
            return Some(json_reply(
                StatusCode::MISDIRECTED_REQUEST,
                &json!({"error": "the Host must be this listener's address (an IP literal or localhost)"}),
            ));
        }
        if request.method() == Method::POST {
            let json_body = request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(';').next())
                .is_some_and(|value| value.trim().eq_ignore_ascii_case("application/json"));
            if !json_body {
                return Some(json_reply(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &json!({"error": "POST bodies are application/json"}),
                ));
            }
        }
        let guarded = matches!(request.uri().path(), "/purge" | "/logs");
        if guarded && !self.token_presented(request) {
            let mut reply = json_reply(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "a bearer token is required: [admin] token or the control-plane node token"}),
            );
            reply.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            return Some(reply);
        }
        None
    }

    /// An IP literal or `localhost`, on this listener's port: never a DNS name an attacker
    /// could point at loopback.
    fn host_allowed(&self, host: &str) -> bool {
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !name.is_empty() && !port.contains(']') => {
                (name, port.parse::<u16>().ok())
            }
            _ => (host, None),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let local_name =
            name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok();
        local_name && port == Some(self.port)
    }

    fn token_presented<B>(&self, request: &Request<B>) -> bool {
        let Some(presented) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
        else {
            return false;
        };
        // Every token is compared, in constant time.
        self.tokens.iter().fold(false, |found, token| {
            found | bool::from(token.as_bytes().ct_eq(presented.as_bytes()))
        })
    }
}

pub(crate) async fn serve(
    listener: TcpListener,
    guard: Guard,
    node: Arc<NodeInner>,
    shutdown: watch::Receiver<bool>,
) {
    let guard = Arc::new(guard);
    let admission = Arc::new(Admission::new(AdmissionLimits {
        max_connections: ADMIN_MAX_CONNECTIONS,
        max_fresh_per_client: ADMIN_MAX_FRESH_PER_CLIENT,
        shed_grace: wedge_listener::shed_grace(node.limits.header_read_timeout),
    }));
    let timeouts = crate::server::timeouts(&node.limits);
    let builder = Arc::new(crate::server::connection_builder(&node.limits));
    let handler = move |request: Request<Incoming>, _peer| {
        let node = Arc::clone(&node);
        let guard = Arc::clone(&guard);
        async move {
            if let Some(refusal) = guard.refusal(&request) {
                refusal.map(BodyExt::boxed)
            } else if request.uri().path() == "/logs" {
                logs(&node, &request).map(BodyExt::boxed)
            } else {
                route(&node, request).await.map(BodyExt::boxed)
            }
        }
    };
    wedge_listener::serve(
        listener, None, admission, timeouts, builder, handler, shutdown,
    )
    .await;
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", value.to_string())
}

/// `GET /logs?follow=1&tail=N&type=access|function&function=NAME&status=404|5xx`: the last
/// `tail` (default 100) matching lines, then, with `follow`, new ones as they come (NDJSON).
fn logs(
    node: &NodeInner,
    request: &Request<Incoming>,
) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
    if request.method() != Method::GET {
        return json_reply(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method not allowed"}),
        )
        .map(BodyExt::boxed);
    }
    let query = request.uri().query().unwrap_or("");
    let filter = match crate::log_tap::LogFilter::from_query(query) {
        Ok(filter) => filter,
        Err(error) => {
            return json_reply(StatusCode::BAD_REQUEST, &json!({"error": error}))
                .map(BodyExt::boxed);
        }
    };
    let mut tail = 100;
    let mut follow = false;
    for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
        match key {
            "tail" => tail = value.parse().unwrap_or(tail),
            "follow" => follow = matches!(value, "1" | "true" | "yes"),
            _ => {}
        }
    }
    let stream = node.access_log.tap().stream(filter, tail, follow);
    let mut response = Response::new(stream.boxed());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

async fn route(node: &NodeInner, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, "/metrics") => {
            update_gauges(node);
            reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                node.metrics.render(),
            )
        }
        (&Method::GET, "/status") => json_reply(StatusCode::OK, &status(node)),
        (&Method::POST, "/purge") => purge(node, request).await,
        (_, "/healthz" | "/metrics" | "/status" | "/purge") => json_reply(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method not allowed"}),
        ),
        _ => json_reply(StatusCode::NOT_FOUND, &json!({"error": "not found"})),
    }
}

fn update_gauges(node: &NodeInner) {
    let metrics = &node.metrics;
    metrics
        .cache_entries
        .set(i64::try_from(node.cache.entry_count()).unwrap_or(i64::MAX));
    metrics
        .cache_bytes
        .set(i64::try_from(node.cache.size_bytes()).unwrap_or(i64::MAX));
    metrics
        .cache_evictions
        .set(i64::try_from(node.cache.evictions()).unwrap_or(i64::MAX));
    let state = node.state.load();
    let mut seen = std::collections::HashSet::new();
    let in_use: u64 = state
        .associations()
        .filter_map(|(_, association)| association.function.as_ref().ok())
        .filter(|function| seen.insert(function.digest().to_owned()))
        .map(|function| u64::from(function.in_flight()))
        .sum();
    metrics
        .instances_in_use
        .set(i64::try_from(in_use).unwrap_or(i64::MAX));
    let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let admission = &node.admission;
    metrics.connections_open.set(gauge(admission.open() as u64));
    metrics.connections_shed.set(gauge(admission.shed_total()));
    metrics
        .connections_refused
        .set(gauge(admission.refused_total()));
    let (guest_memory, guest_memory_limit) = node.runtime.guest_memory();
    metrics.guest_memory_bytes.set(gauge(guest_memory));
    metrics
        .guest_memory_limit_bytes
        .set(gauge(guest_memory_limit));
}

fn status(node: &NodeInner) -> serde_json::Value {
    let state = node.state.load();
    let functions: Vec<_> = state
        .associations()
        .map(|(distribution, association)| match &association.function {
            Ok(function) => json!({
                "distribution": &*distribution.id,
                "hook": association.hook.as_str(),
                "function": function.name(),
                "version": function.version(),
                "digest": function.digest(),
            }),
            Err(reason) => json!({
                "distribution": &*distribution.id,
                "hook": association.hook.as_str(),
                "function": association.reference.to_string(),
                "unavailable": &**reason,
            }),
        })
        .collect();
    let guest_memory = node.runtime.guest_memory();
    json!({
        "node_id": node.node_id,
        "revision": *node.applied_revision.borrow(),
        "cache": {"entries": node.cache.entry_count(), "bytes": node.cache.size_bytes()},
        "guest_memory": {"in_use_bytes": guest_memory.0, "limit_bytes": guest_memory.1},
        "functions": functions,
    })
}

async fn purge(node: &NodeInner, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let body = match Limited::new(request.into_body(), MAX_ADMIN_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("reading the body: {error}")}),
            );
        }
    };
    let purge: PurgeRequest = match serde_json::from_slice(&body) {
        Ok(purge) => purge,
        Err(error) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("invalid purge request: {error}")}),
            );
        }
    };
    let mut targets: Vec<PurgeTarget> = purge
        .paths
        .iter()
        .map(|path| match path.strip_suffix('*') {
            Some(prefix) => PurgeTarget::Prefix(prefix.to_owned()),
            None => PurgeTarget::Path(path.clone()),
        })
        .collect();
    targets.extend(
        purge
            .surrogate_keys
            .iter()
            .cloned()
            .map(PurgeTarget::SurrogateKey),
    );
    if purge.all {
        targets.push(PurgeTarget::All);
    }
    if targets.is_empty() {
        return json_reply(
            StatusCode::BAD_REQUEST,
            &json!({"error": "name paths, surrogate_keys or all"}),
        );
    }
    let purged: usize = targets
        .iter()
        .map(|target| node.cache.purge(purge.distribution.as_deref(), target))
        .sum();
    tracing::info!(purged, ?targets, "purge");
    json_reply(StatusCode::OK, &json!({"purged": purged}))
}
