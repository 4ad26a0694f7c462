//! The four hooks around the cache.

use std::fmt;
use std::str::FromStr;

/// A point in a request's life where a function can run (Lambda@Edge's four triggers).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    /// Every viewer request, before the cache lookup. May change the request or respond.
    ViewerRequest,
    /// A cache miss, before the origin fetch. May change the request or respond.
    OriginRequest,
    /// After the origin answers (errors included), before caching. May change the response.
    OriginResponse,
    /// Before every response to the viewer, cache hits included. May change the response.
    ViewerResponse,
}

impl Hook {
    /// All four hooks, in the order a request meets them.
    pub const ALL: [Hook; 4] = [
        Hook::ViewerRequest,
        Hook::OriginRequest,
        Hook::OriginResponse,
        Hook::ViewerResponse,
    ];

    /// The hook's name as used in WIT, TOML and logs, e.g. `viewer-request`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Hook::ViewerRequest => "viewer-request",
            Hook::OriginRequest => "origin-request",
            Hook::OriginResponse => "origin-response",
            Hook::ViewerResponse => "viewer-response",
        }
    }

    /// Whether the hook faces the viewer (tighter limits) rather than the origin.
    pub const fn is_viewer(self) -> bool {
        matches!(self, Hook::ViewerRequest | Hook::ViewerResponse)
    }

    /// Whether the hook receives a request and returns a request action (rather than receiving
    /// and returning a response).
    pub const fn is_request_hook(self) -> bool {
        matches!(self, Hook::ViewerRequest | Hook::OriginRequest)
    }

    /// The name of the component export that implements this hook.
    pub const fn export_name(self) -> &'static str {
        match self {
            Hook::ViewerRequest => "wedge:edge/viewer-request@0.1.0",
            Hook::OriginRequest => "wedge:edge/origin-request@0.1.0",
            Hook::OriginResponse => "wedge:edge/origin-response@0.1.0",
            Hook::ViewerResponse => "wedge:edge/viewer-response@0.1.0",
        }
    }

    /// The hook's position in [`Hook::ALL`] (0 to 3): an index for per-hook tables.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hook name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown hook `{0}`: expected viewer-request, origin-request, origin-response or viewer-response"
)]
pub struct UnknownHook(pub String);

impl FromStr for Hook {
    type Err = UnknownHook;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Hook::ALL
            .into_iter()
            .find(|hook| hook.as_str() == name)
            .ok_or_else(|| UnknownHook(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_rejected() {
        for hook in Hook::ALL {
            assert_eq!(hook.as_str().parse::<Hook>(), Ok(hook));
        }
        assert_eq!(
            "viewer_request".parse::<Hook>(),
            Err(UnknownHook("viewer_request".into()))
        );
    }
}
