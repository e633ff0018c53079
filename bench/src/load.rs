//! Load with wrk: one run at one concurrency, and what it measured.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

/// One wrk run's figures.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub throughput: f64,
    /// Answers received, good or not.
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Answers that were not a successful tool result, and socket errors.
    pub errors: u64,
}

/// Runs wrk with `script` against `addr` for `duration` at `connections`.
pub fn wrk(script: &Path, addr: SocketAddr, connections: u32, duration: Duration) -> anyhow::Result<Run> {
    let output = Command::new("wrk")
        .args(["-t1", "--latency", "--timeout", "10s"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("-s")
        .arg(script)
        .arg(format!("http://{addr}/mcp"))
        .output()
        .context("running wrk (make bench installs it)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr));
    }
    let line = stdout.lines().find_map(|l| l.strip_prefix("BENCH ")).context("no BENCH line from wrk")?;
    let figures: Value = serde_json::from_str(line)?;
    let number = |key: &str| figures[key].as_f64().with_context(|| format!("{key} in {line}"));
    if let Some(sample) = stdout.lines().find_map(|l| l.strip_prefix("SAMPLE ")) {
        eprintln!("  a failed answer: {sample}");
    }
    Ok(Run {
        throughput: number("requests")? / (number("duration_us")? / 1e6),
        requests: number("requests")? as u64,
        p50_ms: number("p50_us")? / 1e3,
        p99_ms: number("p99_us")? / 1e3,
        errors: (number("failed")? + number("socket_errors")?) as u64,
    })
}
