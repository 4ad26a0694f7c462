//! Panics with the message `guest panicked on purpose`.

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct Panic;

impl ViewerRequest for Panic {
    fn viewer_request(_request: Request) -> Result<RequestAction, Error> {
        panic!("guest panicked on purpose");
    }
}

wedge_sdk::export!(Panic: viewer_request);
