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

use crate::capacity::{Capacity, Reservation};
use crate::catalog;
use crate::code_cache::CodeCache;
use crate::convert;
use crate::digest::Digest;
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
/// Log and progress events one call may send; more are dropped.
const MAX_EVENTS_PER_CALL: usize = 1_000;
/// How long a call waits for one of its component's instance slots.
const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// What one component instance may hold of the pool's core instances,
/// memories and tables. A component needing more is refused when it loads, so
/// that every instance a component reserved (see `capacity`) fits in the pool.
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

/// Caps linear memory and remembers whether the cap was hit, to say so.
struct Limiter {
    memory_bytes: usize,
    hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.memory_bytes;
        self.hit |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
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
        Ok(Arc::new(Self { engine, linker, cache, natives, capacity }))
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
        let state = CallState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outbound: Outbound::new(self.name.clone(), self.policy.clone()),
            limiter: Limiter { memory_bytes: self.policy.memory_bytes, hit: false },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
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
            let outbound = Outbound::new(self.name.clone(), self.policy.clone());
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
        Ok(match result? {
            Err(Oversized(size)) => {
                tracing::warn!(component = %self.name, tool = %request.name, policy = "limits.max_result_bytes", limit, size, "result refused");
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
        tracing::warn!(component = %self.name, what, error = %failure, "component failed");
        Err(failure)
    }

    pub async fn read(&self, uri: &str) -> Result<Vec<p::ResourceContents>, p::ReadError> {
        let read = self.invoke(uri, async |store, instance| {
            instance.mcp_tool_resources().call_read_resource(store, uri).await
        });
        match read.await.map_err(p::ReadError::Internal)? {
            Ok(contents) => contents
                .into_iter()
                .map(convert::resource_contents)
                .collect::<Result<_, _>>()
                .map_err(p::ReadError::Internal),
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
        match get.await.map_err(p::CallError::Internal)? {
            Ok(result) => convert::prompt_result(result).map_err(p::CallError::Internal),
            Err(error) => Err(convert::call_error(error)),
        }
    }

    pub async fn complete(&self, request: &p::CompletionRequest) -> Result<p::Completion, p::CallError> {
        let request = convert::completion_request(request);
        let complete = self.invoke("completion/complete", async |store, instance| {
            instance.mcp_tool_completion().call_complete(store, &request).await
        });
        match complete.await.map_err(p::CallError::Internal)? {
            Ok(completion) => Ok(convert::completion(completion)),
            Err(error) => Err(convert::call_error(error)),
        }
    }
}

/// A result larger than the policy allows, by its size in bytes.
struct Oversized(usize);

/// The bytes a result carries: text, media, embedded resources and JSON.
fn result_size(result: &wit::CallResult) -> usize {
    let contents = |c: &wit::ResourceContents| match &c.body {
        wit::ResourceBody::Text(text) => text.len(),
        wit::ResourceBody::Blob(bytes) => bytes.len(),
    };
    let blocks: usize = result
        .content
        .iter()
        .map(|block| match block {
            wit::ContentBlock::Text(text) => text.len(),
            wit::ContentBlock::Image(media) | wit::ContentBlock::Audio(media) => media.data.len(),
            wit::ContentBlock::Resource(resource) => contents(resource),
            wit::ContentBlock::ResourceLink(link) => link.uri.len(),
        })
        .sum();
    blocks
        + result.structured_content.as_ref().map_or(0, String::len)
        + result.meta.as_ref().map_or(0, String::len)
}

async fn step_call(
    store: &mut Store<CallState>,
    instance: &ToolComponent,
    request: &p::CallRequest,
    events: mpsc::Sender<p::CallEvent>,
    max_result_bytes: usize,
) -> anyhow::Result<Result<Result<p::CallToolResult, p::CallError>, Oversized>> {
    let calls = instance.mcp_tool_tools().tool_call();
    let handle =
        calls.call_constructor(&mut *store, &convert::call_request(request)).await.map_err(wasm_error)?;
    let mut sent = 0;
    loop {
        let event = calls.call_next(&mut *store, handle).await.map_err(wasm_error)?;
        let event = match event {
            wit::CallEvent::Done(done) => {
                handle.resource_drop_async(&mut *store).await.map_err(wasm_error)?;
                return Ok(match done {
                    Ok(result) if result_size(&result) > max_result_bytes => {
                        Err(Oversized(result_size(&result)))
                    }
                    Ok(result) => Ok(convert::call_result(result).map_err(p::CallError::Internal)),
                    Err(error) => Ok(Err(convert::call_error(error))),
                });
            }
            wit::CallEvent::Log(message) => convert::call_event(message),
            wit::CallEvent::Progress(update) => Some(p::CallEvent::Progress {
                progress: update.progress,
                total: update.total,
                message: update.message,
            }),
        };
        sent += 1;
        if let Some(event) = event.filter(|_| sent <= MAX_EVENTS_PER_CALL) {
            // A client that went away stops listening; the call still finishes.
            let _ = events.send(event).await;
        }
    }
}
