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
