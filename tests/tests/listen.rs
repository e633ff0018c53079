//! `subscriptions/listen` (2026-07-28) against the real host: a client's
//! stream hears the list changes and resource updates it asked for, when a
//! hot swap makes them, each tagged with its subscription id.

use std::time::Duration;

use mcp_e2e::harness::{Host, versioned_wasm, weather_policy, weather_wasm};
use serde_json::{Value, json};

const WIDGET: &str = "ui://widget/current-weather.html";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

fn headers(method: &str) -> Vec<(&'static str, String)> {
    vec![("mcp-protocol-version", "2026-07-28".into()), ("mcp-method", method.into())]
}

#[tokio::test]
async fn a_listen_stream_carries_what_a_swap_changes() {
    let mut host = Host::start(&[("weather", &weather_wasm(), &weather_policy("http://127.0.0.1:9"))], &[]);
    let discover = json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta": meta()}});
    let h = headers("server/discover");
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let capabilities = host.post(&discover, &h).await.json()["result"]["capabilities"].clone();
    assert_eq!(capabilities["tools"]["listChanged"], true, "{capabilities}");
    assert_eq!(capabilities["resources"]["subscribe"], true, "{capabilities}");

    let listen = json!({"jsonrpc":"2.0","id":"watch-1","method":"subscriptions/listen","params":{
        "_meta": meta(),
        "notifications": {"toolsListChanged": true, "promptsListChanged": true, "resourceSubscriptions": [WIDGET]},
    }});
    let h = headers("subscriptions/listen");
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, response_headers, mut stream) = host.post_stream(&listen, &h).await;
    assert_eq!(status, 200);
    assert!(response_headers["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let wait = Duration::from_secs(20);

    // First the acknowledgement, with what the server agreed to: no prompts
    // (the weather component has none), so no prompt notifications.
    let ack = stream.next(wait).await.expect("the acknowledgement");
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged", "{ack}");
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "watch-1");
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true, "resourceSubscriptions": [WIDGET]})
    );

    // A new component adds a tool: the tool list changed.
    let dir = host.components_dir().to_owned();
    std::fs::copy(versioned_wasm(1), dir.join("versioned.wasm.tmp")).unwrap();
    std::fs::write(dir.join("versioned.toml"), "").unwrap();
    std::fs::rename(dir.join("versioned.wasm.tmp"), dir.join("versioned.wasm")).unwrap();
    let changed = stream.next(wait).await.expect("a list change");
    assert_eq!(changed["method"], "notifications/tools/list_changed", "{changed}");
    assert_eq!(changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "watch-1");

    // A new version of the weather component (a changed policy) serves the
    // widget now: the watched resource may read differently. Its lists are
    // the same, so nothing else is sent.
    let policy = weather_policy("http://127.0.0.1:9") + "\n[limits]\ntimeout_ms = 9000\n";
    std::fs::write(dir.join("weather.toml.tmp"), policy).unwrap();
    std::fs::rename(dir.join("weather.toml.tmp"), dir.join("weather.toml")).unwrap();
    let updated = stream.next(wait).await.expect("a resource update");
    assert_eq!(updated["method"], "notifications/resources/updated", "{updated}");
    assert_eq!(updated["params"]["uri"], WIDGET);
    assert_eq!(updated["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "watch-1");

    // Stopping, the host ends the stream with the listen's response.
    host.terminate();
    let ended = stream.next(wait).await.expect("the final response");
    assert_eq!(ended["id"], "watch-1", "{ended}");
    assert_eq!(ended["result"]["resultType"], "complete");
    assert_eq!(ended["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "watch-1");
    assert!(stream.next(wait).await.is_none(), "nothing after the response");
    assert!(host.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()));
}

#[tokio::test]
async fn a_listen_needs_a_filter() {
    let host = Host::start(&[("weather", &weather_wasm(), &weather_policy("http://127.0.0.1:9"))], &[]);
    let h = headers("subscriptions/listen");
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for notifications in
        [Value::Null, json!({"toolsListChanged": "yes"}), json!({"resourceSubscriptions": "x"})]
    {
        let mut params = json!({"_meta": meta()});
        if !notifications.is_null() {
            params["notifications"] = notifications.clone();
        }
        let listen = json!({"jsonrpc":"2.0","id":3,"method":"subscriptions/listen","params":params});
        let reply = host.post(&listen, &h).await;
        assert_eq!(reply.json()["error"]["code"], -32602, "{notifications}: {}", reply.body);
    }
}
