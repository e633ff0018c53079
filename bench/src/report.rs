//! The results as a markdown table and as JSON, with the targets of issues 9,
//! 15, 16 and 21.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::bail;
use serde_json::{Value, json};

use crate::servers::Kind;
use crate::{Figures, Telemetry, median};

pub struct Report<'a> {
    results: &'a BTreeMap<&'static str, Figures>,
    telemetry: &'a Telemetry,
    plan: String,
    machine: String,
    date: String,
}

/// One row: its label, and the figure of each server (in `Kind::ALL`'s order).
type Row = (String, [Option<f64>; Kind::ALL.len()]);

const PACKAGE_ROW: &str = "cold start from the package, empty cache (ms)";

/// Only mcp-host has these figures.
fn host_only(label: &str) -> bool {
    label.starts_with("per call") || label == PACKAGE_ROW
}

impl<'a> Report<'a> {
    pub fn new(results: &'a BTreeMap<&'static str, Figures>, telemetry: &'a Telemetry, plan: &str) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines().find_map(|l| {
                    l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_owned())
                })
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Report { results, telemetry, plan: plan.into(), machine: format!("{cores} cores, {cpu}"), date }
    }

    fn figures(&self, kind: Kind) -> &Figures {
        &self.results[kind.key()]
    }

    fn rows(&self) -> Vec<Row> {
        let each = |f: &dyn Fn(&Figures) -> Option<f64>| Kind::ALL.map(|k| f(self.figures(k)));
        let mut rows = Vec::new();
        let concurrency: Vec<u32> = self.figures(Kind::Wasm).load.keys().copied().collect();
        for &c in &concurrency {
            rows.push((
                format!("tools/call throughput, c={c} (req/s)"),
                each(&|f| Some(f.load.get(&c)?.0.throughput)),
            ));
        }
        for &c in &concurrency {
            rows.push((format!("p50 latency, c={c} (ms)"), each(&|f| Some(f.load.get(&c)?.0.p50_ms))));
        }
        for &c in &concurrency {
            rows.push((format!("p99 latency, c={c} (ms)"), each(&|f| Some(f.load.get(&c)?.0.p99_ms))));
        }
        rows.push(("cold start, empty cache (ms)".into(), each(&|f| Some(f.cold_empty_ms))));
        rows.push(("cold start, warm cache (ms)".into(), each(&|f| Some(f.cold_warm_ms))));
        rows.push((PACKAGE_ROW.into(), each(&|f| f.cold_package_ms)));
        rows.push(("idle RSS (MiB)".into(), each(&|f| Some(f.idle_rss_mib))));
        rows.push(("peak RSS under load (MiB)".into(), each(&|f| Some(f.peak_rss_mib))));
        rows.push(("per call in the host: instantiate (µs)".into(), each(&|f| f.instantiate_us)));
        rows.push(("per call in the host: call (µs)".into(), each(&|f| f.call_us)));
        rows
    }

    /// Every figure a server can have was produced, and is a real measurement.
    pub fn check_complete(&self) -> anyhow::Result<()> {
        let [off, on] = telemetry_medians(self.telemetry);
        if !off.iter().chain(&on).chain([&telemetry_ratio(self.telemetry)]).all(|v| v.is_finite() && *v > 0.0)
        {
            bail!("the OTLP export runs have no valid figures: off {off:?}, on {on:?}");
        }
        if self.telemetry.spans == 0 {
            bail!("with OTLP export on, the receiver got no spans: the export did not run");
        }
        for (label, values) in self.rows() {
            for (kind, value) in Kind::ALL.iter().zip(values) {
                let expected = kind.is_host() || !host_only(&label);
                match value {
                    Some(v) if expected && v.is_finite() && (v > 0.0 || label.contains("instantiate")) => {}
                    None if !expected => {}
                    _ => bail!("{label}: {} has no valid figure ({value:?})", kind.title()),
                }
            }
        }
        Ok(())
    }

    /// The FastMCP style with the higher throughput at c=16: the reference.
    fn fastmcp(&self) -> Kind {
        let at16 = |kind| self.figures(kind).load.get(&16).map_or(0.0, |(r, _)| r.throughput);
        if at16(Kind::FastMcpSync) > at16(Kind::FastMcp) { Kind::FastMcpSync } else { Kind::FastMcp }
    }

    /// The targets: label, the figure that decides, whether it is met.
    fn targets(&self) -> Vec<(String, String, bool)> {
        let (wasm, native, serve) =
            (self.figures(Kind::Wasm), self.figures(Kind::Native), self.figures(Kind::WasmtimeServe));
        let fastmcp = self.figures(self.fastmcp());
        let at16 =
            |f: &Figures| f.load.get(&16).map_or((f64::NAN, f64::NAN), |(r, _)| (r.throughput, r.p50_ms));
        let ((wt, wp), (nt, _), (ft, fp), (st, _)) = (at16(wasm), at16(native), at16(fastmcp), at16(serve));
        let (pt, _) = at16(self.figures(Kind::Python));
        let package = wasm.cold_package_ms.unwrap_or(f64::NAN);
        vec![
            (
                "throughput at c=16 ≥ 20× the faster FastMCP".into(),
                format!("{:.1}×", wt / ft),
                wt >= 20.0 * ft,
            ),
            ("p50 at c=16 ≤ 1/20 of the faster FastMCP".into(), format!("1/{:.1}", fp / wp), wp * 20.0 <= fp),
            ("throughput at c=16 ≥ 2× wasmtime serve".into(), format!("{:.2}×", wt / st), wt >= 2.0 * st),
            (
                "weather.wasm ≥ 0.75 of native throughput (c=16)".into(),
                format!("{:.2}", wt / nt),
                wt >= 0.75 * nt,
            ),
            (
                "cold start from the package, empty cache ≤ 30 ms (weather.wasm, the packaged component)"
                    .into(),
                format!("{package:.1} ms"),
                package <= 30.0,
            ),
            (
                "the Python weather.wasm ≥ 3× the faster FastMCP's throughput (c=16)".into(),
                format!("{:.1}×", pt / ft),
                pt >= 3.0 * ft,
            ),
            (
                "cold start, warm cache ≤ 1/30 of the faster FastMCP".into(),
                format!("1/{:.1}", fastmcp.cold_warm_ms / wasm.cold_warm_ms),
                wasm.cold_warm_ms * 30.0 <= fastmcp.cold_warm_ms,
            ),
            (
                "idle RSS ≤ 1/5 of the faster FastMCP".into(),
                format!("1/{:.1}", fastmcp.idle_rss_mib / wasm.idle_rss_mib),
                wasm.idle_rss_mib * 5.0 <= fastmcp.idle_rss_mib,
            ),
            {
                let ratio = telemetry_ratio(self.telemetry);
                (
                    "throughput with OTLP export on ≥ 95% of off (c=16)".into(),
                    format!("{:.1}%", ratio * 100.0),
                    ratio >= 0.95,
                )
            },
        ]
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("Machine: {}; {}.\n{}.\n\n", self.machine, self.date, self.plan);
        let titles: Vec<&str> = Kind::ALL.iter().map(|k| k.title()).collect();
        let _ = writeln!(out, "The reference FastMCP (the faster at c=16): {}.\n", self.fastmcp().title());
        let _ = writeln!(
            out,
            "| | {} | wasm ÷ native | wasm ÷ FastMCP | wasm ÷ wasmtime serve | Python wasm ÷ FastMCP |",
            titles.join(" | ")
        );
        let _ = writeln!(out, "|---|{}", "---:|".repeat(titles.len() + 4));
        let show = |v: Option<f64>| match v {
            None => "–".to_owned(),
            Some(v) if v >= 100.0 => format!("{v:.0}"),
            Some(v) if v >= 10.0 => format!("{v:.1}"),
            Some(v) => format!("{v:.2}"),
        };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "–".into(),
        };
        let reference = Kind::ALL.iter().position(|&k| k == self.fastmcp()).expect("in ALL");
        for (label, values) in self.rows() {
            let [wasm, native, _, _, serve, python, _] = values;
            let fastmcp = values[reference];
            let shown: Vec<String> = values.iter().map(|v| show(*v)).collect();
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} | {} | {} |",
                shown.join(" | "),
                ratio(wasm, native),
                ratio(wasm, fastmcp),
                ratio(wasm, serve),
                ratio(python, fastmcp)
            );
        }
        let [off, on] = telemetry_medians(self.telemetry);
        let _ = writeln!(
            out,
            "\nOTLP export (weather.wasm, c={}, medians of {} alternating pairs of runs; {} spans received): \
             off {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, host CPU {:.1} µs a request; \
             on {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, host CPU {:.1} µs a request; \
             on ÷ off in each pair, median: {:.1}%.",
            crate::TELEMETRY_CONNECTIONS,
            self.telemetry.on.len(),
            self.telemetry.spans,
            off[0],
            off[1],
            off[2],
            off[3],
            on[0],
            on[1],
            on[2],
            on[3],
            telemetry_ratio(self.telemetry) * 100.0
        );
        let errors: u64 = self.results.values().flat_map(|f| f.load.values()).map(|(r, _)| r.errors).sum();
        let _ =
            writeln!(out, "\nFailed requests (not a successful tool result, or socket errors): {errors}.\n");
        let _ = writeln!(out, "| Target | Measured | |\n|---|---:|---|");
        for (target, figure, met) in self.targets() {
            let _ = writeln!(out, "| {target} | {figure} | {} |", if met { "met" } else { "missed" });
        }
        out
    }

    pub fn json(&self) -> Value {
        let servers: serde_json::Map<String, Value> = Kind::ALL
            .iter()
            .map(|&kind| {
                let f = self.figures(kind);
                let load: serde_json::Map<String, Value> = f
                    .load
                    .iter()
                    .map(|(c, (median, runs))| {
                        let run = |r: &crate::load::Run| {
                            json!({"throughput_rps": r.throughput, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "errors": r.errors})
                        };
                        (c.to_string(), json!({"median": run(median), "runs": runs.iter().map(run).collect::<Vec<_>>()}))
                    })
                    .collect();
                let figures = json!({
                    "title": kind.title(),
                    "load": load,
                    "cold_start_empty_cache_ms": f.cold_empty_ms,
                    "cold_start_warm_cache_ms": f.cold_warm_ms,
                    "cold_start_package_ms": f.cold_package_ms,
                    "idle_rss_mib": f.idle_rss_mib,
                    "peak_rss_mib": f.peak_rss_mib,
                    "per_call_instantiate_us": f.instantiate_us,
                    "per_call_call_us": f.call_us,
                });
                (kind.key().to_owned(), figures)
            })
            .collect();
        let targets: Vec<Value> = self
            .targets()
            .into_iter()
            .map(|(target, figure, met)| json!({"target": target, "measured": figure, "met": met}))
            .collect();
        let [off, on] = telemetry_medians(self.telemetry);
        let medians = |m: [f64; 4]| json!({"throughput_rps": m[0], "p50_ms": m[1], "p99_ms": m[2], "host_cpu_us_per_request": m[3]});
        let telemetry = json!({"connections": crate::TELEMETRY_CONNECTIONS, "off": medians(off), "on": medians(on), "on_over_off": telemetry_ratio(self.telemetry), "spans_received": self.telemetry.spans});
        json!({"machine": self.machine, "date": self.date, "plan": self.plan, "reference_fastmcp": self.fastmcp().key(), "servers": servers, "telemetry": telemetry, "targets": targets})
    }
}

/// Medians of the telemetry runs, off then on: throughput, p50, p99, and the
/// host's CPU time per request (µs).
fn telemetry_medians(telemetry: &Telemetry) -> [[f64; 4]; 2] {
    [(&telemetry.off, &telemetry.off_cpu_us), (&telemetry.on, &telemetry.on_cpu_us)].map(|(runs, cpu)| {
        [
            median(runs.iter().map(|r| r.throughput).collect()),
            median(runs.iter().map(|r| r.p50_ms).collect()),
            median(runs.iter().map(|r| r.p99_ms).collect()),
            median(cpu.clone()),
        ]
    })
}

/// Throughput with export on over off: the median over the pairs of runs,
/// each on-run against the off-run just before it (what else ran on the
/// machine then weighs on both alike).
fn telemetry_ratio(telemetry: &Telemetry) -> f64 {
    median(telemetry.off.iter().zip(&telemetry.on).map(|(off, on)| on.throughput / off.throughput).collect())
}

/// The telemetry runs alone (`--telemetry-only`): every run, the medians and
/// the ratio.
pub fn telemetry_summary(telemetry: &Telemetry) -> String {
    let [off, on] = telemetry_medians(telemetry);
    let each = |runs: &[crate::load::Run]| {
        runs.iter().map(|r| format!("{:.0}", r.throughput)).collect::<Vec<_>>().join(", ")
    };
    format!(
        "OTLP export at c={}: off {:.0} req/s ({}), host CPU {:.1} µs a request; on {:.0} req/s ({}), \
         host CPU {:.1} µs a request; on ÷ off in each pair, median {:.1}%; {} spans received",
        crate::TELEMETRY_CONNECTIONS,
        off[0],
        each(&telemetry.off),
        off[3],
        on[0],
        each(&telemetry.on),
        on[3],
        100.0 * telemetry_ratio(telemetry),
        telemetry.spans
    )
}
