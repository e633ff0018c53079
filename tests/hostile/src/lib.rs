//! A tool component that tries everything a sandbox must stop: spinning
//! forever, eating memory, trapping, answering with too much, reaching hosts
//! and addresses it was not granted, reading the host's environment, its
//! files and its network.
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
            tool("files", "Tries to read, write and list the host's files.", json!({})),
            tool(
                "sockets",
                "Tries TCP, UDP and DNS, raw and through std, to `address`.",
                json!({ "address": { "type": "string" } }),
            ),
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
            "files" => text(files().to_string()),
            "sockets" => {
                let address = request.arguments.get("address").and_then(Value::as_str).unwrap_or_default();
                text(sockets(address).to_string())
            }
            _ => return Err(CallError::UnknownTool),
        })
    }

    fn implementation() -> Implementation {
        Implementation { name: "hostile".into(), version: "0".into(), title: None }
    }
}

/// What each attempt on the filesystem got: the preopened directories, and
/// each std call's error (or "ok", which the sandbox must never allow).
fn files() -> Value {
    fn outcome<T>(result: std::io::Result<T>) -> String {
        result.map_or_else(|error| format!("error: {error}"), |_| "ok".into())
    }
    json!({
        "preopens": wasip2::filesystem::preopens::get_directories().len(),
        "read": outcome(std::fs::read("/etc/passwd")),
        "write": outcome(std::fs::write("/tmp/hostile", b"x")),
        "list": outcome(std::fs::read_dir("/")),
    })
}

/// What each attempt on the network got: the WASI error code of the raw
/// calls, and std's error for a TCP connection to `address`.
fn sockets(address: &str) -> Value {
    use wasip2::sockets::network::IpAddressFamily;
    use wasip2::sockets::{instance_network, ip_name_lookup, tcp_create_socket, udp_create_socket};
    let network = instance_network::instance_network();
    let lookup = match ip_name_lookup::resolve_addresses(&network, "localhost") {
        Ok(stream) => {
            stream.subscribe().block();
            stream.resolve_next_address().map(|address| format!("{address:?}"))
        }
        Err(code) => Err(code),
    };
    let code = |code: wasip2::sockets::network::ErrorCode| code.name().to_owned();
    json!({
        "tcp": tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4).map(|_| "ok").map_err(code),
        "udp": udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4).map(|_| "ok").map_err(code),
        "lookup": lookup.map_err(code),
        "connect": std::net::TcpStream::connect(address).map_or_else(|e| format!("error: {e}"), |_| "ok".into()),
    })
}

mcp_guest::export!(Hostile);
