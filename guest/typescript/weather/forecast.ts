// The Open-Meteo `/v1/forecast` current-conditions request and its answer,
// as the Rust component (guest/weather/src/forecast.rs) reads them.

import { F64, Json, ToolError, f64 } from "../sdk/mcp-tool";

const CURRENT =
  "temperature_2m,relative_humidity_2m,apparent_temperature,is_day,precipitation," +
  "weather_code,cloud_cover,pressure_msl,wind_speed_10m,wind_direction_10m,wind_gusts_10m";
export const ATTRIBUTION = "Weather data by Open-Meteo.com";

/** A number as Rust's `Display` writes it. */
const show = (value: number) => String(value);

export class Query {
  constructor(readonly latitude: number, readonly longitude: number) {}

  /** Reads `latitude` and `longitude`, with messages a person can act on. */
  static fromArguments(args: { [key: string]: Json }): Query {
    const unknown = Object.keys(args).find((k) => k !== "latitude" && k !== "longitude");
    if (unknown !== undefined) {
      throw new Error(`Unknown argument ${JSON.stringify(unknown)}: only latitude and longitude are accepted.`);
    }
    const coordinate = (name: string, limit: number): number => {
      if (!(name in args)) throw new Error(`Missing argument ${name}: give it in decimal degrees.`);
      const value = args[name];
      if (typeof value !== "number") {
        throw new Error(`${name} must be a number of decimal degrees; got ${JSON.stringify(value)}.`);
      }
      if (!(Number.isFinite(value) && Math.abs(value) <= limit)) {
        throw new Error(`${name} must be between -${limit} and ${limit} degrees; got ${show(value)}.`);
      }
      return value;
    };
    return new Query(coordinate("latitude", 90), coordinate("longitude", 180));
  }
}

/** The request URL; coordinates rounded to 4 decimals (half away from zero). */
export function url(query: Query, base: string, apiKey?: string): string {
  const round = (v: number) => show(Math.sign(v) * Math.round(Math.abs(v) * 1e4) / 1e4);
  let result = `${base.replace(/\/+$/, "")}/v1/forecast?latitude=${round(query.latitude)}` +
    `&longitude=${round(query.longitude)}&current=${CURRENT}&timezone=auto`;
  if (apiKey) {
    result += "&apikey=" + [...new TextEncoder().encode(apiKey)]
      .map((b) => /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("");
  }
  return result;
}

const CODES: { [code: number]: string } = {
  0: "Clear sky", 1: "Mainly clear", 2: "Partly cloudy", 3: "Overcast", 45: "Fog", 48: "Depositing rime fog",
  51: "Light drizzle", 53: "Moderate drizzle", 55: "Dense drizzle", 56: "Light freezing drizzle",
  57: "Dense freezing drizzle", 61: "Slight rain", 63: "Moderate rain", 65: "Heavy rain",
  66: "Light freezing rain", 67: "Heavy freezing rain", 71: "Slight snowfall", 73: "Moderate snowfall",
  75: "Heavy snowfall", 77: "Snow grains", 80: "Slight rain showers", 81: "Moderate rain showers",
  82: "Violent rain showers", 85: "Slight snow showers", 86: "Heavy snow showers", 95: "Thunderstorm",
  96: "Thunderstorm with slight hail", 99: "Thunderstorm with heavy hail",
};
const POINTS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"];

export const describe = (code: number) => CODES[code] ?? "Unknown conditions";
export const cardinal = (degrees: number) =>
  POINTS[Math.round((((degrees % 360) + 360) % 360) / 22.5) % 16];

/** Where a JSON text's top-level value ends, as serde_json reports it. */
function end(text: string): string {
  const stripped = text.trimEnd();
  const line = stripped.split("\n").length;
  return `line ${line} column ${stripped.length - (stripped.lastIndexOf("\n") + 1)}`;
}

type Kind = "float" | "int" | "string" | "object";

function fields(text: string, value: unknown, required: { [name: string]: Kind },
  optional: { [name: string]: Kind }): { [name: string]: any } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`invalid type: expected struct at ${end(text)}`);
  }
  const object = value as { [name: string]: unknown };
  for (const name of Object.keys(required)) {
    if (!(name in object)) throw new Error(`missing field \`${name}\` at ${end(text)}`);
  }
  const result: { [name: string]: any } = {};
  for (const [name, kind] of Object.entries({ ...required, ...optional })) {
    const item = object[name];
    const ok = item === undefined || item === null ||
      (kind === "float" && typeof item === "number") ||
      (kind === "int" && typeof item === "number" && Number.isInteger(item)) ||
      (kind === "string" && typeof item === "string") ||
      (kind === "object" && typeof item === "object" && !Array.isArray(item));
    if (!ok) throw new Error(`invalid type for \`${name}\` at ${end(text)}`);
    result[name] = item ?? null;
  }
  return result;
}

/** Reads the API's answer: conditions, or a `ToolError` for the person asking. */
export function parse(status: number, body: Uint8Array): Conditions {
  const text = new TextDecoder().decode(body);
  if (status !== 200) {
    let reason: unknown;
    try {
      reason = JSON.parse(text)?.reason;
    } catch {
      reason = undefined;
    }
    const detail = typeof reason === "string" ? `: ${reason}` : "";
    if (status >= 400 && status <= 499 && status !== 429) {
      throw new ToolError(`Open-Meteo rejected the request (HTTP ${status})${detail}`);
    }
    if (status === 429) {
      throw new ToolError(`Open-Meteo's rate limit was reached (HTTP 429)${detail}. Please try again later.`);
    }
    throw new ToolError(`Open-Meteo is unavailable right now (HTTP ${status})${detail}. Please try again shortly.`);
  }
  try {
    const api = fields(text, JSON.parse(text), { latitude: "float", longitude: "float", current: "object" },
      { elevation: "float", timezone: "string", timezone_abbreviation: "string", utc_offset_seconds: "int",
        current_units: "object" });
    const floats = ["temperature_2m", "relative_humidity_2m", "apparent_temperature", "precipitation",
      "cloud_cover", "pressure_msl", "wind_speed_10m", "wind_direction_10m", "wind_gusts_10m"];
    const current = fields(text, api.current, { time: "string" },
      { ...Object.fromEntries(floats.map((f) => [f, "float" as Kind])), is_day: "int", weather_code: "int" });
    return new Conditions(api, current, api.current_units ?? {});
  } catch (error) {
    throw new ToolError(`Open-Meteo sent an answer that is not the expected forecast (${(error as Error).message}).`);
  }
}

const float = (v: number | null): F64 | null => (v === null ? null : f64(v));

export class Conditions {
  constructor(readonly api: any, readonly current: any, readonly units: { [name: string]: string }) {}

  unit(variable: string): string {
    return this.units[variable] ?? "";
  }

  condition(): string {
    return this.current.weather_code === null ? "Unknown conditions" : describe(this.current.weather_code);
  }

  /** `structuredContent`, numbers typed as the Rust component's. */
  structured(): { [key: string]: Json } {
    const { api, current: c } = this;
    return {
      location: {
        latitude: f64(api.latitude), longitude: f64(api.longitude), elevation: float(api.elevation),
        timezone: api.timezone, timezoneAbbreviation: api.timezone_abbreviation,
        utcOffsetSeconds: api.utc_offset_seconds,
      },
      observedAt: c.time,
      current: {
        temperature: float(c.temperature_2m),
        apparentTemperature: float(c.apparent_temperature),
        relativeHumidity: float(c.relative_humidity_2m),
        precipitation: float(c.precipitation),
        cloudCover: float(c.cloud_cover),
        pressure: float(c.pressure_msl),
        windSpeed: float(c.wind_speed_10m),
        windDirection: float(c.wind_direction_10m),
        windDirectionCardinal: c.wind_direction_10m === null ? null : cardinal(c.wind_direction_10m),
        windGusts: float(c.wind_gusts_10m),
        weatherCode: c.weather_code,
        condition: this.condition(),
        isDay: c.is_day === null ? null : c.is_day === 1,
      },
      units: {
        temperature: this.unit("temperature_2m"),
        apparentTemperature: this.unit("apparent_temperature"),
        relativeHumidity: this.unit("relative_humidity_2m"),
        precipitation: this.unit("precipitation"),
        cloudCover: this.unit("cloud_cover"),
        pressure: this.unit("pressure_msl"),
        windSpeed: this.unit("wind_speed_10m"),
        windDirection: this.unit("wind_direction_10m"),
        windGusts: this.unit("wind_gusts_10m"),
      },
      attribution: ATTRIBUTION,
      attributionUrl: "https://open-meteo.com/",
    };
  }

  /** One readable sentence for the model and for clients without the widget. */
  summary(): string {
    const { api, current: c } = this;
    const value = (v: number | null, unit: string) =>
      v === null ? "n/a" : unit === "%" || unit === "" ? `${show(v)}${unit}` : `${show(v)} ${unit}`;
    const place = `${Math.abs(api.latitude).toFixed(2)}°${api.latitude >= 0 ? "N" : "S"}, ` +
      `${Math.abs(api.longitude).toFixed(2)}°${api.longitude >= 0 ? "E" : "W"}`;
    const zone = api.timezone === null ? "" : ` (${api.timezone})`;
    const speed = value(c.wind_speed_10m, this.unit("wind_speed_10m"));
    const dir = c.wind_direction_10m;
    const wind = dir === null ? speed : `${speed} from the ${cardinal(dir)} (${show(dir)}°)`;
    return `Current weather at ${place}${zone}, observed ${c.time} local time: ` +
      `${value(c.temperature_2m, this.unit("temperature_2m"))} ` +
      `(feels like ${value(c.apparent_temperature, this.unit("apparent_temperature"))}), ` +
      `${this.condition().toLowerCase()}. Wind ${wind}, gusts ${value(c.wind_gusts_10m, this.unit("wind_gusts_10m"))}. ` +
      `Humidity ${value(c.relative_humidity_2m, this.unit("relative_humidity_2m"))}, ` +
      `precipitation ${value(c.precipitation, this.unit("precipitation"))}. ${ATTRIBUTION}`;
  }
}
