//! Failure policies per association: `fail`, `bypass` and `stale`, on each hook.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::Duration;

use wedge_test_fixtures as fixtures;
use wedge_testkit::*;
use wedge_types::Hook;

/// A node with fail_on_header on all four hooks, every association with `policy`; its clock
/// moved by the test.
async fn all_hooks_with(origin: &Origin, policy: &str) -> TestNode {
    let mut site = Site::new(origin.addr);
    for hook in Hook::ALL {
        site = site.function_with(hook, fixtures::FAIL_ON_HEADER, |a| {
            a.on_error = Some(policy.to_owned());
        });
    }
    NodeBuilder::serving(site).manual_clock().start().await
}

#[tokio::test]
async fn fail_answers_503_for_a_failing_function_on_every_hook() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let node = all_hooks_with(&origin, "fail").await;
    for hook in [
        "viewer-request",
        "origin-request",
        "origin-response",
        "viewer-response",
    ] {
        // A distinct path per hook, so every request is a miss and reaches the hook.
        let reply = node
            .get_with(&format!("/{hook}"), &[("x-fail", hook)])
            .await;
        assert_eq!(reply.status, 503, "{hook}");
        assert_eq!(reply.header("x-wedge-error"), Some("guest-error"), "{hook}");
        assert_eq!(reply.x_cache(), "Error from wedge", "{hook}");
    }
    let lines = node.log_lines(4).await;
    assert_eq!(lines[0]["error"], "guest-error");
    assert_eq!(lines[0]["error_source"], "function");
    assert_eq!(lines[0]["hooks"][0]["error"], "guest-error");
}

#[tokio::test]
async fn bypass_goes_on_as_if_the_function_were_not_attached() {
    let origin = Origin::start(|_| Reply::ok("origin")).await;
    let node = all_hooks_with(&origin, "bypass").await;
    let reply = node
        .get_with("/a", &[("x-fail", "viewer-request,origin-response")])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "origin");
    assert_eq!(
        origin.last().header("x-viewer-request"),
        None,
        "the failed hook changed nothing"
    );
    assert_eq!(
        origin.last().header("x-origin-request"),
        Some("ok"),
        "the other hooks ran"
    );
    assert_eq!(reply.header("x-origin-response"), None);
    assert_eq!(reply.header("x-viewer-response"), Some("ok"));
    assert_eq!(
        reply.header("x-wedge-error"),
        Some("guest-error"),
        "the failure is still reported"
    );
}

#[tokio::test]
async fn stale_serves_the_stored_copy_or_fails_without_one() {
    let origin = Origin::start(|_| Reply::ok("stored").header("cache-control", "max-age=1")).await;
    let node = all_hooks_with(&origin, "stale").await;

    // Nothing stored yet: the stale policy has nothing to serve.
    let nothing = node
        .get_with("/page", &[("x-fail", "viewer-request")])
        .await;
    assert_eq!(nothing.status, 503);

    assert_eq!(node.get("/page").await.status, 200);
    // viewer-request fails: the stored (fresh) copy is served.
    let stale = node
        .get_with("/page", &[("x-fail", "viewer-request")])
        .await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.text(), "stored");
    assert_eq!(stale.x_cache(), "Hit from wedge");
    assert_eq!(stale.header("x-wedge-error"), Some("guest-error"));

    // Once the copy is stale, a miss goes to the origin; origin-response fails and the stale
    // copy is served in place of the new response.
    node.advance(Duration::from_millis(1100));
    let hits = origin.hits();
    let replaced = node
        .get_with("/page", &[("x-fail", "origin-response")])
        .await;
    assert_eq!(origin.hits(), hits + 1);
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.text(), "stored");
    assert_eq!(
        replaced.header("x-origin-response"),
        Some("ok"),
        "the copy stored before, with its hook edits"
    );
    assert_eq!(replaced.header("x-wedge-error"), Some("guest-error"));
    let lines = node.log_lines(4).await;
    assert_eq!(lines[3]["cache"], "stale-on-function-error");
}
