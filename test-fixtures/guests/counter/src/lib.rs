//! Increments a global on every invocation and reports it in `x-count`. On a fresh instance per
//! invocation the answer is always 1.

use std::sync::atomic::{AtomicU64, Ordering};

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl ViewerRequest for Counter {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let count = INVOCATIONS.fetch_add(1, Ordering::Relaxed) + 1;
        request.headers_mut().set("x-count", count.to_string());
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(Counter: viewer_request);
