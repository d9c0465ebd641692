// What a client without a valid token can make the API spend: the edge limiter in front of
// D1 (on a second server with the limit as deployed), and what one signed-in user can: the
// write limiter, likewise; counters that a refused client cannot
// grow, tokens that cost nothing when unknown, one password hash per reset token, and the
// bounds on what the tables can hold. Abusive requests go out in parallel, and each test
// asserts their cost from the worker's own request log lines: D1 round trips, rows written
// and PBKDF2 iterations run.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import {
  api, signup, newUser, login, randomEmail, PASSWORD, sql, sqlText, nowSeconds, fromAddress,
  randomIPv4, randomIPv6Prefix, startServer, logSince, superuserToken, createRecipe, mailTo,
  tokenFrom, recipeBody,
} from './helpers.mjs';

const EDGE_LIMIT = 60; // wrangler.toml: [[ratelimits]] AUTH_LIMITER, 60 a minute
const EDGE_REFUSED = { detail: 'Too many requests from this address; try again later' };
const WRITE_LIMIT = 60; // wrangler.toml: [[ratelimits]] WRITE_LIMITER, 60 a minute per user
const WRITES_REFUSED = { detail: 'Too many changes from this account; try again later' };
const countOf = (statuses, status) => statuses.filter((s) => s === status).length;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The request log lines of `route` written from byte `offset` of `file` on. */
function requestLines(offset, route, file) {
  return logSince(offset, file).filter((line) => line.log === 'request' && line.route === route);
}

/**
 * The request log lines of `route` from `offset` on, once there are `count` of them (wrangler
 * dev writes a line shortly after its answer, so this polls briefly).
 */
async function linesOf(offset, route, count, file) {
  for (let i = 0; i < 50; i++) {
    const lines = requestLines(offset, route, file);
    if (lines.length >= count) return lines;
    await sleep(100);
  }
  assert.fail(`${requestLines(offset, route, file).length} of ${count} request lines of ${route} were logged`);
}

const logOffset = (file = process.env.WORKER_LOG) => statSync(file).size;

/** Every route behind the edge limiter, with a request that reaches the handler (and the
 * route's template, where the path is not it). */
const LIMITED = [
  ['/api/v1/auth/signup', { json: { email: 'not an email', password: PASSWORD } }],
  ['/api/v1/auth/login', { form: new URLSearchParams({ username: 'nobody@example.com', password: 'x' }) }],
  ['/api/v1/auth/refresh', { json: { refresh_token: 'unknown' } }],
  ['/api/v1/auth/logout', { json: { refresh_token: 'unknown' } }],
  ['/api/v1/auth/password', { json: { current_password: 'x', new_password: 'y' } }],
  ['/api/v1/auth/password-recovery', { json: { email: 'nobody@example.com' } }],
  ['/api/v1/auth/reset-password', { json: { token: 'unknown', new_password: 'a long new passphrase' } }],
  ['/api/v1/auth/verify-email', { json: { token: 'unknown' } }],
  ['/api/v1/auth/verify-email/resend', {}],
  ['/api/v1/auth/mfa/totp/setup', { json: { password: 'x' } }],
  ['/api/v1/auth/mfa/totp/enable', { json: { code: '123456' } }],
  ['/api/v1/auth/mfa/totp', { method: 'DELETE', json: { password: 'x', code: '123456' } }],
  ['/api/v1/auth/mfa/verify', { json: { mfa_token: 'unknown', code: '123456' } }],
  ['/api/v1/auth/oauth/oidc/callback', { method: 'GET' }, '/api/v1/auth/oauth/{provider}/callback'],
  ['/api/v1/auth/oauth/token', { json: { code: 'unknown', code_verifier: 'v'.repeat(43) } }],
];

describe('the edge limiter (the Rate Limiting binding, as deployed)', () => {
  let server;
  before(async () => {
    server = await startServer({}, { config: process.env.DEPLOYED_CONFIG });
  });
  after(async () => server?.stop());

  const post = (path, init, address) => api(path, { method: 'POST', ...init, headers: fromAddress(address), base: server.base });

  test(`of ${EDGE_LIMIT + 15} requests sent at once from one address, ${EDGE_LIMIT} reach the worker and the rest are 429 without touching D1`, async () => {
    const address = randomIPv4();
    await clearOfWindowEdge();
    const offset = logOffset(server.log);
    const results = await Promise.all(Array.from({ length: EDGE_LIMIT + 15 }, () => post(...LIMITED[2], address)));
    const statuses = results.map((r) => r.status);
    assert.equal(countOf(statuses, 401), EDGE_LIMIT, `the limit's worth reach the refresh handler: ${statuses}`);
    assert.equal(countOf(statuses, 429), 15, `the rest are refused at the edge: ${statuses}`);
    for (const res of results.filter((r) => r.status === 429)) {
      assert.deepEqual(res.body, EDGE_REFUSED);
      assert.equal(res.headers.get('retry-after'), '60');
      assert.match(res.headers.get('content-type'), /application\/json/);
    }
    const lines = await linesOf(offset, '/api/v1/auth/refresh', EDGE_LIMIT + 15, server.log);
    const refused = lines.filter((line) => line.status === 429);
    assert.equal(refused.length, 15);
    for (const line of refused) assert.equal(line.d1_round_trips, 0, `a refusal makes no D1 round trip: ${JSON.stringify(line)}`);
    const edgeEvents = logSince(offset, server.log).filter((line) => line.event === 'edge_limited' && line.client === address);
    assert.equal(edgeEvents.length, 15, 'each refusal is a security event naming the address');
  });

  test('one budget covers every route that can hash, write or email, and only those', async () => {
    const address = randomIPv4();
    await clearOfWindowEdge(30);
    const before = logOffset(server.log);
    const spent = await Promise.all(Array.from({ length: EDGE_LIMIT }, () => post(...LIMITED[3], address)));
    assert.ok(spent.every((r) => r.status !== 429), 'the budget is spent on logouts');
    // Their log lines follow the answers: wait for them, so none lands among the ones below.
    await linesOf(before, LIMITED[3][0], EDGE_LIMIT, server.log);
    const offset = logOffset(server.log);
    for (const [path, init] of LIMITED) {
      const res = await post(path, init, address);
      assert.equal(res.status, 429, `${path} is behind the limiter`);
      assert.deepEqual(res.body, EDGE_REFUSED);
    }
    const lines = (await Promise.all(LIMITED.map(([path, , route = path]) => linesOf(offset, route, 1, server.log)))).flat();
    assert.ok(lines.every((line) => line.d1_round_trips === 0 && line.status === 429), JSON.stringify(lines));
    const read = await api('/api/v1/recipes/search/?keyword=chicken', { headers: fromAddress(address), base: server.base });
    assert.equal(read.status, 200, 'reads are not behind it');
    const other = await post(...LIMITED[3], randomIPv4());
    assert.equal(other.status, 204, 'another address has a budget of its own');
  });

  test('an IPv6 client is limited by its /64', async () => {
    const prefix = randomIPv6Prefix();
    const results = await Promise.all(Array.from({ length: EDGE_LIMIT + 5 }, (_, i) => post(...LIMITED[3], `${prefix}::${(i + 1).toString(16)}`)));
    assert.equal(countOf(results.map((r) => r.status), 429), 5, 'every address of one /64 shares one budget');
  });
});

/**
 * Waits, if need be, for the next minute: the local Rate Limiting binding counts in windows
 * aligned to the clock's minutes, and a burst sent across a boundary would be counted in two.
 */
async function clearOfWindowEdge(needSeconds = 15) {
  const intoMinute = (Date.now() % 60000) / 1000;
  if (intoMinute > 60 - needSeconds) await sleep((60 - intoMinute) * 1000 + 250);
}

describe('the write limiter (the Rate Limiting binding, as deployed)', () => {
  let server;
  before(async () => {
    server = await startServer({ JWT_SECRET: process.env.TEST_JWT_SECRET }, { config: process.env.DEPLOYED_CONFIG });
  });
  after(async () => server?.stop());

  /** A new user on the second server, signed in from an address of their own. */
  async function signedIn() {
    const [email, headers] = [randomEmail(), fromAddress(randomIPv4())];
    const created = await api('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD }, headers, base: server.base });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const form = new URLSearchParams({ username: email, password: PASSWORD });
    const session = await api('/api/v1/auth/login', { method: 'POST', form, headers, base: server.base });
    assert.equal(session.status, 200, JSON.stringify(session.body));
    return { id: created.body.id, token: session.body.access_token };
  }

  const create = (user) => api('/api/v1/recipes/', { method: 'POST', token: user.token, json: recipeBody(), base: server.base });

  test(`of ${WRITE_LIMIT + 15} recipes one user creates at once, ${WRITE_LIMIT} are created and the rest are 429 without touching D1; another user is unaffected`, async () => {
    const [writer, other] = await Promise.all([signedIn(), signedIn()]);
    await clearOfWindowEdge();
    const offset = logOffset(server.log);
    const results = await Promise.all(Array.from({ length: WRITE_LIMIT + 15 }, () => create(writer)));
    const statuses = results.map((r) => r.status);
    assert.equal(countOf(statuses, 201), WRITE_LIMIT, `the limit's worth are created: ${statuses}`);
    assert.equal(countOf(statuses, 429), 15, `the rest are refused: ${statuses}`);
    for (const res of results.filter((r) => r.status === 429)) {
      assert.deepEqual(res.body, WRITES_REFUSED);
      assert.equal(res.headers.get('retry-after'), '60');
    }
    const rows = await sql(`SELECT count(*) AS n FROM recipes WHERE submitter_id = ${writer.id}`, { d1: server.d1 });
    assert.equal(rows[0].n, WRITE_LIMIT, 'D1 holds exactly the created ones');
    const lines = await linesOf(offset, '/api/v1/recipes', WRITE_LIMIT + 15, server.log);
    const refused = lines.filter((line) => line.status === 429);
    assert.equal(refused.length, 15);
    for (const line of refused) assert.equal(line.d1_round_trips, 0, `a refusal makes no D1 round trip: ${JSON.stringify(line)}`);
    const events = logSince(offset, server.log).filter((line) => line.event === 'write_limited');
    assert.equal(events.length, 15, 'each refusal is a security event');
    assert.ok(events.every((line) => line.user_id === writer.id && line.route === '/api/v1/recipes'), JSON.stringify(events));

    assert.equal((await create(other)).status, 201, 'another user has a budget of their own');
    const mine = await api('/api/v1/recipes/my-recipes/', { token: writer.token, base: server.base });
    assert.equal(mine.status, 200, 'reads are not limited');
    const own = results.find((r) => r.status === 201).body.id;
    const deleted = await api(`/api/v1/recipes/${own}`, { method: 'DELETE', token: writer.token, base: server.base });
    assert.equal(deleted.status, 429, 'one budget covers every write of the user');
    assert.deepEqual(deleted.body, WRITES_REFUSED);
    const forged = await api('/api/v1/recipes/', { method: 'POST', token: 'not.a.token', json: recipeBody(), base: server.base });
    assert.equal(forged.status, 401, 'a request without a valid token is not counted against anyone; it is a 401');
  });
});

describe('throttled clients write nothing new', () => {
  test('a client over its login address limit adds no counter rows, whatever emails it names', async () => {
    const address = randomIPv4();
    // The address has used up its 50 attempts (planted, to spare 50 password hashes).
    await sql(`INSERT INTO attempts (key, count, expires_at) VALUES (${sqlText(`ip:${address}`)}, 50, ${nowSeconds() + 900})`);
    const offset = logOffset();
    const emails = Array.from({ length: 100 }, randomEmail);
    const results = await Promise.all(emails.map((email) => login(email, 'wrong', fromAddress(address))));
    assert.deepEqual([...new Set(results.map((r) => r.status))], [429]);
    const rows = await sql(`SELECT key, count FROM attempts WHERE key LIKE ${sqlText(`%${address}`)}`);
    assert.deepEqual(rows, [{ key: `ip:${address}`, count: 51 }], 'one count past the limit, and no account rows');
    const lines = await linesOf(offset, '/api/v1/auth/login', 100);
    const writers = lines.filter((line) => line.d1_rows_written > 0);
    assert.ok(writers.length <= 1, `of 100 refused logins, ${writers.length} wrote (only the one count past the limit may)`);
    assert.ok(lines.every((line) => line.d1_round_trips === 1), 'a refused login is one round trip');
    assert.ok(lines.every((line) => (line.pbkdf2_iterations ?? 0) === 0), 'and runs no hash');
  });

  test('of 5 logins for different emails sent at once with one attempt left, exactly one is counted', async () => {
    const address = randomIPv4();
    await sql(`INSERT INTO attempts (key, count, expires_at) VALUES (${sqlText(`ip:${address}`)}, 49, ${nowSeconds() + 900})`);
    const results = await Promise.all(Array.from({ length: 5 }, () => login(randomEmail(), 'wrong', fromAddress(address))));
    const statuses = results.map((r) => r.status);
    assert.equal(countOf(statuses, 400), 1, `${statuses}`);
    assert.equal(countOf(statuses, 429), 4, `${statuses}`);
    const accounts = await sql(`SELECT count(*) AS n FROM attempts WHERE key LIKE ${sqlText(`account:%|${address}`)}`);
    assert.equal(accounts[0].n, 1, 'only the counted attempt has an account counter');
  });

  test('a client over its recovery address limit adds no email counters', async () => {
    const address = randomIPv4();
    await sql(`INSERT INTO attempts (key, count, expires_at) VALUES (${sqlText(`recovery-ip:${address}`)}, 20, ${nowSeconds() + 3600})`);
    const emails = Array.from({ length: 30 }, randomEmail);
    const results = await Promise.all(emails.map((email) => api('/api/v1/auth/password-recovery', {
      method: 'POST', json: { email }, headers: fromAddress(address),
    })));
    assert.deepEqual([...new Set(results.map((r) => r.status))], [429]);
    const rows = await sql(`SELECT count(*) AS n FROM attempts WHERE key IN (${emails.map((e) => sqlText(`recovery:${e}`)).join(', ')})`);
    assert.equal(rows[0].n, 0);
  });
});

describe('unknown tokens cost one read and write nothing', () => {
  const unknown = () => randomBytes(32).toString('base64url');
  const cases = [
    ['/api/v1/auth/refresh', () => ({ refresh_token: unknown() }), 401],
    ['/api/v1/auth/logout', () => ({ refresh_token: unknown() }), 204],
    ['/api/v1/auth/verify-email', () => ({ token: unknown() }), 400],
    ['/api/v1/auth/reset-password', () => ({ token: unknown(), new_password: 'a long new passphrase' }), 400],
    ['/api/v1/auth/oauth/token', () => ({ code: unknown(), code_verifier: unknown() }), 400],
  ];
  for (const [route, body, status] of cases) {
    test(`20 unknown tokens sent at once to ${route}: ${status}, no rows written, no hash`, async () => {
      const offset = logOffset();
      const results = await Promise.all(Array.from({ length: 20 }, () => api(route, { method: 'POST', json: body(), headers: fromAddress(randomIPv4()) })));
      assert.deepEqual([...new Set(results.map((r) => r.status))], [status]);
      const lines = await linesOf(offset, route, 20);
      for (const line of lines) {
        assert.equal(line.d1_rows_written, 0, JSON.stringify(line));
        assert.ok(line.d1_round_trips <= 1, JSON.stringify(line));
        assert.equal(line.pbkdf2_iterations ?? 0, 0, JSON.stringify(line));
      }
    });
  }
});

describe('one password hash per reset token', () => {
  test('of 5 resets sent at once with one token, one hashes and wins; the others hash nothing', async () => {
    const { user } = await newUser();
    const recovery = await api('/api/v1/auth/password-recovery', { method: 'POST', json: { email: user.email }, headers: fromAddress(randomIPv4()) });
    assert.equal(recovery.status, 202);
    const token = tokenFrom(await mailTo(user.email, { subject: 'Reset your password' }));
    const offset = logOffset();
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => api('/api/v1/auth/reset-password', {
      method: 'POST', json: { token, new_password: `parallel passphrase ${i}` },
    })));
    assert.equal(countOf(results.map((r) => r.status), 200), 1);
    const lines = await linesOf(offset, '/api/v1/auth/reset-password', 5);
    const hashed = lines.filter((line) => line.pbkdf2_iterations > 0);
    assert.equal(hashed.length, 1, `exactly one reset ran a hash: ${JSON.stringify(lines)}`);
    assert.equal(hashed[0].status, 200);
  });
});

describe('what the tables can be made to hold', () => {
  test('the cleanup finds expired rows through an index on expires_at, in each table it deletes by expiry', async () => {
    for (const table of ['refresh_tokens', 'attempts', 'email_tokens', 'mfa_tokens']) {
      const plan = await sql(`EXPLAIN QUERY PLAN SELECT 1 FROM ${table} WHERE expires_at <= 1 LIMIT 1000`);
      const detail = plan.map((row) => row.detail).join('; ');
      assert.match(detail, new RegExp(`USING (COVERING )?INDEX ${table}_expires_at`), `${table}: ${detail}`);
    }
  });

  test('a user keeps at most 100 live sessions: a new login ends the oldest', async () => {
    const { user } = await newUser();
    const now = nowSeconds();
    const values = Array.from({ length: 100 }, (_, i) => `('planted-${user.id}-${i}', ${user.id}, ${now - 1000 + i}, 0)`);
    await sql(`INSERT INTO sessions (id, user_id, created_at, token_version) VALUES ${values.join(', ')}`);
    // Each with a live refresh token: a session without one has ended, and a login forgets it.
    await sql(`INSERT INTO refresh_tokens (token_hash, session_id, expires_at) SELECT 'planted-' || id, id, ${now + 3600} FROM sessions WHERE id LIKE 'planted-${user.id}-%'`);
    assert.equal((await login(user.email)).status, 200);
    const rows = await sql(`SELECT id FROM sessions WHERE user_id = ${user.id} ORDER BY created_at`);
    assert.equal(rows.length, 100, 'the login\'s own session and the 99 newest');
    assert.ok(!rows.some((row) => row.id === `planted-${user.id}-0`) && !rows.some((row) => row.id === `planted-${user.id}-1`), 'the oldest ended');
  });
});

describe('a client\'s bookmark never moves a credential decision to a replica', () => {
  // A bookmark of the right shape that no database has handed out: a session resumed from it
  // would carry it (or one after it) on. Routes that decide on credentials start at the
  // primary and hand out the primary's own.
  const FAR_AHEAD = 'ffffffff-ffffffff-ffffffff-ffffffffffffffffffffffffffffffff';

  test('user management, login and writes ignore it; reads resume from it', async () => {
    const admin = await superuserToken();
    const { token } = await newUser();
    const created = await createRecipe(token);
    for (const [what, request] of [
      ['GET /users', () => api('/api/v1/users/', { token: admin, headers: { 'x-d1-bookmark': FAR_AHEAD } })],
      ['GET /users/1', () => api('/api/v1/users/1', { token: admin, headers: { 'x-d1-bookmark': FAR_AHEAD } })],
      ['POST /recipes', () => api('/api/v1/recipes/', { method: 'POST', token, json: { label: 'x', source: 'y', url: 'https://example.com' }, headers: { 'x-d1-bookmark': FAR_AHEAD } })],
    ]) {
      const res = await request();
      assert.ok(res.status < 300, `${what}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.notEqual(res.headers.get('x-d1-bookmark'), FAR_AHEAD, `${what} started at the primary, not from the client's bookmark`);
    }
    const read = await api(`/api/v1/recipes/${created.body.id}`, { headers: { 'x-d1-bookmark': FAR_AHEAD } });
    assert.equal(read.headers.get('x-d1-bookmark'), FAR_AHEAD, 'a read resumes from the bookmark it is sent');
  });
});

describe('answers with a user\'s data are never cached', () => {
  test('me, users, a user and my recipes are no-store; a public recipe is not', async () => {
    const admin = await superuserToken();
    const { user, token } = await newUser();
    for (const [path, bearer] of [
      ['/api/v1/auth/me', token], ['/api/v1/users/', admin], [`/api/v1/users/${user.id}`, admin],
      ['/api/v1/recipes/my-recipes/', token],
    ]) {
      const res = await api(path, { token: bearer });
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('cache-control'), 'no-store', path);
    }
    const open = await api('/api/v1/recipes/1');
    assert.equal(open.headers.get('cache-control'), null);
  });
});
