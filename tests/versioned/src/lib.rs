//! A tool component whose answer names the build it came from
//! (`TOOL_VERSION` at compile time), so the hot-swap tests can tell which
//! version answered each call. Built twice by the Makefile; never deployed.

use mcp_guest::protocol::{CallError, CallRequest, CallToolResult, ContentBlock, Implementation, Tool};
use mcp_guest::{Context, Server};
use serde_json::json;

const VERSION: &str = match option_env!("TOOL_VERSION") {
    Some(version) => version,
    None => "dev",
};

struct Versioned;

impl Server for Versioned {
    fn tools() -> Vec<Tool> {
        vec![Tool::new(
            "which_version",
            "Says which build of this component answers.",
            json!({ "type": "object" }),
        )]
    }

    async fn call(request: CallRequest, _cx: Context) -> Result<CallToolResult, CallError> {
        match request.name.as_str() {
            "which_version" => Ok(CallToolResult {
                content: vec![ContentBlock::text(format!("version {VERSION}"))],
                ..CallToolResult::default()
            }),
            _ => Err(CallError::UnknownTool),
        }
    }

    fn implementation() -> Implementation {
        Implementation { name: "versioned".into(), version: VERSION.into(), title: None }
    }
}

mcp_guest::export!(Versioned);
