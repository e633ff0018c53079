//! Tools written in plain Rust, run in place of a component's tool calls.
//!
//! Only the benchmark's native baseline uses this: it serves the weather tool
//! through this same server, dispatch, concurrency limit, time limit and
//! outbound client (with the component's policy), so that comparing it with
//! the component measures what the sandbox costs and nothing else.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use mcp_protocol::{CallError, CallEvent, CallRequest, CallToolResult};
use tokio::sync::mpsc;

use crate::egress::Outbound;

pub type NativeFuture = Pin<Box<dyn Future<Output = Result<CallToolResult, CallError>> + Send>>;

/// A component's tool calls, implemented natively.
pub trait NativeTool: Send + Sync {
    /// Runs one call. `outbound` is the component's own outbound client, with
    /// its policy; `events` carries logs and progress as a component's would.
    fn call(&self, request: CallRequest, outbound: Outbound, events: mpsc::Sender<CallEvent>)
    -> NativeFuture;
}

/// Native tools by the name of the component whose calls they take over.
pub type Natives = HashMap<String, Arc<dyn NativeTool>>;
