//! Waiting for a condition instead of sleeping for a guessed time.

use std::future::Future;
use std::time::Duration;

/// How long [`eventually`] waits before it fails the test: far longer than any condition
/// takes on a loaded CI machine, so reaching it means the condition will not hold.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Checks `condition` until it returns `Some`, and returns that. Panics naming `what` after
/// [`PATIENCE`]. The checks are a few milliseconds apart.
pub async fn eventually<T, F, Fut>(what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
