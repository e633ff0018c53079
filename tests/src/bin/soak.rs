//! `make soak`: mixed load against the real release binary for a while
//! (`SOAK_SECONDS`, default 600): healthy weather calls against the fake
//! Open-Meteo, hostile calls, and hot swaps of `versioned` between its two
//! builds in the watched folder. Samples the host's resident memory and open
//! files every second into `OUT/samples.csv` and `OUT/soak.svg`, writes
//! `OUT/summary.txt`, and fails when any healthy call failed.
//!
//! `soak [--seconds N] [--out DIR]`; the components come from the same
//! variables as the end-to-end tests (`MCP_HOST_BIN`, `WEATHER_WASM`, ...).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcp_e2e::fake;
use mcp_e2e::harness::{Host, hostile_wasm, versioned_wasm, weather_policy, weather_wasm};
use serde_json::{Value, json};

/// The hostile calls, taken in turn; one line per kind: the tool and its
/// arguments (given the fake API's URL). Any answer is fine; the host must
/// stay up and keep serving the healthy calls.
type Arguments = fn(&str) -> Value;
const HOSTILE: &[(&str, Arguments)] = &[
    ("spin", |_| json!({})),
    ("allocate", |_| json!({})),
    ("panic", |_| json!({})),
    ("huge_result", |_| json!({ "bytes": 4 << 20 })),
    ("fetch", |api| json!({ "url": format!("{api}/v1/forecast?latitude=-7.0&longitude=0"), "times": 4 })),
];

const HOSTILE_POLICY: &str = "[outbound]\nallow = [\"{api}\"]\ntimeout_ms = 1000\nmax_requests = 3\n\
    max_response_bytes = 1048576\n\n[limits]\nmemory_mb = 16\ntimeout_ms = 1500\n\
    max_result_bytes = 1048576\nmax_concurrent = 2\n";

/// Clients making healthy calls back to back, and clients making hostile ones.
const HEALTHY_CLIENTS: usize = 2;
const HOSTILE_CLIENTS: usize = 1;
/// How often `versioned.wasm` is replaced by its other build.
const SWAP_EVERY: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Counts {
    healthy_ok: AtomicU64,
    healthy_failed: AtomicU64,
    hostile: AtomicU64,
    swaps: AtomicU64,
}

struct Sample {
    at: f64,
    rss: u64,
    fds: usize,
    healthy_ok: u64,
    healthy_failed: u64,
    hostile: u64,
    swaps: u64,
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut out) = (600, PathBuf::from("build/soak"));
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--seconds", Some(value)) => seconds = value.parse().expect("--seconds takes a number"),
            ("--out", Some(value)) => out = PathBuf::from(value),
            _ => panic!("usage: soak [--seconds N] [--out DIR]"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let failed = runtime.block_on(soak(Duration::from_secs(seconds), &out));
    if failed == 0 { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}

/// Runs the soak; returns the count of failed healthy calls.
async fn soak(length: Duration, out: &Path) -> u64 {
    let api = fake::spawn_unlogged(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("fake API").url();
    let hostile_policy = HOSTILE_POLICY.replace("{api}", &api);
    let host = Arc::new(Host::start(
        &[
            ("weather", &weather_wasm(), &weather_policy(&api)),
            ("hostile", &hostile_wasm(), &hostile_policy),
            ("versioned", &versioned_wasm(1), ""),
        ],
        &[],
    ));
    println!("soak: host pid {} on {} for {length:?}", host.pid(), host.addr);
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for client in 0..HEALTHY_CLIENTS {
        let (host, counts, stop) = (host.clone(), counts.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                // Every other call goes to the component being swapped.
                let (tool, check): (&str, fn(&str) -> bool) = if (n + client as u64).is_multiple_of(2) {
                    ("get_current_weather", |text| !text.is_empty())
                } else {
                    ("which_version", |text| text.starts_with("version "))
                };
                let arguments = json!({ "latitude": 52.52, "longitude": 13.41 });
                match call(&host, tool, arguments).await {
                    Ok(result) if healthy(&result, check) => {
                        counts.healthy_ok.fetch_add(1, Ordering::Relaxed)
                    }
                    outcome => {
                        eprintln!("soak: healthy call to {tool} failed: {outcome:?}");
                        counts.healthy_failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for client in 0..HOSTILE_CLIENTS {
        let (host, counts, stop, api) = (host.clone(), counts.clone(), stop.clone(), api.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = client;
            while !stop.load(Ordering::Relaxed) {
                let (tool, arguments) = HOSTILE[n % HOSTILE.len()];
                let _ = call(&host, tool, arguments(&api)).await;
                counts.hostile.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    {
        let (folder, counts, stop) = (host.components_dir().to_path_buf(), counts.clone(), stop.clone());
        let builds =
            [std::fs::read(versioned_wasm(2)).expect("v2"), std::fs::read(versioned_wasm(1)).expect("v1")];
        tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SWAP_EVERY);
            ticks.tick().await;
            while !stop.load(Ordering::Relaxed) {
                ticks.tick().await;
                let n = counts.swaps.load(Ordering::Relaxed) as usize;
                // Replaced by rename, as deploy tools do.
                let partial = folder.join(".versioned.wasm.partial");
                std::fs::write(&partial, &builds[n % 2]).expect("write a build");
                std::fs::rename(&partial, folder.join("versioned.wasm")).expect("rename");
                counts.swaps.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() <= length {
        ticks.tick().await;
        samples.push(Sample {
            at: started.elapsed().as_secs_f64(),
            rss: host.rss(),
            fds: host.open_files(),
            healthy_ok: counts.healthy_ok.load(Ordering::Relaxed),
            healthy_failed: counts.healthy_failed.load(Ordering::Relaxed),
            hostile: counts.hostile.load(Ordering::Relaxed),
            swaps: counts.swaps.load(Ordering::Relaxed),
        });
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a soak task");
    }

    std::fs::create_dir_all(out).expect("the output folder");
    std::fs::write(out.join("samples.csv"), csv(&samples)).expect("samples.csv");
    std::fs::write(out.join("soak.svg"), svg(&samples)).expect("soak.svg");
    let summary = summary(&samples, &counts);
    std::fs::write(out.join("summary.txt"), &summary).expect("summary.txt");
    print!("{summary}");
    println!("soak: samples, plot and summary in {}", out.display());
    counts.healthy_failed.load(Ordering::Relaxed)
}

/// One tool call in a task of its own, so that a call the harness gives up
/// on counts as a failure instead of ending the soak.
async fn call(host: &Arc<Host>, tool: &str, arguments: Value) -> Result<Value, String> {
    let host = host.clone();
    let body =
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":arguments}});
    let reply = tokio::spawn(async move { host.post(&body, &[]).await }).await.map_err(|e| e.to_string())?;
    if reply.status != 200 {
        return Err(format!("HTTP {}: {}", reply.status, reply.body));
    }
    serde_json::from_str::<Value>(&reply.body).map_err(|e| format!("{e}: {}", reply.body))
}

fn healthy(reply: &Value, check: fn(&str) -> bool) -> bool {
    let result = &reply["result"];
    result["isError"] != json!(true) && result["content"][0]["text"].as_str().is_some_and(check)
}

fn csv(samples: &[Sample]) -> String {
    let mut csv =
        String::from("seconds,rss_bytes,open_files,healthy_ok,healthy_failed,hostile_calls,swaps\n");
    for s in samples {
        let _ = writeln!(
            csv,
            "{:.1},{},{},{},{},{},{}",
            s.at, s.rss, s.fds, s.healthy_ok, s.healthy_failed, s.hostile, s.swaps
        );
    }
    csv
}

fn summary(samples: &[Sample], counts: &Counts) -> String {
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    let (first, last) = (samples.first().expect("samples"), samples.last().expect("samples"));
    let peak = samples.iter().map(|s| s.rss).max().unwrap_or_default();
    let max_fds = samples.iter().map(|s| s.fds).max().unwrap_or_default();
    let ok = counts.healthy_ok.load(Ordering::Relaxed);
    let failed = counts.healthy_failed.load(Ordering::Relaxed);
    let hostile = counts.hostile.load(Ordering::Relaxed);
    format!(
        "soak: {:.0} s\n\
         host RSS: start {:.1} MiB, peak {:.1} MiB, end {:.1} MiB\n\
         host open files: start {}, max {}, end {}\n\
         calls: {} ({} healthy, {} hostile), swaps: {}\n\
         failed healthy calls: {failed}\n",
        last.at,
        mib(first.rss),
        mib(peak),
        mib(last.rss),
        first.fds,
        max_fds,
        last.fds,
        ok + failed + hostile,
        ok + failed,
        hostile,
        counts.swaps.load(Ordering::Relaxed),
    )
}

/// Two line charts, resident memory and open files over time, as a
/// self-contained SVG.
fn svg(samples: &[Sample]) -> String {
    const WIDTH: f64 = 900.0;
    const CHART: f64 = 260.0;
    const LEFT: f64 = 70.0;
    let end = samples.last().map_or(1.0, |s| s.at.max(1.0));
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\" font-family=\"sans-serif\" \
         font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        2.0 * CHART + 120.0
    );
    type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);
    let series: [Series; 2] = [
        (
            "host RSS (MiB)",
            "#1f77b4",
            samples.iter().map(|s| (s.at, s.rss as f64 / f64::from(1 << 20))).collect(),
        ),
        ("host open files", "#d62728", samples.iter().map(|s| (s.at, s.fds as f64)).collect()),
    ];
    for (index, (title, colour, points)) in series.iter().enumerate() {
        let top = 30.0 + index as f64 * (CHART + 50.0);
        let max = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
        let x = |t: f64| LEFT + t / end * (WIDTH - LEFT - 20.0);
        let y = |v: f64| top + CHART - v / max * CHART;
        let _ = writeln!(svg, "<text x=\"{LEFT}\" y=\"{}\" font-weight=\"bold\">{title}</text>", top - 8.0);
        let _ = writeln!(
            svg,
            "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{}\" height=\"{CHART}\" fill=\"none\" stroke=\"#999\"/>",
            WIDTH - LEFT - 20.0
        );
        for fraction in [0.0, 0.5, 1.0] {
            let value = max * fraction;
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{value:.0}</text>",
                LEFT - 6.0,
                y(value) + 4.0
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{end:.0} s</text>",
            WIDTH - 20.0,
            top + CHART + 16.0
        );
        let path: Vec<String> = points.iter().map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v))).collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
    }
    svg.push_str("</svg>\n");
    svg
}
