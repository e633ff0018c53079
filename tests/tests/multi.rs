//! Many instances, no affinity: three `mcp-host` processes sharing
//! `MCP_SESSION_KEY`, one components container and one state container in
//! Azurite, behind Debian's nginx balancing round robin, as Azure spreads one
//! client over several instances. Sessions and stateless calls work from any
//! instance, a session's log level and its answers to input requests follow
//! it to every instance, a swap reaches every instance under load, and an
//! instance scaled in (SIGTERM) under load fails no request.

use std::time::{Duration, Instant};

use mcp_e2e::azurite::{Azurite, BlobStore};
use mcp_e2e::fake;
use mcp_e2e::harness::{Endpoint, Host, Sse, sha256, shared_code_cache, versioned_wasm, weather_policy};
use mcp_e2e::harness::{conformance_wasm, node_bin, repo, weather_wasm, whoami_wasm};
use mcp_e2e::load::{COMPILE_BOUND, Load, assert_none_failed};
use mcp_e2e::nginx::Nginx;
use serde_json::{Value, json};

const INSTANCES: usize = 3;
const POLL_MS: u64 = 500;
const SESSION_KEY: &str = "a session key the three instances share, long enough";

/// The instances, their load balancer and their components' container.
struct Cluster {
    hosts: Vec<Host>,
    nginx: Nginx,
    store: BlobStore,
    /// The state the instances share (`MCP_STATE_CONNECTION_STRING`).
    state: BlobStore,
    _azurite: Azurite,
}

impl Cluster {
    /// Uploads `components` (`name`, wasm, policy) and starts the instances
    /// (once each is ready) and nginx in front of them.
    async fn start(components: &[(&str, Vec<u8>, String)], extra_args: &[&str]) -> Cluster {
        let azurite = Azurite::start();
        let store = BlobStore::create(&azurite).await;
        let state = BlobStore::create_named(&azurite, "mcp-state").await;
        for (name, wasm, policy) in components {
            store.put(&format!("{name}.toml"), policy.as_bytes()).await;
            store.put(&format!("{name}.wasm"), wasm).await;
        }
        let (poll, cache) = (POLL_MS.to_string(), shared_code_cache());
        let mut args = vec!["--poll-interval-ms", &poll, "--cache-dir", &cache];
        args.extend_from_slice(extra_args);
        let env = [
            ("MCP_COMPONENTS_CONNECTION_STRING", azurite.connection_string.as_str()),
            ("MCP_COMPONENTS_CONTAINER", "components"),
            ("MCP_SESSION_KEY", SESSION_KEY),
            ("MCP_STATE_CONNECTION_STRING", azurite.connection_string.as_str()),
        ];
        let hosts: Vec<Host> = (0..INSTANCES).map(|_| Host::start_with_env(&[], &args, &env)).collect();
        let nginx = Nginx::start(&hosts.iter().map(|h| h.addr).collect::<Vec<_>>());
        Cluster { hosts, nginx, store, state, _azurite: azurite }
    }

    /// Per instance (from the `first`), the calls of `tool` its `/status` counts.
    async fn calls_from(&self, first: usize, tool: &str) -> Vec<u64> {
        let mut counts = Vec::new();
        for host in &self.hosts[first..] {
            counts.push(host.status().await["calls"][tool]["calls"].as_u64().unwrap_or(0));
        }
        counts
    }

    /// Sends `body` through nginx; the answer, and the instance that counted the call of `tool`.
    async fn call_via_nginx(&self, tool: &str, body: &Value, headers: &[(&str, &str)]) -> (Value, usize) {
        let before = self.calls_from(0, tool).await;
        let reply = self.nginx.post(body, headers).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let answer = reply.sse_messages().pop().unwrap_or_else(|| reply.json());
        let after = self.calls_from(0, tool).await;
        let grew: Vec<usize> = (0..INSTANCES).filter(|&i| after[i] > before[i]).collect();
        assert_eq!(grew.len(), 1, "one instance answered: {before:?} → {after:?}");
        (answer, grew[0])
    }
}

fn read(path: std::path::PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Calls `body` (a call of `get_current_weather`) `times` times through nginx,
/// asserting each gets the forecast from another instance than the call before.
async fn spread(cluster: &Cluster, body: &Value, headers: &[(&str, &str)], times: usize) {
    let mut previous = None;
    let mut answered = [0; INSTANCES];
    for _ in 0..times {
        let (answer, instance) = cluster.call_via_nginx("get_current_weather", body, headers).await;
        let result = &answer["result"];
        assert_ne!(result["isError"], json!(true), "{answer}");
        assert!(result["structuredContent"]["current"]["temperature"].is_number(), "{answer}");
        assert_ne!(previous, Some(instance), "two calls in a row reached instance {instance}");
        previous = Some(instance);
        answered[instance] += 1;
    }
    assert!(answered.iter().all(|&n| n > 0), "every instance answered: {answered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_and_stateless_calls_spread_over_every_instance() {
    let policy = weather_policy(&fake::shared().url());
    let cluster = Cluster::start(&[("weather", read(weather_wasm()), policy)], &[]).await;
    let nginx = &cluster.nginx;

    // A session opened on one instance is accepted by the others (signed id, shared key).
    const VERSION: &str = "2025-06-18";
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":VERSION,"capabilities":{},"clientInfo":{"name":"multi","version":"1"}}});
    let reply = nginx.post(&init, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let session = reply.header("mcp-session-id").expect("a session id").to_owned();
    let headers = [("mcp-session-id", session.as_str()), ("mcp-protocol-version", VERSION)];
    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    assert_eq!(nginx.post(&initialized, &headers).await.status, 202);
    for id in 1..=INSTANCES {
        let list = nginx.post(&json!({"jsonrpc":"2.0","id":id,"method":"tools/list"}), &headers).await;
        assert_eq!(list.status, 200, "{}", list.body);
        let list = list.sse_messages().pop().unwrap_or_else(|| list.json());
        assert_eq!(list["result"]["tools"][0]["name"], "get_current_weather", "{list}");
    }
    let call = json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{
        "name":"get_current_weather","arguments":{"latitude":52.52,"longitude":13.41}}});
    spread(&cluster, &call, &headers, 12).await;

    // A stateless 2026-07-28 client: every request carries what a session would.
    let modern = json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{
        "name":"get_current_weather","arguments":{"latitude":48.85,"longitude":2.35},"_meta":{
            "io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientCapabilities":{}}}});
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "get_current_weather"),
    ];
    spread(&cluster, &modern, &headers, 12).await;
    assert!(unanswered(nginx).is_empty(), "{}", nginx.access_log());
}

/// Runs an official SDK client's session script (`session.mjs`, `session.py`)
/// through nginx: it lists the tools and calls the weather tool `CALLS` times.
async fn sdk_session(client: &mut tokio::process::Command) {
    const CALLS: usize = 9;
    let policy = weather_policy(&fake::shared().url());
    let cluster = Cluster::start(&[("weather", read(weather_wasm()), policy)], &[]).await;
    let output = client
        .env("MCP_URL", cluster.nginx.url("/mcp"))
        .env("CALLS", CALLS.to_string())
        .output()
        .await
        .expect("run the client (make client-deps python-deps)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["tools"], json!(["get_current_weather"]), "{report}");
    assert_eq!(report["temperatures"].as_array().unwrap().len(), CALLS, "{report}");
    // nginx spread the session's requests (its GET stream among them) over every instance.
    let calls = cluster.calls_from(0, "get_current_weather").await;
    assert_eq!(calls.iter().sum::<u64>(), CALLS as u64, "{calls:?}");
    assert!(calls.iter().all(|&n| n > 0), "every instance answered calls: {calls:?}");
    assert!(unanswered(&cluster.nginx).is_empty(), "{}", cluster.nginx.access_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_client_keeps_its_session_across_instances() {
    let mut client = tokio::process::Command::new(node_bin());
    sdk_session(client.arg(repo().join("tests/clients/ts/session.mjs"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_client_keeps_its_session_across_instances() {
    let python = std::env::var_os("PYTHON_CLIENT_BIN")
        .expect("PYTHON_CLIENT_BIN: the Python SDK client's venv (make python-deps)");
    let mut client = tokio::process::Command::new(python);
    sdk_session(client.arg(repo().join("tests/clients/python/session.py"))).await;
}

/// The revision of the session tests below (it has `logging/setLevel` and input requests).
const LEGACY: &str = "2025-06-18";
const WAIT: Duration = Duration::from_secs(30);

/// Opens a session through `endpoint` whose client declares `capabilities`.
async fn open_session(endpoint: &Endpoint, capabilities: Value) -> String {
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":LEGACY,"capabilities":capabilities,"clientInfo":{"name":"multi","version":"1"}}});
    let reply = endpoint.post(&init, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let session = reply.header("mcp-session-id").expect("a session id").to_owned();
    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    assert_eq!(endpoint.post(&initialized, &in_session(&session)).await.status, 202);
    session
}

fn in_session(session: &str) -> [(&'static str, &str); 2] {
    [("mcp-session-id", session), ("mcp-protocol-version", LEGACY)]
}

/// Sets the session's log level through `endpoint`.
async fn set_level(endpoint: &Endpoint, session: &str, level: &str) {
    let set = json!({"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":level}});
    let reply = endpoint.post(&set, &in_session(session)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["result"], json!({}), "{}", reply.body);
}

/// Calls `test_tool_with_logging` (three logs at `info`) through `endpoint`:
/// the levels of the log notifications the client got, and how long it took.
async fn logs(endpoint: &Endpoint, session: &str) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"test_tool_with_logging","arguments":{}}});
    let (status, _, mut sse) = endpoint.post_stream(&call, &in_session(session)).await;
    assert_eq!(status, 200);
    let mut levels = Vec::new();
    loop {
        let message = sse.next(WAIT).await.expect("the call's answer");
        if message["method"] != "notifications/message" {
            assert_eq!(message["result"]["isError"], Value::Null, "{message}");
            break;
        }
        levels.push(message["params"]["level"].as_str().unwrap().to_owned());
    }
    (levels, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_level_set_through_one_instance_applies_on_every_instance() {
    let cluster = Cluster::start(&[("conformance", read(conformance_wasm()), String::new())], &[]).await;
    let [a, b, c] = [&cluster.hosts[0], &cluster.hosts[1], &cluster.hosts[2]];
    let session = open_session(a, json!({})).await;
    assert_eq!(logs(c, &session).await.0, Vec::<String>::new(), "no level set: no logs");

    set_level(a, &session, "info").await;
    // B never served this session: it reads the level from the shared state.
    let (levels, read) = logs(b, &session).await;
    assert_eq!(levels, ["info"; 3], "the level set through A applies on B");
    let (levels, cached) = logs(b, &session).await;
    assert_eq!(levels, ["info"; 3]);

    // A level set through C replaces it everywhere, within a second.
    set_level(c, &session, "error").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for host in [a, b, c] {
        assert_eq!(logs(host, &session).await.0, Vec::<String>::new(), "only errors and worse now");
    }

    // Through nginx, round robin: whichever instance serves each request.
    let session = open_session(&cluster.nginx, json!({})).await;
    set_level(&cluster.nginx, &session, "debug").await;
    for _ in 0..INSTANCES {
        assert_eq!(logs(&cluster.nginx, &session).await.0, ["info"; 3]);
    }
    let levels = cluster.state.list().await;
    assert_eq!(levels.len(), 2, "one level per session: {levels:?}");
    assert!(levels.iter().all(|l| l.starts_with("sessions/") && !l.contains(&session)), "{levels:?}");
    println!(
        "a call on an instance that read the level from the shared state: {} ms; with the level cached: {} ms \
         (the tool logs three times 50 ms apart)",
        read.as_millis(),
        cached.as_millis()
    );
    assert!(unanswered(&cluster.nginx).is_empty(), "{}", cluster.nginx.access_log());

    // With the shared state gone, setLevel answers an error rather than lose the level.
    drop(cluster._azurite);
    let set = json!({"jsonrpc":"2.0","id":4,"method":"logging/setLevel","params":{"level":"info"}});
    let reply = a.post(&set, &in_session(&session)).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], -32603, "{error}");
    assert!(error["message"].as_str().unwrap().contains("log level could not be stored"), "{error}");
}

/// Starts `whoami_ask` through `endpoint`, asking `count` elicitations in one
/// round; its stream and the requests' ids once all came.
async fn ask(endpoint: &Endpoint, session: &str, count: usize) -> (Sse, Vec<Value>) {
    let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
        "params":{"name":"whoami_ask","arguments":{"count":count}}});
    let (status, _, mut sse) = endpoint.post_stream(&call, &in_session(session)).await;
    assert_eq!(status, 200);
    let mut ids = Vec::new();
    for _ in 0..count {
        let request = sse.next(WAIT).await.expect("an input request");
        assert_eq!(request["method"], "elicitation/create", "{request}");
        ids.push(request["id"].clone());
    }
    (sse, ids)
}

/// Answers request `id` through `endpoint`.
async fn accept(endpoint: &Endpoint, session: &str, id: &Value) {
    let answer = json!({"jsonrpc":"2.0","id":id,"result":{"action":"accept","content":{}}});
    let reply = endpoint.post(&answer, &in_session(session)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
}

/// The call's final answer; asserts it saw `answers` answers.
async fn answered(sse: &mut Sse, answers: usize) {
    let last = sse.next(WAIT).await.expect("the call's answer");
    assert_eq!(last["result"]["isError"], Value::Null, "{last}");
    assert_eq!(last["result"]["structuredContent"]["answers"], answers, "{last}");
}

/// Waits until the state container holds nothing but what `keep` accepts.
async fn state_cleaned(cluster: &Cluster, keep: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = cluster.state.list().await.into_iter().filter(|b| !keep(b)).collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left in the shared state: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_posted_to_another_instance_reaches_the_waiting_call() {
    let cluster = Cluster::start(&[("whoami", read(whoami_wasm()), String::new())], &[]).await;
    let hosts = &cluster.hosts;
    let session = open_session(&hosts[0], json!({"elicitation":{}})).await;

    // A response to a request no instance sent stores nothing.
    let stray =
        json!({"jsonrpc":"2.0","id":"mcp-host-00112233445566778899aabb","result":{"action":"accept"}});
    assert_eq!(hosts[1].post(&stray, &in_session(&session)).await.status, 202);
    assert_eq!(cluster.state.list().await, Vec::<String>::new());

    // One answer, through another instance than the one holding the call.
    let (mut sse, ids) = ask(&hosts[0], &session, 1).await;
    let marked = cluster.state.list().await;
    assert!(marked.len() == 1 && marked[0].starts_with("waiting/"), "{marked:?}");
    let posted = Instant::now();
    accept(&hosts[1], &session, &ids[0]).await;
    answered(&mut sse, 1).await;
    let relayed = posted.elapsed();
    state_cleaned(&cluster, |_| false).await;

    // The same through the instance holding the call, for comparison.
    let (mut sse, ids) = ask(&hosts[0], &session, 1).await;
    let posted = Instant::now();
    accept(&hosts[0], &session, &ids[0]).await;
    answered(&mut sse, 1).await;
    let local = posted.elapsed();

    // Three requests of one round, answered through B, C and A.
    let (mut sse, ids) = ask(&hosts[0], &session, 3).await;
    for (i, id) in ids.iter().enumerate() {
        accept(&hosts[(i + 1) % INSTANCES], &session, id).await;
    }
    answered(&mut sse, 3).await;
    // An answer once the round is over is stored nowhere.
    accept(&hosts[1], &session, &ids[0]).await;
    state_cleaned(&cluster, |_| false).await;

    // Through nginx, round robin: the call and its answer reach different instances.
    let session = open_session(&cluster.nginx, json!({"elicitation":{}})).await;
    for _ in 0..INSTANCES {
        let (mut sse, ids) = ask(&cluster.nginx, &session, 1).await;
        accept(&cluster.nginx, &session, &ids[0]).await;
        answered(&mut sse, 1).await;
    }
    state_cleaned(&cluster, |_| false).await;
    assert!(unanswered(&cluster.nginx).is_empty(), "{}", cluster.nginx.access_log());
    println!(
        "an answer posted to another instance → the call's result: {} ms; posted to the waiting instance: {} ms",
        relayed.as_millis(),
        local.as_millis()
    );
}

/// The requests nginx did not answer with a 2xx, from its access log.
fn unanswered(nginx: &Nginx) -> Vec<String> {
    nginx.access_log().lines().filter(|l| !l.starts_with('2')).map(String::from).collect()
}

/// One swap: when its upload began, when it ended, and when every instance's
/// `/status` reported the new digest.
struct Swap {
    uploading: Instant,
    uploaded: Instant,
    converged: Instant,
    version: &'static str,
}

/// Uploads `wasm` and waits until every instance serves it.
async fn converge(cluster: &Cluster, wasm: &[u8], version: &'static str) -> Swap {
    let uploading = Instant::now();
    cluster.store.put("versioned.wasm", wasm).await;
    let uploaded = Instant::now();
    let limit = Duration::from_millis(POLL_MS) + COMPILE_BOUND;
    for host in &cluster.hosts {
        host.wait_for("versioned", limit, |c| c["serving"]["sha256"] == sha256(wasm)).await;
    }
    Swap { uploading, uploaded, converged: Instant::now(), version }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_swap_reaches_every_instance_under_load() {
    let (v1, v2) = (read(versioned_wasm(1)), read(versioned_wasm(2)));
    let cluster = Cluster::start(&[("versioned", v1.clone(), String::new())], &[]).await;
    let load = Load::start(&cluster.nginx);
    load.first("version 1", Duration::from_secs(10)).await;

    // v1 → v2 → v1 → v2: after each convergence, every call gets the new version.
    let mut swaps = Vec::new();
    for (wasm, version) in [(&v2, "version 2"), (&v1, "version 1"), (&v2, "version 2")] {
        tokio::time::sleep(Duration::from_millis(700)).await;
        swaps.push(converge(&cluster, wasm, version).await);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let samples = load.stop().await;
    assert_none_failed(&samples);
    for (i, swap) in swaps.iter().enumerate() {
        let next = swaps.get(i + 1).map(|next| next.uploading);
        // Calls that started once every instance served the version and ended before the next upload.
        let after =
            samples.iter().filter(|s| s.started > swap.converged && next.is_none_or(|next| s.ended < next));
        let mut checked = 0;
        for sample in after {
            assert_eq!(sample.outcome.as_deref().unwrap(), swap.version, "a call after convergence");
            checked += 1;
        }
        assert!(checked > 0, "calls were made after convergence {i}");
    }
    let mut times: Vec<u128> = swaps.iter().map(|s| (s.converged - s.uploaded).as_millis()).collect();
    times.sort();
    println!(
        "swap convergence (upload done → all {INSTANCES} instances serve it; poll {POLL_MS} ms): {times:?} ms, \
         median {} ms; {} calls through nginx, none failed",
        times[times.len() / 2],
        samples.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_in_under_load_fails_no_request() {
    let components = [
        ("versioned", read(versioned_wasm(1)), String::new()),
        ("whoami", read(whoami_wasm()), String::new()),
    ];
    let mut cluster = Cluster::start(&components, &["--shutdown-grace-ms", "10000"]).await;
    // Round robin: each instance runs two of these when the first one is told to stop.
    let mut slow = Vec::new();
    for _ in 0..2 * INSTANCES {
        slow.push(cluster.nginx.slow_call(2000).await);
    }
    let load = Load::start(&cluster.nginx);
    load.first("version 1", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let signalled = Instant::now();
    cluster.hosts[0].terminate();
    for mut sse in slow {
        let last = sse.next(Duration::from_secs(10)).await.expect("the call's answer");
        assert_eq!(last["result"]["structuredContent"]["slept_ms"], 2000, "{last}");
    }
    let status = cluster.hosts[0].wait_exit(Duration::from_secs(10)).expect("the instance exits");
    assert!(status.success(), "{status}");
    let exited = signalled.elapsed();
    // The load goes on on the other two.
    let before = cluster.calls_from(1, "which_version").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let samples = load.stop().await;
    let after = cluster.calls_from(1, "which_version").await;
    assert!(before.iter().zip(&after).all(|(b, a)| a > b), "{before:?} → {after:?}");

    let failed = samples.iter().filter(|s| s.outcome.is_err()).count();
    let errors = unanswered(&cluster.nginx);
    println!(
        "scale-in: {} calls by 32 clients through nginx, {failed} failed; the instance exited {} ms after SIGTERM; \
         {} requests not answered 200 by nginx",
        samples.len(),
        exited.as_millis(),
        errors.len()
    );
    assert!(errors.is_empty(), "nginx answered: {errors:#?}\n{}", cluster.nginx.error_log());
    assert_none_failed(&samples);
}
