//! Pushes a tool component to an OCI registry in the layout mcp-host, wkg and
//! wassette read, and signs it cosign-style when given a key:
//!
//!   mcp-publish --oci registry[:port]/repository:tag [--sign-key KEY.pem] NAME.wasm
//!
//! Reaches the registry as the host does (`MCP_OCI_INSECURE`, `MCP_OCI_CA_FILE`,
//! `MCP_OCI_USERNAME`, `MCP_OCI_PASSWORD`). Prints the manifest digest.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "mcp-publish", version)]
struct Cli {
    /// Where to push: `registry[:port]/repository:tag`.
    #[arg(long, value_name = "REF")]
    oci: String,

    /// Unencrypted PKCS#8 PEM ECDSA P-256 private key to sign the manifest digest with.
    #[arg(long, env = "MCP_OCI_SIGNING_KEY")]
    sign_key: Option<PathBuf>,

    #[command(flatten)]
    registry: mcp_host::OciArgs,

    /// The component (`NAME.wasm`, a WASI 0.2 component).
    wasm: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let wasm = std::fs::read(&cli.wasm).with_context(|| format!("reading {}", cli.wasm.display()))?;
    let key = cli
        .sign_key
        .as_ref()
        .map(|path| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display())))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let digest =
        runtime.block_on(mcp_host::publish(&cli.oci, wasm, key.as_deref(), &cli.registry.settings()))?;
    let signed = if key.is_some() { " (signed)" } else { "" };
    println!("{digest}");
    eprintln!("mcp-publish: pushed {}{signed} as {digest}", cli.oci);
    Ok(())
}
