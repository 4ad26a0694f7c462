//! Request coalescing: of N concurrent misses on one key, one (the leader) goes to the origin;
//! the others wait for it to finish and then look in the cache again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// In-flight origin fetches by primary cache key.
#[derive(Debug, Default, Clone)]
pub(crate) struct Flights(Arc<Mutex<HashMap<String, watch::Receiver<()>>>>);

/// What a request that missed should do.
pub(crate) enum Join {
    /// Fetch from the origin; dropping the guard (however the fetch ends) releases followers.
    Leader(FlightGuard),
    /// Wait for the leader, then look again.
    Follower(watch::Receiver<()>),
}

/// Held by the leader of a flight.
pub(crate) struct FlightGuard {
    flights: Flights,
    key: String,
    _done: watch::Sender<()>,
}

impl Flights {
    /// Joins the flight for `key`, or starts one.
    pub(crate) fn join(&self, key: &str) -> Join {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waiting) = map.get(key) {
            return Join::Follower(waiting.clone());
        }
        let (done, waiting) = watch::channel(());
        map.insert(key.to_owned(), waiting);
        Join::Leader(FlightGuard {
            flights: self.clone(),
            key: key.to_owned(),
            _done: done,
        })
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.flights
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
        // `_done` drops after this, waking every follower.
    }
}

/// Waits until the leader of a flight has finished (or was cancelled).
pub(crate) async fn wait(mut follower: watch::Receiver<()>) {
    // The sender is never used to send: `changed` returns an error once it is dropped.
    while follower.changed().await.is_ok() {}
}
