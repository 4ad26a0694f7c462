//! Prometheus metrics (prometheus-client), served on the admin listener at `/metrics`.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::trace::Trace;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    status: u16,
    cache: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    hook: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookNameLabels {
    hook: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabels {
    origin: String,
    outcome: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~26 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<CacheLabels, Histogram, fn() -> Histogram>,
    hook_invocations: Family<HookLabels, Counter>,
    hook_seconds: Family<HookNameLabels, Histogram, fn() -> Histogram>,
    origin_requests: Family<OriginLabels, Counter>,
    /// Keys in the cache (set on scrape).
    pub cache_entries: Gauge,
    /// Bytes in the cache (set on scrape).
    pub cache_bytes: Gauge,
    /// Evictions for space since start (set on scrape).
    pub cache_evictions: Gauge,
    /// Guest instances running now (set on scrape).
    pub instances_in_use: Gauge,
    /// Size of the instance pool.
    pub instances_max: Gauge,
    /// The control-plane revision applied.
    pub applied_revision: Gauge,
    /// Viewer connections open now (set on scrape).
    pub connections_open: Gauge,
    /// Viewer connections shed at the limit since start (set on scrape).
    pub connections_shed: Gauge,
    /// Viewer connections refused for a client's share of fresh ones since start (set on scrape).
    pub connections_refused: Gauge,
    /// Guest linear memory held by live instances (set on scrape).
    pub guest_memory_bytes: Gauge,
    /// The node's guest memory budget.
    pub guest_memory_limit_bytes: Gauge,
}

impl Metrics {
    /// Registers every metric under the `wedge_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wedge");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Viewer requests by final status and cache status",
            requests.clone(),
        );
        let request_seconds =
            Family::<CacheLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response, by cache status",
            request_seconds.clone(),
        );
        let hook_invocations = Family::<HookLabels, Counter>::default();
        registry.register(
            "hook_invocations",
            "Function invocations by hook and outcome (ok or error class)",
            hook_invocations.clone(),
        );
        let hook_seconds =
            Family::<HookNameLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            );
        registry.register(
            "hook_duration_seconds",
            "Function invocation time (instantiate and run), by hook",
            hook_seconds.clone(),
        );
        let origin_requests = Family::<OriginLabels, Counter>::default();
        registry.register(
            "origin_requests",
            "Origin exchanges by origin and outcome (status or error class)",
            origin_requests.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "cache_entries",
            "Keys stored in the cache",
            cache_entries.clone(),
        );
        let cache_bytes = Gauge::default();
        registry.register(
            "cache_bytes",
            "Bytes stored in the cache",
            cache_bytes.clone(),
        );
        let cache_evictions = Gauge::default();
        registry.register(
            "cache_evictions",
            "Entries evicted for space since start",
            cache_evictions.clone(),
        );
        let instances_in_use = Gauge::default();
        registry.register(
            "instances_in_use",
            "Guest instances running now",
            instances_in_use.clone(),
        );
        let instances_max = Gauge::default();
        registry.register(
            "instances_max",
            "Instance slots in the pool",
            instances_max.clone(),
        );
        let applied_revision = Gauge::default();
        registry.register(
            "applied_revision",
            "Control-plane revision the node serves (0: none)",
            applied_revision.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let connections_open = gauge(
            &mut registry,
            "connections_open",
            "Viewer connections open now",
        );
        let connections_shed = gauge(
            &mut registry,
            "connections_shed",
            "Viewer connections closed at the connection limit to make room, since start",
        );
        let connections_refused = gauge(
            &mut registry,
            "connections_refused",
            "Viewer connections refused because their client held its share of fresh ones, since start",
        );
        let guest_memory_bytes = gauge(
            &mut registry,
            "guest_memory_bytes",
            "Guest linear memory held by live instances",
        );
        let guest_memory_limit_bytes = gauge(
            &mut registry,
            "guest_memory_limit_bytes",
            "The node's budget of guest linear memory",
        );
        Self {
            connections_open,
            connections_shed,
            connections_refused,
            guest_memory_bytes,
            guest_memory_limit_bytes,
            applied_revision,
            registry: Mutex::new(registry),
            requests,
            request_seconds,
            hook_invocations,
            hook_seconds,
            origin_requests,
            cache_entries,
            cache_bytes,
            cache_evictions,
            instances_in_use,
            instances_max,
        }
    }

    /// Counts a finished request.
    pub fn record(&self, trace: &Trace, status: u16, elapsed: Duration) {
        let cache = trace.cache.as_str();
        self.requests
            .get_or_create(&RequestLabels { status, cache })
            .inc();
        self.request_seconds
            .get_or_create(&CacheLabels { cache })
            .observe(elapsed.as_secs_f64());
        for hook in &trace.hooks {
            let outcome = hook.error.unwrap_or("ok");
            self.hook_invocations
                .get_or_create(&HookLabels {
                    hook: hook.hook.as_str(),
                    outcome,
                })
                .inc();
            self.hook_seconds
                .get_or_create(&HookNameLabels {
                    hook: hook.hook.as_str(),
                })
                .observe(hook.receipt.total.as_secs_f64());
        }
        if let Some(origin) = &trace.origin {
            let outcome = match (origin.status, &trace.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => error.class().to_owned(),
                (None, None) => "unknown".to_owned(),
            };
            self.origin_requests
                .get_or_create(&OriginLabels {
                    origin: origin.name.clone(),
                    outcome,
                })
                .inc();
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            text.clear();
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
