//! A response body that keeps its request counted as in flight until it has been sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};

use crate::admission::RequestGuard;

/// A response body that marks the end of its request when dropped: after the last frame is
/// written, or when the connection goes away. Until then the connection is not idle.
#[derive(Debug)]
pub struct TrackedBody<B> {
    body: B,
    _guard: RequestGuard,
}

impl<B> TrackedBody<B> {
    pub(crate) fn new(body: B, guard: RequestGuard) -> Self {
        Self {
            body,
            _guard: guard,
        }
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
