//! Guests that take memory: the node's budget of guest memory holds, whatever the functions'
//! own caps allow, and what a burst took is given back.

use wedge_test_fixtures as fixtures;

use wedge_testkit::{HOST, Hook, NodeBuilder, Origin, Reply, Site, association, send};

#[tokio::test]
async fn a_memory_bomb_stops_at_the_node_budget_and_gives_it_back() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    let site = Site::new(origin.addr)
        .behavior("/bomb", "main", |b| {
            b.functions
                .push(association(Hook::ViewerRequest, fixtures::MEMORY_BOMB));
        })
        .function(Hook::ViewerRequest, fixtures::HELLO);
    // The bomb's own cap is the default 128 MiB; the node allows 32 MiB for all guests.
    let node = NodeBuilder::serving(site)
        .set("runtime", "max_guest_memory_bytes", 33_554_432)
        .start()
        .await;
    let mut bombs = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let addr = node.addr;
        bombs.spawn(async move {
            send(
                addr,
                HOST,
                http::Method::GET,
                "/bomb",
                &[],
                bytes::Bytes::new(),
            )
            .await
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
