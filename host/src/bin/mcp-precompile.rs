//! Compiles tool components ahead of time for the package, so that a new
//! instance answers without running Cranelift:
//!
//!   mcp-precompile --out DIR [--target TRIPLE] [--cpu PRESET] NAME.wasm...
//!
//! Writes `DIR/SHA256.cwasm` for each component, named after the wasm's
//! sha256, which is what `mcp-host --precompiled DIR` looks for. The code is
//! for a CPU baseline, not this machine's CPU; a host whose CPU lacks a
//! feature compiles the wasm as usual. Must come from the same build of
//! wasmtime as the `mcp-host` that loads it (the same source tree).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "mcp-precompile", version)]
struct Cli {
    /// The folder to write into (created if missing).
    #[arg(long)]
    out: PathBuf,

    /// The target triple of the host that will load the code.
    #[arg(long, default_value = "x86_64-unknown-linux-musl")]
    target: String,

    /// The CPU baseline, a Cranelift preset: `x86-64-v2`, `x86-64-v3` (AVX2,
    /// every Azure x86 worker today), `x86-64-v4`, ...
    #[arg(long, default_value = "x86-64-v3")]
    cpu: String,

    /// The components (`NAME.wasm`, WASI 0.2 components).
    #[arg(required = true)]
    wasm: Vec<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.out).with_context(|| format!("creating {}", cli.out.display()))?;
    for path in &cli.wasm {
        let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (name, code) = mcp_host::precompile(&wasm, &cli.target, &cli.cpu)
            .with_context(|| format!("precompiling {}", path.display()))?;
        let out = cli.out.join(&name);
        std::fs::write(&out, &code).with_context(|| format!("writing {}", out.display()))?;
        println!("{} -> {} ({} bytes)", path.display(), out.display(), code.len());
    }
    Ok(())
}
