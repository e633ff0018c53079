//! The weather component alone under the stock `wasmtime serve` answers the
//! same MCP requests exactly as `mcp-host` does, apart from what legitimately
//! differs: who the server says it is, the host's sessions, whether lists
//! can change (the host swaps components; a component alone cannot), and what
//! only the host does: the Skills extension's entries and JSON Schema checks.

use mcp_e2e::fake;
use mcp_e2e::harness::{Host, JSON_AND_SSE, Reply, served_weather_wasm, weather_policy, weather_wasm};
use serde_json::{Value, json};

/// Status, content type and body with the server's identity and `listChanged` removed.
fn normalized(reply: &Reply) -> (u16, Option<String>, Value) {
    let strip = |mut message: Value| {
        if let Some(result) = message.get_mut("result").and_then(Value::as_object_mut) {
            result.remove("serverInfo");
            // In 2026-07-28, resource updates travel on subscriptions/listen,
            // which carries them only where lists can change.
            let discover = result.contains_key("supportedVersions");
            if let Some(capabilities) = result.get_mut("capabilities").and_then(Value::as_object_mut) {
                capabilities.remove("extensions");
                for list in capabilities.values_mut().filter_map(Value::as_object_mut) {
                    list.remove("listChanged");
                    if discover {
                        list.remove("subscribe");
                    }
                }
            }
            if let Some(meta) = result.get_mut("_meta").and_then(Value::as_object_mut) {
                meta.remove("io.modelcontextprotocol/serverInfo");
            }
        }
        message
    };
    let content_type = reply.header("content-type").map(String::from);
    let body = match content_type.as_deref() {
        Some("text/event-stream") => Value::Array(reply.sse_messages().into_iter().map(strip).collect()),
        _ if reply.body.is_empty() => Value::Null,
        _ => match serde_json::from_str::<Value>(&reply.body) {
            Ok(Value::Array(batch)) => Value::Array(batch.into_iter().map(strip).collect()),
            Ok(single) => strip(single),
            Err(_) => Value::String(reply.body.clone()),
        },
    };
    (reply.status, content_type, body)
}

fn modern(id: u32, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

/// A call of the weather tool at `latitude`.
fn call(id: u32, latitude: f64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{
        "name":"get_current_weather","arguments":{"latitude":latitude,"longitude":13.41}}})
}

/// The MCP requests every build of the weather tool must answer as the host
/// does, with the headers each is sent with.
fn requests() -> Vec<(Value, Vec<(&'static str, &'static str)>)> {
    let modern_headers = |method: &'static str, name: Option<&'static str>| {
        let mut headers = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
        headers.extend(name.map(|n| ("mcp-name", n)));
        headers
    };
    vec![
        (
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
            vec![],
        ),
        (
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            vec![("mcp-protocol-version", "2025-11-25")],
        ),
        (json!({"jsonrpc":"2.0","id":2,"method":"ping"}), vec![]),
        (json!({"jsonrpc":"2.0","id":3,"method":"tools/list"}), vec![]),
        (json!({"jsonrpc":"2.0","id":4,"method":"resources/list"}), vec![]),
        (
            json!({"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"ui://widget/current-weather.html"}}),
            vec![],
        ),
        (json!({"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"uri":"ui://nope"}}), vec![]),
        (call(7, 52.52), vec![]),
        (call(8, -1.0), vec![]),
        (
            json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"get_current_weather",
            "arguments":{"latitude":52.52,"longitude":13.41},"_meta":{"progressToken":7}}}),
            vec![],
        ),
        (json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"nope"}}), vec![]),
        (json!({"jsonrpc":"2.0","id":12,"method":"no/such"}), vec![]),
        (json!({"jsonrpc":"1.0","id":13,"method":"ping"}), vec![]),
        (
            json!([{"jsonrpc":"2.0","id":14,"method":"ping"},{"jsonrpc":"2.0","id":15,"method":"tools/list"}]),
            vec![("mcp-protocol-version", "2025-03-26")],
        ),
        (modern(16, "server/discover", json!({})), modern_headers("server/discover", None)),
        (modern(17, "tools/list", json!({})), modern_headers("tools/list", None)),
        (
            modern(
                18,
                "tools/call",
                json!({"name":"get_current_weather","arguments":{"latitude":52.52,"longitude":13.41}}),
            ),
            modern_headers("tools/call", Some("get_current_weather")),
        ),
        (
            modern(19, "tools/call", json!({"name":"get_current_weather","arguments":{}})),
            modern_headers("tools/call", Some("wrong")),
        ),
        (modern(20, "ping", json!({})), modern_headers("ping", None)),
    ]
}

#[tokio::test]
async fn wasmtime_serve_and_the_host_answer_alike() {
    let api = fake::shared().url();
    let host = Host::start(&[("weather", &weather_wasm(), &weather_policy(&api))], &[]);
    let alone = Host::serve_alone(&weather_wasm(), &[("OPEN_METEO_URL", &api)]);

    let json_headers = [("content-type", "application/json"), ("accept", JSON_AND_SSE)];
    let requests = requests();
    for (body, extra) in &requests {
        let (a, b) = (host.post(body, extra).await, alone.post(body, extra).await);
        assert_eq!(normalized(&a), normalized(&b), "request {body}");
    }
    // Arguments outside the schema: the host refuses them before the component
    // runs (its validator); alone, the component's own check answers.
    let (a, b) = (host.post(&call(9, 95.0), &[]).await.json(), alone.post(&call(9, 95.0), &[]).await.json());
    assert_eq!((&a["result"]["isError"], &b["result"]["isError"]), (&json!(true), &json!(true)), "{a} {b}");
    let host_says = a["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        host_says.starts_with("Invalid arguments for tool get_current_weather: /latitude"),
        "{host_says}"
    );
    assert!(b["result"]["content"][0]["text"].as_str().unwrap().contains("latitude must be between"), "{b}");

    // Raw HTTP-level cases.
    type Raw<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>);
    let raw: Vec<Raw> = vec![
        ("POST", "/mcp", json_headers.to_vec(), b"{oops".to_vec()),
        ("POST", "/mcp", vec![("content-type", "text/plain")], b"{}".to_vec()),
        ("POST", "/mcp", vec![("content-type", "application/json"), ("accept", "text/html")], b"{}".to_vec()),
        (
            "POST",
            "/mcp",
            vec![("content-type", "application/json"), ("origin", "http://evil.example.com")],
            b"{}".to_vec(),
        ),
        (
            "POST",
            "/mcp",
            vec![("content-type", "application/json"), ("host", "evil.example.com")],
            b"{}".to_vec(),
        ),
        ("POST", "/mcp", json_headers.to_vec(), vec![b' '; 2 << 20]),
        ("GET", "/mcp", vec![("accept", "text/event-stream")], vec![]),
        ("GET", "/", vec![], vec![]),
        ("GET", "/other", vec![], vec![]),
    ];
    for (method, path, headers, body) in raw {
        let a = host.send(method, path, &headers, body.clone()).await;
        let b = alone.send(method, path, &headers, body).await;
        assert_eq!(normalized(&a), normalized(&b), "{method} {path} {headers:?}");
    }
}

/// A Python or TypeScript tool brings no HTTP server of its own: composed
/// with the adapter (`guest/serve-adapter`, `wac plug`), it answers alone under
/// `wasmtime serve` exactly as the host serving the Rust build does.
#[tokio::test]
async fn the_python_and_typescript_tools_run_alone_composed_with_the_adapter() {
    let api = fake::shared().url();
    let host = Host::start(&[("weather", &weather_wasm(), &weather_policy(&api))], &[]);
    for lang in ["python", "typescript"] {
        let alone = Host::serve_alone(&served_weather_wasm(lang), &[("OPEN_METEO_URL", &api)]);
        for (body, extra) in &requests() {
            let (a, b) = (host.post(body, extra).await, alone.post(body, extra).await);
            assert_eq!(normalized(&a), normalized(&b), "{lang}: request {body}");
        }
    }
}
