//! wedge's test kit, shared by the node's, the control plane's and the CLI's tests.
//!
//! - [`client`]: the one HTTP/1.1 client tests use ([`client::send`], [`client::Connection`]);
//! - [`origin`]: an origin on 127.0.0.1 that records what it receives and answers as told;
//! - [`node`]: a builder for node configs over wedge-types' distribution model, and a started
//!   node with helpers for its viewer and admin listeners;
//! - [`control`]: a control plane on 127.0.0.1 with one token per role;
//! - [`wait`]: waiting for a condition (a revision applied, a log line written) instead of
//!   sleeping for a guessed time.
//!
//! Everything binds 127.0.0.1 port 0 and stops when dropped. Failures panic with what was
//! expected: this is test support.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed step is a failed test"
)]

pub mod client;
pub mod control;
pub mod node;
pub mod origin;
pub mod wait;

pub use client::{Answer, Connection, raw, raw_status, send};
pub use control::{ADMIN, NODE, READ, TestControl};
pub use node::{ADMIN_TOKEN, HOST, NodeBuilder, Site, TestNode, association};
pub use origin::{Origin, Recorded, Reply};
pub use wait::eventually;
pub use wedge_types::Hook;
