// The ID token checks of the OpenID sign-in, end to end: a second server is pointed at an
// OpenID issuer run inside this test process (node:http and node:crypto: a discovery
// document, a JWKS with an RSA and an EC key, and a token endpoint whose answer each test
// sets), so every test can hand the worker a token a real provider would never issue (a wrong
// nonce, audience or issuer, expired, signed by another key, an unknown kid, alg none, HS256
// with the client secret …) and see it refused with #error=invalid_id_token and the reason
// on the log; and good RS256 and ES256 tokens sign in. It also checks what the worker sends
// the token endpoint: the PKCE verifier of its challenge and HTTP Basic client auth.
//
// The issuer serves more than one discovery document: its own at its root, another issuer's
// under /tenant-b (so two servers on one D1 can each trust a different issuer), and Google's
// under /google (issuer https://accounts.google.com, the endpoints its own), at which the
// second server's GOOGLE_DISCOVERY_URL points: tokens claiming Google's `iss` then exercise
// the rule for Google accounts that may link to existing ones (Gmail, or `hd`).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { api, startServer, logSince, fromAddress, randomIPv4, nowSeconds, sql, sqlText, PASSWORD } from './helpers.mjs';

const GOOGLE = 'https://accounts.google.com';

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
  const discovery = /^(|\/tenant-b|\/google)\/\.well-known\/openid-configuration$/.exec(pathname);
  if (req.method === 'GET' && discovery) {
    const prefix = discovery[1];
    return json(200, {
      issuer: prefix === '/google' ? GOOGLE : `${issuer.url}${prefix}`,
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
    GOOGLE_CLIENT_ID: CLIENT_ID,
    GOOGLE_CLIENT_SECRET: CLIENT_SECRET,
    GOOGLE_DISCOVERY_URL: `${issuer.url}/google/.well-known/openid-configuration`,
  });
});

after(async () => {
  await server?.stop();
  issuer.server?.closeAllConnections();
  await new Promise((resolve) => issuer.server?.close(resolve) ?? resolve());
});

// ---- A flow against it.

/**
 * Starts a sign-in with `provider` at a server (the second server unless `at`, with the
 * issuer it trusts, `iss`): the authorize redirect's parameters, the flow's cookie and the
 * page's verifier (its challenge sent along), from a client address of its own (callbacks
 * count against login counters).
 */
async function startFlow({ provider = 'oidc', at = server, iss = provider === 'google' ? GOOGLE : issuer.url } = {}) {
  const headers = fromAddress(randomIPv4());
  const home = `${at.base}/`;
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    redirect_to: home, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  });
  const res = await api(`/api/v1/auth/oauth/${provider}/authorize?${query}`, { base: at.base, redirect: 'manual', headers });
  assert.equal(res.status, 302, JSON.stringify(res.body));
  const location = new URL(res.headers.get('location'));
  assert.equal(`${location.origin}${location.pathname}`, `${issuer.url}/authorize`, 'the discovery document\'s authorization endpoint');
  const cookie = res.headers.getSetCookie().find((c) => /^(__Host-)?recipe_oauth=/.test(c))?.split(';')[0];
  assert.ok(cookie, 'the flow cookie');
  return { params: Object.fromEntries(location.searchParams), cookie, headers, home, provider, server: at, iss, verifier };
}

/** Good claims for a flow: the ones a real provider would sign. */
function claimsFor(flow, fields = {}) {
  const now = nowSeconds();
  const email = `cook-${randomUUID()}@example.com`;
  return {
    iss: flow.iss, sub: `subject-${randomUUID()}`, aud: CLIENT_ID, exp: now + 300, iat: now, nonce: flow.params.nonce,
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
  const offset = statSync(flow.server.log).size;
  const before = issuer.tokenRequests.length;
  const code = randomBytes(16).toString('base64url');
  const res = await api(`/api/v1/auth/oauth/${flow.provider}/callback?code=${code}&state=${encodeURIComponent(flow.params.state)}`, {
    base: flow.server.base, redirect: 'manual', headers: { ...flow.headers, cookie: flow.cookie },
  });
  assert.equal(res.status, 302, JSON.stringify(res.body));
  const location = res.headers.get('location');
  assert.ok(location.startsWith(`${flow.home}#`), location);
  const hash = Object.fromEntries(new URLSearchParams(new URL(location).hash.slice(1)));
  let events = [];
  for (let waited = 0; waited <= 3000; waited += 100) {
    events = logSince(offset, flow.server.log).filter((e) => e.log === 'security' && /^oauth_/.test(e.event ?? ''));
    if (events.length > 0) break;
    await delay(100);
  }
  const requests = issuer.tokenRequests.slice(before);
  assert.equal(requests.length, 1, 'the token endpoint was asked once');
  assert.equal(requests[0].form.code, code, 'for the callback\'s code');
  return { hash, events, request: requests[0], flow };
}

/** Asserts a refusal: #error=invalid_id_token (or `error`) and one oauth_refused line with `reason`. */
function assertRefused({ hash, events, flow }, reason, error = 'invalid_id_token') {
  assert.equal(hash.code, undefined, `no code: ${JSON.stringify(hash)}`);
  assert.equal(hash.error, error, JSON.stringify(hash));
  assert.ok(hash.error_description, 'with a description');
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.deepEqual({ event: events[0].event, provider: events[0].provider, reason: events[0].reason },
    { event: 'oauth_refused', provider: flow.provider, reason });
}

/**
 * Asserts a sign-in: a code that exchanges (with the page's verifier) for a session of a
 * user with `email`, logged with `outcome`. Returns the user.
 */
async function assertSignedIn({ hash, events, flow }, email, outcome = 'created') {
  assert.ok(hash.code, `a code: ${JSON.stringify(hash)}`);
  const pair = await api('/api/v1/auth/oauth/token', {
    method: 'POST', json: { code: hash.code, code_verifier: flow.verifier }, base: flow.server.base, headers: fromAddress(randomIPv4()),
  });
  assert.equal(pair.status, 200, JSON.stringify(pair.body));
  const me = await api('/api/v1/auth/me', { token: pair.body.access_token, base: flow.server.base });
  assert.equal(me.status, 200, JSON.stringify(me.body));
  assert.equal(me.body.email, email);
  assert.equal(me.body.email_verified, true);
  assert.deepEqual(events.map((e) => [e.event, e.provider, e.outcome]), [['oauth_sign_in', flow.provider, outcome]]);
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
    const query = new URLSearchParams({ redirect_to: `${unreachable.base}/`, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM' });
    const res = await api(`/api/v1/auth/oauth/oidc/authorize?${query}`, {
      base: unreachable.base, redirect: 'manual',
    });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(typeof res.body.detail, 'string');
    assert.deepEqual(res.headers.getSetCookie().filter((c) => c.includes('recipe_oauth')), []);
    const list = await api('/api/v1/auth/oauth/providers', { base: unreachable.base });
    assert.deepEqual(list.body.map((p) => [p.id, p.name]), [['oidc', 'OpenID Connect']], 'listed, with the default label');
  });
});

// ---- Identities are (issuer, subject).

describe('an identity is its issuer and subject', () => {
  test('two servers on one D1, the second trusting another issuer: its account with the same sub is a new identity, never the old account', async () => {
    const d1 = mkdtempSync(join(tmpdir(), 'recipe-api-issuers-'));
    const vars = (oidcIssuer) => ({
      JWT_SECRET: process.env.TEST_JWT_SECRET, OIDC_ISSUER: oidcIssuer, OIDC_CLIENT_ID: CLIENT_ID, OIDC_CLIENT_SECRET: CLIENT_SECRET,
    });
    const tenantB = `${issuer.url}/tenant-b`;
    const subject = `subject-${randomUUID()}`;
    const email = `cook-${randomUUID()}@example.com`;
    let first;
    let second;
    try {
      // The first server trusts the issuer at the root: the account `subject` signs up.
      first = await startServer(vars(issuer.url), { d1 });
      const flowA = await startFlow({ at: first });
      const owner = await assertSignedIn(await complete(flowA, rs256(claimsFor(flowA, { sub: subject, email }))), email);
      await first.stop();
      first = undefined;

      // The same D1, served by a second server whose OIDC_ISSUER is another issuer, whose
      // account has the same `sub`.
      second = await startServer(vars(tenantB), { d1 });
      // With an unverified email (the owner's): not the owner's identity, so not linked.
      const unverified = await startFlow({ at: second, iss: tenantB });
      const refused = await complete(unverified, rs256(claimsFor(unverified, { sub: subject, email, email_verified: false })));
      assertRefused(refused, 'email_not_verified', 'email_not_verified');
      // With the owner's email, verified: the usual rules, and the owner already has an
      // identity of this provider.
      const sameEmail = await startFlow({ at: second, iss: tenantB });
      assertRefused(await complete(sameEmail, rs256(claimsFor(sameEmail, { sub: subject, email }))), 'identity_conflict', 'identity_conflict');
      // With another verified email: a new account.
      const otherEmail = `cook-${randomUUID()}@example.com`;
      const other = await startFlow({ at: second, iss: tenantB });
      const newcomer = await assertSignedIn(await complete(other, rs256(claimsFor(other, { sub: subject, email: otherEmail }))), otherEmail);
      assert.notEqual(newcomer.id, owner.id, 'not the first issuer\'s user');

      const rows = await sql(`SELECT issuer, user_id FROM identities WHERE subject = ${sqlText(subject)} ORDER BY user_id`, { d1 });
      assert.deepEqual(rows, [{ issuer: issuer.url, user_id: owner.id }, { issuer: tenantB, user_id: newcomer.id }]);
    } finally {
      await first?.stop();
      await second?.stop();
      rmSync(d1, { recursive: true, force: true });
    }
  });
});

// ---- Google: an existing account is linked to, or taken over, only for an address Google
// is the authority for.

describe('Google accounts and existing accounts', () => {
  /** A user of the second server with a password, `verified` or not. */
  async function existingUser(email, verified) {
    const created = await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD }, base: server.base, headers: fromAddress(randomIPv4()) });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    if (verified) await sql(`UPDATE users SET email_verified = 1 WHERE id = ${created.body.id}`, { d1: server.d1 });
    return created.body;
  }
  const passwordLogin = (email) => api('/api/v1/auth/login', {
    method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }), base: server.base, headers: fromAddress(randomIPv4()),
  });
  const identitiesOf = async (userId) => sql(`SELECT provider, issuer FROM identities WHERE user_id = ${userId}`, { d1: server.d1 });
  const google = async (fields) => {
    const flow = await startFlow({ provider: 'google' });
    const claims = claimsFor(flow, fields);
    assert.equal(claims.iss, GOOGLE);
    return complete(flow, rs256(claims));
  };

  test('an address Google does not host, without hd: not linked to a verified account, nor taking over an unverified one; identity_conflict says to sign in first and link', async () => {
    for (const verified of [true, false]) {
      const email = `cook-${randomUUID()}@example.com`;
      const user = await existingUser(email, verified);
      const done = await google({ email });
      assertRefused(done, 'identity_conflict', 'identity_conflict');
      assert.match(done.hash.error_description, /sign in to it first, then link/, done.hash.error_description);
      assert.deepEqual(await identitiesOf(user.id), [], `verified ${verified}: nothing linked`);
      const login = await passwordLogin(email);
      assert.equal(login.status, 200, `verified ${verified}: the account and its password are untouched: ${JSON.stringify(login.body)}`);
    }
  });

  test('with hd (a Workspace account) it links to a verified account and takes over an unverified one', async () => {
    const linkedEmail = `cook-${randomUUID()}@example.com`;
    const linkedUser = await existingUser(linkedEmail, true);
    const linked = await assertSignedIn(await google({ email: linkedEmail, hd: 'example.com' }), linkedEmail, 'linked');
    assert.equal(linked.id, linkedUser.id);
    assert.deepEqual(await identitiesOf(linkedUser.id), [{ provider: 'google', issuer: GOOGLE }]);

    const squattedEmail = `cook-${randomUUID()}@example.com`;
    const squatter = await existingUser(squattedEmail, false);
    const owner = await assertSignedIn(await google({ email: squattedEmail, hd: 'example.com' }), squattedEmail, 'took_over');
    assert.equal(owner.id, squatter.id);
    assert.equal((await passwordLogin(squattedEmail)).status, 400, 'the squatter\'s password is gone');
  });

  test('a Gmail address links without hd', async () => {
    const email = `cook-${randomUUID()}@gmail.com`;
    const user = await existingUser(email, true);
    const linked = await assertSignedIn(await google({ email }), email, 'linked');
    assert.equal(linked.id, user.id);
  });

  test('a new address creates an account; an identity already linked signs in as before, hd or not', async () => {
    const sub = `subject-${randomUUID()}`;
    const email = `cook-${randomUUID()}@example.com`;
    const created = await assertSignedIn(await google({ sub, email }), email, 'created');
    const again = await assertSignedIn(await google({ sub, email }), email, 'returning');
    assert.equal(again.id, created.id);

    const workspaceSub = `subject-${randomUUID()}`;
    const workspaceEmail = `cook-${randomUUID()}@example.com`;
    const user = await existingUser(workspaceEmail, true);
    await assertSignedIn(await google({ sub: workspaceSub, email: workspaceEmail, hd: 'example.com' }), workspaceEmail, 'linked');
    const returning = await assertSignedIn(await google({ sub: workspaceSub, email: workspaceEmail }), workspaceEmail, 'returning');
    assert.equal(returning.id, user.id, 'without hd now, the identity is still the user\'s');
  });
});
