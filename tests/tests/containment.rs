//! Containment against components written as an attacker would: against the
//! raw WIT (`tests/rogue`, no SDK) and altered after the build. Whatever an
//! instance makes the host hold is bounded by its policy and freed with it;
//! every path its bytes take to a client is within `max_result_bytes`; what
//! it controls reaches the host's log escaped, on one line, cut short.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mcp_e2e::alter;
use mcp_e2e::harness::{Host, rogue_wasm, text};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1 << 20;

fn policy(allow: &str) -> String {
    format!(
        r#"
[outbound]
allow = ["{allow}"]
timeout_ms = 1000

[limits]
memory_mb = 16
timeout_ms = 15000
max_result_bytes = 1048576
max_concurrent = 4
"#
    )
}

fn start_with(name: &str, wasm: &[u8], policy: &str) -> Host {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("component.wasm");
    std::fs::write(&path, wasm).expect("write the component");
    Host::start(&[(name, &path, policy)], &[])
}

fn start() -> Host {
    start_with(
        "rogue",
        &std::fs::read(rogue_wasm()).expect("the rogue component"),
        &policy("http://127.0.0.1:9"),
    )
}

/// Runs `calls` while sampling the host's resident memory; returns the
/// highest figure seen.
async fn peak_rss<F: Future>(host: &Host, calls: F) -> (F::Output, u64) {
    let mut peak = host.rss();
    tokio::pin!(calls);
    loop {
        tokio::select! {
            output = &mut calls => return (output, peak.max(host.rss())),
            _ = tokio::time::sleep(Duration::from_millis(5)) => peak = peak.max(host.rss()),
        }
    }
}

/// How many calls each memory test makes (`CONTAINMENT_CALLS`, default 50).
fn calls() -> usize {
    std::env::var("CONTAINMENT_CALLS").ok().and_then(|n| n.parse().ok()).unwrap_or(50)
}

#[tokio::test]
async fn what_a_call_makes_the_host_hold_is_bounded_and_freed() {
    let host = start();
    for (tool, arguments) in [
        ("fields", json!({"count": 8000})),
        ("handles", json!({"count": 100_000})),
        ("bodies", json!({"count": 60})),
    ] {
        let baseline = host.rss();
        let n = calls();
        let (last, peak) = peak_rss(&host, async {
            let mut last = Value::Null;
            for _ in 0..n {
                last = host.call(tool, arguments.clone()).await;
            }
            last
        })
        .await;
        let after = host.rss();
        let mib = |bytes: u64| bytes as f64 / MIB as f64;
        eprintln!(
            "{tool} {arguments}: {n} calls; host memory {:.1} MiB, peak +{:.1} MiB, after +{:.1} MiB; last: {last}",
            mib(baseline),
            mib(peak.saturating_sub(baseline)),
            mib(after.saturating_sub(baseline)),
        );
        assert!(
            peak < baseline + 48 * MIB,
            "{tool}: peak {} MiB over {}",
            mib(peak - baseline),
            mib(baseline)
        );
        assert!(after < baseline + 16 * MIB, "{tool}: {} MiB stayed", mib(after - baseline));
        if tool == "fields" {
            assert!(text(&last).contains("HTTP fields larger than the limit (16 KiB)"), "{last}");
        }
        if tool == "handles" {
            // 100,000 handles against 256 entries (16 MiB): the message names the limit.
            assert!(text(&last).contains("more than 256 host resources"), "{last}");
        }
    }
    // The component still answers calls within its bounds.
    assert_eq!(text(&host.call("handles", json!({"count": 10})).await), "10 handles");
}

#[tokio::test]
async fn many_memories_count_against_memory_mb() {
    // Eight more core modules, each with a 16 MiB memory it fills at start:
    // each within `memory_mb = 16`, together eight times over.
    let wasm = alter::with_memories(&std::fs::read(rogue_wasm()).unwrap(), 8, 256);
    let host = start_with("hoarder", &wasm, &policy("http://127.0.0.1:9"));
    let baseline = host.rss();
    let (_, peak) = peak_rss(&host, async {
        for _ in 0..8 {
            let call = json!({"name": "handles", "arguments": {"count": 1}});
            tokio::join!(host.rpc("tools/call", call.clone()), host.rpc("tools/call", call));
        }
    })
    .await;
    eprintln!("8 memories of 16 MiB: host peak +{} MiB", peak.saturating_sub(baseline) / MIB);
    let hoarder = host.status().await["components"]["hoarder"].clone();
    assert!(hoarder["refused"].is_object(), "{hoarder}");
    assert!(peak < baseline + 48 * MIB, "peak +{} MiB", (peak - baseline) / MIB);
}

/// A loopback server whose answer promises 100 bytes and sends one every 100 ms.
async fn drip_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0; 4096];
                let _ = stream.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: text/plain\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..100 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if stream.write_all(b"d").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn outbound_timeout_is_a_deadline_to_the_last_byte() {
    let server = drip_server().await;
    let url = format!("http://{server}");
    let host = start_with("rogue", &std::fs::read(rogue_wasm()).unwrap(), &policy(&url));
    let started = Instant::now();
    let result = host.call("drip", json!({"url": format!("{url}/slow")})).await;
    let took = started.elapsed();
    eprintln!("drip: {took:?}: {}", text(&result));
    assert!(text(&result).starts_with("read "), "{result}");
    assert!(!text(&result).starts_with("read 100 bytes"), "the whole drip was read: {result}");
    assert!(took < Duration::from_secs(3), "timeout_ms = 1000, yet the call took {took:?}");
}

#[tokio::test]
async fn structured_content_must_be_an_object() {
    let host = start();
    let reply = host.rpc("tools/call", json!({"name": "not_object", "arguments": {}})).await;
    assert!(reply["result"]["structuredContent"].is_null(), "{reply}");
    assert_eq!(reply["error"]["code"], -32603, "{reply}");
}

#[tokio::test]
async fn progress_that_goes_back_or_is_not_finite_is_dropped() {
    let host = start();
    let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
        "params":{"name":"progress","arguments":{},"_meta":{"progressToken":"p"}}});
    let reply = host.post(&call, &[]).await;
    let progress: Vec<_> = reply
        .sse_messages()
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| m["params"]["progress"].clone())
        .collect();
    // 1, 0.5, NaN, inf, 1, 2: only the increasing, finite ones.
    assert_eq!(progress, [json!(1.0), json!(2.0)], "{}", reply.body);
}

/// A 2026-07-28 call with logs at debug; returns the reply.
async fn modern_call(host: &Host, name: &str, arguments: Value) -> mcp_e2e::harness::Reply {
    let call = json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{
        "name": name, "arguments": arguments, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"roots": {}},
            "io.modelcontextprotocol/logLevel": "debug"}}});
    let headers = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", name)];
    host.post(&call, &headers).await
}

#[tokio::test]
async fn every_path_to_the_client_is_within_max_result_bytes() {
    let host = start();
    let limit = 1 << 20;
    // Events: 8 MiB of logs, 64 KiB each; at most the limit reaches the client.
    let reply = modern_call(&host, "log_flood", json!({"bytes": 8 << 20})).await;
    let logs = reply.sse_messages().iter().filter(|m| m["method"] == "notifications/message").count();
    eprintln!("log flood: {} bytes, {logs} log events reached the client", reply.body.len());
    assert!(reply.body.len() <= limit + 4096, "{} bytes of events", reply.body.len());
    assert!(logs >= 10, "events within the budget still arrive");
    host.logged("events dropped");

    // A result of 300,000 control characters: 300 KB lifted, 1.8 MB as JSON.
    let result = host.call("escapes", json!({"chars": 300_000})).await;
    assert!(
        text(&result).contains("larger than the limit (1048576 bytes)"),
        "{}",
        &result.to_string()[..200]
    );

    // Input-required state of 2 MiB.
    let reply = modern_call(&host, "input_flood", json!({"bytes": 2 << 20})).await;
    assert!(reply.body.len() < 4096, "{} bytes of input request", reply.body.len());
    assert!(reply.body.contains("larger than the limit"), "{}", reply.body);

    // resources/read: 20,000 empty contents, 700 KB raw and 1.4 MB as JSON.
    let reply = host
        .post(&json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"rogue://big"}}), &[])
        .await;
    assert!(reply.body.len() < 4096, "{} bytes of contents", reply.body.len());
    assert_eq!(reply.json()["error"]["code"], -32603, "{}", reply.body);
    host.logged("component stopped at its limit");
}

#[tokio::test]
async fn names_from_an_altered_binary_reach_the_log_escaped_on_one_line() {
    let forged = "2026-12-03T00:00:00.000000Z ERROR mcp_host: forged by the component";
    let name = format!("trap\n{forged}\n{}", "x".repeat(4096));
    let wasm = alter::rename_functions(&std::fs::read(rogue_wasm()).unwrap(), &name);
    let host = start_with("rogue", &wasm, &policy("http://127.0.0.1:9"));
    let reply = host.rpc("resources/read", json!({"uri": "rogue://trap"})).await;
    assert_eq!(reply["error"]["code"], -32603, "{reply}");
    let failed = host.logged("component failed");
    assert!(failed.contains("forged by the component"), "the names are in the line: {failed}");
    for line in host.log_text().lines() {
        assert!(!line.starts_with(forged), "a forged log line: {line}");
        assert!(line.len() < 4096, "a log line of {} bytes", line.len());
    }
}
