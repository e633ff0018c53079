//! Running a call step by step, so that its logs and progress leave the
//! component while it runs instead of after it finishes.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use mcp_protocol::{CallError, CallEvent, CallRequest, CallToolResult, LogLevel, ToolSchema};
use serde_json::Value;

type CallFuture = Pin<Box<dyn Future<Output = Result<CallToolResult, CallError>>>>;

/// What a tool uses to report logs and progress during a call.
#[derive(Clone)]
pub struct Context {
    shared: Rc<Shared>,
}

struct Shared {
    events: RefCell<VecDeque<CallEvent>>,
    log_level: Option<LogLevel>,
    progress: bool,
}

impl Context {
    fn new(log_level: Option<LogLevel>, progress: bool) -> Self {
        let events = RefCell::new(VecDeque::new());
        Self { shared: Rc::new(Shared { events, log_level, progress }) }
    }

    /// Sends a log message, if the client listens at this level.
    pub async fn log(&self, level: LogLevel, data: impl Into<Value>) {
        if self.shared.log_level.is_some_and(|min| level >= min) {
            self.emit(CallEvent::Log { level, logger: None, data: data.into() }).await;
        }
    }

    /// Reports progress, if the client asked for it.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        if self.shared.progress {
            let message = message.map(str::to_owned);
            self.emit(CallEvent::Progress { progress, total, message }).await;
        }
    }

    /// Queues the event and yields once, so the caller can send it now.
    async fn emit(&self, event: CallEvent) {
        self.shared.events.borrow_mut().push_back(event);
        let mut yielded = false;
        std::future::poll_fn(|_| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                Poll::Pending
            }
        })
        .await
    }
}

/// What a running call reports next.
pub enum Step {
    Event(CallEvent),
    Done(Result<CallToolResult, CallError>),
}

/// A call in progress.
pub struct Running {
    cx: Context,
    future: Option<CallFuture>,
    result: Option<Result<CallToolResult, CallError>>,
    /// Checks the result against the tool's output schema (the `wasmtime
    /// serve` path; under `mcp-host` the host does it).
    schema: Option<ToolSchema>,
}

impl Running {
    pub fn start<S: crate::Server>(request: CallRequest, schema: Option<ToolSchema>) -> Self {
        let cx = Context::new(request.log_level, request.progress_token.is_some());
        let future = Box::pin(S::call(request, cx.clone()));
        Self { cx, future: Some(future), result: None, schema }
    }

    /// Runs the call until it has an event to report or finishes.
    ///
    /// Calls block inside the component (outbound HTTP waits on WASI pollables),
    /// so a pending future is one that yielded an event; polling again is
    /// correct either way.
    pub fn next(&mut self) -> Step {
        loop {
            if let Some(event) = self.cx.shared.events.borrow_mut().pop_front() {
                return Step::Event(event);
            }
            if let Some(result) = self.result.take() {
                return Step::Done(result);
            }
            let Some(future) = self.future.as_mut() else {
                return Step::Done(Err(CallError::Internal("the call has already finished".into())));
            };
            if let Poll::Ready(result) =
                future.as_mut().poll(&mut std::task::Context::from_waker(Waker::noop()))
            {
                self.future = None;
                let mismatch = match (&result, &self.schema) {
                    (Ok(result), Some(schema)) => schema.check_result(result).err(),
                    _ => None,
                };
                self.result = Some(mismatch.map_or(result, |mismatch| Ok(CallToolResult::error(mismatch))));
            }
        }
    }
}
