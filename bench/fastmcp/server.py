"""The weather tool written with Python FastMCP: the reference the benchmark
compares mcp-host with. It does what guest/weather does, step for step: the
same argument checks, the same Open-Meteo request (URL, query, Accept header),
the same structured content and summary sentence.

Served like a production deployment of the original sample app: uvicorn, one
worker, stateless streamable HTTP with JSON responses, in one of two styles:
- async: an async tool with one shared httpx client (keep-alive pool);
- sync: the simple way, a plain function with one shared `requests` session
  (FastMCP runs it on a worker thread).

Usage: python server.py PORT [async|sync]   (environment: OPEN_METEO_URL)
"""

import json
import os
import sys

import httpx
import requests
import uvicorn
from fastmcp import FastMCP
from fastmcp.tools import ToolResult
from mcp.types import TextContent

BASE_URL = os.environ.get("OPEN_METEO_URL", "https://api.open-meteo.com").rstrip("/")
CURRENT = (
    "temperature_2m,relative_humidity_2m,apparent_temperature,is_day,precipitation,"
    "weather_code,cloud_cover,pressure_msl,wind_speed_10m,wind_direction_10m,wind_gusts_10m"
)
ATTRIBUTION = "Weather data by Open-Meteo.com"
MAX_UPSTREAM_BODY = 256 * 1024
WMO = {
    0: "Clear sky", 1: "Mainly clear", 2: "Partly cloudy", 3: "Overcast", 45: "Fog",
    48: "Depositing rime fog", 51: "Light drizzle", 53: "Moderate drizzle", 55: "Dense drizzle",
    56: "Light freezing drizzle", 57: "Dense freezing drizzle", 61: "Slight rain",
    63: "Moderate rain", 65: "Heavy rain", 66: "Light freezing rain", 67: "Heavy freezing rain",
    71: "Slight snowfall", 73: "Moderate snowfall", 75: "Heavy snowfall", 77: "Snow grains",
    80: "Slight rain showers", 81: "Moderate rain showers", 82: "Violent rain showers",
    85: "Slight snow showers", 86: "Heavy snow showers", 95: "Thunderstorm",
    96: "Thunderstorm with slight hail", 99: "Thunderstorm with heavy hail",
}
POINTS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"]

DESCRIPTION = "Current weather conditions at a latitude and longitude, from Open-Meteo."
ACCEPT = {"accept": "application/json"}

mcp = FastMCP("weather")


def coordinate(value, name, limit):
    if value is None:
        raise ValueError(f"Missing argument {name}: give it in decimal degrees.")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of decimal degrees; got {value}.")
    if not abs(value) <= limit:
        raise ValueError(f"{name} must be between -{limit} and {limit} degrees; got {value}.")
    return round(float(value), 4)


def number(value):
    """A number as Rust's Display writes it: 87.0 is "87"."""
    return str(int(value)) if float(value).is_integer() else str(value)


def cardinal(degrees):
    return POINTS[round((degrees % 360) / 22.5) % 16]


def error(message):
    return ToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def forecast_url(latitude, longitude):
    """The Open-Meteo request; ValueError for arguments the model must fix."""
    lat, lon = coordinate(latitude, "latitude", 90), coordinate(longitude, "longitude", 180)
    return f"{BASE_URL}/v1/forecast?latitude={number(lat)}&longitude={number(lon)}&current={CURRENT}&timezone=auto"


def serve_async():
    client = httpx.AsyncClient(timeout=10.0)

    @mcp.tool(description=DESCRIPTION)
    async def get_current_weather(latitude: float, longitude: float) -> ToolResult:
        try:
            url = forecast_url(latitude, longitude)
        except ValueError as e:
            return error(str(e))
        try:
            response = await client.get(url, headers=ACCEPT)
        except httpx.HTTPError as e:
            return error(f"Could not reach the weather service: {e}.")
        return answer(response.status_code, response.content)


def serve_sync():
    session = requests.Session()

    @mcp.tool(description=DESCRIPTION)
    def get_current_weather(latitude: float, longitude: float) -> ToolResult:
        try:
            url = forecast_url(latitude, longitude)
        except ValueError as e:
            return error(str(e))
        try:
            response = session.get(url, headers=ACCEPT, timeout=10.0)
        except requests.RequestException as e:
            return error(f"Could not reach the weather service: {e}.")
        return answer(response.status_code, response.content)


def answer(status, content):
    """The tool's result for the upstream's answer."""
    if len(content) > MAX_UPSTREAM_BODY:
        return error("The weather service sent an unexpectedly large answer.")
    if status != 200:
        return error(f"Open-Meteo is unavailable right now (HTTP {status}).")
    try:
        api = json.loads(content)
        c = api["current"]
        units = api.get("current_units", {})
    except (ValueError, KeyError) as e:
        return error(f"Open-Meteo sent an answer that is not the expected forecast ({e}).")
    unit = lambda v: units.get(v, "")  # noqa: E731
    condition = WMO.get(c.get("weather_code"), "Unknown conditions")
    direction = c.get("wind_direction_10m")
    structured = {
        "location": {
            "latitude": api["latitude"], "longitude": api["longitude"], "elevation": api.get("elevation"),
            "timezone": api.get("timezone"), "timezoneAbbreviation": api.get("timezone_abbreviation"),
            "utcOffsetSeconds": api.get("utc_offset_seconds"),
        },
        "observedAt": c["time"],
        "current": {
            "temperature": c.get("temperature_2m"), "apparentTemperature": c.get("apparent_temperature"),
            "relativeHumidity": c.get("relative_humidity_2m"), "precipitation": c.get("precipitation"),
            "cloudCover": c.get("cloud_cover"), "pressure": c.get("pressure_msl"),
            "windSpeed": c.get("wind_speed_10m"), "windDirection": direction,
            "windDirectionCardinal": cardinal(direction) if direction is not None else None,
            "windGusts": c.get("wind_gusts_10m"), "weatherCode": c.get("weather_code"),
            "condition": condition, "isDay": c["is_day"] == 1 if c.get("is_day") is not None else None,
        },
        "units": {
            "temperature": unit("temperature_2m"), "apparentTemperature": unit("apparent_temperature"),
            "relativeHumidity": unit("relative_humidity_2m"), "precipitation": unit("precipitation"),
            "cloudCover": unit("cloud_cover"), "pressure": unit("pressure_msl"),
            "windSpeed": unit("wind_speed_10m"), "windDirection": unit("wind_direction_10m"),
            "windGusts": unit("wind_gusts_10m"),
        },
        "attribution": ATTRIBUTION,
        "attributionUrl": "https://open-meteo.com/",
    }

    def value(v, u):
        if v is None:
            return "n/a"
        return f"{number(v)}{u}" if u in ("%", "") else f"{number(v)} {u}"

    place = (
        f"{abs(api['latitude']):.2f}°{'N' if api['latitude'] >= 0 else 'S'}, "
        f"{abs(api['longitude']):.2f}°{'E' if api['longitude'] >= 0 else 'W'}"
    )
    zone = f" ({api['timezone']})" if api.get("timezone") else ""
    wind = value(c.get("wind_speed_10m"), unit("wind_speed_10m"))
    if direction is not None:
        wind = f"{wind} from the {cardinal(direction)} ({number(direction)}°)"
    summary = (
        f"Current weather at {place}{zone}, observed {c['time']} local time: "
        f"{value(c.get('temperature_2m'), unit('temperature_2m'))} "
        f"(feels like {value(c.get('apparent_temperature'), unit('apparent_temperature'))}), "
        f"{condition.lower()}. Wind {wind}, gusts {value(c.get('wind_gusts_10m'), unit('wind_gusts_10m'))}. "
        f"Humidity {value(c.get('relative_humidity_2m'), unit('relative_humidity_2m'))}, "
        f"precipitation {value(c.get('precipitation'), unit('precipitation'))}. {ATTRIBUTION}"
    )
    return ToolResult(content=[TextContent(type="text", text=summary)], structured_content=structured)


if __name__ == "__main__":
    style = sys.argv[2] if len(sys.argv) > 2 else "async"
    {"async": serve_async, "sync": serve_sync}[style]()
    app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), workers=1, log_level="warning")
