//! Tools with each kind of access rule, for the authentication tests: each
//! answers with the identity the host passed it (`null` for none), so a test
//! sees exactly which claims reached the component. Two more serve the
//! server's tests: `whoami_ask` asks the client for `count` inputs in one
//! round (as many as a greedy tool might), and `whoami_slow` takes `ms`
//! milliseconds to answer. Never deployed.

use std::time::Duration;

use mcp_guest::protocol::{
    CallError, CallRequest, CallToolResult, ContentBlock, Implementation, InputRequest, InputRequired, Tool,
};
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
            tool(
                "whoami_ask",
                "Asks for `count` elicitations at once, then reports the answers and who called.",
                Some(json!([{ "type": "noauth" }])),
            ),
            tool(
                "whoami_slow",
                "Reports progress, then answers after `ms` milliseconds.",
                Some(json!([{ "type": "noauth" }])),
            ),
        ]
    }

    async fn call(request: CallRequest, cx: Context) -> Result<CallToolResult, CallError> {
        let number = |key: &str| request.arguments.get(key).and_then(Value::as_u64).unwrap_or(1);
        let mut report = json!({});
        match request.name.as_str() {
            "whoami" | "whoami_public" | "whoami_signed_in" => {}
            "whoami_ask" => match &request.inputs {
                Some(inputs) => {
                    report["answers"] = json!(inputs.responses.len());
                    report["state"] = json!(inputs.state);
                }
                None => {
                    let ask = InputRequest {
                        method: "elicitation/create".into(),
                        params: json!({ "message": "?", "requestedSchema": { "type": "object", "properties": {} } }),
                    };
                    let requests = (0..number("count")).map(|i| (format!("q{i}"), ask.clone())).collect();
                    return Err(CallError::InputRequired(InputRequired {
                        requests,
                        state: Some("whoami-state".into()),
                    }));
                }
            },
            "whoami_slow" => {
                let ms = number("ms");
                // Progress first, so that a client knows the call is under way.
                cx.progress(0.0, Some(1.0), Some("sleeping")).await;
                mcp_guest::wasip2::clocks::monotonic_clock::subscribe_duration(
                    Duration::from_millis(ms).as_nanos() as u64,
                )
                .block();
                report["slept_ms"] = json!(ms);
            }
            _ => return Err(CallError::UnknownTool),
        }
        report["identity"] = request.identity.map_or(Value::Null, Value::Object);
        Ok(CallToolResult {
            content: vec![ContentBlock::text(report["identity"].to_string())],
            structured_content: Some(report),
            ..CallToolResult::default()
        })
    }

    fn implementation() -> Implementation {
        Implementation { name: "whoami".into(), version: "0".into(), title: None }
    }
}

mcp_guest::export!(WhoAmI);
