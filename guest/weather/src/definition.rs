//! What the component offers: the tool's definition and the widget resource.

use mcp_guest::protocol::{JsonObject, Resource, ResourceContents, Tool, ToolAnnotations};
use serde_json::{Value, json};

pub const TOOL_NAME: &str = "get_current_weather";
pub const WIDGET_URI: &str = "ui://widget/current-weather.html";
pub const WIDGET_MIME: &str = "text/html+skybridge";
const WIDGET_HTML: &str = include_str!("widget.html");

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
            "ui": { "resourceUri": WIDGET_URI, "visibility": ["model", "app"] },
        }))),
    }
}

fn widget_meta() -> JsonObject {
    object(json!({
        "openai/widgetDescription": "Shows the current temperature, conditions, wind and humidity for the requested place.",
        "openai/widgetPrefersBorder": true,
        "openai/widgetCSP": { "connect_domains": [], "resource_domains": [] },
        "ui": { "prefersBorder": true, "csp": { "connectDomains": [], "resourceDomains": [] } },
    }))
}

pub fn widget_resource() -> Resource {
    Resource {
        uri: WIDGET_URI.into(),
        name: "current-weather-widget".into(),
        title: Some("Current weather widget".into()),
        description: Some("Interactive card that renders get_current_weather results.".into()),
        mime_type: Some(WIDGET_MIME.into()),
        size: Some(WIDGET_HTML.len() as u64),
        meta: Some(widget_meta()),
    }
}

pub fn widget_contents() -> ResourceContents {
    ResourceContents {
        meta: Some(widget_meta()),
        ..ResourceContents::text(WIDGET_URI, Some(WIDGET_MIME.into()), WIDGET_HTML.into())
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
        assert_eq!(meta["ui"]["resourceUri"], meta["openai/outputTemplate"]);
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
