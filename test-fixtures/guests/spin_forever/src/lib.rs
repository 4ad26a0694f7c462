//! Never returns: a busy loop the host must interrupt.

use std::hint::black_box;

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct SpinForever;

impl ViewerRequest for SpinForever {
    fn viewer_request(_request: Request) -> Result<RequestAction, Error> {
        let mut spins = 0u64;
        loop {
            spins = black_box(spins.wrapping_add(1));
        }
    }
}

wedge_sdk::export!(SpinForever: viewer_request);
