// The weather widget in headless Chromium, behind two harness pages that play the
// host: ChatGPT's Apps SDK (window.openai) and an MCP Apps host (ui/* JSON-RPC over
// postMessage). The widget HTML and the tool results come from the real mcp-host
// running the weather component, with Open-Meteo replaced by fake-open-meteo.
//
// Environment: MCP_HOST_BIN, FAKE_OPEN_METEO_BIN, WEATHER_WASM, CHROMIUM_BIN
// (default /usr/bin/chromium), SCREENSHOT_DIR (default build/screenshots).
import { describe, before, after, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { FIXTURE, REPO, removeAtExit, startFake, startHost, stop } from '../support/processes.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? join(REPO, 'build/screenshots');

const SKYBRIDGE_MIME = 'text/html+skybridge';
const MCP_APP_MIME = 'text/html;profile=mcp-app';
const STARTUP_MS = 20_000;
const WAIT_MS = 10_000; // any single wait in the browser
const TEST = { timeout: 60_000 };
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

// ---------- MCP over Streamable HTTP ----------

let rpcId = 0;
async function mcp(endpoint, method, params) {
  const id = ++rpcId;
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    signal: AbortSignal.timeout(20_000),
  });
  const body = await response.text();
  assert.equal(response.status, 200, `${method}: HTTP ${response.status} ${body}`);
  // A JSON body, or an event stream whose data lines carry the messages.
  const messages = (response.headers.get('content-type') ?? '').includes('text/event-stream')
    ? body.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)))
    : [JSON.parse(body)];
  const answer = messages.find((m) => m.id === id);
  assert.ok(answer, `${method}: no answer in ${body}`);
  return answer;
}

// ---------- the page server: harness pages, the widget resources, results, tools/call ----------

function startPageServer({ resources, results, callTool }) {
  const pages = new Set(['openai-host.html', 'mcp-apps-host.html']);
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const reply = (status, type, body) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    try {
      if (req.method === 'GET' && pages.has(url.pathname.slice(1))) {
        return reply(200, 'text/html; charset=utf-8', await readFile(join(HERE, url.pathname.slice(1))));
      }
      if (req.method === 'GET' && url.pathname === '/resource') {
        const contents = resources.get(url.searchParams.get('uri'));
        return contents ? reply(200, 'application/json', JSON.stringify(contents)) : reply(404, 'text/plain', 'no such resource');
      }
      if (req.method === 'GET' && url.pathname === '/results.json') {
        return reply(200, 'application/json', JSON.stringify(results));
      }
      if (req.method === 'POST' && url.pathname === '/call') {
        let raw = '';
        for await (const chunk of req) raw += chunk;
        return reply(200, 'application/json', JSON.stringify(await callTool(JSON.parse(raw))));
      }
      reply(404, 'text/plain', 'not found');
    } catch (error) {
      reply(500, 'text/plain', String(error));
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// A widget that breaks every rule, to prove the harness sees violations and errors.
const BAD_WIDGET = `<!doctype html><html><head><title>bad</title>
<link rel="stylesheet" href="https://fonts.googleapis.com/css2?family=Inter"></head>
<body><img alt="" src="http://127.0.0.1:9/pixel.png">
<script>fetch("http://127.0.0.1:9/data").catch(() => {}); console.error("widget exploded");</script></body></html>`;

// ---------- assertions in the widget ----------

const norm = (s) => String(s ?? '').replace(/\u00a0/g, ' ').replace(/\s+/g, ' ').trim();

// The rendered text of each reading element, and facts about layout, theme and contrast.
async function inspect(frame) {
  return frame.evaluate(() => {
    const text = (id) => document.getElementById(id)?.innerText ?? null;
    const rgba = (value) => {
      const m = /rgba?\(([^)]+)\)/.exec(value || '');
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const over = (top, bottom) => ({
      r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a),
      b: top.b * top.a + bottom.b * (1 - top.a), a: 1,
    });
    const luminance = ({ r, g, b }) => {
      const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const ratio = (a, b) => {
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
      return (hi + 0.05) / (lo + 0.05);
    };
    const pageBg = rgba(getComputedStyle(document.body).backgroundColor);
    const backgroundOf = (el) => {
      for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
        const bg = rgba(getComputedStyle(node).backgroundColor);
        if (bg && bg.a > 0) return bg.a < 1 ? over(bg, pageBg) : bg;
      }
      return pageBg;
    };
    // Every visible element with its own text: contrast against its background,
    // and against the card's sky tint laid over it (the worst case at the top).
    const card = document.getElementById('card');
    const tint = rgba(getComputedStyle(card).getPropertyValue('--tint'));
    const contrast = [];
    for (const el of document.querySelectorAll('body *')) {
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      const box = el.getBoundingClientRect();
      if (!own || !box.width || !box.height || el.closest('[hidden]') || el.closest('.sr-only')) continue;
      const style = getComputedStyle(el);
      const fg = rgba(style.color);
      const bg = backgroundOf(el);
      const worst = Math.min(ratio(fg, bg), tint ? ratio(fg, over(tint, bg)) : Infinity);
      const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
      const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
      contrast.push({ text: el.textContent.trim().slice(0, 40), ratio: Math.round(worst * 100) / 100, needed });
    }
    const arrow = document.querySelector('#wind .arrow');
    return {
      state: card.dataset.state,
      theme: document.documentElement.dataset.theme ?? null,
      lang: document.documentElement.lang,
      background: luminance(pageBg),
      place: text('place'), zone: text('zone'), temp: text('temp'),
      condition: text('condition'), iconLabel: document.getElementById('icon').getAttribute('aria-label'),
      iconSvg: !!document.querySelector('#icon svg'),
      feels: text('feels'), humidity: text('humidity'), wind: text('wind'), gusts: text('gusts'),
      precip: text('precip'), clouds: text('clouds'), pressure: text('pressure'),
      observed: text('observed-line'), observedAt: document.getElementById('observed').getAttribute('datetime'),
      arrow: arrow ? arrow.style.transform : null,
      attribution: text('attribution'), attributionHref: document.getElementById('attribution').href,
      failure: text('failure-text'), failureDetail: text('failure-detail'),
      refreshVisible: !document.getElementById('refresh').hidden,
      retryVisible: !document.getElementById('retry').hidden,
      overflowX: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      bodyHeight: Math.ceil(document.body.getBoundingClientRect().height),
      contrast,
    };
  });
}

function assertContrast(facts, label, atLeast = 10) {
  const poor = facts.contrast.filter((c) => c.ratio < c.needed);
  assert.ok(facts.contrast.length >= atLeast, `${label}: too few text elements checked (${facts.contrast.length})`);
  assert.deepEqual(poor, [], `${label}: text below WCAG AA contrast`);
}

// What the widget must show for the Berlin fixture, derived from the fixture.
function expectReading(facts, fixture, theme, label) {
  const c = fixture.current;
  assert.equal(facts.state, 'result', `${label}: state`);
  assert.equal(norm(facts.place), '52.52° N, 13.42° E', `${label}: place`);
  assert.equal(norm(facts.zone), `${fixture.timezone} · ${fixture.elevation} m above sea level`, `${label}: zone`);
  assert.equal(norm(facts.temp), `${c.temperature_2m}${fixture.current_units.temperature_2m}`, `${label}: temperature`);
  assert.equal(facts.condition, 'Overcast', `${label}: condition`);
  assert.equal(facts.iconLabel, 'Overcast', `${label}: icon label`);
  assert.ok(facts.iconSvg, `${label}: icon drawn`);
  assert.equal(norm(facts.feels), `Feels like ${c.apparent_temperature} °C`, `${label}: feels like`);
  assert.equal(norm(facts.humidity), `${c.relative_humidity_2m}%`, `${label}: humidity`);
  assert.equal(norm(facts.wind), `${c.wind_speed_10m} km/h from WSW ${c.wind_direction_10m}°`, `${label}: wind`);
  assert.equal(facts.arrow, `rotate(${(c.wind_direction_10m + 180) % 360}deg)`, `${label}: wind arrow`);
  assert.equal(norm(facts.gusts), `${c.wind_gusts_10m} km/h`, `${label}: gusts`);
  assert.equal(norm(facts.precip), '0 mm', `${label}: precipitation`);
  assert.equal(norm(facts.clouds), `${c.cloud_cover}%`, `${label}: cloud cover`);
  assert.equal(norm(facts.pressure), '1,018.4 hPa', `${label}: pressure`);
  assert.equal(facts.observedAt, c.time, `${label}: observation time`);
  assert.equal(norm(facts.observed), 'Observed Tue, Nov 24, 10:45 AM local time (GMT+1)', `${label}: observed`);
  assert.equal(facts.attribution, 'Weather data by Open-Meteo.com', `${label}: attribution`);
  assert.equal(facts.attributionHref, 'https://open-meteo.com/', `${label}: attribution link`);
  expectTheme(facts, theme, label);
  assert.equal(facts.lang, 'en-US', `${label}: host locale`);
  assert.ok(facts.overflowX <= 0, `${label}: ${facts.overflowX}px of horizontal overflow`);
  assertContrast(facts, label);
}

function expectTheme(facts, theme, label) {
  assert.equal(facts.theme, theme, `${label}: data-theme`);
  if (theme === 'dark') assert.ok(facts.background < 0.05, `${label}: dark background (luminance ${facts.background})`);
  else assert.ok(facts.background > 0.9, `${label}: light background (luminance ${facts.background})`);
}

// What assistive technology gets: landmarks, a heading, a named button and image,
// the details as a description list, the time, the attribution link.
async function expectAccessible(view, fixture) {
  const c = fixture.current;
  const expected = `
- main:
  - status
  - article "Current weather 52.52° N, 13.42° E":
    - heading "Current weather 52.52° N, 13.42° E" [level=1]
    - button "Refresh the current weather": Refresh
    - paragraph: ${fixture.timezone} · ${fixture.elevation} m above sea level
    - img "Overcast"
    - paragraph: ${c.temperature_2m}°C
    - paragraph: Overcast
    - paragraph: Feels like ${c.apparent_temperature} °C
    - term: Humidity
    - definition: ${c.relative_humidity_2m}%
    - term: Wind
    - definition: ${c.wind_speed_10m} km/h from WSW ${c.wind_direction_10m}°
    - term: Gusts
    - definition: ${c.wind_gusts_10m} km/h
    - term: Precipitation
    - definition: 0 mm
    - term: Cloud cover
    - definition: ${c.cloud_cover}%
    - term: Pressure
    - definition: 1,018.4 hPa
    - paragraph:
      - text: Observed
      - time: Tue, Nov 24, 10:45 AM
      - text: local time (GMT+1)
    - paragraph:
      - link "Weather data by Open-Meteo.com":
        - /url: https://open-meteo.com/`;
  const lines = (text) => text.trim().split('\n').map((l) => l.replace(/\u00a0/g, ' ').trimEnd());
  assert.deepEqual(lines(await view.widget.locator('body').ariaSnapshot()), lines(expected), 'accessibility tree');
}

// ---------- the suite ----------

describe('weather widget in headless Chromium', () => {
  let dir, fake, host, endpoint, server, origin, browser, fixture, tool;
  const resources = new Map();
  const results = {};
  const proxied = []; // every tools/call the harnesses sent to the real host

  before(async () => {
    fixture = JSON.parse(await readFile(FIXTURE, 'utf8'));
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    dir = await mkdtemp(join(tmpdir(), 'widget-browser-'));
    removeAtExit(dir);
    let fakeUrl, addr;
    ({ fake, url: fakeUrl } = await startFake());
    ({ host, addr } = await startHost(dir, fakeUrl));
    endpoint = `http://${addr}/mcp`;

    // Everything the browser sees comes from the host: the widget HTML and the results.
    const { result: listed } = await mcp(endpoint, 'tools/list', {});
    tool = listed.tools.find((t) => t.name === 'get_current_weather');
    assert.ok(tool, 'get_current_weather is listed');
    const { result: resourceList } = await mcp(endpoint, 'resources/list', {});
    for (const entry of resourceList.resources) {
      const { result } = await mcp(endpoint, 'resources/read', { uri: entry.uri });
      resources.set(entry.uri, { ...result.contents[0], listed: entry });
    }
    resources.set('test://bad-widget', { uri: 'test://bad-widget', mimeType: MCP_APP_MIME, text: BAD_WIDGET, _meta: {} });
    const call = async (args) => (await mcp(endpoint, 'tools/call', { name: 'get_current_weather', arguments: args })).result;
    results.success = await call({ latitude: 52.52, longitude: 13.41 });
    results.error = await call({ latitude: -1, longitude: 13.41 }); // the fake answers HTTP 400
    assert.equal(results.success.isError, undefined, JSON.stringify(results.success));
    assert.equal(results.error.isError, true, JSON.stringify(results.error));

    // tools/call from a widget, through its harness, to the real host. "upstream: down"
    // asks for the latitude the fake answers with HTTP 400, as if the API failed.
    const callTool = async ({ name, arguments: args, upstream }) => {
      const sent = upstream === 'down' ? { ...args, latitude: -1 } : args;
      proxied.push({ name, arguments: args, upstream: upstream ?? 'ok' });
      const answer = await mcp(endpoint, 'tools/call', { name, arguments: sent });
      return answer.error ? { jsonrpcError: answer.error } : answer.result;
    };
    server = await startPageServer({ resources, results, callTool });
    origin = `http://127.0.0.1:${server.address().port}`;

    browser = await chromium.launch({
      executablePath: CHROMIUM_BIN, headless: true, args: CHROMIUM_FLAGS, timeout: STARTUP_MS,
    });
  }, { timeout: 120_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await stop(host);
    await stop(fake);
    if (dir) await rm(dir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  // Opens a harness page and records everything that could go wrong in it.
  async function open(page, query, colorScheme = 'light') {
    const context = await browser.newContext({
      viewport: { width: 900, height: 900 }, deviceScaleFactor: 2, locale: 'en-US', colorScheme,
    });
    context.setDefaultTimeout(WAIT_MS);
    const tab = await context.newPage();
    const record = { console: [], pageErrors: [], requests: [], finished: [] };
    tab.on('console', (m) => { if (m.type() === 'error') record.console.push(`${m.text()} @ ${m.location().url}`); });
    tab.on('pageerror', (e) => record.pageErrors.push(String(e)));
    context.on('request', (r) => record.requests.push({ url: r.url(), main: r.frame() === tab.mainFrame() }));
    context.on('requestfinished', (r) => record.finished.push(r.url()));
    await tab.goto(`${origin}/${page}?${new URLSearchParams(query)}`);
    const frame = await (await tab.waitForSelector('#widget')).contentFrame();
    const widget = tab.frameLocator('#widget');
    return { context, tab, frame, widget, record };
  }

  async function harness(view) {
    return view.tab.evaluate(() => JSON.parse(JSON.stringify(window.harness)));
  }

  // No CSP violation, no error or console error anywhere, no request but the harness's own.
  async function expectClean(view, label) {
    const h = await harness(view);
    assert.deepEqual(h.violations, [], `${label}: CSP violations`);
    assert.deepEqual(h.errors, [], `${label}: errors in the widget`);
    assert.deepEqual(view.record.console, [], `${label}: console errors`);
    assert.deepEqual(view.record.pageErrors, [], `${label}: page errors`);
    for (const request of view.record.requests) {
      assert.ok(request.main && request.url.startsWith(`${origin}/`), `${label}: unexpected request ${JSON.stringify(request)}`);
    }
    return h;
  }

  const waitForState = (view, state) =>
    view.frame.waitForFunction((s) => document.getElementById('card')?.dataset.state === s, state, { timeout: WAIT_MS });
  const waitForHarness = (view, predicate, arg) =>
    view.tab.waitForFunction(predicate, arg, { timeout: WAIT_MS });

  async function screenshot(view, name) {
    await view.tab.locator('#frame-box').screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), animations: 'disabled' });
  }

  // The host resized the iframe to what the widget reported: nothing is cut off.
  async function expectFitted(view, label) {
    const { frameHeight, facts } = {
      frameHeight: await view.tab.evaluate(() => document.getElementById('widget').getBoundingClientRect().height),
      facts: await inspect(view.frame),
    };
    assert.ok(Math.abs(frameHeight - facts.bodyHeight) <= 1, `${label}: iframe ${frameHeight}px, content ${facts.bodyHeight}px`);
  }

  it('links both widget forms from the tool and serves them with both hosts\' metadata', () => {
    const meta = tool._meta;
    assert.equal(meta['openai/outputTemplate'], 'ui://widget/current-weather.html');
    assert.equal(meta.ui.resourceUri, 'ui://widget/current-weather.mcp-app.html');
    assert.deepEqual(meta.ui.visibility, ['model', 'app']);
    assert.equal(meta['openai/widgetAccessible'], true);
    const skybridge = resources.get(meta['openai/outputTemplate']);
    const mcpApp = resources.get(meta.ui.resourceUri);
    assert.equal(skybridge.mimeType, SKYBRIDGE_MIME);
    assert.equal(skybridge.listed.mimeType, SKYBRIDGE_MIME);
    assert.equal(mcpApp.mimeType, MCP_APP_MIME);
    assert.equal(mcpApp.listed.mimeType, MCP_APP_MIME);
    assert.equal(skybridge.text, mcpApp.text, 'one widget, two forms');
    for (const contents of [skybridge, mcpApp]) {
      assert.deepEqual(contents._meta.ui.csp, { connectDomains: [], resourceDomains: [] });
      assert.deepEqual(contents._meta['openai/widgetCSP'], { connect_domains: [], resource_domains: [] });
      assert.equal(contents._meta.ui.prefersBorder, true);
      assert.equal(contents._meta['openai/widgetPrefersBorder'], true);
      assert.ok(contents._meta['openai/widgetDescription'].length > 20);
      assert.equal(contents._meta['openai/widgetDomain'], undefined, 'WIDGET_DOMAIN is not set here');
      assert.ok(contents.text.startsWith('<!doctype html>'));
    }
  });

  for (const theme of ['light', 'dark']) {
    it(`window.openai: renders toolOutput present at load (${theme})`, TEST, async () => {
      const view = await open('openai-host.html', { widget: tool._meta['openai/outputTemplate'], theme, order: 'before' });
      try {
        await waitForHarness(view, () => window.harness?.ready);
        await waitForState(view, 'result');
        expectReading(await inspect(view.frame), fixture, theme, `openai ${theme}`);
        await expectAccessible(view, fixture);
        await waitForHarness(view, () => window.harness.heights.length > 0);
        await expectFitted(view, `openai ${theme}`);
        const h = await expectClean(view, `openai ${theme}`);
        assert.ok(h.heights.every((x) => x > 0 && x <= 600), `heights ${h.heights}`);
        // A pure Apps SDK host ignores the MCP Apps handshake; the widget did not wait for it.
        assert.ok(h.events.some((e) => e.type === 'ignored-postMessage' && e.data.method === 'ui/initialize'));
        await screenshot(view, `openai-${theme}`);
      } finally {
        await view.context.close();
      }
    });
  }

  it('window.openai: loading, then toolInput and toolOutput delivered by openai:set_globals after load', TEST, async () => {
    const view = await open('openai-host.html', { theme: 'light', order: 'after' });
    try {
      await waitForHarness(view, () => window.harness?.ready);
      await waitForState(view, 'result');
      const h = await harness(view);
      const steps = h.events.map((e) => e.type);
      assert.ok(steps.indexOf('iframe-load') < steps.indexOf('set_globals'), steps.join(' '));
      expectReading(await inspect(view.frame), fixture, 'light', 'openai after');
      await expectClean(view, 'openai after');
    } finally {
      await view.context.close();
    }
  });

  it('window.openai: shows loading until the call is approved', TEST, async () => {
    const view = await open('openai-host.html', { theme: 'dark', order: 'after', approve: 'manual' });
    try {
      await waitForHarness(view, () => window.harness?.loaded);
      await view.frame.waitForSelector('#loading', { state: 'visible' });
      const facts = await inspect(view.frame);
      assert.equal(facts.state, 'loading');
      assert.equal(norm(await view.widget.locator('#loading p').innerText()), 'Loading the current weather…');
      assert.equal(await view.widget.locator('#card').getAttribute('aria-busy'), 'true');
      expectTheme(facts, 'dark', 'openai loading');
      await waitForHarness(view, () => window.harness.heights.length > 0);
      await screenshot(view, 'loading-dark');
      await view.tab.evaluate(() => window.harness.approve());
      await waitForState(view, 'result');
      assert.equal(await view.widget.locator('#card').getAttribute('aria-busy'), 'false');
      expectReading(await inspect(view.frame), fixture, 'dark', 'openai approved');
      await expectClean(view, 'openai loading');
    } finally {
      await view.context.close();
    }
  });

  it('window.openai: renders when window.openai only appears after the widget started', TEST, async () => {
    const view = await open('openai-host.html', { theme: 'dark', order: 'late' });
    try {
      await waitForHarness(view, () => window.harness?.ready);
      await waitForState(view, 'result');
      expectReading(await inspect(view.frame), fixture, 'dark', 'openai late');
      await expectClean(view, 'openai late');
    } finally {
      await view.context.close();
    }
  });

  it('window.openai: follows theme changes, refreshes through callTool, opens links through the host', TEST, async () => {
    const view = await open('openai-host.html', { theme: 'light', order: 'before' });
    try {
      await waitForState(view, 'result');
      await view.tab.evaluate(() => window.harness.setGlobals({ theme: 'dark' }));
      await view.frame.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
      expectReading(await inspect(view.frame), fixture, 'dark', 'openai theme change');

      const before = proxied.length;
      const button = view.widget.getByRole('button', { name: 'Refresh the current weather' });
      await button.click();
      await waitForHarness(view, () => window.harness.events.some((e) => e.type === 'callTool-result'));
      await view.frame.waitForFunction(() => !document.getElementById('refresh').disabled);
      const h = await harness(view);
      assert.deepEqual(h.calls, [{ name: 'get_current_weather', args: { latitude: 52.52, longitude: 13.41 } }]);
      assert.deepEqual(proxied.slice(before), [{ name: 'get_current_weather', arguments: { latitude: 52.52, longitude: 13.41 }, upstream: 'ok' }]);
      expectReading(await inspect(view.frame), fixture, 'dark', 'openai refreshed');
      assert.equal(norm(await view.widget.locator('#status').textContent()), 'The current weather is up to date.');

      await view.widget.getByRole('link', { name: 'Weather data by Open-Meteo.com' }).click();
      await waitForHarness(view, () => window.harness.externals.length > 0);
      assert.deepEqual((await harness(view)).externals, [{ href: 'https://open-meteo.com/' }]);
      await expectClean(view, 'openai actions');
    } finally {
      await view.context.close();
    }
  });

  it('window.openai: a failed refresh (tool error) is a friendly message with a retry', TEST, async () => {
    const view = await open('openai-host.html', { theme: 'light', order: 'before', upstream: 'down' });
    try {
      await waitForState(view, 'result');
      await view.widget.getByRole('button', { name: 'Refresh the current weather' }).click();
      await waitForState(view, 'failure');
      const facts = await inspect(view.frame);
      assert.match(facts.failure, /couldn't answer this request/);
      assert.equal(facts.failureDetail, results.error.content[0].text);
      assert.ok(facts.retryVisible, 'retry offered');
      assert.equal(await view.widget.getByRole('alert').count(), 1);
      assertContrast(facts, 'openai error', 4);
      await expectClean(view, 'openai error');
    } finally {
      await view.context.close();
    }
  });

  for (const theme of ['light', 'dark']) {
    it(`MCP Apps: initialize handshake, tool-input, tool-result, size-changed (${theme})`, TEST, async () => {
      const view = await open('mcp-apps-host.html', { widget: tool._meta.ui.resourceUri, theme });
      try {
        await waitForHarness(view, () => window.harness?.ready);
        await waitForState(view, 'result');
        await waitForHarness(view, () => window.harness.sizes.length > 0);
        const h = await harness(view);
        // The View speaks first; the host answers, then waits for initialized.
        assert.equal(h.received[0].method, 'ui/initialize');
        assert.equal(h.received[0].params.protocolVersion, '2026-01-26');
        assert.equal(h.received[0].params.appInfo.name, 'current-weather-widget');
        assert.equal(h.sent[0].id, h.received[0].id, 'the first host message answers ui/initialize');
        const order = h.events.filter((e) => e.type === 'view->host' || e.type === 'host->view')
          .map((e) => e.data.method ?? `response#${e.data.id}`);
        const at = (name) => order.indexOf(name);
        assert.ok(at('ui/notifications/initialized') > 0, order.join(' '));
        assert.ok(at('ui/notifications/initialized') < at('ui/notifications/tool-input'), order.join(' '));
        assert.ok(at('ui/notifications/tool-input') < at('ui/notifications/tool-result'), order.join(' '));
        for (const size of h.sizes) {
          assert.ok(size.width > 0 && size.height > 0 && size.height <= 600, JSON.stringify(size));
        }
        expectReading(await inspect(view.frame), fixture, theme, `mcp-apps ${theme}`);
        await expectAccessible(view, fixture);
        await expectFitted(view, `mcp-apps ${theme}`);
        await expectClean(view, `mcp-apps ${theme}`);
        await screenshot(view, `mcp-apps-${theme}`);
      } finally {
        await view.context.close();
      }
    });
  }

  it('MCP Apps: loading until the result arrives, then host-context-changed switches the theme', TEST, async () => {
    const view = await open('mcp-apps-host.html', { theme: 'light', delay: 'manual' });
    try {
      await waitForHarness(view, () => !!window.harness?.deliver);
      await waitForHarness(view, () => window.harness.sizes.length > 0);
      assert.equal((await inspect(view.frame)).state, 'loading');
      await view.tab.evaluate(() => window.harness.deliver());
      await waitForState(view, 'result');
      await view.tab.evaluate(() => window.harness.notify('ui/notifications/host-context-changed', { theme: 'dark' }));
      await view.frame.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
      expectReading(await inspect(view.frame), fixture, 'dark', 'mcp-apps context change');
      await expectClean(view, 'mcp-apps context change');
    } finally {
      await view.context.close();
    }
  });

  it('MCP Apps: refresh sends tools/call through the host; the attribution opens through ui/open-link', TEST, async () => {
    const view = await open('mcp-apps-host.html', { theme: 'light' });
    try {
      await waitForState(view, 'result');
      const before = proxied.length;
      await view.widget.getByRole('button', { name: 'Refresh the current weather' }).click();
      await waitForHarness(view, () => window.harness.calls.length > 0 &&
        window.harness.sent.some((m) => m.id != null && m.result && m.result.structuredContent));
      await view.frame.waitForFunction(() => !document.getElementById('refresh').disabled);
      const h = await harness(view);
      assert.deepEqual(h.calls, [{ name: 'get_current_weather', arguments: { latitude: 52.52, longitude: 13.41 } }]);
      assert.deepEqual(proxied.slice(before), [{ name: 'get_current_weather', arguments: { latitude: 52.52, longitude: 13.41 }, upstream: 'ok' }]);
      expectReading(await inspect(view.frame), fixture, 'light', 'mcp-apps refreshed');

      await view.widget.getByRole('link', { name: 'Weather data by Open-Meteo.com' }).click();
      await waitForHarness(view, () => window.harness.links.length > 0);
      assert.deepEqual((await harness(view)).links, [{ url: 'https://open-meteo.com/' }]);
      await expectClean(view, 'mcp-apps actions');
    } finally {
      await view.context.close();
    }
  });

  it('MCP Apps: follows the system theme while the host names none', TEST, async () => {
    for (const scheme of ['dark', 'light']) {
      const view = await open('mcp-apps-host.html', { theme: 'system' }, scheme);
      try {
        await waitForState(view, 'result');
        expectReading(await inspect(view.frame), fixture, scheme, `system ${scheme}`);
        await view.tab.evaluate(() => window.harness.notify('ui/notifications/host-context-changed', { theme: 'light' }));
        await view.frame.waitForFunction(() => document.documentElement.dataset.theme === 'light');
        await view.tab.emulateMedia({ colorScheme: 'dark' });
        await view.tab.waitForTimeout(100);
        assert.equal((await inspect(view.frame)).theme, 'light', 'the host\'s theme wins over the system\'s');
        await expectClean(view, `system ${scheme}`);
      } finally {
        await view.context.close();
      }
    }
  });

  it('MCP Apps: missing values (null) are placeholders, not errors', TEST, async () => {
    const view = await open('mcp-apps-host.html', { theme: 'light', result: 'nulls' });
    try {
      await waitForState(view, 'result');
      const facts = await inspect(view.frame);
      assert.equal(norm(facts.temp), '—');
      assert.equal(norm(facts.wind), `${fixture.current.wind_speed_10m} km/h`);
      assert.equal(norm(facts.gusts), '—');
      assert.equal(norm(facts.feels), `Feels like ${fixture.current.apparent_temperature} °C`);
      assert.equal(facts.condition, 'Overcast');
      assert.ok(facts.iconSvg);
      assertContrast(facts, 'nulls');
      await expectClean(view, 'nulls');
    } finally {
      await view.context.close();
    }
  });

  it('MCP Apps: ignores JSON-RPC that does not come from its host window', TEST, async () => {
    const view = await open('mcp-apps-host.html', { theme: 'light' });
    try {
      await waitForState(view, 'result');
      // Another frame on the page posts a forged tool-result and theme change to the widget.
      await view.tab.evaluate((forged) => new Promise((resolve, reject) => {
        setTimeout(() => reject(new Error('the intruder frame did not run')), 5000);
        const intruder = document.createElement('iframe');
        intruder.sandbox = 'allow-scripts';
        intruder.srcdoc = `<script>
          for (const m of ${JSON.stringify(forged)}) parent.frames[0].postMessage(m, "*");
          parent.postMessage({ intruder: "done" }, "*");
        <\/script>`;
        addEventListener('message', (e) => { if (e.data && e.data.intruder) resolve(); });
        document.body.append(intruder);
      }), [
        { jsonrpc: '2.0', method: 'ui/notifications/tool-result', params: results.error },
        { jsonrpc: '2.0', method: 'ui/notifications/host-context-changed', params: { theme: 'dark' } },
      ]);
      await view.tab.waitForTimeout(300);
      const facts = await inspect(view.frame);
      assert.equal(facts.state, 'result', 'the forged error was ignored');
      assert.equal(facts.theme, 'light', 'the forged theme was ignored');
      await expectClean(view, 'forged messages');
    } finally {
      await view.context.close();
    }
  });

  it('MCP Apps: without serverTools there is no refresh button', TEST, async () => {
    const view = await open('mcp-apps-host.html', { theme: 'light', serverTools: '0' });
    try {
      await waitForState(view, 'result');
      assert.equal((await inspect(view.frame)).refreshVisible, false);
      await expectClean(view, 'mcp-apps no serverTools');
    } finally {
      await view.context.close();
    }
  });

  for (const theme of ['light', 'dark']) {
    it(`MCP Apps: an isError result is a friendly message, and retry calls the tool again (${theme})`, TEST, async () => {
      const view = await open('mcp-apps-host.html', { theme, result: 'error' });
      try {
        await waitForHarness(view, () => window.harness?.ready);
        await waitForState(view, 'failure');
        const facts = await inspect(view.frame);
        assert.equal(norm(await view.widget.locator('#failure-title').innerText()), 'Weather unavailable');
        assert.match(facts.failure, /couldn't answer this request/);
        assert.equal(facts.failureDetail, results.error.content[0].text);
        assert.match(facts.failureDetail, /Given: 95\.0\./);
        expectTheme(facts, theme, `error ${theme}`);
        assertContrast(facts, `error ${theme}`, 4);
        await waitForHarness(view, () => window.harness.sizes.length > 0);
        await expectFitted(view, `error ${theme}`);
        await screenshot(view, `error-${theme}`);

        await view.widget.getByRole('button', { name: 'Try again' }).click();
        await waitForHarness(view, () => window.harness.calls.length > 0 &&
          window.harness.sent.some((m) => m.id != null && m.result && m.result.isError));
        assert.deepEqual((await harness(view)).calls, [{ name: 'get_current_weather', arguments: { latitude: -1, longitude: 13.41 } }]);
        await view.frame.waitForFunction(() => !document.getElementById('retry').disabled);
        assert.equal((await inspect(view.frame)).state, 'failure');
        await expectClean(view, `error ${theme}`);
      } finally {
        await view.context.close();
      }
    });
  }

  for (const [width, theme] of [[320, 'light'], [320, 'dark'], [700, 'light'], [700, 'dark']]) {
    it(`fits a ${width} px iframe (${theme})`, TEST, async () => {
      const view = await open('mcp-apps-host.html', { theme, width });
      try {
        await waitForState(view, 'result');
        await waitForHarness(view, () => window.harness.sizes.length > 0);
        const facts = await inspect(view.frame);
        expectReading(facts, fixture, theme, `${width}px ${theme}`);
        // Every value is inside the frame, none clipped or overlapping the next tile.
        const boxes = await view.frame.evaluate(() => [...document.querySelectorAll('.fact, #refresh, .temp, .summary')]
          .map((el) => { const r = el.getBoundingClientRect(); return { id: el.id || el.className, left: r.left, right: r.right, width: r.width }; }));
        for (const box of boxes) {
          assert.ok(box.left >= 0 && box.right <= width && box.width > 0, `${width}px: ${JSON.stringify(box)}`);
        }
        await view.frame.waitForFunction(() => document.getElementById('wind').scrollWidth <= document.getElementById('wind').clientWidth);
        await expectFitted(view, `${width}px ${theme}`);
        await expectClean(view, `${width}px ${theme}`);
        await screenshot(view, `mcp-apps-${theme}-${width}`);
      } finally {
        await view.context.close();
      }
    });
  }

  it('stays within the host\'s maxHeight in both bridges, scrolling inside', TEST, async () => {
    for (const [page, list] of [['openai-host.html', 'heights'], ['mcp-apps-host.html', 'sizes']]) {
      const view = await open(page, { theme: 'light', maxHeight: 280 });
      try {
        await waitForState(view, 'result');
        await waitForHarness(view, (name) => window.harness[name].length > 0, list);
        const reported = (await harness(view))[list].map((x) => (typeof x === 'number' ? x : x.height));
        assert.ok(reported.every((h) => h > 0 && h <= 280), `${page}: ${reported}`);
        const body = await view.frame.evaluate(() => ({
          max: getComputedStyle(document.body).maxHeight, scroll: document.body.scrollHeight, client: document.body.clientHeight,
        }));
        assert.equal(body.max, '280px', page);
        assert.ok(body.scroll > body.client, `${page}: the rest scrolls (${JSON.stringify(body)})`);
        await expectClean(view, `${page} maxHeight`);
      } finally {
        await view.context.close();
      }
    }
  });

  it('the harness sees CSP violations and console errors (a widget that breaks the rules)', TEST, async () => {
    const view = await open('mcp-apps-host.html', { widget: 'test://bad-widget', theme: 'light' });
    try {
      await waitForHarness(view, () => window.harness.violations.length >= 3);
      const h = await harness(view);
      const directives = new Set(h.violations.map((v) => v.directive));
      for (const directive of ['style-src-elem', 'img-src', 'connect-src']) {
        assert.ok(directives.has(directive), `${directive} in ${[...directives]}`);
      }
      assert.ok(h.errors.some((e) => e.message === 'widget exploded'), JSON.stringify(h.errors));
      assert.ok(view.record.console.some((m) => m.includes('widget exploded')), view.record.console.join('\n'));
      // What the widget asked for (if Chromium reports the attempt at all) never completed.
      const attempted = view.record.requests.filter((r) => !r.main).map((r) => r.url);
      assert.deepEqual(attempted.filter((url) => view.record.finished.includes(url)), [], 'the CSP blocked them');
      assert.ok(view.record.finished.every((url) => url.startsWith(`${origin}/`)), view.record.finished.join(' '));
    } finally {
      await view.context.close();
    }
  });
});
