//! The tasks extension (SEP-2663): a tool call that outlives its request.
//!
//! A task is a record in the shared state (`storage::Shared`: a blob container
//! every instance sees, or this instance's memory) and, while it runs, a call
//! on the instance holding its lease. That instance renews the lease while the
//! call runs and stops the call when the record says it no longer runs there
//! (cancelled). Any instance answers `tasks/get`, takes `tasks/update` (the
//! answers that complete a round start the next attempt on that instance) and
//! `tasks/cancel`; one that finds a lease run out marks the task failed, so a
//! task whose instance died never hangs.

mod record;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mcp_protocol::jsonrpc::{INTERNAL_ERROR, RpcError};
use mcp_protocol::{CallError, Era, JsonObject, Op, Outcome, Pending, Task, Version};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use self::record::{Lease, Record};
use self::store::{Change, Store};
use crate::digest::Digest;
use crate::sources::Catalog;
use crate::storage::Shared;
use crate::untrusted::Untrusted;

/// How long a finished task stays readable beyond its call's time limit.
const RETAIN: Duration = Duration::from_secs(600);
/// Rounds of input requests one task may ask for.
const MAX_ROUNDS: u32 = 8;
/// Requests one round may ask for, as for a session's call (`http/waiting.rs`).
const MAX_PER_ROUND: usize = 16;
/// How often expired tasks are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Records no task can still need: the longest call (1 h) plus `RETAIN`.
const MAX_AGE: Duration = Duration::from_secs(3600 + 600);

pub struct Tasks {
    store: Store,
    instance: String,
    /// How long a lease lasts unless renewed (renewed every third of it).
    lease: Duration,
    catalog: watch::Receiver<Option<Arc<Catalog>>>,
    /// Calls running on this instance, to stop at once when cancelled here.
    running: Mutex<HashMap<String, AbortHandle>>,
    /// Tasks this instance created, per component, with their expiry: what
    /// `limits.max_tasks` bounds.
    kept: Mutex<HashMap<Arc<str>, HashMap<String, u64>>>,
    /// What one round's answers may hold, as JSON: what one retry's body could.
    max_answer_bytes: usize,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Ids are 32 lowercase hex digits; anything else names no task (and never
/// reaches the store).
fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whom a task belongs to: the digest of the caller's token subject.
fn owner(subject: Option<&str>) -> Option<String> {
    subject.map(|s| Digest::of(s.as_bytes()).to_string())
}

fn internal(message: &str) -> RpcError {
    RpcError::new(INTERNAL_ERROR, message)
}

impl Tasks {
    pub fn new(
        shared: Shared,
        lease: Duration,
        max_answer_bytes: usize,
        catalog: watch::Receiver<Option<Arc<Catalog>>>,
    ) -> Arc<Self> {
        let tasks = Arc::new(Tasks {
            instance: shared.instance.clone(),
            store: Store::new(shared),
            lease,
            catalog,
            running: Mutex::default(),
            kept: Mutex::default(),
            max_answer_bytes,
        });
        let weak = Arc::downgrade(&tasks);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(tasks) = weak.upgrade() else { return };
                tasks.sweep().await;
            }
        });
        tasks
    }

    /// Task calls running on this instance now.
    pub fn running(&self) -> usize {
        self.running.lock().expect("running tasks").len()
    }

    fn lease(&self, now: u64) -> Lease {
        Lease { instance: self.instance.clone(), until_ms: now + self.lease.as_millis() as u64 }
    }

    /// Creates the task for `pending`'s call (durably: any instance can read it
    /// when this returns) and starts it here.
    pub async fn start(
        self: &Arc<Self>,
        catalog: &Catalog,
        pending: &Pending,
        subject: Option<&str>,
    ) -> Result<Task, RpcError> {
        let Op::CallTool(request) = &pending.op else { return Err(internal("only tool calls become tasks")) };
        let Some(component) = catalog.tool_owner(&request.name) else {
            return Err(RpcError::invalid_params(format!("Unknown tool: {}", request.name)));
        };
        let now = now_ms();
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|_| internal("no randomness for a task id"))?;
        let id = hex::encode(id);
        let ttl = component.policy.call_timeout + RETAIN;
        let expires = now + ttl.as_millis() as u64;
        {
            let mut kept = self.kept.lock().expect("task counts");
            let mine = kept.entry(component.name.clone()).or_default();
            mine.retain(|_, until| *until > now);
            if mine.len() >= component.policy.max_tasks {
                return Err(RpcError::new(
                    -32000,
                    format!(
                        "too many tasks of this tool's component already (limits.max_tasks = {}); try again later",
                        component.policy.max_tasks
                    ),
                ));
            }
            mine.insert(id.clone(), expires);
        }
        let record = Record::new(
            id.clone(),
            owner(subject),
            component.name.to_string(),
            request,
            ttl.as_millis() as u64,
            now,
            self.lease(now),
        );
        if let Err(error) = self.store.create(&record).await {
            tracing::error!(task = %id, error = %format!("{error:#}"), "could not store a new task");
            self.kept.lock().expect("task counts").entry(component.name.clone()).or_default().remove(&id);
            return Err(internal("the task could not be stored; try again"));
        }
        tracing::info!(task = %id, tool = %Untrusted(&request.name), component = %component.name, "task created");
        self.spawn(id);
        Ok(record.view(false))
    }

    /// Runs the task's next attempt here, on a lease it already holds.
    fn spawn(self: &Arc<Self>, id: String) {
        let tasks = self.clone();
        let mut running = self.running.lock().expect("running tasks");
        let key = id.clone();
        let handle = tokio::spawn(async move {
            tasks.attempt(&id).await;
            tasks.running.lock().expect("running tasks").remove(&id);
        });
        running.insert(key, handle.abort_handle());
    }

    /// One attempt: the call, with the lease renewed while it runs; then its
    /// outcome, written only if the task still runs here.
    async fn attempt(&self, id: &str) {
        let record = match self.store.read(id).await {
            Ok(Some((record, _))) if record.runs_on(&self.instance) => record,
            Ok(_) => return,
            Err(error) => {
                // The lease runs out and the task is marked failed.
                tracing::error!(task = id, error = %format!("{error:#}"), "could not read a task to run it");
                return;
            }
        };
        let catalog = self.catalog.borrow().clone();
        let component = catalog.as_ref().and_then(|c| c.tool_owner(&record.work.name).cloned());
        let request = record.request();
        let started = std::time::Instant::now();
        let outcome = match component {
            None => Err(CallError::UnknownTool),
            Some(component) => {
                let call = async {
                    // Logs and progress of tasks go nowhere (SEP-2663).
                    let (events, _) = mpsc::channel(1);
                    component.call(&request, events).await
                };
                tokio::select! {
                    outcome = call => outcome,
                    () = self.hold(id) => return,
                }
            }
        };
        let round = record.round;
        let pending = Pending {
            id: Value::Null,
            era: Era::Stateless(Version::V2026_07_28),
            op: Op::CallTool(request),
            client_capabilities: record.work.client_capabilities.clone(),
        };
        let instance = self.instance.clone();
        let written = self
            .store
            .change(id, |task| {
                if !task.runs_on(&instance) {
                    return Change::Keep(false);
                }
                let now = now_ms();
                match outcome.clone() {
                    Err(CallError::InputRequired(needed)) if needed.requests.len() > MAX_PER_ROUND => task
                        .finish(
                            Ok(json!(mcp_protocol::CallToolResult::error(format!(
                                "The tool asked for {} inputs at once; at most {MAX_PER_ROUND} are allowed.",
                                needed.requests.len()
                            )))),
                            now,
                        ),
                    Err(CallError::InputRequired(needed))
                        if round < MAX_ROUNDS && pending.missing_capabilities(&needed).is_empty() =>
                    {
                        task.ask(needed, now);
                    }
                    Err(CallError::InputRequired(_)) if round >= MAX_ROUNDS => task.finish(
                        Ok(json!(mcp_protocol::CallToolResult::error(format!(
                            "The tool asked for input more than {MAX_ROUNDS} times."
                        )))),
                        now,
                    ),
                    Ok(result) => task.finish(Ok(json!(result)), now),
                    Err(error) => {
                        let server = catalog.as_ref().map(|c| c.server.clone());
                        let rendered =
                            server.map(|server| pending.finish(Outcome::Call(Err(error)), &server).1);
                        let error = rendered.and_then(|reply| reply.get("error").cloned()).unwrap_or_else(
                            || json!({ "code": INTERNAL_ERROR, "message": "Internal error" }),
                        );
                        task.finish(Err(error), now);
                    }
                }
                Change::Write(true)
            })
            .await;
        match written {
            Ok(Some((task, true))) => tracing::info!(
                task = id,
                tool = %Untrusted(&task.work.name),
                status = ?task.status,
                round = task.round,
                ms = started.elapsed().as_millis() as u64,
                "task attempt ended"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::error!(task = id, error = %format!("{error:#}"), "could not store a task's outcome")
            }
        }
    }

    /// Renews the lease every third of its length; returns once the task no
    /// longer runs here (cancelled, or failed by another instance).
    async fn hold(&self, id: &str) {
        loop {
            tokio::time::sleep(self.lease / 3).await;
            let lease = self.lease(now_ms());
            let renewed = self
                .store
                .change(id, |task| {
                    if task.runs_on(&self.instance) {
                        task.lease = Some(lease.clone());
                        Change::Write(true)
                    } else {
                        Change::Keep(false)
                    }
                })
                .await;
            match renewed {
                Ok(Some((_, true))) => {}
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(task = id, error = %format!("{error:#}"), "could not renew a task's lease")
                }
            }
        }
    }

    /// `tasks/get`: `None` when the caller has no such task.
    pub async fn get(&self, id: &str, subject: Option<&str>) -> Result<Option<Task>, RpcError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let owner = owner(subject);
        let now = now_ms();
        let read = self.store.read(id).await.map_err(|e| self.failed(id, "read", &e))?;
        let Some((record, _)) = read.filter(|(r, _)| r.owner == owner) else { return Ok(None) };
        if record.expired(now) {
            self.store.delete(id).await;
            return Ok(None);
        }
        if !record.abandoned(now) {
            return Ok(Some(record.view(true)));
        }
        let failed = self
            .store
            .change(id, |task| {
                if task.abandoned(now) {
                    task.abandon("The instance running this task stopped before the call ended.", now);
                    Change::Write(())
                } else {
                    Change::Keep(())
                }
            })
            .await
            .map_err(|e| self.failed(id, "fail", &e))?;
        Ok(failed.map(|(task, ())| task.view(true)))
    }

    /// `tasks/update`: false when the caller has no such task.
    pub async fn update(
        self: &Arc<Self>,
        id: &str,
        subject: Option<&str>,
        responses: &JsonObject,
    ) -> Result<bool, RpcError> {
        if !valid_id(id) {
            return Ok(false);
        }
        let owner = owner(subject);
        let now = now_ms();
        let lease = self.lease(now);
        let changed = self
            .store
            .change(id, |task| {
                if task.owner != owner || task.expired(now) {
                    Change::Keep(None)
                } else if task.status == mcp_protocol::TaskStatus::InputRequired {
                    match task.answer(responses, lease.clone(), now, self.max_answer_bytes) {
                        Ok(resume) => Change::Write(Some(Ok(resume))),
                        Err(refused) => Change::Keep(Some(Err(refused))),
                    }
                } else {
                    Change::Keep(Some(Ok(false)))
                }
            })
            .await
            .map_err(|e| self.failed(id, "update", &e))?;
        match changed {
            Some((_, Some(Ok(resume)))) => {
                if resume {
                    self.spawn(id.to_owned());
                }
                Ok(true)
            }
            Some((_, Some(Err(refused)))) => Err(RpcError::invalid_params(refused)),
            _ => Ok(false),
        }
    }

    /// `tasks/cancel`: false when the caller has no such task.
    pub async fn cancel(&self, id: &str, subject: Option<&str>) -> Result<bool, RpcError> {
        if !valid_id(id) {
            return Ok(false);
        }
        let owner = owner(subject);
        let now = now_ms();
        let changed = self
            .store
            .change(id, |task| {
                if task.owner != owner || task.expired(now) {
                    Change::Keep(false)
                } else if task.cancel(now) {
                    Change::Write(true)
                } else {
                    Change::Keep(true)
                }
            })
            .await
            .map_err(|e| self.failed(id, "cancel", &e))?;
        // Here it stops at once; elsewhere at its next renewal.
        if let Some(running) = self.running.lock().expect("running tasks").remove(id) {
            running.abort();
        }
        Ok(changed.is_some_and(|(_, known)| known))
    }

    fn failed(&self, id: &str, what: &str, error: &anyhow::Error) -> RpcError {
        tracing::error!(task = id, error = %format!("{error:#}"), "could not {what} a task");
        internal("the task store could not be reached; try again")
    }

    /// At shutdown: the tasks running here fail now rather than when their
    /// lease runs out.
    pub async fn abandon_running(&self) {
        let ids: Vec<String> = self.running.lock().expect("running tasks").keys().cloned().collect();
        for id in ids {
            let now = now_ms();
            let _ = self
                .store
                .change(&id, |task| {
                    if task.runs_on(&self.instance) {
                        task.abandon("The instance running this task shut down before the call ended.", now);
                        Change::Write(())
                    } else {
                        Change::Keep(())
                    }
                })
                .await;
        }
    }

    /// Deletes the expired tasks this instance created, and any record older
    /// than every task can live (left by instances gone since).
    async fn sweep(&self) {
        let now = now_ms();
        let expired: Vec<String> = {
            let mut kept = self.kept.lock().expect("task counts");
            let mut expired = Vec::new();
            for ids in kept.values_mut() {
                expired.extend(ids.extract_if(|_, until| *until <= now).map(|(id, _)| id));
            }
            kept.retain(|_, ids| !ids.is_empty());
            expired
        };
        for id in &expired {
            self.store.delete(id).await;
        }
        match self.store.older_than(now.saturating_sub(MAX_AGE.as_millis() as u64), 10_000).await {
            Ok(old) => {
                for id in old {
                    self.store.delete(&id).await;
                }
            }
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "could not list old tasks"),
        }
    }
}
