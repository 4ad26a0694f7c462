//! Distributions that claim the same domain: refused, naming both; precedence between
//! patterns of different specificity is defined.

use wedge_testkit::{NodeBuilder, Origin, Reply, Site, send};

/// A node with two distributions, `alpha` and `beta`, claiming `first` and `second`; each
/// forwards to `origin` under the base path `/alpha` or `/beta`.
pub(crate) fn two_distributions(
    origin: std::net::SocketAddr,
    first: &[&str],
    second: &[&str],
) -> NodeBuilder {
    let site = |id: &str, domains: &[&str]| {
        let mut site = Site::with_id(id, origin).domains(domains);
        if let Some(main) = site.0.origins.get_mut("main") {
            main.url = format!("http://{origin}/{id}");
        }
        site
    };
    NodeBuilder::new()
        .id("domains")
        .set("node", "access_log", "off")
        .distribution(site("alpha", first))
        .distribution(site("beta", second))
}

/// Validates the builder's config as a node config file.
pub(crate) fn load(builder: &NodeBuilder) -> Result<wedge_cdn::config::NodeConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    builder
        .load_in(dir.path())
        .map_err(|error| error.to_string())
}

#[tokio::test]
async fn two_distributions_claiming_the_same_domain_are_refused_naming_both() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    for (first, second) in [("*", "*"), ("www.test", "WWW.test")] {
        let error = load(&two_distributions(origin.addr, &[first], &[second])).unwrap_err();
        assert!(error.contains("node.toml"), "{error}");
        assert!(error.contains("distributions[1].domains"), "{error}");
        assert!(
            error.contains("`alpha`") && error.contains("`beta`"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn the_most_specific_domain_wins() {
    let origin = Origin::start(|recorded| Reply::ok(&recorded.uri.clone())).await;
    let builder = two_distributions(
        origin.addr,
        &["*", "api.example.test"],
        &["*.example.test", "www.example.test"],
    );
    let config = load(&builder).unwrap();
    let node = wedge_cdn::RunningNode::start(config).await.unwrap();
    let addr = node.listeners()[0];
    for (host, expected) in [
        ("www.example.test", "/beta/"),
        ("shop.example.test", "/beta/"),
        ("api.example.test", "/alpha/"),
        ("other.test", "/alpha/"),
    ] {
        let reply = send(addr, host, http::Method::GET, "/", &[], bytes::Bytes::new()).await;
        assert_eq!(reply.text(), expected, "{host}");
    }
    node.shutdown().await;
}
