// `get_current_weather` in TypeScript: current conditions from the
// Open-Meteo forecast API, with the same widget and answers as the Rust
// component (guest/weather). Configuration as there: OPEN_METEO_URL,
// OPEN_METEO_API_KEY, WIDGET_DOMAIN, granted by the host's policy.

import { CallToolResult, Json, ToolError, env, f64, resource, tool } from "../sdk/mcp-tool";
import { Query, parse, url } from "./forecast";
import HTML from "../../weather/src/widget.html";
import SKILL from "../../weather/skills/current-weather/SKILL.md";

const DEFAULT_BASE_URL = "https://api.open-meteo.com";
const UPSTREAM_TIMEOUT_S = 10;
// Current conditions are about 1 KiB; anything far larger is not a forecast.
const MAX_UPSTREAM_BODY = 256 * 1024;
const WIDGET_URI = "ui://widget/current-weather.html";
const MCP_APP_URI = "ui://widget/current-weather.mcp-app.html";
const WIDGET_SIZE = new TextEncoder().encode(HTML).length;

const number = (description: string, limit: number) =>
  ({ type: "number", minimum: f64(-limit), maximum: f64(limit), description });
const nullable = (kind: string) => ({ type: [kind, "null"] });

tool(
  "get_current_weather",
  {
    title: "Current weather",
    description:
      "Use this when the user asks about the current weather (temperature, feels-like, wind, humidity, " +
      "precipitation, sky) at a place. Takes the WGS84 coordinates of the place the user named, resolved by " +
      "you, not the user's device position. Returns the latest observation-style values from Open-Meteo.",
    inputSchema: {
      type: "object",
      properties: {
        latitude: number("Latitude of the place the user asked about, in decimal degrees (WGS84).", 90),
        longitude: number("Longitude of the place the user asked about, in decimal degrees (WGS84).", 180),
      },
      required: ["latitude", "longitude"],
      additionalProperties: false,
    },
    outputSchema: {
      type: "object",
      required: ["location", "observedAt", "current", "units", "attribution"],
      properties: {
        location: {
          type: "object",
          required: ["latitude", "longitude"],
          properties: {
            latitude: { type: "number", description: "Centre of the grid cell the API used." },
            longitude: { type: "number" },
            elevation: nullable("number"),
            timezone: nullable("string"),
            timezoneAbbreviation: nullable("string"),
            utcOffsetSeconds: nullable("integer"),
          },
        },
        observedAt: { type: "string", description: "Local time of the observation (ISO 8601, no offset)." },
        current: {
          type: "object",
          properties: {
            temperature: nullable("number"),
            apparentTemperature: nullable("number"),
            relativeHumidity: nullable("number"),
            precipitation: nullable("number"),
            cloudCover: nullable("number"),
            pressure: nullable("number"),
            windSpeed: nullable("number"),
            windDirection: nullable("number"),
            windDirectionCardinal: nullable("string"),
            windGusts: nullable("number"),
            weatherCode: nullable("integer"),
            condition: { type: "string" },
            isDay: nullable("boolean"),
          },
        },
        units: { type: "object", additionalProperties: { type: "string" } },
        attribution: { type: "string" },
        attributionUrl: { type: "string" },
      },
    },
    annotations: { title: "Current weather", readOnlyHint: true, destructiveHint: false, idempotentHint: true,
      openWorldHint: true },
    _meta: {
      "openai/outputTemplate": WIDGET_URI,
      "openai/toolInvocation/invoking": "Checking the current weather…",
      "openai/toolInvocation/invoked": "Current weather ready",
      "openai/widgetAccessible": true,
      ui: { resourceUri: MCP_APP_URI, visibility: ["model", "app"] },
      // The flat key of early MCP Apps drafts, still read by some hosts.
      "ui/resourceUri": MCP_APP_URI,
      // Public: callable without signing in when the host has OAuth on.
      securitySchemes: [{ type: "noauth" }],
    },
  },
  async (args, ctx): Promise<CallToolResult> => {
    let query: Query;
    try {
      query = Query.fromArguments(args);
    } catch (error) {
      return { content: [{ type: "text", text: (error as Error).message }], isError: true };
    }
    const base = env("OPEN_METEO_URL") ?? DEFAULT_BASE_URL;
    const key = env("OPEN_METEO_API_KEY") || undefined;
    await ctx.reportProgress(0, 1, "Asking Open-Meteo for current conditions");
    let status: number;
    let body: Uint8Array;
    try {
      ({ status, body } = await get(url(query, base, key)));
    } catch (error) {
      const failure = error as FetchFailure;
      await ctx.warning(`forecast request failed: ${failure.message}`);
      return { content: [{ type: "text", text: fetchErrorMessage(failure, base) }], isError: true };
    }
    await ctx.debug(`Open-Meteo answered HTTP ${status} (${body.length} bytes)`);
    await ctx.reportProgress(1, 1, "Received current conditions");
    try {
      const conditions = parse(status, body);
      return { content: [{ type: "text", text: conditions.summary() }], structuredContent: conditions.structured() };
    } catch (error) {
      if (error instanceof ToolError) return { content: [{ type: "text", text: error.message }], isError: true };
      throw error;
    }
  },
);

class FetchFailure extends Error {
  constructor(readonly kind: "denied" | "timeout" | "too_large" | "failed", message: string) {
    super(message);
  }
}

/** GETs `url` through `fetch` within the time and size limits. */
async function get(target: string): Promise<{ status: number; body: Uint8Array }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FetchFailure("timeout", "no answer in time")), UPSTREAM_TIMEOUT_S * 1000);
  });
  try {
    return await Promise.race([timeout, (async () => {
      let response: Response;
      try {
        response = await fetch(target, { headers: { accept: "application/json" } });
      } catch (error) {
        throw classify(error);
      }
      const chunks: Uint8Array[] = [];
      let length = 0;
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read().catch((error) => { throw classify(error); });
        if (done) break;
        length += value.length;
        if (length > MAX_UPSTREAM_BODY) {
          throw new FetchFailure("too_large", `the response is larger than ${MAX_UPSTREAM_BODY} bytes`);
        }
        chunks.push(value);
      }
      const body = new Uint8Array(length);
      let offset = 0;
      for (const chunk of chunks) {
        body.set(chunk, offset);
        offset += chunk.length;
      }
      return { status: response.status, body };
    })()]);
  } finally {
    clearTimeout(timer);
  }
}

/** What StarlingMonkey's `fetch` rejects with, in the Rust component's words. */
function classify(error: unknown): FetchFailure {
  const text = String(error);
  if (/denied/i.test(text)) {
    return new FetchFailure("denied", "the destination is not allowed by this component's policy");
  }
  if (/timeout/i.test(text)) return new FetchFailure("timeout", "no answer in time");
  return new FetchFailure("failed", text);
}

function fetchErrorMessage(error: FetchFailure, base: string): string {
  switch (error.kind) {
    case "denied":
      return `The weather service at ${base} is not reachable from this tool: the host's policy does not allow it.`;
    case "timeout":
      return `The weather service did not answer within ${UPSTREAM_TIMEOUT_S} seconds. Please try again shortly.`;
    case "too_large":
      return "The weather service sent an unexpectedly large answer.";
    default:
      return `Could not reach the weather service: ${error.message}.`;
  }
}

function widgetDomain(): string | undefined {
  const value = (env("WIDGET_DOMAIN") ?? "").trim().replace(/\/+$/, "");
  if (!value) return undefined;
  return value.includes("://") ? value : `https://${value}`;
}

function widgetMeta(): { [key: string]: Json } {
  const meta: { [key: string]: Json } = {
    "openai/widgetDescription": "Shows the current temperature, conditions, feels-like, wind, gusts and humidity " +
      "for the requested place, with a button to refresh them.",
    "openai/widgetPrefersBorder": true,
    "openai/widgetCSP": { connect_domains: [], resource_domains: [] },
    ui: { prefersBorder: true, csp: { connectDomains: [], resourceDomains: [] } },
  };
  const domain = widgetDomain();
  if (domain) meta["openai/widgetDomain"] = domain;
  return meta;
}

const description = "Interactive card that renders get_current_weather results.";
resource(WIDGET_URI, { name: "current-weather-widget", title: "Current weather widget", description,
  mimeType: "text/html+skybridge", size: WIDGET_SIZE, _meta: widgetMeta },
() => ({ text: HTML, _meta: widgetMeta() }));
resource(MCP_APP_URI, { name: "current-weather-mcp-app", title: "Current weather widget (MCP Apps)", description,
  mimeType: "text/html;profile=mcp-app", size: WIDGET_SIZE, _meta: widgetMeta },
() => ({ text: HTML, _meta: widgetMeta() }));

// The Skills extension's SKILL.md: when and how to call the tool (the host lists it).
const SKILL_URI = "skill://current-weather/SKILL.md";
resource(SKILL_URI, { name: "current-weather", title: "Current weather skill",
  description: "When and how to use get_current_weather to answer questions about the weather at a place right now.",
  mimeType: "text/markdown", size: new TextEncoder().encode(SKILL).length },
() => ({ text: SKILL }));

export { completion, prompts, resources, tools } from "../sdk/mcp-tool";
