//! The cache: a concurrent in-memory store bounded by bytes (moka), holding for each cache key
//! the variants the origin's `Vary` tells apart, with RFC 9111 policies from
//! `http-cache-semantics`. Coalescing of concurrent misses lives in [`flight`].

pub(crate) mod flight;
mod freshness;
mod key;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use http_cache_semantics::{AfterResponse, BeforeRequest, CacheOptions, CachePolicy, RequestLike};
use moka::notification::RemovalCause;

pub(crate) use freshness::Lifetime;
pub use key::CacheKey;
pub(crate) use key::cookies;

use crate::config::{CacheConfig, CachePolicyConfig};
use crate::message::{EdgeRequest, EdgeResponse};

/// The most variants (distinct `Vary` selections) kept per key; the oldest goes first.
const MAX_VARIANTS: usize = 16;
/// Bytes counted for an entry beyond its body and header fields: the entry, its `Arc`, the
/// RFC 9111 policy's own fields and the store's bookkeeping.
const ENTRY_OVERHEAD: usize = 1024;
/// Bytes counted per header field beyond its name and value: the map's bucket and index and
/// the value's allocation.
const FIELD_OVERHEAD: usize = 96;
/// Bytes counted per key beyond its text: the store's node, hash and expiry timer.
const KEY_OVERHEAD: usize = 256;

/// One stored response. Its body and header values are exact-size copies, never slices of the
/// buffers they arrived in (a 1 KiB body must not keep a 16 KiB read buffer alive), and its
/// weight counts everything it holds.
#[derive(Debug)]
pub struct Entry {
    policy: CachePolicy,
    /// Header fields the policy holds of the request (those `Vary` names, and what decides
    /// whether it may be stored).
    policy_request_fields: usize,
    /// The status.
    pub status: StatusCode,
    /// The header fields as stored (no hop-by-hop fields, no `age`).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    lifetime: Lifetime,
    surrogate_keys: Vec<String>,
    has_vary: bool,
}

/// How fresh an entry is for a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it.
    Fresh,
    /// Serve it and revalidate in the background (stale-while-revalidate).
    StaleWhileRevalidate,
    /// Revalidate or refetch before serving.
    Stale,
}

impl Entry {
    /// Its age now: the origin's `Age` plus the time it has been stored.
    pub fn age(&self, now: SystemTime) -> Duration {
        self.policy.age(now)
    }

    /// How fresh it is now.
    pub fn freshness(&self, now: SystemTime) -> Freshness {
        let age = self.age(now);
        if age < self.lifetime.fresh {
            Freshness::Fresh
        } else if age < self.lifetime.fresh + self.lifetime.stale_while_revalidate {
            Freshness::StaleWhileRevalidate
        } else {
            Freshness::Stale
        }
    }

    /// Whether it may stand in for an origin failure now (stale-if-error).
    pub fn serves_on_error(&self, now: SystemTime) -> bool {
        self.age(now) < self.lifetime.fresh + self.lifetime.stale_if_error
    }

    /// Whether the origin could answer a conditional request for it with 304.
    pub fn has_validator(&self) -> bool {
        self.headers.contains_key(header::ETAG) || self.headers.contains_key(header::LAST_MODIFIED)
    }

    /// The stored response, as sent to a viewer (`age` is added by the pipeline).
    pub fn response(&self) -> EdgeResponse {
        EdgeResponse {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }

    /// What the entry holds: the body, its header fields twice (stored, and in the policy),
    /// the request fields the policy keeps, and the overheads.
    fn weight(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + FIELD_OVERHEAD)
            .sum();
        let surrogate_keys: usize = self.surrogate_keys.iter().map(|k| k.len() + 24).sum();
        ENTRY_OVERHEAD + 2 * headers + self.policy_request_fields + surrogate_keys + self.body.len()
    }

    /// Whether this variant answers `request` (its `Vary` fields match).
    fn matches(&self, request: &PolicyRequest<'_>, now: SystemTime) -> bool {
        if !self.has_vary {
            return true;
        }
        match self.policy.before_request(request, now) {
            BeforeRequest::Fresh(_) => true,
            BeforeRequest::Stale { matches, .. } => matches,
        }
    }
}

/// What a stored entry is made of, before its lifetime is decided.
struct StoredParts {
    policy: CachePolicy,
    policy_request_fields: usize,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// All variants stored under one key.
#[derive(Debug)]
struct Variants {
    distribution: String,
    path: String,
    entries: Vec<Arc<Entry>>,
    weight: u32,
    keep_for: Duration,
}

/// The request as http-cache-semantics sees it. Requests with equal keys are the same
/// resource, so the URI is the same constant for all of them; only `Vary` tells them apart.
struct PolicyRequest<'a> {
    method: Method,
    uri: Uri,
    headers: &'a HeaderMap,
}

impl<'a> PolicyRequest<'a> {
    fn new(headers: &'a HeaderMap) -> Self {
        Self {
            method: Method::GET,
            uri: Uri::from_static("/"),
            headers,
        }
    }
}

impl RequestLike for PolicyRequest<'_> {
    fn uri(&self) -> Uri {
        self.uri.clone()
    }
    fn is_same_uri(&self, other: &Uri) -> bool {
        &self.uri == other
    }
    fn method(&self) -> &Method {
        &self.method
    }
    fn headers(&self) -> &HeaderMap {
        self.headers
    }
}

/// What to purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeTarget {
    /// Every entry whose path is exactly this.
    Path(String),
    /// Every entry whose path starts with this.
    Prefix(String),
    /// Every entry whose response named this key in `surrogate-key`.
    SurrogateKey(String),
    /// Everything.
    All,
}

/// The node's response cache.
#[derive(Clone)]
pub struct Cache {
    store: moka::sync::Cache<String, Arc<Variants>>,
    flights: flight::Flights,
    config: CacheConfig,
    evictions: Arc<AtomicU64>,
}

struct KeepFor;

impl moka::Expiry<String, Arc<Variants>> for KeepFor {
    fn expire_after_create(
        &self,
        _: &String,
        value: &Arc<Variants>,
        _: Instant,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }
    fn expire_after_update(
        &self,
        _: &String,
        value: &Arc<Variants>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }
}

impl Cache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&evictions);
        let store = moka::sync::Cache::builder()
            .max_capacity(config.capacity_bytes)
            // Variants weigh their key too (it is held twice: by the store and in the value).
            .weigher(|_key: &String, value: &Arc<Variants>| value.weight)
            .expire_after(KeepFor)
            .eviction_listener(move |_, _, cause| {
                if cause == RemovalCause::Size {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self {
            store,
            flights: flight::Flights::default(),
            config,
            evictions,
        }
    }

    /// The cache's settings.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    pub(crate) fn flights(&self) -> &flight::Flights {
        &self.flights
    }

    /// The stored variant that answers `request` under `key`, however fresh.
    pub fn lookup(
        &self,
        key: &CacheKey,
        request: &EdgeRequest,
        now: SystemTime,
    ) -> Option<Arc<Entry>> {
        let variants = self.store.get(&key.primary)?;
        let policy_request = PolicyRequest::new(&request.headers);
        variants
            .entries
            .iter()
            .find(|entry| entry.matches(&policy_request, now))
            .cloned()
    }

    /// Conditional headers (`if-none-match`, `if-modified-since`) to revalidate `entry`.
    pub fn revalidation_headers(
        &self,
        entry: &Entry,
        request: &EdgeRequest,
        now: SystemTime,
    ) -> HeaderMap {
        let mut conditional = HeaderMap::new();
        let mut headers = request.headers.clone();
        headers.remove(header::IF_NONE_MATCH);
        headers.remove(header::IF_MODIFIED_SINCE);
        if let BeforeRequest::Stale { request, .. } = entry
            .policy
            .before_request(&PolicyRequest::new(&headers), now)
        {
            for name in [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE] {
                if let Some(value) = request.headers.get(&name) {
                    conditional.insert(name, value.clone());
                }
            }
        }
        conditional
    }

    /// Stores `response` to `request` under `key` if RFC 9111 and the behavior allow it;
    /// returns the entry stored.
    pub fn store(
        &self,
        key: &CacheKey,
        request: &EdgeRequest,
        response: &EdgeResponse,
        behavior: &CachePolicyConfig,
        now: SystemTime,
    ) -> Option<Arc<Entry>> {
        if response.body.len() > self.config.max_object_bytes {
            return None;
        }
        let headers = compact(&response.headers);
        let request_fields = policy_request_fields(&request.headers, &headers);
        let policy_request = PolicyRequest::new(&request_fields);
        let mut as_response = http::Response::new(());
        *as_response.status_mut() = response.status;
        *as_response.headers_mut() = headers.clone();
        let policy =
            CachePolicy::new_options(&policy_request, &as_response, now, CacheOptions::default());
        let stored = StoredParts {
            policy,
            policy_request_fields: fields_size(&request_fields),
            status: response.status,
            headers,
            body: Bytes::copy_from_slice(&response.body),
        };
        self.put(key, request, &policy_request, stored, behavior, now)
    }

    /// Decides the lifetime of a response about to be stored and stores it under `key`.
    fn put(
        &self,
        key: &CacheKey,
        request: &EdgeRequest,
        policy_request: &PolicyRequest<'_>,
        stored: StoredParts,
        behavior: &CachePolicyConfig,
        now: SystemTime,
    ) -> Option<Arc<Entry>> {
        let StoredParts {
            policy,
            policy_request_fields,
            status,
            mut headers,
            body,
        } = stored;
        let authorized = request.headers.contains_key(header::AUTHORIZATION);
        let lifetime = freshness::lifetime(
            &policy,
            status,
            &headers,
            authorized,
            behavior,
            self.config.error_ttl,
            now,
        )?;
        headers.remove(header::AGE);
        let entry = Arc::new(Entry {
            policy,
            policy_request_fields,
            status,
            has_vary: headers.contains_key(header::VARY),
            surrogate_keys: surrogate_keys(&headers),
            headers,
            body,
            lifetime,
        });
        self.insert(key, policy_request, Arc::clone(&entry), now);
        Some(entry)
    }

    /// Applies the origin's 304 to a stale entry: new headers and freshness, same body.
    /// Returns `None` (store nothing) if the 304 does not match the entry's validators.
    pub fn refresh(
        &self,
        key: &CacheKey,
        request: &EdgeRequest,
        entry: &Entry,
        not_modified: &EdgeResponse,
        behavior: &CachePolicyConfig,
        now: SystemTime,
    ) -> Option<Arc<Entry>> {
        let not_modified_headers = compact(&not_modified.headers);
        let request_fields = policy_request_fields(&request.headers, &entry.headers);
        let policy_request = PolicyRequest::new(&request_fields);
        let mut as_response = http::Response::new(());
        *as_response.status_mut() = not_modified.status;
        *as_response.headers_mut() = not_modified_headers.clone();
        let AfterResponse::NotModified(policy, parts) =
            entry
                .policy
                .after_response(&policy_request, &as_response, now)
        else {
            return None;
        };
        let mut headers = parts.headers;
        // RFC 9111 §3.2: fields new in the 304 are added too (the crate only replaces).
        for (name, value) in &not_modified_headers {
            let about_the_body = [
                header::CONTENT_LENGTH,
                header::CONTENT_ENCODING,
                header::CONTENT_RANGE,
            ];
            if !headers.contains_key(name) && !about_the_body.contains(name) {
                headers.append(name, value.clone());
            }
        }
        let stored = StoredParts {
            policy,
            policy_request_fields: fields_size(&request_fields),
            status: entry.status,
            headers: compact(&headers),
            body: entry.body.clone(),
        };
        self.put(key, request, &policy_request, stored, behavior, now)
    }

    fn insert(
        &self,
        key: &CacheKey,
        request: &PolicyRequest<'_>,
        entry: Arc<Entry>,
        now: SystemTime,
    ) {
        let mut entries = vec![Arc::clone(&entry)];
        if let Some(old) = self.store.get(&key.primary) {
            let others = old
                .entries
                .iter()
                .filter(|other| !other.matches(request, now));
            entries.extend(others.take(MAX_VARIANTS - 1).cloned());
        }
        let weight: usize = KEY_OVERHEAD
            + 2 * key.primary.len()
            + key.distribution.len()
            + key.path.len()
            + entries.iter().map(|e| e.weight()).sum::<usize>();
        let keep_for = entries
            .iter()
            .map(|e| {
                let past_fresh = e
                    .lifetime
                    .stale_while_revalidate
                    .max(e.lifetime.stale_if_error)
                    .max(self.config.stale_retention);
                (e.lifetime.fresh + past_fresh).saturating_sub(e.age(now))
            })
            .max()
            .unwrap_or_default();
        let variants = Variants {
            distribution: key.distribution.clone(),
            path: key.path.clone(),
            entries,
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
            keep_for,
        };
        self.store.insert(key.primary.clone(), Arc::new(variants));
    }

    /// Removes the entries `target` selects in `distribution` (all distributions if `None`);
    /// returns how many stored responses went.
    pub fn purge(&self, distribution: Option<&str>, target: &PurgeTarget) -> usize {
        let mut purged = 0;
        for (key, variants) in self.store.iter() {
            if distribution.is_some_and(|d| d != variants.distribution) {
                continue;
            }
            let hit = match target {
                PurgeTarget::Path(path) => variants.path == *path,
                PurgeTarget::Prefix(prefix) => variants.path.starts_with(prefix.as_str()),
                PurgeTarget::SurrogateKey(wanted) => variants
                    .entries
                    .iter()
                    .any(|e| e.surrogate_keys.iter().any(|k| k == wanted)),
                PurgeTarget::All => true,
            };
            if hit && self.store.remove(key.as_str()).is_some() {
                purged += variants.entries.len();
            }
        }
        purged
    }

    /// Stored keys (each with one or more variants).
    pub fn entry_count(&self) -> u64 {
        self.store.run_pending_tasks();
        self.store.entry_count()
    }

    /// Bytes stored, as weighed against the capacity.
    pub fn size_bytes(&self) -> u64 {
        self.store.run_pending_tasks();
        self.store.weighted_size()
    }

    /// Entries evicted for space since start.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

/// A copy of `headers` in exact-size allocations: values parsed off the wire are slices of
/// the connection's read buffer, which a stored copy would otherwise keep alive.
fn compact(headers: &HeaderMap) -> HeaderMap {
    let mut compacted = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        compacted.append(name.clone(), copy);
    }
    compacted
}

/// The request fields a stored response's policy needs, copied: those its `Vary` names (to
/// tell variants apart) and those that decide whether a shared cache may store it. The rest of
/// the request (cookies, user agents, ...) is not kept with every entry.
fn policy_request_fields(request: &HeaderMap, response: &HeaderMap) -> HeaderMap {
    let mut fields = HeaderMap::new();
    let varied = response
        .get_all(header::VARY)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty() && *name != "*");
    // The host and the request's own cache directives are compared when a variant is chosen.
    let deciding = [
        header::HOST,
        header::CACHE_CONTROL,
        header::PRAGMA,
        header::AUTHORIZATION,
    ];
    for name in deciding.iter().map(http::HeaderName::as_str).chain(varied) {
        for value in request.get_all(name) {
            if let (Ok(name), Ok(copy)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                fields.append(name, copy);
            }
        }
    }
    fields
}

/// Bytes a header map holds, as [`Entry::weight`] counts them.
fn fields_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + FIELD_OVERHEAD)
        .sum()
}

/// The keys of a `surrogate-key` field: space-separated (Fastly's convention).
fn surrogate_keys(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("surrogate-key")
        .iter()
        .filter_map(|value: &HeaderValue| value.to_str().ok())
        .flat_map(str::split_whitespace)
        .map(str::to_owned)
        .collect()
}
