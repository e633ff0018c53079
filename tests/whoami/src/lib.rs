//! Tools with each kind of access rule, for the authentication tests: each
//! answers with the identity the host passed it (`null` for none), so a test
//! sees exactly which claims reached the component. Never deployed.

use mcp_guest::protocol::{CallError, CallRequest, CallToolResult, ContentBlock, Implementation, Tool};
use mcp_guest::{Context, Server};
use serde_json::{Value, json};

struct WhoAmI;

fn tool(name: &str, description: &str, schemes: Option<Value>) -> Tool {
    let mut tool = Tool::new(name, description, json!({ "type": "object" }));
    tool.meta = schemes.map(|schemes| {
        let mut meta = mcp_guest::protocol::JsonObject::new();
        meta.insert("securitySchemes".into(), schemes);
        meta
    });
    tool
}

impl Server for WhoAmI {
    fn tools() -> Vec<Tool> {
        vec![
            tool(
                "whoami",
                "Reports who called; needs the profile.read scope.",
                Some(json!([{ "type": "oauth2", "scopes": ["profile.read"] }])),
            ),
            tool(
                "whoami_public",
                "Reports who called; anyone may call.",
                Some(json!([{ "type": "noauth" }])),
            ),
            tool("whoami_signed_in", "Reports who called; declares nothing, so needs a token.", None),
        ]
    }

    async fn call(request: CallRequest, _cx: Context) -> Result<CallToolResult, CallError> {
        if !request.name.starts_with("whoami") {
            return Err(CallError::UnknownTool);
        }
        let identity = request.identity.map_or(Value::Null, Value::Object);
        Ok(CallToolResult {
            content: vec![ContentBlock::text(identity.to_string())],
            structured_content: Some(json!({ "identity": identity })),
            ..CallToolResult::default()
        })
    }

    fn implementation() -> Implementation {
        Implementation { name: "whoami".into(), version: "0".into(), title: None }
    }
}

mcp_guest::export!(WhoAmI);
