//! What the component offers: the tool's definition, the widget resource and
//! the skill that teaches a model when and how to call the tool.

use mcp_guest::protocol::{JsonObject, Resource, ResourceContents, ResourceInfo, Tool, ToolAnnotations};
use serde_json::{Value, json};

pub const TOOL_NAME: &str = "get_current_weather";
/// The widget as ChatGPT's Apps SDK reads it (`openai/outputTemplate`).
pub const WIDGET_URI: &str = "ui://widget/current-weather.html";
pub const WIDGET_MIME: &str = "text/html+skybridge";
/// The same widget as an MCP Apps resource (`_meta.ui.resourceUri`): hosts enable
/// the `ui/*` postMessage bridge only for this MIME type.
pub const MCP_APP_URI: &str = "ui://widget/current-weather.mcp-app.html";
pub const MCP_APP_MIME: &str = "text/html;profile=mcp-app";
const WIDGET_HTML: &str = include_str!("widget.html");
/// The Skills extension's `SKILL.md` (its name is the path's last segment).
pub const SKILL_URI: &str = "skill://current-weather/SKILL.md";
const SKILL_MD: &str = include_str!("../skills/current-weather/SKILL.md");

/// One form of the widget: where it lives and what type it is served as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Widget {
    /// `text/html+skybridge`, for ChatGPT's `window.openai` bridge.
    Skybridge,
    /// `text/html;profile=mcp-app`, for MCP Apps hosts (Claude, VS Code, Goose, ChatGPT…).
    McpApp,
}

impl Widget {
    pub const ALL: [Widget; 2] = [Widget::Skybridge, Widget::McpApp];

    pub fn from_uri(uri: &str) -> Option<Widget> {
        Widget::ALL.into_iter().find(|w| w.uri() == uri)
    }

    pub fn uri(self) -> &'static str {
        match self {
            Widget::Skybridge => WIDGET_URI,
            Widget::McpApp => MCP_APP_URI,
        }
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            Widget::Skybridge => WIDGET_MIME,
            Widget::McpApp => MCP_APP_MIME,
        }
    }
}

/// The origin ChatGPT should render the widget under (`openai/widgetDomain`),
/// from a configured value: `weather.example.com` and `https://weather.example.com/`
/// both mean `https://weather.example.com`; blank means unset.
pub fn widget_domain(configured: Option<&str>) -> Option<String> {
    let value = configured?.trim().trim_end_matches('/');
    if value.is_empty() {
        return None;
    }
    Some(if value.contains("://") { value.to_owned() } else { format!("https://{value}") })
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(object) => object,
        _ => unreachable!("literal objects only"),
    }
}

pub fn tool() -> Tool {
    let number = |description: &str, min: f64, max: f64| json!({ "type": "number", "minimum": min, "maximum": max, "description": description });
    let nullable = |kind: &str| json!({ "type": [kind, "null"] });
    Tool {
        name: TOOL_NAME.into(),
        title: Some("Current weather".into()),
        description: "Use this when the user asks about the current weather (temperature, feels-like, \
            wind, humidity, precipitation, sky) at a place. Takes the WGS84 coordinates of the place the \
            user named, resolved by you, not the user's device position. Returns the latest observation-style \
            values from Open-Meteo."
            .into(),
        input_schema: object(json!({
            "type": "object",
            "properties": {
                "latitude": number("Latitude of the place the user asked about, in decimal degrees (WGS84).", -90.0, 90.0),
                "longitude": number("Longitude of the place the user asked about, in decimal degrees (WGS84).", -180.0, 180.0),
            },
            "required": ["latitude", "longitude"],
            "additionalProperties": false,
        })),
        output_schema: Some(object(json!({
            "type": "object",
            "required": ["location", "observedAt", "current", "units", "attribution"],
            "properties": {
                "location": {
                    "type": "object",
                    "required": ["latitude", "longitude"],
                    "properties": {
                        "latitude": { "type": "number", "description": "Centre of the grid cell the API used." },
                        "longitude": { "type": "number" },
                        "elevation": nullable("number"),
                        "timezone": nullable("string"),
                        "timezoneAbbreviation": nullable("string"),
                        "utcOffsetSeconds": nullable("integer"),
                    },
                },
                "observedAt": { "type": "string", "description": "Local time of the observation (ISO 8601, no offset)." },
                "current": {
                    "type": "object",
                    "properties": {
                        "temperature": nullable("number"),
                        "apparentTemperature": nullable("number"),
                        "relativeHumidity": nullable("number"),
                        "precipitation": nullable("number"),
                        "cloudCover": nullable("number"),
                        "pressure": nullable("number"),
                        "windSpeed": nullable("number"),
                        "windDirection": nullable("number"),
                        "windDirectionCardinal": nullable("string"),
                        "windGusts": nullable("number"),
                        "weatherCode": nullable("integer"),
                        "condition": { "type": "string" },
                        "isDay": nullable("boolean"),
                    },
                },
                "units": { "type": "object", "additionalProperties": { "type": "string" } },
                "attribution": { "type": "string" },
                "attributionUrl": { "type": "string" },
            },
        }))),
        annotations: Some(ToolAnnotations {
            title: Some("Current weather".into()),
            read_only_hint: Some(true),
            destructive_hint: Some(false),
            idempotent_hint: Some(true),
            open_world_hint: Some(true),
        }),
        meta: Some(object(json!({
            "openai/outputTemplate": WIDGET_URI,
            "openai/toolInvocation/invoking": "Checking the current weather…",
            "openai/toolInvocation/invoked": "Current weather ready",
            "openai/widgetAccessible": true,
            "ui": { "resourceUri": MCP_APP_URI, "visibility": ["model", "app"] },
            // The flat key of early MCP Apps drafts, still read by some hosts.
            "ui/resourceUri": MCP_APP_URI,
            // Public: callable without signing in when the host has OAuth on.
            "securitySchemes": [{ "type": "noauth" }],
        }))),
    }
}

/// What both kinds of host read about the widget: no outside domains at all
/// (everything is inline), a bordered card, and a summary for the model.
/// `domain` is the configured ChatGPT sandbox origin; `ui.domain` is left
/// unset on purpose, since Claude rejects any value but its own hash.
fn widget_meta(domain: Option<&str>) -> JsonObject {
    let mut meta = object(json!({
        "openai/widgetDescription": "Shows the current temperature, conditions, feels-like, wind, gusts and humidity \
            for the requested place, with a button to refresh them.",
        "openai/widgetPrefersBorder": true,
        "openai/widgetCSP": { "connect_domains": [], "resource_domains": [] },
        "ui": { "prefersBorder": true, "csp": { "connectDomains": [], "resourceDomains": [] } },
    }));
    if let Some(domain) = domain {
        meta.insert("openai/widgetDomain".into(), domain.into());
    }
    meta
}

pub fn widget_resource(widget: Widget, domain: Option<&str>) -> Resource {
    let (name, title) = match widget {
        Widget::Skybridge => ("current-weather-widget", "Current weather widget"),
        Widget::McpApp => ("current-weather-mcp-app", "Current weather widget (MCP Apps)"),
    };
    let info = ResourceInfo {
        name: name.into(),
        title: Some(title.into()),
        description: Some("Interactive card that renders get_current_weather results.".into()),
        mime_type: Some(widget.mime_type().into()),
        meta: Some(widget_meta(domain)),
    };
    Resource { uri: widget.uri().into(), info, size: Some(WIDGET_HTML.len() as u64) }
}

/// The skill, a Markdown resource (its host lists it with `skills/list`).
pub fn skill_resource() -> Resource {
    let info = ResourceInfo {
        name: "current-weather".into(),
        title: Some("Current weather skill".into()),
        description: Some(
            "When and how to use get_current_weather to answer questions about the weather at a place right now."
                .into(),
        ),
        mime_type: Some("text/markdown".into()),
        meta: None,
    };
    Resource { uri: SKILL_URI.into(), info, size: Some(SKILL_MD.len() as u64) }
}

pub fn skill_contents() -> ResourceContents {
    ResourceContents::text(SKILL_URI, Some("text/markdown".into()), SKILL_MD.into())
}

pub fn widget_contents(widget: Widget, domain: Option<&str>) -> ResourceContents {
    ResourceContents {
        meta: Some(widget_meta(domain)),
        ..ResourceContents::text(widget.uri(), Some(widget.mime_type().into()), WIDGET_HTML.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_is_valid_and_meta_strings_fit() {
        let tool = tool();
        tool.validate().unwrap();
        let meta = tool.meta.unwrap();
        for key in ["openai/toolInvocation/invoking", "openai/toolInvocation/invoked"] {
            assert!(meta[key].as_str().unwrap().chars().count() <= 64, "{key}");
        }
        assert_eq!(meta["openai/outputTemplate"], WIDGET_URI);
        assert_eq!(meta["ui"]["resourceUri"], MCP_APP_URI);
        assert_eq!(meta["ui/resourceUri"], MCP_APP_URI);
        assert_eq!(meta["ui"]["visibility"], json!(["model", "app"]));
        assert_eq!(meta["openai/widgetAccessible"], true);
        assert_eq!(meta["securitySchemes"], json!([{ "type": "noauth" }]));
    }

    #[test]
    fn both_forms_serve_the_same_html_with_their_own_type() {
        for widget in Widget::ALL {
            assert_eq!(Widget::from_uri(widget.uri()), Some(widget));
            let listed = widget_resource(widget, None);
            let read = widget_contents(widget, None);
            assert_eq!((listed.uri.as_str(), read.uri.as_str()), (widget.uri(), widget.uri()));
            assert_eq!(listed.info.mime_type, read.mime_type);
            assert_eq!(read.text.as_deref(), Some(WIDGET_HTML));
            assert_eq!(listed.size, Some(WIDGET_HTML.len() as u64));
            let meta = read.meta.unwrap();
            assert_eq!(meta["ui"]["csp"], json!({ "connectDomains": [], "resourceDomains": [] }));
            assert_eq!(meta["openai/widgetCSP"], json!({ "connect_domains": [], "resource_domains": [] }));
            assert_eq!(
                (&meta["ui"]["prefersBorder"], &meta["openai/widgetPrefersBorder"]),
                (&json!(true), &json!(true))
            );
            assert!(meta["openai/widgetDescription"].as_str().unwrap().len() > 20);
            assert!(!meta.contains_key("openai/widgetDomain") && meta["ui"].get("domain").is_none());
        }
        assert_eq!(Widget::Skybridge.mime_type(), "text/html+skybridge");
        assert_eq!(Widget::McpApp.mime_type(), "text/html;profile=mcp-app");
        assert_eq!(Widget::from_uri("ui://widget/other.html"), None);
    }

    #[test]
    fn the_chatgpt_widget_domain_is_configurable() {
        assert_eq!(widget_domain(None), None);
        assert_eq!(widget_domain(Some("  ")), None);
        assert_eq!(
            widget_domain(Some("weather.example.com")).as_deref(),
            Some("https://weather.example.com")
        );
        assert_eq!(widget_domain(Some("https://w.example.com/")).as_deref(), Some("https://w.example.com"));
        let domain = widget_domain(Some("https://weather.example.com"));
        for widget in Widget::ALL {
            let listed = widget_resource(widget, domain.as_deref()).info.meta.unwrap();
            let read = widget_contents(widget, domain.as_deref()).meta.unwrap();
            assert_eq!(listed["openai/widgetDomain"], "https://weather.example.com");
            assert_eq!(read["openai/widgetDomain"], "https://weather.example.com");
            assert!(read["ui"].get("domain").is_none(), "Claude rejects foreign ui.domain values");
        }
    }

    #[test]
    fn widget_is_self_contained() {
        for needle in ["http://", "https://", "src=", "@import", "url("] {
            let allowed = |line: &str| line.contains("open-meteo.com/\"");
            let offending: Vec<_> =
                WIDGET_HTML.lines().filter(|l| l.contains(needle) && !allowed(l)).collect();
            assert!(offending.is_empty(), "{needle}: {offending:?}");
        }
    }
}
