//! OpenTelemetry traces and metrics, following the semantic conventions for
//! MCP, exported over OTLP (HTTP, protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or a per-signal endpoint) is set. Off otherwise: nothing is built, and
//! every hook here returns at once without allocating.
//!
//! The status page's per-tool figures of the last minutes (`recent`) are kept
//! either way.
//!
//! The rest of the host reports through this module only: `http` opens a span
//! per MCP request (`Operation`), `runtime` the instantiation and run of a
//! component, `egress` each outbound request; `sources` counts swaps. This
//! module imports none of them.

mod client;
mod export;
mod logs;
pub mod metrics;
mod propagate;
pub mod recent;
mod spans;

use std::sync::OnceLock;

pub use export::{start, stop};
pub use logs::TraceIdFormat;
pub use propagate::inject;
pub use spans::{Kind, Operation, Request, Span, bounded, carry};

/// What runs while telemetry is on.
struct Telemetry {
    tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
    metrics: Option<metrics::Instruments>,
    providers: export::Providers,
}

static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();

fn get() -> Option<&'static Telemetry> {
    TELEMETRY.get()
}

/// Whether any signal is exported.
pub fn enabled() -> bool {
    get().is_some()
}

/// Whether spans are being recorded and exported.
pub fn tracing() -> bool {
    get().is_some_and(|t| t.tracer.is_some())
}
