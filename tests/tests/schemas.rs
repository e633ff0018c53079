//! Tool schemas against the real host: JSON Schema 2020-12 passed through
//! unchanged and enforced on arguments before the component runs, structured
//! results checked against the output schema, `x-mcp-header` arguments
//! repeated in `Mcp-Param-*` headers (2026-07-28), and the ChatGPT app
//! directory's domain-verification route. (Schemas that cannot be used, such
//! as a network `$ref`, are refused at load: `mcp_protocol::schema`'s tests.)

use mcp_e2e::harness::{Host, conformance_wasm, hostile_wasm, text};
use serde_json::{Value, json};

fn start() -> Host {
    Host::start(&[("conformance", &conformance_wasm(), ""), ("hostile", &hostile_wasm(), "")], &[])
}

/// A 2026-07-28 `tools/call` with the standard headers plus `extra`.
async fn modern_call(host: &Host, name: &str, arguments: Value, extra: &[(&str, &str)]) -> (u16, Value) {
    let body = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{
        "name": name,
        "arguments": arguments,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    }});
    let mut headers =
        vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", name)];
    headers.extend_from_slice(extra);
    let reply = host.post(&body, &headers).await;
    (reply.status, reply.json())
}

#[tokio::test]
async fn schemas_are_listed_as_the_component_wrote_them() {
    let host = start();
    let tools = host.rpc("tools/list", json!({})).await;
    let tool = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "json_schema_2020_12_tool")
        .cloned()
        .expect("the fixture is listed");
    let schema = &tool["inputSchema"];
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["$defs"]["address"]["$anchor"], "addressDef");
    assert_eq!(schema["properties"]["address"]["$ref"], "#/$defs/address");
    assert_eq!(schema["additionalProperties"], false);
    assert!(schema["allOf"][0]["anyOf"].is_array() && schema["if"].is_object() && schema["else"].is_object());
}

#[tokio::test]
async fn arguments_are_checked_before_the_component_runs() {
    let host = start();
    let ok = host
        .call("json_schema_2020_12_tool", json!({"name":"Ada","contactMethod":"email","email":"a@b.c"}))
        .await;
    assert_eq!(ok["isError"], Value::Null, "{ok}");
    assert!(text(&ok).starts_with("Received: "), "{ok}");

    for (arguments, needle) in [
        // `then` of the conditional: contactMethod phone needs a phone.
        (json!({"contactMethod":"phone","email":"a@b.c"}), "phone"),
        // The `$ref` into `$defs` is followed.
        (json!({"email":"a@b.c","address":{"city":7}}), "/address/city"),
        // additionalProperties: false.
        (json!({"email":"a@b.c","nickname":"x"}), "nickname"),
        // anyOf: neither phone nor email.
        (json!({"name":"Ada"}), "json_schema_2020_12_tool"),
    ] {
        let result = host.call("json_schema_2020_12_tool", arguments.clone()).await;
        assert_eq!(result["isError"], true, "{arguments}: {result}");
        let message = text(&result);
        assert!(message.starts_with("Invalid arguments for tool json_schema_2020_12_tool: "), "{message}");
        assert!(message.contains(needle), "{arguments}: {message}");
        assert!(!message.starts_with("Received"), "the component never ran: {message}");
    }
    // A long wrong value is reported within bounds.
    let result = host.call("test_custom_header", json!({"region": ["x".repeat(100_000)]})).await;
    assert_eq!(result["isError"], true);
    assert!(text(&result).len() < 2_000, "{}", text(&result).len());
    host.logged("tool error");
}

#[tokio::test]
async fn a_structured_result_that_breaks_its_output_schema_is_a_tool_error() {
    let host = start();
    let result = host.call("wrong_shape", json!({})).await;
    assert_eq!(result["isError"], true, "{result}");
    assert!(result.get("structuredContent").is_none(), "{result}");
    let message = text(&result);
    assert!(
        message.contains("does not match its outputSchema") && message.contains("temperature"),
        "{message}"
    );
    host.logged("result refused");
}

#[tokio::test]
async fn param_headers_must_repeat_the_arguments() {
    let host = start();
    let region = json!({"region": "Hello"});
    let accepted = [
        ("Mcp-Param-Region", "Hello"),
        ("mcp-param-region", "=?base64?SGVsbG8=?="),
        ("MCP-PARAM-REGION", "  Hello  "),
    ];
    for header in accepted {
        let (status, body) = modern_call(&host, "test_custom_header", region.clone(), &[header]).await;
        assert_eq!(status, 200, "{header:?}: {body}");
        assert_eq!(text(&body["result"]), "Region: Hello", "{header:?}");
    }
    // A value that only looks like Base64 is literal.
    let literal = json!({"region": "=?base64?SGVsbG8="});
    let (status, body) =
        modern_call(&host, "test_custom_header", literal, &[("Mcp-Param-Region", "=?base64?SGVsbG8=")]).await;
    assert_eq!(status, 200, "{body}");

    let refused: [&[(&str, &str)]; 5] = [
        &[("Mcp-Param-Region", "World")],
        &[("Mcp-Param-Region", "=?base64?SGVsbG8?=")],
        &[("Mcp-Param-Region", "=?base64?SGVs!!!bG8=?=")],
        &[("Mcp-Param-Region", "hello")],
        &[],
    ];
    for headers in refused {
        let (status, body) = modern_call(&host, "test_custom_header", region.clone(), headers).await;
        assert_eq!((status, body["error"]["code"].clone()), (400, json!(-32020)), "{headers:?}: {body}");
        assert_eq!(body["id"], 7);
    }
    // Without the argument, the header must not be sent either.
    let (status, body) =
        modern_call(&host, "test_custom_header", json!({}), &[("Mcp-Param-Region", "Hello")]).await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(-32020)), "{body}");
    // Sessions have no such headers: a legacy call is checked on its arguments only.
    let result = host.call("test_custom_header", region).await;
    assert_eq!(text(&result), "Region: Hello");
}

#[tokio::test]
async fn the_apps_challenge_is_served_when_configured() {
    let host = Host::start_with_env(
        &[("hostile", &hostile_wasm(), "")],
        &[],
        &[("MCP_OPENAI_APPS_CHALLENGE", "token-123_abc")],
    );
    let reply = host.send("GET", "/.well-known/openai-apps-challenge", &[], "").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "token-123_abc"));
    assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(host.send("POST", "/.well-known/openai-apps-challenge", &[], "").await.status, 405);

    let unset = Host::start(&[("hostile", &hostile_wasm(), "")], &[]);
    assert_eq!(unset.send("GET", "/.well-known/openai-apps-challenge", &[], "").await.status, 404);
}
