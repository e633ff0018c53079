//! What one instance may make the host hold: linear memories and tables
//! (summed, within `memory_mb`), core instances, memories and tables per
//! component, resource table entries and `wasi:http` field sizes.

use wasmtime::ResourceLimiter;

/// `memory_mb` per entry of a store's resource table (and per handle of the
/// component's own resources): 64 MiB allow 1,024.
pub const HOST_BYTES_PER_RESOURCE: usize = 64 << 10;
/// Entries a store's resource table has at least, whatever `memory_mb`.
pub const MIN_HOST_RESOURCES: usize = 64;
/// Bytes one `wasi:http` fields resource may hold (the in-memory size, names
/// and values and their overhead; 16 KiB is twice what proxies accept).
pub const FIELD_SIZE_LIMIT: usize = 16 << 10;
/// What one component instance may hold of the pool's core instances,
/// memories and tables (the limiter enforces them per store too). A Rust
/// component has about 3 core instances, 1 memory and 2 tables. A component
/// needing more is refused when it loads, so that every instance a component
/// reserved (see `capacity`) fits in the pool.
pub const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
pub const MEMORIES_PER_COMPONENT: u32 = 2;
pub const TABLES_PER_COMPONENT: u32 = 8;

/// Caps everything an instance's code can make wasmtime allocate for it: the
/// sum of all its linear memories and tables within `memory_mb`, and the
/// number of core instances, memories and tables (a component may hold many
/// core modules, each with its own memory). Remembers whether a cap was hit,
/// to say so.
pub struct Limiter {
    budget: usize,
    used: usize,
    pub hit: bool,
}

/// What one table element costs the host (a pointer), counted in the budget.
const TABLE_ELEMENT_BYTES: usize = 8;

impl Limiter {
    pub fn new(budget: usize) -> Self {
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
