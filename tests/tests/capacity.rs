//! The host's own capacity bounds: open connections (beyond the cap it stops
//! accepting until one closes) and POST requests being answered (beyond the
//! cap: 503 with Retry-After), while the readiness probe keeps answering.

use std::time::Duration;

use mcp_e2e::harness::{Host, whoami_wasm};
use serde_json::json;

#[tokio::test]
async fn requests_beyond_the_cap_are_refused_with_retry_after() {
    let host = Host::start(&[("whoami", &whoami_wasm(), "")], &["--max-requests", "2"]);
    let mut calls = vec![host.slow_call(1500).await, host.slow_call(1500).await];

    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
    let refused = host.post(&list, &[]).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json()["error"]["code"], -32000);
    assert_eq!(host.send("GET", "/", &[], "").await.status, 200, "the probe is not counted");

    // Once the calls' answers have ended, requests are served again.
    for sse in &mut calls {
        assert!(sse.next(Duration::from_secs(10)).await.expect("the answer")["result"].is_object());
        assert!(sse.next(Duration::from_secs(10)).await.is_none());
    }
    assert_eq!(host.post(&list, &[]).await.status, 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_to_be_accepted() {
    let host = Host::start(&[("whoami", &whoami_wasm(), "")], &["--max-connections", "2"]);
    let first = std::net::TcpStream::connect(host.addr).unwrap();
    let _second = std::net::TcpStream::connect(host.addr).unwrap();

    let probe = host.send("GET", "/", &[], "");
    tokio::pin!(probe);
    let early = tokio::time::timeout(Duration::from_millis(500), probe.as_mut()).await;
    assert!(early.is_err(), "a third connection is not served while two are open");
    drop(first);
    let reply = tokio::time::timeout(Duration::from_secs(5), probe).await.expect("served once one closes");
    assert_eq!(reply.status, 200);
}
