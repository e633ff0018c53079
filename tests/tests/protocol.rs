//! MCP over Streamable HTTP against the real host: handshakes of every
//! revision, sessions, the stateless 2026-07-28 form, and every error a
//! client can provoke, with its HTTP status and JSON-RPC code.

use mcp_e2e::fake;
use mcp_e2e::harness::{Host, JSON_AND_SSE, weather_policy, weather_wasm};
use serde_json::{Value, json};

fn start() -> Host {
    Host::start(&[("weather", &weather_wasm(), &weather_policy(&fake::shared().url()))], &[])
}

fn initialize(version: &str) -> Value {
    json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":version,"capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}})
}

#[tokio::test]
async fn every_legacy_revision_negotiates_and_gets_a_session() {
    let host = start();
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let reply = host.post(&initialize(asked), &[]).await;
        assert_eq!(reply.status, 200);
        let result = &reply.json()["result"];
        assert_eq!(result["protocolVersion"], answered);
        assert_eq!(result["serverInfo"]["name"], "mcp-host");
        assert!(
            result["capabilities"]["tools"].is_object() && result["capabilities"]["resources"].is_object()
        );
        let session = reply.header("mcp-session-id").expect("a session id").to_owned();

        let headers = [("mcp-session-id", session.as_str()), ("mcp-protocol-version", answered)];
        let note = host.post(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}), &headers).await;
        assert_eq!((note.status, note.body.as_str()), (202, ""));
        let ping = host.post(&json!({"jsonrpc":"2.0","id":"p","method":"ping"}), &headers).await;
        assert_eq!(ping.json(), json!({"jsonrpc":"2.0","id":"p","result":{}}));
        let level = host
            .post(
                &json!({"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"debug"}}),
                &headers,
            )
            .await;
        assert_eq!(level.json()["result"], json!({}));
    }
}

#[tokio::test]
async fn sessions_can_end_and_unknown_ones_are_404() {
    let host = start();
    let reply = host.post(&initialize("2025-11-25"), &[]).await;
    let session = reply.header("mcp-session-id").unwrap().to_owned();
    let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});

    let ok = host.post(&list, &[("mcp-session-id", &session)]).await;
    assert_eq!(ok.status, 200);
    for forged in ["nope", "AQAAAABrBWlHehQl7wSQxmPubPAD2UhiubS-pu_2Qca1D6PwkmZL_bA"] {
        let reply = host.post(&list, &[("mcp-session-id", forged)]).await;
        assert_eq!(reply.status, 404, "{forged}");
        assert_eq!(reply.json()["id"], 1);
    }
    // initialize with a stale id starts over instead of failing.
    let again = host.post(&initialize("2025-11-25"), &[("mcp-session-id", "stale")]).await;
    assert_eq!(again.status, 200);
    assert!(again.header("mcp-session-id").is_some());

    let ended = host.send("DELETE", "/mcp", &[("mcp-session-id", &session)], "").await;
    assert_eq!(ended.status, 204);
    assert_eq!(host.post(&list, &[("mcp-session-id", &session)]).await.status, 404);
    assert_eq!(host.send("DELETE", "/mcp", &[("mcp-session-id", &session)], "").await.status, 404);
    assert_eq!(host.send("DELETE", "/mcp", &[], "").await.status, 400);
}

fn modern(method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc":"2.0","id":5,"method":method,"params":params})
}

#[tokio::test]
async fn the_stateless_revision_works_without_initialize() {
    let host = start();
    let headers = |method: &'static str| vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
    let discover = host.post(&modern("server/discover", json!({})), &headers("server/discover")).await;
    assert_eq!(discover.status, 200, "{}", discover.body);
    let result = &discover.json()["result"];
    assert_eq!(result["resultType"], "complete");
    assert!(result["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")));
    assert!(result["supportedVersions"].as_array().unwrap().contains(&json!("2025-03-26")));
    assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "mcp-host");
    assert!(discover.header("mcp-session-id").is_none(), "no sessions in 2026-07-28");

    let tools = host.post(&modern("tools/list", json!({})), &headers("tools/list")).await;
    let result = &tools.json()["result"];
    assert_eq!(result["tools"][0]["name"], "get_current_weather");
    assert!(result["ttlMs"].is_u64() && result["cacheScope"] == "public");

    let call = modern(
        "tools/call",
        json!({"name":"get_current_weather","arguments":{"latitude":52.52,"longitude":13.41}}),
    );
    let mut call_headers = headers("tools/call");
    call_headers.push(("mcp-name", "get_current_weather"));
    let reply = host.post(&call, &call_headers).await;
    let result = &reply.json()["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["structuredContent"]["current"]["temperature"], 6.3);

    // The Mcp-Name header must agree with the body.
    let mut wrong = headers("tools/call");
    wrong.push(("mcp-name", "other_tool"));
    let reply = host.post(&call, &wrong).await;
    assert_eq!((reply.status, reply.json()["error"]["code"].clone()), (400, json!(-32020)));

    // Methods 2026-07-28 removed are 404 + -32601, keeping the id.
    let reply = host.post(&modern("ping", json!({})), &headers("ping")).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        (reply.json()["error"]["code"].clone(), reply.json()["id"].clone()),
        (json!(-32601), json!(5))
    );

    // Missing _meta under the 2026-07-28 header is 400 + -32602.
    let bare = json!({"jsonrpc":"2.0","id":6,"method":"tools/list"});
    let reply = host.post(&bare, &headers("tools/list")).await;
    assert_eq!((reply.status, reply.json()["error"]["code"].clone()), (400, json!(-32602)));

    // A revision we do not speak is 400 + -32022 listing what we do.
    let mut future = modern("tools/list", json!({}));
    future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2031-01-01");
    let reply =
        host.post(&future, &[("mcp-protocol-version", "2031-01-01"), ("mcp-method", "tools/list")]).await;
    let error = &reply.json()["error"];
    assert_eq!((reply.status, error["code"].clone()), (400, json!(-32022)));
    assert_eq!(error["data"]["requested"], "2031-01-01");
}

#[tokio::test]
async fn json_rpc_errors() {
    let host = start();
    let cases = [
        (b"{not json".to_vec(), 400, -32700, Value::Null),
        (br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#.to_vec(), 400, -32600, json!(1)),
        (br#"{"jsonrpc":"2.0","id":2,"method":7}"#.to_vec(), 400, -32600, json!(2)),
        (br#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":[1]}"#.to_vec(), 400, -32600, json!(3)),
        (br#"{"jsonrpc":"2.0","id":4,"method":"no/such/method"}"#.to_vec(), 200, -32601, json!(4)),
        (
            br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"no_such_tool"}}"#.to_vec(),
            200,
            -32602,
            json!(5),
        ),
        (br#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{}}"#.to_vec(), 200, -32602, json!(6)),
        (
            br#"{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"ui://nope"}}"#.to_vec(),
            200,
            -32002,
            json!(7),
        ),
        (
            br#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"cursor":"zzz"}}"#.to_vec(),
            200,
            -32602,
            json!(8),
        ),
        (br#"[]"#.to_vec(), 400, -32600, Value::Null),
    ];
    for (body, status, code, id) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let reply = host
            .send("POST", "/mcp", &[("content-type", "application/json"), ("accept", JSON_AND_SSE)], body)
            .await;
        assert_eq!(reply.status, status, "{shown}: {}", reply.body);
        let answer = reply.json();
        assert_eq!(answer["error"]["code"], code, "{shown}: {answer}");
        assert_eq!(answer["id"], id, "{shown}");
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn http_errors() {
    let host = start();
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let json_type = ("content-type", "application/json");
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        ("GET", "/", vec![], vec![], 200),
        ("GET", "/elsewhere", vec![], vec![], 404),
        ("GET", "/mcp", vec![("accept", "text/event-stream")], vec![], 405),
        ("PUT", "/mcp", vec![json_type], ping.to_vec(), 405),
        ("POST", "/mcp", vec![("content-type", "text/plain")], ping.to_vec(), 415),
        ("POST", "/mcp", vec![json_type, ("accept", "text/html")], ping.to_vec(), 406),
        ("POST", "/mcp", vec![json_type, ("origin", "http://evil.example.com")], ping.to_vec(), 403),
        ("POST", "/mcp", vec![json_type, ("host", "evil.example.com")], ping.to_vec(), 403),
        ("POST", "/mcp", vec![json_type, ("mcp-protocol-version", "1999-01-01")], ping.to_vec(), 400),
        ("POST", "/mcp", vec![json_type, ("origin", "http://localhost:6274")], ping.to_vec(), 200),
        ("POST", "/mcp", vec![json_type], vec![b' '; 2 << 20], 413),
    ];
    for (method, path, headers, body, status) in cases {
        let reply = host.send(method, path, &headers, body).await;
        assert_eq!(reply.status, status, "{method} {path} {headers:?}: {}", reply.body);
    }
    // The host stays up and correct after all of that.
    assert_eq!(host.rpc("ping", json!({})).await["result"], json!({}));
}

#[tokio::test]
async fn batches_for_2025_03_26() {
    let host = start();
    let batch = json!([
        {"jsonrpc":"2.0","id":1,"method":"ping"},
        {"jsonrpc":"2.0","method":"notifications/initialized"},
        {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_current_weather","arguments":{"latitude":52.52,"longitude":13.41}}},
        {"jsonrpc":"2.0","id":3,"method":"nope"},
    ]);
    let reply = host.post(&batch, &[("mcp-protocol-version", "2025-03-26")]).await;
    assert_eq!(reply.status, 200);
    let answers = reply.json();
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 3, "one answer per request, none for the notification");
    assert_eq!(answers[0]["result"], json!({}));
    assert_eq!(answers[1]["result"]["structuredContent"]["current"]["temperature"], 6.3);
    assert_eq!(answers[2]["error"]["code"], -32601);

    let only_notes = json!([{"jsonrpc":"2.0","method":"notifications/initialized"}]);
    assert_eq!(host.post(&only_notes, &[]).await.status, 202);
    let reply = host.post(&batch, &[("mcp-protocol-version", "2025-06-18")]).await;
    assert_eq!((reply.status, reply.json()["error"]["code"].clone()), (400, json!(-32600)));
}

#[tokio::test]
async fn every_request_is_logged_with_method_target_duration_and_outcome() {
    let host = start();
    host.call_weather(52.52, 13.41).await;
    let line = host.logged("method=tools/call");
    for needle in ["target=\"get_current_weather\"", "ms=", "outcome=\"ok\""] {
        assert!(line.contains(needle), "{needle} in {line}");
    }
    host.rpc("tools/call", json!({"name":"missing"})).await;
    let line = host.logged("target=\"missing\"");
    assert!(line.contains("outcome=\"error -32602\""), "{line}");
}
