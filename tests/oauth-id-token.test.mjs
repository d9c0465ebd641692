// The ID token checks of the OpenID sign-in, end to end: a second server is pointed at an
// OpenID issuer run inside this test process (node:http and node:crypto: a discovery
// document, a JWKS with an RSA and an EC key, and a token endpoint whose answer each test
// sets), so every test can hand the worker a token a real provider would never issue (a wrong
// nonce, audience or issuer, expired, signed by another key, an unknown kid, alg none, HS256
// with the client secret …) and see it refused with #error=invalid_id_token and the reason
// on the log; and good RS256 and ES256 tokens sign in. It also checks what the worker sends
// the token endpoint: the PKCE verifier of its challenge and HTTP Basic client auth.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { statSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { api, startServer, logSince, fromAddress, randomIPv4, nowSeconds } from './helpers.mjs';

const CLIENT_ID = `recipe-api-${randomUUID().slice(0, 8)}`;
const CLIENT_SECRET = randomBytes(24).toString('hex');

// ---- The forging issuer.

const b64url = (value) => Buffer.from(value).toString('base64url');

function rsaKey(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}
function ecKey(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' } };
}

const RSA = rsaKey('rsa-1');
const EC = ecKey('ec-1');
/** Not in the JWKS: signs tokens that claim RSA's kid, or a kid nobody published. */
const STRANGER = rsaKey('rsa-1');

/** A compact JWS of `claims` with `header`, signed as `alg` says (or not at all). */
function jwt(header, claims, { key, secret } = {}) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  let signature;
  switch (header.alg) {
    case 'RS256': signature = sign('sha256', Buffer.from(input), key.privateKey); break;
    case 'RS384': signature = sign('sha384', Buffer.from(input), key.privateKey); break;
    case 'ES256': signature = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }); break;
    case 'HS256': signature = createHmac('sha256', secret).update(input).digest(); break;
    case 'none': signature = Buffer.alloc(0); break;
    default: throw new Error(`no signer for ${header.alg}`);
  }
  return `${input}.${signature.toString('base64url')}`;
}

const issuer = { url: undefined, server: undefined, jwksRequests: 0, tokenRequests: [], answer: undefined };

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function route(req, res) {
  const json = (status, value) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(value));
  };
  const { pathname } = new URL(req.url, issuer.url);
  if (req.method === 'GET' && pathname === '/.well-known/openid-configuration') {
    return json(200, {
      issuer: issuer.url,
      authorization_endpoint: `${issuer.url}/authorize`,
      token_endpoint: `${issuer.url}/token`,
      jwks_uri: `${issuer.url}/jwks`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic'],
      scopes_supported: ['openid', 'email', 'profile'],
    });
  }
  if (req.method === 'GET' && pathname === '/jwks') {
    issuer.jwksRequests += 1;
    return json(200, { keys: [RSA.jwk, EC.jwk] });
  }
  if (req.method === 'POST' && pathname === '/token') {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const request = { form, authorization: req.headers.authorization, contentType: req.headers['content-type'] };
    issuer.tokenRequests.push(request);
    const [status, body] = issuer.answer ? issuer.answer(request) : [400, { error: 'invalid_grant' }];
    return json(status, body);
  }
  return json(404, { error: 'not_found' });
}

// ---- The second server, pointed at it.

let server;

before(async () => {
  issuer.server = createServer((req, res) => {
    route(req, res).catch((error) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise((resolve) => issuer.server.listen(0, '127.0.0.1', resolve));
  issuer.url = `http://127.0.0.1:${issuer.server.address().port}`;
  server = await startServer({
    JWT_SECRET: process.env.TEST_JWT_SECRET,
    OIDC_ISSUER: issuer.url,
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_CLIENT_SECRET: CLIENT_SECRET,
    OIDC_NAME: 'Forging issuer',
  });
});

after(async () => {
  await server?.stop();
  issuer.server?.closeAllConnections();
  await new Promise((resolve) => issuer.server?.close(resolve) ?? resolve());
});

// ---- A flow against it.

/**
 * Starts a sign-in at the second server: the authorize redirect's parameters and the flow's
 * cookie, from a client address of its own (callbacks count against login counters).
 */
async function startFlow() {
  const headers = fromAddress(randomIPv4());
  const home = `${server.base}/`;
  const res = await api(`/api/v1/auth/oauth/oidc/authorize?redirect_to=${encodeURIComponent(home)}`, { base: server.base, redirect: 'manual', headers });
  assert.equal(res.status, 302, JSON.stringify(res.body));
  const location = new URL(res.headers.get('location'));
  assert.equal(`${location.origin}${location.pathname}`, `${issuer.url}/authorize`, 'the discovery document\'s authorization endpoint');
  const cookie = res.headers.getSetCookie().find((c) => /^(__Host-)?recipe_oauth=/.test(c))?.split(';')[0];
  assert.ok(cookie, 'the flow cookie');
  return { params: Object.fromEntries(location.searchParams), cookie, headers, home };
}

/** Good claims for a flow: the ones a real provider would sign. */
function claimsFor(flow, fields = {}) {
  const now = nowSeconds();
  const email = `cook-${randomUUID()}@example.com`;
  return {
    iss: issuer.url, sub: `subject-${randomUUID()}`, aud: CLIENT_ID, exp: now + 300, iat: now, nonce: flow.params.nonce,
    email, email_verified: true, given_name: 'Grace', family_name: 'Hopper', name: 'Grace Hopper', ...fields,
  };
}

/**
 * Completes `flow` with the token endpoint answering `idToken` (or `answer`, [status, body]):
 * the callback's answer, its fragment, the token request the issuer got and the oauth_* log
 * lines the server wrote.
 */
async function complete(flow, idToken, { answer } = {}) {
  issuer.answer = () => answer ?? [200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 3600, id_token: idToken }];
  const offset = statSync(server.log).size;
  const before = issuer.tokenRequests.length;
  const code = randomBytes(16).toString('base64url');
  const res = await api(`/api/v1/auth/oauth/oidc/callback?code=${code}&state=${encodeURIComponent(flow.params.state)}`, {
    base: server.base, redirect: 'manual', headers: { ...flow.headers, cookie: flow.cookie },
  });
  assert.equal(res.status, 302, JSON.stringify(res.body));
  const location = res.headers.get('location');
  assert.ok(location.startsWith(`${flow.home}#`), location);
  const hash = Object.fromEntries(new URLSearchParams(new URL(location).hash.slice(1)));
  let events = [];
  for (let waited = 0; waited <= 3000; waited += 100) {
    events = logSince(offset, server.log).filter((e) => e.log === 'security' && /^oauth_/.test(e.event ?? ''));
    if (events.length > 0) break;
    await delay(100);
  }
  const requests = issuer.tokenRequests.slice(before);
  assert.equal(requests.length, 1, 'the token endpoint was asked once');
  assert.equal(requests[0].form.code, code, 'for the callback\'s code');
  return { hash, events, request: requests[0] };
}

/** Asserts a refusal: #error=invalid_id_token (or `error`) and one oauth_refused line with `reason`. */
function assertRefused({ hash, events }, reason, error = 'invalid_id_token') {
  assert.equal(hash.code, undefined, `no code: ${JSON.stringify(hash)}`);
  assert.equal(hash.error, error, JSON.stringify(hash));
  assert.ok(hash.error_description, 'with a description');
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.deepEqual({ event: events[0].event, provider: events[0].provider, reason: events[0].reason },
    { event: 'oauth_refused', provider: 'oidc', reason });
}

/** Asserts a sign-in: a code that exchanges for a session of a user with the token's email. */
async function assertSignedIn({ hash, events }, email) {
  assert.ok(hash.code, `a code: ${JSON.stringify(hash)}`);
  const pair = await api('/api/v1/auth/oauth/token', { method: 'POST', json: { code: hash.code }, base: server.base, headers: fromAddress(randomIPv4()) });
  assert.equal(pair.status, 200, JSON.stringify(pair.body));
  const me = await api('/api/v1/auth/me', { token: pair.body.access_token, base: server.base });
  assert.equal(me.status, 200, JSON.stringify(me.body));
  assert.equal(me.body.email, email);
  assert.equal(me.body.email_verified, true);
  assert.deepEqual(events.map((e) => [e.event, e.outcome]), [['oauth_sign_in', 'created']]);
  return me.body;
}

const rs256 = (claims, key = RSA) => jwt({ alg: 'RS256', typ: 'JWT', kid: key.kid }, claims, { key });

// ---- The tests.

describe('good ID tokens sign in', () => {
  test('RS256, with what the worker sent the token endpoint: its PKCE verifier and HTTP Basic client auth', async () => {
    const flow = await startFlow();
    assert.equal(flow.params.code_challenge_method, 'S256');
    const claims = claimsFor(flow);
    const done = await complete(flow, rs256(claims));
    const profile = await assertSignedIn(done, claims.email);
    assert.equal(profile.first_name, 'Grace');
    assert.equal(profile.surname, 'Hopper');
    const { form, authorization, contentType } = done.request;
    assert.match(contentType ?? '', /^application\/x-www-form-urlencoded/);
    assert.equal(form.grant_type, 'authorization_code');
    assert.equal(form.redirect_uri, `${server.base}/api/v1/auth/oauth/oidc/callback`);
    assert.equal(form.redirect_uri, flow.params.redirect_uri, 'the redirect_uri of the authorization request');
    assert.match(form.code_verifier ?? '', /^[A-Za-z0-9._~-]{43,128}$/);
    assert.equal(createHash('sha256').update(form.code_verifier).digest('base64url'), flow.params.code_challenge, 'the verifier of the challenge');
    const basic = /^Basic (.+)$/.exec(authorization ?? '')?.[1];
    assert.ok(basic, `HTTP Basic: ${authorization}`);
    const [id, secret] = Buffer.from(basic, 'base64').toString().split(':');
    assert.deepEqual([decodeURIComponent(id), decodeURIComponent(secret)], [CLIENT_ID, CLIENT_SECRET]);
    assert.equal(form.client_secret, undefined, 'the secret only in the header (client_secret_basic)');
  });

  test('ES256', async () => {
    const flow = await startFlow();
    const claims = claimsFor(flow);
    const done = await complete(flow, jwt({ alg: 'ES256', typ: 'JWT', kid: EC.kid }, claims, { key: EC }));
    await assertSignedIn(done, claims.email);
  });

  test('email_verified as the string "true", and several audiences with azp = the client', async () => {
    const flow = await startFlow();
    const claims = claimsFor(flow, { email_verified: 'true', aud: [CLIENT_ID, 'another-client'], azp: CLIENT_ID });
    await assertSignedIn(await complete(flow, rs256(claims)), claims.email);
  });
});

describe('bad ID tokens are refused: #error=invalid_id_token, and the reason on the log', () => {
  const cases = [
    ['a nonce not the flow\'s', 'nonce', (flow) => rs256(claimsFor(flow, { nonce: 'another-nonce' }))],
    ['no nonce', 'nonce', (flow) => rs256(claimsFor(flow, { nonce: undefined }))],
    ['expired (exp an hour ago)', 'expired', (flow) => rs256(claimsFor(flow, { exp: nowSeconds() - 3600, iat: nowSeconds() - 7200 }))],
    ['issued in the future (iat in an hour)', 'issued_at', (flow) => rs256(claimsFor(flow, { iat: nowSeconds() + 3600, exp: nowSeconds() + 7200 }))],
    ['for another audience', 'audience', (flow) => rs256(claimsFor(flow, { aud: 'another-client' }))],
    ['several audiences and azp another client', 'audience', (flow) => rs256(claimsFor(flow, { aud: [CLIENT_ID, 'another-client'], azp: 'another-client' }))],
    ['from another issuer', 'issuer', (flow) => rs256(claimsFor(flow, { iss: 'https://accounts.google.com' }))],
    ['signed by a key not in the JWKS, with a published kid', 'signature', (flow) => rs256(claimsFor(flow), STRANGER)],
    ['an altered payload', 'signature', (flow) => {
      const [header, , signature] = rs256(claimsFor(flow)).split('.');
      return `${header}.${b64url(JSON.stringify(claimsFor(flow, { email: 'admin@recipeapi.com' })))}.${signature}`;
    }],
    ['alg none', 'algorithm', (flow) => jwt({ alg: 'none', typ: 'JWT', kid: RSA.kid }, claimsFor(flow))],
    ['HS256 signed with the client secret', 'algorithm', (flow) => jwt({ alg: 'HS256', typ: 'JWT', kid: RSA.kid }, claimsFor(flow), { secret: CLIENT_SECRET })],
    ['RS384 (not RS256 or ES256)', 'algorithm', (flow) => jwt({ alg: 'RS384', typ: 'JWT', kid: RSA.kid }, claimsFor(flow), { key: RSA })],
    ['no sub', 'malformed', (flow) => rs256(claimsFor(flow, { sub: undefined }))],
    ['not a JWT', 'malformed', () => 'not-a-jwt'],
  ];
  for (const [name, reason, forge] of cases) {
    test(`${name}: ${reason}`, async () => {
      const flow = await startFlow();
      const token = forge(flow);
      const done = await complete(flow, token);
      assertRefused(done, reason);
    });
  }

  test('an unknown kid: unknown_key, and the JWKS is fetched again at most once for a burst of them', async () => {
    // A good sign-in first, so the worker has fetched the JWKS once already.
    const warm = await startFlow();
    const claims = claimsFor(warm);
    await assertSignedIn(await complete(warm, rs256(claims)), claims.email);
    const before = issuer.jwksRequests;
    for (let i = 0; i < 3; i++) {
      const flow = await startFlow();
      const kid = `unpublished-${i}`;
      const done = await complete(flow, jwt({ alg: 'RS256', typ: 'JWT', kid }, claimsFor(flow), { key: { ...STRANGER, kid } }));
      assertRefused(done, 'unknown_key');
    }
    const fetched = issuer.jwksRequests - before;
    assert.ok(fetched <= 1, `the JWKS was fetched ${fetched} times for three unknown kids within a minute`);
  });
});

describe('the token endpoint', () => {
  test('refusing the code (invalid_grant) is #error=provider_error', async () => {
    const flow = await startFlow();
    const done = await complete(flow, undefined, { answer: [400, { error: 'invalid_grant', error_description: 'grant request is invalid' }] });
    assertRefused(done, 'provider_error', 'provider_error');
  });

  test('an answer without an ID token is refused', async () => {
    const flow = await startFlow();
    const done = await complete(flow, undefined, { answer: [200, { access_token: 'x', token_type: 'Bearer' }] });
    assert.equal(done.hash.code, undefined);
    assert.ok(['invalid_id_token', 'provider_error'].includes(done.hash.error), JSON.stringify(done.hash));
  });
});

describe('an issuer that cannot be reached', () => {
  let unreachable;
  before(async () => {
    // A port that was free a moment ago and that nothing listens on now.
    const probe = createServer();
    await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address();
    await new Promise((resolve) => probe.close(resolve));
    unreachable = await startServer({
      JWT_SECRET: process.env.TEST_JWT_SECRET,
      OIDC_ISSUER: `http://127.0.0.1:${port}`,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
    });
  });
  after(async () => { await unreachable?.stop(); });

  test('authorize answers 503 when the discovery document cannot be fetched, and sets no cookie', async () => {
    const res = await api(`/api/v1/auth/oauth/oidc/authorize?redirect_to=${encodeURIComponent(`${unreachable.base}/`)}`, {
      base: unreachable.base, redirect: 'manual',
    });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(typeof res.body.detail, 'string');
    assert.deepEqual(res.headers.getSetCookie().filter((c) => c.includes('recipe_oauth')), []);
    const list = await api('/api/v1/auth/oauth/providers', { base: unreachable.base });
    assert.deepEqual(list.body.map((p) => [p.id, p.name]), [['oidc', 'OpenID Connect']], 'listed, with the default label');
  });
});
