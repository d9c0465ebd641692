// Access tokens other services verify with a public key: JWT_ALGORITHM ES256 or EdDSA,
// JWT_PRIVATE_KEY, the JWKS at /.well-known/jwks.json, and a rotation with
// JWT_PRIVATE_KEY_PREVIOUS across servers on one D1 (helpers.mjs, startServer). Tokens are
// verified with `jose`, as another team's service would. Keys go into the vars file on one
// line: a PEM with its line breaks written `\n`, or a JWK.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, createLocalJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { api, randomEmail, PASSWORD, startServer, BASE_URL } from './helpers.mjs';

const P256_PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  .export({ type: 'pkcs8', format: 'pem' });
const ED25519_JWK = JSON.stringify(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
const oneLine = (pem) => pem.trim().replaceAll('\n', '\\n');
const SECRET = process.env.TEST_JWT_SECRET;

async function tokenFrom(base) {
  const email = randomEmail();
  const signup = await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD }, base });
  assert.equal(signup.status, 201);
  const login = await api('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }), base });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  return { token: login.body.access_token, email };
}

async function jwksOf(base) {
  const response = await fetch(`${base}/.well-known/jwks.json`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('cache-control'), 'public, max-age=300');
  return response.json();
}

const verifyWithJose = (base, token, algorithms) => jwtVerify(token, createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)),
  { issuer: 'recipe-api', audience: 'recipe-api', algorithms });

test('HS256, the default, publishes an empty key set', async () => {
  assert.deepEqual(await jwksOf(BASE_URL), { keys: [] });
});

describe('ES256 from a PKCS#8 PEM, then EdDSA from a JWK with the ES256 key as previous, on one D1', () => {
  let es256;
  let rotated;
  let after_;
  before(async () => {
    es256 = await startServer({ JWT_SECRET: SECRET, JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: oneLine(P256_PEM) });
    rotated = await startServer({
      JWT_SECRET: SECRET, JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: ED25519_JWK, JWT_PRIVATE_KEY_PREVIOUS: oneLine(P256_PEM),
    }, { d1: es256.d1 });
    after_ = await startServer({ JWT_SECRET: SECRET, JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: ED25519_JWK }, { d1: es256.d1 });
  });
  after(async () => {
    await es256?.stop();
    await rotated?.stop();
    await after_?.stop();
  });

  test('a token the API issues verifies with jose against the served JWKS, for each algorithm', async () => {
    for (const [server, alg] of [[es256, 'ES256'], [after_, 'EdDSA']]) {
      const { token } = await tokenFrom(server.base);
      const { payload, protectedHeader } = await verifyWithJose(server.base, token, [alg]);
      assert.equal(protectedHeader.alg, alg);
      assert.equal((await jwksOf(server.base)).keys[0].kid, protectedHeader.kid);
      assert.deepEqual(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'iss', 'sid', 'sub', 'type', 'ver']);
      assert.equal(payload.type, 'access_token');
      const me = await api('/api/v1/auth/me', { token, base: server.base });
      assert.equal(me.status, 200, 'the API itself still checks the token and its session');
      const jwks = await jwksOf(server.base);
      assert.ok(jwks.keys.every((key) => key.d === undefined), 'no private part is published');
    }
  });

  test('the previous key verifies while set, and stops once removed; the JWKS lists both, then one', async () => {
    const { token } = await tokenFrom(es256.base);
    const old = decodeProtectedHeader(token).kid;
    const during = await jwksOf(rotated.base);
    assert.equal(during.keys.length, 2);
    assert.deepEqual(during.keys.map((key) => key.alg), ['EdDSA', 'ES256']);
    assert.equal(during.keys[1].kid, old);
    assert.equal((await api('/api/v1/auth/me', { token, base: rotated.base })).status, 200);
    await jwtVerify(token, createLocalJWKSet(during), { issuer: 'recipe-api', audience: 'recipe-api' });
    const { token: fresh } = await tokenFrom(rotated.base);
    assert.equal(decodeProtectedHeader(fresh).alg, 'EdDSA', 'the current key signs');
    const afterwards = await jwksOf(after_.base);
    assert.deepEqual(afterwards.keys.map((key) => key.kid), [during.keys[0].kid]);
    assert.equal((await api('/api/v1/auth/me', { token, base: after_.base })).status, 401);
    assert.equal((await api('/api/v1/auth/me', { token: fresh, base: after_.base })).status, 200);
    await assert.rejects(jwtVerify(token, createLocalJWKSet(afterwards)));
  });

  test('an HS256 token signed with the public key as secret, or with JWT_SECRET, is refused', async () => {
    const { token } = await tokenFrom(es256.base);
    const [, payload] = token.split('.');
    const [jwk] = (await jwksOf(es256.base)).keys;
    const forge = (header, key) => {
      const head = Buffer.from(JSON.stringify(header)).toString('base64url');
      return `${head}.${payload}.${createHmac('sha256', key).update(`${head}.${payload}`).digest('base64url')}`;
    };
    for (const forged of [
      forge({ alg: 'HS256', typ: 'JWT', kid: jwk.kid }, JSON.stringify(jwk)),
      forge({ alg: 'HS256', typ: 'JWT', kid: jwk.kid }, SECRET),
      forge({ alg: 'HS256', typ: 'JWT' }, SECRET),
      `${Buffer.from(JSON.stringify({ alg: 'none', kid: jwk.kid })).toString('base64url')}.${payload}.`,
    ]) {
      assert.equal((await api('/api/v1/auth/me', { token: forged, base: es256.base })).status, 401, forged);
    }
  });
});

describe('JWT_ALGORITHM=ES256 with a malformed JWT_PRIVATE_KEY', () => {
  let server;
  before(async () => {
    server = await startServer({ JWT_SECRET: SECRET, JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: 'not-a-key-at-all' });
  });
  after(async () => {
    await server?.stop();
  });

  test('login, me and the JWKS answer the clear 500, and the log names the key, not its value', async () => {
    const { base } = server;
    const email = randomEmail();
    assert.equal((await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD }, base })).status, 201);
    const login = await api('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }), base });
    assert.equal(login.status, 500);
    assert.deepEqual(login.body, { detail: "Server misconfigured; see the worker's log" });
    assert.equal((await api('/api/v1/auth/me', { token: 'x.y.z', base })).status, 500);
    assert.equal((await fetch(`${base}/.well-known/jwks.json`)).status, 500);
    const log = readFileSync(server.log, 'utf8');
    assert.match(log, /JWT_PRIVATE_KEY is malformed/);
    assert.ok(!log.includes('not-a-key-at-all'));
  });
});
