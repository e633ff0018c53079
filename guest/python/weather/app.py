"""`get_current_weather` in Python: current conditions from the Open-Meteo
forecast API, with the same widget and answers as the Rust component
(guest/weather).

Configuration (environment, granted by the host's policy):
- `OPEN_METEO_URL`: the API base, default `https://api.open-meteo.com`;
- `OPEN_METEO_API_KEY`: optional key for the commercial endpoint;
- `WIDGET_DOMAIN`: optional origin ChatGPT renders the widget under.
"""

import json
from typing import Annotated

import forecast
from mcp_tool import Context, Contents, Field, Result, env, http, resource, tool
from weather_widget import HTML  # guest/weather/src/widget.html, written in by `make build`
from weather_skill import SKILL  # guest/weather/skills/current-weather/SKILL.md, likewise

DEFAULT_BASE_URL = "https://api.open-meteo.com"
UPSTREAM_TIMEOUT_S = 10
# Current conditions are about 1 KiB; anything far larger is not a forecast.
MAX_UPSTREAM_BODY = 256 * 1024

WIDGET_URI = "ui://widget/current-weather.html"
MCP_APP_URI = "ui://widget/current-weather.mcp-app.html"
WIDGET_SIZE = len(HTML.encode())


def _nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


OUTPUT_SCHEMA = {
    "type": "object",
    "required": ["location", "observedAt", "current", "units", "attribution"],
    "properties": {
        "location": {
            "type": "object",
            "required": ["latitude", "longitude"],
            "properties": {
                "latitude": {"type": "number", "description": "Centre of the grid cell the API used."},
                "longitude": {"type": "number"},
                "elevation": _nullable("number"),
                "timezone": _nullable("string"),
                "timezoneAbbreviation": _nullable("string"),
                "utcOffsetSeconds": _nullable("integer"),
            },
        },
        "observedAt": {"type": "string", "description": "Local time of the observation (ISO 8601, no offset)."},
        "current": {
            "type": "object",
            "properties": {
                **{name: _nullable("number") for name in [
                    "temperature", "apparentTemperature", "relativeHumidity", "precipitation", "cloudCover",
                    "pressure", "windSpeed", "windDirection"]},
                "windDirectionCardinal": _nullable("string"),
                "windGusts": _nullable("number"),
                "weatherCode": _nullable("integer"),
                "condition": {"type": "string"},
                "isDay": _nullable("boolean"),
            },
        },
        "units": {"type": "object", "additionalProperties": {"type": "string"}},
        "attribution": {"type": "string"},
        "attributionUrl": {"type": "string"},
    },
}


@tool(
    title="Current weather",
    annotations={"title": "Current weather", "readOnlyHint": True, "destructiveHint": False,
                 "idempotentHint": True, "openWorldHint": True},
    output_schema=OUTPUT_SCHEMA,
    meta={
        "openai/outputTemplate": WIDGET_URI,
        "openai/toolInvocation/invoking": "Checking the current weather…",
        "openai/toolInvocation/invoked": "Current weather ready",
        "openai/widgetAccessible": True,
        "ui": {"resourceUri": MCP_APP_URI, "visibility": ["model", "app"]},
        # The flat key of early MCP Apps drafts, still read by some hosts.
        "ui/resourceUri": MCP_APP_URI,
        # Public: callable without signing in when the host has OAuth on.
        "securitySchemes": [{"type": "noauth"}],
    },
)
async def get_current_weather(
    latitude: Annotated[float, Field("Latitude of the place the user asked about, in decimal degrees (WGS84).",
                                     ge=-90.0, le=90.0, unit="degrees")],
    longitude: Annotated[float, Field("Longitude of the place the user asked about, in decimal degrees (WGS84).",
                                      ge=-180.0, le=180.0, unit="degrees")],
    ctx: Context,
) -> Result:
    """Use this when the user asks about the current weather (temperature, feels-like, wind, humidity,
    precipitation, sky) at a place. Takes the WGS84 coordinates of the place the user named, resolved by
    you, not the user's device position. Returns the latest observation-style values from Open-Meteo."""
    base = env("OPEN_METEO_URL", DEFAULT_BASE_URL)
    url = forecast.url(base, latitude, longitude, env("OPEN_METEO_API_KEY") or None)
    await ctx.report_progress(0.0, 1.0, "Asking Open-Meteo for current conditions")
    try:
        response = http.get(url, UPSTREAM_TIMEOUT_S, MAX_UPSTREAM_BODY)
    except http.FetchError as error:
        await ctx.warning(f"forecast request failed: {error}")
        return Result([fetch_error_message(error, base)], is_error=True)
    await ctx.debug(f"Open-Meteo answered HTTP {response.status} ({len(response.body)} bytes)")
    await ctx.report_progress(1.0, 1.0, "Received current conditions")
    try:
        conditions = forecast.parse(response.status, response.body)
    except ValueError as error:
        return Result([str(error)], is_error=True)
    return Result([conditions.summary()], structured=conditions.structured())


def fetch_error_message(error: http.FetchError, base: str) -> str:
    if error.kind == "denied":
        return f"The weather service at {base} is not reachable from this tool: the host's policy does not allow it."
    if error.kind == "timeout":
        return f"The weather service did not answer within {UPSTREAM_TIMEOUT_S} seconds. Please try again shortly."
    if error.kind == "too_large":
        return "The weather service sent an unexpectedly large answer."
    if error.kind == "bad_url":
        return f"The weather service address {json.dumps(base)} is not a valid http(s) URL."
    return f"Could not reach the weather service: {error}."


def widget_domain() -> str | None:
    """`WIDGET_DOMAIN` as an origin: `weather.example.com` and
    `https://weather.example.com/` both mean `https://weather.example.com`."""
    value = (env("WIDGET_DOMAIN") or "").strip().rstrip("/")
    if not value:
        return None
    return value if "://" in value else f"https://{value}"


def widget_meta() -> dict:
    """No outside domains at all (everything is inline), a bordered card,
    and a summary for the model."""
    meta = {
        "openai/widgetDescription": "Shows the current temperature, conditions, feels-like, wind, gusts and "
                                    "humidity for the requested place, with a button to refresh them.",
        "openai/widgetPrefersBorder": True,
        "openai/widgetCSP": {"connect_domains": [], "resource_domains": []},
        "ui": {"prefersBorder": True, "csp": {"connectDomains": [], "resourceDomains": []}},
    }
    domain = widget_domain()
    if domain:
        meta["openai/widgetDomain"] = domain
    return meta


@resource(WIDGET_URI, name="current-weather-widget", title="Current weather widget",
          description="Interactive card that renders get_current_weather results.",
          mime_type="text/html+skybridge", size=WIDGET_SIZE, meta=widget_meta)
def skybridge_widget() -> Contents:
    return Contents(HTML, meta=widget_meta())


@resource(MCP_APP_URI, name="current-weather-mcp-app", title="Current weather widget (MCP Apps)",
          description="Interactive card that renders get_current_weather results.",
          mime_type="text/html;profile=mcp-app", size=WIDGET_SIZE, meta=widget_meta)
def mcp_app_widget() -> Contents:
    return Contents(HTML, meta=widget_meta())



@resource("skill://current-weather/SKILL.md", name="current-weather", title="Current weather skill",
          description="When and how to use get_current_weather to answer questions about the weather at a "
          "place right now.",
          mime_type="text/markdown", size=len(SKILL.encode()))
def skill() -> str:
    """The Skills extension's SKILL.md: when and how to call the tool (the host lists it)."""
    return SKILL


from mcp_tool.exports import *  # noqa: E402,F401,F403 (the exports componentize-py looks for)
