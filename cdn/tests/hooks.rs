//! Each hook's semantics on a real node: when it runs (and does not), what its changes do,
//! what is cached, and Lambda@Edge's rules on what it may change.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use bytes::Bytes;
use http::Method;
use wedge_test_fixtures as fixtures;
use wedge_testkit::*;

fn cached(body: &str) -> Reply {
    Reply::ok(body).header("cache-control", "max-age=60")
}

#[tokio::test]
async fn all_four_hooks_run_on_a_miss_and_only_viewer_hooks_on_a_hit() {
    let origin = Origin::start(|_| cached("from origin")).await;
    let mut site = Site::new(origin.addr);
    for hook in Hook::ALL {
        site = site.function_with(hook, fixtures::ALL_HOOKS, |a| {
            if hook == Hook::ViewerRequest {
                a.config.insert("greeting".into(), "hi".into());
            }
        });
    }
    let node = NodeBuilder::serving(site).start().await;

    let miss = node.get("/page").await;
    assert_eq!(miss.status, 200);
    assert_eq!(miss.x_cache(), "Miss from wedge");
    let seen = origin.last();
    assert_eq!(seen.header("x-viewer-request"), Some("all_hooks@local"));
    assert_eq!(seen.header("x-origin-request"), Some("all_hooks@local"));
    assert_eq!(seen.header("x-greeting"), Some("hi"));
    assert_eq!(seen.header("x-distribution"), Some("site"));
    assert_eq!(
        seen.header("x-request-id"),
        miss.header("x-wedge-request-id")
    );
    assert_eq!(miss.header("x-origin-response"), Some("all_hooks@local"));
    assert_eq!(miss.header("x-viewer-response"), Some("all_hooks@local"));

    let hit = node.get("/page").await;
    assert_eq!(hit.x_cache(), "Hit from wedge");
    assert_eq!(origin.hits(), 1, "a hit does not reach the origin");
    // origin-response's edit was cached; viewer-response ran again on the hit.
    assert_eq!(hit.header("x-origin-response"), Some("all_hooks@local"));
    assert_eq!(hit.header("x-viewer-response"), Some("all_hooks@local"));
    assert_eq!(hit.text(), "from origin");

    let lines = node.log_lines(2).await;
    let hooks = |line: &serde_json::Value| -> Vec<String> {
        line["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["hook"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        hooks(&lines[0]),
        [
            "viewer-request",
            "origin-request",
            "origin-response",
            "viewer-response"
        ]
    );
    assert_eq!(
        hooks(&lines[1]),
        ["viewer-request", "viewer-response"],
        "origin-request does not run on a hit"
    );
    assert_eq!(lines[1]["cache"], "hit");
    assert_eq!(lines[0]["cache"], "miss");
    let receipt = &lines[0]["hooks"][0];
    assert!(
        receipt["run_us"].as_u64().is_some() && receipt["peak_memory_bytes"].as_u64().unwrap() > 0
    );
    assert_eq!(
        lines[0]["request_id"].as_str(),
        miss.header("x-wedge-request-id")
    );
}

#[tokio::test]
async fn a_response_generated_at_viewer_request_is_not_cached() {
    let origin = Origin::start(|_| cached("origin")).await;
    let node = NodeBuilder::serving(
        Site::new(origin.addr).function(Hook::ViewerRequest, fixtures::RESPOND),
    )
    .start()
    .await;
    for _ in 0..2 {
        let reply = node.get("/hello").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "hello from the edge");
        assert_eq!(reply.header("x-generated"), Some("1"));
        assert_eq!(reply.x_cache(), "FunctionGeneratedResponse from wedge");
    }
    assert_eq!(origin.hits(), 0);
    assert_eq!(node.get("/other").await.x_cache(), "Miss from wedge");
    let lines = node.log_lines(3).await;
    assert_eq!(lines[1]["cache"], "generated");
}

#[tokio::test]
async fn a_response_generated_at_origin_request_is_cached() {
    let origin = Origin::start(|_| cached("origin")).await;
    let node = NodeBuilder::serving(
        Site::new(origin.addr).function(Hook::OriginRequest, fixtures::ORIGIN_ROUTER),
    )
    .start()
    .await;
    let first = node.get("/generated/a").await;
    assert_eq!(first.text(), "generated for /generated/a");
    assert_eq!(first.x_cache(), "FunctionGeneratedResponse from wedge");
    let second = node.get("/generated/a").await;
    assert_eq!(second.x_cache(), "Hit from wedge");
    assert_eq!(second.text(), "generated for /generated/a");
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn origin_request_may_pick_another_origin_by_name() {
    let main = Origin::start(|_| Reply::ok("main")).await;
    let alt = Origin::start(|_| Reply::ok("alt")).await;
    let site = Site::new(main.addr)
        .origin("alt", alt.addr)
        .function(Hook::OriginRequest, fixtures::ORIGIN_ROUTER);
    let node = NodeBuilder::serving(site).start().await;
    let picked = node.get_with("/x", &[("x-pick-origin", "alt")]).await;
    assert_eq!(picked.text(), "alt");
    assert_eq!(alt.last().header("x-origin-router"), Some("1"));
    assert_eq!(
        alt.last().header("x-wedge-origin"),
        None,
        "the selector is never forwarded"
    );
    assert_eq!(node.get("/y").await.text(), "main");
    let unknown = node.get_with("/z", &[("x-pick-origin", "nowhere")]).await;
    assert_eq!(unknown.status, 502);
    assert_eq!(unknown.header("x-wedge-error"), Some("invalid-output"));
}

#[tokio::test]
async fn breaking_a_header_rule_is_a_502() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let site = Site::new(origin.addr)
        .function(Hook::ViewerRequest, fixtures::RULE_BREAKER)
        .function(Hook::ViewerResponse, fixtures::RULE_BREAKER);
    let node = NodeBuilder::serving(site).start().await;
    for path in ["/change-host", "/add-via", "/change-encoding"] {
        let reply = node.get(path).await;
        assert_eq!(reply.status, 502, "{path}");
        assert_eq!(
            reply.header("x-wedge-error"),
            Some("invalid-output"),
            "{path}"
        );
        assert_eq!(reply.x_cache(), "Error from wedge");
    }
    assert_eq!(node.get("/fine").await.status, 200);
    let lines = node.log_lines(4).await;
    assert!(
        lines[0]["error_detail"].as_str().unwrap().contains("host"),
        "{}",
        lines[0]
    );
}

#[tokio::test]
async fn invalid_function_output_is_a_502() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let node = NodeBuilder::serving(
        Site::new(origin.addr).function(Hook::ViewerRequest, fixtures::INVALID_OUTPUT),
    )
    .start()
    .await;
    for path in ["/status", "/header-value", "/oversized"] {
        let reply = node.get(path).await;
        assert_eq!(reply.status, 502, "{path}");
        assert_eq!(reply.header("x-wedge-error"), Some("invalid-output"));
    }
    assert_eq!(origin.hits(), 0);
}

#[tokio::test]
async fn the_body_reaches_a_function_only_when_the_association_includes_it() {
    let origin = Origin::start(|_| Reply::ok("stored")).await;
    let with_body = NodeBuilder::serving(Site::new(origin.addr).function_with(
        Hook::ViewerRequest,
        fixtures::BODY_UPPER,
        |a| a.include_body = Some(true),
    ))
    .start()
    .await;
    let reply = with_body
        .send(Method::POST, "/upload", &[], Bytes::from_static(b"abc"))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(origin.last().body, Bytes::from_static(b"ABC"));
    assert_eq!(origin.last().header("x-body-seen"), Some("yes"));
    assert_eq!(origin.last().header("content-length"), Some("3"));

    let without = NodeBuilder::serving(
        Site::new(origin.addr).function(Hook::ViewerRequest, fixtures::BODY_UPPER),
    )
    .start()
    .await;
    without
        .send(Method::POST, "/upload", &[], Bytes::from_static(b"abc"))
        .await;
    assert_eq!(origin.last().body, Bytes::from_static(b"abc"));
    assert_eq!(origin.last().header("x-body-seen"), Some("no"));
}

#[tokio::test]
async fn a_function_timeout_is_a_503() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let node = NodeBuilder::serving(Site::new(origin.addr).function_with(
        Hook::ViewerRequest,
        fixtures::SPIN_FOREVER,
        |a| a.timeout_ms = Some(20),
    ))
    .start()
    .await;
    let reply = node.get("/").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("x-wedge-error"), Some("timeout"));
    assert_eq!(origin.hits(), 0);
}

/// Collects what the node logs through tracing, as JSON lines.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// current_thread: the node's tasks run on this thread, where the capturing subscriber is set.
#[tokio::test(flavor = "current_thread")]
async fn guest_logs_carry_the_request_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let origin = Origin::start(|_| Reply::ok("x")).await;
    let node = NodeBuilder::serving(
        Site::new(origin.addr).function(Hook::ViewerRequest, fixtures::ALL_HOOKS),
    )
    .start()
    .await;
    let reply = node.get("/logged").await;
    let request_id = reply.header("x-wedge-request-id").unwrap().to_owned();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let guest_line = text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|line| line["target"] == "wedge::guest")
        .unwrap_or_else(|| panic!("no guest log line in:\n{text}"));
    assert_eq!(guest_line["fields"]["request_id"], request_id.as_str());
    assert_eq!(
        guest_line["fields"]["message"],
        "viewer-request for /logged"
    );
    assert_eq!(guest_line["fields"]["function"], "all_hooks");
    assert_eq!(guest_line["fields"]["hook"], "viewer-request");
    assert_eq!(guest_line["level"], "INFO");
}

#[tokio::test]
async fn a_reload_swaps_functions_in_whole_and_a_bad_one_changes_nothing() {
    let origin = Origin::start(|_| Reply::ok("x")).await;
    let node =
        NodeBuilder::serving(Site::new(origin.addr).function(Hook::ViewerRequest, fixtures::HELLO))
            .start()
            .await;
    node.get("/1").await;
    assert_eq!(origin.last().header("x-hello"), Some("world"));

    let reload = |builder: NodeBuilder| builder.load_in(node.dir.path()).unwrap();
    let running = node.node.as_ref().unwrap();
    let broken = reload(NodeBuilder::serving(
        Site::new(origin.addr).function(Hook::ViewerRequest, "/nonexistent.wasm"),
    ));
    assert!(running.reload(&broken).await.is_err());
    node.get("/2").await;
    assert_eq!(
        origin.last().header("x-hello"),
        Some("world"),
        "still the old function"
    );

    let swapped = reload(NodeBuilder::serving(
        Site::new(origin.addr).function(Hook::ViewerRequest, fixtures::ALL_HOOKS),
    ));
    running.reload(&swapped).await.unwrap();
    node.get("/3").await;
    assert_eq!(origin.last().header("x-hello"), None);
    assert_eq!(
        origin.last().header("x-viewer-request"),
        Some("all_hooks@local")
    );
}
