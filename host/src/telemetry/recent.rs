//! What the status page shows of the last minutes: per tool, the calls, the
//! errors and the latency distribution of each minute. Always kept (it costs
//! one short lock per call), bounded in tools and minutes. The app owns one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Minutes kept per tool.
pub const MINUTES: usize = 15;
/// Tools kept; calls of others are not counted until one goes quiet.
const MAX_TOOLS: usize = 1024;
/// Latency buckets: bucket `i` holds durations from `FIRST_MS * GROWTH^i`.
const BUCKETS: usize = 64;
const FIRST_MS: f64 = 0.05;
const GROWTH: f64 = 1.25;

#[derive(Clone)]
struct Minute {
    /// Minutes since the Unix epoch.
    at: u64,
    calls: u32,
    errors: u32,
    latency: [u32; BUCKETS],
}

/// One minute of one tool, or a total over minutes.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub calls: u32,
    pub errors: u32,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// One tool over the last `MINUTES` minutes.
#[derive(Debug, Clone)]
pub struct Tool {
    pub name: String,
    pub total: Summary,
    /// Oldest first, one per minute, the current minute last.
    pub minutes: Vec<Summary>,
}

/// Per tool, its last minutes, oldest first.
#[derive(Default)]
pub struct Recent(Mutex<BTreeMap<String, VecDeque<Minute>>>);

fn minute_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 60)
}

fn bucket(took: Duration) -> usize {
    let ms = took.as_secs_f64() * 1e3;
    if ms <= FIRST_MS {
        return 0;
    }
    ((ms / FIRST_MS).ln() / GROWTH.ln()).floor().min((BUCKETS - 1) as f64) as usize
}

impl Recent {
    /// Counts one call of `tool`.
    pub fn call(&self, tool: &str, took: Duration, failed: bool) {
        let now = minute_now();
        let mut tools = self.0.lock().expect("no panics while locked");
        if !tools.contains_key(tool) && tools.len() >= MAX_TOOLS {
            // Tools swapped out long ago make room for new ones.
            tools.retain(|_, minutes| {
                minutes.back().is_some_and(|m| now.saturating_sub(m.at) < MINUTES as u64)
            });
            if tools.len() >= MAX_TOOLS {
                return;
            }
        }
        let minutes = tools.entry(tool.to_owned()).or_default();
        if minutes.back().is_none_or(|m| m.at != now) {
            minutes.push_back(Minute { at: now, calls: 0, errors: 0, latency: [0; BUCKETS] });
            while minutes.len() > MINUTES {
                minutes.pop_front();
            }
        }
        let minute = minutes.back_mut().expect("just pushed");
        minute.calls += 1;
        minute.errors += u32::from(failed);
        minute.latency[bucket(took)] += 1;
    }

    /// Every tool called in the last `MINUTES` minutes, by name.
    pub fn tools(&self) -> Vec<Tool> {
        let now = minute_now();
        let tools = self.0.lock().expect("no panics while locked");
        let first = now.saturating_sub(MINUTES as u64 - 1);
        tools
            .iter()
            .filter(|(_, minutes)| minutes.back().is_some_and(|m| m.at >= first))
            .map(|(name, minutes)| {
                let mut all = [0; BUCKETS];
                let (mut calls, mut errors) = (0, 0);
                let by_minute = (first..=now).map(|at| match minutes.iter().find(|m| m.at == at) {
                    Some(m) => {
                        calls += m.calls;
                        errors += m.errors;
                        all.iter_mut().zip(&m.latency).for_each(|(a, b)| *a += b);
                        summary(m.calls, m.errors, &m.latency)
                    }
                    None => Summary::default(),
                });
                let minutes = by_minute.collect();
                Tool { name: name.clone(), total: summary(calls, errors, &all), minutes }
            })
            .collect()
    }
}

/// The latency below which `share` of the calls fall, at the bucket's middle.
fn percentile(latency: &[u32; BUCKETS], share: f64) -> Option<f64> {
    let total: u32 = latency.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (f64::from(total) * share).ceil().max(1.0) as u32;
    let mut seen = 0;
    for (i, count) in latency.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(FIRST_MS * GROWTH.powf(i as f64 + 0.5));
        }
    }
    None
}

fn summary(calls: u32, errors: u32, latency: &[u32; BUCKETS]) -> Summary {
    Summary { calls, errors, p50_ms: percentile(latency, 0.5), p99_ms: percentile(latency, 0.99) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_fall_in_the_right_bucket() {
        let mut latency = [0; BUCKETS];
        for ms in 1..=100 {
            latency[bucket(Duration::from_millis(ms))] += 1;
        }
        let p50 = percentile(&latency, 0.5).unwrap();
        let p99 = percentile(&latency, 0.99).unwrap();
        assert!((40.0..63.0).contains(&p50), "{p50}");
        assert!((80.0..125.0).contains(&p99), "{p99}");
        assert_eq!(percentile(&[0; BUCKETS], 0.5), None);
        assert_eq!(bucket(Duration::from_secs(3600)), BUCKETS - 1);
    }
}
