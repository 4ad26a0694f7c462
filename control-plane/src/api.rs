//! The HTTP/JSON API. Writes need an admin token; listings a read or admin token; the
//! node-facing endpoints (revisions, blobs: they carry secret config values) a node or admin
//! token.
//!
//! | method | path | role | what |
//! |---|---|---|---|
//! | GET | `/healthz` | none | liveness |
//! | GET | `/v1/token` | any | the role of the token sent (the CLI checks it before building) |
//! | POST | `/v1/functions/{name}/versions` | admin | publish a component (body: the bytes) |
//! | GET | `/v1/functions` | read | functions, versions, aliases, config (secrets shown as `***`) |
//! | PUT | `/v1/functions/{name}/aliases/{alias}` | admin | `{"version": N}` |
//! | DELETE | `/v1/functions/{name}/aliases/{alias}` | admin | remove an alias (refused while a distribution follows it) |
//! | PUT | `/v1/functions/{name}/aliases/{alias}/config` | admin | `{"values": {..}, "secrets": {..}}` |
//! | GET | `/v1/distributions` | read | distributions by id (wedge-types' `DistributionSpec` as JSON) |
//! | PUT | `/v1/distributions/{id}` | admin | create or replace (body: the TOML of one `[[distributions]]` entry) |
//! | DELETE | `/v1/distributions/{id}` | admin | remove |
//! | POST | `/v1/distributions/{id}/deploy` | admin | `{"behavior": "default"\|PATTERN, "event": HOOK, "function": NAME, "alias": A \| "version": N, "on_error": P}` |
//! | POST | `/v1/distributions/{id}/detach` | admin | `{"behavior": "default"\|PATTERN, "event": HOOK}` |
//! | POST | `/v1/rollback` | admin | `{"to": REVISION}`, or `{}` for the revision before the one in effect |
//! | GET | `/v1/revisions?limit=N` | read | the newest N revisions (default 20), newest first, without their states |
//! | GET | `/v1/revisions/latest?after=N&wait_ms=M` | node | the newest revision past N, waiting up to M ms (204 if none) |
//! | GET | `/v1/revisions/{n}` | node | one revision |
//! | GET | `/v1/blobs/{sha256}` | node | a component's bytes |
//! | GET | `/v1/nodes` | read | nodes seen polling, with their applied revision, last contact and the distributions they could not serve |
//! | POST | `/v1/nodes/{id}/report` | node | `{"revision": N, "distributions": {ID: PROBLEM}}` after each apply |
//!
//! Writes answer `{"revision": N, "changed": BOOL}`: a write that changes nothing (deploying
//! what is already deployed) appends no revision. Revisions travel in wedge-types' versioned
//! wire format. Nodes name themselves in `x-wedge-node` when they poll; `after` is their
//! applied revision. At most 10,000 nodes are tracked ([`MAX_NODES`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;

use crate::auth::{self, Access, Role, Token};
use crate::service::{Service, ServiceError, Written};

/// The longest a long poll may wait.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Largest JSON body.
const MAX_JSON_BODY: usize = 64 * 1024;
/// Largest distribution (TOML) body.
const MAX_DISTRIBUTION_BODY: usize = 1024 * 1024;

/// What the routes share.
pub(crate) struct Api {
    pub(crate) service: Service,
    pub(crate) tokens: Vec<Token>,
    pub(crate) nodes: std::sync::Mutex<std::collections::BTreeMap<String, NodeSeen>>,
}

/// The most nodes the control plane keeps track of: a node token cannot grow the list
/// without bound by naming ever new nodes.
pub(crate) const MAX_NODES: usize = 10_000;

/// The entry of `node`, made if there is room.
fn node_entry<'a>(
    nodes: &'a mut std::collections::BTreeMap<String, NodeSeen>,
    node: &str,
) -> Option<&'a mut NodeSeen> {
    if !nodes.contains_key(node) && nodes.len() >= MAX_NODES {
        return None;
    }
    Some(nodes.entry(node.to_owned()).or_default())
}

/// What the control plane knows of a node from its polls and reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct NodeSeen {
    /// The revision the node said it applied.
    pub(crate) revision: u64,
    /// Its last poll (ms since the Unix epoch).
    pub(crate) last_contact_ms: u64,
    /// Distributions of that revision the node could not serve, with why.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(crate) not_served: std::collections::BTreeMap<String, String>,
}

type Reply = Response<Full<Bytes>>;

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn error_reply(status: StatusCode, message: impl std::fmt::Display) -> Reply {
    json_reply(status, &json!({ "error": message.to_string() }))
}

fn service_error(error: &ServiceError) -> Reply {
    let status = match error {
        ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
        ServiceError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!("{error}");
    }
    error_reply(status, error)
}

/// Which tokens may do what a role is needed for, for refusals.
fn needs(role: Role) -> &'static str {
    match role {
        Role::Admin => "an admin token",
        Role::Read => "a read or admin token",
        Role::Node => "a node or admin token",
    }
}

/// The refusal for `access` where `needed` is required, or `None` when it may go on. Each
/// says what was wrong and what is needed.
fn denial(access: Access, needed: Role) -> Option<Reply> {
    match (access, needed) {
        (Access::Anonymous, _) => Some(error_reply(
            StatusCode::UNAUTHORIZED,
            format!(
                "no token was sent: this needs {} (`Authorization: Bearer TOKEN`; the CLI takes --token or WEDGE_TOKEN)",
                needs(needed)
            ),
        )),
        (Access::Unknown, _) => Some(error_reply(
            StatusCode::UNAUTHORIZED,
            format!(
                "the token sent is not one this control plane knows (check --token or WEDGE_TOKEN against its control.toml): this needs {}",
                needs(needed)
            ),
        )),
        (Access::Granted(Role::Admin), _)
        | (Access::Granted(Role::Read), Role::Read)
        | (Access::Granted(Role::Node), Role::Node) => None,
        (Access::Granted(role), _) => Some(error_reply(
            StatusCode::FORBIDDEN,
            format!(
                "the token sent has the {} role, and this needs {}",
                role.as_str(),
                needs(needed)
            ),
        )),
    }
}

/// The reply to a write: the revision in effect and whether this write made it.
fn written_reply(written: Written) -> Reply {
    json_reply(
        StatusCode::OK,
        &json!({"revision": written.revision.number, "changed": written.changed}),
    )
}

/// A revision in the wire format nodes read.
fn wire_reply(revision: &crate::model::Revision) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(wedge_types::wire::encode(revision))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

impl Api {
    pub(crate) async fn route(self: Arc<Self>, request: Request<Incoming>) -> Reply {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let access = auth::check(&self.tokens, authorization);
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or("").to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let (&Method::GET, ["v1", "token"]) = (&method, segments.as_slice()) {
            return match access {
                Access::Granted(role) => {
                    json_reply(StatusCode::OK, &json!({"role": role.as_str()}))
                }
                _ => denial(access, Role::Read)
                    .unwrap_or_else(|| error_reply(StatusCode::UNAUTHORIZED, "no token")),
            };
        }
        let needed = match (&method, segments.as_slice()) {
            (&Method::GET, ["healthz"]) => None,
            (&Method::POST, ["v1", "functions", _, "versions"])
            | (&Method::PUT | &Method::DELETE, ["v1", "functions", _, "aliases", _])
            | (&Method::PUT, ["v1", "functions", _, "aliases", _, "config"])
            | (&Method::PUT | &Method::DELETE, ["v1", "distributions", _])
            | (&Method::POST, ["v1", "distributions", _, "deploy" | "detach"])
            | (&Method::POST, ["v1", "rollback"]) => Some(Role::Admin),
            (
                &Method::GET,
                ["v1", "functions"]
                | ["v1", "nodes"]
                | ["v1", "distributions"]
                | ["v1", "revisions"],
            ) => Some(Role::Read),
            (&Method::GET, ["v1", "revisions", _] | ["v1", "blobs", _])
            | (&Method::POST, ["v1", "nodes", _, "report"]) => Some(Role::Node),
            _ => {
                return error_reply(
                    StatusCode::NOT_FOUND,
                    format!("no endpoint {method} {path}"),
                );
            }
        };
        if let Some(role) = needed
            && let Some(reply) = denial(access, role)
        {
            return reply;
        }
        let node = request
            .headers()
            .get("x-wedge-node")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = Upload::new(request);
        let outcome = match (&method, segments.as_slice()) {
            (_, ["healthz"]) => Ok(json_reply(StatusCode::OK, &json!({"ok": true}))),
            (_, ["v1", "functions", name, "versions"]) => self.publish(name, body).await,
            (_, ["v1", "functions"]) => self.functions().await,
            (_, ["v1", "functions", name, "aliases", alias, "config"]) => {
                self.set_config(name, alias, body).await
            }
            (&Method::DELETE, ["v1", "functions", name, "aliases", alias]) => self
                .service
                .remove_alias(name, alias)
                .await
                .map(written_reply),
            (_, ["v1", "functions", name, "aliases", alias]) => {
                self.set_alias(name, alias, body).await
            }
            (_, ["v1", "distributions"]) => self.distributions().await,
            (&Method::PUT, ["v1", "distributions", id]) => self.put_distribution(id, body).await,
            (_, ["v1", "distributions", id]) => self
                .service
                .delete_distribution(id)
                .await
                .map(written_reply),
            (_, ["v1", "distributions", id, "deploy"]) => self.deploy(id, body).await,
            (_, ["v1", "distributions", id, "detach"]) => self.detach(id, body).await,
            (_, ["v1", "rollback"]) => self.rollback(body).await,
            (_, ["v1", "revisions", "latest"]) => self.latest(&query, node).await,
            (_, ["v1", "nodes"]) => Ok(self.nodes()),
            (_, ["v1", "nodes", id, "report"]) => self.report(id, body).await,
            (_, ["v1", "revisions"]) => self.history(&query).await,
            (_, ["v1", "revisions", number]) => self.revision(number).await,
            (_, ["v1", "blobs", digest]) => self.blob(digest).await,
            _ => Ok(error_reply(StatusCode::NOT_FOUND, "no such endpoint")),
        };
        outcome.unwrap_or_else(|error| service_error(&error))
    }

    async fn publish(&self, name: &str, body: Upload) -> Result<Reply, ServiceError> {
        let bytes = body.read(self.service.max_component_bytes()).await?;
        let published = self.service.publish(name, bytes.to_vec()).await?;
        let status = if published.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(json_reply(
            status,
            &serde_json::to_value(&published).unwrap_or_default(),
        ))
    }

    async fn functions(&self) -> Result<Reply, ServiceError> {
        let latest = self.service.latest().await?;
        let (revision, mut functions) =
            latest.map_or((0, Default::default()), |r| (r.number, r.state.functions));
        // Secret values never leave through the listing.
        for config in functions.values_mut().flat_map(|f| f.config.values_mut()) {
            for key in &config.secret_keys {
                if let Some(value) = config.values.get_mut(key) {
                    *value = "***".to_owned();
                }
            }
        }
        Ok(json_reply(
            StatusCode::OK,
            &json!({"revision": revision, "functions": functions}),
        ))
    }

    async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        body: Upload,
    ) -> Result<Reply, ServiceError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct SetAlias {
            version: u32,
        }
        let SetAlias { version } = read_json(body).await?;
        self.service
            .set_alias(name, alias, version)
            .await
            .map(written_reply)
    }

    async fn set_config(
        &self,
        name: &str,
        alias: &str,
        body: Upload,
    ) -> Result<Reply, ServiceError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct SetConfig {
            #[serde(default)]
            values: std::collections::BTreeMap<String, String>,
            #[serde(default)]
            secrets: std::collections::BTreeMap<String, String>,
        }
        let SetConfig { values, secrets } = read_json(body).await?;
        self.service
            .set_config(name, alias, values, secrets)
            .await
            .map(written_reply)
    }

    async fn distributions(&self) -> Result<Reply, ServiceError> {
        let latest = self.service.latest().await?;
        let (revision, distributions) = latest.map_or((0, Default::default()), |r| {
            (r.number, r.state.distributions)
        });
        Ok(json_reply(
            StatusCode::OK,
            &json!({"revision": revision, "distributions": distributions}),
        ))
    }

    async fn put_distribution(&self, id: &str, body: Upload) -> Result<Reply, ServiceError> {
        let bytes = body.read(MAX_DISTRIBUTION_BODY).await?;
        let source = std::str::from_utf8(&bytes)
            .map_err(|_| ServiceError::Invalid("a distribution is UTF-8 TOML".into()))?;
        self.service
            .put_distribution(id, source)
            .await
            .map(written_reply)
    }

    async fn deploy(&self, id: &str, body: Upload) -> Result<Reply, ServiceError> {
        let attachment: crate::distribution::Attachment = read_json(body).await?;
        self.service
            .deploy(id, &attachment)
            .await
            .map(written_reply)
    }

    async fn detach(&self, id: &str, body: Upload) -> Result<Reply, ServiceError> {
        let detachment: crate::distribution::Detachment = read_json(body).await?;
        self.service
            .detach(id, &detachment)
            .await
            .map(written_reply)
    }

    async fn rollback(&self, body: Upload) -> Result<Reply, ServiceError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Rollback {
            #[serde(default)]
            to: Option<u64>,
        }
        let Rollback { to } = read_json(body).await?;
        let written = self.service.rollback(to).await?;
        let restored = match &written.revision.change {
            crate::model::Change::Rollback { to } => *to,
            _ => written.revision.number,
        };
        Ok(json_reply(
            StatusCode::OK,
            &json!({"revision": written.revision.number, "restored": restored, "changed": written.changed}),
        ))
    }

    fn nodes(&self) -> Reply {
        let nodes = self
            .nodes
            .lock()
            .map(|nodes| nodes.clone())
            .unwrap_or_default();
        json_reply(StatusCode::OK, &json!({ "nodes": nodes }))
    }

    fn saw(&self, node: Option<String>, revision: u64) {
        let Some(node) = node.filter(|n| wedge_types::names::node_id(n).is_ok()) else {
            return;
        };
        if let Ok(mut nodes) = self.nodes.lock()
            && let Some(seen) = node_entry(&mut nodes, &node)
        {
            seen.revision = revision;
            seen.last_contact_ms = crate::model::now_ms();
        }
    }

    /// A node's report after it applied a revision: which distributions it could not serve.
    async fn report(&self, node: &str, body: Upload) -> Result<Reply, ServiceError> {
        #[derive(serde::Deserialize)]
        struct Report {
            revision: u64,
            #[serde(default)]
            distributions: std::collections::BTreeMap<String, String>,
        }
        wedge_types::names::node_id(node).map_err(ServiceError::Invalid)?;
        let report: Report = read_json(body).await?;
        if let Ok(mut nodes) = self.nodes.lock()
            && let Some(seen) = node_entry(&mut nodes, node)
        {
            seen.revision = report.revision;
            seen.last_contact_ms = crate::model::now_ms();
            seen.not_served = report.distributions;
        }
        Ok(json_reply(StatusCode::OK, &json!({"ok": true})))
    }

    /// `GET /v1/revisions?limit=N`: the newest revisions, newest first, without states.
    async fn history(&self, query: &str) -> Result<Reply, ServiceError> {
        let mut limit = 20;
        for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
            match key {
                "limit" => {
                    limit = value.parse().map_err(|_| {
                        ServiceError::Invalid(format!("query `limit`: `{value}` is not a number"))
                    })?;
                }
                _ => {
                    return Err(ServiceError::Invalid(format!(
                        "unknown query parameter `{key}`"
                    )));
                }
            }
        }
        let entries = self.service.history(limit.min(1000)).await?;
        Ok(json_reply(StatusCode::OK, &json!({ "revisions": entries })))
    }

    async fn latest(&self, query: &str, node: Option<String>) -> Result<Reply, ServiceError> {
        let mut after = 0;
        let mut wait = Duration::ZERO;
        for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
            let number: u64 = value.parse().map_err(|_| {
                ServiceError::Invalid(format!("query `{key}`: `{value}` is not a number"))
            })?;
            match key {
                "after" => after = number,
                "wait_ms" => wait = Duration::from_millis(number).min(MAX_WAIT),
                _ => {
                    return Err(ServiceError::Invalid(format!(
                        "unknown query parameter `{key}`"
                    )));
                }
            }
        }
        self.saw(node, after);
        match self.service.wait_past(after, wait).await? {
            Some(revision) => Ok(wire_reply(&revision)),
            None => {
                let mut reply = Response::new(Full::new(Bytes::new()));
                *reply.status_mut() = StatusCode::NO_CONTENT;
                Ok(reply)
            }
        }
    }

    async fn revision(&self, number: &str) -> Result<Reply, ServiceError> {
        let number: u64 = number
            .parse()
            .map_err(|_| ServiceError::Invalid(format!("`{number}` is not a revision number")))?;
        let revision = self.service.revision(number).await?;
        Ok(wire_reply(&revision))
    }

    async fn blob(&self, digest: &str) -> Result<Reply, ServiceError> {
        let bytes = self
            .service
            .blob(digest)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no blob {digest}")))?;
        let mut reply = Response::new(Full::new(Bytes::from(bytes)));
        reply.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/wasm"),
        );
        if let Ok(etag) = http::HeaderValue::from_str(&format!("\"{digest}\"")) {
            reply.headers_mut().insert(header::ETAG, etag);
        }
        Ok(reply)
    }
}

/// A request body with the length its head declared.
pub(crate) struct Upload {
    body: Incoming,
    declared: Option<u64>,
}

impl Upload {
    fn new(request: Request<Incoming>) -> Self {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Self {
            body: request.into_body(),
            declared,
        }
    }

    /// The whole body, at most `limit` bytes: 413 at once when the declared length is over
    /// it (nothing is read), or as soon as the bytes read are.
    async fn read(self, limit: usize) -> Result<Bytes, ServiceError> {
        let too_large = |size: usize| ServiceError::TooLarge { size, limit };
        if let Some(declared) = self.declared
            && declared > limit as u64
        {
            return Err(too_large(usize::try_from(declared).unwrap_or(usize::MAX)));
        }
        match Limited::new(self.body, limit).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                Err(too_large(limit + 1))
            }
            Err(error) => Err(ServiceError::Invalid(format!("reading the body: {error}"))),
        }
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(body: Upload) -> Result<T, ServiceError> {
    let bytes = body.read(MAX_JSON_BODY).await?;
    serde_json::from_slice(&bytes)
        .map_err(|error| ServiceError::Invalid(format!("invalid JSON body: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_list_is_bounded_but_known_nodes_keep_reporting() {
        let mut nodes = std::collections::BTreeMap::new();
        for n in 0..MAX_NODES {
            assert!(node_entry(&mut nodes, &format!("node-{n}")).is_some());
        }
        assert!(node_entry(&mut nodes, "one-too-many").is_none());
        assert!(node_entry(&mut nodes, "node-7").is_some());
        assert_eq!(nodes.len(), MAX_NODES);
    }
}
