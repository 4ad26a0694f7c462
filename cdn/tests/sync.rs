//! A node following a real control plane: publish and move an alias, and the node serves the
//! new version; the control plane goes away and the node keeps serving; a restart with the
//! control plane down serves from disk; a corrupted or unsigned component is refused; one
//! distribution a node cannot serve holds back only itself; a newer control plane is read as
//! far as it is understood.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use wedge_test_fixtures as fixtures;
use wedge_testkit::control::ControlOptions;
use wedge_testkit::*;

/// Publishes `fixture` as a version of `site` and points `live` at version `live`; returns
/// the revision of the alias move.
async fn deploy(control: &TestControl, fixture: &str, live: u32) -> u64 {
    control.publish("site", fixtures::bytes(fixture)).await;
    let moved = control.set_alias("site", "live", live).await;
    moved["revision"].as_u64().unwrap()
}

/// A node serving `site` in front of `origin` with `site@live` on viewer-request, following
/// `control` with its state in `data`.
fn following(origin: SocketAddr, control: &TestControl, data: &std::path::Path) -> NodeBuilder {
    NodeBuilder::serving(Site::new(origin).function(Hook::ViewerRequest, "control:site@live"))
        .following(control, data)
}

/// Requests distinct paths until the origin sees `header` (the new version ran).
async fn until_origin_sees(node: &TestNode, origin: &Origin, header: &str) {
    let mut attempt = 0;
    eventually(&format!("the version that sets {header} to run"), || {
        attempt += 1;
        let path = format!("/probe-{header}-{attempt}");
        async move {
            node.get(&path).await;
            origin.last().header(header).is_some().then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn a_node_follows_deploys_survives_the_control_plane_and_refuses_corruption() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control_dir = tempfile::tempdir().unwrap();
    let mut control = TestControl::start_in(control_dir.path(), ControlOptions::default()).await;
    deploy(&control, fixtures::HELLO, 1).await;

    let node_data = tempfile::tempdir().unwrap();
    let mut node = following(origin.addr, &control, node_data.path())
        .start()
        .await;
    node.get("/first").await;
    assert_eq!(
        origin.last().header("x-hello"),
        Some("world"),
        "version 1 serves from the start"
    );

    // Deploy: publish version 2 and move the alias; the node switches without a restart.
    let moved = deploy(&control, fixtures::ALL_HOOKS, 2).await;
    node.applied(moved).await;
    until_origin_sees(&node, &origin, "x-viewer-request").await;
    assert_eq!(node.status().await["revision"], moved);
    // The control plane lists the node with the revision it reports.
    let seen = control.node_at("test-node", moved).await;
    assert!(seen["last_contact_ms"].as_u64().unwrap() > 0, "{seen}");

    // A corrupted component (its bytes no longer match its digest) is refused; version 2 stays.
    let published = control
        .publish("site", fixtures::bytes(fixtures::RESPOND))
        .await;
    let digest = published["version"]["digest"].as_str().unwrap().to_owned();
    let blob = control_dir
        .path()
        .join("data/blobs")
        .join(&digest[..2])
        .join(&digest);
    std::fs::write(&blob, b"tampered").unwrap();
    let tampered = control.set_alias("site", "live", 3).await;
    node.applied(tampered["revision"].as_u64().unwrap()).await;
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
    control.stop().await;
    node.get("/cp-down").await;
    assert_eq!(origin.last().header("x-viewer-request"), Some("site@2"));

    // A restart with the control plane still down serves from disk, version 2 included.
    node.stop().await;
    let restarted = following(origin.addr, &control, node_data.path())
        .start()
        .await;
    restarted.get("/restarted").await;
    assert_eq!(origin.last().header("x-viewer-request"), Some("site@2"));
}

/// The public key of the seed `[seed; 32]`, in hex, as nodes configure it.
fn public_key(seed: u8) -> String {
    hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes(),
    )
}

fn signing(seed: u8) -> ControlOptions {
    ControlOptions {
        signing_seed: Some(seed),
        ..ControlOptions::default()
    }
}

#[tokio::test]
async fn signed_components_are_verified_and_unsigned_or_mis_signed_ones_refused() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control = TestControl::start_with(signing(7)).await;
    let published = control
        .publish("site", fixtures::bytes(fixtures::HELLO))
        .await;
    assert_eq!(
        published["version"]["signature"].as_str().unwrap().len(),
        128
    );
    control.set_alias("site", "live", 1).await;

    let with_key = |key: &str, data: &std::path::Path| {
        following(origin.addr, &control, data).set("control_plane", "public_key", key)
    };
    let trusted_data = tempfile::tempdir().unwrap();
    let trusted = with_key(&public_key(7), trusted_data.path()).start().await;
    trusted.get("/signed").await;
    assert_eq!(origin.last().header("x-hello"), Some("world"));

    // A node that cannot verify a component starts, with the function unavailable: under
    // `fail` its requests are refused (503), never served by unverified code.
    let wrong_data = tempfile::tempdir().unwrap();
    let mis_signed = with_key(&public_key(9), wrong_data.path()).start().await;
    let refused = mis_signed.get("/mis-signed").await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("x-wedge-error"), Some("unavailable"));
    let status = mis_signed.status().await;
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
    let mut signed = TestControl::start_in(control_dir.path(), signing(3)).await;
    deploy(&signed, fixtures::HELLO, 1).await;
    let data = tempfile::tempdir().unwrap();
    let node = following(origin.addr, &signed, data.path())
        .set("control_plane", "public_key", public_key(3))
        .start()
        .await;

    // The same data dir restarted without its signing key: new versions are unsigned.
    signed.stop().await;
    let restart = ControlOptions {
        listen: Some(signed.address()),
        ..ControlOptions::default()
    };
    let unsigned = TestControl::start_in(control_dir.path(), restart).await;
    let moved = deploy(&unsigned, fixtures::ALL_HOOKS, 2).await;
    node.applied(moved).await;
    node.get("/still-v1").await;
    assert_eq!(
        origin.last().header("x-hello"),
        Some("world"),
        "the unsigned version 2 was refused"
    );
    assert_eq!(origin.last().header("x-viewer-request"), None);
    // The node applied the revision without that function (its distribution keeps its
    // earlier copy) and says so.
    let entry = unsigned.node_at("test-node", moved).await;
    let problem = entry["not_served"]["site"].as_str().unwrap_or_default();
    assert!(problem.contains("unsigned"), "{entry}");
    unsigned.shutdown().await;
}

#[tokio::test]
async fn config_values_set_for_an_alias_reach_the_function() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control = TestControl::start().await;
    deploy(&control, fixtures::ALL_HOOKS, 1).await;
    let data = tempfile::tempdir().unwrap();
    let node = following(origin.addr, &control, data.path()).start().await;
    node.get("/before").await;
    assert_eq!(origin.last().header("x-greeting"), None);

    let body = r#"{"secrets": {"greeting": "from the control plane"}}"#;
    let set = control
        .admin(Method::PUT, "/v1/functions/site/aliases/live/config", body)
        .await;
    node.applied(set["revision"].as_u64().unwrap()).await;
    until_origin_sees(&node, &origin, "x-greeting").await;
    assert_eq!(
        origin.last().header("x-greeting"),
        Some("from the control plane")
    );
}

/// A node with no distribution of its own: its sites come from the control plane.
fn bare(id: &str, control: &TestControl, data: &std::path::Path) -> NodeBuilder {
    NodeBuilder::new()
        .id(id)
        .set("node", "access_log", "off")
        .following(control, data)
}

/// The control plane's distribution `edge` in front of `origin`, `site@live` on
/// viewer-request, the association tuned by `tune`.
fn edge(
    origin: SocketAddr,
    tune: impl FnOnce(&mut wedge_types::distribution::AssociationSpec),
) -> String {
    Site::with_id("edge", origin)
        .tune_default(|b| b.cache.enabled = Some(false))
        .function_with(Hook::ViewerRequest, "site@live", tune)
        .toml()
}

#[tokio::test]
async fn distributions_come_from_the_control_plane_and_one_a_node_cannot_serve_holds_back_only_itself()
 {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control = TestControl::start().await;
    deploy(&control, fixtures::HELLO, 1).await;
    control
        .put_distribution("edge", edge(origin.addr, |_| {}))
        .await;
    let other = Site::with_id("other", origin.addr)
        .domains(&["other.test"])
        .tune_default(|b| b.cache.enabled = Some(false));
    control.put_distribution("other", other.toml()).await;

    let data = tempfile::tempdir().unwrap();
    let node = bare("bare", &control, data.path()).start().await;
    node.get("/a").await;
    assert_eq!(origin.last().header("x-hello"), Some("world"));

    // A fuel budget is valid in the control plane, but this node does not meter fuel: it
    // cannot serve the new `edge`, keeps serving its previous copy and says so; the next
    // revision's change to `other` is applied all the same.
    let fuel = edge(origin.addr, |a| a.fuel = Some(1_000_000));
    let with_fuel = control.put_distribution("edge", fuel).await;
    let with_fuel = with_fuel["revision"].as_u64().unwrap();
    let moved = control
        .put_distribution("other", other.domains(&["moved.test"]).toml())
        .await;
    let moved = moved["revision"].as_u64().unwrap();
    assert!(moved > with_fuel);
    let entry = control.node_at("bare", moved).await;
    let problem = entry["not_served"]["edge"].as_str().unwrap_or_default();
    assert!(problem.contains("fuel"), "{entry}");
    assert_eq!(node.running().applied_revision(), moved);
    node.get("/still-serving").await;
    assert_eq!(origin.last().header("x-hello"), Some("world"));
    let hits = origin.hits();
    let moved_reply = node
        .send_to_host("moved.test", Method::GET, "/x", &[], Bytes::new())
        .await;
    assert_eq!(moved_reply.status, 200);
    assert_eq!(origin.hits(), hits + 1, "`other` moved to its new domain");

    // A newer revision that fixes `edge` is applied, and the node reports nothing held back.
    let fixed = control
        .put_distribution("edge", edge(origin.addr, |a| a.timeout_ms = Some(200)))
        .await;
    let fixed = fixed["revision"].as_u64().unwrap();
    let entry = control.node_at("bare", fixed).await;
    assert!(entry["not_served"].is_null(), "{entry}");

    // A control-plane distribution may not take the id of one in the node's own config: the
    // node starts with its own, and reports the control plane's as not served.
    let clash_dir = tempfile::tempdir().unwrap();
    let own = Site::with_id("edge", origin.addr).domains(&["local"]);
    let clash = bare("clash", &control, clash_dir.path())
        .distribution(own)
        .start()
        .await;
    let entry = control.node_at("clash", fixed).await;
    let problem = entry["not_served"]["edge"].as_str().unwrap_or_default();
    assert!(
        problem.contains("already has a distribution `edge`"),
        "{entry}"
    );
    let local = clash
        .send_to_host("local", Method::GET, "/x", &[], Bytes::new())
        .await;
    assert_eq!(local.status, 200);
}

#[tokio::test]
async fn a_function_the_control_plane_does_not_have_yet_does_not_stop_a_node() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let control = TestControl::start().await;
    // The node's own distribution names control:site@live, which is not published yet.
    let data = tempfile::tempdir().unwrap();
    let bypass =
        Site::new(origin.addr).function_with(Hook::ViewerRequest, "control:site@live", |a| {
            a.on_error = Some("bypass".into());
        });
    let node = NodeBuilder::serving(bypass)
        .following(&control, data.path())
        .start()
        .await;
    let passed = node.get("/before").await;
    assert_eq!(passed.status, 200, "bypass: served without the function");
    assert_eq!(origin.last().header("x-hello"), None);
    // Under `fail` the same node answers 503 `unavailable` until the function exists.
    let failing_data = tempfile::tempdir().unwrap();
    let failing = following(origin.addr, &control, failing_data.path())
        .start()
        .await;
    let refused = failing.get("/before").await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("x-wedge-error"), Some("unavailable"));

    // Published and aliased: both nodes pick it up without a restart.
    let moved = deploy(&control, fixtures::HELLO, 1).await;
    node.applied(moved).await;
    failing.applied(moved).await;
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
    let node = NodeBuilder::new()
        .id("bare")
        .set("node", "access_log", "off")
        .following_url(&format!("http://{cp}"), data.path())
        .start()
        .await;
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

#[tokio::test]
async fn a_node_upgraded_during_an_outage_serves_what_the_previous_release_saved() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let bytes = fixtures::bytes(fixtures::HELLO);
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    // What a node of the previous release saved: its own subset of the revision, format 1.
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("blobs")).unwrap();
    std::fs::write(data.path().join(format!("blobs/{digest}.wasm")), &bytes).unwrap();
    let saved = serde_json::json!({
        "number": 2,
        "state": {"functions": {"site": {
            "versions": [{"number": 1, "digest": digest}],
            "aliases": {"live": 1}
        }}}
    });
    std::fs::write(data.path().join("applied.json"), saved.to_string()).unwrap();
    // The control plane is away: nothing listens where the node looks for it.
    let away = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", away.local_addr().unwrap());
    drop(away);
    let node = NodeBuilder::serving(
        Site::new(origin.addr).function(Hook::ViewerRequest, "control:site@live"),
    )
    .following_url(&url, data.path())
    .start()
    .await;
    assert_eq!(node.running().applied_revision(), 2);
    assert_eq!(node.get("/").await.status, 200);
    assert_eq!(origin.last().header("x-hello"), Some("world"));
}
