// The operator's status page in headless Chromium: the real mcp-host, after a
// few calls of the weather component and with a component it refused, serves
// `/status` as HTML to the browser (JSON to programs). The page must load
// nothing but itself, break none of its Content-Security-Policy, show the
// components, tools, charts, pools and refusals, and read in both themes.
//
// Environment: MCP_HOST_BIN, FAKE_OPEN_METEO_BIN, WEATHER_WASM, CHROMIUM_BIN
// (default /usr/bin/chromium), SCREENSHOT_DIR (default build/screenshots).
import { describe, before, after, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO, removeAtExit, startFake, startHost, stop } from '../support/processes.mjs';

const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? join(REPO, 'build/screenshots');
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

async function mcp(endpoint, method, params) {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(20_000),
  });
  assert.equal(response.status, 200);
  return response.json();
}

describe('status page in headless Chromium', () => {
  let dir, fake, host, base, browser;

  before(async () => {
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    dir = await mkdtemp(join(tmpdir(), 'status-browser-'));
    removeAtExit(dir);
    // A component the host refuses: its bytes are no component at all.
    await writeFile(join(dir, 'broken.wasm'), '<script>alert(1)</script>');
    let fakeUrl, addr;
    ({ fake, url: fakeUrl } = await startFake());
    ({ host, addr } = await startHost(dir, fakeUrl));
    base = `http://${addr}`;
    for (const latitude of [52.52, 48.85, 40.71, -1]) {
      const { result } = await mcp(`${base}/mcp`, 'tools/call', { name: 'get_current_weather', arguments: { latitude, longitude: 13.41 } });
      assert.equal(result.isError, latitude === -1 ? true : undefined, JSON.stringify(result));
    }
    browser = await chromium.launch({ executablePath: CHROMIUM_BIN, headless: true, args: CHROMIUM_FLAGS, timeout: 20_000 });
  }, { timeout: 120_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await stop(host);
    await stop(fake);
    if (dir) await rm(dir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  it('answers programs with JSON, as before', async () => {
    for (const accept of [undefined, '*/*', 'application/json']) {
      const response = await fetch(`${base}/status`, { headers: accept ? { accept } : {} });
      assert.match(response.headers.get('content-type'), /^application\/json/);
      const status = await response.json();
      assert.equal(status.ready, true);
      assert.ok(status.components.weather.serving);
      assert.equal(status.events, undefined, 'the JSON is unchanged');
    }
  });

  for (const theme of ['light', 'dark']) {
    it(`shows components, tools, pools and refusals (${theme})`, async () => {
      const context = await browser.newContext({ viewport: { width: 1000, height: 900 }, deviceScaleFactor: 2, colorScheme: theme });
      await context.addInitScript(() => {
        window.violations = [];
        document.addEventListener('securitypolicyviolation', (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      const tab = await context.newPage();
      const problems = [];
      const requests = [];
      tab.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
      tab.on('pageerror', (e) => problems.push(String(e)));
      tab.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
      context.on('request', (r) => requests.push(r.url()));
      const response = await tab.goto(`${base}/status`);
      assert.match(response.headers()['content-type'], /^text\/html/);
      assert.match(response.headers()['content-security-policy'], /^default-src 'none'; style-src 'sha256-/);

      const text = await tab.locator('body').innerText();
      for (const needle of ['ready', 'weather', 'get_current_weather', 'broken', 'refused', 'Instance pools']) {
        assert.ok(text.includes(needle), `${needle} on the page:\n${text}`);
      }
      // The refusal reads as text: its line breaks are spaces, not replacement characters.
      assert.ok(!text.includes('\uFFFD'), `a replacement character on the page:\n${text}`);
      assert.match(text, /expected=\[ +0x0, +0x61,/);
      // Four calls, one of them failed; one chart per tool, one meter per pool.
      const row = await tab.locator('tr', { hasText: 'get_current_weather' }).last().innerText();
      assert.match(row, /get_current_weather\s+4\s+1\s+[\d.]+ ms\s+[\d.]+ ms/);
      assert.ok(await tab.locator('svg polyline.p50').count() >= 1);
      assert.ok(await tab.locator('svg rect.err').count() >= 1);
      // The stylesheet applied (its hash matches the policy) and follows the theme.
      const background = await tab.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(background, theme === 'dark' ? 'rgb(22, 22, 24)' : 'rgb(250, 250, 250)');

      assert.deepEqual(await tab.evaluate(() => window.violations), [], 'CSP violations');
      assert.deepEqual(problems, [], 'console errors');
      assert.deepEqual(requests, [`${base}/status`], 'nothing but the page itself is loaded');
      await tab.screenshot({ path: join(SCREENSHOT_DIR, `status-${theme}.png`), fullPage: true, animations: 'disabled' });
      await context.close();
    });
  }
});
