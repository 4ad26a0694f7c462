//! Guests that take memory: the node's budget of guest memory holds, whatever the functions'
//! own caps allow, and what a burst took is given back.

use wedge_test_fixtures as fixtures;

use crate::common::{Origin, Reply, config, start_node};

#[tokio::test]
async fn a_memory_bomb_stops_at_the_node_budget_and_gives_it_back() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let behaviors = format!(
        r#"
[[distributions.behaviors]]
path = "/bomb"
origin = "main"
[[distributions.behaviors.functions]]
event = "viewer-request"
function = "{}"

[distributions.default_behavior]
origin = "main"
[[distributions.default_behavior.functions]]
event = "viewer-request"
function = "{}"
"#,
        fixtures::MEMORY_BOMB,
        fixtures::HELLO
    );
    // The bomb's own cap is the default 128 MiB; the node allows 32 MiB for all guests.
    let toml = config(origin.addr, &behaviors).replacen(
        "[runtime]\n",
        "[runtime]\nmax_guest_memory_bytes = 33554432\n",
        1,
    );
    let node = start_node(&toml).await;
    let mut bombs = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let addr = node.addr;
        bombs.spawn(async move {
            crate::common::send(addr, http::Method::GET, "/bomb", &[], bytes::Bytes::new()).await
        });
    }
    while let Some(reply) = bombs.join_next().await {
        let reply = reply.unwrap();
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header("x-wedge-error"), Some("throttled"));
    }
    let status: serde_json::Value =
        serde_json::from_slice(&node.admin_get("/status").await.body).unwrap();
    assert_eq!(status["guest_memory"]["in_use_bytes"], 0, "{status}");
    assert_eq!(status["guest_memory"]["limit_bytes"], 33554432);
    assert_eq!(
        node.get("/page").await.status,
        200,
        "other functions still run"
    );
    assert_eq!(origin.hits(), 1);
}
