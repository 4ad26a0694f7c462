//! Allocates 1 MiB blocks, touching each, until memory runs out.

use std::hint::black_box;

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

struct MemoryBomb;

impl ViewerRequest for MemoryBomb {
    fn viewer_request(request: Request) -> Result<RequestAction, Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![0xA5; 1 << 20]);
            black_box(&hoard);
            if hoard.len() == usize::MAX {
                return Ok(RequestAction::Continue(request));
            }
        }
    }
}

wedge_sdk::export!(MemoryBomb: viewer_request);
