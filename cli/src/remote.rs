//! Where the control plane is and how to talk to it: the arguments every command that calls
//! it shares, and typed views of its answers.

use std::path::PathBuf;

use serde::Deserialize;

use crate::client::Client;

/// The control plane to talk to.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Remote {
    /// The control plane's URL (http:// or https://).
    #[arg(
        long,
        env = "WEDGE_CONTROL_URL",
        default_value = "http://127.0.0.1:7070"
    )]
    pub(crate) control: String,
    /// A bearer token (admin for writes, read for listings).
    #[arg(long, env = "WEDGE_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// A PEM CA certificate to trust for an https:// control plane, besides the system's.
    #[arg(long, env = "WEDGE_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,
}

impl Remote {
    /// A client for it.
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        Client::new(&self.control, self.token.clone(), self.ca_file.as_deref())
    }
}

/// The answer to a write.
#[derive(Debug, Deserialize)]
pub(crate) struct Written {
    /// The revision in effect after it.
    pub(crate) revision: u64,
    /// Whether the write appended a revision (false: it changed nothing).
    #[serde(default = "yes")]
    pub(crate) changed: bool,
}

fn yes() -> bool {
    true
}

impl Written {
    /// `(revision N)`, or that nothing changed.
    pub(crate) fn suffix(&self) -> String {
        if self.changed {
            format!("(revision {})", self.revision)
        } else {
            format!(
                "(nothing changed: it was already so in revision {})",
                self.revision
            )
        }
    }
}

/// `GET /v1/functions`.
#[derive(Debug, Deserialize)]
pub(crate) struct Functions {
    /// The revision listed.
    pub(crate) revision: u64,
    /// Functions by name.
    pub(crate) functions: std::collections::BTreeMap<String, wedge_types::revision::Function>,
}

/// `GET /v1/distributions`.
#[derive(Debug, Deserialize)]
pub(crate) struct Distributions {
    /// Distributions by id.
    pub(crate) distributions:
        std::collections::BTreeMap<String, wedge_types::distribution::DistributionSpec>,
}

/// `GET /v1/nodes`.
#[derive(Debug, Deserialize)]
pub(crate) struct Nodes {
    /// Nodes by id.
    pub(crate) nodes: std::collections::BTreeMap<String, NodeSeen>,
}

/// One node as the control plane knows it.
#[derive(Debug, Deserialize)]
pub(crate) struct NodeSeen {
    /// Its applied revision.
    pub(crate) revision: u64,
    /// Its last poll (ms since the Unix epoch).
    pub(crate) last_contact_ms: u64,
    /// Distributions it could not serve, with why.
    #[serde(default)]
    pub(crate) not_served: std::collections::BTreeMap<String, String>,
}

/// `GET /v1/revisions`.
#[derive(Debug, Deserialize)]
pub(crate) struct History {
    /// Newest first.
    pub(crate) revisions: Vec<wedge_control::service::HistoryEntry>,
}

/// Reads a JSON answer as `T`.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> anyhow::Result<T> {
    serde_json::from_value(value.clone())
        .map_err(|error| anyhow::anyhow!("unexpected answer from the control plane: {error}"))
}
