//! Grows linear memory by 1 MiB that no allocator owns, counts the canary words a previous
//! tenant of the memory could have left there (`x-canary-found`), then fills the region with
//! canaries. A host that resets memory between instances always reports 0.

use core::arch::wasm32;

use wedge_sdk::{Error, Request, RequestAction, ViewerRequest};

const CANARY: u64 = 0xDEAD_BEEF_CAFE_F00D;
const PAGES: usize = 16;
const PAGE_SIZE: usize = 65_536;

struct Canary;

impl ViewerRequest for Canary {
    fn viewer_request(mut request: Request) -> Result<RequestAction, Error> {
        let previous_pages = wasm32::memory_grow(0, PAGES);
        if previous_pages == usize::MAX {
            return Err(Error::msg("memory.grow failed"));
        }
        let start = (previous_pages * PAGE_SIZE) as *mut u64;
        let words = PAGES * PAGE_SIZE / size_of::<u64>();
        let mut found = 0usize;
        for index in 0..words {
            // SAFETY: the region was just grown by memory.grow and belongs to no allocation;
            // every address in it is in bounds and 8-byte aligned.
            unsafe {
                let word = start.add(index);
                if word.read_volatile() == CANARY {
                    found += 1;
                }
                word.write_volatile(CANARY);
            }
        }
        request.headers_mut().set("x-canary-found", found.to_string());
        Ok(RequestAction::Continue(request))
    }
}

wedge_sdk::export!(Canary: viewer_request);
