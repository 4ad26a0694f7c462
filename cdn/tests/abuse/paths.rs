//! Path tricks that would skip a path-based function or poison the cache under another
//! behavior: one normalisation at intake, used for matching, keying and forwarding.

use wedge_test_fixtures as fixtures;

use wedge_testkit::{
    Hook, NodeBuilder, Origin, Reply, Site, TestNode, association, raw, raw_status,
};

/// `/admin/*` runs a viewer-request function that refuses everything (`guest_error`: 503);
/// every other path goes to the origin.
async fn guarded_admin(origin: std::net::SocketAddr) -> TestNode {
    let site = Site::new(origin).behavior("/admin/*", "main", |b| {
        b.functions
            .push(association(Hook::ViewerRequest, fixtures::GUEST_ERROR));
    });
    NodeBuilder::serving(site).start().await
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nhost: site.test\r\nconnection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn no_spelling_of_a_guarded_path_reaches_the_origin() {
    let origin = Origin::start(|_| Reply::ok("secret").header("cache-control", "max-age=60")).await;
    let node = guarded_admin(origin.addr).await;
    for trick in [
        "/admin/secret.txt",
        "/public/../admin/secret.txt",
        "/public/%2e%2e/admin/secret.txt",
        "/public/%2E%2E/admin/secret.txt",
        "//admin/secret.txt",
        "/%61dmin/secret.txt",
        "/./admin/secret.txt",
        "/../admin/secret.txt",
    ] {
        let answer = raw(node.addr, &get(trick)).await;
        assert_eq!(raw_status(&answer), 503, "{trick}: {answer}");
    }
    for refused in [
        "/admin%2fsecret.txt",
        "/admin%2Fsecret.txt",
        "/admin%5csecret.txt",
        "/a%zz",
    ] {
        let answer = raw(node.addr, &get(refused)).await;
        assert_eq!(raw_status(&answer), 400, "{refused}: {answer}");
    }
    assert_eq!(origin.hits(), 0, "a trick reached the origin");
}

#[tokio::test]
async fn the_origin_and_the_cache_see_the_normalised_path() {
    let origin = Origin::start(|_| Reply::ok("page").header("cache-control", "max-age=60")).await;
    let node = guarded_admin(origin.addr).await;
    let first = raw(node.addr, &get("/docs/./a/../b//page%2Ehtml")).await;
    assert_eq!(raw_status(&first), 200, "{first}");
    assert_eq!(origin.last().uri, "/docs/b/page.html");
    // Another spelling of the same path is a hit on the same entry.
    let second = raw(node.addr, &get("/docs/b/page.html")).await;
    assert!(second.contains("x-cache: Hit from wedge"), "{second}");
    assert_eq!(origin.hits(), 1);
}
