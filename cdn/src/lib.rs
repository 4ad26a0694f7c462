//! wedge-cdn: the wedge edge node (binary `wedge-node`).
//!
//! An HTTP cache (a CDN node) that serves viewers over HTTP/1.1 and HTTP/2 with TLS, caches
//! origin responses by RFC 9111, and runs WebAssembly functions on four hooks with the
//! semantics of Lambda@Edge. The life of a request is one function, in [`pipeline`]; the
//! runtime that invokes functions is `wedge-runtime` (this crate never names wasmtime).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = wedge_cdn::config::NodeConfig::load(std::path::Path::new("node.toml"))?;
//! let node = wedge_cdn::RunningNode::start(config).await?;
//! println!("serving on {:?}", node.listeners());
//! node.shutdown().await;
//! # Ok(()) }
//! ```

pub mod access_log;
mod admin;
pub mod cache;
pub mod clock;
mod conditional;
pub mod config;
mod convert;
pub mod error;
pub mod forwarding;
mod hooks;
mod intake;
pub mod log_tap;
pub mod message;
pub mod metrics;
mod node;
pub mod origin;
mod pipeline;
pub mod rules;
mod server;
pub mod state;
mod sync;
mod target;
mod tls;
pub mod trace;

pub use clock::Clock;
pub use error::{EdgeError, ErrorKind, ErrorSource};
pub use node::{RunningNode, StartError};
pub use sync::SyncError;
