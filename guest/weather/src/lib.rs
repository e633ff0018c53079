//! `get_current_weather`: current conditions from the Open-Meteo forecast API.
//!
//! Configuration (environment, granted by the host's policy or `wasmtime serve --env`):
//! - `OPEN_METEO_URL`: the API base, default `https://api.open-meteo.com`;
//! - `OPEN_METEO_API_KEY`: optional key for the commercial endpoint;
//! - `WIDGET_DOMAIN`: optional origin ChatGPT renders the widget under
//!   (`openai/widgetDomain`, required for app submission), e.g. `https://weather.example.com`.

use std::time::Duration;

use mcp_guest::fetch::{self, FetchError};
use mcp_guest::protocol::{
    CallError, CallRequest, CallToolResult, ContentBlock, Implementation, LogLevel, ReadError, Resource,
    ResourceContents, Tool,
};
use mcp_guest::{Context, Server};

mod definition;
mod forecast;

use definition::Widget;

pub use forecast::{Conditions, Query};

const DEFAULT_BASE_URL: &str = "https://api.open-meteo.com";
/// The whole upstream exchange; the host may enforce less.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Current conditions are about 1 KiB; anything far larger is not a forecast.
const MAX_UPSTREAM_BODY: usize = 256 * 1024;

struct Weather;

impl Server for Weather {
    fn tools() -> Vec<Tool> {
        vec![definition::tool()]
    }

    async fn call(request: CallRequest, cx: Context) -> Result<CallToolResult, CallError> {
        if request.name != definition::TOOL_NAME {
            return Err(CallError::UnknownTool);
        }
        Ok(match Query::from_arguments(&request.arguments) {
            Ok(query) => current_weather(&query, &cx).await,
            Err(message) => CallToolResult::error(message),
        })
    }

    /// The widget twice, one HTML: for ChatGPT's Apps SDK and for MCP Apps
    /// hosts; and the skill.
    fn resources() -> Vec<Resource> {
        let domain = widget_domain();
        let widgets =
            Widget::ALL.into_iter().map(|widget| definition::widget_resource(widget, domain.as_deref()));
        widgets.chain([definition::skill_resource()]).collect()
    }

    fn read(uri: &str) -> Result<Vec<ResourceContents>, ReadError> {
        if uri == definition::SKILL_URI {
            return Ok(vec![definition::skill_contents()]);
        }
        let widget = Widget::from_uri(uri).ok_or(ReadError::NotFound)?;
        Ok(vec![definition::widget_contents(widget, widget_domain().as_deref())])
    }

    fn implementation() -> Implementation {
        Implementation {
            name: "weather".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            title: Some("Current weather".into()),
        }
    }
}

mcp_guest::export!(Weather);

/// `WIDGET_DOMAIN`, as granted by the host's policy.
fn widget_domain() -> Option<String> {
    definition::widget_domain(std::env::var("WIDGET_DOMAIN").ok().as_deref())
}

async fn current_weather(query: &Query, cx: &Context) -> CallToolResult {
    let base = std::env::var("OPEN_METEO_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.into());
    let api_key = std::env::var("OPEN_METEO_API_KEY").ok().filter(|k| !k.is_empty());
    let url = query.url(&base, api_key.as_deref());
    cx.progress(0.0, Some(1.0), Some("Asking Open-Meteo for current conditions")).await;
    let fetched = fetch::get(&url, UPSTREAM_TIMEOUT, MAX_UPSTREAM_BODY);
    let response = match fetched {
        Ok(response) => response,
        Err(error) => {
            cx.log(LogLevel::Warning, format!("forecast request failed: {error}")).await;
            return CallToolResult::error(fetch_error_message(&error, &base));
        }
    };
    cx.log(
        LogLevel::Debug,
        format!("Open-Meteo answered HTTP {} ({} bytes)", response.status, response.body.len()),
    )
    .await;
    cx.progress(1.0, Some(1.0), Some("Received current conditions")).await;
    match forecast::parse(response.status, &response.body) {
        Ok(conditions) => CallToolResult {
            content: vec![ContentBlock::text(conditions.summary())],
            structured_content: Some(conditions.structured()),
            ..CallToolResult::default()
        },
        Err(message) => CallToolResult::error(message),
    }
}

fn fetch_error_message(error: &FetchError, base: &str) -> String {
    match error {
        FetchError::Denied => format!(
            "The weather service at {base} is not reachable from this tool: the host's policy does not allow it."
        ),
        FetchError::Timeout => format!(
            "The weather service did not answer within {} seconds. Please try again shortly.",
            UPSTREAM_TIMEOUT.as_secs()
        ),
        FetchError::TooLarge(_) => "The weather service sent an unexpectedly large answer.".into(),
        FetchError::BadUrl(_) => format!("The weather service address {base:?} is not a valid http(s) URL."),
        FetchError::Failed(reason) => format!("Could not reach the weather service: {reason}."),
    }
}
