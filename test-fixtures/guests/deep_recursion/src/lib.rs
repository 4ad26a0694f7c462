//! Recurses without bound until the wasm stack overflows.

use std::hint::black_box;

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct DeepRecursion;

#[inline(never)]
#[allow(unconditional_recursion, reason = "unbounded recursion is the point of this fixture")]
fn descend(depth: u64) -> u64 {
    let frame = black_box([depth; 8]);
    descend(black_box(depth + 1)) + frame[3]
}

impl ViewerRequest for DeepRecursion {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let depth = descend(0);
        request.headers_mut().set("x-depth", depth.to_string());
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(DeepRecursion: viewer_request);
