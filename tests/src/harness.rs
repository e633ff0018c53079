//! Runs the real `mcp-host` binary on loopback with real components, and talks
//! HTTP to it like any client.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::HeaderMap;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the repo").to_path_buf()
}

/// Where the build script put the host and the test components; unset when
/// the Makefile built them into its own locations (see tests/build.rs).
const BUILT_HOST: Option<&str> = option_env!("MCP_E2E_HOST");
const BUILT_COMPONENTS: Option<&str> = option_env!("MCP_E2E_COMPONENTS");

/// `var` if set, else what the build script built, else the Makefile's `make_path`.
fn path_from_env(var: &str, built: Option<&str>, make_path: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| built.map(PathBuf::from))
        .unwrap_or_else(|| repo().join(make_path));
    assert!(path.exists(), "{} not found (set {var}, or run `make build`)", path.display());
    path
}

/// A single-build test component (`VAR`, else `NAME.wasm` from the build).
fn component(var: &str, name: &str) -> PathBuf {
    let built = BUILT_COMPONENTS.map(|dir| format!("{dir}/{name}.wasm"));
    path_from_env(var, built.as_deref(), &format!("target/wasm32-wasip2/guest/{name}.wasm"))
}

/// The folder with the build-time variants of the test components (`TEST_COMPONENTS`).
fn test_components() -> PathBuf {
    path_from_env("TEST_COMPONENTS", BUILT_COMPONENTS, "build/test-components")
}

/// The host binary under test (`MCP_HOST_BIN`).
pub fn host_bin() -> PathBuf {
    path_from_env("MCP_HOST_BIN", BUILT_HOST, "target/release/mcp-host")
}

/// The OCI publisher built beside the host (`MCP_PUBLISH_BIN`).
pub fn publish_bin() -> PathBuf {
    let beside = host_bin().with_file_name("mcp-publish");
    path_from_env("MCP_PUBLISH_BIN", beside.to_str(), "target/release/mcp-publish")
}

/// The ahead-of-time compiler built beside the host (`MCP_PRECOMPILE_BIN`).
pub fn precompile_bin() -> PathBuf {
    let beside = host_bin().with_file_name("mcp-precompile");
    path_from_env("MCP_PRECOMPILE_BIN", beside.to_str(), "target/release/mcp-precompile")
}

/// Hex sha256, as `/status` shows a component's.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The weather component under test (`WEATHER_WASM`).
pub fn weather_wasm() -> PathBuf {
    component("WEATHER_WASM", "weather")
}

/// The conformance suite's fixtures (`CONFORMANCE_WASM`).
pub fn conformance_wasm() -> PathBuf {
    component("CONFORMANCE_WASM", "conformance")
}

/// The hostile test component (`HOSTILE_WASM`).
pub fn hostile_wasm() -> PathBuf {
    component("HOSTILE_WASM", "hostile")
}

/// The weather component built in another language by `make build`
/// (`build/polyglot/LANG/weather.wasm`; `POLYGLOT_DIR` overrides `build/polyglot`).
/// Not built by a plain `cargo test`: its toolchain is installed by the Makefile.
pub fn polyglot_weather_wasm(lang: &str) -> PathBuf {
    path_from_env("POLYGLOT_DIR", None, "build/polyglot").join(lang).join("weather.wasm")
}

/// A code cache the tests' hosts share (`--cache-dir`), so that the large
/// Python and TypeScript components compile once per build, not once per host.
pub fn shared_code_cache() -> String {
    repo().join("target/e2e-code-cache").display().to_string()
}

/// The hostile test component written in Python (`make build`).
pub fn hostile_python_wasm() -> PathBuf {
    test_components().join("hostile-python.wasm")
}

/// The `lang` weather tool composed with the HTTP adapter, for `wasmtime serve`
/// (`SERVE_COMPONENTS`, else the Makefile's `build/serve`).
pub fn served_weather_wasm(lang: &str) -> PathBuf {
    path_from_env("SERVE_COMPONENTS", None, "build/serve").join(format!("{lang}-weather.wasm"))
}

/// The SDK features beyond the weather tool's (input requests, prompts) in
/// `lang` (`tests/features-python`, `tests/features-typescript`).
pub fn features_wasm(lang: &str) -> PathBuf {
    test_components().join(format!("features-{lang}.wasm"))
}

/// The same probes in TypeScript (`tests/hostile-typescript`), built by componentize-js.
pub fn hostile_typescript_wasm() -> PathBuf {
    test_components().join("hostile-typescript.wasm")
}

/// The test component written against the raw WIT (`ROGUE_WASM`).
pub fn rogue_wasm() -> PathBuf {
    component("ROGUE_WASM", "rogue")
}

/// One of the two builds of the `versioned` test component (1 or 2).
pub fn versioned_wasm(version: u8) -> PathBuf {
    test_components().join(format!("versioned-v{version}.wasm"))
}

/// One build of the component that misbehaves while it loads (`LOAD_MODE`, see tests/atload).
pub fn atload_wasm(mode: &str) -> PathBuf {
    test_components().join(format!("atload-{mode}.wasm"))
}

/// Node.js 22 (`NODE_BIN`, else `node` on the PATH).
pub fn node_bin() -> PathBuf {
    std::env::var_os("NODE_BIN").map_or_else(|| PathBuf::from("node"), PathBuf::from)
}

/// The test component whose tools report who called them (`WHOAMI_WASM`).
pub fn whoami_wasm() -> PathBuf {
    component("WHOAMI_WASM", "whoami")
}

/// The policy that points the weather component at `api`.
pub fn weather_policy(api: &str) -> String {
    format!(
        "[outbound]\nallow = [\"{api}\"]\ntimeout_ms = 2000\n\n[env]\nvars = {{ OPEN_METEO_URL = \"{api}\" }}\n"
    )
}

/// Where a server writes its log lines.
enum Stream {
    Stdout,
    Stderr,
}

/// A running server (`mcp-host`, or a component under `wasmtime serve`); killed on drop.
/// Talks to it as an [`Endpoint`] (it derefs to one).
pub struct Host {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
    endpoint: Endpoint,
}

/// An HTTP server on loopback, spoken to like any client: a host, or a load
/// balancer in front of several.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Endpoint {
    pub fn new(addr: SocketAddr) -> Endpoint {
        Endpoint { addr, client: Client::builder(TokioExecutor::new()).build_http() }
    }

    /// The server's `/status`.
    pub async fn status(&self) -> Value {
        let reply = self.send("GET", "/status", &[], Vec::new()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    /// Polls `/status` until `check` holds for the component's entry; returns the entry.
    pub async fn wait_for(&self, name: &str, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.status().await;
            if check(&status["components"][name]) {
                return status["components"][name].clone();
            }
            assert!(Instant::now() < deadline, "{name} never matched within {limit:?}: {status:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a bodiless request and returns the status and the body as it streams.
    pub async fn open_stream(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Incoming) {
        let mut request = hyper::Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::new())).expect("valid request");
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .expect("an answer within 30 s")
            .expect("an HTTP answer");
        (response.status().as_u16(), response.into_body())
    }

    /// POSTs a JSON-RPC body with the usual MCP headers plus `extra`, and
    /// returns the status, headers and the body as it streams.
    pub async fn post_stream(&self, body: &Value, extra: &[(&str, &str)]) -> (u16, HeaderMap, Sse) {
        let mut request = hyper::Request::post(self.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", JSON_AND_SSE);
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let body = Full::new(Bytes::from(serde_json::to_vec(body).expect("JSON")));
        let response = tokio::time::timeout(
            Duration::from_secs(30),
            self.client.request(request.body(body).expect("valid request")),
        )
        .await
        .expect("an answer within 30 s")
        .expect("an HTTP answer");
        let (parts, body) = response.into_parts();
        (parts.status.as_u16(), parts.headers, Sse { body, buffer: String::new() })
    }

    /// Starts a call of the test component's `whoami_slow` and returns its
    /// stream once the tool runs (its first progress notification has arrived).
    pub async fn slow_call(&self, ms: u64) -> Sse {
        let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{
            "name":"whoami_slow","arguments":{"ms":ms},"_meta":{"progressToken":"p"}}});
        let (status, _, mut sse) = self.post_stream(&call, &[]).await;
        assert_eq!(status, 200);
        let first = sse.next(Duration::from_secs(10)).await.expect("a message");
        assert_eq!(first["method"], "notifications/progress", "{first}");
        sse
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request with exactly these headers (Host is added by the client
    /// unless given).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut request = hyper::Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).expect("valid request");
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .expect("an answer within 30 s")
            .expect("an HTTP answer");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("a whole body").to_bytes();
        Reply { status, headers, body: String::from_utf8(body.to_vec()).expect("UTF-8 body") }
    }

    /// POSTs a JSON-RPC body with the usual MCP headers plus `extra`.
    pub async fn post(&self, body: &Value, extra: &[(&str, &str)]) -> Reply {
        let mut headers = vec![("content-type", "application/json"), ("accept", JSON_AND_SSE)];
        headers.extend_from_slice(extra);
        self.send("POST", "/mcp", &headers, serde_json::to_vec(body).expect("JSON")).await
    }

    /// A legacy JSON-RPC request without a session; returns the parsed body.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let reply = self.post(&json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}), &[]).await;
        assert_eq!(reply.status, 200, "{method}: {}", reply.body);
        reply.json()
    }

    /// Calls any tool; returns the JSON-RPC result.
    pub async fn call(&self, name: &str, arguments: Value) -> Value {
        self.rpc("tools/call", json!({"name": name, "arguments": arguments})).await["result"].clone()
    }

    /// Calls the weather tool; returns the JSON-RPC result.
    pub async fn call_weather(&self, latitude: f64, longitude: f64) -> Value {
        let body = self
            .rpc(
                "tools/call",
                json!({"name":"get_current_weather","arguments":{"latitude":latitude,"longitude":longitude}}),
            )
            .await;
        body["result"].clone()
    }
}

impl std::ops::Deref for Host {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON-RPC messages of an SSE body, in order.
    pub fn sse_messages(&self) -> Vec<Value> {
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .map(|data| serde_json::from_str(data).expect("SSE data is JSON"))
            .collect()
    }
}

pub const JSON_AND_SSE: &str = "application/json, text/event-stream";

/// How long a line the host logged may take to reach [`Host::logged`].
const LOG_GRACE: Duration = Duration::from_secs(5);

/// Whether a `/status` says the host is ready: every source was scanned once
/// and each load that scan started has ended.
fn is_ready(status: &Value) -> bool {
    status["ready"] == true
}

/// `GET path` on a connection of its own, without an async runtime (tests
/// start hosts from plain functions too); the body of a 200 answer.
fn get_blocking(addr: SocketAddr, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200 ").then(|| body.to_owned())
}

/// The `wasmtime` CLI (`WASMTIME_BIN`, else the Makefile's install in the tools cache).
pub fn wasmtime_bin() -> PathBuf {
    let default = std::env::var("HOME")
        .map(|home| format!("{home}/.cache/mcp-wasm-tools/wasmtime-48.0.8/bin/wasmtime"));
    let path = std::env::var_os("WASMTIME_BIN").map(PathBuf::from).or(default.ok().map(PathBuf::from));
    let path = path.expect("WASMTIME_BIN or HOME is set");
    assert!(path.exists(), "{} not found (set WASMTIME_BIN, or run `make wasmtime`)", path.display());
    path
}

impl Host {
    /// Starts `mcp-host` with these components: `(name, wasm, policy)`.
    pub fn start(components: &[(&str, &Path, &str)], extra_args: &[&str]) -> Host {
        Host::start_with_env(components, extra_args, &[])
    }

    /// Starts `mcp-host` with extra environment variables of its own.
    pub fn start_with_env(
        components: &[(&str, &Path, &str)],
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Host {
        let mut host = Host::launch(components, extra_args, env);
        host.wait_until_ready(Duration::from_secs(60));
        host
    }

    /// Starts `mcp-host` and returns once it listens, while its components may still be loading.
    pub fn launch(components: &[(&str, &Path, &str)], extra_args: &[&str], env: &[(&str, &str)]) -> Host {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, wasm, policy) in components {
            std::fs::copy(wasm, dir.path().join(format!("{name}.wasm"))).expect("copy component");
            std::fs::write(dir.path().join(format!("{name}.toml")), policy).expect("write policy");
        }
        let mut command = Command::new(host_bin());
        command
            .arg("--components")
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(extra_args)
            .env_remove("FUNCTIONS_CUSTOMHANDLER_PORT")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        let mut host = Host::spawn(command, Stream::Stdout, dir);
        // Listening on port 0, the host says where only in its log.
        let listening = host.wait_for_line("MCP endpoint at /mcp", Duration::from_secs(10));
        let addr = listening.split("addr=").nth(1).expect("the listen line names the address");
        host.endpoint.addr = addr.trim().parse().expect("a socket address");
        host
    }

    /// Runs one component alone under the stock `wasmtime serve`, configured
    /// through its environment.
    pub fn serve_alone(wasm: &Path, env: &[(&str, &str)]) -> Host {
        let mut command = Command::new(wasmtime_bin());
        command.args(["serve", "-S", "cli", "--addr", "127.0.0.1:0"]);
        for (name, value) in env {
            command.arg("--env").arg(format!("{name}={value}"));
        }
        command.arg(wasm);
        let mut host = Host::spawn(command, Stream::Stderr, tempfile::tempdir().expect("temp dir"));
        // Listening on port 0, `wasmtime serve` says where only in its log.
        let serving = host.wait_for_line("Serving HTTP on http://", Duration::from_secs(60));
        let addr = serving.split("http://").nth(1).expect("the line names the address");
        host.endpoint.addr = addr.trim().trim_end_matches('/').parse().expect("a socket address");
        host
    }

    fn spawn(mut command: Command, logs: Stream, dir: tempfile::TempDir) -> Host {
        let (stdout, stderr) = match logs {
            Stream::Stdout => (Stdio::piped(), Stdio::inherit()),
            Stream::Stderr => (Stdio::inherit(), Stdio::piped()),
        };
        let mut child = command.stdout(stdout).stderr(stderr).spawn().expect("start the server");
        let reader: Box<dyn std::io::Read + Send> = match logs {
            Stream::Stdout => Box::new(child.stdout.take().expect("piped stdout")),
            Stream::Stderr => Box::new(child.stderr.take().expect("piped stderr")),
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        Host { child, log, dir, endpoint: Endpoint::new(SocketAddr::from(([127, 0, 0, 1], 0))) }
    }

    /// Waits for the server to log a line containing `needle`, and returns it.
    fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.find_line(needle) {
                return line;
            }
            self.assert_running();
            assert!(
                started.elapsed() < limit,
                "no log line {needle:?} within {limit:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn find_line(&self, needle: &str) -> Option<String> {
        self.log.lock().expect("log lock").iter().find(|l| l.contains(needle)).cloned()
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the server exited ({status}); log:\n{}", self.log_text());
        }
    }

    /// Asserts that the host logged a line containing `needle` (as it does
    /// before the event can be observed, or as the answer leaves); returns the
    /// line. It may still be on its way through the pipe, hence the grace.
    pub fn logged(&self, needle: &str) -> String {
        let deadline = Instant::now() + LOG_GRACE;
        loop {
            if let Some(line) = self.find_line(needle) {
                return line;
            }
            assert!(Instant::now() < deadline, "nothing logged with {needle:?}; log:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the first scan of the components is done and none of them
    /// is still loading, as `/status` shows: every component serves or is refused.
    fn wait_until_ready(&mut self, limit: Duration) {
        let started = Instant::now();
        loop {
            let status = get_blocking(self.addr, "/status").map(|body| serde_json::from_str(&body));
            if let Some(Ok(status)) = &status
                && is_ready(status)
            {
                return;
            }
            self.assert_running();
            assert!(
                started.elapsed() < limit,
                "not ready within {limit:?}: {status:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The folder the host serves components from.
    pub fn components_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends the host SIGTERM, as a platform scaling in does.
    pub fn terminate(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Kills the host at once (SIGKILL), as a crashed or evicted instance stops.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the host to exit, at most `limit`; its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// The host process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The host process's resident memory, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("the host runs");
        let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS is reported");
        kb.trim().trim_end_matches("kB").trim().parse::<u64>().expect("a number of kB") * 1024
    }

    /// The page faults the host process has taken that needed no I/O (a
    /// page mapped, zeroed or copied on write): `minflt` in `/proc/PID/stat`.
    pub fn minor_faults(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("the host runs");
        // The fields after the command name, which is in parentheses and may hold spaces.
        let mut fields = stat.rsplit_once(')').expect("a stat line").1.split_whitespace();
        fields.nth(7).expect("minflt").parse().expect("a count")
    }

    /// The files (sockets, pipes, ...) the host process holds open.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |dir| dir.count())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SSE body, read one JSON-RPC message at a time.
pub struct Sse {
    body: Incoming,
    buffer: String,
}

impl Sse {
    /// The next message, or `None` at the end of the body; panics after `limit`.
    /// A plain JSON body counts as one message.
    pub async fn next(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: String = event.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
                if data.is_empty() {
                    continue;
                }
                return Some(serde_json::from_str(&data).expect("SSE data is JSON"));
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .unwrap_or_else(|_| panic!("no SSE event within {limit:?}"));
            match frame {
                None if self.buffer.trim().is_empty() => return None,
                None => {
                    let body = std::mem::take(&mut self.buffer);
                    return Some(serde_json::from_str(&body).expect("a JSON body"));
                }
                Some(frame) => {
                    if let Ok(data) = frame.expect("the body streams").into_data() {
                        self.buffer.push_str(std::str::from_utf8(&data).expect("UTF-8"));
                    }
                }
            }
        }
    }
}

/// The text of a tool result's first content block.
pub fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text block in {result}"))
}
