//! A node following a real control plane: publish and move an alias, and the node serves the
//! new version; the control plane goes away and the node keeps serving; a restart with the
//! control plane down serves from disk; a corrupted component is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use wedge_control::ControlPlane;
use wedge_control::config::ControlConfig;
use wedge_test_fixtures as fixtures;

const ADMIN: &str = "admin-token-0123456789";
const NODE: &str = "node-token-0123456789";

async fn start_control(dir: &std::path::Path, listen: &str) -> ControlPlane {
    start_control_with(dir, listen, "").await
}

async fn start_control_with(dir: &std::path::Path, listen: &str, extra: &str) -> ControlPlane {
    let path = dir.join("control.toml");
    std::fs::write(
        &path,
        format!(
            "{extra}\nlisten = \"{listen}\"\ndata_dir = \"data\"\ntokens = [\n {{ name = \"a\", token = \"{ADMIN}\", role = \"admin\" }},\n {{ name = \"n\", token = \"{NODE}\", role = \"node\" }},\n]\n"
        ),
    )
    .unwrap();
    ControlPlane::start(ControlConfig::load(&path).unwrap())
        .await
        .unwrap()
}

async fn admin(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: impl Into<Bytes>,
) -> serde_json::Value {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "control")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Full::new(body.into()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// Publishes `fixture` as a version of `site` and points `live` at version `live`.
async fn deploy(control: SocketAddr, fixture: &str, live: u32) {
    admin(
        control,
        Method::POST,
        "/v1/functions/site/versions",
        fixtures::bytes(fixture),
    )
    .await;
    let alias = format!("{{\"version\": {live}}}");
    admin(
        control,
        Method::PUT,
        "/v1/functions/site/aliases/live",
        alias,
    )
    .await;
}

fn node_config(origin: SocketAddr, control: SocketAddr, data: &std::path::Path) -> String {
    let base = config(
        origin,
        &with_function("viewer-request", "control:site@live", ""),
    );
    format!(
        "{base}\n[control_plane]\nurl = \"http://{control}\"\ntoken = \"{NODE}\"\ndata_dir = \"{}\"\n",
        data.display()
    )
}

/// Requests distinct paths until the origin sees `header` (the new version ran), returning
/// how long that took.
async fn until_origin_sees(node: &TestNode, origin: &Origin, header: &str) -> Duration {
    let started = Instant::now();
    for attempt in 0..300 {
        node.get(&format!("/probe-{header}-{attempt}")).await;
        if origin.last().header(header).is_some() {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the node never ran the version that sets {header}");
}

#[tokio::test]
async fn a_node_follows_deploys_survives_the_control_plane_and_refuses_corruption() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control_dir = tempfile::tempdir().unwrap();
    let control = start_control(control_dir.path(), "127.0.0.1:0").await;
    let control_addr = control.address();
    deploy(control_addr, fixtures::HELLO, 1).await;

    let node_data = tempfile::tempdir().unwrap();
    let mut node = start_node(&node_config(origin.addr, control_addr, node_data.path())).await;
    node.get("/first").await;
    assert_eq!(
        origin.last().header("x-hello"),
        Some("world"),
        "version 1 serves from the start"
    );
    // Revision 3 (v2 published, the alias still on v1) is fine to apply; 4 is refused.
    assert!(node.node.as_ref().unwrap().applied_revision() < 4);

    // Deploy: publish version 2 and move the alias; the node switches without a restart.
    deploy(control_addr, fixtures::ALL_HOOKS, 2).await;
    until_origin_sees(&node, &origin, "x-viewer-request").await;
    let status: serde_json::Value =
        serde_json::from_slice(&node.admin_get("/status").await.body).unwrap();
    assert_eq!(status["revision"], 4);
    // The control plane lists the node with the revision it reports on its next poll.
    let mut seen = serde_json::Value::Null;
    for _ in 0..100 {
        seen = admin(control_addr, Method::GET, "/v1/nodes", Bytes::new()).await;
        if seen["nodes"]["test-node"]["revision"] == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen["nodes"]["test-node"]["revision"], 4, "{seen}");
    assert!(
        seen["nodes"]["test-node"]["last_contact_ms"]
            .as_u64()
            .unwrap()
            > 0
    );

    // A corrupted component (its bytes no longer match its digest) is refused; version 2 stays.
    let published = admin(
        control_addr,
        Method::POST,
        "/v1/functions/site/versions",
        fixtures::bytes(fixtures::RESPOND),
    )
    .await;
    let digest = published["version"]["digest"].as_str().unwrap().to_owned();
    let blob = control_dir
        .path()
        .join("data/blobs")
        .join(&digest[..2])
        .join(&digest);
    std::fs::write(&blob, b"tampered").unwrap();
    admin(
        control_addr,
        Method::PUT,
        "/v1/functions/site/aliases/live",
        r#"{"version": 3}"#,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    node.get("/after-tamper").await;
    assert_eq!(
        origin.last().header("x-viewer-request"),
        Some("site@2"),
        "still version 2"
    );
    assert_eq!(
        node.get("/hello").await.x_cache(),
        "Miss from wedge",
        "the respond version never loaded"
    );

    // The control plane goes away: the node keeps serving.
    control.shutdown().await;
    node.get("/cp-down").await;
    assert_eq!(origin.last().header("x-viewer-request"), Some("site@2"));

    // A restart with the control plane still down serves from disk.
    node.stop().await;
    let restarted = start_node(&node_config(origin.addr, control_addr, node_data.path())).await;
    restarted.get("/restarted").await;
    assert_eq!(origin.last().header("x-viewer-request"), Some("site@2"));
}

/// A control plane that signs with the ed25519 seed `[seed; 32]`; returns it with the public
/// key in hex, as nodes configure it.
async fn start_signing_control(dir: &std::path::Path, seed: u8) -> (ControlPlane, String) {
    std::fs::write(dir.join("signing.key"), hex::encode([seed; 32])).unwrap();
    let control =
        start_control_with(dir, "127.0.0.1:0", "signing_key_file = \"signing.key\"").await;
    (control, public_key(seed))
}

/// The public key of the seed `[seed; 32]`, in hex.
fn public_key(seed: u8) -> String {
    hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes(),
    )
}

#[tokio::test]
async fn signed_components_are_verified_and_unsigned_or_mis_signed_ones_refused() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control_dir = tempfile::tempdir().unwrap();
    let (control, public) = start_signing_control(control_dir.path(), 7).await;
    let cp = control.address();
    let published = admin(
        cp,
        Method::POST,
        "/v1/functions/site/versions",
        fixtures::bytes(fixtures::HELLO),
    )
    .await;
    assert_eq!(
        published["version"]["signature"].as_str().unwrap().len(),
        128
    );
    admin(
        cp,
        Method::PUT,
        "/v1/functions/site/aliases/live",
        r#"{"version": 1}"#,
    )
    .await;

    let with_key = |key: &str, data: &std::path::Path| {
        format!(
            "{}public_key = \"{key}\"\n",
            node_config(origin.addr, cp, data)
        )
    };

    let trusted_data = tempfile::tempdir().unwrap();
    let trusted = start_node(&with_key(&public, trusted_data.path())).await;
    trusted.get("/signed").await;
    assert_eq!(origin.last().header("x-hello"), Some("world"));

    let other = public_key(9);
    let wrong_data = tempfile::tempdir().unwrap();
    // A node that cannot verify a component starts, with the function unavailable: under
    // `fail` its requests are refused (503), never served by unverified code.
    let mis_signed = start_node(&with_key(&other, wrong_data.path())).await;
    let refused = mis_signed.get("/mis-signed").await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("x-wedge-error"), Some("unavailable"));
    let status: serde_json::Value =
        serde_json::from_slice(&mis_signed.admin_get("/status").await.body).unwrap();
    let reason = status["functions"][0]["unavailable"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("signature does not verify"), "{status}");
    let blobs = std::fs::read_dir(wrong_data.path().join("blobs"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "an unverified component is never stored");
}

#[tokio::test]
async fn a_node_requiring_signatures_refuses_an_unsigned_deploy_and_keeps_serving() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control_dir = tempfile::tempdir().unwrap();
    let (signed, public) = start_signing_control(control_dir.path(), 3).await;
    let cp = signed.address();
    deploy(cp, fixtures::HELLO, 1).await;
    let data = tempfile::tempdir().unwrap();
    let node = start_node(&format!(
        "{}public_key = \"{public}\"\n",
        node_config(origin.addr, cp, data.path())
    ))
    .await;

    // The same data dir restarted without its signing key: new versions are unsigned.
    signed.shutdown().await;
    let unsigned = start_control(control_dir.path(), &cp.to_string()).await;
    deploy(cp, fixtures::ALL_HOOKS, 2).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    node.get("/still-v1").await;
    assert_eq!(
        origin.last().header("x-hello"),
        Some("world"),
        "the unsigned version 2 was refused"
    );
    assert_eq!(origin.last().header("x-viewer-request"), None);
    // Revision 4 moved the alias to the unsigned version: the node applied it without that
    // function (its distribution keeps its earlier copy) and says so.
    let entry = reported(cp, "test-node", 4).await;
    let problem = entry["not_served"]["site"].as_str().unwrap_or_default();
    assert!(problem.contains("unsigned"), "{entry}");
    unsigned.shutdown().await;
}

#[tokio::test]
async fn config_values_set_for_an_alias_reach_the_function() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control_dir = tempfile::tempdir().unwrap();
    let control = start_control(control_dir.path(), "127.0.0.1:0").await;
    let cp = control.address();
    deploy(cp, fixtures::ALL_HOOKS, 1).await;
    let data = tempfile::tempdir().unwrap();
    let node = start_node(&node_config(origin.addr, cp, data.path())).await;
    node.get("/before").await;
    assert_eq!(origin.last().header("x-greeting"), None);

    let body = r#"{"secrets": {"greeting": "from the control plane"}}"#;
    admin(
        cp,
        Method::PUT,
        "/v1/functions/site/aliases/live/config",
        body,
    )
    .await;
    until_origin_sees(&node, &origin, "x-greeting").await;
    assert_eq!(
        origin.last().header("x-greeting"),
        Some("from the control plane")
    );
}

/// A node with no distribution of its own: its sites come from the control plane.
fn bare_node_config(control: SocketAddr, data: &std::path::Path, own: &str) -> String {
    format!(
        "[node]\nid = \"bare\"\naccess_log = \"off\"\n[[listeners]]\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"127.0.0.1:0\"\n[control_plane]\nurl = \"http://{control}\"\ntoken = \"{NODE}\"\ndata_dir = \"{}\"\n{own}",
        data.display()
    )
}

/// The control plane's distribution `edge` in front of `origin`, `site@live` on viewer-request.
fn edge_distribution(origin: SocketAddr, association_extra: &str) -> String {
    format!(
        "domains = [\"*\"]\n[origins.main]\nurl = \"http://{origin}\"\n[default_behavior]\norigin = \"main\"\ncache = {{ enabled = false }}\n[[default_behavior.functions]]\nevent = \"viewer-request\"\nfunction = \"site@live\"\n{association_extra}"
    )
}

/// Waits until the control plane lists `node` at `revision`, and returns its entry.
async fn reported(control: SocketAddr, node: &str, revision: u64) -> serde_json::Value {
    let mut seen = serde_json::Value::Null;
    for _ in 0..250 {
        seen = admin(control, Method::GET, "/v1/nodes", Bytes::new()).await;
        if seen["nodes"][node]["revision"] == revision {
            return seen["nodes"][node].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{node} never reported revision {revision}: {seen}");
}

#[tokio::test]
async fn distributions_come_from_the_control_plane_and_one_a_node_cannot_serve_holds_back_only_itself()
 {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control_dir = tempfile::tempdir().unwrap();
    let control = start_control(control_dir.path(), "127.0.0.1:0").await;
    let cp = control.address();
    deploy(cp, fixtures::HELLO, 1).await;
    admin(
        cp,
        Method::PUT,
        "/v1/distributions/edge",
        edge_distribution(origin.addr, ""),
    )
    .await;
    let other = format!(
        "domains = [\"other.test\"]\n[origins.main]\nurl = \"http://{}\"\n[default_behavior]\norigin = \"main\"\ncache = {{ enabled = false }}\n",
        origin.addr
    );
    admin(cp, Method::PUT, "/v1/distributions/other", other.clone()).await;

    let data = tempfile::tempdir().unwrap();
    let node = start_node(&bare_node_config(cp, data.path(), "")).await;
    node.get("/a").await;
    assert_eq!(origin.last().header("x-hello"), Some("world"));
    let running = node.node.as_ref().unwrap();

    // A fuel budget is valid in the control plane, but this node does not meter fuel: it
    // cannot serve the new `edge`, keeps serving its previous copy and says so; the same
    // revision's change to `other` is applied all the same.
    let fuel = admin(
        cp,
        Method::PUT,
        "/v1/distributions/edge",
        edge_distribution(origin.addr, "fuel = 1000000\n"),
    )
    .await;
    let with_fuel = fuel["revision"].as_u64().unwrap();
    let moved = other.replace("other.test", "moved.test");
    let moved = admin(cp, Method::PUT, "/v1/distributions/other", moved).await;
    let moved = moved["revision"].as_u64().unwrap();
    assert!(moved > with_fuel);
    let entry = reported(cp, "bare", moved).await;
    let problem = entry["not_served"]["edge"].as_str().unwrap_or_default();
    assert!(problem.contains("fuel"), "{entry}");
    assert_eq!(running.applied_revision(), moved);
    node.get("/still-serving").await;
    assert_eq!(origin.last().header("x-hello"), Some("world"));
    let hits = origin.hits();
    let moved_reply = send_to_host(
        node.addr,
        "moved.test",
        Method::GET,
        "/x",
        &[],
        Bytes::new(),
    );
    assert_eq!(moved_reply.await.status, 200);
    assert_eq!(origin.hits(), hits + 1, "`other` moved to its new domain");

    // A newer revision that fixes `edge` is applied, and the node reports nothing held back.
    let fixed = admin(
        cp,
        Method::PUT,
        "/v1/distributions/edge",
        edge_distribution(origin.addr, "timeout_ms = 200\n"),
    )
    .await;
    let fixed = fixed["revision"].as_u64().unwrap();
    let entry = reported(cp, "bare", fixed).await;
    assert!(entry["not_served"].is_null(), "{entry}");

    // A control-plane distribution may not take the id of one in the node's own config: the
    // node starts with its own, and reports the control plane's as not served.
    let own = format!(
        "[[distributions]]\nid = \"edge\"\ndomains = [\"local\"]\n[distributions.origins.main]\nurl = \"http://{}\"\n[distributions.default_behavior]\norigin = \"main\"\n",
        origin.addr
    );
    let clash_dir = tempfile::tempdir().unwrap();
    let clash = start_node(
        &bare_node_config(cp, clash_dir.path(), &own).replace("id = \"bare\"", "id = \"clash\""),
    )
    .await;
    let entry = reported(cp, "clash", fixed).await;
    let problem = entry["not_served"]["edge"].as_str().unwrap_or_default();
    assert!(
        problem.contains("already has a distribution `edge`"),
        "{entry}"
    );
    let local = send_to_host(clash.addr, "local", Method::GET, "/x", &[], Bytes::new());
    assert_eq!(local.await.status, 200);
}

#[tokio::test]
async fn a_function_the_control_plane_does_not_have_yet_does_not_stop_a_node() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control_dir = tempfile::tempdir().unwrap();
    let control = start_control(control_dir.path(), "127.0.0.1:0").await;
    let cp = control.address();
    // The node's own distribution names control:site@live, which is not published yet.
    let bypass = |data: &std::path::Path| {
        node_config(origin.addr, cp, data).replace(
            "function = \"control:site@live\"",
            "function = \"control:site@live\"\non_error = \"bypass\"",
        )
    };
    let data = tempfile::tempdir().unwrap();
    let node = start_node(&bypass(data.path())).await;
    let passed = node.get("/before").await;
    assert_eq!(passed.status, 200, "bypass: served without the function");
    assert_eq!(origin.last().header("x-hello"), None);
    // Under `fail` the same node answers 503 `unavailable` until the function exists.
    let failing_data = tempfile::tempdir().unwrap();
    let failing = start_node(&node_config(origin.addr, cp, failing_data.path())).await;
    let refused = failing.get("/before").await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("x-wedge-error"), Some("unavailable"));

    // Published and aliased: both nodes pick it up without a restart.
    deploy(cp, fixtures::HELLO, 1).await;
    until_origin_sees(&node, &origin, "x-hello").await;
    until_origin_sees(&failing, &origin, "x-hello").await;
}

/// Serves `GET /v1/revisions/latest` with `revision` (once, then 204s) and blobs from
/// `blobs`: a stand-in for a control plane one release newer than this node.
async fn future_control_plane(
    revision: serde_json::Value,
    blobs: std::collections::HashMap<String, Vec<u8>>,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = revision.to_string();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            let blobs = blobs.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let body = body.clone();
                        let blobs = blobs.clone();
                        async move {
                            let path = request.uri().path().to_owned();
                            let query = request.uri().query().unwrap_or("").to_owned();
                            let mut response = http::Response::new(Full::new(Bytes::new()));
                            if path == "/v1/revisions/latest" && query.starts_with("after=0") {
                                *response.body_mut() = Full::new(Bytes::from(body));
                            } else if path == "/v1/revisions/latest" {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                *response.status_mut() = http::StatusCode::NO_CONTENT;
                            } else if let Some(digest) = path.strip_prefix("/v1/blobs/")
                                && let Some(bytes) = blobs.get(digest)
                            {
                                *response.body_mut() = Full::new(Bytes::from(bytes.clone()));
                            } else {
                                *response.status_mut() = http::StatusCode::NO_CONTENT;
                            }
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_node_one_release_behind_applies_what_it_understands_from_a_newer_control_plane() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let bytes = fixtures::bytes(fixtures::HELLO);
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    // Format 3 (newer than this release): new top-level keys, a new kind of change, a new key
    // in a behavior, and a distribution whose shape this release cannot read at all.
    let revision = serde_json::json!({
        "format": 3,
        "number": 7,
        "at_ms": 1,
        "region": "eu-west",
        "change": {"kind": "set-weights", "function": "site"},
        "state": {
            "functions": {"site": {
                "versions": [{"number": 1, "digest": digest, "size": bytes.len(),
                              "hooks": ["viewer-request"], "published_at_ms": 1,
                              "weight": 100}],
                "aliases": {"live": 1}
            }},
            "distributions": {
                "edge": {
                    "id": "edge",
                    "domains": ["*"],
                    "origins": {"main": {"url": format!("http://{}", origin.addr), "http3": true}},
                    "default_behavior": {
                        "origin": "main",
                        "cache": {"enabled": false},
                        "compression": {"brotli": true},
                        "functions": [{"event": "viewer-request", "function": "site@live"}]
                    }
                },
                "future": {"id": "future", "domains": {"match": "regex"}}
            }
        }
    });
    let cp = future_control_plane(
        revision,
        std::collections::HashMap::from([(digest.clone(), bytes)]),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let node = start_node(&bare_node_config(cp, data.path(), "")).await;
    assert_eq!(node.node.as_ref().unwrap().applied_revision(), 7);
    node.get("/a").await;
    assert_eq!(
        origin.last().header("x-hello"),
        Some("world"),
        "the distribution it understands is served, its function included"
    );
    // What it saved is what the control plane sent, unknown keys and all.
    let saved = std::fs::read_to_string(data.path().join("applied.json")).unwrap();
    assert!(saved.contains("compression") && saved.contains("\"format\":3"));
}
