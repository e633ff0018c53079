//! The weather tool written in Python (componentize-py, `guest/python`) and
//! TypeScript (componentize-js, `guest/typescript`)
//! answers exactly as the Rust one: the same requests go to a host serving
//! each build, and every answer must be identical, errors included.
//! A Python build also swaps in for the Rust one under load without a failed call.
//! Needs `make build` (the toolchains are the Makefile's).

use std::sync::Arc;
use std::time::Duration;

use mcp_e2e::fake;
use mcp_e2e::harness::{
    Host, features_wasm, polyglot_weather_wasm, sha256, shared_code_cache, weather_policy, weather_wasm,
};
use mcp_e2e::load::{Load, assert_none_failed};
use serde_json::{Value, json};

/// The languages compared with the Rust component.
const LANGS: [&str; 2] = ["python", "typescript"];

/// A host serving the Rust build, and one per other language, with `policy`.
fn hosts(policy: &str) -> Vec<(&'static str, Host)> {
    let mut hosts = vec![("rust", Host::start(&[("weather", &weather_wasm(), policy)], &[]))];
    let cache = shared_code_cache();
    for lang in LANGS {
        let components = [("weather", &*polyglot_weather_wasm(lang), policy)];
        hosts.push((lang, Host::start(&components, &["--cache-dir", &cache])));
    }
    hosts
}

/// Sends `body` to every host and requires the same status, content type and
/// JSON-RPC messages (one for a JSON answer, every event for a stream).
async fn same_answer(hosts: &[(&str, Host)], body: Value, headers: &[(&str, &str)]) -> Value {
    same_answer_but(hosts, body, headers, &[]).await
}

/// As `same_answer`, but the languages in `apart` need only answer with a
/// tool error: componentize-js's `fetch` reports every transport failure (a
/// refused destination, a timeout) as the same opaque `NetworkError`, so the
/// TypeScript tool cannot tell them apart as the others do.
async fn same_answer_but(
    hosts: &[(&str, Host)],
    body: Value,
    headers: &[(&str, &str)],
    apart: &[&str],
) -> Value {
    let mut answers = Vec::new();
    for (lang, host) in hosts {
        if apart.contains(lang) {
            let reply = host.post(&body, headers).await;
            let messages = if reply.header("content-type") == Some("text/event-stream") {
                reply.sse_messages()
            } else {
                vec![reply.json()]
            };
            let result = &messages.last().expect("an answer")["result"];
            assert_eq!(result["isError"], true, "{lang}: {result}");
            continue;
        }
        let reply = host.post(&body, headers).await;
        let messages = if reply.header("content-type") == Some("text/event-stream") {
            reply.sse_messages()
        } else {
            vec![reply.json()]
        };
        answers.push((lang, (reply.status, reply.header("content-type").map(str::to_owned), messages)));
    }
    let (_, rust) = &answers[0];
    for (lang, answer) in &answers[1..] {
        assert_eq!(answer, rust, "{lang} differs from rust for {body}");
    }
    json!(rust.2)
}

fn request(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

fn call(arguments: Value) -> Value {
    request("tools/call", json!({"name": "get_current_weather", "arguments": arguments}))
}

#[tokio::test]
async fn lists_reads_and_calls_answer_as_the_rust_component_does() {
    let api = fake::shared().url();
    let hosts = hosts(&weather_policy(&api));
    let tools = same_answer(&hosts, request("tools/list", json!({})), &[]).await;
    assert_eq!(tools[0]["result"]["tools"][0]["name"], "get_current_weather", "{tools}");
    let resources = same_answer(&hosts, request("resources/list", json!({})), &[]).await;
    assert_eq!(resources[0]["result"]["resources"].as_array().map(Vec::len), Some(3), "{resources}");
    let uris = ["ui://widget/current-weather.html", "ui://widget/current-weather.mcp-app.html", "ui://nope"];
    for uri in uris.into_iter().chain(["skill://current-weather/SKILL.md"]) {
        same_answer(&hosts, request("resources/read", json!({"uri": uri})), &[]).await;
    }
    // The host builds the same skill entry from each language's SKILL.md.
    let skills = same_answer(&hosts, request("skills/list", json!({})), &[]).await;
    assert_eq!(skills[0]["result"]["skills"][0]["uri"], "skill://current-weather/SKILL.md", "{skills}");
    let success = same_answer(&hosts, call(json!({"latitude": 52.52, "longitude": 13.41})), &[]).await;
    assert_eq!(success[0]["result"]["structuredContent"]["current"]["temperature"], 6.3, "{success}");
    // Every argument error and every upstream error the fake produces
    // (tests/src/fake.rs): 400, 429, 503, not a forecast, 502 HTML, silence
    // past the policy's 2 s, a 3 MiB body.
    for arguments in [
        json!({"latitude": 95, "longitude": 0}),
        json!({"latitude": 0, "longitude": -181.5}),
        json!({"longitude": 0}),
        json!({"latitude": 1}),
        json!({"latitude": "north", "longitude": 0}),
        json!({"latitude": true, "longitude": 0}),
        json!({}),
        json!({"latitude": 1, "longitude": 2, "units": "metric"}),
        json!({"latitude": -1, "longitude": 10}),
        json!({"latitude": -2, "longitude": 10}),
        json!({"latitude": -3, "longitude": 10}),
        json!({"latitude": -4, "longitude": 10}),
        json!({"latitude": -5, "longitude": 10}),
        json!({"latitude": -7, "longitude": 10}),
        json!({"latitude": 48.13712, "longitude": -11.57539}),
    ] {
        same_answer(&hosts, call(arguments), &[]).await;
    }
    let silent = call(json!({"latitude": -6, "longitude": 10}));
    let timeout = same_answer_but(&hosts, silent, &[], &["typescript"]).await;
    assert!(
        timeout[0]["result"]["content"][0]["text"].as_str().unwrap().contains("did not answer"),
        "{timeout}"
    );
    let unknown = request("tools/call", json!({"name": "get_forecast", "arguments": {}}));
    same_answer(&hosts, unknown, &[]).await;
}

#[tokio::test]
async fn progress_and_logs_stream_as_the_rust_component_does() {
    let api = fake::shared().url();
    let hosts = hosts(&weather_policy(&api));
    let headers = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call")];
    let headers = [headers[0], headers[1], ("mcp-name", "get_current_weather")];
    for latitude in [52.52, -3.0, -6.0] {
        let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
            "name": "get_current_weather", "arguments": {"latitude": latitude, "longitude": 13.41},
            "_meta": {"progressToken": "p-1",
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/logLevel": "debug"}}});
        let apart: &[&str] = if latitude == -6.0 { &["typescript"] } else { &[] };
        let messages = same_answer_but(&hosts, body, &headers, apart).await;
        let events = messages.as_array().unwrap().iter().filter(|m| m.get("method").is_some()).count();
        assert!(events >= 2, "logs and progress were streamed: {messages}");
    }
}

#[tokio::test]
async fn a_destination_outside_the_policy_is_refused_as_for_rust() {
    let api = fake::shared().url();
    let policy = format!(
        "[outbound]\nallow = [\"api.open-meteo.com\"]\n[env]\nvars = {{ OPEN_METEO_URL = \"{api}\" }}\n"
    );
    let hosts = hosts(&policy);
    let before = fake::shared().requests.lock().unwrap().len();
    let answer =
        same_answer_but(&hosts, call(json!({"latitude": 48.1, "longitude": 11.6})), &[], &["typescript"])
            .await;
    assert_eq!(answer[0]["result"]["isError"], true, "{answer}");
    let reached =
        fake::shared().requests.lock().unwrap()[before..].iter().any(|r| r.contains("latitude=48.1&"));
    assert!(!reached, "the denied request never left the host");
}

/// An interpreter's call writes all over its snapshot (CPython's and
/// StarlingMonkey's reference counts, their heaps). Up to the host's budget,
/// the pages it wrote stay mapped in the instance's slot, and the snapshot is
/// copied back over them when the instance ends, so later calls do not fault
/// them in again: each such fault cost a TLB shootdown on every core
/// (`vendor/README.md`). Only the writes past the budget fault again.
#[tokio::test]
async fn interpreter_calls_do_not_fault_their_snapshot_in_again() {
    const CALLS: u64 = 20;
    let api = fake::shared().url();
    let cache = shared_code_cache();
    for lang in LANGS {
        let policy = weather_policy(&api);
        let host =
            Host::start(&[("weather", &polyglot_weather_wasm(lang), &policy)], &["--cache-dir", &cache]);
        // The first calls fault their pages in (into one instance slot or a few).
        let call = async || {
            let result = host.call_weather(52.52, 13.41).await;
            assert_eq!(result["structuredContent"]["current"]["temperature"], 6.3, "{lang}: {result}");
        };
        for _ in 0..20 {
            call().await;
        }
        let before = host.minor_faults();
        for _ in 0..CALLS {
            call().await;
        }
        let per_call = (host.minor_faults() - before) / CALLS;
        println!("{lang}: {per_call} minor faults per call");
        // Upstream wasmtime 48 kept only 32 runs of written pages: 556 a call in
        // Python. With 2 MiB kept per slot, 30 to 40: a Python call writes
        // 2 to 3 MiB. With 4 MiB (`KEEP_RESIDENT`), 0 to 3; TypeScript none.
        assert!(per_call < 20, "{lang}: {per_call} page faults per call");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_python_build_swaps_in_under_load_without_a_failed_call() {
    let api = fake::shared();
    let policy = weather_policy(&api.url());
    let cache = shared_code_cache();
    let host = Host::start(
        &[("weather", &weather_wasm(), &policy)],
        &["--cache-dir", &cache, "--poll-interval-ms", "300"],
    );
    let python = std::fs::read(polyglot_weather_wasm("python")).expect("the Python build");
    let host = Arc::new(host);
    let load = Load::calling(&host, "get_current_weather", json!({"latitude": 52.52, "longitude": 13.41}));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let folder = host.components_dir();
    std::fs::write(folder.join(".weather.wasm.partial"), &python).unwrap();
    std::fs::rename(folder.join(".weather.wasm.partial"), folder.join("weather.wasm")).unwrap();
    // Compiling an 18 MB Python component takes tens of seconds on a busy machine, unless cached.
    host.wait_for("weather", Duration::from_secs(180), |c| c["serving"]["sha256"] == sha256(&python)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let samples = load.stop().await;
    assert_none_failed(&samples);
    let answers: std::collections::BTreeSet<_> =
        samples.iter().filter_map(|s| s.outcome.as_ref().ok()).collect();
    assert_eq!(answers.len(), 1, "the Python build answers as the Rust one: {answers:?}");
    println!("{} calls, none failed, across the swap to Python", samples.len());
}

/// A 2026-07-28 request from a client of elicitation and tasks; its answer.
async fn modern(host: &Host, method: &str, name: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {
            "elicitation": {}, "extensions": { "io.modelcontextprotocol/tasks": {} } },
    });
    let headers = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", method), ("mcp-name", name)];
    let reply =
        host.post(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }), &headers).await;
    assert_eq!(reply.status, 200, "{method}: {}", reply.body);
    reply.json()
}

/// What a tool author writes besides the weather tool (`tests/features-*`):
/// a tool asking for input, a prompt with completions and a tool that runs as a task answer the
/// same in both languages (the host takes the task mark out of the listing).
#[tokio::test]
async fn input_requests_and_prompts_answer_the_same_in_python_and_typescript() {
    let cache = shared_code_cache();
    let mut answers = Vec::new();
    for lang in LANGS {
        let host = Host::start(&[("features", &*features_wasm(lang), "")], &["--cache-dir", &cache]);
        // The tool asks for a name: an `input_required` result, then the retry with the answer.
        let asked = modern(&host, "tools/call", "greet", json!({ "name": "greet", "arguments": {} })).await;
        let result = &asked["result"];
        assert_eq!(result["resultType"], "input_required", "{lang}: {asked}");
        assert_eq!(result["inputRequests"]["name"]["method"], "elicitation/create", "{lang}: {asked}");
        let mut retry = json!({ "name": "greet", "arguments": {},
            "inputResponses": { "name": { "action": "accept", "content": { "name": "Ada" } } } });
        if let Some(state) = result.get("requestState") {
            retry["requestState"] = state.clone();
        }
        let greeted = modern(&host, "tools/call", "greet", retry).await;
        assert_eq!(greeted["result"]["content"][0]["text"], "Hello, Ada!", "{lang}: {greeted}");
        let declined = modern(
            &host,
            "tools/call",
            "greet",
            json!({ "name": "greet", "arguments": {},
            "inputResponses": { "name": { "action": "decline" } } }),
        )
        .await;
        // Prompts: listed with their arguments, filled in, and a missing argument refused.
        let listed = host.rpc("prompts/list", json!({})).await;
        let got =
            host.rpc("prompts/get", json!({ "name": "greeting", "arguments": { "name": "Ada" } })).await;
        assert_eq!(
            got["result"]["messages"][0]["content"]["text"], "Write a warm greeting for Ada.",
            "{lang}: {got}"
        );
        let missing = host.rpc("prompts/get", json!({ "name": "greeting", "arguments": {} })).await;
        assert_eq!(missing["error"]["code"], -32602, "{lang}: {missing}");
        let completed = host
            .rpc(
                "completion/complete",
                json!({ "ref": { "type": "ref/prompt", "name": "greeting" }, "argument": { "name": "tone", "value": "w" } }),
            )
            .await;
        assert_eq!(
            completed["result"]["completion"],
            json!({ "values": ["warm", "wary", "witty"], "total": 3, "hasMore": false }),
            "{lang}: {completed}"
        );
        // A tool marked to run as a task: a task for this client, answered at once for a session's.
        let square = json!({ "name": "square", "arguments": { "x": 3 } });
        let created = modern(&host, "tools/call", "square", square.clone()).await;
        assert_eq!(created["result"]["resultType"], "task", "{lang}: {created}");
        let task = created["result"]["taskId"].as_str().expect("a task id").to_owned();
        let done = loop {
            let got = modern(&host, "tasks/get", &task, json!({ "taskId": task })).await;
            if got["result"]["status"] != "working" {
                break got["result"]["result"].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(done["content"][0]["text"], "3 squared is 9", "{lang}: {done}");
        let at_once = host.call("square", json!({ "x": 3 })).await;
        assert_eq!(at_once, done, "{lang}");
        let tools = host.rpc("tools/list", json!({})).await;
        assert!(!tools.to_string().contains("mcp-host/task"), "{lang}: {tools}");
        answers.push((lang, [asked["result"]["inputRequests"].clone(), greeted, declined, listed, got]));
    }
    assert_eq!(answers[0].1, answers[1].1, "python and typescript answer alike");
}
