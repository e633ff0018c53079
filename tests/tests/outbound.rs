//! The host's outbound client: keep-alive connections to the upstream.

use std::sync::atomic::Ordering;

use mcp_e2e::fake;
use mcp_e2e::harness::{Host, weather_policy, weather_wasm};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn calls_reuse_connections_to_the_upstream() {
    let api = fake::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let host = Host::start(&[("weather", &weather_wasm(), &weather_policy(&api.url()))], &[]);
    let calls = 5;
    for _ in 0..calls {
        let result = host.call_weather(52.52, 13.41).await;
        assert_eq!(result["isError"], Value::Null, "{result}");
    }
    assert_eq!(api.requests.lock().unwrap().len(), calls);
    // Each call runs in a fresh instance, yet they share kept-alive connections.
    let connections = api.connections.load(Ordering::Relaxed);
    assert!(connections < calls, "{connections} connections for {calls} calls");
}

/// The weather policy for `api`, with `cache` added to its `[outbound]` table.
fn cached_policy(api: &fake::FakeApi, cache: &str) -> String {
    let policy = weather_policy(&api.url());
    assert!(policy.contains("timeout_ms = 2000\n"), "{policy}");
    policy.replace("timeout_ms = 2000\n", &format!("timeout_ms = 2000\n{cache}\n"))
}

/// Upstream requests so far for `latitude`.
fn hits(api: &fake::FakeApi, latitude: &str) -> usize {
    let needle = format!("latitude={latitude}&");
    api.requests.lock().unwrap().iter().filter(|r| r.contains(&needle)).count()
}

async fn call_ok(host: &Host, latitude: f64, longitude: f64) {
    let result = host.call_weather(latitude, longitude).await;
    assert_eq!(result["isError"], Value::Null, "{result}");
    assert_eq!(result["structuredContent"]["current"]["temperature"], 6.3, "{result}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gets_are_cached_only_when_the_policy_opts_in() {
    let api = fake::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let plain = Host::start(&[("weather", &weather_wasm(), &weather_policy(&api.url()))], &[]);
    call_ok(&plain, 10.0, 20.0).await;
    call_ok(&plain, 10.0, 20.0).await;
    assert_eq!(hits(&api, "10"), 2, "no cache without cache_ttl_s");
    drop(plain);

    let cached = Host::start(&[("weather", &weather_wasm(), &cached_policy(&api, "cache_ttl_s = 60"))], &[]);
    for _ in 0..3 {
        call_ok(&cached, 11.0, 20.0).await;
    }
    assert_eq!(hits(&api, "11"), 1, "answered from the cache after the first call");
    call_ok(&cached, 12.0, 20.0).await;
    assert_eq!(hits(&api, "12"), 1, "another URL is another entry");

    // Cache-Control: no-store is never kept; max-age=1 shortens the policy's 60 s.
    call_ok(&cached, -9.0, 20.0).await;
    call_ok(&cached, -9.0, 20.0).await;
    assert_eq!(hits(&api, "-9"), 2, "no-store");
    call_ok(&cached, -8.0, 20.0).await;
    call_ok(&cached, -8.0, 20.0).await;
    assert_eq!(hits(&api, "-8"), 1, "fresh for max-age=1");
    // The scenario: max-age runs out.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    call_ok(&cached, -8.0, 20.0).await;
    assert_eq!(hits(&api, "-8"), 2, "stale after max-age=1");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cache_keeps_at_most_its_entries() {
    let api = fake::spawn(([127, 0, 0, 1], 0).into()).await.unwrap();
    let policy = cached_policy(&api, "cache_ttl_s = 60\ncache_max_entries = 1");
    let host = Host::start(&[("weather", &weather_wasm(), &policy)], &[]);
    call_ok(&host, 21.0, 20.0).await;
    call_ok(&host, 22.0, 20.0).await;
    call_ok(&host, 21.0, 20.0).await;
    assert_eq!((hits(&api, "21"), hits(&api, "22")), (2, 1), "one entry: 22 replaced 21");
    call_ok(&host, 21.0, 20.0).await;
    assert_eq!(hits(&api, "21"), 2, "21 is the entry now");
}
