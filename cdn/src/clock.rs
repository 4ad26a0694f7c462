//! The node's wall clock for cache freshness: the system's, or (tests) one that can be moved
//! forward, so that a test of a one-second lifetime does not wait a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Where "now" comes from for freshness, ages and revalidation.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// How far a manual clock was moved forward, in milliseconds (`None`: the system clock).
    advanced_ms: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system clock plus however far [`Clock::advance`] has moved it.
    pub fn manual() -> Self {
        Self {
            advanced_ms: Some(Arc::new(AtomicU64::new(0))),
        }
    }

    /// Now.
    pub fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        match &self.advanced_ms {
            None => now,
            Some(advanced) => now + Duration::from_millis(advanced.load(Ordering::Relaxed)),
        }
    }

    /// Moves a manual clock forward by `by` (every clone sees it). The system clock cannot be
    /// moved: it is left as it is and `false` returned.
    pub fn advance(&self, by: Duration) -> bool {
        let Some(advanced) = &self.advanced_ms else {
            return false;
        };
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        advanced.fetch_add(by, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_forward_for_every_clone_and_the_system_clock_does_not() {
        let clock = Clock::manual();
        let copy = clock.clone();
        let before = copy.now();
        assert!(clock.advance(Duration::from_secs(60)));
        assert!(copy.now() >= before + Duration::from_secs(60));
        assert!(!Clock::system().advance(Duration::from_secs(60)));
    }
}
