//! The HTTP side: the listener, routing, MCP over Streamable HTTP (POST
//! answers, streamed tool calls, GET streams of list changes), sessions and
//! the input requests a call waits on. Reads the served catalog; never loads.

mod app;
mod call;
mod listen;
mod post;
mod record;
mod relay;
mod routes;
mod seal;
mod serve;
mod sessions;
mod tasks;
mod waiting;

pub use app::App;
pub use listen::MAX_STREAMS;
pub use serve::{Limits, serve};
pub use sessions::Sessions;
