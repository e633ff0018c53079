//! The wasmtime side: one engine for the process, one pre-linked component per
//! tool component, and a fresh store and instance for every call, each bounded
//! by the component's policy. Knows nothing of HTTP or of where components
//! come from.

mod bindings;
mod budget;
mod call;
mod capacity;
mod code_cache;
mod component;
mod convert;
mod engine;
mod failure;
mod instance;
mod limits;
mod listing;
mod native;
mod skills;

pub use capacity::{Full, Slots};
pub use component::Loaded;
pub use engine::{Runtime, precompile};
pub use native::{NativeFuture, NativeTool, Natives};

/// What the fuzz targets in `fuzz/` drive directly: not a stable API.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use super::bindings::wit;
    pub mod convert {
        pub use super::super::convert::*;
    }
}
