//! Guest stdout and stderr: captured for the log, capped, and never an error for the guest.
//!
//! wasmtime-wasi's memory pipe fails writes past its capacity, and Rust's `print!` panics when
//! a write fails, so a guest that logged a lot would trap. This capture keeps the first bytes
//! and accepts the rest without storing it: too much output truncates the log, it does not
//! fail the request.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How many bytes a guest may hand over in one write (the WASI write permit).
const WRITE_PERMIT: usize = 64 * 1024;

/// One capped output stream; clones share the buffer.
#[derive(Clone)]
pub(crate) struct CapturedOutput(Arc<Mutex<Capture>>);

struct Capture {
    kept: Vec<u8>,
    capacity: usize,
    discarded: u64,
}

impl CapturedOutput {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(Arc::new(Mutex::new(Capture {
            kept: Vec::new(),
            capacity,
            discarded: 0,
        })))
    }

    /// The bytes kept, and how many more the guest wrote.
    pub(crate) fn contents(&self) -> (Vec<u8>, u64) {
        let capture = self.lock();
        (capture.kept.clone(), capture.discarded)
    }

    fn append(&self, bytes: &[u8]) {
        let mut capture = self.lock();
        let room = capture.capacity.saturating_sub(capture.kept.len());
        let kept = bytes.len().min(room);
        capture.kept.extend_from_slice(&bytes[..kept]);
        capture.discarded = capture
            .discarded
            .saturating_add((bytes.len() - kept) as u64);
    }

    fn lock(&self) -> MutexGuard<'_, Capture> {
        // The buffer holds plain bytes; a panic elsewhere cannot leave it inconsistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let mut output = CapturedOutput::new(10);
        assert!(OutputStream::write(&mut output, Bytes::from_static(b"0123456")).is_ok());
        assert!(OutputStream::write(&mut output, Bytes::from_static(b"789abcdef")).is_ok());
        assert_eq!(output.check_write().ok(), Some(WRITE_PERMIT));
        assert_eq!(output.contents(), (b"0123456789".to_vec(), 6));
    }
}
