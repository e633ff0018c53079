//! The tasks extension across instances: three `mcp-host` processes sharing
//! their state in Azurite (no session, no affinity). A task created on one
//! instance is read, answered and cancelled from the others; one whose
//! instance dies is reported failed once its lease runs out; and what a
//! client can make the host keep is bounded by the component's policy.

use std::time::{Duration, Instant};

use mcp_e2e::azurite::{Azurite, BlobStore};
use mcp_e2e::harness::{Endpoint, Host, conformance_wasm};
use serde_json::{Value, json};

const LEASE_MS: &str = "3000";

/// Hosts serving the conformance fixtures, their tasks in one blob container.
struct Cluster {
    hosts: Vec<Host>,
    policy: String,
    _store: BlobStore,
    azurite: Azurite,
}

impl Cluster {
    async fn start(instances: usize, policy: &str) -> Cluster {
        let azurite = Azurite::start();
        // Any container serves as the state's; this one the harness creates.
        let store = BlobStore::create(&azurite).await;
        let mut cluster = Cluster { hosts: Vec::new(), policy: policy.to_owned(), _store: store, azurite };
        for _ in 0..instances {
            let host = cluster.another();
            cluster.hosts.push(host);
        }
        cluster
    }

    /// One more instance sharing the cluster's state.
    fn another(&self) -> Host {
        let env = [
            ("MCP_STATE_CONNECTION_STRING", self.azurite.connection_string.as_str()),
            ("MCP_STATE_CONTAINER", "components"),
            ("MCP_TASK_LEASE_MS", LEASE_MS),
        ];
        Host::start_with_env(&[("conformance", &conformance_wasm(), &self.policy)], &[], &env)
    }
}

/// A 2026-07-28 request declaring the tasks extension, as its headers must
/// repeat it; returns the whole JSON-RPC answer.
async fn request(to: &Endpoint, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {
            "elicitation": {},
            "extensions": { "io.modelcontextprotocol/tasks": {} },
        },
    });
    let name =
        params.get("name").or(params.get("taskId")).and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut headers = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
    if !name.is_empty() {
        headers.push(("mcp-name", name.as_str()));
    }
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let reply = to.post(&body, &headers).await;
    assert!(reply.status == 200 || reply.status == 400, "{method}: {} {}", reply.status, reply.body);
    reply.sse_messages().pop().unwrap_or_else(|| reply.json())
}

/// Creates a task of `tool`; its id.
async fn create(to: &Endpoint, tool: &str, arguments: Value) -> String {
    let created = request(to, "tools/call", json!({ "name": tool, "arguments": arguments })).await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    created["result"]["taskId"].as_str().expect("a task id").to_owned()
}

async fn get(to: &Endpoint, task: &str) -> Value {
    let got = request(to, "tasks/get", json!({ "taskId": task })).await;
    got["result"].clone()
}

/// Polls `to` every 50 ms until the task has `status` (or another terminal one).
async fn until(to: &Endpoint, task: &str, status: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let got = get(to, task).await;
        let now = got["status"].as_str().unwrap_or_default();
        if now == status || ["completed", "failed", "cancelled"].contains(&now) {
            return got;
        }
        assert!(started.elapsed() < limit, "task {task} still {now} after {limit:?}: {got}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn text(task: &Value) -> &str {
    task["result"]["content"][0]["text"].as_str().unwrap_or_default()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_followed_answered_and_cancelled_from_any_instance() {
    let cluster = Cluster::start(3, "").await;
    let [a, b, c] = [&cluster.hosts[0], &cluster.hosts[1], &cluster.hosts[2]];

    // Created on A, visible on B at once (durable before the answer), finished on C.
    let task = create(a, "slow_compute", json!({ "seconds": 1, "label": "shared" })).await;
    assert_eq!(get(b, &task).await["status"], "working");
    let done = until(c, &task, "completed", Duration::from_secs(10)).await;
    assert_eq!(text(&done), "Computed shared in 1 s", "{done}");

    // Input during a task: asked on A, answered through C, resumed there, read on B.
    let task = create(a, "confirm_delete", json!({ "filename": "x.txt" })).await;
    let waiting = until(b, &task, "input_required", Duration::from_secs(10)).await;
    let keys: Vec<&String> = waiting["inputRequests"].as_object().expect("input requests").keys().collect();
    assert_eq!(keys.len(), 1, "{waiting}");
    let answers = json!({ keys[0]: { "action": "accept", "content": { "confirm": true } } });
    let ack = request(c, "tasks/update", json!({ "taskId": task, "inputResponses": answers })).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let done = until(b, &task, "completed", Duration::from_secs(10)).await;
    assert_eq!(text(&done), "Deleted x.txt", "{done}");

    // Cancelled from B while it runs on A: B says cancelled at once, and A
    // stops the call at its next lease renewal (a third of the lease).
    let task = create(a, "slow_compute", json!({ "seconds": 60, "label": "long" })).await;
    assert_eq!(a.status().await["tasks"]["running"], 1);
    let ack = request(b, "tasks/cancel", json!({ "taskId": task })).await;
    assert_eq!(ack["result"], json!({ "resultType": "complete", "_meta": ack["result"]["_meta"] }), "{ack}");
    assert_eq!(get(c, &task).await["status"], "cancelled");
    let started = Instant::now();
    while a.status().await["instances"]["conformance"]["in_use"] != 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "A still runs the cancelled call");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(a.status().await["tasks"]["running"], 0);

    // Round trips, for the record: creation, a read from another instance,
    // and creation to completion of an instant task, read from another instance.
    let (mut creating, mut reading, mut finishing) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..10 {
        let started = Instant::now();
        let task = create(a, "slow_compute", json!({ "seconds": 0, "label": "rt" })).await;
        creating.push(started.elapsed());
        let read = Instant::now();
        get(b, &task).await;
        reading.push(read.elapsed());
        until(b, &task, "completed", Duration::from_secs(10)).await;
        finishing.push(started.elapsed());
    }
    println!(
        "task round trips (median of 10, Azurite): create {:?}, tasks/get from another instance {:?}, create to completed seen elsewhere {:?}",
        median(creating),
        median(reading),
        median(finishing)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_instance_dies_fails_and_one_shut_down_fails_at_once() {
    let mut cluster = Cluster::start(2, "").await;

    // SIGTERM: the instance marks its running tasks failed as it leaves.
    let task = create(&cluster.hosts[0], "slow_compute", json!({ "seconds": 60, "label": "term" })).await;
    cluster.hosts[0].terminate();
    assert!(cluster.hosts[0].wait_exit(Duration::from_secs(30)).is_some(), "the host exits");
    let failed = get(&cluster.hosts[1], &task).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"]["message"].as_str().unwrap_or_default().contains("shut down"), "{failed}");
    assert!(failed.get("result").is_none(), "{failed}");

    // SIGKILL: nobody renews the lease; once it has run out the task is failed, not hanging.
    let survivor = &cluster.hosts[1];
    let mut doomed = cluster.another();
    let task = create(&doomed, "slow_compute", json!({ "seconds": 60, "label": "kill" })).await;
    doomed.kill();
    let killed = Instant::now();
    assert_eq!(get(survivor, &task).await["status"], "working");
    let failed = until(survivor, &task, "failed", Duration::from_secs(15)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"]["message"].as_str().unwrap_or_default().contains("stopped"), "{failed}");
    let lease = Duration::from_millis(LEASE_MS.parse().unwrap());
    assert!(killed.elapsed() < lease * 2, "failed within the lease, not later: {:?}", killed.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_client_can_make_the_host_keep_is_bounded() {
    let cluster = Cluster::start(1, "[limits]\nmax_tasks = 2\ntimeout_ms = 5000\n").await;
    let host = &cluster.hosts[0];
    for _ in 0..2 {
        create(host, "slow_compute", json!({ "seconds": 3, "label": "bounded" })).await;
    }
    let refused =
        request(host, "tools/call", json!({ "name": "slow_compute", "arguments": { "seconds": 3 } })).await;
    assert_eq!(refused["error"]["code"], -32000, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("max_tasks"), "{refused}");
    // Calls that are not tasks still run.
    let greeted = request(host, "tools/call", json!({ "name": "greet", "arguments": { "name": "x" } })).await;
    assert_eq!(greeted["result"]["content"][0]["text"], "Hello, x!", "{greeted}");

    // Ids the host never makes name no task and never reach the store.
    for id in ["../components/conformance.wasm", "ABCDEF0123456789ABCDEF0123456789", &"a".repeat(4096)] {
        let got = request(host, "tasks/get", json!({ "taskId": id })).await;
        assert_eq!(got["error"]["code"], -32602, "{id}: {got}");
        let cancelled = request(host, "tasks/cancel", json!({ "taskId": id })).await;
        assert_eq!(cancelled["error"]["code"], -32602, "{id}: {cancelled}");
    }

    // A session client cannot take a task: a tool that runs only as a task is
    // refused (-32021), one that may is answered at once.
    let required = host.rpc("tools/call", json!({ "name": "failing_job", "arguments": {} })).await;
    assert_eq!(required["error"]["code"], -32021, "{required}");
    assert!(
        required["error"]["data"]["requiredCapabilities"]["extensions"]["io.modelcontextprotocol/tasks"]
            .is_object()
    );
    let optional = host.call("slow_compute", json!({ "seconds": 0, "label": "sync" })).await;
    assert_eq!(optional["content"][0]["text"], "Computed sync in 0 s", "{optional}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_stream_on_another_instance_carries_the_tasks_status() {
    let cluster = Cluster::start(2, "").await;
    let [a, b] = [&cluster.hosts[0], &cluster.hosts[1]];
    let task = create(a, "slow_compute", json!({ "seconds": 1, "label": "watched" })).await;
    let capabilities = json!({ "extensions": { "io.modelcontextprotocol/tasks": {} } });
    let listen = |capabilities: Value, ids: Value| {
        json!({ "jsonrpc": "2.0", "id": "watch", "method": "subscriptions/listen", "params": {
            "notifications": { "taskIds": ids },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": capabilities,
            },
        }})
    };
    let headers = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "subscriptions/listen")];

    // Without the extension: -32021, no stream.
    let refused = b.post(&listen(json!({}), json!([task])), &headers).await;
    assert_eq!(refused.json()["error"]["code"], -32021, "{}", refused.body);

    let unknown = "0".repeat(32);
    let (status, _, mut events) =
        b.post_stream(&listen(capabilities, json!([task, unknown])), &headers).await;
    assert_eq!(status, 200);
    let limit = Duration::from_secs(10);
    let ack = events.next(limit).await.expect("the acknowledgement");
    assert_eq!(ack["params"]["notifications"]["taskIds"], json!([task, unknown]), "{ack}");
    let mut statuses = Vec::new();
    while let Some(note) = events.next(limit).await {
        assert_eq!(note["method"], "notifications/tasks", "{note}");
        assert_eq!(note["params"]["taskId"], task.as_str(), "an unknown id is never reported: {note}");
        assert_eq!(note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "watch");
        let status = note["params"]["status"].as_str().unwrap_or_default().to_owned();
        statuses.push(status.clone());
        if status == "completed" {
            assert_eq!(text(&note["params"]), "Computed watched in 1 s", "{note}");
            break;
        }
    }
    assert_eq!(statuses, ["working", "completed"]);
}
