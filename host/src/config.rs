//! Command line and environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Serves MCP tools that run as sandboxed WASI 0.2 components.
#[derive(Debug, Parser)]
#[command(name = "mcp-host", version)]
pub struct Args {
    /// Address to listen on. Default: 127.0.0.1 and FUNCTIONS_CUSTOMHANDLER_PORT
    /// (the Azure Functions custom-handler contract), else port 8080.
    #[arg(long, env = "MCP_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Folder of tool components: every `NAME.wasm`, with its policy in `NAME.toml`.
    /// Watched: a component added, changed or removed there goes live without a restart.
    #[arg(long, env = "MCP_COMPONENTS", required_unless_present_any = ["components_container_url", "components_connection_string", "components_oci"])]
    pub components: Option<PathBuf>,

    /// Azure Blob Storage container of tool components (`NAME.wasm` + `NAME.toml`), polled:
    /// `https://ACCOUNT.blob.core.windows.net/CONTAINER`, read with the managed identity
    /// (or a SAS given as the URL's query). Its components win over the folder's.
    #[arg(long, env = "MCP_COMPONENTS_CONTAINER_URL", conflicts_with = "components_connection_string")]
    pub components_container_url: Option<String>,

    /// The components container by storage connection string instead (development, Azurite).
    #[arg(long, env = "MCP_COMPONENTS_CONNECTION_STRING", hide_env_values = true)]
    pub components_connection_string: Option<String>,

    /// The container's name, with --components-connection-string.
    #[arg(long, env = "MCP_COMPONENTS_CONTAINER", default_value = "components")]
    pub components_container: String,

    /// A component in an OCI registry: `registry[:port]/repository[:tag|@sha256:digest]`, in the
    /// wkg/wassette layout, named after the repository's last segment; repeatable (the variable
    /// comma-separated). Tags are polled. Its policy is NAME.toml from the folder or container.
    /// These win over the folder's and the container's components of the same name.
    #[arg(long = "components-oci", env = "MCP_COMPONENTS_OCI", value_delimiter = ',', value_name = "REF")]
    pub components_oci: Vec<String>,

    #[command(flatten)]
    pub oci: OciArgs,

    /// How often the component sources are checked for changes, in milliseconds.
    /// A folder's file events are also acted on at once.
    #[arg(long, env = "MCP_POLL_INTERVAL_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub poll_interval_ms: u64,

    /// Poll the folder only, ignoring file events (for file systems that don't deliver them).
    #[arg(long, env = "MCP_POLL_ONLY")]
    pub poll_only: bool,

    /// Private folder for compiled components, so a restart does not compile again.
    #[arg(long, env = "MCP_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// The package's folder of precompiled components (`make package` writes
    /// it with `mcp-precompile`), tried before the cache. Trusted as this
    /// binary is: ignored, with a warning, if others may write to it.
    #[arg(long, env = "MCP_PRECOMPILED_DIR")]
    pub precompiled: Option<PathBuf>,

    /// Host header values accepted (`name`, `name:port` or `*`), comma-separated.
    /// Default: loopback names only.
    #[arg(long, env = "MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Origin header values accepted (`scheme://name[:port]`, `scheme://name:*` or `*`),
    /// comma-separated. Requests without Origin are always accepted.
    /// Default: loopback origins only.
    #[arg(long, env = "MCP_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Key (at least 32 characters) that signs session ids, so that any instance
    /// sharing it accepts sessions another one opened. Default: a random key per process.
    #[arg(long, env = "MCP_SESSION_KEY", hide_env_values = true)]
    pub session_key: Option<String>,

    #[command(flatten)]
    pub state: StateArgs,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MCP_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Component instances that may run at once across all components
    /// (sizes the pooling allocator).
    #[arg(long, env = "MCP_MAX_INSTANCES", default_value_t = 1024)]
    pub max_instances: u32,

    /// Connections open at once; beyond this many the host stops accepting
    /// until one closes.
    #[arg(long, env = "MCP_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// POST requests to /mcp being answered at once; beyond this many a
    /// request is answered 503 with Retry-After.
    #[arg(long, env = "MCP_MAX_REQUESTS", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_requests: u64,

    /// On SIGTERM or Ctrl-C, how long requests being answered may take to
    /// finish before the host exits anyway, in milliseconds. Keep it below the
    /// platform's own grace period (30 s on Azure Functions and Container Apps).
    #[arg(long, env = "MCP_SHUTDOWN_GRACE_MS", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub shutdown_grace_ms: u64,

    /// After SIGTERM, how long idle connections stay open before the host
    /// closes them, in milliseconds (meanwhile every answer says `Connection:
    /// close`). The front end must close a connection idle for less than this,
    /// so that it never sends a request onto one the host is closing.
    #[arg(long, env = "MCP_DRAIN_IDLE_MS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub drain_idle_ms: u64,

    /// The ChatGPT app directory's domain-verification token, served as
    /// `/.well-known/openai-apps-challenge` (404 when unset).
    #[arg(long, env = "MCP_OPENAI_APPS_CHALLENGE", value_parser = apps_challenge)]
    pub openai_apps_challenge: Option<String>,

    #[command(flatten)]
    pub auth: crate::auth::AuthArgs,
}

/// Where the state lives that many instances behind one front end share (tasks,
/// answers to input requests, session settings). Unset: this instance's memory.
#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// Storage connection string of the shared state's account (development, Azurite).
    #[arg(
        long,
        env = "MCP_STATE_CONNECTION_STRING",
        hide_env_values = true,
        conflicts_with = "state_account_url"
    )]
    pub state_connection_string: Option<String>,

    /// The shared state's storage account, `https://ACCOUNT.blob.core.windows.net`, reached
    /// with the managed identity.
    #[arg(long, env = "MCP_STATE_ACCOUNT_URL")]
    pub state_account_url: Option<String>,

    /// The shared state's blob container (it must exist).
    #[arg(long, env = "MCP_STATE_CONTAINER", default_value = "mcp-state")]
    pub state_container: String,

    /// How long a task's lease lasts, in milliseconds: the instance running it
    /// renews it every third of that, and a task whose lease ran out (its
    /// instance died) is reported failed.
    #[arg(long, env = "MCP_TASK_LEASE_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1_000..=600_000))]
    pub task_lease_ms: u64,
}

impl StateArgs {
    pub fn open(&self) -> anyhow::Result<crate::storage::Shared> {
        crate::storage::Shared::open(
            self.state_connection_string.as_deref(),
            self.state_account_url.as_deref(),
            &self.state_container,
        )
    }
}

/// How OCI registries are reached and what they must prove.
#[derive(Debug, clap::Args)]
pub struct OciArgs {
    /// Registries (`host[:port]`) reached over plain HTTP instead of HTTPS, comma-separated
    /// (local testing only).
    #[arg(long, env = "MCP_OCI_INSECURE", value_delimiter = ',')]
    pub oci_insecure: Vec<String>,

    /// PEM file of root certificates trusted for registries, beside the system's.
    #[arg(long, env = "MCP_OCI_CA_FILE")]
    pub oci_ca_file: Option<PathBuf>,

    /// User name for the registries (basic, or the registry's token flow).
    #[arg(long, env = "MCP_OCI_USERNAME")]
    pub oci_username: Option<String>,

    /// Password for the registries.
    #[arg(long, env = "MCP_OCI_PASSWORD", hide_env_values = true)]
    pub oci_password: Option<String>,

    /// Azure Container Registry with the app's managed identity, no keys: an Entra token
    /// (`IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, else the instance metadata service;
    /// `AZURE_CLIENT_ID` for a user-assigned identity) exchanged for a registry token.
    #[arg(long, env = "MCP_OCI_MANAGED_IDENTITY")]
    pub oci_managed_identity: bool,

    /// PEM public keys (ECDSA P-256, as cosign makes them), comma-separated: a registry's
    /// component loads only with a valid cosign signature of its digest by one of them.
    #[arg(long, env = "MCP_OCI_VERIFY_KEYS", value_delimiter = ',')]
    pub oci_verify_keys: Vec<PathBuf>,
}

impl OciArgs {
    pub fn settings(&self) -> crate::sources::oci::Settings {
        crate::sources::oci::Settings {
            insecure: self.oci_insecure.clone(),
            ca_file: self.oci_ca_file.clone(),
            username: self.oci_username.clone(),
            password: self.oci_password.clone(),
            managed_identity: self.oci_managed_identity,
            verify_keys: self.oci_verify_keys.clone(),
        }
    }
}

impl Args {
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.unwrap_or_else(|| {
            let port = std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(8080);
            SocketAddr::from(([127, 0, 0, 1], port))
        })
    }
}

/// A verification token is served as it is: 1 to 512 visible ASCII characters.
fn apps_challenge(value: &str) -> Result<String, String> {
    let value = value.trim();
    if (1..=512).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(value.to_owned())
    } else {
        Err("must be 1 to 512 visible ASCII characters".into())
    }
}
