//! Model Context Protocol over Streamable HTTP, without I/O.
//!
//! The same rules serve `mcp-host` (native, async, many components) and a tool
//! component answering HTTP itself under `wasmtime serve`, so both answer every
//! request identically. The caller reads the request, asks [`http`] whether it
//! may go on, hands each message to [`dispatch::route`], performs the returned
//! [`dispatch::Op`] and writes what [`dispatch::Pending::finish`] renders.

// Client and component text must never be sliced where a character may not
// start, nor indexed where a panic would end the request (or the host).
#![deny(clippy::string_slice, clippy::indexing_slicing)]

pub mod dispatch;
pub mod http;
pub mod jsonrpc;
pub mod schema;
pub mod types;
pub mod version;
mod wit;

pub use dispatch::{
    Change, Context, Era, Offers, Op, Outcome, Pending, SKILLS_EXTENSION, ServerInfo, Step, Subscription,
    Support, TASKS_EXTENSION, TOOL_TASK_META, Task, TaskStatus, TaskSupport, route, step,
};
pub use schema::ToolSchema;
pub use types::*;
pub use version::Version;

/// Standard base64, as MCP uses for blobs, images and audio.
pub fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
