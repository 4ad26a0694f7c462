//! Sleeps for a minute. The wait happens inside the host (a WASI poll on a clock), where the
//! guest executes no wasm and so never checks the epoch: only the host's own deadline around
//! the call can end it.

use std::time::Duration;

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct Sleeper;

impl ViewerRequest for Sleeper {
    fn viewer_request(request: Request) -> Result<RequestAction, Error> {
        std::thread::sleep(Duration::from_secs(60));
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(Sleeper: viewer_request);
