//! `wedge-types`: the model every wedge crate shares, defined once.
//!
//! - [`Hook`] and the per-invocation [`limits`] with their Lambda@Edge bounds;
//! - [`names`]: one validator per kind of name (distribution ids, node ids, function and
//!   alias names);
//! - [`FunctionRef`] and the `NAME@ALIAS|VERSION` grammar;
//! - [`distribution`]: a distribution as written ([`distribution::DistributionSpec`], the
//!   same in a node's config file, the control plane's store and the CLI) and as validated
//!   ([`distribution::DistributionConfig`]), with its path and domain [`pattern`]s;
//! - [`revision`]: the control plane's model (functions, versions, aliases, the revision log,
//!   the signed statement) and alias → version → digest resolution;
//! - [`wire`]: the versioned format revisions travel in between the control plane and nodes,
//!   read tolerantly so a node one release behind keeps applying what it understands.
//!
//! No engine, no HTTP stack: only serde, toml, serde_json and the `http` types.

pub mod check;
pub mod distribution;
pub mod function_ref;
mod hook;
pub mod limits;
pub mod names;
pub mod pattern;
pub mod revision;
pub mod wire;

pub use check::ConfigError;
pub use function_ref::{FunctionRef, PublishedRef, Selector};
pub use hook::{Hook, UnknownHook};
pub use limits::{Limits, LimitsError, LimitsSpec};
