//! The function's read-only configuration: key/value pairs set at deploy time.
//!
//! ```no_run
//! let origin = wedge_sdk::config::get("backend").unwrap_or_else(|| "default".to_string());
//! ```

/// The value for `key`, if it is set.
///
/// ```no_run
/// let origin = wedge_sdk::config::get("origin").unwrap_or_else(|| "primary".to_string());
/// ```
pub fn get(key: &str) -> Option<String> {
    crate::__bindings::config::get(key)
}

/// Every key/value pair, sorted by key.
///
/// ```no_run
/// for (key, value) in wedge_sdk::config::entries() {
///     wedge_sdk::debug!("{key} = {value}");
/// }
/// ```
pub fn entries() -> Vec<(String, String)> {
    crate::__bindings::config::entries()
}
