//! Facts about the invocation in progress.
//!
//! ```no_run
//! let invocation = wedge_sdk::context::current();
//! wedge_sdk::info!("running {:?} for {}", invocation.event_type, invocation.request_id);
//! ```

pub use crate::__bindings::context::Invocation;
pub use crate::__bindings::types::EventType;

/// The invocation in progress: hook, distribution, request id, function name and version.
///
/// ```no_run
/// let invocation = wedge_sdk::context::current();
/// let tag = format!("{}@{}", invocation.function_name, invocation.function_version);
/// ```
pub fn current() -> Invocation {
    crate::__bindings::context::current()
}

impl EventType {
    /// The hook's name as wedge writes it in config and logs, e.g. `viewer-request`.
    ///
    /// ```
    /// use wedge_sdk::context::EventType;
    ///
    /// assert_eq!(EventType::OriginResponse.as_str(), "origin-response");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ViewerRequest => "viewer-request",
            EventType::OriginRequest => "origin-request",
            EventType::OriginResponse => "origin-response",
            EventType::ViewerResponse => "viewer-response",
        }
    }
}
