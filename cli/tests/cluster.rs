//! End to end on loopback: one control plane, two nodes following it, everything done with the
//! `wedge` binary — publish, apply a distribution file, deploy a function to a hook, move the
//! alias, roll back, list, read a node's logs — then the control plane goes away and a node is
//! restarted from its disk.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use wedge_cdn::RunningNode;
use wedge_cdn::config::NodeConfig;
use wedge_control::ControlPlane;
use wedge_control::config::ControlConfig;
use wedge_test_fixtures as fixtures;

const ADMIN: &str = "admin-token-0123456789";
const NODE: &str = "node-token-0123456789";

async fn start_control(dir: &Path) -> ControlPlane {
    let path = dir.join("control.toml");
    std::fs::write(
        &path,
        format!("listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\ntokens = [\n {{ name = \"a\", token = \"{ADMIN}\", role = \"admin\" }},\n {{ name = \"n\", token = \"{NODE}\", role = \"node\" }},\n]\n"),
    )
    .unwrap();
    ControlPlane::start(ControlConfig::load(&path).unwrap())
        .await
        .unwrap()
}

/// A node named `id` with no distribution of its own: everything comes from the control plane.
async fn start_node(dir: &Path, id: &str, control: SocketAddr) -> RunningNode {
    let text = format!(
        "[node]\nid = \"{id}\"\naccess_log = \"{id}-access.log\"\n[[listeners]]\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"127.0.0.1:0\"\n[control_plane]\nurl = \"http://{control}\"\ntoken = \"{NODE}\"\ndata_dir = \"{}\"\n",
        dir.join(id).display()
    );
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, &text).unwrap();
    RunningNode::start(NodeConfig::load(&path).unwrap())
        .await
        .unwrap()
}

/// An origin answering with a JSON echo of the request headers.
async fn echo_origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                        let headers: serde_json::Map<String, Value> = request
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or(""))))
                            .collect();
                        let body = Value::Object(headers).to_string();
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(body))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// GETs `path` from a node; returns the body.
async fn get(node: SocketAddr, path: &str) -> String {
    let stream = tokio::net::TcpStream::connect(node).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header("host", "www.example")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

/// Runs `wedge ARGS` against the control plane; panics with its stderr if it fails.
async fn wedge(control: SocketAddr, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wedge"));
    command.args(args);
    // The control plane's URL and token belong to the commands that talk to it (not `logs`,
    // which talks to a node).
    if !args.contains(&"logs") {
        command.args(["--control", &format!("http://{control}"), "--token", ADMIN]);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "wedge {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `check` holds for the body of `/hello` on every node (bounded: a node that
/// never gets there fails the test).
async fn until_all(nodes: &[SocketAddr], what: &str, check: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for node in nodes {
        loop {
            let body = get(*node, "/hello").await;
            if check(&body) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {node} never served {what}; last answer: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn added_header(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v["x-hello"] == "world")
}

fn generated(body: &str) -> bool {
    body == "hello from the edge"
}

#[tokio::test]
async fn publish_deploy_move_roll_back_and_survive_the_control_plane_on_two_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let control = start_control(dir.path()).await;
    let cp = control.address();
    let origin = echo_origin().await;
    let first = start_node(dir.path(), "edge-1", cp).await;
    let second = start_node(dir.path(), "edge-2", cp).await;
    let nodes = [first.listeners()[0], second.listeners()[0]];

    // Version 1 adds a request header; the site is applied from a file, then the function is
    // attached to its default behavior.
    let out = wedge(
        cp,
        &["publish", "--file", fixtures::HELLO, "--name", "site"],
    )
    .await;
    assert!(out.contains("published site version 1"), "{out}");
    wedge(cp, &["alias", "set", "site", "live", "1"]).await;
    let site = dir.path().join("site.toml");
    std::fs::write(
        &site,
        format!("[[distributions]]\nid = \"www\"\ndomains = [\"www.example\"]\n[distributions.origins.app]\nurl = \"http://{origin}\"\n[distributions.default_behavior]\norigin = \"app\"\ncache = {{ enabled = false }}\n"),
    )
    .unwrap();
    let out = wedge(cp, &["deploy", "--file", site.to_str().unwrap()]).await;
    assert!(out.contains("applied distributions www"), "{out}");
    let out = wedge(cp, &["deploy", "site@live", "--distribution", "www"]).await;
    assert!(
        out.contains("deployed site@live on viewer-request"),
        "{out}"
    );
    until_all(&nodes, "version 1", added_header).await;

    // Version 2 answers /hello itself; moving the alias is all it takes.
    let out = wedge(
        cp,
        &["publish", "--file", fixtures::RESPOND, "--name", "site"],
    )
    .await;
    assert!(out.contains("version 2"), "{out}");
    wedge(cp, &["alias", "set", "site", "live", "2"]).await;
    until_all(&nodes, "version 2", generated).await;

    // Rolling back restores the previous revision: version 1 again everywhere.
    let out = wedge(cp, &["rollback"]).await;
    assert!(out.contains("restored revision"), "{out}");
    until_all(&nodes, "the rolled-back version 1", added_header).await;

    // The control plane lists both nodes at its latest revision.
    let listed: Value = serde_json::from_str(&wedge(cp, &["--json", "ls"]).await).unwrap();
    let latest = listed["revision"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed: Value = serde_json::from_str(&wedge(cp, &["--json", "ls"]).await).unwrap();
        let at_latest = ["edge-1", "edge-2"]
            .iter()
            .all(|id| listed["nodes"][id]["revision"].as_u64() == Some(latest));
        if at_latest {
            assert_eq!(listed["distributions"]["www"]["id"], "www", "{listed}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nodes not listed at {latest}: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(first.applied_revision(), latest);

    // A node's log tap: the last access lines, filtered by function and status.
    let admin = format!("http://{}", first.admin().unwrap());
    let logs = wedge(
        cp,
        &[
            "--json",
            "logs",
            "--node",
            &admin,
            "--node-token",
            NODE,
            "--function",
            "site",
            "--status",
            "2xx",
            "--tail",
            "3",
        ],
    )
    .await;
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{logs}");
    for line in &lines {
        assert_eq!(line["type"], "access");
        assert_eq!(line["status"], 200);
        assert!(
            line["hooks"][0]["function"]
                .as_str()
                .unwrap()
                .starts_with("site@")
        );
    }

    // Detaching the function leaves the site serving without it; rolling back brings it back.
    let out = wedge(
        cp,
        &["deploy", "--detach", "-d", "www", "-e", "viewer-request"],
    )
    .await;
    assert!(out.contains("removed the viewer-request function"), "{out}");
    until_all(&nodes, "the site without a function", |body| {
        serde_json::from_str::<Value>(body).is_ok_and(|v| v["x-hello"].is_null())
    })
    .await;
    let out = wedge(cp, &["rollback", "--to", &latest.to_string()]).await;
    assert!(
        out.contains(&format!("restored revision {latest}")),
        "{out}"
    );
    until_all(&nodes, "version 1 again", added_header).await;

    // The control plane goes away: both nodes keep serving what they had.
    control.shutdown().await;
    for node in nodes {
        assert!(added_header(&get(node, "/hello").await));
    }
    // A node restarted while it is away serves from its disk at once.
    first.shutdown().await;
    let restarted = start_node(dir.path(), "edge-1", cp).await;
    assert_eq!(restarted.applied_revision(), latest + 2);
    assert!(added_header(&get(restarted.listeners()[0], "/hello").await));
    restarted.shutdown().await;
    second.shutdown().await;
}
