//! OpenTelemetry: a tool call that reaches the upstream is traced end to end
//! (the caller's trace continues through the host into the upstream's
//! request) and measured, as a loopback OTLP receiver decodes it; and with no
//! endpoint configured, nothing is exported at all.

use std::time::Duration;

use mcp_e2e::fake;
use mcp_e2e::harness::{Host, weather_policy, weather_wasm, whoami_wasm};
use mcp_e2e::identity::{IDENTITY_SECRET, IdentityEndpoint, token_for};
use mcp_e2e::otlp::{self, Data, Receiver, int, string};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};

const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 0);
/// A caller's trace, sent in the HTTP headers.
const HEADER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const HEADER_PARENT: &str = "00f067aa0ba902b7";
/// Another, sent in `params._meta` (which wins over the headers).
const META_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const META_PARENT: &str = "b7ad6b7169203331";

/// A tool name a client made up.
const MADE_UP: &str = "made_up_tool_the_catalog_never_served";

fn weather_call(id: u64, latitude: f64, meta: Option<Value>) -> Value {
    let mut params =
        json!({"name": "get_current_weather", "arguments": {"latitude": latitude, "longitude": 13.41}});
    if let Some(meta) = meta {
        params["_meta"] = meta;
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

fn traceparent(trace: &str, parent: &str) -> String {
    format!("00-{trace}-{parent}-01")
}

fn one<'a>(spans: &'a [Span], what: &str, matches: impl Fn(&Span) -> bool) -> &'a Span {
    let found: Vec<_> = spans.iter().filter(|s| matches(s)).collect();
    assert_eq!(found.len(), 1, "one {what} among {:#?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>());
    found[0]
}

/// Sends three calls (header trace, `_meta` trace, a failing upstream), then
/// stops the host, which exports everything it still holds.
async fn traced_calls(host: &mut Host) {
    let version = ("mcp-protocol-version", "2025-11-25");
    let header = traceparent(HEADER_TRACE, HEADER_PARENT);
    let reply = host.post(&weather_call(7, 52.52, None), &[("traceparent", &header), version]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["result"]["isError"], Value::Null, "{}", reply.body);

    let meta = json!({"traceparent": traceparent(META_TRACE, META_PARENT)});
    let other = traceparent("11111111111111111111111111111111", "2222222222222222");
    // Latitude -10: the fake sends the forecast chunked, without Content-Length.
    let reply = host.post(&weather_call(8, -10.0, Some(meta)), &[("traceparent", &other), version]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // The fake answers latitude -1 with HTTP 400: a tool error.
    let reply = host.post(&weather_call(9, -1.0, None), &[version]).await;
    assert_eq!(reply.json()["result"]["isError"], true, "{}", reply.body);

    // A name no catalog serves: refused, and named in no span or metric.
    let made_up = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
        "params": {"name": MADE_UP, "arguments": {}}});
    let reply = host.post(&made_up, &[version]).await;
    assert!(reply.json()["error"].is_object() || reply.json()["result"]["isError"] == true, "{}", reply.body);

    host.terminate();
    assert!(host.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", host.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_is_traced_through_the_host_to_the_upstream_and_measured() {
    let api = fake::spawn(LOOPBACK.into()).await.unwrap();
    let receiver = Receiver::start(LOOPBACK.into()).await.unwrap();
    let policy = format!("{}\n[limits]\nmax_concurrent = 3\n", weather_policy(&api.url()));
    let endpoint = receiver.endpoint();
    let mut host = Host::start_with_env(
        &[("weather", &weather_wasm(), &policy)],
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_METRIC_EXPORT_INTERVAL", "60000")],
    );
    traced_calls(&mut host).await;

    let received = receiver.received.lock().unwrap();
    assert!(received.other.is_empty(), "only OTLP protobuf exports: {:?}", received.other);
    assert!(received.authorizations.iter().all(Option::is_none), "no token unless asked for");
    let spans: Vec<Span> = received
        .spans()
        .into_iter()
        .map(|(service, span)| {
            assert_eq!(service, "mcp-host", "the default service.name");
            span
        })
        .collect();
    let in_trace =
        |trace: &str| -> Vec<Span> { spans.iter().filter(|s| hex(&s.trace_id) == trace).cloned().collect() };

    // The call under the headers' trace: server span, then instantiate and the
    // component's run beneath it, then the outbound GET beneath the run.
    let first = in_trace(HEADER_TRACE);
    let server = one(&first, "server span", |s| s.name == "tools/call get_current_weather");
    assert_eq!(server.kind, 2, "SERVER");
    assert_eq!(hex(&server.parent_span_id), HEADER_PARENT, "continues the caller's span");
    let attributes = &server.attributes;
    assert_eq!(string(attributes, "mcp.method.name").as_deref(), Some("tools/call"));
    assert_eq!(string(attributes, "gen_ai.tool.name").as_deref(), Some("get_current_weather"));
    assert_eq!(string(attributes, "gen_ai.operation.name").as_deref(), Some("execute_tool"));
    assert_eq!(string(attributes, "jsonrpc.request.id").as_deref(), Some("7"));
    assert_eq!(string(attributes, "mcp.protocol.version").as_deref(), Some("2025-11-25"));
    assert_eq!(string(attributes, "network.transport").as_deref(), Some("tcp"));
    assert_eq!(string(attributes, "error.type"), None);
    let instantiate = one(&first, "instantiate span", |s| s.name == "instantiate");
    assert_eq!(instantiate.parent_span_id, server.span_id);
    assert_eq!(string(&instantiate.attributes, "mcp_host.component").as_deref(), Some("weather"));
    let run = one(&first, "run span", |s| s.name == "execute_tool get_current_weather");
    assert_eq!(run.parent_span_id, server.span_id);
    let get = one(&first, "outbound span", |s| s.name == "GET");
    assert_eq!(get.kind, 3, "CLIENT");
    assert_eq!(get.parent_span_id, run.span_id);
    assert_eq!(string(&get.attributes, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(int(&get.attributes, "server.port"), Some(i64::from(api.addr.port())));
    assert_eq!(int(&get.attributes, "http.response.status_code"), Some(200));
    let forecast_bytes = i64::try_from(fake::BERLIN.len()).unwrap();
    assert_eq!(int(&get.attributes, "http.response.body.size"), Some(forecast_bytes), "{get:?}");
    assert_eq!(string(&get.attributes, "mcp_host.policy.verdict").as_deref(), Some("allowed"));
    let url = string(&get.attributes, "url.full").unwrap();
    assert!(url.ends_with("/v1/forecast") && !url.contains('?'), "no query in the trace: {url}");
    assert_eq!(first.len(), 4, "{first:#?}");

    // The upstream saw the GET span as its parent: it joins the same trace.
    let seen = api.traceparents.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], traceparent(HEADER_TRACE, &hex(&get.span_id)));

    // `_meta`'s trace context wins over the headers'.
    let second = in_trace(META_TRACE);
    let server = one(&second, "server span", |s| s.name == "tools/call get_current_weather");
    assert_eq!(hex(&server.parent_span_id), META_PARENT);
    assert_eq!(string(&server.attributes, "jsonrpc.request.id").as_deref(), Some("8"));
    let get = one(&second, "outbound span", |s| s.name == "GET");
    assert_eq!(seen[1], traceparent(META_TRACE, &hex(&get.span_id)));
    // Counted as it arrived, not read from a Content-Length there was none of.
    assert_eq!(int(&get.attributes, "http.response.body.size"), Some(forecast_bytes), "{get:?}");
    assert!(in_trace("11111111111111111111111111111111").is_empty());

    // A call without a caller's trace starts its own; the upstream's 400 makes
    // a tool error, on the server span and on the GET span.
    let failed =
        one(&spans, "failed call", |s| string(&s.attributes, "jsonrpc.request.id").as_deref() == Some("9"));
    assert!(failed.parent_span_id.is_empty(), "a root span");
    assert_eq!(string(&failed.attributes, "error.type").as_deref(), Some("tool_error"));
    assert_eq!(failed.status.as_ref().map(|s| s.code), Some(2), "ERROR status");
    let third = in_trace(&hex(&failed.trace_id));
    let get = one(&third, "outbound span", |s| s.name == "GET");
    assert_eq!(int(&get.attributes, "http.response.status_code"), Some(400));
    assert_eq!(string(&get.attributes, "error.type").as_deref(), Some("400"));
    assert_eq!(seen[2], traceparent(&hex(&failed.trace_id), &hex(&get.span_id)));

    // Each request's log line carries its trace id.
    let line = host.logged(&format!("trace_id={HEADER_TRACE}"));
    assert!(line.contains("request") && line.contains("tools/call"), "{line}");

    // Metrics, from the export at shutdown.
    let operation = histogram(&received, "mcp.server.operation.duration");
    let calls = |error: Option<&str>| {
        operation
            .iter()
            .filter(|(a, _)| {
                string(a, "mcp.method.name").as_deref() == Some("tools/call")
                    && string(a, "gen_ai.tool.name").as_deref() == Some("get_current_weather")
                    && string(a, "error.type").as_deref() == error
            })
            .map(|(_, count)| count)
            .sum::<u64>()
    };
    assert_eq!((calls(None), calls(Some("tool_error"))), (2, 1), "{operation:?}");
    let outbound = histogram(&received, "http.client.request.duration");
    let to_fake = |status: i64| {
        outbound
            .iter()
            .filter(|(a, _)| {
                string(a, "server.address").as_deref() == Some("127.0.0.1")
                    && int(a, "http.response.status_code") == Some(status)
                    && string(a, "mcp_host.component").as_deref() == Some("weather")
            })
            .map(|(_, count)| count)
            .sum::<u64>()
    };
    assert_eq!((to_fake(200), to_fake(400)), (2, 1), "{outbound:?}");
    let instantiations: u64 =
        histogram(&received, "mcp_host.instantiate.duration").iter().map(|(_, n)| n).sum();
    assert_eq!(instantiations, 3);
    assert_eq!(numbers(&received, "mcp_host.instances.limit"), vec![("weather".into(), 3)]);
    assert_eq!(
        numbers(&received, "mcp_host.instances.in_use"),
        vec![("weather".into(), 0)],
        "all given back"
    );
    assert_eq!(numbers(&received, "mcp_host.swaps"), vec![("weather".into(), 1)]);

    // The made-up name: the method alone names its span, and no attribute or metric
    // carries it (only the span's error description quotes the protocol's message).
    let refused = one(&spans, "span of the made-up call", |s| {
        string(&s.attributes, "jsonrpc.request.id").as_deref() == Some("10")
    });
    assert_eq!(refused.name, "tools/call");
    assert_eq!(string(&refused.attributes, "gen_ai.tool.name"), None);
    let named: Vec<_> = spans.iter().map(|s| (&s.name, &s.attributes)).collect();
    let everything = format!("{named:?} {operation:?}");
    let at = everything.find(MADE_UP).map(|i| &everything[i.saturating_sub(400)..i + 60]);
    assert!(at.is_none(), "a client's made-up name reached telemetry: {at:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_exported_without_an_endpoint() {
    // Where an OTLP/HTTP exporter sends by default: an SDK that exported
    // without being asked to would reach this receiver.
    let receiver = Receiver::start(([127, 0, 0, 1], 4318).into())
        .await
        .expect("port 4318 (OTLP/HTTP's default) is free for this test");
    let api = fake::spawn(LOOPBACK.into()).await.unwrap();
    let mut host = Host::start_with_env(
        &[("weather", &weather_wasm(), &weather_policy(&api.url()))],
        &[],
        &[("OTEL_SERVICE_NAME", "not-exporting"), ("OTEL_METRIC_EXPORT_INTERVAL", "100")],
    );
    traced_calls(&mut host).await;
    let received = receiver.received.lock().unwrap();
    assert!(received.traces.is_empty() && received.metrics.is_empty() && received.other.is_empty());
    assert_eq!(api.traceparents.lock().unwrap().as_slice(), ["", "", ""], "no trace context is made up");
    assert!(!host.log_text().contains("trace_id="), "{}", host.log_text());
}

/// A caller's trace that it did not sample: nothing recorded, the call still
/// measured, and the upstream hears the same trace and the same choice.
#[tokio::test(flavor = "multi_thread")]
async fn a_trace_the_caller_did_not_sample_is_passed_on_not_recorded() {
    let api = fake::spawn(LOOPBACK.into()).await.unwrap();
    let receiver = Receiver::start(LOOPBACK.into()).await.unwrap();
    let endpoint = receiver.endpoint();
    let mut host = Host::start_with_env(
        &[("weather", &weather_wasm(), &weather_policy(&api.url()))],
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_METRIC_EXPORT_INTERVAL", "60000")],
    );
    let unsampled = format!("00-{HEADER_TRACE}-{HEADER_PARENT}-00");
    let headers = [("traceparent", unsampled.as_str()), ("mcp-protocol-version", "2025-11-25")];
    let reply = host.post(&weather_call(1, 52.52, None), &headers).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["result"]["isError"], Value::Null, "{}", reply.body);
    host.terminate();
    assert!(host.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", host.log_text());

    let received = receiver.received.lock().unwrap();
    let spans = received.spans();
    assert!(spans.is_empty(), "not sampled, not recorded: {spans:#?}");
    let calls: u64 = histogram(&received, "mcp.server.operation.duration").iter().map(|(_, n)| n).sum();
    assert_eq!(calls, 1, "measured all the same");
    let seen = api.traceparents.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (trace, rest) = seen[0].strip_prefix("00-").and_then(|s| s.split_once('-')).unwrap_or_default();
    let (span, flags) = rest.split_once('-').unwrap_or_default();
    assert_eq!((trace, flags), (HEADER_TRACE, "00"), "the same trace, not sampled: {seen:?}");
    assert!(span.len() == 16 && span != HEADER_PARENT, "the host's own span: {seen:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A histogram's data points: attributes and count.
fn histogram(received: &otlp::Received, name: &str) -> Vec<(Vec<otlp::KeyValue>, u64)> {
    match received.metric(name).and_then(|m| m.data) {
        Some(Data::Histogram(h)) => h.data_points.into_iter().map(|p| (p.attributes, p.count)).collect(),
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

/// A sum's or gauge's integer data points, by component.
fn numbers(received: &otlp::Received, name: &str) -> Vec<(String, i64)> {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
    let points = match received.metric(name).and_then(|m| m.data) {
        Some(Data::Sum(sum)) => sum.data_points,
        Some(Data::Gauge(gauge)) => gauge.data_points,
        other => panic!("{name} is not a sum or gauge: {other:?}"),
    };
    points
        .into_iter()
        .map(|p| {
            let value = match p.value {
                Some(N::AsInt(i)) => i,
                other => panic!("{name}: not an integer: {other:?}"),
            };
            (string(&p.attributes, "mcp_host.component").unwrap_or_default(), value)
        })
        .collect()
}

/// Azure Monitor's audience, and the token the identity gives for it.
const MONITOR: &str = "https://monitor.azure.com";
const MONITOR_TOKEN: &str = "entra-token-for-monitor";

/// With `MCP_OTLP_ENTRA_AUDIENCE`, every export carries the managed
/// identity's token for that audience, asked once and reused; an identity
/// endpoint that refuses loses the exports, never a call.
#[tokio::test(flavor = "multi_thread")]
async fn exports_carry_the_managed_identity_token() {
    let api = fake::spawn(LOOPBACK.into()).await.unwrap();
    let policy = weather_policy(&api.url());
    let identity = IdentityEndpoint::start().await;
    assert_eq!(token_for(MONITOR), MONITOR_TOKEN);
    let bearer = format!("Bearer {MONITOR_TOKEN}");
    for secret in [IDENTITY_SECRET, "a-wrong-secret"] {
        let receiver = Receiver::start_requiring(LOOPBACK.into(), &bearer).await.unwrap();
        let endpoint = receiver.endpoint();
        let mut host = Host::start_with_env(
            &[("weather", &weather_wasm(), &policy)],
            &[],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
                ("OTEL_BSP_SCHEDULE_DELAY", "200"),
                ("MCP_OTLP_ENTRA_AUDIENCE", MONITOR),
                ("IDENTITY_ENDPOINT", identity.url()),
                ("IDENTITY_HEADER", secret),
            ],
        );
        for id in 0..3 {
            let reply = host.post(&weather_call(id, 52.52, None), &[]).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert_eq!(reply.json()["result"]["isError"], Value::Null, "{}", reply.body);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        host.terminate();
        assert!(host.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", host.log_text());
        let received = receiver.received.lock().unwrap();
        if secret == IDENTITY_SECRET {
            assert!(received.authorizations.len() >= 3, "{:?}", received.authorizations);
            assert!(received.authorizations.iter().all(|a| a.as_deref() == Some(bearer.as_str())));
            assert_eq!(identity.tokens_given(MONITOR), 1, "one token, reused");
            assert!(!received.spans().is_empty() && !received.metrics().is_empty());
        } else {
            assert!(received.authorizations.iter().all(Option::is_none), "{:?}", received.authorizations);
            assert!(received.spans().is_empty() && received.metrics().is_empty());
            assert!(!host.log_text().contains(MONITOR_TOKEN));
            let log = host.log_text();
            assert_eq!(log.matches("no managed-identity token for OTLP export").count(), 1, "{log}");
        }
    }
}

/// `mcp_host.instances.in_use` is read from the instance slots at each
/// export: one while a call runs, none once it is over.
#[tokio::test(flavor = "multi_thread")]
async fn instances_in_use_are_exported_while_a_call_runs() {
    let receiver = Receiver::start(LOOPBACK.into()).await.unwrap();
    let endpoint = receiver.endpoint();
    let host = Host::start_with_env(
        &[("whoami", &whoami_wasm(), "[limits]\nmax_concurrent = 2\n")],
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_METRIC_EXPORT_INTERVAL", "100")],
    );
    let exported = || {
        let received = receiver.received.lock().unwrap();
        received.metric("mcp_host.instances.in_use").map(|_| numbers(&received, "mcp_host.instances.in_use"))
    };
    let until = |wanted: i64| async move {
        for _ in 0..100 {
            if exported() == Some(vec![("whoami".into(), wanted)]) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("in_use never {wanted}: {:?}", exported());
    };
    until(0).await;
    let mut slow = host.slow_call(3000).await;
    until(1).await;
    let limits = numbers(&receiver.received.lock().unwrap(), "mcp_host.instances.limit");
    assert_eq!(limits, vec![("whoami".into(), 2)]);
    loop {
        let message = slow.next(Duration::from_secs(10)).await.expect("the call's answer");
        if message.get("result").is_some() {
            assert_eq!(message["result"]["isError"], Value::Null, "{message}");
            break;
        }
    }
    until(0).await;
}

/// The status page counts calls of the tools the host serves only: a client's
/// made-up names, in calls refused for any reason, never take its slots.
#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_counts_only_served_tools() {
    let api = fake::spawn(LOOPBACK.into()).await.unwrap();
    let host = Host::start(&[("weather", &weather_wasm(), &weather_policy(&api.url()))], &[]);
    let made_up = "made_up_tool_name_from_a_client";
    for id in 0..3 {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": made_up}});
        let reply = host.post(&call, &[("mcp-session-id", "no-such-session")]).await;
        assert_eq!(reply.status, 404, "{}", reply.body);
    }
    host.call_weather(52.52, 13.41).await;
    let page = host.send("GET", "/status", &[("accept", "text/html")], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("get_current_weather"), "{}", page.body);
    assert!(!page.body.contains(made_up), "{}", page.body);
}

/// What a client puts in a request's method or its protocol-version header
/// is its own: made-up ones must not become span names or metric series
/// (each series is held for the host's life), nor carry their size into them.
#[tokio::test(flavor = "multi_thread")]
async fn made_up_methods_and_versions_are_not_kept_as_they_came() {
    let receiver = Receiver::start(LOOPBACK.into()).await.unwrap();
    let endpoint = receiver.endpoint();
    let mut host = Host::start_with_env(
        &[("whoami", &whoami_wasm(), "")],
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_METRIC_EXPORT_INTERVAL", "60000")],
    );
    let long = |i: usize| format!("{i:04}{}", "x".repeat(16 << 10));
    for i in 0..20 {
        let made_up = json!({"jsonrpc": "2.0", "id": i, "method": long(i), "params": {}});
        let reply = host.post(&made_up, &[("mcp-protocol-version", "2025-11-25")]).await;
        assert!(reply.json()["error"].is_object(), "{}", reply.body);
        let list = json!({"jsonrpc": "2.0", "id": i, "method": "tools/list", "params": {}});
        let reply = host.post(&list, &[("mcp-protocol-version", &long(i))]).await;
        assert!(reply.status >= 400 || reply.json()["error"].is_object(), "{}", reply.body);
    }
    host.terminate();
    assert!(host.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", host.log_text());

    let received = receiver.received.lock().unwrap();
    let spans = received.spans();
    assert!(spans.len() >= 20, "the requests are traced: {}", spans.len());
    for (_, span) in &spans {
        assert!(span.name.len() <= 64, "span name of {} bytes", span.name.len());
        for attribute in &span.attributes {
            let value = string(std::slice::from_ref(attribute), &attribute.key).unwrap_or_default();
            assert!(value.len() <= 128, "{} of {} bytes in a span", attribute.key, value.len());
        }
    }
    let series = histogram(&received, "mcp.server.operation.duration");
    let values = |key: &str| -> std::collections::BTreeSet<String> {
        series.iter().filter_map(|(attributes, _)| string(attributes, key)).collect()
    };
    assert!(values("mcp.method.name").iter().all(|m| m.len() <= 64), "{:?}", values("mcp.method.name").len());
    assert!(
        values("mcp.method.name").len() <= 2,
        "one series per made-up method: {}",
        values("mcp.method.name").len()
    );
    assert!(
        values("mcp.protocol.version").iter().all(|v| v.len() <= 16),
        "{}",
        values("mcp.protocol.version").len()
    );
    assert!(series.len() <= 4, "{} series", series.len());
}

/// A component asks for any host and method it likes: the outbound metric,
/// whose series the host keeps for its life, names only destinations the
/// policy allows, and the spans carry the made-up ones cut short.
#[tokio::test(flavor = "multi_thread")]
async fn made_up_destinations_make_no_series_of_their_own() {
    let receiver = Receiver::start(LOOPBACK.into()).await.unwrap();
    let endpoint = receiver.endpoint();
    let policy = "[outbound]\nallow = [\"https://api.example.com\"]\n";
    let mut host = Host::start_with_env(
        &[("hostile", &mcp_e2e::harness::hostile_wasm(), policy)],
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_METRIC_EXPORT_INTERVAL", "60000")],
    );
    for i in 0..20 {
        let host_name = format!("{i:02}{}.{}.{}.invalid", "a".repeat(60), "b".repeat(63), "c".repeat(63));
        let url = format!("http://{host_name}/{}", "p".repeat(4 << 10));
        let reply = host.call("fetch", json!({"url": url})).await;
        let text = reply["content"][0]["text"].as_str().unwrap_or_default().to_owned();
        assert!(text.starts_with("failed"), "denied: {reply}");
    }
    host.terminate();
    assert!(host.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", host.log_text());

    let received = receiver.received.lock().unwrap();
    let series = histogram(&received, "http.client.request.duration");
    let addresses: std::collections::BTreeSet<_> =
        series.iter().filter_map(|(attributes, _)| string(attributes, "server.address")).collect();
    assert_eq!(addresses.into_iter().collect::<Vec<_>>(), ["_OTHER"], "{} series", series.len());
    let denied: Vec<_> = received.spans().into_iter().filter(|(_, s)| s.kind == 3).collect();
    assert_eq!(denied.len(), 20, "a span for each denied request");
    for (_, span) in &denied {
        let address = string(&span.attributes, "server.address").unwrap_or_default();
        assert!(address.ends_with(".invalid") && address.len() <= 253, "{address}");
        let url = string(&span.attributes, "url.full").unwrap_or_default();
        assert!(url.starts_with("http://") && url.len() <= 512, "url.full of {} bytes", url.len());
    }
}
