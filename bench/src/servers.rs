//! The servers under test: how each is started, probed and measured.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The request every server gets, by the probe as by wrk (see call.lua).
pub const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_current_weather","arguments":{"latitude":52.52,"longitude":13.41}}}"#;
/// How long a server may take to answer its first call.
const START_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// mcp-host serving weather.wasm.
    Wasm,
    /// The same host, the tool in plain Rust.
    Native,
    /// Python FastMCP under uvicorn: an async tool with httpx.
    FastMcp,
    /// The same, written the simple way: a sync tool with `requests`.
    FastMcpSync,
    /// The stock `wasmtime serve` running weather.wasm alone.
    WasmtimeServe,
    /// mcp-host serving the weather tool written in Python (componentize-py).
    Python,
    /// mcp-host serving the weather tool written in TypeScript (componentize-js).
    TypeScript,
    /// mcp-host serving weather.wasm, exporting traces and metrics over OTLP
    /// (measured against `Wasm` for the cost of telemetry; not in `ALL`).
    WasmOtel,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Wasm,
        Kind::Native,
        Kind::FastMcp,
        Kind::FastMcpSync,
        Kind::WasmtimeServe,
        Kind::Python,
        Kind::TypeScript,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Kind::Wasm => "wasm",
            Kind::Native => "native",
            Kind::FastMcp => "fastmcp",
            Kind::FastMcpSync => "fastmcp-sync",
            Kind::WasmtimeServe => "wasmtime-serve",
            Kind::Python => "python-wasm",
            Kind::TypeScript => "typescript-wasm",
            Kind::WasmOtel => "wasm-otel",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::Wasm => "mcp-host + weather.wasm",
            Kind::Native => "mcp-host, native tool",
            Kind::FastMcp => "FastMCP, async (httpx)",
            Kind::FastMcpSync => "FastMCP, sync (requests)",
            Kind::WasmtimeServe => "wasmtime serve + weather.wasm",
            Kind::Python => "mcp-host + Python weather.wasm",
            Kind::TypeScript => "mcp-host + TypeScript weather.wasm",
            Kind::WasmOtel => "mcp-host + weather.wasm, OTLP export on",
        }
    }

    /// Whether this server is mcp-host, with its compiled-component cache and call timings.
    pub fn is_host(self) -> bool {
        !matches!(self, Kind::FastMcp | Kind::FastMcpSync | Kind::WasmtimeServe)
    }
}

/// Where mcp-host finds compiled components.
#[derive(Debug, Clone, Copy)]
pub enum Code<'a> {
    /// This cache folder (empty: it compiles at start, and fills it).
    Cache(&'a Path),
    /// The package's precompiled folder (`Setup::precompiled`), with this
    /// empty cache folder.
    Package(&'a Path),
}

/// Where everything the servers need lives.
pub struct Setup {
    pub host_bin: PathBuf,
    pub wasmtime_bin: PathBuf,
    pub native_bin: PathBuf,
    pub python: PathBuf,
    pub fastmcp_server: PathBuf,
    /// weather.wasm and its policy, pointed at the fake upstream; then the
    /// Python and the TypeScript build with the same policy.
    pub components: PathBuf,
    pub python_components: PathBuf,
    pub typescript_components: PathBuf,
    /// Every component above, compiled ahead of time by `mcp-precompile`.
    pub precompiled: PathBuf,
    pub upstream: String,
    /// The OTLP receiver `WasmOtel` exports to.
    pub otlp: String,
    pub logs: PathBuf,
}

/// A running server; killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Setup {
    /// Starts a server. `code`: where mcp-host finds compiled components;
    /// `rust_log` its log filter. Returns as soon as the process is spawned.
    pub fn spawn(&self, kind: Kind, code: Code, rust_log: &str, tag: &str) -> anyhow::Result<Server> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = self.logs.join(format!("{}-{tag}.log", kind.key()));
        let out = std::fs::File::create(&log)?;
        let mut command = match kind {
            Kind::Wasm | Kind::WasmOtel | Kind::Native | Kind::Python | Kind::TypeScript => {
                let bin = if kind == Kind::Native { &self.native_bin } else { &self.host_bin };
                let components = match kind {
                    Kind::Python => &self.python_components,
                    Kind::TypeScript => &self.typescript_components,
                    _ => &self.components,
                };
                let mut command = Command::new(bin);
                command
                    .arg("--components")
                    .arg(components)
                    .arg("--listen")
                    .arg(addr.to_string())
                    .env("RUST_LOG", rust_log);
                match code {
                    Code::Cache(cache) => command.env("MCP_CACHE_DIR", cache),
                    Code::Package(cache) => {
                        command.env("MCP_CACHE_DIR", cache).env("MCP_PRECOMPILED_DIR", &self.precompiled)
                    }
                };
                if kind == Kind::WasmOtel {
                    // Every span exported (a queue that holds a second of load), metrics each second;
                    // the bench's own OTEL_* variables, if set, override these.
                    command.env("OTEL_EXPORTER_OTLP_ENDPOINT", &self.otlp);
                    for (name, value) in [
                        ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
                        ("OTEL_BSP_MAX_QUEUE_SIZE", "65536"),
                        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"),
                        ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
                    ] {
                        if std::env::var_os(name).is_none() {
                            command.env(name, value);
                        }
                    }
                }
                command
            }
            Kind::FastMcp | Kind::FastMcpSync => {
                let style = if kind == Kind::FastMcp { "async" } else { "sync" };
                let mut command = Command::new(&self.python);
                command
                    .arg(&self.fastmcp_server)
                    .arg(port.to_string())
                    .arg(style)
                    .env("OPEN_METEO_URL", &self.upstream);
                command
            }
            Kind::WasmtimeServe => {
                // As its documentation runs a wasi:http component; `-S cli`
                // for a Rust std guest, the upstream through its environment.
                let mut command = Command::new(&self.wasmtime_bin);
                command
                    .args(["serve", "-S", "cli", "--addr", &addr.to_string()])
                    .arg("--env")
                    .arg(format!("OPEN_METEO_URL={}", self.upstream))
                    .arg(self.components.join("weather.wasm"));
                command
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", kind.title()))?;
        Ok(Server { child, addr, log })
    }

    /// Spawns a server and waits for its first successful tools/call; returns
    /// the server and the time from spawn to that answer.
    pub fn start(
        &self,
        kind: Kind,
        code: Code,
        rust_log: &str,
        tag: &str,
    ) -> anyhow::Result<(Server, Duration)> {
        let started = Instant::now();
        let mut server = self.spawn(kind, code, rust_log, tag)?;
        loop {
            if let Ok(body) = call(server.addr) {
                check(&body).with_context(|| format!("{}'s first answer", kind.title()))?;
                return Ok((server, started.elapsed()));
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("{} exited ({status}); see {}", kind.title(), server.log.display());
            }
            if started.elapsed() > START_LIMIT {
                bail!("{} did not answer within {START_LIMIT:?}; see {}", kind.title(), server.log.display());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The process's resident memory: now (`VmRSS`) and at its peak (`VmHWM`), in KiB.
    pub fn rss(server: &Server) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .with_context(|| format!("{name} in /proc/PID/status"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }
}

/// One tools/call over a fresh connection; the response body, or why not.
pub fn call(addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{CALL}",
        CALL.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.take(1 << 20).read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("no HTTP header end")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("{}", head.lines().next().unwrap_or_default());
    }
    // The body may be chunked; the JSON object is what lies between its braces.
    let json = body.find('{').zip(body.rfind('}')).map(|(a, b)| &body[a..=b]).unwrap_or_default();
    Ok(json.to_owned())
}

/// Whether an answer is the successful tool result the fake's forecast gives.
pub fn check(body: &str) -> anyhow::Result<()> {
    let reply: serde_json::Value = serde_json::from_str(body).with_context(|| format!("not JSON: {body}"))?;
    let result = &reply["result"];
    if result["isError"] == true || result["structuredContent"]["current"]["temperature"] != 6.3 {
        bail!("not a successful weather result: {body}");
    }
    Ok(())
}
