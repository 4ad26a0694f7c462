//! The runtime-wide budget of guest linear memory. Each function's own cap bounds one
//! instance; this bounds them all together, so a burst of memory-hungry invocations cannot
//! take the node's memory: an invocation is refused before it starts while the budget is in
//! use, and one whose memory would grow past it is stopped. Both fail with class `throttled`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Share of the machine's memory (or of the cgroup's limit, if lower) guests may hold by
/// default: the rest is the node's, its cache's and the kernel's.
pub const DEFAULT_GUEST_MEMORY_SHARE: u64 = 4;
/// The budget when the machine's memory cannot be read.
const FALLBACK_GUEST_MEMORY_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The default budget: a [`DEFAULT_GUEST_MEMORY_SHARE`]th of the memory this process may use.
pub fn default_guest_memory_bytes() -> u64 {
    machine_memory_bytes().map_or(FALLBACK_GUEST_MEMORY_BYTES, |total| {
        total / DEFAULT_GUEST_MEMORY_SHARE
    })
}

/// Physical memory, or the cgroup v2 limit when lower.
fn machine_memory_bytes() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    Some(cgroup.map_or(total, |limit| limit.min(total)))
}

/// Bytes of guest memory in use across every live instance, against a limit.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: u64,
    in_use: AtomicU64,
}

impl MemoryBudget {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            in_use: AtomicU64::new(0),
        }
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    pub(crate) fn in_use(&self) -> u64 {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Whether nothing is left: new invocations are refused.
    pub(crate) fn exhausted(&self) -> bool {
        self.in_use() >= self.limit
    }

    /// Takes `bytes` from the budget, or nothing if they are not all there.
    pub(crate) fn try_charge(&self, bytes: u64) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |in_use| {
                in_use
                    .checked_add(bytes)
                    .filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    /// Gives `bytes` back.
    pub(crate) fn release(&self, bytes: u64) {
        self.in_use.fetch_sub(bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_never_pass_the_limit_and_releases_free_them() {
        let budget = MemoryBudget::new(100);
        assert!(budget.try_charge(60));
        assert!(!budget.try_charge(41));
        assert!(budget.try_charge(40));
        assert!(budget.exhausted());
        budget.release(60);
        assert_eq!(budget.in_use(), 40);
        assert!(!budget.exhausted());
    }

    #[test]
    fn the_default_is_a_share_of_this_machine() {
        let bytes = default_guest_memory_bytes();
        assert!(bytes >= 64 * 1024 * 1024, "{bytes}");
    }
}
