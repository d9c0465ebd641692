// Hardening: response headers, CORS, body limits, media types, passwords, brute force and
// concurrent writes. Each test fails if its protection is removed.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { api, signup, login, newUser, randomEmail, PASSWORD, createRecipe, sql, sqlText, BASE_URL } from './helpers.mjs';

describe('response headers', () => {
  test('every response carries nosniff, a referrer policy and a frame ban', async () => {
    for (const path of ['/', '/api/v1/recipes/1', '/api/v1/nope', '/api/v1/auth/me']) {
      const { headers } = await api(path);
      assert.equal(headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(headers.get('referrer-policy'), 'no-referrer', path);
      assert.equal(headers.get('x-frame-options'), 'DENY', path);
      assert.match(headers.get('content-security-policy'), /default-src 'none'/, path);
    }
  });

  test('the home page has a strict CSP: no scripts, its one style sheet by hash', async () => {
    const { headers, body } = await api('/');
    const csp = headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/]+=*'/);
    assert.doesNotMatch(csp, /unsafe-inline|script-src/);
    const style = body.match(/<style>([\s\S]*?)<\/style>/)[1];
    const { createHash } = await import('node:crypto');
    assert.ok(csp.includes(`'sha256-${createHash('sha256').update(style).digest('base64')}'`), 'the hash is the inline style\'s');
  });

  test('auth responses are not cached', async () => {
    const created = await signup();
    assert.equal(created.headers.get('cache-control'), 'no-store');
    const session = await login(created.body.email);
    assert.equal(session.headers.get('cache-control'), 'no-store');
    assert.equal((await api('/api/v1/auth/me', { token: session.body.access_token })).headers.get('cache-control'), 'no-store');
  });
});

describe('CORS (BACKEND_CORS_ORIGINS)', () => {
  const ALLOWED = 'http://localhost:3000';
  test('an allowed origin is echoed with credentials, never a wildcard', async () => {
    const { headers } = await api('/api/v1/recipes/1', { headers: { origin: ALLOWED } });
    assert.equal(headers.get('access-control-allow-origin'), ALLOWED);
    assert.equal(headers.get('access-control-allow-credentials'), 'true');
    assert.match(headers.get('vary'), /Origin/);
  });

  test('another origin gets no CORS headers', async () => {
    const { headers } = await api('/api/v1/recipes/1', { headers: { origin: 'https://evil.example' } });
    assert.equal(headers.get('access-control-allow-origin'), null);
    assert.equal(headers.get('access-control-allow-credentials'), null);
  });

  test('preflight: 200 with methods and the requested headers for an allowed origin, 400 otherwise', async () => {
    const ok = await api('/api/v1/recipes/', {
      method: 'OPTIONS',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(ok.headers.get('access-control-allow-methods'), /POST/);
    assert.match(ok.headers.get('access-control-allow-headers'), /authorization/);
    const refused = await api('/api/v1/recipes/', {
      method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });
});

describe('request bodies', () => {
  test('413 for a body over 64 KiB, declared or streamed without a length; nothing written', async () => {
    const email = randomEmail();
    const big = JSON.stringify({ email, password: PASSWORD, first_name: 'x'.repeat(70 * 1024) });
    const declared = await api('/api/v1/auth/signup', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(declared.status, 413);
    assert.deepEqual(declared.body, { detail: 'Request body too large' });
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const res = await fetch(`${BASE_URL}/api/v1/auth/signup`, {
      method: 'POST', body: stream, duplex: 'half', headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 413, 'chunked body');
    const login = await api('/api/v1/auth/login', { method: 'POST', form: new URLSearchParams({ username: email, password: 'x'.repeat(70 * 1024) }) });
    assert.equal(login.status, 413, 'login form');
    assert.equal((await sql(`SELECT count(*) AS n FROM users WHERE email = ${sqlText(email)}`))[0].n, 0);
  });

  test('415 for a JSON route sent another media type; nothing written', async () => {
    const email = randomEmail();
    const res = await api('/api/v1/auth/signup', {
      method: 'POST', body: JSON.stringify({ email, password: PASSWORD }), headers: { 'content-type': 'text/plain' },
    });
    assert.equal(res.status, 415);
    assert.equal((await sql(`SELECT count(*) AS n FROM users WHERE email = ${sqlText(email)}`))[0].n, 0);
  });

  test('deeply nested or odd JSON is a 422, not a 5xx', async () => {
    for (const body of ['['.repeat(50000), '{"email":'.repeat(5000), '{"email": "\\ud800"}', '1e999999', '{"a":1,"a":2}']) {
      const res = await api('/api/v1/auth/signup', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 422, body.slice(0, 20));
    }
  });
});

describe('passwords', () => {
  test('Unicode is normalised (NFKC): composed at signup, decomposed at login', async () => {
    const email = randomEmail();
    assert.equal((await signup({ email, password: 'caf\u00e9 au lait' })).status, 201);
    assert.equal((await login(email, 'cafe\u0301 au lait')).status, 200);
  });

  test('long passphrases are welcome; over 1024 bytes is a 422', async () => {
    assert.equal((await signup({ password: 'correct horse battery staple '.repeat(20) })).status, 201);
    const res = await signup({ password: 'x'.repeat(1025) });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.detail[0].loc, ['body', 'password']);
  });
});

describe('brute force', () => {
  const from = (ip) => ({ 'cf-connecting-ip': ip });
  const attempt = (email, password, ip) => api('/api/v1/auth/login', {
    method: 'POST', form: new URLSearchParams({ username: email, password }), headers: from(ip),
  });

  test('5 failures for an account from one IP: 429 with Retry-After there, even with the right password; the owner elsewhere logs in', async () => {
    const { body: user } = await signup();
    const attacker = '198.51.100.7';
    for (let i = 0; i < 5; i++) {
      assert.equal((await attempt(user.email, 'wrong password', attacker)).status, 400, `attempt ${i + 1}`);
    }
    const blocked = await attempt(user.email, PASSWORD, attacker);
    assert.equal(blocked.status, 429);
    const retryAfter = Number(blocked.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 15 * 60, `Retry-After ${retryAfter}: a bounded window`);
    assert.deepEqual(blocked.body, { detail: 'Too many failed login attempts; try again later' });
    const owner = await attempt(user.email, PASSWORD, '203.0.113.20');
    assert.equal(owner.status, 200, "someone else's failures do not lock the owner out");
  });

  test('a success clears the failures counted for that account and IP', async () => {
    const { body: user } = await signup();
    const ip = '198.51.100.8';
    for (let i = 0; i < 4; i++) await attempt(user.email, 'wrong password', ip);
    assert.equal((await attempt(user.email, PASSWORD, ip)).status, 200);
    for (let i = 0; i < 4; i++) {
      assert.equal((await attempt(user.email, 'wrong password', ip)).status, 400, 'counting starts again');
    }
  });
});

describe('concurrent writes', () => {
  test('parallel recipe creates: every one lands once, with its own id', async () => {
    const { token } = await newUser();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => createRecipe(token, { label: `Parallel ${i}` })));
    assert.deepEqual(results.map((r) => r.status), Array(20).fill(201));
    const ids = new Set(results.map((r) => r.body.id));
    assert.equal(ids.size, 20);
    const mine = await api('/api/v1/recipes/my-recipes/', { token });
    assert.deepEqual(mine.body.results.map((r) => r.label).sort(), results.map((r) => r.body.label).sort());
  });

  test('parallel updates of one recipe: each answers 201 and the row ends as one of them', async () => {
    const { token } = await newUser();
    const { body: recipe } = await createRecipe(token);
    const labels = Array.from({ length: 10 }, (_, i) => `Version ${i}`);
    const results = await Promise.all(labels.map((label) => api('/api/v1/recipes/', { method: 'PUT', token, json: { id: recipe.id, label } })));
    assert.deepEqual(results.map((r) => r.status), Array(10).fill(201));
    const final = await api(`/api/v1/recipes/${recipe.id}`);
    assert.ok(labels.includes(final.body.label));
    assert.equal(final.body.source, recipe.source);
  });
});
