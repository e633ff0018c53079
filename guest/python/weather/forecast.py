"""The Open-Meteo `/v1/forecast` current-conditions request and its answer,
as the Rust component (guest/weather/src/forecast.rs) reads them."""

import json

from mcp_tool.schema import number_text

# Variables asked for, in the order the API echoes them.
CURRENT = ("temperature_2m,relative_humidity_2m,apparent_temperature,is_day,precipitation,"
           "weather_code,cloud_cover,pressure_msl,wind_speed_10m,wind_direction_10m,wind_gusts_10m")
ATTRIBUTION = "Weather data by Open-Meteo.com"
_UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def url(base: str, latitude: float, longitude: float, api_key: str | None) -> str:
    """The request URL. Coordinates are rounded to 4 decimals (about 11 m)."""
    def rounded(v: float) -> str:
        # Rust's f64::round rounds half away from zero.
        scaled = v * 1e4
        whole = float(int(scaled + (0.5 if scaled >= 0 else -0.5)))
        return number_text(whole / 1e4)

    result = (f"{base.rstrip('/')}/v1/forecast?latitude={rounded(latitude)}&longitude={rounded(longitude)}"
              f"&current={CURRENT}&timezone=auto")
    if api_key:
        result += "&apikey=" + "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in api_key.encode())
    return result


_CODES = {
    0: "Clear sky", 1: "Mainly clear", 2: "Partly cloudy", 3: "Overcast", 45: "Fog", 48: "Depositing rime fog",
    51: "Light drizzle", 53: "Moderate drizzle", 55: "Dense drizzle", 56: "Light freezing drizzle",
    57: "Dense freezing drizzle", 61: "Slight rain", 63: "Moderate rain", 65: "Heavy rain",
    66: "Light freezing rain", 67: "Heavy freezing rain", 71: "Slight snowfall", 73: "Moderate snowfall",
    75: "Heavy snowfall", 77: "Snow grains", 80: "Slight rain showers", 81: "Moderate rain showers",
    82: "Violent rain showers", 85: "Slight snow showers", 86: "Heavy snow showers", 95: "Thunderstorm",
    96: "Thunderstorm with slight hail", 99: "Thunderstorm with heavy hail",
}
_POINTS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"]


def describe(code: int) -> str:
    """WMO weather interpretation codes, as Open-Meteo documents them."""
    return _CODES.get(code, "Unknown conditions")


def cardinal(degrees: float) -> str:
    """The 16-point compass direction the wind comes from."""
    sector = (degrees % 360.0) / 22.5
    return _POINTS[int(sector + 0.5) % 16]


class NotAForecast(ValueError):
    pass


def _end(text: str) -> str:
    """Where a JSON text's top-level value ends, as serde_json reports it."""
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1)
    return f"line {line} column {column}"


def _fields(text: str, value, required: dict[str, type], optional: dict[str, type]) -> dict:
    """`value` as an object with these fields of these types (numbers as
    float), in the words serde_json would use for the first problem."""
    if not isinstance(value, dict):
        raise NotAForecast(f"invalid type: expected struct at {_end(text)}")
    for name, kind in required.items():
        if name not in value:
            raise NotAForecast(f"missing field `{name}` at {_end(text)}")
    result = {}
    for name, kind in {**required, **optional}.items():
        item = value.get(name)
        if item is None:
            result[name] = None
        elif kind is float and isinstance(item, (int, float)) and not isinstance(item, bool):
            result[name] = float(item)
        elif kind is int and isinstance(item, int) and not isinstance(item, bool):
            result[name] = item
        elif kind is str and isinstance(item, str):
            result[name] = item
        elif kind is dict and isinstance(item, dict):
            result[name] = item
        else:
            raise NotAForecast(f"invalid type for `{name}` at {_end(text)}")
    return result


def parse(status: int, body: bytes) -> "Conditions":
    """Reads the API's answer: conditions, or raises ValueError with a
    message for the person asking."""
    if status != 200:
        try:
            reason = json.loads(body).get("reason")
        except (ValueError, AttributeError):
            reason = None
        detail = f": {reason}" if isinstance(reason, str) else ""
        if 400 <= status <= 499 and status != 429:
            raise ValueError(f"Open-Meteo rejected the request (HTTP {status}){detail}")
        if status == 429:
            raise ValueError(f"Open-Meteo's rate limit was reached (HTTP 429){detail}. Please try again later.")
        raise ValueError(f"Open-Meteo is unavailable right now (HTTP {status}){detail}. Please try again shortly.")
    try:
        text = body.decode()
        answer = _fields(text, json.loads(text), {"latitude": float, "longitude": float, "current": dict},
                         {"elevation": float, "timezone": str, "timezone_abbreviation": str,
                          "utc_offset_seconds": int, "current_units": dict})
        current = _fields(text, answer["current"], {"time": str}, {
            name: float for name in ["temperature_2m", "relative_humidity_2m", "apparent_temperature",
                                     "precipitation", "cloud_cover", "pressure_msl", "wind_speed_10m",
                                     "wind_direction_10m", "wind_gusts_10m"]} | {"is_day": int, "weather_code": int})
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"Open-Meteo sent an answer that is not the expected forecast ({error}).") from None
    return Conditions(answer, current, answer["current_units"] or {})


class Conditions:
    """Normalised current conditions."""

    def __init__(self, api: dict, current: dict, units: dict):
        self.api = api
        self.current = current
        self.units = units

    def unit(self, variable: str) -> str:
        return self.units.get(variable, "")

    def condition(self) -> str:
        code = self.current["weather_code"]
        return "Unknown conditions" if code is None else describe(code)

    def structured(self) -> dict:
        """`structuredContent`: the normalised conditions with their units."""
        api, c = self.api, self.current
        direction = c["wind_direction_10m"]
        return {
            "location": {
                "latitude": api["latitude"],
                "longitude": api["longitude"],
                "elevation": api["elevation"],
                "timezone": api["timezone"],
                "timezoneAbbreviation": api["timezone_abbreviation"],
                "utcOffsetSeconds": api["utc_offset_seconds"],
            },
            "observedAt": c["time"],
            "current": {
                "temperature": c["temperature_2m"],
                "apparentTemperature": c["apparent_temperature"],
                "relativeHumidity": c["relative_humidity_2m"],
                "precipitation": c["precipitation"],
                "cloudCover": c["cloud_cover"],
                "pressure": c["pressure_msl"],
                "windSpeed": c["wind_speed_10m"],
                "windDirection": direction,
                "windDirectionCardinal": None if direction is None else cardinal(direction),
                "windGusts": c["wind_gusts_10m"],
                "weatherCode": c["weather_code"],
                "condition": self.condition(),
                "isDay": None if c["is_day"] is None else c["is_day"] == 1,
            },
            "units": {
                "temperature": self.unit("temperature_2m"),
                "apparentTemperature": self.unit("apparent_temperature"),
                "relativeHumidity": self.unit("relative_humidity_2m"),
                "precipitation": self.unit("precipitation"),
                "cloudCover": self.unit("cloud_cover"),
                "pressure": self.unit("pressure_msl"),
                "windSpeed": self.unit("wind_speed_10m"),
                "windDirection": self.unit("wind_direction_10m"),
                "windGusts": self.unit("wind_gusts_10m"),
            },
            "attribution": ATTRIBUTION,
            "attributionUrl": "https://open-meteo.com/",
        }

    def summary(self) -> str:
        """One readable sentence for the model and for clients without the widget."""
        api, c = self.api, self.current

        def value(v: float | None, unit: str) -> str:
            if v is None:
                return "n/a"
            return f"{number_text(v)}{unit}" if unit in ("%", "") else f"{number_text(v)} {unit}"

        latitude, longitude = api["latitude"], api["longitude"]
        place = (f"{abs(latitude):.2f}°{'N' if latitude >= 0 else 'S'}, "
                 f"{abs(longitude):.2f}°{'E' if longitude >= 0 else 'W'}")
        zone = f" ({api['timezone']})" if api["timezone"] is not None else ""
        speed = value(c["wind_speed_10m"], self.unit("wind_speed_10m"))
        direction = c["wind_direction_10m"]
        wind = speed if direction is None else f"{speed} from the {cardinal(direction)} ({number_text(direction)}°)"
        return (
            f"Current weather at {place}{zone}, observed {c['time']} local time: "
            f"{value(c['temperature_2m'], self.unit('temperature_2m'))} "
            f"(feels like {value(c['apparent_temperature'], self.unit('apparent_temperature'))}), "
            f"{self.condition().lower()}. Wind {wind}, gusts {value(c['wind_gusts_10m'], self.unit('wind_gusts_10m'))}. "
            f"Humidity {value(c['relative_humidity_2m'], self.unit('relative_humidity_2m'))}, "
            f"precipitation {value(c['precipitation'], self.unit('precipitation'))}. {ATTRIBUTION}"
        )
