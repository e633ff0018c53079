//! A loaded component: a fresh, isolated instance per call in one of its
//! instance slots, each export run within the policy's time limit and every
//! answer within its byte budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_protocol as p;
use tokio::sync::mpsc;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;

use super::bindings::{ToolComponent, ToolComponentPre, wit};
use super::budget::{self, Oversized, block_size, contents_size, error_size, optional_size};
use super::call::step_call;
use super::capacity::Slots;
use super::convert;
use super::failure::Failure;
use super::instance::CallState;
use super::limits::{FIELD_SIZE_LIMIT, HOST_BYTES_PER_RESOURCE, Limiter, MIN_HOST_RESOURCES};
use super::native::NativeTool;
use crate::egress::{Egress, Outbound};
use crate::policy::Policy;
use crate::telemetry::{self, Kind, metrics};
use crate::untrusted::Untrusted;

/// How long a call waits for one of its component's instance slots.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// A component ready to run, and what it offers.
pub struct Loaded {
    pub name: Arc<str>,
    pub(super) pre: ToolComponentPre<CallState>,
    pub(super) engine: Engine,
    pub(super) egress: Arc<Egress>,
    pub policy: Arc<Policy>,
    /// One permit per instance that may run at once (`limits.max_concurrent`),
    /// shared with the component's other versions of the same limit.
    pub(super) slots: Arc<Slots>,
    /// Plain Rust that runs this component's tool calls instead (benchmark baseline).
    pub(super) native: Option<Arc<dyn NativeTool>>,
    pub tools: Vec<p::Tool>,
    pub resources: Vec<p::Resource>,
    pub templates: Vec<p::ResourceTemplate>,
    pub prompts: Vec<p::Prompt>,
    /// Each tool's schemas, compiled once at load.
    pub schemas: HashMap<String, p::ToolSchema>,
    /// The tools that may run as tasks, as the component declared them.
    pub tasks: HashMap<String, p::TaskSupport>,
    /// The Skills extension's entries, built once at load.
    pub skills: Vec<serde_json::Value>,
    /// Where its native code came from (`Compiled::as_str`).
    pub code: &'static str,
}

impl Loaded {
    /// Instances running now, and how many may.
    pub fn instances(&self) -> (usize, usize) {
        (self.slots.size - self.slots.permits.available_permits(), self.slots.size)
    }

    /// The instance slots this version runs in, for its next version to share.
    pub fn slots(&self) -> Arc<Slots> {
        self.slots.clone()
    }

    /// A slot to run in: waits up to `QUEUE_WAIT` while the component is at its
    /// concurrency limit, then gives up. In use (`instances`) until dropped.
    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Failure> {
        match tokio::time::timeout(QUEUE_WAIT, self.slots.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Failure::Busy { running: self.policy.max_concurrent }),
        }
    }

    /// The most the host holds for one instance: one resource table entry per
    /// `HOST_BYTES_PER_RESOURCE` of `memory_mb`.
    fn host_resources(&self) -> usize {
        (self.policy.memory_bytes / HOST_BYTES_PER_RESOURCE).max(MIN_HOST_RESOURCES)
    }

    /// A fresh, isolated instance with this component's grants and limits.
    pub(super) async fn instantiate(&self) -> anyhow::Result<(Store<CallState>, ToolComponent)> {
        let mut wasi = WasiCtxBuilder::new();
        // No filesystem and no network, though both are linked: nothing is
        // preopened, and every socket operation is refused before a socket
        // exists, with a WASI error code (never a trap).
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        for (key, value) in &self.policy.env {
            wasi.env(key, value);
        }
        // What the host holds for the guest (wasi:http fields, requests,
        // bodies, streams, pollables; handles of the component's own
        // resources) is bounded by the same policy, each entry bounded in size.
        let host_resources = self.host_resources();
        let mut table = ResourceTable::new();
        table.set_max_capacity(host_resources);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(FIELD_SIZE_LIMIT);
        let state = CallState {
            table,
            wasi: wasi.build(),
            http,
            outbound: Outbound::new(self.egress.clone(), self.name.clone(), self.policy.clone()),
            limiter: Limiter::new(self.policy.memory_bytes),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_max_component_handles(host_resources);
        // Yield to the executor at every epoch tick, so a guest that computes
        // forever cannot hold a worker thread; the wall-clock limit around each
        // call then drops it at its deadline.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let instance = self.pre.instantiate_async(&mut store).await?;
        Ok((store, instance))
    }

    /// Runs `run` in a fresh instance within the call time limit, and says
    /// what stopped it if it did not finish. `what` names the run's span.
    async fn in_instance<R>(
        &self,
        what: impl FnOnce() -> String,
        run: impl AsyncFnOnce(&mut Store<CallState>, &ToolComponent) -> anyhow::Result<R>,
    ) -> Result<R, Failure> {
        let mut memory_hit = false;
        let component = || vec![metrics::component(&self.name)];
        let mut running = telemetry::Span::NONE;
        let attempt = async {
            let started = Instant::now();
            let instantiating =
                telemetry::Span::child(Kind::Internal, || ("instantiate".into(), component()));
            let instantiated = instantiating.scope(self.instantiate()).await;
            metrics::instantiated(&self.name, started.elapsed());
            drop(instantiating);
            let (mut store, instance) = instantiated?;
            running = telemetry::Span::child(Kind::Internal, || (what().into(), component()));
            let result = running.scope(run(&mut store, &instance)).await;
            memory_hit = store.data().limiter.hit;
            result
        };
        let outcome = tokio::time::timeout(self.policy.call_timeout, attempt).await;
        let outcome = match outcome {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(Failure::of(error, &self.policy, memory_hit, self.host_resources())),
            Err(_) => Err(Failure::TimedOut(self.policy.call_timeout)),
        };
        if let Err(failure) = &outcome {
            running.fail(failure.policy_key(), failure.to_string());
        }
        outcome
    }

    /// Logs a failure for the operator (with its cause, escaped) and gives
    /// the client's message.
    fn report(&self, what: &str, failure: &Failure) -> String {
        let policy = failure.policy_key();
        if !matches!(failure, Failure::Crashed(_)) {
            metrics::refused(&self.name, policy);
        }
        match failure.cause() {
            Some(error) => {
                tracing::warn!(component = %self.name, what = %Untrusted(what), policy, error = %Untrusted(&error), "component failed")
            }
            None => {
                tracing::warn!(component = %self.name, what = %Untrusted(what), policy, "component stopped at its limit")
            }
        }
        failure.to_string()
    }

    /// Runs one tool call, sending its log and progress events as they come.
    /// A component that fails, runs out of memory or time yields a tool error.
    pub async fn call(
        &self,
        request: &p::CallRequest,
        events: mpsc::Sender<p::CallEvent>,
    ) -> Result<p::CallToolResult, p::CallError> {
        let run = async {
            let _slot = self.slot().await?;
            self.run_call(request, events).await
        };
        let result = run.await;
        let result = result
            .unwrap_or_else(|failure| Ok(p::CallToolResult::error(self.report(&request.name, &failure))));
        // The client gets -32603 and no more; the operator gets what the component said.
        if let Err(p::CallError::Internal(message)) = &result {
            tracing::warn!(component = %self.name, tool = %Untrusted(&request.name), error = %Untrusted(message), "the component failed the call");
        }
        let result = result?;
        let schema = self.schemas.get(&request.name);
        if let Some(mismatch) = schema.and_then(|schema| schema.check_result(&result).err()) {
            tracing::warn!(component = %self.name, tool = %Untrusted(&request.name), error = %Untrusted(&mismatch), "result refused");
            return Ok(p::CallToolResult::error(mismatch));
        }
        Ok(result)
    }

    async fn run_call(
        &self,
        request: &p::CallRequest,
        events: mpsc::Sender<p::CallEvent>,
    ) -> Result<Result<p::CallToolResult, p::CallError>, Failure> {
        let started = Instant::now();
        if let Some(native) = &self.native {
            let outbound = Outbound::new(self.egress.clone(), self.name.clone(), self.policy.clone());
            let run = native.call(request.clone(), outbound, events);
            let outcome = tokio::time::timeout(self.policy.call_timeout, run).await;
            let call_us = started.elapsed().as_micros() as u64;
            tracing::debug!(component = %self.name, instantiate_us = 0, call_us, "call timing");
            return outcome.map_err(|_| Failure::TimedOut(self.policy.call_timeout));
        }
        let limit = self.policy.max_result_bytes;
        let mut instantiated = Duration::ZERO;
        let (result, dropped) = self
            .in_instance(
                || format!("execute_tool {}", request.name),
                async |store, instance| {
                    instantiated = started.elapsed();
                    step_call(store, instance, request, events, limit).await
                },
            )
            .await?;
        // Cheap enough to keep: what a call costs inside the host (the benchmark reads it).
        let (instantiate_us, call_us) =
            (instantiated.as_micros() as u64, (started.elapsed() - instantiated).as_micros() as u64);
        tracing::debug!(component = %self.name, instantiate_us, call_us, "call timing");
        if dropped > 0 {
            tracing::warn!(component = %self.name, tool = %Untrusted(&request.name), policy = "limits.max_result_bytes",
                limit, dropped, "events dropped: the call's log and progress events exceed the limit");
        }
        result.map_err(|Oversized(size)| Failure::Oversized { size, limit })
    }

    /// Runs one export other than a tool call in its own slot and instance; a
    /// failure is logged and comes back as the client's message.
    async fn invoke<R>(
        &self,
        what: &str,
        export: impl AsyncFnOnce(&mut Store<CallState>, &ToolComponent) -> anyhow::Result<R>,
    ) -> Result<R, String> {
        let run = async {
            let _slot = self.slot().await?;
            self.in_instance(|| what.to_owned(), export).await
        };
        run.await.map_err(|failure| self.report(what, &failure))
    }

    /// Refuses a read's contents, a prompt or a completion over the budget.
    fn oversized(&self, what: &str, size: usize) -> String {
        self.report(what, &Failure::Oversized { size, limit: self.policy.max_result_bytes })
    }

    pub async fn read(&self, uri: &str) -> Result<Vec<p::ResourceContents>, p::ReadError> {
        let read = self.invoke(uri, async |store, instance| {
            Ok(instance.mcp_tool_resources().call_read_resource(store, uri).await?)
        });
        match read.await.map_err(p::ReadError::Internal)? {
            Ok(contents) => {
                let raw = contents.iter().map(contents_size).sum();
                let oversized = |Oversized(size)| p::ReadError::Internal(self.oversized(uri, size));
                budget::check(raw, self.policy.max_result_bytes).map_err(oversized)?;
                let contents: Vec<_> = contents
                    .into_iter()
                    .map(convert::resource_contents)
                    .collect::<Result<_, _>>()
                    .map_err(p::ReadError::Internal)?;
                budget::check(budget::json_size(&contents), self.policy.max_result_bytes)
                    .map_err(oversized)?;
                Ok(contents)
            }
            Err(wit::ReadError::NotFound) => Err(p::ReadError::NotFound),
            Err(wit::ReadError::Internal(message)) => Err(p::ReadError::Internal(message)),
        }
    }

    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: &p::JsonObject,
        inputs: Option<&p::Inputs>,
    ) -> Result<p::GetPromptResult, p::CallError> {
        let arguments = serde_json::to_string(arguments).expect("JSON values always serialize");
        let inputs = inputs.map(convert::inputs);
        let get = self.invoke(name, async |store, instance| {
            Ok(instance.mcp_tool_prompts().call_get_prompt(store, name, &arguments, inputs.as_ref()).await?)
        });
        let limit = self.policy.max_result_bytes;
        let oversized = |Oversized(size)| p::CallError::Internal(self.oversized(name, size));
        match get.await.map_err(p::CallError::Internal)? {
            Ok(result) => {
                let raw = result.messages.iter().map(|m| block_size(&m.content)).sum::<usize>()
                    + optional_size(&result.description);
                budget::check(raw, limit).map_err(oversized)?;
                let result = convert::prompt_result(result).map_err(p::CallError::Internal)?;
                budget::check(budget::json_size(&result), limit).map_err(oversized)?;
                Ok(result)
            }
            Err(error) => {
                budget::check(error_size(&error), limit).map_err(oversized)?;
                let error = convert::call_error(error);
                if let p::CallError::InputRequired(needed) = &error {
                    budget::check(budget::input_required_size(needed), limit).map_err(oversized)?;
                }
                Err(error)
            }
        }
    }

    pub async fn complete(&self, request: &p::CompletionRequest) -> Result<p::Completion, p::CallError> {
        let request = convert::completion_request(request);
        let complete = self.invoke("completion/complete", async |store, instance| {
            Ok(instance.mcp_tool_completion().call_complete(store, &request).await?)
        });
        match complete.await.map_err(p::CallError::Internal)? {
            Ok(completion) => {
                let completion = convert::completion(completion);
                let size = budget::json_size(&completion);
                let limit = self.policy.max_result_bytes;
                budget::check(size, limit).map_err(|Oversized(size)| {
                    p::CallError::Internal(self.oversized("completion/complete", size))
                })?;
                Ok(completion)
            }
            Err(error) => Err(convert::call_error(error)),
        }
    }
}
