//! The benchmark's native baseline: `mcp-host`, same arguments, whose weather
//! component's tool calls run as plain Rust instead of in a sandboxed instance.
//!
//! The tool does what guest/weather does, with the component's own source for
//! the request URL and the parsing (its `forecast.rs`, compiled natively here),
//! through the host's outbound client under the component's policy. Everything else (HTTP, protocol,
//! limits, tools/list, resources) is the host's, so the difference between the
//! two servers is what the sandbox costs.

use std::sync::Arc;
use std::time::Duration;

use mcp_host::{NativeFuture, NativeTool, Natives, Outbound};
use mcp_protocol::{CallError, CallEvent, CallRequest, CallToolResult, ContentBlock, LogLevel};
use tokio::sync::mpsc;

#[path = "../../../guest/weather/src/forecast.rs"]
mod forecast;

use forecast::Query;

/// As guest/weather: the upstream exchange and the largest forecast accepted.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_UPSTREAM_BODY: usize = 256 * 1024;

struct Weather;

impl NativeTool for Weather {
    fn call(
        &self,
        request: CallRequest,
        outbound: Outbound,
        events: mpsc::Sender<CallEvent>,
    ) -> NativeFuture {
        Box::pin(current_weather(request, outbound, events))
    }
}

async fn current_weather(
    request: CallRequest,
    mut outbound: Outbound,
    events: mpsc::Sender<CallEvent>,
) -> Result<CallToolResult, CallError> {
    if request.name != "get_current_weather" {
        return Err(CallError::UnknownTool);
    }
    let query = match Query::from_arguments(&request.arguments) {
        Ok(query) => query,
        Err(message) => return Ok(CallToolResult::error(message)),
    };
    let base = outbound.env("OPEN_METEO_URL").unwrap_or("https://api.open-meteo.com").to_owned();
    let url = query.url(&base, outbound.env("OPEN_METEO_API_KEY").filter(|k| !k.is_empty()));
    let progress = |progress: f64, message: &str| CallEvent::Progress {
        progress,
        total: Some(1.0),
        message: Some(message.into()),
    };
    if request.progress_token.is_some() {
        let _ = events.send(progress(0.0, "Asking Open-Meteo for current conditions")).await;
    }
    let fetched = tokio::time::timeout(UPSTREAM_TIMEOUT, outbound.get(&url, "application/json")).await;
    let (status, body) = match fetched {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            return Ok(CallToolResult::error(format!("Could not reach the weather service: {error}.")));
        }
        Err(_) => return Ok(CallToolResult::error("The weather service did not answer in time.")),
    };
    if body.len() > MAX_UPSTREAM_BODY {
        return Ok(CallToolResult::error("The weather service sent an unexpectedly large answer."));
    }
    if request.log_level.is_some_and(|min| LogLevel::Debug >= min) {
        let data = format!("Open-Meteo answered HTTP {status} ({} bytes)", body.len()).into();
        let _ = events.send(CallEvent::Log { level: LogLevel::Debug, logger: None, data }).await;
    }
    if request.progress_token.is_some() {
        let _ = events.send(progress(1.0, "Received current conditions")).await;
    }
    Ok(match forecast::parse(status, &body) {
        Ok(conditions) => CallToolResult {
            content: vec![ContentBlock::Text { text: conditions.summary() }],
            structured_content: Some(conditions.structured()),
            ..CallToolResult::default()
        },
        Err(message) => CallToolResult::error(message),
    })
}

fn main() -> anyhow::Result<()> {
    let natives: Natives = [("weather".to_owned(), Arc::new(Weather) as Arc<dyn NativeTool>)].into();
    mcp_host::main_with(natives)
}

/// mimalloc: see the workspace's Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
