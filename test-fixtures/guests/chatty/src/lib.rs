//! Prints 2,000 lines (about 120 KB) to stdout, far past what the host captures, then lets the
//! request continue: too much output must truncate the log, not fail the request.

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct Chatty;

impl ViewerRequest for Chatty {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        for line in 0..2_000 {
            println!("line {line:>5}: the quick brown fox jumps over the lazy dog");
        }
        request.headers_mut().set("x-printed", "2000");
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(Chatty: viewer_request);
