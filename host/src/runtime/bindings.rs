//! The `mcp:tool` contract as Rust types (wasmtime's bindgen).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "mcp:tool/tool-component",
    exports: { default: async },
});

pub use mcp::tool::types as wit;
