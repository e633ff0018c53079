// The official TypeScript SDK client in one session against the MCP endpoint at
// MCP_URL (the multi-instance tests point it at nginx in front of three hosts):
// connects, lists the tools, calls get_current_weather CALLS times, and prints
// what it got as one JSON line. Any failure exits non-zero.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const REQUEST = { timeout: 20_000 };
const client = new Client({ name: 'multi-instance-ts', version: '0.0.0' });
const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL));
await client.connect(transport, REQUEST);
const { tools } = await client.listTools(undefined, REQUEST);
const temperatures = [];
for (let i = 0; i < Number(process.env.CALLS); i++) {
  const result = await client.callTool(
    { name: 'get_current_weather', arguments: { latitude: 52.52, longitude: 13.41 } },
    undefined,
    REQUEST,
  );
  if (result.isError) throw new Error(`call ${i} failed: ${JSON.stringify(result)}`);
  temperatures.push(result.structuredContent.current.temperature);
}
console.log(JSON.stringify({ session: transport.sessionId, tools: tools.map((t) => t.name), temperatures }));
await client.close();
