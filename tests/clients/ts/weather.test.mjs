// End-to-end: the official TypeScript MCP SDK client against mcp-host running
// the weather component, with Open-Meteo replaced by fake-open-meteo.
import { describe, before, after, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { FIXTURE, WEATHER_WASM, spawnLogged, startFake, startHost, stop, waitForLine } from '../../support/processes.mjs';

// MCP_SERVER=wasmtime-serve runs the same component alone under the stock wasmtime CLI.
const SERVE_ALONE = process.env.MCP_SERVER === 'wasmtime-serve';
const WASMTIME_BIN = process.env.WASMTIME_BIN ?? 'wasmtime';

const WIDGET_URI = 'ui://widget/current-weather.html'; // ChatGPT's template (skybridge)
const MCP_APP_URI = 'ui://widget/current-weather.mcp-app.html'; // the same widget for MCP Apps hosts
const SKILL_URI = 'skill://current-weather/SKILL.md'; // the Skills extension's SKILL.md
const REQUEST = { timeout: 20_000 }; // per MCP request; the SDK default is 60 s

// Starts the server under test; resolves with its host:port.
async function startServer(dir, fakeUrl) {
  if (SERVE_ALONE) {
    const server = spawnLogged(WASMTIME_BIN, [
      'serve', '-S', 'cli', '--addr', '127.0.0.1:0', '--env', `OPEN_METEO_URL=${fakeUrl}`, WEATHER_WASM,
    ]);
    const [, addr] = await waitForLine(server, /Serving HTTP on http:\/\/(127\.0\.0\.1:\d+)\//);
    return { server, addr };
  }
  const { host: server, addr } = await startHost(dir, fakeUrl);
  return { server, addr };
}

describe(`weather component via the TypeScript SDK (${SERVE_ALONE ? 'wasmtime serve' : 'mcp-host'})`, () => {
  let dir, fake, host, client, transport, fixture;

  before(async () => {
    fixture = JSON.parse(await readFile(FIXTURE, 'utf8'));
    dir = await mkdtemp(join(tmpdir(), 'mcp-weather-ts-'));

    let fakeUrl;
    ({ fake, url: fakeUrl } = await startFake());

    let addr;
    ({ server: host, addr } = await startServer(dir, fakeUrl));

    client = new Client({ name: 'weather-e2e-ts', version: '0.0.0' });
    transport = new StreamableHTTPClientTransport(new URL(`http://${addr}/mcp`));
    await client.connect(transport, REQUEST);
  });

  after(async () => {
    try {
      await client?.close();
    } finally {
      await stop(host);
      await stop(fake);
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  it('negotiates a session with server info and capabilities', () => {
    const info = client.getServerVersion();
    assert.ok(info?.name, 'serverInfo.name missing');
    assert.ok(info.version, 'serverInfo.version missing');
    assert.ok(transport.protocolVersion, 'no protocol version negotiated');
    const caps = client.getServerCapabilities();
    assert.ok(caps?.tools, 'tools capability missing');
    assert.ok(caps.resources, 'resources capability missing');
  });

  it('lists get_current_weather with schema, annotations and widget template', async () => {
    const { tools } = await client.listTools(undefined, REQUEST);
    const tool = tools.find((t) => t.name === 'get_current_weather');
    assert.ok(tool, `get_current_weather not in ${tools.map((t) => t.name)}`);
    assert.equal(tool.inputSchema.type, 'object');
    assert.ok(tool.inputSchema.properties.latitude, 'no latitude property');
    assert.ok(tool.inputSchema.properties.longitude, 'no longitude property');
    assert.equal(tool.annotations?.readOnlyHint, true);
    assert.equal(tool._meta?.['openai/outputTemplate'], WIDGET_URI);
    assert.equal(tool._meta?.ui?.resourceUri, MCP_APP_URI);
    assert.deepEqual(tool._meta?.ui?.visibility, ['model', 'app']);
    assert.equal(tool._meta?.['openai/widgetAccessible'], true);
  });

  it('returns the fake API observation as structured content and text', async () => {
    // The SDK also validates structuredContent against the listed outputSchema.
    const result = await client.callTool(
      { name: 'get_current_weather', arguments: { latitude: 52.52, longitude: 13.41 } },
      undefined,
      REQUEST,
    );
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    const { current, location, observedAt } = result.structuredContent;
    assert.equal(current.temperature, fixture.current.temperature_2m);
    assert.equal(current.apparentTemperature, fixture.current.apparent_temperature);
    assert.equal(current.relativeHumidity, fixture.current.relative_humidity_2m);
    assert.equal(location.timezone, fixture.timezone);
    assert.equal(observedAt, fixture.current.time);
    const text = result.content.find((c) => c.type === 'text')?.text;
    assert.ok(text?.includes(String(fixture.current.temperature_2m)), `text: ${text}`);
  });

  it('reports an upstream 400 as a tool error carrying the API reason', async () => {
    // The fake answers latitude -1 with HTTP 400 and a fixed reason.
    const result = await client.callTool(
      { name: 'get_current_weather', arguments: { latitude: -1, longitude: 13.41 } },
      undefined,
      REQUEST,
    );
    assert.equal(result.isError, true);
    const text = result.content.find((c) => c.type === 'text')?.text;
    assert.ok(text?.includes('Given: 95.0.'), `text: ${text}`);
  });

  it('lists and serves the widget resource in both forms', async () => {
    const { resources } = await client.listResources(undefined, REQUEST);
    assert.deepEqual(resources.map((r) => r.uri).sort(), [MCP_APP_URI, WIDGET_URI, SKILL_URI].sort());
    const skill = await client.readResource({ uri: SKILL_URI }, REQUEST);
    assert.equal(skill.contents[0].mimeType, 'text/markdown');
    assert.ok(skill.contents[0].text.startsWith('---\nname: current-weather\n'), 'SKILL.md has frontmatter');
    const texts = [];
    for (const [uri, mimeType] of [[WIDGET_URI, 'text/html+skybridge'], [MCP_APP_URI, 'text/html;profile=mcp-app']]) {
      const listed = resources.find((r) => r.uri === uri);
      assert.equal(listed.mimeType, mimeType);

      const { contents } = await client.readResource({ uri }, REQUEST);
      assert.equal(contents.length, 1);
      assert.equal(contents[0].uri, uri);
      assert.equal(contents[0].mimeType, mimeType);
      assert.ok(contents[0].text.startsWith('<!doctype html>'), 'widget text is not HTML');
      assert.deepEqual(contents[0]._meta?.ui?.csp, { connectDomains: [], resourceDomains: [] });
      assert.equal(contents[0]._meta?.ui?.prefersBorder, true);
      texts.push(contents[0].text);
    }
    assert.equal(texts[0], texts[1], 'one widget, two forms');
  });
});
