// The example Worker another team would copy (examples/verify-worker/), served beside the API
// by Miniflare: it verifies the API's EdDSA access tokens from the API's JWKS with `jose`,
// and refuses a token signed by another key, an expired one, one for another audience and an
// `alg: none` one. The example is bundled with esbuild, as wrangler would.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { SignJWT, importJWK, calculateJwkThumbprint } from 'jose';
import { api, randomEmail, PASSWORD, startServer, nowSeconds } from './helpers.mjs';

const KEY = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
const OTHER = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });

describe('examples/verify-worker beside an API signing with EdDSA', () => {
  let server;
  let mf;
  let dir;
  before(async () => {
    server = await startServer({ JWT_SECRET: process.env.TEST_JWT_SECRET, JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY: JSON.stringify(KEY) });
    dir = mkdtempSync(join(tmpdir(), 'recipe-api-verify-'));
    const script = join(dir, 'worker.js');
    execFileSync('node_modules/.bin/esbuild', ['examples/verify-worker/src/index.js', '--bundle', '--format=esm',
      '--platform=browser', '--conditions=workerd,worker,browser', `--outfile=${script}`, '--log-level=warning']);
    // As scripts/serve.mjs: a fixed request.cf (nothing fetched from Cloudflare), no telemetry.
    mf = new Miniflare(convertV4MiniflareOptions({
      cf: false, telemetry: { enabled: false }, log: new Log(LogLevel.WARN),
      workers: [{
        name: 'verify-example', compatibilityDate: '2025-06-01', modulesRoot: dir,
        modules: [{ type: 'ESModule', path: script }],
        bindings: { JWKS_URL: `${server.base}/.well-known/jwks.json`, ISSUER: 'recipe-api', AUDIENCE: 'recipe-api' },
      }],
    }));
    await mf.ready;
  });
  after(async () => {
    await mf?.dispose();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ask = async (token) => {
    const response = await mf.dispatchFetch('http://verify.example/', { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: response.status, body: await response.json() };
  };

  const sign = async (jwk, { claims = {}, aud = 'recipe-api', exp = nowSeconds() + 600 } = {}) => new SignJWT({
    type: 'access_token', ver: 0, sid: 's', ...claims,
  }).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: await calculateJwkThumbprint(KEY) })
    .setSubject('7').setIssuer('recipe-api').setAudience(aud).setIssuedAt(exp - 600).setExpirationTime(exp)
    .sign(await importJWK(jwk, 'EdDSA'));

  test('a fresh token from the API: who the caller is', async () => {
    const email = randomEmail();
    assert.equal((await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD }, base: server.base })).status, 201);
    const login = await api('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: PASSWORD }), base: server.base });
    assert.equal(login.status, 200);
    const me = await api('/api/v1/auth/me', { token: login.body.access_token, base: server.base });
    const answer = await ask(login.body.access_token);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.user_id, me.body.id);
    assert.equal(typeof answer.body.session_id, 'string');
  });

  test('refuses another key, an expired token, another audience, alg none, and no token', async () => {
    assert.equal((await ask(await sign(KEY))).status, 200, 'the forging is right');
    const payload = (await sign(KEY)).split('.')[1];
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    for (const [name, token] of [
      ['another key', await sign(OTHER)],
      ['expired', await sign(KEY, { exp: nowSeconds() - 120 })],
      ['another audience', await sign(KEY, { aud: 'another-api' })],
      ['alg none', none],
      ['no token', undefined],
    ]) {
      const answer = await ask(token);
      assert.equal(answer.status, 401, name);
    }
  });
});
