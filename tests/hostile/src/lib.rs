//! A tool component that tries everything a sandbox must stop: spinning
//! forever, eating memory, trapping, answering with too much, reaching hosts
//! and addresses it was not granted, and reading the host's environment.
//! Built from source for the sandbox tests; never deployed.

use std::time::Duration;

use mcp_guest::fetch;
use mcp_guest::protocol::{CallError, CallRequest, CallToolResult, ContentBlock, Implementation, Tool};
use mcp_guest::{Context, Server};
use serde_json::{Value, json};

struct Hostile;

fn tool(name: &str, description: &str, properties: Value) -> Tool {
    Tool::new(name, description, json!({ "type": "object", "properties": properties }))
}

fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult { content: vec![ContentBlock::text(text)], ..CallToolResult::default() }
}

impl Server for Hostile {
    fn tools() -> Vec<Tool> {
        let url = json!({ "url": { "type": "string" }, "times": { "type": "integer" } });
        vec![
            tool("spin", "Loops forever.", json!({})),
            tool("allocate", "Allocates memory until it fails.", json!({})),
            tool("panic", "Panics.", json!({})),
            tool(
                "huge_result",
                "Answers with `bytes` bytes of text.",
                json!({ "bytes": { "type": "integer" } }),
            ),
            tool("fetch", "GETs `url` `times` times and reports what happened.", url),
            tool("env", "Reports every environment variable it can see.", json!({})),
            Tool {
                output_schema: json!({
                    "type": "object",
                    "properties": { "temperature": { "type": "number" } },
                    "required": ["temperature"],
                })
                .as_object()
                .cloned(),
                ..tool("wrong_shape", "Promises a number and returns text.", json!({}))
            },
        ]
    }

    async fn call(request: CallRequest, _cx: Context) -> Result<CallToolResult, CallError> {
        let number =
            |key: &str, default: u64| request.arguments.get(key).and_then(Value::as_u64).unwrap_or(default);
        Ok(match request.name.as_str() {
            "spin" => loop {
                std::hint::black_box(());
            },
            "allocate" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("the hostile component panics"),
            "huge_result" => text("x".repeat(number("bytes", 2 << 20) as usize)),
            "fetch" => {
                let url = request.arguments.get("url").and_then(Value::as_str).unwrap_or_default();
                let mut outcomes = Vec::new();
                for _ in 0..number("times", 1) {
                    outcomes.push(match fetch::get(url, Duration::from_secs(30), 64 << 20) {
                        Ok(response) => format!("HTTP {} ({} bytes)", response.status, response.body.len()),
                        Err(error) => format!("failed: {error}"),
                    });
                }
                text(outcomes.join("\n"))
            }
            "wrong_shape" => CallToolResult {
                structured_content: Some(json!({ "temperature": "hot" })),
                ..text(r#"{"temperature":"hot"}"#)
            },
            "env" => text(json!(std::env::vars().collect::<Vec<_>>()).to_string()),
            _ => return Err(CallError::UnknownTool),
        })
    }

    fn implementation() -> Implementation {
        Implementation { name: "hostile".into(), version: "0".into(), title: None }
    }
}

mcp_guest::export!(Hostile);
