// A real OpenID provider (the npm package `oidc-provider`) on 127.0.0.1, for Fieldbook's sign-in
// tests: the Rust integration test (tests/tests/oidc_sign_in.rs) runs it as a child process, the
// browser test (tests/browser/oidc_flow.mjs) imports `startProvider`.
//
// What it offers (docs/council-backend.md, "The council's identity provider"):
// - one confidential client, `fieldbook-oversight` (secret below), authorisation code flow with
//   PKCE required, redirecting only to the callback it is started with;
// - test users whose claims are Fieldbook identities: `sub` is the worker id, `role` and `team`
//   are custom claims of the `fieldbook` scope, put in the ID token;
// - RP-initiated logout (`end_session_endpoint` in discovery), back to the relying party's
//   sign-in page;
// - its signing keys at the standard JWKS path (`/jwks`, named by discovery), RS256 with a `kid`;
// - `mint(claims)`: a device access token (a JWT) signed by the provider's current key, so the
//   device API can be tested against the same JWKS. oidc-provider's own access tokens are opaque
//   unless resource indicators are configured per API; minting with its key is simpler and signs
//   exactly what a council's IdP would;
// - `rotate()`: a new signing key; the old one stays listed (as a real rotation keeps it while
//   tokens signed by it are alive) and the new one signs from now on.
//
// Run as a program: `node provider.mjs --port 0 [--redirect <callback URL>]` prints
// `ready <issuer>` and then answers one line per command on stdin:
//   `redirect <callback URL>` -> `redirect set`,  `mint <claims JSON>` -> `token <JWT>`,
//   `rotate` -> `rotated <kid>`,  `quit`.
// The sign-in form is oidc-provider's development interaction: any password, the login must be
// one of the users below. Nothing here is fit for production; it exists for tests on loopback.

import http from 'node:http';
import readline from 'node:readline';
import { generateKeyPair, exportJWK, SignJWT, importJWK } from 'jose';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'fieldbook-oversight';
export const CLIENT_SECRET = 'test-client-secret-not-for-production-0123456789';

// The test users: login -> Fieldbook identity. The worker ids and teams are the ones the tests'
// case system allocates cases to.
export const USERS = {
  mina: { role: 'manager', team: 'north' },
  nadia: { role: 'manager', team: 'south' },
  amara: { role: 'worker', team: 'north' },
  carol: { role: 'worker', team: 'south' },
  sam: { role: 'senior' },
};

async function newKey(n) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: `fieldbook-test-${n}-${Date.now().toString(36)}`, alg: 'RS256', use: 'sig' };
}

function configuration(redirectUri, keys) {
  return {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [redirectUri],
      // Sign-out ends the provider's session and comes back to the relying party's sign-in page,
      // beside its callback (server/src/oversight/oidc.rs, `post_logout_url`).
      post_logout_redirect_uris: [new URL('sign-in', redirectUri).href],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys },
    // PKCE for every client, confidential ones included (the default asks it of public ones).
    pkce: { required: () => true },
    scopes: ['openid', 'fieldbook'],
    claims: { openid: ['sub'], fieldbook: ['role', 'team'] },
    // The scope's claims in the ID token itself, so the relying party needs no userinfo call.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    // Explicit lifetimes (seconds): the defaults work but oidc-provider asks for them.
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
    async findAccount(_ctx, id) {
      const user = USERS[id];
      if (!user) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, role: user.role, ...(user.team ? { team: user.team } : {}) };
        },
      };
    },
    // oidc-provider names its cookies by default with a `_` prefix; loopback http is fine for it.
    cookies: { keys: ['fieldbook-test-cookie-key-0123456789abcdef'] },
  };
}

/// Starts the provider on 127.0.0.1:`port` (0: any free port).
export async function startProvider({ port = 0, redirectUri = 'http://127.0.0.1/unset' }) {
  let keys = [await newKey(1)];
  let current = null;
  const server = http.createServer((req, res) => current(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const build = () => {
    const provider = new Provider(issuer, configuration(redirectUri, keys));
    current = provider.callback();
  };
  build();
  let count = 1;
  return {
    issuer,
    keys: () => keys.map((k) => k.kid),
    // `_kid` in the claims names another key id in the header (a test of unknown kids).
    async mint({ _kid, ...claims }) {
      const key = keys[0];
      const now = Math.floor(Date.now() / 1000);
      const signing = await importJWK(key, 'RS256');
      return new SignJWT({ iat: now, exp: now + 600, iss: issuer, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: _kid ?? key.kid, typ: 'JWT' })
        .sign(signing);
    },
    // The provider is rebuilt with the new key first (it signs) and the old one still listed:
    // interactions in flight are lost, which the tests never have at this point.
    async rotate() {
      count += 1;
      keys = [await newKey(count), ...keys];
      build();
      return keys[0].kid;
    },
    // The client's callback, once the relying party's address is known (it starts second).
    setRedirect(uri) {
      redirectUri = uri;
      build();
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

function argument(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const redirectUri = argument('--redirect');
  const provider = await startProvider({ port: Number(argument('--port') ?? 0), redirectUri });
  console.log(`ready ${provider.issuer}`);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', async (line) => {
    const [command, ...rest] = line.trim().split(' ');
    try {
      if (command === 'mint') {
        console.log(`token ${await provider.mint(JSON.parse(rest.join(' ')))}`);
      } else if (command === 'redirect') {
        provider.setRedirect(rest[0]);
        console.log('redirect set');
      } else if (command === 'rotate') {
        console.log(`rotated ${await provider.rotate()}`);
      } else if (command === 'quit') {
        await provider.close();
        process.exit(0);
      } else {
        console.log(`error unknown command ${command}`);
      }
    } catch (e) {
      console.log(`error ${e.message}`);
    }
  });
  // The test's end closes stdin: the provider stops with it, never outliving the test.
  lines.on('close', async () => {
    await provider.close();
    process.exit(0);
  });
}
