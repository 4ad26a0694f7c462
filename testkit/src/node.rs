//! A builder for node configs over wedge-types' distribution model, and a started node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use wedge_cdn::config::NodeConfig;
use wedge_cdn::{Clock, RunningNode};
use wedge_types::Hook;
use wedge_types::distribution::{AssociationSpec, BehaviorSpec, DistributionSpec, OriginSpec};

use crate::client::{Answer, send};
use crate::control::{NODE, TestControl};

/// The admin token of every [`NodeBuilder`] node.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The host requests are sent for unless a test says otherwise.
pub const HOST: &str = "site.test";

/// A distribution for a test: `site` by default, answering every host, with one origin `main`
/// (short timeouts) and a default behavior going to it. Its fields are wedge-types'
/// [`DistributionSpec`], open for any change a test needs.
#[derive(Debug, Clone)]
pub struct Site(pub DistributionSpec);

impl Site {
    /// Distribution `site` for every host, in front of the origin at `origin`.
    pub fn new(origin: SocketAddr) -> Self {
        Self::with_id("site", origin)
    }

    /// Distribution `id` for every host, in front of the origin at `origin`.
    pub fn with_id(id: &str, origin: SocketAddr) -> Self {
        let mut spec = DistributionSpec {
            id: id.to_owned(),
            domains: vec!["*".to_owned()],
            origins: Default::default(),
            behaviors: Vec::new(),
            default_behavior: Some(behavior(None, "main")),
        };
        spec.origins.insert("main".to_owned(), origin_spec(origin));
        Self(spec)
    }

    /// Answering only for these domains.
    pub fn domains(mut self, domains: &[&str]) -> Self {
        self.0.domains = domains.iter().map(|d| (*d).to_owned()).collect();
        self
    }

    /// With one more origin.
    pub fn origin(mut self, name: &str, origin: SocketAddr) -> Self {
        self.0.origins.insert(name.to_owned(), origin_spec(origin));
        self
    }

    /// With `function` on `event` of the default behavior.
    pub fn function(self, event: Hook, function: &str) -> Self {
        self.function_with(event, function, |_| {})
    }

    /// With `function` on `event` of the default behavior, `tune` setting the association's
    /// other keys (limits, `include_body`, `on_error`, `config`).
    pub fn function_with(
        mut self,
        event: Hook,
        function: &str,
        tune: impl FnOnce(&mut AssociationSpec),
    ) -> Self {
        let mut association = association(event, function);
        tune(&mut association);
        self.default_behavior().functions.push(association);
        self
    }

    /// With a behavior for `path` going to `origin` (`tune` sets the rest), before the
    /// default.
    pub fn behavior(
        mut self,
        path: &str,
        origin: &str,
        tune: impl FnOnce(&mut BehaviorSpec),
    ) -> Self {
        let mut added = behavior(Some(path), origin);
        tune(&mut added);
        self.0.behaviors.push(added);
        self
    }

    /// Changes the default behavior.
    pub fn tune_default(mut self, tune: impl FnOnce(&mut BehaviorSpec)) -> Self {
        tune(self.default_behavior());
        self
    }

    /// The distribution as the control plane takes it: its TOML.
    pub fn toml(&self) -> String {
        toml::to_string(&self.0).unwrap()
    }

    fn default_behavior(&mut self) -> &mut BehaviorSpec {
        self.0
            .default_behavior
            .get_or_insert_with(|| behavior(None, "main"))
    }
}

/// An association of `function` with `event`, every other key left to its default.
pub fn association(event: Hook, function: &str) -> AssociationSpec {
    AssociationSpec::new(event, function)
}

fn behavior(path: Option<&str>, origin: &str) -> BehaviorSpec {
    BehaviorSpec {
        path: path.map(str::to_owned),
        origin: origin.to_owned(),
        cache: Default::default(),
        functions: Vec::new(),
        origin_request: None,
        allow_trace: None,
    }
}

fn origin_spec(origin: SocketAddr) -> OriginSpec {
    OriginSpec {
        url: format!("http://{origin}"),
        host_header: None,
        connect_timeout_ms: Some(500),
        first_byte_timeout_ms: Some(2000),
        total_timeout_ms: Some(3000),
        ca_file: None,
    }
}

/// A node config under construction: one plain listener and an admin listener (with
/// [`ADMIN_TOKEN`]) on 127.0.0.1 port 0, the access log in the node's temp dir, a small
/// instance pool, and the distributions added. Rendered to TOML only to be read back by
/// [`NodeConfig`], exactly as a user's file is.
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    id: String,
    sections: toml::Table,
    distributions: Vec<DistributionSpec>,
    clock: Clock,
}

impl Default for NodeBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeBuilder {
    /// The defaults above, no distribution yet.
    pub fn new() -> Self {
        let mut sections = toml::Table::new();
        let mut listener = toml::Table::new();
        listener.insert("address".into(), "127.0.0.1:0".into());
        sections.insert(
            "listeners".into(),
            toml::Value::Array(vec![listener.into()]),
        );
        let mut admin = toml::Table::new();
        admin.insert("address".into(), "127.0.0.1:0".into());
        admin.insert("token".into(), ADMIN_TOKEN.into());
        sections.insert("admin".into(), admin.into());
        let mut builder = Self {
            id: "test-node".to_owned(),
            sections,
            distributions: Vec::new(),
            clock: Clock::system(),
        };
        builder = builder.set("node", "access_log", "access.log");
        builder.set("runtime", "max_instances", 32)
    }

    /// A node serving `site`.
    pub fn serving(site: Site) -> Self {
        Self::new().distribution(site)
    }

    /// With this node id.
    pub fn id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.id);
        self
    }

    /// Sets `key` of section `section` (`node`, `limits`, `cache`, `runtime`, `admin`,
    /// `control_plane`).
    pub fn set(mut self, section: &str, key: &str, value: impl Into<toml::Value>) -> Self {
        let table = self
            .sections
            .entry(section.to_owned())
            .or_insert_with(|| toml::Table::new().into());
        if let toml::Value::Table(table) = table {
            table.insert(key.to_owned(), value.into());
        }
        self
    }

    /// Sets `key` of the (first) viewer listener.
    pub fn listener(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        if let Some(toml::Value::Array(listeners)) = self.sections.get_mut("listeners")
            && let Some(toml::Value::Table(first)) = listeners.first_mut()
        {
            first.insert(key.to_owned(), value.into());
        }
        self
    }

    /// With a second viewer listener on 127.0.0.1 port 0, serving TLS with these PEM files.
    pub fn tls_listener(mut self, cert: &Path, key: &Path) -> Self {
        let mut listener = toml::Table::new();
        listener.insert("address".into(), "127.0.0.1:0".into());
        listener.insert("tls_cert".into(), cert.display().to_string().into());
        listener.insert("tls_key".into(), key.display().to_string().into());
        if let Some(toml::Value::Array(listeners)) = self.sections.get_mut("listeners") {
            listeners.push(listener.into());
        }
        self
    }

    /// With one more distribution.
    pub fn distribution(mut self, site: Site) -> Self {
        self.distributions.push(site.0);
        self
    }

    /// Following `control` with the node token, keeping its state in `data_dir`.
    pub fn following(self, control: &TestControl, data_dir: &Path) -> Self {
        self.following_url(&control.url(), data_dir)
    }

    /// Following the control plane at `url` (which may be a stand-in, or nothing at all) with
    /// the node token, keeping its state in `data_dir`.
    pub fn following_url(self, url: &str, data_dir: &Path) -> Self {
        self.set("control_plane", "url", url)
            .set("control_plane", "token", NODE)
            .set("control_plane", "data_dir", data_dir.display().to_string())
    }

    /// Judging freshness by a clock the test moves ([`TestNode::advance`]).
    pub fn manual_clock(mut self) -> Self {
        self.clock = Clock::manual();
        self
    }

    /// The config file's text.
    pub fn toml(&self) -> String {
        let mut file = self.sections.clone();
        if let Some(toml::Value::Table(node)) = file.get_mut("node") {
            node.insert("id".into(), self.id.clone().into());
        }
        if !self.distributions.is_empty() {
            let distributions = toml::Value::try_from(&self.distributions).unwrap();
            file.insert("distributions".into(), distributions);
        }
        toml::to_string(&file).unwrap()
    }

    /// The config as the node reads it from `dir/node.toml`.
    pub fn load_in(&self, dir: &Path) -> Result<NodeConfig, wedge_types::ConfigError> {
        let path = dir.join("node.toml");
        std::fs::write(&path, self.toml()).unwrap();
        NodeConfig::load(&path)
    }

    /// Writes the config to a temp dir and starts the node.
    pub async fn start(self) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let config = self
            .load_in(dir.path())
            .unwrap_or_else(|error| panic!("config: {error}\n{}", self.toml()));
        let node = RunningNode::start_with_clock(config, self.clock.clone())
            .await
            .unwrap_or_else(|error| panic!("start: {error}"));
        TestNode {
            addr: node.listeners()[0],
            admin: node.admin().expect("test nodes have an admin listener"),
            node: Some(node),
            clock: self.clock,
            dir,
        }
    }
}

/// A node started from a [`NodeBuilder`], with its temp dir (config, access log).
pub struct TestNode {
    /// The node (`None` once stopped).
    pub node: Option<RunningNode>,
    /// Its viewer listener.
    pub addr: SocketAddr,
    /// Its admin listener.
    pub admin: SocketAddr,
    /// Its freshness clock.
    pub clock: Clock,
    /// Its directory.
    pub dir: tempfile::TempDir,
}

impl TestNode {
    /// The running node.
    pub fn running(&self) -> &RunningNode {
        self.node.as_ref().expect("the node was stopped")
    }

    /// Moves the node's manual clock forward (see [`NodeBuilder::manual_clock`]).
    pub fn advance(&self, by: Duration) {
        assert!(self.clock.advance(by), "the node runs on the system clock");
    }

    /// The access log file.
    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// The access-log lines, once at least `count` are written.
    pub async fn log_lines(&self, count: usize) -> Vec<serde_json::Value> {
        crate::eventually(&format!("{count} access-log lines"), || async {
            let text = std::fs::read_to_string(self.access_log()).unwrap_or_default();
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            (lines.len() >= count).then_some(lines)
        })
        .await
    }

    /// Waits until the node has applied control-plane revision `revision` (or a later one).
    pub async fn applied(&self, revision: u64) {
        let mut applied = self.running().applied();
        crate::eventually(&format!("the node to apply revision {revision}"), || {
            let reached = *applied.borrow_and_update() >= revision;
            async move { reached.then_some(()) }
        })
        .await;
    }

    /// `GET path` for [`HOST`].
    pub async fn get(&self, path: &str) -> Answer {
        self.get_with(path, &[]).await
    }

    /// `GET path` for [`HOST`] with `headers`.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, path, headers, Bytes::new()).await
    }

    /// A request for [`HOST`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        send(self.addr, HOST, method, path, headers, body).await
    }

    /// A request for `host`.
    pub async fn send_to_host(
        &self,
        host: &str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        send(self.addr, host, method, path, headers, body).await
    }

    /// A POST to the admin listener with the admin token and a JSON body.
    pub async fn admin_post(&self, path: &str, body: &str) -> Answer {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let headers = [
            ("content-type", "application/json"),
            ("authorization", bearer.as_str()),
        ];
        self.admin_send(Method::POST, path, &headers, body).await
    }

    /// A GET from the admin listener with the admin token.
    pub async fn admin_get(&self, path: &str) -> Answer {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let headers = [("authorization", bearer.as_str())];
        self.admin_send(Method::GET, path, &headers, "").await
    }

    /// A request to the admin listener, addressed to it by its own address, with `headers`.
    pub async fn admin_send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let host = self.admin.to_string();
        send(self.admin, &host, method, path, headers, body.to_owned()).await
    }

    /// `/status` of the admin listener, as JSON.
    pub async fn status(&self) -> serde_json::Value {
        self.admin_get("/status").await.json()
    }

    /// Stops the node, draining in-flight requests.
    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }
}
