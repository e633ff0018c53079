//! `make bench`: mcp-host serving weather.wasm, the same host serving the tool
//! in plain Rust, the tool written with Python FastMCP (async and sync), the
//! stock `wasmtime serve` running weather.wasm, and mcp-host serving the
//! Python and TypeScript builds of the component, measured the same way in one
//! run against a fake Open-Meteo on loopback. Writes `results.md` and
//! `results.json` to `--out` and prints the table.

mod load;
mod report;
mod servers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;

use crate::load::Run;
use crate::servers::{Code, Kind, Server, Setup};

#[derive(Debug, Parser)]
#[command(name = "mcp-bench")]
struct Args {
    /// A short run that only checks that every figure is produced: one run of
    /// one second per concurrency, one spawn per cold-start figure.
    #[arg(long)]
    smoke: bool,
    /// Where results.md, results.json and the servers' logs go.
    #[arg(long, default_value = "build/bench")]
    out: PathBuf,
    /// The Python of the FastMCP virtualenv.
    #[arg(long)]
    python: PathBuf,
    #[arg(long, default_value = "target/release/mcp-host")]
    host_bin: PathBuf,
    #[arg(long, default_value = "target/release/mcp-host-native")]
    native_bin: PathBuf,
    /// The compiler of the package's precompiled components.
    #[arg(long, default_value = "target/release/mcp-precompile")]
    precompile_bin: PathBuf,
    /// The stock wasmtime CLI (`make wasmtime`).
    #[arg(long)]
    wasmtime_bin: PathBuf,
    #[arg(long, default_value = "target/wasm32-wasip2/guest/weather.wasm")]
    weather_wasm: PathBuf,
    #[arg(long, default_value = "build/polyglot/python/weather.wasm")]
    python_weather_wasm: PathBuf,
    #[arg(long, default_value = "build/polyglot/typescript/weather.wasm")]
    typescript_weather_wasm: PathBuf,
    /// The component's policy; its Open-Meteo URL is pointed at the fake.
    #[arg(long, default_value = "guest/weather/weather.toml")]
    weather_policy: PathBuf,
    #[arg(long, default_value = "bench")]
    bench_dir: PathBuf,
    /// Measure only the cost of OTLP export (export off against on), print
    /// it and write nothing: for working on that cost.
    #[arg(long)]
    telemetry_only: bool,
}

/// How much of everything to measure.
struct Plan {
    concurrency: [u32; 3],
    runs: usize,
    duration: Duration,
    spawns: usize,
    calls: usize,
    /// Alternating pairs of runs (off, on) for the cost of OTLP export.
    telemetry_pairs: usize,
}

/// Everything measured for one server; medians over runs and spawns.
#[derive(Debug, Default)]
pub struct Figures {
    /// By concurrency: the median run, and every run.
    pub load: BTreeMap<u32, (Run, Vec<Run>)>,
    pub cold_empty_ms: f64,
    pub cold_warm_ms: f64,
    /// mcp-host with the package's precompiled code and an empty cache.
    pub cold_package_ms: Option<f64>,
    pub idle_rss_mib: f64,
    pub peak_rss_mib: f64,
    /// Inside the host, per call: instantiating the component, then running the call.
    pub instantiate_us: Option<f64>,
    pub call_us: Option<f64>,
}

/// The cost of OTLP export: weather.wasm at c=16 with export off and on, in
/// alternating runs (pairs), the host's CPU time per request in each run, and
/// how many spans the receiver got.
#[derive(Debug, Default)]
pub struct Telemetry {
    pub off: Vec<Run>,
    pub on: Vec<Run>,
    pub off_cpu_us: Vec<f64>,
    pub on_cpu_us: Vec<f64>,
    pub spans: usize,
}

/// The concurrency the telemetry cost is measured at (the goal).
const TELEMETRY_CONNECTIONS: u32 = 16;

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = if args.smoke {
        Plan {
            concurrency: [1, 16, 64],
            runs: 1,
            duration: Duration::from_secs(1),
            spawns: 1,
            calls: 20,
            telemetry_pairs: 3,
        }
    } else {
        Plan {
            concurrency: [1, 16, 64],
            runs: 3,
            duration: Duration::from_secs(5),
            spawns: 5,
            calls: 300,
            telemetry_pairs: 5,
        }
    };
    std::fs::create_dir_all(args.out.join("logs"))?;
    let upstream = fake_upstream()?;
    let otlp = otlp_receiver()?;
    let policy = std::fs::read_to_string(&args.weather_policy)?;
    let components = prepare_components(&args.weather_wasm, &policy, &upstream)?;
    let python_components = prepare_components(&args.python_weather_wasm, &policy, &upstream)?;
    let typescript_components = prepare_components(&args.typescript_weather_wasm, &policy, &upstream)?;
    let precompiled = tempfile::tempdir()?;
    eprintln!("== precompiling the components, as make package does");
    precompile(
        &args.precompile_bin,
        precompiled.path(),
        &[&components, &python_components, &typescript_components],
    )?;
    let setup = Setup {
        host_bin: args.host_bin.clone(),
        wasmtime_bin: args.wasmtime_bin.clone(),
        native_bin: args.native_bin.clone(),
        python: args.python.clone(),
        fastmcp_server: args.bench_dir.join("fastmcp/server.py"),
        components: components.path().to_owned(),
        python_components: python_components.path().to_owned(),
        typescript_components: typescript_components.path().to_owned(),
        precompiled: precompiled.path().to_owned(),
        upstream,
        otlp: otlp.endpoint(),
        logs: std::fs::canonicalize(args.out.join("logs"))?,
    };
    let script = args.bench_dir.join("call.lua");
    if args.telemetry_only {
        let cache = tempfile::tempdir()?;
        let telemetry = telemetry_cost(&setup, &plan, &script, &cache, &otlp)?;
        println!("{}", report::telemetry_summary(&telemetry));
        return Ok(());
    }
    let mut results = BTreeMap::new();
    let mut caches = Vec::new();
    for kind in Kind::ALL {
        eprintln!("== {}: cold start and per-call cost", kind.title());
        let (figures, cache) = start_up(&setup, kind, &plan)?;
        results.insert(kind.key(), figures);
        caches.push(cache);
    }
    load_all(&setup, &plan, &script, &caches, &mut results)?;
    let telemetry = telemetry_cost(&setup, &plan, &script, &caches[0], &otlp)?;
    let report = report::Report::new(&results, &telemetry, &plan_summary(&plan));
    report.check_complete()?;
    std::fs::write(args.out.join("results.md"), report.markdown())?;
    std::fs::write(args.out.join("results.json"), serde_json::to_string_pretty(&report.json())? + "\n")?;
    println!("{}", report.markdown());
    println!("(written to {} and results.json)", args.out.join("results.md").display());
    let errors: u64 = results
        .values()
        .flat_map(|f| f.load.values())
        .flat_map(|(_, runs)| runs)
        .map(|r| r.errors)
        .sum::<u64>()
        + telemetry.off.iter().chain(&telemetry.on).map(|r| r.errors).sum::<u64>();
    if errors > 0 {
        bail!("{errors} requests failed: the figures measure errors, not tool calls");
    }
    Ok(())
}

fn plan_summary(plan: &Plan) -> String {
    format!(
        "wrk, 1 thread, {} run(s) of {} s per concurrency, the servers taking turns; cold start: median of {} spawn(s); per-call cost: median of {} sequential calls",
        plan.runs,
        plan.duration.as_secs_f64(),
        plan.spawns,
        plan.calls
    )
}

/// The fake Open-Meteo, on a runtime of its own for the whole run.
fn fake_upstream() -> anyhow::Result<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let fake = mcp_e2e::fake::spawn_unlogged(([127, 0, 0, 1], 0).into()).await;
            let _ = sender.send(fake.map(|f| f.url()));
            std::future::pending::<()>().await;
        });
    });
    Ok(receiver.recv().context("the fake upstream's thread")??)
}

/// A loopback OTLP receiver that holds what it gets until counted, on a
/// runtime of its own.
fn otlp_receiver() -> anyhow::Result<mcp_e2e::otlp::Receiver> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let _ = sender.send(mcp_e2e::otlp::Receiver::start_counting(([127, 0, 0, 1], 0).into()).await);
            std::future::pending::<()>().await;
        });
    });
    Ok(receiver.recv().context("the OTLP receiver's thread")??)
}

/// weather.wasm at c=16 with OTLP export off and on, the two servers taking
/// turns run by run. The receiver decodes and counts what it got between runs,
/// not during them: a collector's work is not the host's, and on this
/// machine it would take the CPU the host is measured on.
fn telemetry_cost(
    setup: &Setup,
    plan: &Plan,
    script: &Path,
    cache: &tempfile::TempDir,
    otlp: &mcp_e2e::otlp::Receiver,
) -> anyhow::Result<Telemetry> {
    eprintln!("== OTLP export off and on, c={TELEMETRY_CONNECTIONS}");
    let off = setup.start(Kind::Wasm, Code::Cache(cache.path()), "warn", "otel-off")?.0;
    let on = setup.start(Kind::WasmOtel, Code::Cache(cache.path()), "warn", "otel-on")?.0;
    let mut telemetry = Telemetry::default();
    for server in [&off, &on] {
        load::wrk(script, server.addr, TELEMETRY_CONNECTIONS, Duration::from_secs(1)).context("warm-up")?;
    }
    for _ in 0..plan.telemetry_pairs {
        for (server, runs, cpu) in [
            (&off, &mut telemetry.off, &mut telemetry.off_cpu_us),
            (&on, &mut telemetry.on, &mut telemetry.on_cpu_us),
        ] {
            let before = cpu_time(server)?;
            let run = load::wrk(script, server.addr, TELEMETRY_CONNECTIONS, plan.duration)?;
            let per_request = (cpu_time(server)? - before).as_secs_f64() * 1e6 / run.requests as f64;
            eprintln!(
                "  {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, host CPU {per_request:.1} µs a request",
                run.throughput, run.p50_ms, run.p99_ms
            );
            runs.push(run);
            cpu.push(per_request);
            telemetry.spans += otlp.count_spans().context("an OTLP export that is not valid protobuf")?;
        }
    }
    drop(on);
    telemetry.spans += otlp.count_spans().context("an OTLP export that is not valid protobuf")?;
    Ok(telemetry)
}

/// A components folder: `wasm` as weather.wasm, and the real `policy` with
/// the API URL pointed at the fake.
fn prepare_components(wasm: &Path, policy: &str, upstream: &str) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(wasm, dir.path().join("weather.wasm"))
        .with_context(|| format!("{} (run make build)", wasm.display()))?;
    if !policy.contains("https://api.open-meteo.com") {
        bail!("the weather policy does not name https://api.open-meteo.com");
    }
    std::fs::write(dir.path().join("weather.toml"), policy.replace("https://api.open-meteo.com", upstream))?;
    Ok(dir)
}

/// Runs `mcp-precompile` on each folder's weather.wasm into `out`, for the
/// CPU baseline `make package` compiles for.
fn precompile(bin: &Path, out: &Path, folders: &[&tempfile::TempDir]) -> anyhow::Result<()> {
    let mut command = std::process::Command::new(bin);
    command.arg("--out").arg(out);
    for folder in folders {
        command.arg(folder.path().join("weather.wasm"));
    }
    let status = command.status().with_context(|| format!("running {}", bin.display()))?;
    if !status.success() {
        bail!("{} failed: {status}", bin.display());
    }
    Ok(())
}

/// Cold start, then the host's own per-call cost; returns the figures and the
/// warm compiled-component cache the load runs then start with.
fn start_up(setup: &Setup, kind: Kind, plan: &Plan) -> anyhow::Result<(Figures, tempfile::TempDir)> {
    let mut figures = Figures::default();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // Spawn to first answered call, with an empty cache folder each time,
    // then with one a previous spawn filled.
    let warm = tempfile::tempdir()?;
    let mut empty = Vec::new();
    for _ in 0..plan.spawns {
        let cache = tempfile::tempdir()?;
        empty.push(ms(setup.start(kind, Code::Cache(cache.path()), "warn", "cold")?.1));
    }
    figures.cold_empty_ms = median(empty);
    figures.cold_warm_ms = if kind.is_host() {
        drop(setup.start(kind, Code::Cache(warm.path()), "warn", "prime")?);
        let mut times = Vec::new();
        for _ in 0..plan.spawns {
            times.push(ms(setup.start(kind, Code::Cache(warm.path()), "warn", "warm")?.1));
        }
        median(times)
    } else {
        // Python has no compiled-component cache (its bytecode is already
        // cached), nor has wasmtime serve as built here.
        figures.cold_empty_ms
    };
    if kind.is_host() {
        let mut times = Vec::new();
        for _ in 0..plan.spawns {
            let cache = tempfile::tempdir()?;
            times.push(ms(setup.start(kind, Code::Package(cache.path()), "warn", "package")?.1));
        }
        figures.cold_package_ms = Some(median(times));
    }
    let package =
        figures.cold_package_ms.map_or(String::new(), |ms| format!(", {ms:.0} ms from the package"));
    eprintln!(
        "  cold start: {:.0} ms empty cache, {:.0} ms warm{package}",
        figures.cold_empty_ms, figures.cold_warm_ms
    );

    if kind.is_host() {
        let (server, _) =
            setup.start(kind, Code::Cache(warm.path()), "warn,mcp_host::runtime=debug", "calls")?;
        let (instantiate, call) = call_costs(&server, plan.calls)?;
        figures.instantiate_us = Some(instantiate);
        figures.call_us = Some(call);
        eprintln!("  per call inside the host: {instantiate:.0} µs instantiate, {call:.0} µs call");
    }
    Ok((figures, warm))
}

/// Throughput, latency and memory. The servers run side by side and
/// take turns run by run, so that whatever else the machine is doing weighs
/// on all alike and their ratios stay fair.
fn load_all(
    setup: &Setup,
    plan: &Plan,
    script: &Path,
    caches: &[tempfile::TempDir],
    results: &mut BTreeMap<&'static str, Figures>,
) -> anyhow::Result<()> {
    let mut servers = Vec::new();
    for (kind, cache) in Kind::ALL.into_iter().zip(caches) {
        servers.push((kind, setup.start(kind, Code::Cache(cache.path()), "warn", "load")?.0));
    }
    std::thread::sleep(Duration::from_secs(1));
    for (kind, server) in &servers {
        let figures = results.get_mut(kind.key()).expect("started up");
        figures.idle_rss_mib = Setup::rss(server)?.0 as f64 / 1024.0;
        load::wrk(script, server.addr, 16, Duration::from_secs(1)).context("warm-up")?;
    }
    for &connections in &plan.concurrency {
        let mut runs: BTreeMap<&str, Vec<Run>> = BTreeMap::new();
        for _ in 0..plan.runs {
            for (kind, server) in &servers {
                let run = load::wrk(script, server.addr, connections, plan.duration)?;
                eprintln!(
                    "  {} c={connections}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                    kind.key(),
                    run.throughput,
                    run.p50_ms,
                    run.p99_ms,
                    run.errors
                );
                runs.entry(kind.key()).or_default().push(run);
            }
        }
        for (key, runs) in runs {
            let pick = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
            let median_run = Run {
                throughput: pick(|r| r.throughput),
                p50_ms: pick(|r| r.p50_ms),
                p99_ms: pick(|r| r.p99_ms),
                requests: runs.iter().map(|r| r.requests).sum(),
                errors: runs.iter().map(|r| r.errors).sum(),
            };
            results.get_mut(key).expect("started up").load.insert(connections, (median_run, runs));
        }
    }
    for (kind, server) in &servers {
        results.get_mut(kind.key()).expect("started up").peak_rss_mib = Setup::rss(server)?.1 as f64 / 1024.0;
    }
    Ok(())
}

/// Medians of the host's own per-call timings over `calls` sequential calls.
fn call_costs(server: &Server, calls: usize) -> anyhow::Result<(f64, f64)> {
    for _ in 0..calls {
        servers::check(&servers::call(server.addr)?)?;
    }
    let log = std::fs::read_to_string(&server.log)?;
    let field = |line: &str, name: &str| {
        line.split_whitespace().find_map(|w| w.strip_prefix(name)).and_then(|v| v.parse::<f64>().ok())
    };
    let (mut instantiate, mut call) = (Vec::new(), Vec::new());
    for line in log.lines().filter(|l| l.contains("call timing")) {
        instantiate.push(field(line, "instantiate_us=").context("instantiate_us")?);
        call.push(field(line, "call_us=").context("call_us")?);
    }
    // The first call was the start-up probe's.
    if call.len() != calls + 1 {
        bail!("{} call timings logged for {} calls; see {}", call.len(), calls + 1, server.log.display());
    }
    Ok((median(instantiate), median(call)))
}

/// The CPU time (user and system) `server` has used so far.
fn cpu_time(server: &Server) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.pid()))?;
    // The fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th of the line, in clock ticks (100 a second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')').context("/proc/PID/stat")?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).context("/proc/PID/stat times");
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}
