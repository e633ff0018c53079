// mcp-tool: write an MCP tool component in TypeScript, built by
// componentize-js against the `mcp:tool` WIT and served by mcp-host like any
// other component. Shapes follow the official TypeScript SDK:
//
//   tool("greet", { description: "Greets someone", inputSchema: {...} },
//     async ({ name }, ctx) => { await ctx.info(`greeting ${name}`); return `Hello, ${name}!`; });
//   export { tools, resources, prompts, completion } from "mcp-tool";
//
// Outbound HTTP: `fetch` (the host's policy decides where to). The
// environment the policy grants: `env(name)`.

import { getEnvironment } from "wasi:cli/environment@0.2.12";

export type Json = null | boolean | number | string | F64 | Json[] | { [key: string]: Json | undefined };
export type LogLevel = "debug" | "info" | "notice" | "warning" | "error" | "critical" | "alert" | "emergency";
const LEVELS: LogLevel[] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/** A number written as a float (`90.0`), as Rust and Python write theirs:
 * JavaScript has one number type and would write `90`. */
export class F64 {
  constructor(readonly value: number) {}
}
export const f64 = (value: number) => new F64(value);

/** JSON text; `F64` values keep their fraction. */
export function json(value: unknown): string {
  if (value instanceof F64) {
    const text = JSON.stringify(value.value);
    return Number.isInteger(value.value) && !text.includes("e") ? `${text}.0` : text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : json(v))).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${json(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A variable of the environment the host's policy grants this call. */
export function env(name: string): string | undefined {
  return getEnvironment().find(([key]) => key === name)?.[1];
}

/** A failure the model can act on: the result has `isError` and this text. */
export class ToolError extends Error {}

/** Raised by `ctx.elicit` until the client has answered; the host asks it
 * and calls the tool again with the answers. */
export class InputRequired extends Error {
  constructor(readonly requests: { key: string; method: string; params: Json }[], readonly state?: string) {
    super("input required");
  }
}

export type Content =
  | { type: "text"; text: string }
  | { type: "image" | "audio"; data: Uint8Array; mimeType: string };

/** What a tool returns, as in the TypeScript SDK's `CallToolResult`. */
export interface CallToolResult {
  content: Content[];
  structuredContent?: { [key: string]: Json };
  isError?: boolean;
  _meta?: { [key: string]: Json };
}

type Event =
  | { tag: "log"; val: { level: LogLevel; logger?: string; data: string } }
  | { tag: "progress"; val: { progress: number; total?: number; message?: string } };

/** The running call: logs, progress, input requests, and what the client
 * sent besides the arguments. Await each report to send it at once. */
export class Context {
  readonly events: Event[] = [];
  readonly meta: { [key: string]: Json };
  readonly clientCapabilities: { [key: string]: Json };
  readonly identity?: { [key: string]: Json };
  private readonly responses: { [key: string]: Json };
  private wake?: () => void;

  constructor(private readonly request: WitCallRequest) {
    this.meta = request.meta ? JSON.parse(request.meta) : {};
    this.clientCapabilities = JSON.parse(request.clientCapabilities || "{}");
    this.identity = request.identity ? JSON.parse(request.identity) : undefined;
    this.responses = request.inputs ? JSON.parse(request.inputs.responses) : {};
  }

  log(level: LogLevel, data: Json, logger?: string): Promise<void> {
    const min = this.request.logLevel;
    if (min !== undefined && min !== null && LEVELS.indexOf(level) >= LEVELS.indexOf(min)) {
      this.emit({ tag: "log", val: { level, logger, data: json(data) } });
    }
    return Promise.resolve();
  }
  debug = (data: Json) => this.log("debug", data);
  info = (data: Json) => this.log("info", data);
  warning = (data: Json) => this.log("warning", data);
  error = (data: Json) => this.log("error", data);

  /** Reports progress if the client asked for it; `progress` must increase. */
  reportProgress(progress: number, total?: number, message?: string): Promise<void> {
    if (this.request.progress) this.emit({ tag: "progress", val: { progress, total, message } });
    return Promise.resolve();
  }

  /** The user's answer to a form, asked once under `key` (retry style). */
  elicit(key: string, message: string, requestedSchema: Json): Json {
    if (key in this.responses) return this.responses[key];
    throw new InputRequired([{ key, method: "elicitation/create", params: { message, requestedSchema } }]);
  }

  /** Resolves once an event is queued (so the host can send it). */
  nextEvent(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private emit(event: Event) {
    this.events.push(event);
    this.wake?.();
  }
}

export interface ToolOptions {
  title?: string;
  description: string;
  /** A JSON Schema object (`F64` for float bounds, as in Rust and Python). */
  inputSchema: { [key: string]: Json };
  outputSchema?: { [key: string]: Json };
  annotations?: { title?: string; readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean;
    openWorldHint?: boolean };
  _meta?: { [key: string]: Json };
  /** Run as a task for clients of the tasks extension: "optional" (others
   * are answered at once) or "required" (others are refused). */
  task?: "optional" | "required";
}

/** Where `mcp-host` reads a tool's task support (the Rust SDK's `Tool::with_tasks`). */
const TASK_META = "mcp-host/task";

type Handler = (args: { [key: string]: Json }, ctx: Context) =>
  Promise<CallToolResult | string> | CallToolResult | string;

export interface ResourceOptions {
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  size?: number;
  /** `_meta`, or a function evaluated at each listing. */
  _meta?: { [key: string]: Json } | (() => { [key: string]: Json });
}

type Contents = string | Uint8Array | { text: string; mimeType?: string; _meta?: { [key: string]: Json } };

const TOOLS = new Map<string, { options: ToolOptions; handler: Handler }>();
const RESOURCES = new Map<string, { options: ResourceOptions; read: () => Contents }>();

/** Registers a tool, as `McpServer.registerTool` does. */
export function tool(name: string, options: ToolOptions, handler: Handler) {
  if (TOOLS.has(name)) throw new Error(`tool ${name} is defined twice`);
  TOOLS.set(name, { options, handler });
}

/** Serves `read()` at `uri`: a string (text), bytes (a blob) or `{text, _meta}`. */
export function resource(uri: string, options: ResourceOptions, read: () => Contents) {
  if (RESOURCES.has(uri)) throw new Error(`resource ${uri} is defined twice`);
  RESOURCES.set(uri, { options, read });
}

// What componentize-js maps the WIT types to (records: camelCase fields;
// variants: {tag, val}; options: undefined).
interface WitCallRequest {
  name: string;
  arguments: string;
  logLevel?: LogLevel;
  progress: boolean;
  meta?: string;
  inputs?: { responses: string; state?: string };
  clientCapabilities: string;
  identity?: string;
}

const text = (value: string) => ({ tag: "text", val: value });
const optional = (value: Json | undefined) => (value === undefined ? undefined : json(value));

function witResult(result: CallToolResult) {
  const content = result.content.map((block) =>
    block.type === "text" ? text(block.text) : { tag: block.type, val: { data: block.data, mimeType: block.mimeType } });
  return { content, structuredContent: optional(result.structuredContent), isError: result.isError ?? false,
    meta: optional(result._meta) };
}

function errorResult(message: string) {
  return { content: [text(message)], structuredContent: undefined, isError: true, meta: undefined };
}

function failed(error: unknown) {
  if (error instanceof ToolError) return { tag: "ok", val: errorResult(error.message) };
  if (error instanceof InputRequired) {
    const requests = error.requests.map((r) => ({ key: r.key, method: r.method, params: json(r.params) }));
    return { tag: "err", val: { tag: "input-required", val: { requests, state: error.state } } };
  }
  return { tag: "err", val: { tag: "internal", val: String(error instanceof Error ? error.stack : error) } };
}

class ToolCall {
  private readonly context: Context;
  private running?: Promise<void>;
  private done?: unknown;

  constructor(request: WitCallRequest) {
    this.context = new Context(request);
    const definition = TOOLS.get(request.name);
    if (!definition) {
      this.done = { tag: "err", val: { tag: "unknown-tool" } };
      return;
    }
    const args = JSON.parse(request.arguments);
    this.running = (async () => {
      try {
        const value = await definition.handler(args, this.context);
        this.done = { tag: "ok", val: witResult(typeof value === "string" ? { content: [{ type: "text", text: value }] } : value) };
      } catch (error) {
        this.done = failed(error);
      }
    })();
  }

  /** Runs the tool until it has queued an event or finished. */
  async next() {
    for (;;) {
      const event = this.context.events.shift();
      if (event) return event;
      if (this.done !== undefined) {
        const done = this.done;
        this.done = { tag: "err", val: { tag: "internal", val: "the call has already finished" } };
        return { tag: "done", val: done };
      }
      await Promise.race([this.running, this.context.nextEvent()]);
    }
  }
}

export const tools = {
  listTools: () =>
    [...TOOLS].map(([name, { options }]) => ({
      name,
      title: options.title,
      description: options.description,
      inputSchema: json(options.inputSchema),
      outputSchema: optional(options.outputSchema),
      annotations: options.annotations && {
        title: options.annotations.title, readOnlyHint: options.annotations.readOnlyHint,
        destructiveHint: options.annotations.destructiveHint, idempotentHint: options.annotations.idempotentHint,
        openWorldHint: options.annotations.openWorldHint,
      },
      meta: optional(options.task ? { ...options._meta, [TASK_META]: { support: options.task } } : options._meta),
    })),
  ToolCall,
};

function contents(uri: string, value: Contents, mimeType?: string) {
  if (typeof value === "string") return { uri, mimeType, body: text(value), meta: undefined };
  if (value instanceof Uint8Array) return { uri, mimeType, body: { tag: "blob", val: value }, meta: undefined };
  return { uri, mimeType: value.mimeType ?? mimeType, body: text(value.text), meta: optional(value._meta) };
}

export const resources = {
  listResources: () =>
    [...RESOURCES].map(([uri, { options }]) => ({
      uri, name: options.name, title: options.title, description: options.description, mimeType: options.mimeType,
      size: options.size === undefined ? undefined : BigInt(options.size),
      meta: optional(typeof options._meta === "function" ? options._meta() : options._meta),
    })),
  listResourceTemplates: () => [],
  readResource(uri: string) {
    const definition = RESOURCES.get(uri);
    if (!definition) throw { tag: "not-found" };
    return [contents(uri, definition.read(), definition.options.mimeType)];
  },
};

export interface PromptOptions {
  title?: string;
  description: string;
  /** The prompt's string arguments; `required` defaults to false. */
  arguments?: { name: string; description?: string; required?: boolean }[];
}

type Render = (args: { [name: string]: string }) => string | ["user" | "assistant", string][];

const PROMPTS = new Map<string, { options: PromptOptions; render: Render }>();

/** Registers a prompt, as `McpServer.registerPrompt` does: `render` returns the
 * user message, or `[role, text]` pairs. */
export function prompt(name: string, options: PromptOptions, render: Render) {
  if (PROMPTS.has(name)) throw new Error(`prompt ${name} is defined twice`);
  PROMPTS.set(name, { options, render });
}

export const prompts = {
  listPrompts: () =>
    [...PROMPTS].map(([name, { options }]) => ({
      name,
      title: options.title,
      description: options.description,
      arguments: (options.arguments ?? []).map((a) => ({
        name: a.name, title: undefined, description: a.description, required: a.required ?? false,
      })),
      meta: undefined,
    })),
  getPrompt(name: string, argumentsJson: string) {
    const definition = PROMPTS.get(name);
    if (!definition) throw { tag: "unknown-tool" };
    const values = JSON.parse(argumentsJson) as { [name: string]: string };
    const known = (definition.options.arguments ?? []).map((a) => a.name);
    const missing = (definition.options.arguments ?? []).filter((a) => a.required && !(a.name in values));
    if (missing.length > 0 || Object.keys(values).some((n) => !known.includes(n))) {
      throw { tag: "invalid-params", val: `${name} takes ${JSON.stringify(known)}` };
    }
    let rendered;
    try {
      rendered = definition.render(values);
    } catch (error) {
      throw { tag: "internal", val: String(error instanceof Error ? error.stack : error) };
    }
    const pairs = typeof rendered === "string" ? [["user", rendered] as const] : rendered;
    return {
      description: definition.options.description || undefined,
      messages: pairs.map(([role, text]) => ({ role, content: { tag: "text", val: text } })),
    };
  },
};

type Completer = (value: string, context: { [name: string]: string }) => string[];

const COMPLETERS = new Map<string, Completer>();

/** Suggests values for `argument` of the prompt named `target` (or of the
 * resource template whose URI template is `target`), best first. */
export function complete(target: string, argument: string, completer: Completer) {
  const key = JSON.stringify([target, argument]);
  if (COMPLETERS.has(key)) throw new Error(`completion of ${target} ${argument} is defined twice`);
  COMPLETERS.set(key, completer);
}

export const completion = {
  complete(request: { target: { tag: string; val: string }; argument: string; value: string; context: string }) {
    const completer = COMPLETERS.get(JSON.stringify([request.target.val, request.argument]));
    if (!completer) return { values: [], total: undefined, hasMore: false };
    let values;
    try {
      values = completer(request.value, JSON.parse(request.context)).map(String);
    } catch (error) {
      throw { tag: "internal", val: String(error instanceof Error ? error.stack : error) };
    }
    return { values: values.slice(0, 100), total: values.length, hasMore: values.length > 100 };
  },
};
