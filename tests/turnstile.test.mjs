// Cloudflare Turnstile on signup, password recovery and (when TURNSTILE_ON names it) login.
// scripts/with-server.sh runs a siteverify stand-in (scripts/turnstile-siteverify.mjs) that
// honours Cloudflare's test secrets and records what it is asked (TURNSTILE_STANDIN_URL);
// each describe below starts a second server with a test secret and TURNSTILE_VERIFY_URL
// pointing at it. The main server has no secret: Turnstile is off there, as for every other
// test file.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import {
  api, randomEmail, PASSWORD, sql, sqlText, fromAddress, randomIPv4, startServer, logSince, BASE_URL,
} from './helpers.mjs';

const PASSES = '1x0000000000000000000000000000000AA';
const FAILS = '2x0000000000000000000000000000000AA';
const SPENDS = '3x0000000000000000000000000000000AA';
/** What the widget produces with Cloudflare's test sitekeys. */
const DUMMY = 'XXXX.DUMMY.TOKEN.XXXX';

const MISSING = { detail: "Turnstile token missing: send the widget's cf-turnstile-response" };
const REFUSED = { detail: 'Turnstile verification failed' };
const SPENT = { detail: 'Turnstile token expired or already used; get a new one' };
const UNAVAILABLE = { detail: 'Turnstile verification is unavailable; try again shortly' };
const MISCONFIGURED = { detail: "Server misconfigured; see the worker's log" };
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const STANDIN = process.env.TURNSTILE_STANDIN_URL;
const VERIFY_URL = process.env.TURNSTILE_VERIFY_URL;
if (!STANDIN || !VERIFY_URL) throw new Error('TURNSTILE_STANDIN_URL is not set: run the tests with scripts/with-server.sh');

const PATHS = {
  signup: '/api/v1/auth/signup',
  recovery: '/api/v1/auth/password-recovery',
  login: '/api/v1/auth/login',
};

/** A second server with Turnstile's secret `secret`, verifying at the stand-in, plus `vars`. */
const startTurnstileServer = (secret, vars = {}) => startServer({
  JWT_SECRET: randomBytes(32).toString('hex'),
  SIGNUP_LIMIT_PER_HOUR: '100000',
  TURNSTILE_SECRET_KEY: secret,
  TURNSTILE_VERIFY_URL: VERIFY_URL,
  ...vars,
});

/**
 * One POST to `route` (signup, recovery or login) of `server`, from a client address and
 * with a cf-ray of its own: the token in the header (`header`), in the body (`field`: the
 * JSON member, or the form field, multipart if `multipart`), or nowhere.
 */
async function send(server, route, { header, field, email = randomEmail(), password = PASSWORD, multipart = false } = {}) {
  const ip = randomIPv4();
  const ray = randomUUID();
  const headers = { ...fromAddress(ip), 'cf-ray': ray };
  if (header !== undefined) headers['cf-turnstile-response'] = header;
  const fields = route === 'recovery' ? { email } : route === 'signup' ? { email, password } : { username: email, password };
  if (field !== undefined) fields['cf-turnstile-response'] = field;
  let body;
  if (route !== 'login') {
    body = { json: fields };
  } else if (multipart) {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    body = { form };
  } else {
    body = { form: new URLSearchParams(fields) };
  }
  const res = await api(PATHS[route], { method: 'POST', base: server.base, headers, ...body });
  return { ...res, ip, ray, email };
}

/** The request log line with this cf-ray, once the server has written it. */
async function requestLine(server, ray) {
  for (let i = 0; i < 50; i++) {
    const line = logSince(0, server.log).find((value) => value.log === 'request' && value.cf_ray === ray);
    if (line) return line;
    await delay(100);
  }
  assert.fail(`no request line with cf_ray ${ray}`);
}

/** The turnstile_refused events logged for requests from `ip`. */
async function refusals(server, ip, { count = 1 } = {}) {
  for (let i = 0; i < 50; i++) {
    const found = logSince(0, server.log).filter((value) => value.event === 'turnstile_refused' && value.client === ip);
    if (found.length >= count) return found;
    await delay(100);
  }
  assert.fail(`no turnstile_refused event for ${ip}`);
}

/** Asserts a refused request wrote nothing and stopped before D1 (and so before any hash). */
async function assertStoppedBeforeD1(server, res, what) {
  const line = await requestLine(server, res.ray);
  assert.equal(line.status, res.status, `${what}: the request line is this request's`);
  assert.equal(line.d1_rows_written, 0, `${what}: nothing written`);
  assert.equal(line.d1_round_trips, 0, `${what}: not a single D1 call, so no attempt counted and no hash`);
  if ('pbkdf2_iterations' in line) assert.equal(line.pbkdf2_iterations, 0, `${what}: no password hashed`);
  return line;
}

/** What the stand-in was asked with this token, newest first. */
async function asked(token) {
  const res = await fetch(`${STANDIN}/api/requests?response=${encodeURIComponent(token)}`);
  assert.equal(res.status, 200);
  return res.json();
}

async function usersWithEmails(server, emails) {
  const rows = await sql(`SELECT email FROM users WHERE email IN (${emails.map(sqlText).join(', ')})`, { d1: server.d1 });
  return rows.map((row) => row.email);
}

describe('Turnstile off (no TURNSTILE_SECRET_KEY): the routes as they were', () => {
  test('signup, recovery and login need no token, a junk one is ignored, and siteverify is never asked', async () => {
    const main = { base: BASE_URL };
    const junk = `junk-${randomUUID()}`;
    const created = await send(main, 'signup');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const withJunk = await send(main, 'signup', { header: junk, field: junk });
    assert.equal(withJunk.status, 201, JSON.stringify(withJunk.body));
    assert.equal((await send(main, 'recovery', { email: created.email, header: junk })).status, 202);
    const loggedIn = await send(main, 'login', { email: created.email, field: junk });
    assert.equal(loggedIn.status, 200, JSON.stringify(loggedIn.body));
    assert.deepEqual(await asked(junk), [], 'the token went nowhere');
  });
});

describe('secret 1x…AA (every token passes), TURNSTILE_ON=signup,recovery,login', () => {
  let server;
  before(async () => {
    server = await startTurnstileServer(PASSES, { TURNSTILE_ON: 'signup,recovery,login' });
  });
  after(async () => {
    await server?.stop();
  });

  test('without a token, signup, recovery and login answer 403 before any D1 call, and log why', async () => {
    const { email } = await send(server, 'signup', { header: DUMMY });
    const results = await Promise.all([
      send(server, 'signup'),
      send(server, 'recovery', { email }),
      send(server, 'login', { email }),
      send(server, 'signup', { header: '' }),
    ]);
    for (const [i, res] of results.entries()) {
      const route = ['signup', 'recovery', 'login', 'signup'][i];
      assert.equal(res.status, 403, `${route}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, MISSING, route);
      await assertStoppedBeforeD1(server, res, route);
      const [event] = await refusals(server, res.ip);
      assert.deepEqual(event, {
        log: 'security', event: 'turnstile_refused', route: PATHS[route], client: res.ip,
        reason: 'missing_token', error_codes: [],
      });
    }
    assert.deepEqual(await usersWithEmails(server, [results[0].email, results[3].email]), [], 'no user row');
  });

  test('with the dummy token in the header: signup 201, recovery 202, login 200', async () => {
    const created = await send(server, 'signup', { header: DUMMY });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.email, created.email);
    const recovery = await send(server, 'recovery', { email: created.email, header: DUMMY });
    assert.equal(recovery.status, 202, JSON.stringify(recovery.body));
    const loggedIn = await send(server, 'login', { email: created.email, header: DUMMY });
    assert.equal(loggedIn.status, 200, JSON.stringify(loggedIn.body));
    assert.equal(loggedIn.body.token_type, 'bearer');
  });

  test("the widget's field works as well: the JSON member on signup and recovery, the form field on login (urlencoded and multipart)", async () => {
    const created = await send(server, 'signup', { field: DUMMY });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const recovery = await send(server, 'recovery', { email: created.email, field: DUMMY });
    assert.equal(recovery.status, 202, JSON.stringify(recovery.body));
    const urlencoded = await send(server, 'login', { email: created.email, field: DUMMY });
    assert.equal(urlencoded.status, 200, JSON.stringify(urlencoded.body));
    const multipart = await send(server, 'login', { email: created.email, field: DUMMY, multipart: true });
    assert.equal(multipart.status, 200, JSON.stringify(multipart.body));
    const notAString = await send(server, 'signup', { field: 42 });
    assert.equal(notAString.status, 403, 'a JSON member that is not a string is no token');
    assert.deepEqual(notAString.body, MISSING);
  });

  test('siteverify receives the secret, the token, CF-Connecting-IP as remoteip and a fresh UUID idempotency key per request (10 signups at once)', async () => {
    const tokens = Array.from({ length: 10 }, () => `${DUMMY}-${randomUUID()}`);
    const results = await Promise.all(tokens.map((token) => send(server, 'signup', { header: token })));
    const keys = new Set();
    for (const [i, res] of results.entries()) {
      assert.equal(res.status, 201, JSON.stringify(res.body));
      // Twice only if the first answer came too late (the retry repeats the call exactly).
      const requests = await asked(tokens[i]);
      assert.ok(requests.length === 1 || requests.length === 2, `token ${i} was verified once or retried once: ${requests.length}`);
      for (const request of requests) {
        assert.equal(request.secret, PASSES);
        assert.equal(request.response, tokens[i]);
        assert.equal(request.remoteip, res.ip, 'remoteip is the client address the edge saw');
        assert.match(request.idempotency_key, UUID_V4);
        assert.equal(request.idempotency_key, requests[0].idempotency_key, 'a retry repeats the key');
        assert.equal(request.content_type, 'application/x-www-form-urlencoded');
      }
      keys.add(requests[0].idempotency_key);
    }
    assert.equal(keys.size, tokens.length, 'every request has its own idempotency key');
    assert.equal((await usersWithEmails(server, results.map((r) => r.email))).length, tokens.length);
  });

  test('a token longer than any Cloudflare issues (2048 characters) is refused without asking siteverify', async () => {
    const long = `${DUMMY}-${randomUUID()}-${'x'.repeat(2048)}`;
    const res = await send(server, 'signup', { header: long });
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, REFUSED);
    await assertStoppedBeforeD1(server, res, 'too long');
    const [event] = await refusals(server, res.ip);
    assert.equal(event.reason, 'token_too_long');
    assert.deepEqual(await asked(long), []);
  });

  test('when siteverify answers 500, answers no JSON, drops the connection or never answers: 503 with Retry-After, one retry with the same idempotency key, nothing written', async () => {
    const failures = ['status-500', 'status-502', 'garbage', 'reset', 'hang'];
    const tokens = failures.map((failure) => `${failure}.${randomUUID()}`);
    const results = await Promise.all(tokens.map((token) => send(server, 'signup', { header: token })));
    for (const [i, res] of results.entries()) {
      const what = failures[i];
      assert.equal(res.status, 503, `${what}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, UNAVAILABLE, what);
      assert.equal(res.headers.get('retry-after'), '5', what);
      const line = await assertStoppedBeforeD1(server, res, what);
      assert.match(line.error, /siteverify/, `${what}: the log line says why`);
      assert.ok(!line.error.includes(tokens[i]) && !line.error.includes(PASSES), `${what}: neither the token nor the secret is logged`);
      const requests = await asked(tokens[i]);
      assert.equal(requests.length, 2, `${what}: asked twice`);
      assert.equal(requests[0].idempotency_key, requests[1].idempotency_key, `${what}: the retry has the first call's key`);
    }
    assert.deepEqual(await usersWithEmails(server, results.map((r) => r.email)), [], 'no user row');
  });

  test('recovery and login fail closed the same way', async () => {
    const { email } = await send(server, 'signup', { header: DUMMY });
    for (const route of ['recovery', 'login']) {
      const res = await send(server, route, { email, header: `status-503.${randomUUID()}` });
      assert.equal(res.status, 503, `${route}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, UNAVAILABLE);
      await assertStoppedBeforeD1(server, res, route);
    }
  });

  test('the worker never logs the secret or a token', () => {
    const text = readFileSync(server.log, 'utf8');
    assert.ok(!text.includes(PASSES), 'the secret is not in the log');
    assert.ok(!text.includes(DUMMY), 'no token is in the log');
  });
});

describe('secret 2x…AA (every token fails), TURNSTILE_ON as wrangler.toml sets it (signup,recovery)', () => {
  let server;
  before(async () => {
    server = await startTurnstileServer(FAILS);
  });
  after(async () => {
    await server?.stop();
  });

  test('signup and recovery with a token answer 403 "verification failed", with siteverify\'s codes in the log', async () => {
    for (const route of ['signup', 'recovery']) {
      const res = await send(server, route, { header: DUMMY });
      assert.equal(res.status, 403, `${route}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, REFUSED);
      await assertStoppedBeforeD1(server, res, route);
      const [event] = await refusals(server, res.ip);
      assert.deepEqual(event, {
        log: 'security', event: 'turnstile_refused', route: PATHS[route], client: res.ip,
        reason: 'refused', error_codes: ['invalid-input-response'],
      });
    }
  });

  test('20 signups sent at once with refused tokens: all 403, no user row, no signup counted', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => send(server, 'signup', i % 2 ? { header: DUMMY } : { field: DUMMY })));
    for (const res of results) {
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.deepEqual(res.body, REFUSED);
      await assertStoppedBeforeD1(server, res, 'a refused signup');
    }
    assert.deepEqual(await usersWithEmails(server, results.map((r) => r.email)), []);
    const counted = await sql(`SELECT key FROM attempts WHERE key IN (${results.map((r) => sqlText(`signup:${r.ip}`)).join(', ')})`, { d1: server.d1 });
    assert.deepEqual(counted, [], 'no signup attempt was counted');
  });

  test('login is not in TURNSTILE_ON: it needs no token and reaches the password check', async () => {
    const res = await send(server, 'login');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.deepEqual(res.body, { detail: 'Incorrect username or password' });
  });
});

describe('secret 3x…AA (every token already spent), TURNSTILE_ON=login', () => {
  let server;
  before(async () => {
    server = await startTurnstileServer(SPENDS, { TURNSTILE_ON: 'login' });
  });
  after(async () => {
    await server?.stop();
  });

  test('signup and recovery are not in TURNSTILE_ON: they need no token', async () => {
    const created = await send(server, 'signup');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await send(server, 'recovery', { email: created.email })).status, 202);
  });

  test('login with a token answers 403 "expired or already used", logged as spent, before the password is checked', async () => {
    const { email } = await send(server, 'signup');
    const res = await send(server, 'login', { email, header: DUMMY });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.deepEqual(res.body, SPENT);
    await assertStoppedBeforeD1(server, res, 'a spent token');
    const [event] = await refusals(server, res.ip);
    assert.equal(event.reason, 'spent');
    assert.deepEqual(event.error_codes, ['timeout-or-duplicate']);
    const without = await send(server, 'login', { email });
    assert.equal(without.status, 403, 'login added to TURNSTILE_ON needs a token');
    assert.deepEqual(without.body, MISSING);
  });
});

describe('TURNSTILE_ON with a name that is not a route', () => {
  let server;
  before(async () => {
    server = await startTurnstileServer(PASSES, { TURNSTILE_ON: 'signup,logon' });
  });
  after(async () => {
    await server?.stop();
  });

  test('signup, recovery and login fail closed with 500, the log names the setting, nothing is written; other routes work', async () => {
    for (const route of ['signup', 'recovery', 'login']) {
      const res = await send(server, route, { header: DUMMY });
      assert.equal(res.status, 500, `${route}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, MISCONFIGURED);
      const line = await assertStoppedBeforeD1(server, res, route);
      assert.match(line.error, /TURNSTILE_ON names "logon"/);
    }
    const search = await api('/api/v1/recipes/search/?keyword=soup', { base: server.base });
    assert.equal(search.status, 200, 'a route without Turnstile is unaffected');
  });
});
