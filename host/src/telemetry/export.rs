//! Turning telemetry on from the standard `OTEL_*` variables, and flushing it
//! at shutdown. The SDK and the OTLP exporter read the variables themselves
//! (endpoints, headers, timeouts, compression, `OTEL_METRIC_EXPORT_INTERVAL`,
//! `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER`, `OTEL_RESOURCE_ATTRIBUTES`); this
//! decides whether each signal is on and names the service `mcp-host` unless
//! told otherwise, and reads `MCP_OTLP_ENTRA_AUDIENCE` (see `client`).

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{
    MetricExporter, Protocol, SpanExporter, WithExportConfig as _, WithHttpConfig as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::client::Client;
use super::{TELEMETRY, Telemetry, metrics};

/// What `stop` flushes.
pub(super) struct Providers {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

const SERVICE_NAME: &str = "mcp-host";
/// The audience of the managed identity's token on every export, if any.
const ENTRA_AUDIENCE: &str = "MCP_OTLP_ENTRA_AUDIENCE";

fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether a signal is exported: it has an endpoint, its exporter is not
/// `none`, and the SDK is not disabled.
fn signal_on(endpoint_var: &str, exporter_var: &str) -> bool {
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let none = std::env::var(exporter_var).is_ok_and(|v| v.trim().eq_ignore_ascii_case("none"));
    !disabled && !none && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set(endpoint_var))
}

fn resource() -> Resource {
    let named = set("OTEL_SERVICE_NAME")
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
    let builder = Resource::builder();
    let builder = if named { builder } else { builder.with_service_name(SERVICE_NAME) };
    builder.with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))).build()
}

/// Starts exporting what the environment asks for; says whether anything is
/// on. Call once, within the Tokio runtime that will carry the exports.
pub fn start() -> anyhow::Result<bool> {
    let traces_on = signal_on("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER");
    let metrics_on = signal_on("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_METRICS_EXPORTER");
    if !traces_on && !metrics_on {
        return Ok(false);
    }
    if super::enabled() {
        return Ok(true);
    }
    let resource = resource();
    let audience = std::env::var(ENTRA_AUDIENCE).ok().filter(|a| !a.trim().is_empty());
    let client = Client::new(audience).context(ENTRA_AUDIENCE)?;
    let traces = traces_on
        .then(|| {
            let exporter = SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_http_client(client.clone())
                .build()
                .context("OTLP trace exporter (OTEL_EXPORTER_OTLP_*)")?;
            anyhow::Ok(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.clone())
                    .build(),
            )
        })
        .transpose()?;
    let meters = metrics_on
        .then(|| {
            let exporter = MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_http_client(client.clone())
                .build()
                .context("OTLP metric exporter (OTEL_EXPORTER_OTLP_*)")?;
            let reader = PeriodicReader::builder(exporter).build();
            anyhow::Ok(
                SdkMeterProvider::builder().with_reader(reader).with_resource(resource.clone()).build(),
            )
        })
        .transpose()?;
    let telemetry = Telemetry {
        tracer: traces.as_ref().map(|p| p.tracer(SERVICE_NAME)),
        metrics: meters.as_ref().map(metrics::Instruments::new),
        providers: Providers { traces, metrics: meters },
    };
    if TELEMETRY.set(telemetry).is_err() {
        return Ok(true);
    }
    tracing::info!(
        traces = traces_on,
        metrics = metrics_on,
        "OpenTelemetry export on (OTLP over HTTP, protobuf)"
    );
    Ok(true)
}

/// Exports what is still buffered; waits on a blocking thread, since the
/// exporters send through this runtime.
pub async fn stop() {
    let Some(telemetry) = super::get() else { return };
    let flushed = tokio::task::spawn_blocking(|| {
        if let Some(traces) = &telemetry.providers.traces {
            let _ = traces.shutdown();
        }
        if let Some(metrics) = &telemetry.providers.metrics {
            let _ = metrics.shutdown();
        }
    });
    let _ = flushed.await;
}
