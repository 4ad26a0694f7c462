//! The admin listener (loopback by default): `/healthz`, `/metrics`, `/status`,
//! `POST /purge` for invalidation by path, prefix or surrogate key, and `GET /logs` to read or
//! follow the access and function logs.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

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

pub(crate) async fn serve(
    listener: TcpListener,
    node: Arc<NodeInner>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!("admin accept failed: {error}");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let node = Arc::clone(&node);
                async move {
                    let response = if request.uri().path() == "/logs" {
                        logs(&node, &request).map(BodyExt::boxed)
                    } else {
                        route(&node, request).await.map(BodyExt::boxed)
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
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
        .filter(|(_, association)| seen.insert(association.function.digest().to_owned()))
        .map(|(_, association)| u64::from(association.function.in_flight()))
        .sum();
    metrics
        .instances_in_use
        .set(i64::try_from(in_use).unwrap_or(i64::MAX));
}

fn status(node: &NodeInner) -> serde_json::Value {
    let state = node.state.load();
    let functions: Vec<_> = state
        .associations()
        .map(|(distribution, association)| {
            json!({
                "distribution": &*distribution.id,
                "hook": association.hook.as_str(),
                "function": association.function.name(),
                "version": association.function.version(),
                "digest": association.function.digest(),
            })
        })
        .collect();
    json!({
        "node_id": node.node_id,
        "revision": node.applied_revision.load(std::sync::atomic::Ordering::Relaxed),
        "cache": {"entries": node.cache.entry_count(), "bytes": node.cache.size_bytes()},
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
