// A minimal OAuth 2.1 authorization server on loopback for the SDK client
// tests: RFC 8414 metadata, dynamic client registration, an authorization
// endpoint that approves at once, and a token endpoint that checks PKCE (S256)
// and issues ES256 JWT access tokens for the requested resource and scopes.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';

const b64url = (data) => Buffer.from(data).toString('base64url');

/** Starts the issuer; resolves with its URL and a `close()`. */
export async function startIssuer() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = 'js-key-1';
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' };
  const clients = new Map();
  const codes = new Map();
  let url;

  const signJwt = (claims) => {
    const input = `${b64url(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid }))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64url(signature)}`;
  };

  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server = createServer(async (req, res) => {
    const target = new URL(req.url, url);
    let body = '';
    for await (const chunk of req) body += chunk;
    switch (`${req.method} ${target.pathname}`) {
      case 'GET /.well-known/oauth-authorization-server':
      case 'GET /.well-known/openid-configuration':
        return json(res, 200, {
          issuer: url,
          authorization_endpoint: `${url}/authorize`,
          token_endpoint: `${url}/token`,
          registration_endpoint: `${url}/register`,
          jwks_uri: `${url}/jwks`,
          response_types_supported: ['code'],
          grant_types_supported: ['authorization_code'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['none'],
        });
      case 'GET /jwks':
        return json(res, 200, { keys: [jwk] });
      case 'POST /register': {
        const client = { ...JSON.parse(body), client_id: b64url(randomBytes(12)), token_endpoint_auth_method: 'none' };
        clients.set(client.client_id, client);
        return json(res, 201, client);
      }
      case 'GET /authorize': {
        const q = Object.fromEntries(target.searchParams);
        const client = clients.get(q.client_id);
        if (!client || !client.redirect_uris.includes(q.redirect_uri) || q.code_challenge_method !== 'S256') {
          return json(res, 400, { error: 'invalid_request' });
        }
        const code = b64url(randomBytes(16));
        codes.set(code, q);
        const back = new URL(q.redirect_uri);
        back.searchParams.set('code', code);
        if (q.state) back.searchParams.set('state', q.state);
        res.writeHead(302, { location: back.toString() }).end();
        return;
      }
      case 'POST /token': {
        const form = Object.fromEntries(new URLSearchParams(body));
        const grant = codes.get(form.code);
        codes.delete(form.code);
        const challenge = form.code_verifier && b64url(createHash('sha256').update(form.code_verifier).digest());
        if (!grant || grant.client_id !== form.client_id || grant.code_challenge !== challenge) {
          return json(res, 400, { error: 'invalid_grant' });
        }
        const now = Math.floor(Date.now() / 1000);
        const scope = grant.scope ?? '';
        const token = signJwt({
          iss: url, sub: 'sdk-user', aud: grant.resource, scope, client_id: grant.client_id, iat: now, exp: now + 600,
        });
        return json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 600, scope });
      }
      default:
        return json(res, 404, { error: 'not_found' });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${server.address().port}`;
  return { url, close: () => new Promise((resolve) => server.close(resolve)) };
}
