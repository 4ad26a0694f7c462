//! The README's first command, end to end: `wedge dev examples` builds every example from
//! source, publishes it to a fresh control plane, deploys `examples/distribution.toml` and serves
//! it from a node in front of demo origins that echo what they receive. Each example is then
//! checked through the node, as a user would with curl.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use serde_json::Value;
use wedge_testkit::{Answer, send};

/// `wedge dev`, killed when the test ends however it ends.
struct Dev {
    child: Child,
    node: SocketAddr,
    control: String,
    token: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wedge dev examples` and reads what it prints until it serves.
fn start_dev() -> Dev {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wedge"))
        .args(["dev", examples, "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // From here on the guard kills and reaps it, whatever happens.
    let mut dev = Dev {
        child,
        node: SocketAddr::from(([127, 0, 0, 1], 0)),
        control: String::new(),
        token: String::new(),
    };
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("wedge dev exited before serving (see its output above)")
            .unwrap();
        if let Some(rest) = line.split_once("WEDGE_CONTROL_URL=").map(|(_, r)| r) {
            let (url, rest) = rest.split_once(' ').unwrap();
            dev.control = url.to_owned();
            dev.token = rest
                .trim_start_matches("WEDGE_TOKEN=")
                .trim_end_matches(')')
                .to_owned();
        }
        if let Some(url) = line.strip_prefix("serving on http://") {
            dev.node = url.parse().unwrap();
            // Keep draining its output so it never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return dev;
        }
    }
}

/// What the demo origins received, from their JSON echo in a response.
trait Echoed {
    fn echo(&self) -> Value;
}

impl Echoed for Answer {
    fn echo(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not an echo: {}", self.text()))
    }
}

/// GETs `path` from the node for the demo's site.
async fn get(node: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    send(
        node,
        "shop.example",
        http::Method::GET,
        path,
        headers,
        Bytes::new(),
    )
    .await
}

async fn security_headers(node: SocketAddr) {
    let page = get(node, "/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("strict-transport-security")
            .unwrap()
            .contains("max-age=63072000")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page.header("referrer-policy").is_some());
}

async fn redirects(node: SocketAddr) {
    let upper = get(node, "/Docs/Intro", &[]).await;
    assert_eq!(upper.status, 301);
    assert_eq!(upper.header("location"), Some("/docs/intro"));
    let moved = get(node, "/old-blog/hello?x=1", &[]).await;
    assert_eq!(moved.status, 301);
    assert_eq!(moved.header("location"), Some("/blog/hello?x=1"));
    let directory = get(node, "/docs/", &[]).await;
    assert_eq!(directory.status, 200);
    assert_eq!(directory.echo()["uri"], "/docs/index.html");
    // `latest = "v2"` comes from the example's wedge.toml, set on the alias by wedge dev.
    let latest = get(node, "/latest/guide", &[]).await;
    assert_eq!(latest.echo()["uri"], "/v2/guide");
}

async fn ab_testing(node: SocketAddr) {
    let new_viewer = get(node, "/experiment/home", &[]).await;
    let bucket = new_viewer.header("x-ab-bucket").unwrap().to_owned();
    assert!(bucket == "a" || bucket == "b", "{bucket}");
    let cookie = new_viewer.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with(&format!("ab-bucket={bucket};")),
        "{cookie}"
    );
    assert!(cookie.contains("Max-Age="));
    for bucket in ["a", "b"] {
        let cookie = format!("ab-bucket={bucket}");
        let returning = get(node, "/experiment/page", &[("cookie", &cookie)]).await;
        assert_eq!(returning.header("x-ab-bucket"), Some(bucket));
        assert!(returning.header("set-cookie").is_none());
        // Each bucket is its own cache entry: the origin saw this bucket.
        assert_eq!(returning.echo()["headers"]["x-ab-bucket"], bucket);
    }
}

async fn origin_router(node: SocketAddr) {
    assert_eq!(get(node, "/api/users", &[]).await.echo()["origin"], "api");
    let canary = get(node, "/catalog", &[("x-backend", "canary")])
        .await
        .echo();
    assert_eq!(canary["origin"], "canary");
    assert!(canary["headers"]["x-backend"].is_null());
    assert!(canary["headers"]["x-wedge-origin"].is_null());
    // The same path without the header is main's answer, never the canary's cached one
    // (x-backend is in the shipped distribution's cache key).
    assert_eq!(get(node, "/catalog", &[]).await.echo()["origin"], "main");
    let again = get(node, "/catalog", &[("x-backend", "canary")]).await;
    assert_eq!(again.echo()["origin"], "canary");
}

async fn edge_response(dev: &Dev) {
    let whoami = get(dev.node, "/edge/whoami", &[]).await;
    assert_eq!(whoami.status, 200);
    assert_eq!(whoami.header("content-type"), Some("application/json"));
    let json = whoami.json();
    assert_eq!(json["path"], "/edge/whoami");
    assert_eq!(json["function"], "edge-response@1");
    assert_eq!(
        json["request_id"],
        whoami.header("x-wedge-request-id").unwrap()
    );
    assert_eq!(get(dev.node, "/edge/status", &[]).await.status, 200);

    // The maintenance page is a config switch: no rebuild, no redeploy.
    let status = Command::new(env!("CARGO_BIN_EXE_wedge"))
        .args(["config", "edge-response", "dev", "maintenance=on"])
        .args(["--control", &dev.control, "--token", &dev.token])
        .status()
        .unwrap();
    assert!(status.success());
    let page = wedge_testkit::eventually("the maintenance page", || async {
        let page = get(dev.node, "/edge/status", &[]).await;
        (page.status == 503).then_some(page)
    })
    .await;
    assert_eq!(page.header("retry-after"), Some("300"));
    assert!(page.text().contains("maintenance"));
}

async fn token_auth(node: SocketAddr) {
    let missing = get(node, "/private/report", &[]).await;
    assert_eq!(missing.status, 401);
    assert!(
        missing
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let wrong = get(
        node,
        "/private/report",
        &[("authorization", "Bearer guess")],
    )
    .await;
    assert_eq!(wrong.status, 403);
    let right = get(
        node,
        "/private/report",
        &[("authorization", "Bearer let-me-in")],
    )
    .await;
    assert_eq!(right.status, 200);
    assert!(right.echo()["headers"]["authorization"].is_null());
}

async fn cache_control(node: SocketAddr) {
    let asset = get(node, "/app.css", &[]).await;
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    for internal in ["server", "x-powered-by", "x-internal-build"] {
        assert!(asset.header(internal).is_none(), "{internal} leaked");
    }
    assert_eq!(
        get(node, "/app.css", &[]).await.header("x-cache"),
        Some("Hit from wedge")
    );
    let page = get(node, "/about", &[]).await;
    assert_eq!(
        page.header("cache-control"),
        Some("public, max-age=60, stale-while-revalidate=86400")
    );
}

#[tokio::test]
async fn every_example_does_its_job_under_wedge_dev() {
    let dev = tokio::task::spawn_blocking(start_dev).await.unwrap();
    security_headers(dev.node).await;
    redirects(dev.node).await;
    ab_testing(dev.node).await;
    origin_router(dev.node).await;
    edge_response(&dev).await;
    token_auth(dev.node).await;
    cache_control(dev.node).await;
}
