//! `mcp-host`: serves MCP over Streamable HTTP, running every tool call in a
//! fresh sandboxed instance of the WASI component that owns the tool.

fn main() -> anyhow::Result<()> {
    mcp_host::main_with(mcp_host::Natives::new())
}

/// mimalloc: see the workspace's Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
