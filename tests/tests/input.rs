//! Input requests (elicitation, sampling, roots) that a call sends its client
//! over a session's stream: bounded per round and per session, and forgotten
//! as soon as the call stops waiting, so that no tool and no client can
//! disable them for everyone else.

use std::time::Duration;

use mcp_e2e::harness::{Host, Sse, whoami_wasm};
use serde_json::{Value, json};

const VERSION: &str = "2025-06-18";
const WAIT: Duration = Duration::from_secs(30);

fn start() -> Host {
    Host::start(&[("whoami", &whoami_wasm(), "")], &[])
}

/// A new session whose client can answer elicitations.
async fn session(host: &Host) -> String {
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":VERSION,"capabilities":{"elicitation":{}},"clientInfo":{"name":"e2e","version":"1"}}});
    let reply = host.post(&init, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.header("mcp-session-id").expect("a session id").to_owned()
}

/// Starts `whoami_ask` asking for `count` inputs in one round.
async fn ask(host: &Host, session: &str, count: usize) -> Sse {
    let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
        "params":{"name":"whoami_ask","arguments":{"count":count}}});
    let (status, _, sse) =
        host.post_stream(&call, &[("mcp-session-id", session), ("mcp-protocol-version", VERSION)]).await;
    assert_eq!(status, 200);
    sse
}

#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// Never answer: the client ignores the requests.
    Never,
    /// Decline the first request with an error, ignore the rest.
    DeclineFirst,
    /// Accept every request.
    Accept,
}

/// Reads the call's stream to its final answer, answering the requests on
/// it as told; the final answer and how many requests came.
async fn finish(host: &Host, session: &str, mut sse: Sse, answer: Answer) -> (Value, usize) {
    let headers = [("mcp-session-id", session), ("mcp-protocol-version", VERSION)];
    let mut requests = 0;
    while let Some(message) = sse.next(WAIT).await {
        if message["method"] != "elicitation/create" {
            return (message, requests);
        }
        requests += 1;
        let reply = match answer {
            Answer::Never => continue,
            Answer::DeclineFirst if requests > 1 => continue,
            Answer::DeclineFirst => json!({"jsonrpc":"2.0","id":message["id"],
                "error":{"code":-1,"message":"the user closed the dialog"}}),
            Answer::Accept => json!({"jsonrpc":"2.0","id":message["id"],
                "result":{"action":"accept","content":{}}}),
        };
        assert_eq!(host.post(&reply, &headers).await.status, 202);
    }
    panic!("the stream ended without a final answer");
}

/// One elicitation, answered: the call sees the answer.
async fn assert_input_works(host: &Host, session: &str) {
    let (last, requests) = finish(host, session, ask(host, session, 1).await, Answer::Accept).await;
    assert_eq!(requests, 1, "{last}");
    assert_eq!(last["result"]["isError"], Value::Null, "{last}");
    assert_eq!(last["result"]["structuredContent"]["answers"], 1, "{last}");
}

#[tokio::test]
async fn one_greedy_round_cannot_disable_input_for_everyone() {
    let host = start();
    // One round asking for more than the host's old global bound (10,000).
    let greedy = session(&host).await;
    let (last, requests) = finish(&host, &greedy, ask(&host, &greedy, 10_001).await, Answer::Never).await;
    // Every other session, and this one, can still be asked.
    assert_input_works(&host, &session(&host).await).await;
    assert_input_works(&host, &greedy).await;
    // The round itself was refused before anything was sent: by the cap on a
    // round (16) or, as 10,001 requests are over 1 MiB, by the answer budget.
    assert_eq!(last["result"]["isError"], true, "{last}");
    assert_eq!(requests, 0, "a round may ask at most 16");
    let why = last["result"]["content"][0]["text"].as_str().unwrap();
    assert!(why.contains("inputs at once") || why.contains("larger than the limit"), "{last}");
    // Just over the cap on a round: refused by that cap.
    let (last, requests) = finish(&host, &greedy, ask(&host, &greedy, 17).await, Answer::Never).await;
    assert_eq!(requests, 0, "{last}");
    assert!(last["result"]["content"][0]["text"].as_str().unwrap().contains("inputs at once"), "{last}");
}

#[tokio::test]
async fn requests_abandoned_by_their_call_are_forgotten() {
    let host = start();
    let client = session(&host).await;
    // Each call ends at the first declined request, leaving 15 unanswered ones
    // behind; kept, they would fill the session's 64 slots after five calls.
    for _ in 0..10 {
        let (last, requests) =
            finish(&host, &client, ask(&host, &client, 16).await, Answer::DeclineFirst).await;
        assert_eq!(requests, 16);
        assert!(last["result"]["content"][0]["text"].as_str().unwrap().contains("declined"), "{last}");
    }
    assert_input_works(&host, &client).await;
}

#[tokio::test]
async fn one_session_cannot_hold_every_slot() {
    let host = start();
    let hog = session(&host).await;
    // Four calls of 16 unanswered requests each: the session's 64 slots.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut sse = ask(&host, &hog, 16).await;
        for _ in 0..16 {
            assert_eq!(sse.next(WAIT).await.expect("a request")["method"], "elicitation/create");
        }
        held.push(sse);
    }
    let (last, requests) = finish(&host, &hog, ask(&host, &hog, 1).await, Answer::Never).await;
    assert_eq!(requests, 0, "{last}");
    let text = last["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("This session is waiting on too many answers"), "{last}");
    // Another session is not affected.
    assert_input_works(&host, &session(&host).await).await;
    drop(held);
}
