//! The metrics: `mcp.server.operation.duration` as the MCP conventions define
//! it, `http.client.request.duration` for components' outbound requests, and
//! the host's own under `mcp_host.*`. Each function here does nothing while
//! metrics are off.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::{KeyValue, StringValue, Value};
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// Buckets the MCP conventions advise for operation durations, in seconds.
const OPERATION_BUCKETS: &[f64] =
    &[0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// Finer buckets for instantiation, which takes microseconds to milliseconds.
const INSTANTIATE_BUCKETS: &[f64] =
    &[0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

pub struct Instruments {
    meter: Meter,
    operation: Histogram<f64>,
    outbound: Histogram<f64>,
    instantiate: Histogram<f64>,
    refusals: Counter<u64>,
    swaps: Counter<u64>,
    refused_versions: Counter<u64>,
    code_cache: Counter<u64>,
}

impl Instruments {
    pub(super) fn new(provider: &SdkMeterProvider) -> Self {
        let meter: Meter = provider.meter("mcp-host");
        let seconds = |name: &'static str, description: &'static str, buckets: &[f64]| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(buckets.to_vec())
                .build()
        };
        Self {
            operation: seconds(
                "mcp.server.operation.duration",
                "MCP request duration as observed on the server, from receipt to the answer",
                OPERATION_BUCKETS,
            ),
            outbound: seconds(
                "http.client.request.duration",
                "Duration of components' outbound HTTP requests, to the response head",
                OPERATION_BUCKETS,
            ),
            instantiate: seconds(
                "mcp_host.instantiate.duration",
                "Time to make a fresh component instance for a call",
                INSTANTIATE_BUCKETS,
            ),
            refusals: meter
                .u64_counter("mcp_host.refusals")
                .with_unit("{refusal}")
                .with_description("Calls and requests stopped by a component's policy, by policy key")
                .build(),
            swaps: meter
                .u64_counter("mcp_host.swaps")
                .with_unit("{version}")
                .with_description("Component versions that went live")
                .build(),
            refused_versions: meter
                .u64_counter("mcp_host.versions.refused")
                .with_unit("{version}")
                .with_description("Component versions refused at load")
                .build(),
            code_cache: meter
                .u64_counter("mcp_host.code_cache.lookups")
                .with_unit("{lookup}")
                .with_description("Compiled-code cache lookups, by hit")
                .build(),
            meter,
        }
    }
}

fn instruments() -> Option<&'static Instruments> {
    super::get()?.metrics.as_ref()
}

/// The component attribute, for rare events.
fn named(name: &str) -> KeyValue {
    KeyValue::new("mcp_host.component", name.to_owned())
}

/// The component attribute of every call (and its spans): shares the name,
/// copies nothing.
pub fn component(name: &Arc<str>) -> KeyValue {
    KeyValue::new("mcp_host.component", Value::String(StringValue::from(name.clone())))
}

pub(super) fn operation(took: Duration, attributes: &[KeyValue]) {
    if let Some(m) = instruments() {
        m.operation.record(took.as_secs_f64(), attributes);
    }
}

/// An outbound request's head arrived (or it failed): `attributes` name the
/// destination, method and status or error.
pub fn outbound(name: &Arc<str>, took: Duration, mut attributes: Vec<KeyValue>) {
    if let Some(m) = instruments() {
        attributes.push(component(name));
        m.outbound.record(took.as_secs_f64(), &attributes);
    }
}

pub fn instantiated(name: &Arc<str>, took: Duration) {
    if let Some(m) = instruments() {
        m.instantiate.record(took.as_secs_f64(), &[component(name)]);
    }
}

/// Reports each component's instances in use and its limit
/// (`limits.max_concurrent`) when metrics are collected: `read` lists them
/// as (name, (in use, limit)). Read at collection rather than counted on
/// every call, which would cost two measurements per call.
pub fn observe_instances(read: impl Fn() -> Vec<(Arc<str>, (usize, usize))> + Send + Sync + 'static) {
    let Some(m) = instruments() else { return };
    let read = Arc::new(read);
    let counts = read.clone();
    m.meter
        .i64_observable_up_down_counter("mcp_host.instances.in_use")
        .with_unit("{instance}")
        .with_description("Component instances running now")
        .with_callback(move |observer| {
            for (name, (in_use, _)) in counts() {
                observer.observe(i64::try_from(in_use).unwrap_or(i64::MAX), &[component(&name)]);
            }
        })
        .build();
    m.meter
        .u64_observable_gauge("mcp_host.instances.limit")
        .with_unit("{instance}")
        .with_description("Instances a component may run at once (limits.max_concurrent)")
        .with_callback(move |observer| {
            for (name, (_, limit)) in read() {
                observer.observe(limit as u64, &[component(&name)]);
            }
        })
        .build();
}

/// A component's policy stopped something; `policy` is its key (`outbound.allow`, ...).
pub fn refused(name: &str, policy: &'static str) {
    if let Some(m) = instruments() {
        m.refusals.add(1, &[named(name), KeyValue::new("mcp_host.policy", policy)]);
    }
}

pub fn swapped(name: &str) {
    if let Some(m) = instruments() {
        m.swaps.add(1, &[named(name)]);
    }
}

pub fn version_refused(name: &str) {
    if let Some(m) = instruments() {
        m.refused_versions.add(1, &[named(name)]);
    }
}

pub fn code_cache(hit: bool) {
    if let Some(m) = instruments() {
        m.code_cache.add(1, &[KeyValue::new("mcp_host.code_cache.hit", hit)]);
    }
}
