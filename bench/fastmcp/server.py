"""The weather tool written with Python FastMCP: the reference the benchmark
compares mcp-host with. It does what guest/weather does, step for step: the
same argument checks, the same Open-Meteo request (URL, query, Accept header),
the same structured content and summary sentence.

Served like a production deployment of the original sample app: uvicorn, one
worker, stateless streamable HTTP with JSON responses, one shared httpx client
(keep-alive connection pool) for the upstream.

Usage: python server.py PORT   (environment: OPEN_METEO_URL)
"""

import os
import sys

import httpx
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

mcp = FastMCP("weather")
client = httpx.AsyncClient(timeout=10.0)


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


@mcp.tool(description="Current weather conditions at a latitude and longitude, from Open-Meteo.")
async def get_current_weather(latitude: float, longitude: float) -> ToolResult:
    try:
        lat, lon = coordinate(latitude, "latitude", 90), coordinate(longitude, "longitude", 180)
    except ValueError as e:
        return error(str(e))
    url = f"{BASE_URL}/v1/forecast?latitude={number(lat)}&longitude={number(lon)}&current={CURRENT}&timezone=auto"
    try:
        response = await client.get(url, headers={"accept": "application/json"})
    except httpx.HTTPError as e:
        return error(f"Could not reach the weather service: {e}.")
    if len(response.content) > MAX_UPSTREAM_BODY:
        return error("The weather service sent an unexpectedly large answer.")
    if response.status_code != 200:
        return error(f"Open-Meteo is unavailable right now (HTTP {response.status_code}).")
    try:
        api = response.json()
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


app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), workers=1, log_level="warning")
