//! The wasmtime side: one engine for the process, one pre-linked component per
//! tool component, and a fresh store and instance for every call.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use mcp_protocol as p;
use tokio::sync::mpsc;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, Trap,
};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::budget::{self, Oversized};
use crate::capacity::{Capacity, Reservation};
use crate::catalog;
use crate::code_cache::CodeCache;
use crate::convert;
use crate::digest::Digest;
use crate::egress::Egress;
use crate::native::{NativeTool, Natives};
use crate::outbound::Outbound;
use crate::policy::Policy;
use crate::untrusted::Untrusted;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "mcp:tool/tool-component",
    exports: { default: async },
});

pub use mcp::tool::types as wit;

/// How often the engine's epoch advances. A running guest yields to the
/// executor at every tick, so this is the longest slice a compute-bound guest
/// holds a worker thread before other requests get a turn.
const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Bytes of each linear memory and table that are reset in place (only the
/// pages touched, where the kernel offers PAGEMAP_SCAN) when an instance ends,
/// rather than given back with madvise: that cost a TLB shootdown on every
/// core and page faults on the next call (a quarter of the host's CPU time).
const KEEP_RESIDENT: usize = 2 << 20;
/// `memory_mb` per entry of a store's resource table (and per handle of the
/// component's own resources): 64 MiB allow 1,024.
const HOST_BYTES_PER_RESOURCE: usize = 64 << 10;
/// Entries a store's resource table has at least, whatever `memory_mb`.
const MIN_HOST_RESOURCES: usize = 64;
/// Bytes one `wasi:http` fields resource may hold (the in-memory size, names
/// and values and their overhead; 16 KiB is twice what proxies accept).
const FIELD_SIZE_LIMIT: usize = 16 << 10;
/// Log and progress events one call may send; more are dropped.
const MAX_EVENTS_PER_CALL: usize = 1_000;
/// How long a call waits for one of its component's instance slots.
const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// What one component instance may hold of the pool's core instances,
/// memories and tables (the limiter enforces them per store too). A Rust
/// component has about 3 core instances, 1 memory and 2 tables. A component
/// needing more is refused when it loads, so that every instance a component
/// reserved (see `capacity`) fits in the pool.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 8;

/// A wasmtime error as an `anyhow` one, keeping a trap's kind so that
/// deadlines and the like can be told apart from other failures.
fn wasm_error(error: wasmtime::Error) -> anyhow::Error {
    match error.downcast_ref::<Trap>() {
        Some(trap) => anyhow::Error::new(*trap).context(format!("{error:?}")),
        None => anyhow!("{error:?}"),
    }
}

/// What one call's store holds.
pub struct CallState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: Outbound,
    limiter: Limiter,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// Caps everything an instance's code can make wasmtime allocate for it: the
/// sum of all its linear memories and tables within `memory_mb`, and the
/// number of core instances, memories and tables (a component may hold many
/// core modules, each with its own memory). Remembers whether a cap was hit,
/// to say so.
struct Limiter {
    budget: usize,
    used: usize,
    hit: bool,
}

/// What one table element costs the host (a pointer), counted in the budget.
const TABLE_ELEMENT_BYTES: usize = 8;

impl Limiter {
    fn new(budget: usize) -> Self {
        Self { budget, used: 0, hit: false }
    }

    /// Grants `bytes` more if the budget allows.
    fn grow(&mut self, bytes: usize) -> bool {
        let ok = self.used.saturating_add(bytes) <= self.budget;
        self.used += if ok { bytes } else { 0 };
        self.hit |= !ok;
        ok
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(desired.saturating_sub(current)))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES)))
    }

    fn instances(&self) -> usize {
        CORE_INSTANCES_PER_COMPONENT as usize
    }

    fn memories(&self) -> usize {
        MEMORIES_PER_COMPONENT as usize
    }

    fn tables(&self) -> usize {
        TABLES_PER_COMPONENT as usize
    }
}

/// The engine and the imports every component gets.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<CodeCache>,
    natives: Natives,
    /// The pool's instances, reserved by each component as it loads.
    capacity: Arc<Capacity>,
    /// What components' outbound requests share: TLS roots, keep-alive clients, caches.
    egress: Arc<Egress>,
}

impl Runtime {
    pub fn new(max_instances: u32, cache_dir: Option<&Path>, natives: Natives) -> anyhow::Result<Arc<Self>> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        // A Rust component has about 3 core instances, 1 memory and 2 tables.
        // Every total is the per-component maximum times the instances, so
        // that a reserved instance never finds the pool out of anything.
        pool.total_component_instances(max_instances)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .total_core_instances(max_instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .total_memories(max_instances.saturating_mul(MEMORIES_PER_COMPONENT))
            .total_tables(max_instances.saturating_mul(TABLES_PER_COMPONENT))
            .total_stacks(max_instances)
            .max_memory_size(4 << 30)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| anyhow!("{e}"))?;

        let mut linker = Linker::new(&engine);
        // Only what a tool may use: clocks, random, stdio, environment and
        // outbound HTTP. No filesystem and no sockets are linked at all, so a
        // component importing them is refused when it loads.
        wasmtime_wasi::p2::add_to_linker_proxy_interfaces_async(&mut linker).map_err(|e| anyhow!("{e}"))?;
        add_cli_to_linker(&mut linker).map_err(|e| anyhow!("{e}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(|e| anyhow!("{e}"))?;

        let ticker = engine.weak();
        std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
        let cache = cache_dir.map(|dir| CodeCache::open(dir, &engine)).transpose()?;
        let capacity = Capacity::new(max_instances);
        Ok(Arc::new(Self { engine, linker, cache, natives, capacity, egress: Egress::new() }))
    }

    /// The compiled component: from the code cache, else compiled (off the
    /// async workers) and stored there. Says which it was.
    async fn compile(self: &Arc<Self>, wasm: Arc<[u8]>, digest: Digest) -> anyhow::Result<(Component, bool)> {
        let runtime = self.clone();
        tokio::task::spawn_blocking(move || {
            let cache = runtime.cache.as_ref();
            if let Some(component) = cache.and_then(|cache| cache.get(&runtime.engine, &digest)) {
                return Ok((component, true));
            }
            let component = Component::new(&runtime.engine, &wasm)
                .map_err(wasm_error)
                .context("not a valid WASI 0.2 component")?;
            if let Some(cache) = cache
                && let Err(error) = cache.put(&digest, &component)
            {
                tracing::warn!(error = %format!("{error:#}"), "compiled code not cached");
            }
            Ok((component, false))
        })
        .await?
    }

    /// Compiles and checks a component, then asks it what it offers. Every
    /// step that runs the component's code is bounded by its call time limit.
    /// `slots`: the previous version's, reused when it has the same size, so
    /// that both versions together never run more than `max_concurrent`
    /// instances; else new ones are reserved (a `capacity::Full` error when
    /// they do not fit).
    pub async fn load(
        self: &Arc<Self>,
        name: &str,
        wasm: Arc<[u8]>,
        digest: Digest,
        policy: Policy,
        slots: Option<Arc<Slots>>,
    ) -> anyhow::Result<Loaded> {
        let started = Instant::now();
        let slots = match slots.filter(|slots| slots.size == policy.max_concurrent) {
            Some(slots) => slots,
            None => Arc::new(Slots::reserve(&self.capacity, policy.max_concurrent)?),
        };
        let (component, cached) = self.compile(wasm, digest).await?;
        // Build the memory image now rather than on the first call.
        component.initialize_copy_on_write_image().map_err(|e| anyhow!("{e}"))?;
        let compiled = started.elapsed();
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| anyhow!("{e}"))?;
        let pre = ToolComponentPre::new(instance_pre)
            .map_err(|e| anyhow!("{e}"))
            .context("the component does not export the mcp:tool contract")?;
        let limit = policy.call_timeout;
        let mut loaded = Loaded {
            name: name.into(),
            pre,
            engine: self.engine.clone(),
            egress: self.egress.clone(),
            slots,
            policy: Arc::new(policy),
            native: self.natives.get(name).cloned(),
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
        };
        // The load's instance is one of the component's own.
        let slots = loaded.slots.clone();
        let _slot = bounded(limit, "a free instance slot", slots.permits.acquire()).await??;
        let (mut store, instance) = bounded(limit, "instantiation", loaded.instantiate()).await??;
        let store = &mut store;
        let tools = instance.mcp_tool_tools();
        let tools =
            bounded(limit, "list-tools", tools.call_list_tools(&mut *store)).await?.map_err(wasm_error)?;
        let resources = instance.mcp_tool_resources();
        let listed = bounded(limit, "list-resources", resources.call_list_resources(&mut *store))
            .await?
            .map_err(wasm_error)?;
        let templates = resources.call_list_resource_templates(&mut *store);
        let templates = bounded(limit, "list-resource-templates", templates).await?.map_err(wasm_error)?;
        let prompts = instance.mcp_tool_prompts();
        let prompts = bounded(limit, "list-prompts", prompts.call_list_prompts(&mut *store))
            .await?
            .map_err(wasm_error)?;
        fn all<T, U>(items: Vec<T>, convert: fn(T) -> Result<U, String>) -> anyhow::Result<Vec<U>> {
            items.into_iter().map(convert).collect::<Result<_, _>>().map_err(|e| anyhow!(e))
        }
        loaded.tools = all(tools, convert::tool)?;
        loaded.resources = all(listed, convert::resource)?;
        loaded.templates = all(templates, convert::resource_template)?;
        loaded.prompts = all(prompts, convert::prompt)?;
        catalog::check(&loaded)?;
        tracing::info!(
            component = name,
            tools = loaded.tools.len(),
            resources = loaded.resources.len(),
            templates = loaded.templates.len(),
            prompts = loaded.prompts.len(),
            %digest,
            cached,
            compile_ms = compiled.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "component loaded"
        );
        Ok(loaded)
    }
}

/// One step of a load, given up on at the component's time limit (a guest
/// that computes yields at every epoch tick, so dropping it stops it).
async fn bounded<T>(limit: Duration, step: &str, run: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(limit, run)
        .await
        .map_err(|_| anyhow!("{step} did not return within {} ms (limits.timeout_ms)", limit.as_millis()))
}

/// The instances one component may run at once, reserved in the pool.
pub struct Slots {
    permits: tokio::sync::Semaphore,
    size: usize,
    _reservation: Reservation,
}

impl Slots {
    fn reserve(capacity: &Arc<Capacity>, size: usize) -> anyhow::Result<Self> {
        // The policy bounds `size` far below `u32::MAX`; an absurd one still fails cleanly.
        let count = u32::try_from(size).unwrap_or(u32::MAX);
        let reservation = capacity.reserve(count)?;
        Ok(Self { permits: tokio::sync::Semaphore::new(size), size, _reservation: reservation })
    }
}

fn add_cli_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::p2::bindings::cli;
    cli::environment::add_to_linker::<CallState, WasiCli>(linker, CallState::cli)?;
    cli::exit::add_to_linker::<CallState, WasiCli>(linker, CallState::cli)?;
    cli::terminal_input::add_to_linker::<CallState, WasiCli>(linker, CallState::cli)?;
    cli::terminal_output::add_to_linker::<CallState, WasiCli>(linker, CallState::cli)?;
    cli::terminal_stdin::add_to_linker::<CallState, WasiCli>(linker, CallState::cli)?;
    cli::terminal_stdout::add_to_linker::<CallState, WasiCli>(linker, CallState::cli)?;
    cli::terminal_stderr::add_to_linker::<CallState, WasiCli>(linker, CallState::cli)?;
    Ok(())
}

/// A component ready to run, and what it offers.
pub struct Loaded {
    pub name: Arc<str>,
    pre: ToolComponentPre<CallState>,
    engine: Engine,
    egress: Arc<Egress>,
    pub policy: Arc<Policy>,
    /// One permit per instance that may run at once (`limits.max_concurrent`),
    /// shared with the component's other versions of the same limit.
    slots: Arc<Slots>,
    /// Plain Rust that runs this component's tool calls instead (benchmark baseline).
    native: Option<Arc<dyn NativeTool>>,
    pub tools: Vec<p::Tool>,
    pub resources: Vec<p::Resource>,
    pub templates: Vec<p::ResourceTemplate>,
    pub prompts: Vec<p::Prompt>,
}

impl Loaded {
    /// The instance slots this version runs in, for its next version to share.
    pub fn slots(&self) -> Arc<Slots> {
        self.slots.clone()
    }

    /// A slot to run in: waits up to `QUEUE_WAIT` while the component is at its
    /// concurrency limit, then gives up with a message for the client.
    async fn slot(&self, what: &str) -> Result<tokio::sync::SemaphorePermit<'_>, String> {
        match tokio::time::timeout(QUEUE_WAIT, self.slots.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                let limit = self.policy.max_concurrent;
                tracing::warn!(component = %self.name, what, policy = "limits.max_concurrent", limit, "call refused: busy");
                Err(format!("The tool is busy ({limit} calls already running); please try again shortly."))
            }
        }
    }

    /// A fresh, isolated instance with this component's grants and limits.
    async fn instantiate(&self) -> anyhow::Result<(Store<CallState>, ToolComponent)> {
        let mut wasi = WasiCtxBuilder::new();
        for (key, value) in &self.policy.env {
            wasi.env(key, value);
        }
        // What the host holds for the guest (wasi:http fields, requests,
        // bodies, streams, pollables; handles of the component's own
        // resources) is bounded by the same policy: one table entry per
        // `HOST_BYTES_PER_RESOURCE` of `memory_mb`, each entry bounded in size.
        let host_resources = (self.policy.memory_bytes / HOST_BYTES_PER_RESOURCE).max(MIN_HOST_RESOURCES);
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
        let instance = self.pre.instantiate_async(&mut store).await.map_err(wasm_error)?;
        Ok((store, instance))
    }

    /// Runs one tool call, sending its log and progress events as they come.
    /// A component that fails, runs out of memory or time yields a tool error.
    pub async fn call(
        &self,
        request: &p::CallRequest,
        events: mpsc::Sender<p::CallEvent>,
    ) -> Result<p::CallToolResult, p::CallError> {
        let _slot = match self.slot(&request.name).await {
            Ok(slot) => slot,
            Err(busy) => return Ok(p::CallToolResult::error(busy)),
        };
        let limit = self.policy.call_timeout;
        let mut memory_hit = false;
        let run = self.run_call(request, events, &mut memory_hit);
        let failure = match tokio::time::timeout(limit, run).await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(error)) => error,
            Err(_) => anyhow!(Trap::Interrupt),
        };
        Ok(p::CallToolResult::error(self.explain(&failure, memory_hit, &request.name)))
    }

    async fn run_call(
        &self,
        request: &p::CallRequest,
        events: mpsc::Sender<p::CallEvent>,
        memory_hit: &mut bool,
    ) -> anyhow::Result<Result<p::CallToolResult, p::CallError>> {
        let started = Instant::now();
        if let Some(native) = &self.native {
            let outbound = Outbound::new(self.egress.clone(), self.name.clone(), self.policy.clone());
            let outcome = native.call(request.clone(), outbound, events).await;
            let call_us = started.elapsed().as_micros() as u64;
            tracing::debug!(component = %self.name, instantiate_us = 0, call_us, "call timing");
            return Ok(outcome);
        }
        let (mut store, instance) = self.instantiate().await?;
        let instantiated = started.elapsed();
        let result = step_call(&mut store, &instance, request, events, self.policy.max_result_bytes).await;
        // Cheap enough to keep: what a call costs inside the host (the benchmark reads it).
        let (instantiate_us, call_us) =
            (instantiated.as_micros() as u64, (started.elapsed() - instantiated).as_micros() as u64);
        tracing::debug!(component = %self.name, instantiate_us, call_us, "call timing");
        *memory_hit = store.data().limiter.hit;
        let limit = self.policy.max_result_bytes;
        let (result, dropped) = result?;
        if dropped > 0 {
            tracing::warn!(component = %self.name, tool = %Untrusted(&request.name), policy = "limits.max_result_bytes",
                limit, dropped, "events dropped: the call's log and progress events exceed the limit");
        }
        Ok(match result {
            Err(Oversized(size)) => {
                tracing::warn!(component = %self.name, tool = %Untrusted(&request.name), policy = "limits.max_result_bytes", limit, size, "result refused");
                Ok(p::CallToolResult::error(format!(
                    "The tool's result ({size} bytes) is larger than the limit ({limit} bytes)."
                )))
            }
            Ok(outcome) => outcome,
        })
    }

    /// A message for the client, and one log line for the operator.
    fn explain(&self, error: &anyhow::Error, memory_hit: bool, tool: &str) -> String {
        let (limit, message) = match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => (
                "limits.timeout_ms",
                format!(
                    "The tool did not finish within {} ms and was stopped.",
                    self.policy.call_timeout.as_millis()
                ),
            ),
            _ if memory_hit => (
                "limits.memory_mb",
                format!(
                    "The tool ran out of memory (limit {} MiB) and was stopped.",
                    self.policy.memory_bytes >> 20
                ),
            ),
            _ => ("none", "The tool failed unexpectedly.".to_owned()),
        };
        let error = format!("{error:#}");
        tracing::warn!(component = %self.name, tool = %Untrusted(tool), limit, error = %Untrusted(&error), "call failed");
        message
    }

    /// Runs one export in a fresh instance within the call time limit; a
    /// failure is logged and comes back as its text.
    async fn invoke<R>(
        &self,
        what: &str,
        export: impl AsyncFnOnce(&mut Store<CallState>, &ToolComponent) -> wasmtime::Result<R>,
    ) -> Result<R, String> {
        let _slot = self.slot(what).await?;
        let run = async {
            let (mut store, instance) = self.instantiate().await?;
            export(&mut store, &instance).await.map_err(wasm_error)
        };
        let failure = match tokio::time::timeout(self.policy.call_timeout, run).await {
            Ok(Ok(result)) => return Ok(result),
            Ok(Err(error)) => format!("{error:#}"),
            Err(_) => "timed out".into(),
        };
        tracing::warn!(component = %self.name, what = %Untrusted(what), error = %Untrusted(&failure), "component failed");
        Err(failure)
    }

    /// Refuses a read's contents, a prompt or a completion over the budget.
    fn oversized(&self, what: &str, size: usize) -> String {
        let limit = self.policy.max_result_bytes;
        tracing::warn!(component = %self.name, what = %Untrusted(what), policy = "limits.max_result_bytes", limit, size, "answer refused");
        format!("the answer ({size} bytes) is larger than the limit ({limit} bytes)")
    }

    pub async fn read(&self, uri: &str) -> Result<Vec<p::ResourceContents>, p::ReadError> {
        let read = self.invoke(uri, async |store, instance| {
            instance.mcp_tool_resources().call_read_resource(store, uri).await
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
            instance.mcp_tool_prompts().call_get_prompt(store, name, &arguments, inputs.as_ref()).await
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
            instance.mcp_tool_completion().call_complete(store, &request).await
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

fn optional_size(text: &Option<String>) -> usize {
    text.as_ref().map_or(0, String::len)
}

/// The raw bytes of lifted resource contents: every string and byte list in them.
fn contents_size(contents: &wit::ResourceContents) -> usize {
    let body = match &contents.body {
        wit::ResourceBody::Text(text) => text.len(),
        wit::ResourceBody::Blob(bytes) => bytes.len(),
    };
    contents.uri.len() + optional_size(&contents.mime_type) + optional_size(&contents.meta) + body
}

/// The raw bytes of a lifted content block.
fn block_size(block: &wit::ContentBlock) -> usize {
    match block {
        wit::ContentBlock::Text(text) => text.len(),
        wit::ContentBlock::Image(media) | wit::ContentBlock::Audio(media) => {
            media.data.len() + media.mime_type.len()
        }
        wit::ContentBlock::Resource(resource) => contents_size(resource),
        wit::ContentBlock::ResourceLink(link) => {
            link.uri.len()
                + link.name.len()
                + optional_size(&link.title)
                + optional_size(&link.description)
                + optional_size(&link.mime_type)
                + optional_size(&link.meta)
        }
    }
}

/// The raw bytes a lifted result carries.
fn result_size(result: &wit::CallResult) -> usize {
    result.content.iter().map(block_size).sum::<usize>()
        + optional_size(&result.structured_content)
        + optional_size(&result.meta)
}

/// The raw bytes a lifted refusal carries.
fn error_size(error: &wit::CallError) -> usize {
    match error {
        wit::CallError::UnknownTool => 0,
        wit::CallError::InvalidParams(message) | wit::CallError::Internal(message) => message.len(),
        wit::CallError::InputRequired(needed) => {
            let requests: usize =
                needed.requests.iter().map(|r| r.key.len() + r.method.len() + r.params.len()).sum();
            requests + needed.state.as_ref().map_or(0, String::len)
        }
    }
}

/// A finished call's outcome, within the budget: on its raw size first, then
/// on what the client would receive.
fn finish(
    done: Result<wit::CallResult, wit::CallError>,
    limit: usize,
) -> Result<Result<p::CallToolResult, p::CallError>, Oversized> {
    match done {
        Ok(result) => {
            budget::check(result_size(&result), limit)?;
            let result = match convert::call_result(result) {
                Ok(result) => result,
                Err(invalid) => return Ok(Err(p::CallError::Internal(invalid))),
            };
            budget::check(budget::json_size(&result), limit)?;
            Ok(Ok(result))
        }
        Err(error) => {
            budget::check(error_size(&error), limit)?;
            let error = convert::call_error(error);
            if let p::CallError::InputRequired(needed) = &error {
                budget::check(budget::input_required_size(needed), limit)?;
            }
            Ok(Err(error))
        }
    }
}

/// A log event for the client, or `None` when it is dropped: invalid JSON, or
/// past the budget of the call's events.
fn log_event(message: wit::LogMessage, budget: &mut budget::Events) -> Option<p::CallEvent> {
    let raw = message.data.len() + message.logger.as_ref().map_or(0, String::len);
    if !budget.may_fit(raw) {
        return None;
    }
    convert::call_event(message).filter(|event| budget.take(event))
}

/// A progress event for the client, or `None` when it is dropped: not
/// finite, not above the last one sent, or past the budget of the call's events.
fn progress_event(
    update: wit::ProgressUpdate,
    last: &mut f64,
    budget: &mut budget::Events,
) -> Option<p::CallEvent> {
    let finite = update.progress.is_finite() && update.total.is_none_or(f64::is_finite);
    if !finite || update.progress <= *last {
        return None;
    }
    let event =
        p::CallEvent::Progress { progress: update.progress, total: update.total, message: update.message };
    budget.take(&event).then(|| {
        *last = update.progress;
        event
    })
}

async fn step_call(
    store: &mut Store<CallState>,
    instance: &ToolComponent,
    request: &p::CallRequest,
    events: mpsc::Sender<p::CallEvent>,
    max_result_bytes: usize,
) -> anyhow::Result<(Result<Result<p::CallToolResult, p::CallError>, Oversized>, usize)> {
    let calls = instance.mcp_tool_tools().tool_call();
    let handle =
        calls.call_constructor(&mut *store, &convert::call_request(request)).await.map_err(wasm_error)?;
    let mut sent = 0;
    let mut last_progress = f64::NEG_INFINITY;
    let mut budget = budget::Events::new(max_result_bytes);
    loop {
        let event = match calls.call_next(&mut *store, handle).await.map_err(wasm_error)? {
            wit::CallEvent::Done(done) => {
                handle.resource_drop_async(&mut *store).await.map_err(wasm_error)?;
                return Ok((finish(done, max_result_bytes), budget.dropped()));
            }
            _ if sent >= MAX_EVENTS_PER_CALL => None,
            wit::CallEvent::Log(message) => log_event(message, &mut budget),
            wit::CallEvent::Progress(update) => progress_event(update, &mut last_progress, &mut budget),
        };
        sent += 1;
        if let Some(event) = event {
            // A client that went away stops listening; the call still finishes.
            let _ = events.send(event).await;
        }
    }
}
