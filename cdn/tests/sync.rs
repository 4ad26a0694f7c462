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
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, with_key(&other, wrong_data.path())).unwrap();
    let config = wedge_cdn::config::NodeConfig::load(&path).unwrap();
    let error = wedge_cdn::RunningNode::start(config)
        .await
        .err()
        .expect("a mis-signed component is refused")
        .to_string();
    assert!(error.contains("signature does not verify"), "{error}");
    assert!(
        !wrong_data.path().join("applied.json").exists(),
        "nothing refused is saved"
    );
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
    // Revision 3 (v2 published, the alias still on v1) is fine to apply; 4 is refused.
    assert!(node.node.as_ref().unwrap().applied_revision() < 4);
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

#[tokio::test]
async fn distributions_come_from_the_control_plane_and_one_a_node_cannot_serve_is_refused() {
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

    let data = tempfile::tempdir().unwrap();
    let node = start_node(&bare_node_config(cp, data.path(), "")).await;
    node.get("/a").await;
    assert_eq!(origin.last().header("x-hello"), Some("world"));
    let running = node.node.as_ref().unwrap();
    let applied = running.applied_revision();

    // A fuel budget is valid in the control plane, but this node does not meter fuel: it
    // refuses the revision with a log line and keeps serving the one it had.
    let fuel = admin(
        cp,
        Method::PUT,
        "/v1/distributions/edge",
        edge_distribution(origin.addr, "fuel = 1000000\n"),
    )
    .await;
    let refused = fuel["revision"].as_u64().unwrap();
    assert!(refused > applied);
    // A newer revision that fixes it is applied; the refused one never was.
    let fixed = admin(
        cp,
        Method::PUT,
        "/v1/distributions/edge",
        edge_distribution(origin.addr, "timeout_ms = 200\n"),
    )
    .await;
    let fixed = fixed["revision"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.applied_revision() != fixed {
        assert_ne!(
            running.applied_revision(),
            refused,
            "applied a revision it cannot serve"
        );
        assert!(Instant::now() < deadline, "never applied revision {fixed}");
        node.get("/still-serving").await;
        assert_eq!(origin.last().header("x-hello"), Some("world"));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A control-plane distribution may not take the id of one in the node's own config.
    let own = format!(
        "[[distributions]]\nid = \"edge\"\ndomains = [\"local\"]\n[distributions.origins.main]\nurl = \"http://{}\"\n[distributions.default_behavior]\norigin = \"main\"\n",
        origin.addr
    );
    let clash_dir = tempfile::tempdir().unwrap();
    let path = clash_dir.path().join("node.toml");
    std::fs::write(&path, bare_node_config(cp, clash_dir.path(), &own)).unwrap();
    let config = wedge_cdn::config::NodeConfig::load(&path).unwrap();
    let error = wedge_cdn::RunningNode::start(config).await.err().unwrap();
    assert!(
        error
            .to_string()
            .contains("already has a distribution `edge`"),
        "{error}"
    );
}
