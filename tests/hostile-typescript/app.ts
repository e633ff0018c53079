// A TypeScript tool component that tries what the sandbox must stop: the
// host's files and network (raw WASI), its environment, hosts outside its
// policy, unbounded memory and time. The same probes, answering in the same
// shapes, as the Rust `tests/hostile` and the Python `tests/hostile-python`;
// built by `make build` for the sandbox tests, never deployed.

// @ts-nocheck: the WASI imports have no type declarations here.
import { getDirectories } from "wasi:filesystem/preopens@0.2.12";
import { instanceNetwork } from "wasi:sockets/instance-network@0.2.12";
import { createTcpSocket } from "wasi:sockets/tcp-create-socket@0.2.12";
import { createUdpSocket } from "wasi:sockets/udp-create-socket@0.2.12";
import { getEnvironment } from "wasi:cli/environment@0.2.12";
import { env, tool } from "../../guest/typescript/sdk/mcp-tool";

const none = { type: "object", properties: {} };

/** `{"Ok": "ok"}`, or the WASI error code the attempt was refused with. */
function code(attempt: () => unknown) {
  try {
    attempt();
  } catch (error) {
    return { Err: String(error?.payload ?? error) };
  }
  return { Ok: "ok" };
}

/** "ok", or "error: ..." for an attempt that threw. */
async function outcome(attempt: () => unknown) {
  try {
    await attempt();
  } catch (error) {
    return `error: ${error}`;
  }
  return "ok";
}

tool("files", { description: "Tries to find the host's files.", inputSchema: none }, async () => {
  // JavaScript has no file API here: only preopened directories could be reached.
  const preopens = getDirectories();
  const none = async () => {
    if (preopens.length === 0) throw new Error("no preopened directory");
  };
  return JSON.stringify({ preopens: preopens.length, read: await outcome(none), write: await outcome(none),
    list: await outcome(none) });
});

// No DNS probe: componentize-js 0.23 cannot bind `ip-name-lookup` (its
// `network` argument comes from a types-only interface it generates no module
// for), so a JavaScript tool cannot even ask.
tool("sockets", {
  description: "Tries TCP and UDP through raw WASI sockets, and a connection to `address`.",
  inputSchema: { type: "object", properties: { address: { type: "string" } } },
}, async ({ address }) => {
  const connect = () => {
    const socket = createTcpSocket("ipv4");
    const [host, port] = String(address).split(":");
    socket.startConnect(instanceNetwork(), { tag: "ipv4", val: { address: host.split(".").map(Number), port: Number(port) } });
  };
  return JSON.stringify({
    tcp: code(() => createTcpSocket("ipv4")),
    udp: code(() => createUdpSocket("ipv4")),
    connect: await outcome(connect),
  });
});

tool("env", { description: "Reports every environment variable it can see.", inputSchema: none }, () =>
  JSON.stringify({ wasi: getEnvironment().sort(), VISIBLE: env("VISIBLE") ?? null }));

tool("fetch", {
  description: "GETs `url` `times` times and reports what happened.",
  inputSchema: { type: "object", properties: { url: { type: "string" }, times: { type: "integer" } }, required: ["url"] },
}, async ({ url, times }) => {
  const outcomes = [];
  for (let i = 0; i < Number(times ?? 1); i++) {
    try {
      const response = await fetch(String(url));
      const body = new Uint8Array(await response.arrayBuffer());
      outcomes.push(`HTTP ${response.status} (${body.length} bytes)`);
    } catch (error) {
      outcomes.push(`failed: ${error}`);
    }
  }
  return outcomes.join("\n");
});

tool("allocate", { description: "Allocates memory until it fails.", inputSchema: none }, () => {
  const hoard = [];
  for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
});

tool("spin", { description: "Loops forever.", inputSchema: none }, () => {
  for (;;) {
    // nothing
  }
});

export { completion, prompts, resources, tools } from "../../guest/typescript/sdk/mcp-tool";
