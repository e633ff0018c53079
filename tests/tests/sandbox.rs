//! The sandbox: a hostile component tries everything it must not do, next to
//! the weather component on the same host. Every attempt ends only its own
//! call, within its limit, with a clear tool error and a log line naming the
//! policy; the weather tool keeps answering.

use std::time::{Duration, Instant};

use mcp_e2e::fake;
use std::path::Path;

use mcp_e2e::harness::{
    Host, hostile_python_wasm, hostile_typescript_wasm, hostile_wasm, shared_code_cache, text,
    weather_policy, weather_wasm,
};
use serde_json::{Value, json};

/// What CPython needs to start, besides what the probes use.
const PYTHON_MEMORY_MB: u32 = 64;
/// What SpiderMonkey needs to start (as the TypeScript weather tool's policy).
const TYPESCRIPT_MEMORY_MB: u32 = 64;

fn hostile_policy(api: &str, memory_mb: u32) -> String {
    let named = api.replace("127.0.0.1", "localhost");
    format!(
        r#"
[outbound]
# The fake by address, which the policy names exactly; and by a name that resolves to loopback.
allow = ["{api}", "{named}"]
timeout_ms = 1000
max_requests = 3
max_response_bytes = 1048576

[env]
vars = {{ VISIBLE = "granted" }}

[limits]
memory_mb = {memory_mb}
timeout_ms = 1500
max_result_bytes = 1048576
max_concurrent = 2
"#
    )
}

fn start() -> Host {
    start_with(&hostile_wasm(), 16)
}

/// The same probes written in Python (`tests/hostile-python`), which links
/// `wasi:sockets` and `wasi:filesystem` as every componentize-py component does.
fn start_python() -> Host {
    start_with(&hostile_python_wasm(), PYTHON_MEMORY_MB)
}

/// The same probes written in TypeScript (`tests/hostile-typescript`), whose
/// world imports the raw WASI file and socket interfaces to try them.
fn start_typescript() -> Host {
    start_with(&hostile_typescript_wasm(), TYPESCRIPT_MEMORY_MB)
}

fn start_with(hostile: &Path, memory_mb: u32) -> Host {
    let api = fake::shared().url();
    let components = [
        ("weather", &*weather_wasm(), weather_policy(&api)),
        ("hostile", hostile, hostile_policy(&api, memory_mb)),
    ];
    let components: Vec<_> = components.iter().map(|(n, w, p)| (*n, *w, p.as_str())).collect();
    Host::start_with_env(
        &components,
        &["--cache-dir", &shared_code_cache()],
        &[("HOST_SECRET", "s3cr3t"), ("IDENTITY_ENDPOINT", "http://127.0.0.1:8081/msi/token")],
    )
}

async fn weather_still_works(host: &Host) {
    let result = host.call_weather(52.52, 13.41).await;
    assert_eq!(result["structuredContent"]["current"]["temperature"], 6.3, "{result}");
}

/// Calls a hostile tool; returns its error text and how long the call took.
async fn contained(host: &Host, tool: &str, arguments: Value) -> (String, Duration) {
    let started = Instant::now();
    let result = host.call(tool, arguments).await;
    assert_eq!(result["isError"], true, "{tool}: {result}");
    (text(&result).to_owned(), started.elapsed())
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_deadline() {
    let host = start();
    let (message, took) = contained(&host, "spin", json!({})).await;
    assert!(message.contains("did not finish within 1500 ms"), "{message}");
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_secs(5), "{took:?}");
    host.logged("policy=\"limits.timeout_ms\"");
    eprintln!("infinite loop stopped after {took:?}");
    weather_still_works(&host).await;
}

#[tokio::test]
async fn a_memory_bomb_hits_its_cap() {
    let host = start();
    let (message, took) = contained(&host, "allocate", json!({})).await;
    assert!(message.contains("ran out of memory (limit 16 MiB)"), "{message}");
    host.logged("policy=\"limits.memory_mb\"");
    eprintln!("memory bomb stopped at 16 MiB after {took:?}");
    weather_still_works(&host).await;
}

#[tokio::test]
async fn a_python_memory_bomb_and_loop_hit_their_caps() {
    let host = start_python();
    let (message, _) = contained(&host, "allocate", json!({})).await;
    assert!(message.contains(&format!("ran out of memory (limit {PYTHON_MEMORY_MB} MiB)")), "{message}");
    let (message, took) = contained(&host, "spin", json!({})).await;
    assert!(message.contains("did not finish within 1500 ms"), "{message}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    weather_still_works(&host).await;
}

#[tokio::test]
async fn a_typescript_memory_bomb_and_loop_hit_their_caps() {
    let host = start_typescript();
    // SpiderMonkey catches the refused growth itself and reports it: the call
    // ends in an internal error, which the operator sees and the client does not.
    let refused = host.rpc("tools/call", json!({"name": "allocate", "arguments": {}})).await;
    assert_eq!(refused["error"], json!({"code": -32603, "message": "Internal error"}), "{refused}");
    host.logged("the component failed the call component=hostile tool=allocate error=out of memory");
    let (message, took) = contained(&host, "spin", json!({})).await;
    assert!(message.contains("did not finish within 1500 ms"), "{message}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    weather_still_works(&host).await;
}

#[tokio::test]
async fn a_panic_ends_only_its_call() {
    let host = start();
    let (message, _) = contained(&host, "panic", json!({})).await;
    assert!(message.contains("failed unexpectedly"), "{message}");
    weather_still_works(&host).await;
}

#[tokio::test]
async fn a_huge_result_is_refused() {
    let host = start();
    let (message, _) = contained(&host, "huge_result", json!({"bytes": 2 << 20})).await;
    assert!(message.contains("larger than the limit (1048576 bytes)"), "{message}");
    host.logged("policy=\"limits.max_result_bytes\"");
    // Just under the cap is fine.
    let ok = host.call("huge_result", json!({"bytes": 1000})).await;
    assert_eq!(ok["isError"], Value::Null);
    weather_still_works(&host).await;
}

/// What one hostile `fetch` call reports.
async fn fetch(host: &Host, url: &str, times: u32) -> String {
    let result = host.call("fetch", json!({"url": url, "times": times})).await;
    text(&result).to_owned()
}

#[tokio::test]
async fn outbound_requests_go_only_where_the_policy_says() {
    egress_is_policed(&start(), POLICY_REFUSAL).await;
}

#[tokio::test]
async fn python_outbound_requests_go_only_where_the_policy_says() {
    egress_is_policed(&start_python(), POLICY_REFUSAL).await;
}

#[tokio::test]
async fn typescript_outbound_requests_go_only_where_the_policy_says() {
    // StarlingMonkey's `fetch` hides why: the host's log says it.
    egress_is_policed(&start_typescript(), "NetworkError").await;
}

/// What a refused request reports to the Rust and Python probes.
const POLICY_REFUSAL: &str = "not allowed by this component's policy";

/// `refused`: what the probe reports of a refused request.
async fn egress_is_policed(host: &Host, refused: &str) {
    let api = fake::shared().url();
    let forecast = "/v1/forecast?latitude=52.52&longitude=13.41";
    // The exact address the policy names works.
    assert!(fetch(host, &format!("{api}{forecast}"), 1).await.starts_with("HTTP 200"));
    // Not in the allow-list: metadata endpoints, other hosts, other ports, HTTPS to a plain-HTTP entry.
    for url in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://168.63.129.16/machine".to_owned(),
        "http://127.0.0.1:8081/msi/token".to_owned(),
        "https://example.com/".to_owned(),
        api.replace("http://", "https://"),
    ] {
        let outcome = fetch(host, &url, 1).await;
        assert!(outcome.contains(refused), "{url}: {outcome}");
    }
    host.logged("policy=\"outbound.allow\"");
    // Allowed by name, but the name resolves to 127.0.0.1: refused after DNS resolution.
    let named = api.replace("127.0.0.1", "localhost");
    let outcome = fetch(host, &format!("{named}{forecast}"), 1).await;
    let named_refusal = if refused == POLICY_REFUSAL { "not allowed" } else { refused };
    assert!(outcome.contains(named_refusal), "{outcome}");
    host.logged("resolves to a non-public address");
    weather_still_works(host).await;
}

#[tokio::test]
async fn outbound_time_size_and_count_are_capped() {
    let host = start();
    let api = fake::shared().url();
    let started = Instant::now();
    let slow = fetch(&host, &format!("{api}/v1/forecast?latitude=-6&longitude=0"), 1).await;
    assert!(slow.contains("failed"), "{slow}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the 1 s outbound limit holds: {:?}",
        started.elapsed()
    );
    host.logged("policy=\"outbound.timeout_ms\"");

    let large = fetch(&host, &format!("{api}/v1/forecast?latitude=-7&longitude=0"), 1).await;
    assert!(large.contains("failed"), "a 3 MiB body over the 1 MiB cap: {large}");

    let many = fetch(&host, &format!("{api}/v1/forecast?latitude=1&longitude=1"), 5).await;
    let outcomes: Vec<_> = many.lines().collect();
    assert_eq!(outcomes.iter().filter(|o| o.starts_with("HTTP 200")).count(), 3, "{many}");
    assert!(outcomes[3..].iter().all(|o| o.contains("not allowed")), "{many}");
    host.logged("policy=\"outbound.max_requests\"");
    weather_still_works(&host).await;
}

#[tokio::test]
async fn the_environment_holds_only_what_the_policy_grants() {
    let host = start();
    let result = host.call("env", json!({})).await;
    let seen: Value = serde_json::from_str(text(&result)).unwrap();
    assert_eq!(seen, json!([["VISIBLE", "granted"]]), "no host variables, no secrets, no identity endpoint");
}

#[tokio::test]
async fn python_sees_only_the_environment_the_policy_grants() {
    let host = start_python();
    let seen = probe(&host, "env", json!({})).await;
    assert_eq!(seen["wasi"], json!([["VISIBLE", "granted"]]), "{seen}");
    assert_eq!(seen["VISIBLE"], "granted", "{seen}");
    // `os.environ` is what componentize-py saw at build time: nothing of the host's.
    for secret in ["HOST_SECRET", "IDENTITY_ENDPOINT", "s3cr3t"] {
        assert!(!seen["os"].to_string().contains(secret), "{seen}");
    }
}

#[tokio::test]
async fn typescript_sees_only_the_environment_the_policy_grants() {
    let host = start_typescript();
    let seen = probe(&host, "env", json!({})).await;
    assert_eq!(seen["wasi"], json!([["VISIBLE", "granted"]]), "{seen}");
    assert_eq!(seen["VISIBLE"], "granted", "{seen}");
}

/// The answer a hostile probe reports, as JSON.
async fn probe(host: &Host, tool: &str, arguments: Value) -> Value {
    let result = host.call(tool, arguments).await;
    assert_eq!(result["isError"], Value::Null, "a refusal is an error code, not a trap: {result}");
    serde_json::from_str(text(&result)).unwrap()
}

#[tokio::test]
async fn files_are_refused() {
    files_refused(&start()).await;
}

#[tokio::test]
async fn python_files_are_refused() {
    files_refused(&start_python()).await;
}

#[tokio::test]
async fn typescript_files_are_refused() {
    files_refused(&start_typescript()).await;
}

async fn files_refused(host: &Host) {
    let files = probe(host, "files", json!({})).await;
    assert_eq!(files["preopens"], 0, "{files}");
    for attempt in ["read", "write", "list"] {
        assert!(files[attempt].as_str().unwrap().starts_with("error:"), "{attempt}: {files}");
    }
    weather_still_works(host).await;
}

#[tokio::test]
async fn sockets_are_refused() {
    sockets_refused(&start()).await;
}

#[tokio::test]
async fn python_sockets_are_refused() {
    sockets_refused(&start_python()).await;
}

#[tokio::test]
async fn typescript_sockets_are_refused() {
    sockets_refused(&start_typescript()).await;
}

async fn sockets_refused(host: &Host) {
    // The fake listens on loopback: a connection that got through would succeed.
    let address = fake::shared().url().replace("http://", "");
    let sockets = probe(host, "sockets", json!({"address": address})).await;
    assert_eq!(sockets["tcp"], json!({"Err": "access-denied"}), "{sockets}");
    assert_eq!(sockets["udp"], json!({"Err": "access-denied"}), "{sockets}");
    // The TypeScript probe cannot ask (see tests/hostile-typescript/app.ts).
    if sockets.get("lookup").is_some() {
        assert_eq!(sockets["lookup"], json!({"Err": "permanent-resolver-failure"}), "{sockets}");
    }
    assert!(sockets["connect"].as_str().unwrap().starts_with("error:"), "{sockets}");
    weather_still_works(host).await;
}

#[tokio::test]
async fn excess_concurrent_calls_get_a_busy_error() {
    let host = start();
    // Two slots, six spinning calls of 1.5 s each: two run, two take the freed
    // slots at 1.5 s, and the last two give up after waiting 2 s.
    let results = join_all((0..6).map(|_| host.call("spin", json!({}))).collect()).await;
    let busy = results.iter().filter(|r| text(r).contains("busy")).count();
    assert!(busy >= 2, "{results:?}");
    assert!(results.iter().all(|r| r["isError"] == true));
    host.logged("policy=\"limits.max_concurrent\"");
    weather_still_works(&host).await;
}

/// Polls every future to completion concurrently (a tiny join_all).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}

/// `start()`, warmed up by 20 weather calls, and the host's RSS then.
async fn start_warmed_up() -> (Host, u64) {
    let host = start();
    for _ in 0..20 {
        weather_still_works(&host).await;
    }
    let baseline = host.rss();
    (host, baseline)
}

#[tokio::test]
async fn a_bounded_load_with_hostile_calls_mixed_in() {
    let (host, baseline) = start_warmed_up().await;
    let started = Instant::now();
    let mut calls = Vec::new();
    for i in 0..200 {
        let host = &host;
        calls.push(async move {
            match i % 4 {
                3 => {
                    let (tool, arguments) = [
                        ("panic", json!({})),
                        ("allocate", json!({})),
                        ("huge_result", json!({"bytes": 2 << 20})),
                        ("fetch", json!({"url": "http://169.254.169.254/"})),
                    ][(i / 4) % 4]
                        .clone();
                    (false, host.call(tool, arguments).await)
                }
                _ => (true, host.call_weather(52.52, 13.41).await),
            }
        });
    }
    let results = join_all(calls).await;
    let elapsed = started.elapsed();
    let healthy: Vec<_> = results.iter().filter(|(healthy, _)| *healthy).map(|(_, r)| r).collect();
    let failed = healthy.iter().filter(|r| r["structuredContent"]["current"]["temperature"] != 6.3).count();
    assert_eq!((healthy.len(), failed), (150, 0), "no healthy call fails");
    assert!(
        results.iter().all(|(_, r)| r["content"].is_array()),
        "every call got a result, not a protocol error"
    );
    // Instances are freed as their calls end, some just after the answer: a moment's grace.
    let bound = baseline + (48 << 20);
    let deadline = Instant::now() + Duration::from_secs(5);
    while host.rss() >= bound && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = host.rss();
    eprintln!(
        "200 concurrent calls (50 hostile) in {elapsed:?}; RSS {} MiB before, {} MiB after",
        baseline >> 20,
        after >> 20
    );
    assert!(after < bound, "memory returns near its baseline: {baseline} -> {after}");
    weather_still_works(&host).await;
}

/// A component that fills its memory (16 MiB here) on every call leaves only
/// the host's per-slot budget (`KEEP_RESIDENT`, 4 MiB) mapped in the few
/// slots it runs in: its own, at most `max_concurrent` (2) per worker thread.
/// Keeping whole memories resident (64 MiB) would leave it all.
#[tokio::test]
async fn a_component_that_fills_its_memory_call_after_call_leaves_little_behind() {
    let (host, baseline) = start_warmed_up().await;
    for _ in 0..20 {
        let pair = join_all((0..2).map(|_| host.call("allocate", json!({}))).collect()).await;
        assert!(pair.iter().all(|r| r["isError"] == true), "{pair:?}");
    }
    weather_still_works(&host).await;
    let after = host.rss();
    eprintln!("40 calls that fill 16 MiB: RSS {} MiB before, {} MiB after", baseline >> 20, after >> 20);
    // Two worker threads' shards, two slots each, 4 MiB each, and some slack.
    assert!(after < baseline + (24 << 20), "the host keeps what the component wrote: {baseline} -> {after}");
}

#[tokio::test]
async fn spinning_guests_do_not_starve_other_calls() {
    let host = start();
    let spinning = join_all((0..2).map(|_| host.call("spin", json!({}))).collect());
    let weather = async {
        // Both worker threads of a 2-core host would be held by the spinning
        // guests if they did not yield. The scenario: the spins start first.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut slowest = Duration::ZERO;
        for _ in 0..10 {
            let started = Instant::now();
            weather_still_works(&host).await;
            slowest = slowest.max(started.elapsed());
        }
        slowest
    };
    let started = Instant::now();
    let (spun, slowest) = tokio::join!(spinning, weather);
    assert!(spun.iter().all(|r| text(r).contains("did not finish")), "{spun:?}");
    eprintln!(
        "slowest weather call while two guests spin: {slowest:?} (all done in {:?})",
        started.elapsed()
    );
    assert!(slowest < Duration::from_millis(600), "{slowest:?}");
}
