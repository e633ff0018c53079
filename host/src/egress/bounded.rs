//! Response bodies bounded in size and time.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use wasmtime_wasi_http::Error;

/// A response body that fails past `limit` bytes, after `idle` without data,
/// or at a deadline if given (so a server that drips bytes cannot hold a call).
pub struct Bounded {
    inner: hyper::body::Incoming,
    limit: usize,
    read: usize,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Bounded {
    pub fn new(inner: hyper::body::Incoming, limit: usize, idle: Duration) -> Self {
        Self { inner, limit, read: 0, idle, timer: Box::pin(tokio::time::sleep(idle)), deadline: None }
    }

    /// Fails the body at `deadline`, however steadily it arrives.
    pub fn until(self, deadline: tokio::time::Instant) -> Self {
        Self { deadline: Some(Box::pin(tokio::time::sleep_until(deadline))), ..self }
    }
}

impl Body for Bounded {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.deadline.as_mut().is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready()) {
            return Poll::Ready(Some(Err(Error::ConnectionReadTimeout)));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                self.read += frame.data_ref().map_or(0, Bytes::len);
                if self.read > self.limit {
                    return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(self.limit as u64)))));
                }
                let deadline = tokio::time::Instant::now() + self.idle;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
