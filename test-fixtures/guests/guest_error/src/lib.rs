//! Fails every request with the error message `denied by policy`.

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct GuestError;

impl ViewerRequest for GuestError {
    fn viewer_request(_request: Request) -> Result<RequestAction, Error> {
        Err(Error::msg("denied by policy"))
    }
}

wedge_sdk::export!(GuestError: viewer_request);
