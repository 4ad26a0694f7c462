//! Distributions that claim the same domain: refused, naming both; precedence between
//! patterns of different specificity is defined.

use crate::common::{Origin, Reply, send_to_host};

/// Two distributions, `alpha` and `beta`, claiming `first` and `second` (TOML lists' insides);
/// each forwards to `origin` under the base path `/alpha` or `/beta`.
pub(crate) fn two_distributions(origin: std::net::SocketAddr, first: &str, second: &str) -> String {
    format!(
        r#"
[node]
id = "domains"
access_log = "off"

[[listeners]]
address = "127.0.0.1:0"

[[distributions]]
id = "alpha"
domains = [{first}]
[distributions.origins.main]
url = "http://{origin}/alpha"
[distributions.default_behavior]
origin = "main"

[[distributions]]
id = "beta"
domains = [{second}]
[distributions.origins.main]
url = "http://{origin}/beta"
[distributions.default_behavior]
origin = "main"
"#
    )
}

/// Validates `toml` as a node config file.
pub(crate) fn load(toml: &str) -> Result<wedge_cdn::config::NodeConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, toml).unwrap();
    wedge_cdn::config::NodeConfig::load(&path).map_err(|error| error.to_string())
}

#[tokio::test]
async fn two_distributions_claiming_the_same_domain_are_refused_naming_both() {
    let origin = Origin::start(|_| Reply::ok("ok")).await;
    for (first, second) in [(r#""*""#, r#""*""#), (r#""www.test""#, r#""WWW.test""#)] {
        let error = load(&two_distributions(origin.addr, first, second)).unwrap_err();
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
    let toml = two_distributions(
        origin.addr,
        r#""*""#,
        r#""*.example.test", "www.example.test""#,
    )
    .replacen(
        "domains = [\"*\"]",
        "domains = [\"*\", \"api.example.test\"]",
        1,
    );
    let config = load(&toml).unwrap();
    let node = wedge_cdn::RunningNode::start(config).await.unwrap();
    let addr = node.listeners()[0];
    for (host, expected) in [
        ("www.example.test", "/beta/"),
        ("shop.example.test", "/beta/"),
        ("api.example.test", "/alpha/"),
        ("other.test", "/alpha/"),
    ] {
        let reply =
            send_to_host(addr, host, http::Method::GET, "/", &[], bytes::Bytes::new()).await;
        assert_eq!(reply.text(), expected, "{host}");
    }
    node.shutdown().await;
}
