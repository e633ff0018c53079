//! Clients calling a tool without pause (by default the `versioned` component's
//! `which_version`), recording what answered each call: the load of the
//! hot-swap tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::Endpoint;

/// Clients calling at once.
pub const CLIENTS: usize = 32;
/// Generous bound on compiling and checking a small component on a busy machine.
pub const COMPILE_BOUND: Duration = Duration::from_secs(15);

/// One call's outcome: when it started and ended, and the version that answered.
pub struct Sample {
    pub started: Instant,
    pub ended: Instant,
    pub outcome: Result<String, String>,
}

/// Clients calling a tool back to back until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Sample>>>,
    samples: Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
}

impl Load {
    /// Calls `which_version`: each answer names the version.
    pub fn start(host: &Endpoint) -> Load {
        Load::calling(host, "which_version", json!({}))
    }

    /// Calls `tool` with `arguments`; each answer's text is recorded.
    pub fn calling(host: &Endpoint, tool: &'static str, arguments: Value) -> Load {
        let host = Arc::new(host.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks = (0..CLIENTS)
            .map(|client| {
                let (host, stop, seen) = (host.clone(), stop.clone(), samples.clone());
                let arguments = arguments.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    let mut id = 0;
                    while !stop.load(Ordering::Relaxed) {
                        id += 1;
                        let body = json!({"jsonrpc":"2.0","id":format!("{client}-{id}"),"method":"tools/call",
                            "params":{"name":tool,"arguments":arguments}});
                        let started = Instant::now();
                        let reply = host.post(&body, &[]).await;
                        let ended = Instant::now();
                        let answer = (reply.status == 200)
                            .then(|| reply.json())
                            .filter(|v| v["result"]["isError"] != json!(true))
                            .and_then(|v| v["result"]["content"][0]["text"].as_str().map(String::from));
                        let outcome = answer.ok_or_else(|| format!("{} {}", reply.status, reply.body));
                        if let Ok(version) = &outcome {
                            seen.lock().unwrap().push((ended, version.clone()));
                        }
                        mine.push(Sample { started, ended, outcome });
                    }
                    mine
                })
            })
            .collect();
        Load { stop, tasks, samples }
    }

    /// When the first answer from `version` arrived, waiting up to `limit`.
    pub async fn first(&self, version: &str, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            let found = self.samples.lock().unwrap().iter().find(|(_, v)| v == version).map(|(at, _)| *at);
            if let Some(at) = found {
                return at;
            }
            assert!(Instant::now() < deadline, "no answer from {version} within {limit:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.expect("client task"));
        }
        all
    }
}

/// No call failed.
pub fn assert_none_failed(samples: &[Sample]) {
    let failures: Vec<&String> = samples.iter().filter_map(|s| s.outcome.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} calls failed, first: {}",
        failures.len(),
        samples.len(),
        failures[0]
    );
}

/// No call failed, and the swap was atomic: every call that started after
/// `switched` (the first answer of `new`) was answered by `new`.
pub fn assert_clean_swap(samples: &[Sample], switched: Instant, old: &str, new: &str) {
    assert_none_failed(samples);
    for sample in samples {
        let version = sample.outcome.as_deref().unwrap();
        assert!(version == old || version == new, "{version}");
        if sample.started > switched {
            assert_eq!(version, new, "a call started after the switch got {version}");
        }
    }
}
