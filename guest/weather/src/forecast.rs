//! The Open-Meteo `/v1/forecast` current-conditions request and its answer.

use mcp_guest::protocol::JsonObject;
use serde::Deserialize;
use serde_json::{Value, json};

/// Variables asked for, in the order the API echoes them.
const CURRENT: &str = "temperature_2m,relative_humidity_2m,apparent_temperature,is_day,precipitation,\
weather_code,cloud_cover,pressure_msl,wind_speed_10m,wind_direction_10m,wind_gusts_10m";
pub const ATTRIBUTION: &str = "Weather data by Open-Meteo.com";

/// Validated tool arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Query {
    pub latitude: f64,
    pub longitude: f64,
}

impl Query {
    /// Reads `latitude` and `longitude`, with messages a person can act on.
    pub fn from_arguments(arguments: &JsonObject) -> Result<Query, String> {
        if let Some(unknown) = arguments.keys().find(|k| *k != "latitude" && *k != "longitude") {
            return Err(format!("Unknown argument {unknown:?}: only latitude and longitude are accepted."));
        }
        let coordinate = |name: &str, limit: f64| match arguments.get(name) {
            None => Err(format!("Missing argument {name}: give it in decimal degrees.")),
            Some(value) => match value.as_f64() {
                Some(v) if v.is_finite() && v.abs() <= limit => Ok(v),
                Some(v) => Err(format!("{name} must be between -{limit} and {limit} degrees; got {v}.")),
                None => Err(format!("{name} must be a number of decimal degrees; got {value}.")),
            },
        };
        Ok(Query { latitude: coordinate("latitude", 90.0)?, longitude: coordinate("longitude", 180.0)? })
    }

    /// The request URL. Coordinates are rounded to 4 decimals (about 11 m):
    /// finer than the model grid, and no more precise than a forecast needs.
    pub fn url(&self, base: &str, api_key: Option<&str>) -> String {
        let round = |v: f64| (v * 1e4).round() / 1e4;
        let mut url = format!(
            "{}/v1/forecast?latitude={}&longitude={}&current={CURRENT}&timezone=auto",
            base.trim_end_matches('/'),
            round(self.latitude),
            round(self.longitude),
        );
        if let Some(key) = api_key {
            url.push_str("&apikey=");
            url.extend(key.bytes().map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            }));
        }
        url
    }
}

#[derive(Debug, Deserialize)]
struct ApiResponse {
    latitude: f64,
    longitude: f64,
    elevation: Option<f64>,
    timezone: Option<String>,
    timezone_abbreviation: Option<String>,
    utc_offset_seconds: Option<i64>,
    current: Current,
    #[serde(default)]
    current_units: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Current {
    time: String,
    temperature_2m: Option<f64>,
    relative_humidity_2m: Option<f64>,
    apparent_temperature: Option<f64>,
    is_day: Option<u8>,
    precipitation: Option<f64>,
    weather_code: Option<u16>,
    cloud_cover: Option<f64>,
    pressure_msl: Option<f64>,
    wind_speed_10m: Option<f64>,
    wind_direction_10m: Option<f64>,
    wind_gusts_10m: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    reason: Option<String>,
}

/// Normalised current conditions.
#[derive(Debug)]
pub struct Conditions {
    api: ApiResponse,
}

/// Reads the API's answer: conditions, or a message for the person asking.
pub fn parse(status: u16, body: &[u8]) -> Result<Conditions, String> {
    if status != 200 {
        let reason = serde_json::from_slice::<ApiError>(body).ok().and_then(|e| e.reason);
        let detail = reason.map(|r| format!(": {r}")).unwrap_or_default();
        return Err(match status {
            400..=499 if status != 429 => format!("Open-Meteo rejected the request (HTTP {status}){detail}"),
            429 => format!("Open-Meteo's rate limit was reached (HTTP 429){detail}. Please try again later."),
            _ => format!(
                "Open-Meteo is unavailable right now (HTTP {status}){detail}. Please try again shortly."
            ),
        });
    }
    let api: ApiResponse = serde_json::from_slice(body)
        .map_err(|e| format!("Open-Meteo sent an answer that is not the expected forecast ({e})."))?;
    Ok(Conditions { api })
}

/// WMO weather interpretation codes, as Open-Meteo documents them.
pub fn describe(code: u16) -> &'static str {
    match code {
        0 => "Clear sky",
        1 => "Mainly clear",
        2 => "Partly cloudy",
        3 => "Overcast",
        45 => "Fog",
        48 => "Depositing rime fog",
        51 => "Light drizzle",
        53 => "Moderate drizzle",
        55 => "Dense drizzle",
        56 => "Light freezing drizzle",
        57 => "Dense freezing drizzle",
        61 => "Slight rain",
        63 => "Moderate rain",
        65 => "Heavy rain",
        66 => "Light freezing rain",
        67 => "Heavy freezing rain",
        71 => "Slight snowfall",
        73 => "Moderate snowfall",
        75 => "Heavy snowfall",
        77 => "Snow grains",
        80 => "Slight rain showers",
        81 => "Moderate rain showers",
        82 => "Violent rain showers",
        85 => "Slight snow showers",
        86 => "Heavy snow showers",
        95 => "Thunderstorm",
        96 => "Thunderstorm with slight hail",
        99 => "Thunderstorm with heavy hail",
        _ => "Unknown conditions",
    }
}

/// The 16-point compass direction the wind comes from.
pub fn cardinal(degrees: f64) -> &'static str {
    const POINTS: [&str; 16] =
        ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"];
    POINTS[((degrees.rem_euclid(360.0) / 22.5).round() as usize) % 16]
}

impl Conditions {
    fn unit(&self, variable: &str) -> &str {
        self.api.current_units.get(variable).map_or("", String::as_str)
    }

    fn condition(&self) -> &'static str {
        self.api.current.weather_code.map_or("Unknown conditions", describe)
    }

    /// `structuredContent`: the normalised conditions with their units.
    pub fn structured(&self) -> Value {
        let api = &self.api;
        let c = &api.current;
        json!({
            "location": {
                "latitude": api.latitude,
                "longitude": api.longitude,
                "elevation": api.elevation,
                "timezone": api.timezone,
                "timezoneAbbreviation": api.timezone_abbreviation,
                "utcOffsetSeconds": api.utc_offset_seconds,
            },
            "observedAt": c.time,
            "current": {
                "temperature": c.temperature_2m,
                "apparentTemperature": c.apparent_temperature,
                "relativeHumidity": c.relative_humidity_2m,
                "precipitation": c.precipitation,
                "cloudCover": c.cloud_cover,
                "pressure": c.pressure_msl,
                "windSpeed": c.wind_speed_10m,
                "windDirection": c.wind_direction_10m,
                "windDirectionCardinal": c.wind_direction_10m.map(cardinal),
                "windGusts": c.wind_gusts_10m,
                "weatherCode": c.weather_code,
                "condition": self.condition(),
                "isDay": c.is_day.map(|d| d == 1),
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
        })
    }

    /// One readable sentence for the model and for clients without the widget.
    pub fn summary(&self) -> String {
        let api = &self.api;
        let c = &api.current;
        let value = |v: Option<f64>, unit: &str| match v {
            Some(v) if unit == "%" || unit.is_empty() => format!("{v}{unit}"),
            Some(v) => format!("{v} {unit}"),
            None => "n/a".into(),
        };
        let place = format!(
            "{:.2}°{}, {:.2}°{}",
            api.latitude.abs(),
            if api.latitude >= 0.0 { "N" } else { "S" },
            api.longitude.abs(),
            if api.longitude >= 0.0 { "E" } else { "W" },
        );
        let zone = api.timezone.as_deref().map(|tz| format!(" ({tz})")).unwrap_or_default();
        let wind = match c.wind_direction_10m {
            Some(dir) => format!(
                "{} from the {} ({dir}°)",
                value(c.wind_speed_10m, self.unit("wind_speed_10m")),
                cardinal(dir)
            ),
            None => value(c.wind_speed_10m, self.unit("wind_speed_10m")),
        };
        format!(
            "Current weather at {place}{zone}, observed {time} local time: {temp} (feels like {feels}), {condition}. \
             Wind {wind}, gusts {gusts}. Humidity {humidity}, precipitation {precip}. {ATTRIBUTION}",
            time = c.time,
            temp = value(c.temperature_2m, self.unit("temperature_2m")),
            feels = value(c.apparent_temperature, self.unit("apparent_temperature")),
            condition = self.condition().to_lowercase(),
            gusts = value(c.wind_gusts_10m, self.unit("wind_gusts_10m")),
            humidity = value(c.relative_humidity_2m, self.unit("relative_humidity_2m")),
            precip = value(c.precipitation, self.unit("precipitation")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: &str =
        include_str!("../../../tests/fixtures/open-meteo/01-current-berlin-timezone-auto.json");

    fn args(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn validates_arguments() {
        assert_eq!(
            Query::from_arguments(&args(json!({"latitude": 52.52, "longitude": 13.41}))),
            Ok(Query { latitude: 52.52, longitude: 13.41 })
        );
        for (input, needle) in [
            (json!({"longitude": 1}), "Missing argument latitude"),
            (json!({"latitude": 1}), "Missing argument longitude"),
            (json!({"latitude": 95, "longitude": 1}), "between -90 and 90"),
            (json!({"latitude": 1, "longitude": -180.5}), "between -180 and 180"),
            (json!({"latitude": "x", "longitude": 1}), "must be a number"),
            (json!({"latitude": 1, "longitude": 1, "city": "Berlin"}), "Unknown argument \"city\""),
        ] {
            let error = Query::from_arguments(&args(input.clone())).unwrap_err();
            assert!(error.contains(needle), "{input}: {error}");
        }
    }

    #[test]
    fn builds_the_documented_url() {
        let q = Query { latitude: 52.520_008, longitude: 13.404_954 };
        assert_eq!(
            q.url("https://api.open-meteo.com/", None),
            format!(
                "https://api.open-meteo.com/v1/forecast?latitude=52.52&longitude=13.405&current={CURRENT}&timezone=auto"
            )
        );
        assert!(q.url("http://x", Some("a b&c")).ends_with("&apikey=a%20b%26c"));
    }

    #[test]
    fn reads_the_berlin_fixture() {
        let conditions = parse(200, BERLIN.as_bytes()).unwrap();
        let s = conditions.structured();
        assert_eq!(s["location"]["latitude"], 52.52);
        assert_eq!(s["location"]["timezone"], "Europe/Berlin");
        assert_eq!(s["observedAt"], "2026-11-24T10:45");
        assert_eq!(s["current"]["temperature"], 6.3);
        assert_eq!(s["current"]["condition"], "Overcast");
        assert_eq!(s["current"]["windDirectionCardinal"], "WSW");
        assert_eq!(s["current"]["isDay"], true);
        assert_eq!(s["units"]["temperature"], "°C");
        assert_eq!(s["attribution"], ATTRIBUTION);
        let text = conditions.summary();
        for needle in [
            "52.52°N, 13.42°E",
            "Europe/Berlin",
            "6.3 °C",
            "feels like 3.1 °C",
            "overcast",
            "14.8 km/h from the WSW",
            "Humidity 87%",
            ATTRIBUTION,
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }

    #[test]
    fn reports_api_errors_with_their_reason() {
        let reason = r#"{"error":true,"reason":"Latitude must be in range of -90 to 90°. Given: 95.0."}"#;
        let message = parse(400, reason.as_bytes()).unwrap_err();
        assert!(message.contains("rejected") && message.contains("Given: 95.0."), "{message}");
        assert!(
            parse(429, br#"{"error":true,"reason":"Minutely API request limit exceeded."}"#)
                .unwrap_err()
                .contains("rate limit")
        );
        assert!(
            parse(503, br#"{"error":true,"reason":"The service is overloaded"}"#)
                .unwrap_err()
                .contains("overloaded")
        );
        assert!(parse(502, b"<html>bad gateway</html>").unwrap_err().contains("HTTP 502"));
        assert!(parse(200, b"{}").unwrap_err().contains("not the expected forecast"));
        assert!(parse(200, b"not json").unwrap_err().contains("not the expected forecast"));
    }

    #[test]
    fn nulls_become_placeholders() {
        let body = BERLIN.replace("\"temperature_2m\":6.3", "\"temperature_2m\":null");
        let conditions = parse(200, body.as_bytes()).unwrap();
        assert_eq!(conditions.structured()["current"]["temperature"], Value::Null);
        assert!(conditions.summary().contains(": n/a (feels like"));
    }

    #[test]
    fn compass_points() {
        assert_eq!(cardinal(0.0), "N");
        assert_eq!(cardinal(359.0), "N");
        assert_eq!(cardinal(245.0), "WSW");
        assert_eq!(cardinal(-90.0), "W");
        assert_eq!(describe(3), "Overcast");
        assert_eq!(describe(1000), "Unknown conditions");
    }
}
