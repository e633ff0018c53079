// Starting and stopping the servers the JavaScript tests run against: the
// fake Open-Meteo API and mcp-host (or a component alone under wasmtime serve).
// Every process started here is killed however the test process ends.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const MCP_HOST_BIN = process.env.MCP_HOST_BIN ?? join(REPO, 'target/release/mcp-host');
export const FAKE_BIN = process.env.FAKE_OPEN_METEO_BIN ?? join(REPO, 'target/release/fake-open-meteo');
export const WEATHER_WASM = process.env.WEATHER_WASM ?? join(REPO, 'target/wasm32-wasip2/guest/weather.wasm');
export const WHOAMI_WASM = process.env.WHOAMI_WASM ?? join(REPO, 'target/wasm32-wasip2/guest/whoami.wasm');
export const FIXTURE = join(REPO, 'tests/fixtures/open-meteo/01-current-berlin-timezone-auto.json');
const STARTUP_MS = 20_000;

const children = new Set();
const tempDirs = new Set();
const killAll = () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
};
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => { killAll(); process.exit(128 + constants.signals[signal]); });
}

/** Removes `dir` when the process ends, if nothing removed it before. */
export function removeAtExit(dir) {
  tempDirs.add(dir);
}

/** Spawns a process and keeps draining its output (a full pipe would block it), remembering the lines. */
export function spawnLogged(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.lines = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      child.lines.push(line);
      child.emit('line', line);
    });
  }
  return child;
}

/**
 * Resolves with the match of the first output line matching `re`; rejects if the
 * process fails to start, exits, or stays silent for `ms`.
 */
export function waitForLine(child, re, ms = STARTUP_MS) {
  const seen = child.lines.map((l) => re.exec(l)).find(Boolean);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const onLine = (line) => {
      const m = re.exec(line);
      if (m) finish(() => resolve(m));
    };
    const fail = (why) => finish(() =>
      reject(new Error(`${child.spawnfile}: ${why} before printing ${re}; output:\n${child.lines.join('\n')}`)));
    const onExit = (code, signal) => fail(`exited (code ${code}, signal ${signal})`);
    const onError = (err) => fail(`failed to start (${err.message})`);
    const timer = setTimeout(() => fail(`nothing within ${ms} ms`), ms);
    const finish = (settle) => {
      clearTimeout(timer);
      child.off('line', onLine).off('exit', onExit).off('error', onError);
      settle();
    };
    child.on('line', onLine).on('exit', onExit).on('error', onError);
  });
}

/** Stops a process: SIGTERM, then SIGKILL after 5 s. */
export async function stop(child) {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killer);
}

/** Starts the fake forecast API; resolves with the process and its base URL. */
export async function startFake() {
  const fake = spawnLogged(FAKE_BIN, ['127.0.0.1:0']);
  const [, url] = await waitForLine(fake, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  return { fake, url };
}

/**
 * Starts mcp-host with the weather component in `dir`, its policy pointing at
 * the fake API; resolves with the process and its host:port once it is ready.
 */
export async function startHost(dir, fakeUrl, extraEnv = {}) {
  // The policy is the only way the sandboxed component may reach the fake.
  await copyFile(WEATHER_WASM, join(dir, 'weather.wasm'));
  const vars = { OPEN_METEO_URL: fakeUrl, ...extraEnv };
  const table = Object.entries(vars).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ');
  await writeFile(join(dir, 'weather.toml'), `[outbound]\nallow = [${JSON.stringify(fakeUrl)}]\n[env]\nvars = { ${table} }\n`);
  const host = spawnLogged(MCP_HOST_BIN, ['--components', dir, '--listen', '127.0.0.1:0']);
  const [, addr] = await waitForLine(host, /MCP endpoint at \/mcp addr=(127\.0\.0\.1:\d+)/);
  await waitForLine(host, / ready /);
  return { host, addr };
}
