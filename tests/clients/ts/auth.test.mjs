// The official TypeScript SDK client signing in to mcp-host with OAuth: it
// connects and lists without a token, gets the 401 challenge when it calls a
// protected tool, discovers the metadata, registers itself with a local
// authorization server, runs authorization code with PKCE, and calls the tool
// with the token it got. Only mcp-host does OAuth, so `wasmtime serve` skips it.
import { describe, before, after, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { MCP_HOST_BIN, WHOAMI_WASM, spawnLogged, stop, waitForLine } from '../../support/processes.mjs';
import { startIssuer } from '../../support/issuer.mjs';

const REQUEST = { timeout: 20_000 };

/** A port free right now, so the resource identifier can name it before the host starts. */
async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** An OAuth client that keeps everything in memory and "opens" the browser by following the redirect itself. */
class Provider {
  redirectUrl = 'http://127.0.0.1:9/callback';
  clientMetadata = {
    client_name: 'sdk-auth-test',
    redirect_uris: [this.redirectUrl],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  clientInformation() { return this.client; }
  saveClientInformation(client) { this.client = client; }
  tokens() { return this.saved; }
  saveTokens(tokens) { this.saved = tokens; }
  saveCodeVerifier(verifier) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }
  async redirectToAuthorization(url) {
    this.authorizationUrl = url;
    const response = await fetch(url, { redirect: 'manual' });
    this.code = new URL(response.headers.get('location')).searchParams.get('code');
  }
}

describe('OAuth sign-in via the TypeScript SDK (mcp-host)', { skip: process.env.MCP_SERVER === 'wasmtime-serve' }, () => {
  let dir, issuer, host, resource, url;
  const clients = [];

  async function connect(provider) {
    const client = new Client({ name: 'auth-e2e-ts', version: '0.0.0' });
    const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
    await client.connect(transport, REQUEST);
    clients.push(client);
    return { client, transport };
  }

  before(async () => {
    issuer = await startIssuer();
    dir = await mkdtemp(join(tmpdir(), 'mcp-auth-ts-'));
    await copyFile(WHOAMI_WASM, join(dir, 'whoami.wasm'));
    await writeFile(join(dir, 'whoami.toml'), '[identity]\nclaims = ["sub", "scope"]\n');
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    url = new URL(resource);
    host = spawnLogged(MCP_HOST_BIN, [
      '--components', dir, '--listen', `127.0.0.1:${port}`, '--auth', 'oauth',
      '--auth-issuers', issuer.url, '--auth-resource', resource, '--auth-scopes', 'profile.read',
    ]);
    await waitForLine(host, / ready /);
  });

  after(async () => {
    try {
      for (const client of clients) await client.close();
    } finally {
      await stop(host);
      await issuer?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  it('connects, lists and calls public tools without signing in, then signs in for a protected one', async () => {
    const provider = new Provider();
    const { client, transport } = await connect(provider);
    const { tools } = await client.listTools(undefined, REQUEST);
    const whoami = tools.find((t) => t.name === 'whoami');
    assert.deepEqual(whoami._meta.securitySchemes, [{ type: 'oauth2', scopes: ['profile.read'] }]);
    const open = await client.callTool({ name: 'whoami_public', arguments: {} }, undefined, REQUEST);
    assert.equal(open.structuredContent.identity, null);
    assert.equal(provider.code, undefined, 'no sign-in for public tools');

    // The protected tool: 401, then the SDK's own discovery, registration and redirect.
    await assert.rejects(client.callTool({ name: 'whoami', arguments: {} }, undefined, REQUEST), UnauthorizedError);
    assert.ok(provider.client?.client_id, 'the client registered itself');
    assert.ok(provider.code, 'the authorization server sent a code');
    const asked = provider.authorizationUrl.searchParams;
    assert.equal(asked.get('resource'), resource, 'RFC 8707 resource from the metadata');
    assert.equal(asked.get('scope'), 'profile.read', 'the scope from the challenge');
    assert.equal(asked.get('code_challenge_method'), 'S256');

    await transport.finishAuth(provider.code);
    assert.ok(provider.tokens()?.access_token, 'a token');

    // Signed in: the call goes through and the tool sees the policy's claims only.
    const { client: signedIn } = await connect(provider);
    const result = await signedIn.callTool({ name: 'whoami', arguments: {} }, undefined, REQUEST);
    assert.notEqual(result.isError, true, JSON.stringify(result));
    assert.deepEqual(result.structuredContent.identity, { sub: 'sdk-user', scope: 'profile.read' });
  });
});
