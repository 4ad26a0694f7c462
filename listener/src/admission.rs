//! Which connections a listener holds: a bound on open connections, a cap per client on
//! connections that have not sent a request yet, and shedding at the limit.
//!
//! A connection is *fresh* from accept until its first request head has been read. Fresh
//! connections cost an attacker nothing to open and hold, so at the limit the oldest fresh
//! connection is closed to make room for a new one; failing that, the connection idle the
//! longest (keep-alive, nothing in flight). Once half the slots are taken, one client (an IPv4
//! address, an IPv6 /64) may hold only so many fresh connections; more are refused. A connection younger than the shed grace is never
//! shed: every client gets that long to send its first request however fast an attacker
//! churns, and the attacker's churn is bounded by the limit over the grace. When nothing can be
//! shed, the new connection waits for a slot (and further ones wait in the kernel's backlog).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A connection that has not sent a single byte this long after accept is shed first at the
/// limit. Clients send their request (or TLS hello) right after the handshake, so a silent one
/// is idle, not slow; one that has sent something gets the longer shed grace.
pub const SILENT_SHED_GRACE: Duration = Duration::from_millis(100);

/// Who a connection belongs to, for the per-client cap: an IPv4 address, or the /64 an IPv6
/// address is in (one subscriber's allocation; rotating addresses inside it gains nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of `ip`: IPv4 as is (also when mapped into IPv6), IPv6 cut to its /64.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

/// The admission limits of one set of listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Connections open at once.
    pub max_connections: u32,
    /// Connections one client may hold open before sending its first request, once half of
    /// `max_connections` are open.
    pub max_fresh_per_client: u32,
    /// A connection this young is never shed to make room for another.
    pub shed_grace: Duration,
}

/// The open connections of one or more listeners (a node's viewer listeners share one).
#[derive(Debug)]
pub struct Admission {
    limits: AdmissionLimits,
    registry: Mutex<Registry>,
    freed: Notify,
    shed: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    /// Every open connection, oldest first.
    open: BTreeMap<u64, Arc<ConnState>>,
    /// The fresh ones among them, oldest first.
    fresh: BTreeMap<u64, Arc<ConnState>>,
    fresh_per_client: HashMap<ClientKey, u32>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client already holds its share of fresh connections.
    TooManyFresh,
}

impl Admission {
    /// An empty set of connections under `limits`.
    pub fn new(limits: AdmissionLimits) -> Self {
        Self {
            limits,
            registry: Mutex::default(),
            freed: Notify::new(),
            shed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> AdmissionLimits {
        self.limits
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().open.len()
    }

    /// Connections shed at the limit since start.
    pub fn shed_total(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Connections refused since start because their client held its share of fresh ones.
    pub fn refused_total(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Admits a just-accepted connection from `client`. At the limit it sheds a fresh or idle
    /// connection, or waits until one closes. Refused when the client is over its fresh cap.
    pub async fn admit(self: &Arc<Self>, client: ClientKey) -> Result<Admitted, Refusal> {
        loop {
            // Registered before the check, so a slot freed in between is not missed.
            let freed = self.freed.notified();
            let retry_at = {
                let mut registry = self.lock();
                // The per-client cap applies once the set is half full: below that there is
                // room for everyone, and a load test or a crowd behind one NAT may open many
                // connections at once.
                let pressed = registry.open.len() * 2 >= self.limits.max_connections as usize;
                let fresh = registry.fresh_per_client.get(&client).copied().unwrap_or(0);
                if pressed && fresh >= self.limits.max_fresh_per_client {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(Refusal::TooManyFresh);
                }
                let mut retry_at = None;
                if registry.open.len() >= self.limits.max_connections as usize {
                    match registry.shed_one(self.limits.shed_grace) {
                        Ok(()) => {
                            self.shed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(at) => retry_at = at,
                    }
                }
                if registry.open.len() < self.limits.max_connections as usize {
                    let state = registry.insert(client);
                    return Ok(Admitted {
                        admission: Arc::clone(self),
                        state,
                    });
                }
                retry_at
            };
            match retry_at {
                Some(at) => {
                    tokio::select! {
                        () = freed => {}
                        () = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => freed.await,
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // The registry stays consistent across a panic elsewhere: every update is one step.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn first_request(&self, state: &ConnState) {
        let mut registry = self.lock();
        if registry.fresh.remove(&state.id).is_some() {
            registry.forget_fresh(state.client);
        }
    }

    fn release(&self, state: &ConnState) {
        let mut registry = self.lock();
        if registry.open.remove(&state.id).is_some() {
            if registry.fresh.remove(&state.id).is_some() {
                registry.forget_fresh(state.client);
            }
            drop(registry);
            self.freed.notify_one();
        }
    }
}

impl Registry {
    fn insert(&mut self, client: ClientKey) -> Arc<ConnState> {
        let id = self.next_id;
        self.next_id += 1;
        let state = Arc::new(ConnState {
            id,
            client,
            opened: Instant::now(),
            started: AtomicBool::new(false),
            heard: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(0),
            shed: Notify::new(),
        });
        self.open.insert(id, Arc::clone(&state));
        self.fresh.insert(id, Arc::clone(&state));
        *self.fresh_per_client.entry(client).or_insert(0) += 1;
        state
    }

    /// Closes one connection to make room, the first of these past its grace: the oldest fresh
    /// one that has not sent a byte (silent grace), the oldest fresh one (`grace`), the one idle
    /// the longest (`grace`). When all are too young, says when the first will not be
    /// (`Err(Some)`); when every connection is busy, `Err(None)`.
    fn shed_one(&mut self, grace: Duration) -> Result<(), Option<Instant>> {
        let now = Instant::now();
        let silent_grace = grace.min(SILENT_SHED_GRACE);
        let oldest_silent = self
            .fresh
            .values()
            .find(|state| !state.heard.load(Ordering::Acquire))
            .map(|state| (state.opened + silent_grace, state.id));
        let oldest_fresh = self
            .fresh
            .values()
            .next()
            .map(|state| (state.opened + grace, state.id));
        let longest_idle = self
            .open
            .values()
            .filter(|state| state.in_flight.load(Ordering::Acquire) == 0)
            .map(|state| (state.idle_since().max(state.opened) + grace, state.id))
            .min();
        let candidates = [oldest_silent, oldest_fresh, longest_idle];
        let Some((_, id)) = candidates
            .iter()
            .flatten()
            .find(|(at, _)| *at <= now)
            .copied()
        else {
            return Err(candidates.iter().flatten().map(|(at, _)| *at).min());
        };
        let Some(state) = self.open.remove(&id) else {
            return Err(None);
        };
        if self.fresh.remove(&state.id).is_some() {
            self.forget_fresh(state.client);
        }
        tracing::debug!(connection = state.id, "connection shed at the limit");
        state.shed.notify_one();
        Ok(())
    }

    fn forget_fresh(&mut self, client: ClientKey) {
        if let Some(count) = self.fresh_per_client.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                self.fresh_per_client.remove(&client);
            }
        }
    }
}

/// What a connection's watchdog and its requests share.
#[derive(Debug)]
pub(crate) struct ConnState {
    id: u64,
    client: ClientKey,
    opened: Instant,
    started: AtomicBool,
    /// Whether the client has sent a byte.
    heard: AtomicBool,
    in_flight: AtomicU32,
    /// When the last request in flight ended, in ms after `opened`.
    idle_since_ms: AtomicU64,
    shed: Notify,
}

impl ConnState {
    fn idle_since(&self) -> Instant {
        self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire))
    }
}

/// An admitted connection; its slot is freed when this is dropped.
#[derive(Debug)]
pub struct Admitted {
    admission: Arc<Admission>,
    state: Arc<ConnState>,
}

impl Admitted {
    /// Marks that the client has sent its first byte: it is no longer shed as silent.
    pub(crate) fn heard(&self) {
        self.state.heard.store(true, Ordering::Release);
    }

    /// Marks the start of a request; the returned guard marks its end when dropped (after the
    /// response body is sent, or when the request is abandoned).
    pub(crate) fn begin_request(&self) -> RequestGuard {
        if !self.state.started.swap(true, Ordering::AcqRel) {
            self.admission.first_request(&self.state);
        }
        self.state.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard {
            state: Arc::clone(&self.state),
        }
    }

    /// Resolves when the connection should close, with the reason: it was shed, it sent no
    /// request within `first_request` of accept, or it had nothing in flight for `idle`.
    pub(crate) async fn close_reason(&self, first_request: Duration, idle: Duration) -> Closed {
        let state = &self.state;
        let deadline = async {
            loop {
                let now = Instant::now();
                let deadline = if !state.started.load(Ordering::Acquire) {
                    let deadline = state.opened + first_request;
                    if now >= deadline {
                        return Closed::NoRequest;
                    }
                    deadline
                } else if state.in_flight.load(Ordering::Acquire) > 0 {
                    now + idle
                } else {
                    let deadline = state.idle_since() + idle;
                    if now >= deadline {
                        return Closed::Idle;
                    }
                    deadline
                };
                tokio::time::sleep_until(deadline.into()).await;
            }
        };
        tokio::select! {
            closed = deadline => closed,
            () = state.shed.notified() => Closed::Shed,
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admission.release(&self.state);
    }
}

/// Why a connection's watchdog closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Shed at the connection limit.
    Shed,
    /// No request head within the first-request deadline.
    NoRequest,
    /// Nothing in flight for the idle timeout.
    Idle,
}

/// One request in flight on a connection.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    state: Arc<ConnState>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let state = &self.state;
        let since = u64::try_from(state.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        state.idle_since_ms.fetch_max(since, Ordering::AcqRel);
        state.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[allow(clippy::panic, reason = "tests")]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2:aaaa::1")),
            ClientKey::of(ip("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.7")),
            ClientKey::of(ip("192.0.2.7"))
        );
    }

    #[tokio::test]
    async fn at_the_limit_the_oldest_fresh_connection_is_shed() {
        let admission = Arc::new(Admission::new(AdmissionLimits {
            max_connections: 2,
            max_fresh_per_client: 10,
            shed_grace: Duration::ZERO,
        }));
        let client = ClientKey::of(ip("192.0.2.1"));
        let first = admission.admit(client).await.ok();
        let second = admission.admit(client).await.ok();
        let _busy = second.as_ref().map(Admitted::begin_request);
        let third = admission.admit(client).await.ok();
        assert!(third.is_some());
        assert_eq!(admission.open(), 2);
        let Some(first) = first else {
            panic!("the first connection was admitted");
        };
        let told = tokio::time::timeout(Duration::from_secs(1), first.state.shed.notified());
        assert!(told.await.is_ok(), "the fresh one was told to close");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_younger_than_the_grace_is_not_shed() {
        let admission = Arc::new(Admission::new(AdmissionLimits {
            max_connections: 1,
            max_fresh_per_client: 10,
            shed_grace: Duration::from_secs(1),
        }));
        let client = ClientKey::of(ip("192.0.2.1"));
        let young = admission.admit(client).await.ok();
        let waiting = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move { admission.admit(client).await.ok() }
        });
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "admitted by shedding a connection inside its grace"
        );
        // Time passes (paused clock): past the grace the young one is shed for the waiter.
        let admitted = waiting.await.ok().flatten();
        assert!(admitted.is_some());
        assert_eq!(admission.open(), 1);
        drop(young);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_goes_before_one_that_has_spoken() {
        let admission = Arc::new(Admission::new(AdmissionLimits {
            max_connections: 2,
            max_fresh_per_client: 10,
            shed_grace: Duration::from_secs(1),
        }));
        let client = ClientKey::of(ip("192.0.2.1"));
        let Ok(speaking) = admission.admit(client).await else {
            panic!("admitted");
        };
        speaking.heard();
        let Ok(silent) = admission.admit(client).await else {
            panic!("admitted");
        };
        tokio::time::advance(SILENT_SHED_GRACE + Duration::from_millis(1)).await;
        let third = admission.admit(client).await;
        assert!(third.is_ok());
        let wait = Duration::from_millis(1);
        let silent_told = tokio::time::timeout(wait, silent.state.shed.notified()).await;
        assert!(silent_told.is_ok(), "the silent one was shed");
        let speaking_told = tokio::time::timeout(wait, speaking.state.shed.notified()).await;
        assert!(speaking_told.is_err(), "the one that spoke was kept");
    }

    #[tokio::test]
    async fn a_client_over_its_fresh_cap_is_refused_until_one_sends_a_request() {
        let admission = Arc::new(Admission::new(AdmissionLimits {
            max_connections: 4,
            max_fresh_per_client: 2,
            shed_grace: Duration::ZERO,
        }));
        let client = ClientKey::of(ip("2001:db8::1"));
        let neighbour = ClientKey::of(ip("2001:db8::2"));
        let first = admission.admit(client).await.ok();
        let _second = admission.admit(client).await.ok();
        assert_eq!(
            admission.admit(neighbour).await.err(),
            Some(Refusal::TooManyFresh)
        );
        let _request = first.as_ref().map(Admitted::begin_request);
        assert!(admission.admit(neighbour).await.is_ok());
    }
}
