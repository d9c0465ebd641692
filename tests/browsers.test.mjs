// What browsers see, over plain HTTP: CORS preflights for every method the API has, headers
// exposed to scripts, cross-site form posts to login and signup refused before anything is
// counted or written (with BACKEND_CORS_ORIGINS="*" too, on a second server), and JSON routes
// refusing a body without a media type.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, signup, login, randomEmail, PASSWORD, sql, sqlText, BASE_URL, fromAddress, randomIPv4,
  startServer,
} from './helpers.mjs';

const ALLOWED = 'http://localhost:3000';
const EVIL = 'https://evil.example';
const REFUSED = { detail: 'Cross-site request refused' };

/** The header names of Access-Control-Expose-Headers, lower-cased. */
const exposed = (res) => (res.headers.get('access-control-expose-headers') ?? '')
  .split(',').map((name) => name.trim().toLowerCase()).filter(Boolean);

const userRows = async (email) => (await sql(`SELECT count(*) AS n FROM users WHERE email = ${sqlText(email)}`))[0].n;

describe('CORS', () => {
  test('a preflight for PATCH is allowed, with exactly GET, POST, PUT, PATCH and DELETE', async () => {
    const res = await api('/api/v1/users/1', {
      method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'PATCH' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers.get('access-control-allow-origin'), ALLOWED);
    const methods = (res.headers.get('access-control-allow-methods') ?? '')
      .split(',').map((method) => method.trim().toUpperCase()).filter(Boolean);
    assert.deepEqual([...new Set(methods)].sort(), ['DELETE', 'GET', 'PATCH', 'POST', 'PUT'], `allowed methods: ${methods}`);
  });

  test('responses to an allowed origin expose Retry-After to scripts, on a throttled login as on a plain read', async () => {
    const read = await api('/api/v1/recipes/1', { headers: { origin: ALLOWED } });
    assert.equal(read.headers.get('access-control-allow-origin'), ALLOWED);
    assert.ok(exposed(read).includes('retry-after'), `a read exposes Retry-After: ${exposed(read)}`);

    const { body: user } = await signup();
    const address = randomIPv4();
    for (let i = 0; i < 5; i++) {
      assert.equal((await login(user.email, 'wrong password', { ...fromAddress(address), origin: ALLOWED })).status, 400);
    }
    const throttled = await login(user.email, 'wrong password', { ...fromAddress(address), origin: ALLOWED });
    assert.equal(throttled.status, 429);
    assert.ok(Number(throttled.headers.get('retry-after')) > 0, 'Retry-After is set');
    assert.equal(throttled.headers.get('access-control-allow-origin'), ALLOWED, 'the 429 is a CORS response');
    assert.ok(exposed(throttled).includes('retry-after'), `the 429 exposes Retry-After: ${exposed(throttled)}`);
  });
});

describe('cross-site posts to login and signup', () => {
  test("wrong passwords posted from another site's page are refused with 403 and not counted: the owner is not locked out", async () => {
    const { body: user } = await signup();
    const address = randomIPv4();
    for (let i = 0; i < 6; i++) {
      const res = await login(user.email, 'wrong password', { ...fromAddress(address), origin: EVIL });
      assert.equal(res.status, 403, `cross-site attempt ${i + 1}`);
      assert.deepEqual(res.body, REFUSED);
    }
    const counted = await sql(`SELECT key FROM attempts WHERE instr(key, ${sqlText(user.email)}) > 0 OR key = ${sqlText(`ip:${address}`)}`);
    assert.deepEqual(counted, [], 'a refused cross-site post is not counted');
    const owner = await login(user.email, PASSWORD, fromAddress(address));
    assert.equal(owner.status, 200, 'the owner logs in from the same address');
  });

  test('Sec-Fetch-Site: cross-site without an Origin is refused the same way, for login and signup', async () => {
    const { body: user } = await signup();
    const address = randomIPv4();
    const crossSite = { ...fromAddress(address), 'sec-fetch-site': 'cross-site' };
    const res = await login(user.email, PASSWORD, crossSite);
    assert.equal(res.status, 403, 'even with the right password');
    assert.deepEqual(res.body, REFUSED);
    const email = randomEmail();
    const created = await signup({ email }, { headers: crossSite });
    assert.equal(created.status, 403);
    assert.deepEqual(created.body, REFUSED);
    const [counts] = await sql(`SELECT (SELECT count(*) FROM users WHERE email = ${sqlText(email)}) AS users,
      (SELECT count(*) FROM attempts WHERE instr(key, ${sqlText(user.email)}) > 0 OR key = ${sqlText(`ip:${address}`)}) AS attempts`);
    assert.deepEqual(counts, { users: 0, attempts: 0 }, 'nothing written, nothing counted');
  });

  test("the API's own origin, an allowed origin, no Origin (curl) and Sec-Fetch-Site: same-origin log in", async () => {
    const created = await signup({}, { headers: { origin: ALLOWED } });
    assert.equal(created.status, 201, 'the frontend at an allowed origin signs up');
    const address = randomIPv4();
    for (const [what, headers] of [
      ["the API's own origin", { origin: BASE_URL }],
      ['an allowed origin', { origin: ALLOWED }],
      ['no Origin', {}],
      ['Sec-Fetch-Site: same-origin', { 'sec-fetch-site': 'same-origin' }],
    ]) {
      const res = await login(created.body.email, PASSWORD, { ...fromAddress(address), ...headers });
      assert.equal(res.status, 200, `${what}: ${JSON.stringify(res.body)}`);
    }
  });

  test("a signup posted from another site's page is refused with 403 and creates no user", async () => {
    const email = randomEmail();
    const res = await signup({ email }, { headers: { origin: EVIL } });
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, REFUSED);
    assert.equal(await userRows(email), 0);
  });
});

// `*` widens CORS to every page, for reading; it must not turn the lock-out defence off.
describe('with BACKEND_CORS_ORIGINS="*"', () => {
  let server;
  before(async () => {
    server = await startServer({ BACKEND_CORS_ORIGINS: '*', JWT_SECRET: process.env.TEST_JWT_SECRET });
  });
  after(async () => { await server?.stop(); });

  const post = (path, init) => api(path, { method: 'POST', base: server.base, ...init });
  const loginThere = (email, password, headers) => post('/api/v1/auth/login', {
    form: new URLSearchParams({ username: email, password }), headers,
  });

  test('any origin may read: Access-Control-Allow-Origin: *, never with credentials', async () => {
    const res = await api('/api/v1/recipes/search?keyword=soup', { base: server.base, headers: { origin: EVIL } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('access-control-allow-credentials'), null);
  });

  test("logins and signups posted from another site's page are still refused before anything is counted or written", async () => {
    const email = randomEmail();
    const created = await post('/api/v1/auth/signup', { json: { email, password: PASSWORD } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const address = randomIPv4();
    for (let i = 0; i < 6; i++) {
      const res = await loginThere(email, 'wrong password', { ...fromAddress(address), origin: EVIL });
      assert.equal(res.status, 403, `cross-site attempt ${i + 1}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, REFUSED);
    }
    const unnamed = await loginThere(email, 'wrong password', { ...fromAddress(address), 'sec-fetch-site': 'cross-site' });
    assert.equal(unnamed.status, 403, 'Sec-Fetch-Site: cross-site without an Origin');
    const other = randomEmail();
    const signupFromEvil = await post('/api/v1/auth/signup', {
      json: { email: other, password: PASSWORD }, headers: { ...fromAddress(address), origin: EVIL },
    });
    assert.equal(signupFromEvil.status, 403);
    assert.deepEqual(signupFromEvil.body, REFUSED);
    const [counts] = await sql(`SELECT (SELECT count(*) FROM users WHERE email = ${sqlText(other)}) AS users,
      (SELECT count(*) FROM attempts WHERE instr(key, ${sqlText(email)}) > 0 OR key = ${sqlText(`ip:${address}`)}) AS attempts`,
    { d1: server.d1 });
    assert.deepEqual(counts, { users: 0, attempts: 0 }, 'nothing written, nothing counted');
    const owner = await loginThere(email, PASSWORD, fromAddress(address));
    assert.equal(owner.status, 200, `the owner is not locked out: ${JSON.stringify(owner.body)}`);
  });

  test("the API's own pages and clients that send no Origin log in", async () => {
    const email = randomEmail();
    assert.equal((await post('/api/v1/auth/signup', { json: { email, password: PASSWORD }, headers: { origin: server.base } })).status, 201);
    for (const [what, headers] of [["the API's own origin", { origin: server.base }], ['no Origin', {}]]) {
      const res = await loginThere(email, PASSWORD, { ...fromAddress(randomIPv4()), ...headers });
      assert.equal(res.status, 200, `${what}: ${JSON.stringify(res.body)}`);
    }
  });
});

describe('media types', () => {
  test('a JSON route answers 415 to a body without Content-Type, and writes nothing', async () => {
    const email = randomEmail();
    const text = JSON.stringify({ email, password: PASSWORD });
    // A string body would be sent as text/plain; bytes are sent without any Content-Type.
    const res = await api('/api/v1/auth/signup', { method: 'POST', body: new TextEncoder().encode(text) });
    assert.equal(res.status, 415);
    assert.deepEqual(res.body, { detail: 'Unsupported media type; expected application/json' });
    assert.equal(await userRows(email), 0);
    const typed = await api('/api/v1/auth/signup', {
      method: 'POST', body: new TextEncoder().encode(text), headers: { 'content-type': 'application/json' },
    });
    assert.equal(typed.status, 201, 'the same bytes as application/json sign up');
  });
});
