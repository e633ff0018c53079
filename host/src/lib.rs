//! `mcp-host`: serves MCP over Streamable HTTP, running every tool call in a
//! fresh sandboxed instance of the WASI component that owns the tool.
//!
//! The binary is `main.rs`; the library exists so that the benchmark's native
//! baseline can run this same server with a tool written in plain Rust.

mod auth;
mod config;
mod digest;
mod egress;
mod http;
mod identity;
mod policy;
mod runtime;
mod sources;
mod storage;
mod tasks;
mod telemetry;
mod untrusted;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use mcp_protocol::http::Guard;
use tokio::sync::{Semaphore, watch};

use crate::http::{App, Sessions};
use crate::runtime::Runtime;
use crate::sources::{Container, Folder, Prepare, Registries, Source, Swapper};

pub use crate::config::{Args, OciArgs, StateArgs};
pub use crate::egress::Outbound;
pub use crate::runtime::{NativeFuture, NativeTool, Natives, precompile};
pub use crate::sources::publish::publish;

/// What the fuzz targets in `fuzz/` drive directly: not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::policy::Policy;
    pub use crate::runtime::fuzzing::{convert, wit};
}

/// Serves until SIGTERM or Ctrl-C. `natives` replaces the calls of the
/// components it names with plain Rust (the benchmark's baseline); the
/// binary passes none.
pub async fn run(args: Args, natives: Natives) -> anyhow::Result<()> {
    telemetry::start()?;
    let loopback = Guard::loopback();
    let guard = Guard {
        hosts: if args.allowed_hosts.is_empty() { loopback.hosts } else { args.allowed_hosts.clone() },
        origins: if args.allowed_origins.is_empty() {
            loopback.origins
        } else {
            args.allowed_origins.clone()
        },
    };
    let sessions = Sessions::new(args.session_key.as_deref())?;
    if args.session_key.is_none() {
        tracing::info!("no MCP_SESSION_KEY: sessions are valid on this instance only");
    }
    let auth = auth::Auth::from_args(&args.auth)?.map(Arc::new);
    let shared = args.state.open()?;
    tracing::info!(state = %shared.description, instance = %shared.instance, "shared state");
    let runtime =
        Runtime::new(args.max_instances, args.cache_dir.as_deref(), args.precompiled.as_deref(), natives)?;
    let registries = if args.components_oci.is_empty() {
        None
    } else {
        Some(Registries::new(&args.components_oci, &args.oci.settings())?)
    };
    let interval = Duration::from_millis(args.poll_interval_ms);
    let source = Source::new(
        args.components.as_deref().map(|dir| Folder::open(dir, !args.poll_only)).transpose()?,
        match (&args.components_container_url, &args.components_connection_string) {
            (Some(url), _) => Some(Container::from_url(url)?),
            (None, Some(text)) => Some(Container::from_connection_string(text, &args.components_container)?),
            (None, None) => None,
        },
        registries,
        interval,
    );

    // Listen first, so the readiness probe is answered while components compile.
    let addr = args.listen_addr();
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening; MCP endpoint at /mcp");

    let (publish, catalog) = watch::channel(None);
    telemetry::metrics::observe_instances({
        let catalog = catalog.clone();
        move || {
            let catalog: &Option<Arc<sources::Catalog>> = &catalog.borrow();
            let components = catalog.iter().flat_map(|c| c.components());
            components.map(|c| (c.name.clone(), c.instances())).collect()
        }
    });
    let lease = Duration::from_millis(args.state.task_lease_ms);
    let tasks = tasks::Tasks::new(shared.clone(), lease, args.max_body_bytes, catalog.clone());
    let (stop, stopping) = watch::channel(false);
    let status = Arc::new(Mutex::new(sources::Status::default()));
    let app = Arc::new(App {
        catalog,
        status: status.clone(),
        streams: Arc::new(Semaphore::new(http::MAX_STREAMS)),
        requests: Arc::new(Semaphore::new(args.max_requests as usize)),
        guard,
        sessions,
        max_body: args.max_body_bytes,
        waiting: Default::default(),
        recent: Default::default(),
        apps_challenge: args.openai_apps_challenge.clone(),
        auth: auth.clone(),
        shared,
        tasks: tasks.clone(),
        stopping,
    });
    let limits = http::Limits {
        max_connections: args.max_connections as usize,
        grace: Duration::from_millis(args.shutdown_grace_ms),
        idle_drain: Duration::from_millis(args.drain_idle_ms),
    };
    let mut server = tokio::spawn(http::serve(listener, app, limits));

    // The OAuth layer lists each tool's security schemes in every catalog.
    let prepare: Prepare = match auth {
        Some(auth) => Box::new(move |catalog| auth.apply(catalog)),
        None => Box::new(|_| {}),
    };
    let swapper = Swapper::new(runtime, source, prepare, publish, status);
    let swapping = tokio::spawn(swapper.run(interval));

    tokio::select! {
        _ = &mut server => anyhow::bail!("the server stopped"),
        _ = swapping => anyhow::bail!("the component watcher stopped"),
        _ = shutdown() => tracing::info!("shutting down"),
    }
    // Stop accepting, and let the requests being answered finish (the server
    // bounds the wait by the grace period).
    stop.send_replace(true);
    server.await?;
    tasks.abandon_running().await;
    telemetry::stop().await;
    Ok(())
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The binaries' `main`: logs to stdout (the Functions host records stderr
/// lines as errors) at `RUST_LOG` or `info`, reads the arguments, and runs.
pub fn main_with(natives: Natives) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .event_format(telemetry::TraceIdFormat::new())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = <Args as clap::Parser>::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(run(args, natives));
    // Whatever still runs (the component watcher, calls past the grace period) ends here.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
