//! The engine and the imports every component gets, and loading: compile
//! (or fetch from the code cache), link, reserve instance slots, and ask the
//! component what it offers, each step bounded by its time limit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::ToolComponentPre;
use super::capacity::{Capacity, Slots};
use super::code_cache::{CodeCache, Precompiled};
use super::component::Loaded;
use super::instance::CallState;
use super::limits::{CORE_INSTANCES_PER_COMPONENT, MEMORIES_PER_COMPONENT, TABLES_PER_COMPONENT};
use super::native::Natives;
use super::{budget, convert, listing, skills};
use crate::digest::Digest;
use crate::egress::Egress;
use crate::policy::Policy;
use crate::telemetry::metrics;

/// How often the engine's epoch advances. A running guest yields to the
/// executor at every tick, so this is the longest slice a compute-bound guest
/// holds a worker thread before other requests get a turn.
const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Bytes of each linear memory that are reset in place (only the pages
/// written, where the kernel offers PAGEMAP_SCAN) when an instance ends,
/// rather than given back with madvise: that cost a TLB shootdown on every
/// core and page faults on the next call. A call of the Python weather tool
/// writes 2 to 3 MiB: with 2 MiB kept it faulted 30 to 40 pages in again a
/// call, with 4 MiB none to 3, and served about 1.5 times as many calls.
/// A slot keeps up to this much after its call whatever the component
/// wrote, so a component that fills its memory leaves it in each slot it ran
/// in. It runs in its own slots first (per worker thread: wasmtime shards
/// the pool), so that is about as many as it ran at once. Hence small.
const KEEP_RESIDENT: usize = 4 << 20;
/// Without PAGEMAP_SCAN (Linux before 6.7) the first `keep_resident` bytes
/// are copied back whether written or not: only as much as a Rust component
/// uses. Also for tables, which are small.
const KEEP_RESIDENT_SMALL: usize = 2 << 20;

/// The engine and the imports every component gets.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<CodeCache>,
    precompiled: Option<Precompiled>,
    natives: Natives,
    /// The pool's instances, reserved by each component as it loads.
    capacity: Arc<Capacity>,
    /// What components' outbound requests share: TLS roots, keep-alive clients, caches.
    egress: Arc<Egress>,
}

impl Runtime {
    pub fn new(
        max_instances: u32,
        cache_dir: Option<&Path>,
        precompiled: Option<&Path>,
        natives: Natives,
    ) -> anyhow::Result<Arc<Self>> {
        let mut config = compilation();
        let mut pool = PoolingAllocationConfig::default();
        let keep_resident = if PoolingAllocationConfig::is_pagemap_scan_available() {
            KEEP_RESIDENT
        } else {
            KEEP_RESIDENT_SMALL
        };
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
            .linear_memory_keep_resident(keep_resident)
            .table_keep_resident(KEEP_RESIDENT_SMALL)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;

        let mut linker = Linker::new(&engine);
        // Every WASI 0.2 interface of `wasi:cli/imports` plus outbound HTTP.
        // Filesystem and sockets are linked (componentize-py and
        // componentize-js components import them even when unused) but
        // every store's context refuses them: no preopened directory, TCP,
        // UDP and name lookup off, every address refused (`instance.rs`).
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;

        let ticker = engine.weak();
        std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
        let cache = cache_dir.map(|dir| CodeCache::open(dir, &engine)).transpose()?;
        // Only a speed-up: a folder that cannot be trusted is skipped, not fatal,
        // so that a package unpacked with loose modes still starts (and compiles).
        let precompiled = precompiled.and_then(|dir| {
            Precompiled::open(dir)
                .inspect_err(
                    |error| tracing::warn!(error = %format!("{error:#}"), "precompiled code not used"),
                )
                .ok()
        });
        let capacity = Capacity::new(max_instances);
        Ok(Arc::new(Self { engine, linker, cache, precompiled, natives, capacity, egress: Egress::new() }))
    }

    /// The compiled component: from the package's precompiled folder or the
    /// code cache, else compiled (off the async workers) and stored in the
    /// cache. Says which it was.
    async fn compile(
        self: &Arc<Self>,
        wasm: Arc<[u8]>,
        digest: Digest,
    ) -> anyhow::Result<(Component, Compiled)> {
        let runtime = self.clone();
        tokio::task::spawn_blocking(move || {
            let packaged = runtime.precompiled.as_ref();
            if let Some(component) = packaged.and_then(|dir| dir.get(&runtime.engine, &digest)) {
                return Ok((component, Compiled::Package));
            }
            let cache = runtime.cache.as_ref();
            let hit = cache.and_then(|cache| cache.get(&runtime.engine, &digest));
            if cache.is_some() {
                metrics::code_cache(hit.is_some());
            }
            if let Some(component) = hit {
                return Ok((component, Compiled::Cache));
            }
            let component = Component::new(&runtime.engine, &wasm)
                .map_err(anyhow::Error::from)
                .context("not a valid WASI 0.2 component")?;
            if let Some(cache) = cache
                && let Err(error) = cache.put(&digest, &component)
            {
                tracing::warn!(error = %format!("{error:#}"), "compiled code not cached");
            }
            Ok((component, Compiled::Now))
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
        let (component, code) = self.compile(wasm, digest).await?;
        // Build the memory image now rather than on the first call.
        component.initialize_copy_on_write_image()?;
        let compiled = started.elapsed();
        let instance_pre = self.linker.instantiate_pre(&component)?;
        let pre = ToolComponentPre::new(instance_pre)
            .map_err(anyhow::Error::from)
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
            schemas: HashMap::new(),
            tasks: HashMap::new(),
            skills: Vec::new(),
            code: code.as_str(),
        };
        // The load's instance is one of the component's own.
        let slots = loaded.slots.clone();
        let _slot = bounded(limit, "a free instance slot", slots.permits.acquire()).await??;
        let (mut store, instance) = bounded(limit, "instantiation", loaded.instantiate()).await??;
        let store = &mut store;
        let tools = instance.mcp_tool_tools();
        let tools = bounded(limit, "list-tools", tools.call_list_tools(&mut *store)).await??;
        let resources = instance.mcp_tool_resources();
        let listed = bounded(limit, "list-resources", resources.call_list_resources(&mut *store)).await??;
        let templates = resources.call_list_resource_templates(&mut *store);
        let templates = bounded(limit, "list-resource-templates", templates).await??;
        let prompts = instance.mcp_tool_prompts();
        let prompts = bounded(limit, "list-prompts", prompts.call_list_prompts(&mut *store)).await??;
        fn all<T, U>(items: Vec<T>, convert: fn(T) -> Result<U, String>) -> anyhow::Result<Vec<U>> {
            items.into_iter().map(convert).collect::<Result<_, _>>().map_err(|e| anyhow!(e))
        }
        loaded.tools = all(tools, convert::tool)?;
        loaded.resources = all(listed, convert::resource)?;
        loaded.templates = all(templates, convert::resource_template)?;
        loaded.prompts = all(prompts, convert::prompt)?;
        listing::check(&loaded)?;
        // Task declarations are the host's to read, not the clients'.
        for tool in &mut loaded.tools {
            let support = mcp_protocol::TaskSupport::take(tool).map_err(|e| anyhow!(e))?;
            if support != mcp_protocol::TaskSupport::default() {
                loaded.tasks.insert(tool.name.clone(), support);
            }
        }
        // Compiled once here, for every call this version will answer.
        for tool in &loaded.tools {
            let schema = mcp_protocol::ToolSchema::compile(tool).map_err(|e| anyhow!(e))?;
            loaded.schemas.insert(tool.name.clone(), schema);
        }
        // Skill entries carry every file's digest: read once, here.
        let mut files = Vec::new();
        for uri in skills::files(&loaded.resources) {
            let read = resources.call_read_resource(&mut *store, &uri);
            let contents = match bounded(limit, "read-resource", read).await?? {
                Ok(contents) => contents,
                Err(_) => bail!("skill file {uri} is listed but cannot be read"),
            };
            let contents: Vec<_> = all(contents, convert::resource_contents)?;
            let size = budget::json_size(&contents);
            if size > loaded.policy.max_result_bytes {
                bail!("skill file {uri} is larger than limits.max_result_bytes");
            }
            files.push((uri, skills::bytes(&contents).map_err(|e| anyhow!(e))?));
        }
        loaded.skills = skills::entries(&files).map_err(|e| anyhow!(e))?;
        tracing::info!(
            component = name,
            tools = loaded.tools.len(),
            resources = loaded.resources.len(),
            templates = loaded.templates.len(),
            prompts = loaded.prompts.len(),
            skills = loaded.skills.len(),
            %digest,
            code = code.as_str(),
            compile_ms = compiled.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "component loaded"
        );
        Ok(loaded)
    }
}

/// Where a component's native code came from.
#[derive(Clone, Copy)]
enum Compiled {
    Package,
    Cache,
    Now,
}

impl Compiled {
    fn as_str(self) -> &'static str {
        match self {
            Compiled::Package => "precompiled",
            Compiled::Cache => "cached",
            Compiled::Now => "compiled",
        }
    }
}

/// The settings that shape compiled code, shared by the runtime and
/// `precompile`, so that the package's code loads into the runtime's engine.
fn compilation() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// Compiles `wasm` for the package: for `target` (a triple) and the CPU
/// baseline `cpu` (a Cranelift preset such as `x86-64-v3`), not for this
/// machine's CPU, so that it loads on any host with those features. Returns
/// the file name the runtime looks it up by, and the code.
pub fn precompile(wasm: &[u8], target: &str, cpu: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let mut config = compilation();
    config.target(target).map_err(anyhow::Error::from)?;
    // SAFETY: a preset only selects CPU features; wasmtime records them in the
    // code and refuses the code on a host whose CPU lacks any of them.
    #[expect(unsafe_code, reason = "a Cranelift setting, checked again at load")]
    unsafe {
        config.cranelift_flag_enable(cpu);
    }
    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("an engine for {target} with CPU {cpu}"))?;
    let code = engine
        .precompile_component(wasm)
        .map_err(anyhow::Error::from)
        .context("not a valid WASI 0.2 component")?;
    Ok((format!("{}.cwasm", Digest::of(wasm)), code))
}

/// One step of a load, given up on at the component's time limit (a guest
/// that computes yields at every epoch tick, so dropping it stops it).
async fn bounded<T>(limit: Duration, step: &str, run: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(limit, run)
        .await
        .map_err(|_| anyhow!("{step} did not return within {} ms (limits.timeout_ms)", limit.as_millis()))
}

#[cfg(test)]
mod tests {
    use wasmtime::{Instance, Module, Store};

    use super::*;

    /// A module whose `call(which)` puts `ref.func` of its function number
    /// `which` in a table and calls it there. `pad` functions before them
    /// move their code, so that two such modules' functions start at
    /// different places.
    fn module(engine: &Engine, pad: usize, results: [i32; 3]) -> Module {
        let padding = "(func (result i32) i32.const 0 drop i32.const 0)".repeat(pad);
        let [a, b, c] = results;
        let text = format!(
            r#"(module
              (type $t (func (result i32)))
              (table $tab 1 funcref)
              (elem declare func $a $b $c)
              {padding}
              (func $a (result i32) i32.const {a})
              (func $b (result i32) i32.const {b})
              (func $c (result i32) i32.const {c})
              (func (export "call") (param $which i32) (result i32)
                (table.set $tab (i32.const 0)
                  (if (result funcref) (i32.eqz (local.get $which))
                    (then ref.func $a)
                    (else (if (result funcref) (i32.eq (local.get $which) (i32.const 1))
                      (then ref.func $b) (else ref.func $c)))))
                (call_indirect (type $t) (i32.const 0))))"#
        );
        Module::new(engine, wat::parse_str(text).unwrap()).unwrap()
    }

    /// The vendored wasmtime remembers, per module, where each function
    /// starts for the `VMFuncRef`s that every new instance fills in again
    /// (`vendor/README.md`). Every instance here takes the pool's one slot,
    /// the two modules in turn, each asked for its functions in another order.
    #[test]
    fn ref_func_finds_its_own_function_in_every_new_instance() {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(1).total_memories(1).total_tables(1);
        let mut config = compilation();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).unwrap();
        let modules =
            [(module(&engine, 0, [1, 2, 3]), [1, 2, 3]), (module(&engine, 7, [4, 5, 6]), [4, 5, 6])];
        for round in 0..3 {
            for (module, expected) in &modules {
                let mut store = Store::new(&engine, ());
                store.set_epoch_deadline(1);
                let instance = Instance::new(&mut store, module, &[]).unwrap();
                let call = instance.get_typed_func::<i32, i32>(&mut store, "call").unwrap();
                for which in [round, (round + 1) % 3, (round + 2) % 3] {
                    let got = call.call(&mut store, which).unwrap();
                    assert_eq!(got, expected[which as usize], "round {round}, function {which}");
                }
            }
        }
    }
}
